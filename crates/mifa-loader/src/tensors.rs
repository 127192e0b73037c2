//! Batches as tch tensors (feature `tch`). [`Batch::into_tensors`] hands buffers allocated as
//! tensors ([`super::LoaderBuilder::tensors`]) over without a copy; the `*_tensor` methods
//! borrow the batch and copy.

use super::{Batch, Buffer, BufferElement, Repr, SampleInfo};
use tch::{Device, Tensor};

/// A batch as tensors; `samples` says where each sample came from.
#[derive(Debug)]
pub struct Tensors {
    /// `f32 [n, c, h, w]`.
    pub images: Tensor,
    /// `i64 [n, h, w]` class indices or instance ids.
    pub masks: Option<Tensor>,
    /// `f32 [n, 1, h, w]`.
    pub heatmaps: Option<Tensor>,
    /// `i64 [n]` image classes.
    pub labels: Option<Tensor>,
    /// Per sample: boxes `f32 [k, 4]` (x0, y0, x1, y1) and classes `i64 [k]`.
    pub boxes: Option<Vec<(Tensor, Tensor)>>,
    /// Per sample: points `f32 [k, 2]` (x, y) and classes `i64 [k]`.
    pub points: Option<Vec<(Tensor, Tensor)>>,
    /// Provenance.
    pub samples: Vec<SampleInfo>,
}

fn copy_of<T: BufferElement + tch::kind::Element>(b: &Buffer<T>, shape: &[i64]) -> Tensor {
    Tensor::from_slice(b).view(shape)
}

/// Moves the buffer into a tensor: no copy when it is tensor-backed.
fn take<T: BufferElement + tch::kind::Element>(mut b: Buffer<T>, shape: &[i64]) -> Tensor {
    match std::mem::replace(&mut b.repr, Repr::Vec(Vec::new(), None)) {
        Repr::Tensor(t, _) => t.view(shape),
        Repr::Vec(v, pool) => {
            let t = Tensor::from_slice(&v).view(shape);
            b.repr = Repr::Vec(v, pool);
            t
        }
    }
}

fn pairs<T, const K: usize>(
    all: &[Vec<T>],
    coords: impl Fn(&T) -> [f32; K],
    class: impl Fn(&T) -> i64,
    device: Device,
) -> Vec<(Tensor, Tensor)> {
    all.iter()
        .map(|v| {
            let xy: Vec<f32> = v.iter().flat_map(&coords).collect();
            let cls: Vec<i64> = v.iter().map(&class).collect();
            (
                Tensor::from_slice(&xy)
                    .view([v.len() as i64, K as i64])
                    .to_device(device),
                Tensor::from_slice(&cls).to_device(device),
            )
        })
        .collect()
}

impl Batch {
    fn dims(&self) -> [i64; 4] {
        self.shape.map(|d| d as i64)
    }

    /// Images as `f32 [n, c, h, w]` on `device` (a copy).
    pub fn images_tensor(&self, device: Device) -> Tensor {
        copy_of(&self.images, &self.dims()).to_device(device)
    }

    /// Masks as `i64 [n, h, w]` (a copy), when the task has them.
    pub fn masks_tensor(&self, device: Device) -> Option<Tensor> {
        let [n, _, h, w] = self.dims();
        self.masks
            .as_ref()
            .map(|m| copy_of(m, &[n, h, w]).to_device(device))
    }

    /// All targets as tensors on `device`. Tensor-backed buffers become the tensors without a
    /// copy (on CPU); others are copied once.
    pub fn into_tensors(self, device: Device) -> Tensors {
        let [n, c, h, w] = self.dims();
        Tensors {
            images: take(self.images, &[n, c, h, w]).to_device(device),
            masks: self.masks.map(|m| take(m, &[n, h, w]).to_device(device)),
            heatmaps: self
                .heatmaps
                .map(|m| take(m, &[n, 1, h, w]).to_device(device)),
            labels: self
                .labels
                .map(|l| Tensor::from_slice(&l).to_device(device)),
            boxes: self
                .boxes
                .map(|b| pairs(&b, |t| t.bbox, |t| t.class, device)),
            points: self
                .points
                .map(|p| pairs(&p, |t| [t.x, t.y], |t| t.class, device)),
            samples: self.samples,
        }
    }
}
