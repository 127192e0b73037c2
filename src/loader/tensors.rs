//! Batches as tch tensors (feature `tch`). Buffers allocated as tensors
//! ([`super::LoaderBuilder::tensors`]) are handed over without a copy; others are copied once.

use super::{Batch, Buffer, BufferElement, Repr};
use tch::{Device, Kind, Tensor};

fn tensor_of<T: BufferElement + tch::kind::Element>(b: &Buffer<T>, shape: &[i64]) -> Tensor {
    match &b.repr {
        Repr::Tensor(t, _) => t.view(shape),
        Repr::Vec(v, _) => Tensor::from_slice(v).view(shape),
    }
}

impl Batch {
    /// Images as `f32 [n, c, h, w]` on `device` (no copy for tensor-backed buffers on CPU).
    pub fn images_tensor(&self, device: Device) -> Tensor {
        let [n, c, h, w] = self.shape.map(|d| d as i64);
        tensor_of(&self.images, &[n, c, h, w]).to_device(device)
    }

    /// Masks as `i64 [n, h, w]` (class indices or instance ids), when the task has them.
    pub fn masks_tensor(&self, device: Device) -> Option<Tensor> {
        let [n, _, h, w] = self.shape.map(|d| d as i64);
        self.masks
            .as_ref()
            .map(|m| tensor_of(m, &[n, h, w]).to_device(device))
    }

    /// Heatmaps as `f32 [n, 1, h, w]`, when asked for.
    pub fn heatmaps_tensor(&self, device: Device) -> Option<Tensor> {
        let [n, _, h, w] = self.shape.map(|d| d as i64);
        self.heatmaps
            .as_ref()
            .map(|m| tensor_of(m, &[n, 1, h, w]).to_device(device))
    }

    /// Image classes as `i64 [n]`, for classification.
    pub fn labels_tensor(&self, device: Device) -> Option<Tensor> {
        self.labels
            .as_ref()
            .map(|l| Tensor::from_slice(l).to_device(device))
    }

    /// Boxes per sample, each `f32 [k, 4]` (x0, y0, x1, y1) with classes `i64 [k]`, as
    /// torchvision's detection models take them.
    pub fn boxes_tensors(&self, device: Device) -> Option<Vec<(Tensor, Tensor)>> {
        self.boxes.as_ref().map(|all| {
            all.iter()
                .map(|b| {
                    let xy: Vec<f32> = b.iter().flat_map(|t| t.bbox).collect();
                    let cls: Vec<i64> = b.iter().map(|t| t.class).collect();
                    (
                        Tensor::from_slice(&xy)
                            .view([b.len() as i64, 4])
                            .to_device(device),
                        Tensor::from_slice(&cls)
                            .to_kind(Kind::Int64)
                            .to_device(device),
                    )
                })
                .collect()
        })
    }

    /// Points per sample, each `f32 [k, 2]` (x, y) with classes `i64 [k]`.
    pub fn points_tensors(&self, device: Device) -> Option<Vec<(Tensor, Tensor)>> {
        self.points.as_ref().map(|all| {
            all.iter()
                .map(|p| {
                    let xy: Vec<f32> = p.iter().flat_map(|t| [t.x, t.y]).collect();
                    let cls: Vec<i64> = p.iter().map(|t| t.class).collect();
                    (
                        Tensor::from_slice(&xy)
                            .view([p.len() as i64, 2])
                            .to_device(device),
                        Tensor::from_slice(&cls).to_device(device),
                    )
                })
                .collect()
        })
    }
}
