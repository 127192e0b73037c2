//! PNG and JPEG inputs, decoded with the `image` crate. Grey images read as `yx`; colour
//! images as `cyx` with channels named after their samples (R, G, B, A).

use super::{axes_from_names, Error, Limits, PlaneSource, SourceMeta};
use crate::metadata::DataType;
use crate::raster::{PixelData, Plane};
use image::DynamicImage;
use std::path::Path;

/// A decoded PNG or JPEG.
pub struct RasterSource {
    meta: SourceMeta,
    /// Interleaved samples.
    data: PixelData,
    samples: usize,
}

impl RasterSource {
    /// Decodes the file (PNG and JPEG are not tiled, so the whole plane is read at once).
    pub fn open(path: &Path, limits: &Limits) -> Result<RasterSource, Error> {
        let err = |source| Error::Image {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = image::ImageReader::open(path)
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?
            .with_guessed_format()
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
        let mut il = image::Limits::default();
        il.max_alloc = Some(limits.max_plane_bytes);
        reader.limits(il);
        let img = reader.decode().map_err(err)?;
        let (w, h) = (u64::from(img.width()), u64::from(img.height()));
        let (data, samples, names): (PixelData, usize, &[&str]) = match img {
            DynamicImage::ImageLuma8(b) => (PixelData::U8(b.into_raw()), 1, &[]),
            DynamicImage::ImageLuma16(b) => (PixelData::U16(b.into_raw()), 1, &[]),
            DynamicImage::ImageLumaA8(b) => (PixelData::U8(b.into_raw()), 2, &["L", "A"]),
            DynamicImage::ImageLumaA16(b) => (PixelData::U16(b.into_raw()), 2, &["L", "A"]),
            DynamicImage::ImageRgb8(b) => (PixelData::U8(b.into_raw()), 3, &["R", "G", "B"]),
            DynamicImage::ImageRgb16(b) => (PixelData::U16(b.into_raw()), 3, &["R", "G", "B"]),
            DynamicImage::ImageRgba8(b) => (PixelData::U8(b.into_raw()), 4, &["R", "G", "B", "A"]),
            DynamicImage::ImageRgba16(b) => {
                (PixelData::U16(b.into_raw()), 4, &["R", "G", "B", "A"])
            }
            DynamicImage::ImageRgb32F(b) => (PixelData::F32(b.into_raw()), 3, &["R", "G", "B"]),
            DynamicImage::ImageRgba32F(b) => {
                (PixelData::F32(b.into_raw()), 4, &["R", "G", "B", "A"])
            }
            other => {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    message: format!("pixel layout {:?}", other.color()),
                })
            }
        };
        let (axes, shape) = if samples == 1 {
            (axes_from_names("yx").expect("valid"), vec![h, w])
        } else {
            (
                axes_from_names("cyx").expect("valid"),
                vec![samples as u64, h, w],
            )
        };
        let dtype: DataType = data.dtype();
        limits.check(path, &shape, dtype)?;
        Ok(RasterSource {
            meta: SourceMeta {
                path: path.to_path_buf(),
                axes,
                shape,
                dtype,
                channel_names: names.iter().map(|s| s.to_string()).collect(),
            },
            data,
            samples,
        })
    }
}

impl PlaneSource for RasterSource {
    fn meta(&self) -> &SourceMeta {
        &self.meta
    }

    fn read_plane(&mut self, index: usize) -> Result<Plane, Error> {
        let (h, w) = self.meta.plane_shape();
        if index >= self.samples {
            return Err(Error::Metadata {
                path: self.meta.path.clone(),
                key: format!("plane {index}"),
                message: format!("out of range ({} planes)", self.samples),
            });
        }
        let data = if self.samples == 1 {
            self.data.clone()
        } else {
            self.data.strided(index, self.samples)
        };
        Ok(Plane::new(h, w, data))
    }
}
