//! PNG and JPEG inputs, decoded with the `image` crate. Grey images read as `yx`; colour
//! images as `cyx` with channels named after their samples (R, G, B, A).
//!
//! Opening reads the header only; pixels are decoded when the first plane is read, so a batch of
//! many files does not hold them all in memory at once.

use super::{axes_from_names, Error, Limits, PlaneSource, SourceMeta};
use crate::metadata::DataType;
use crate::raster::{PixelData, Plane};
use image::{ColorType, DynamicImage, ImageDecoder};
use std::path::Path;

/// A PNG or JPEG file.
pub struct RasterSource {
    meta: SourceMeta,
    limits: Limits,
    /// Interleaved samples, once decoded.
    data: Option<PixelData>,
    samples: usize,
}

fn reader(
    path: &Path,
    limits: &Limits,
) -> Result<image::ImageReader<std::io::BufReader<std::fs::File>>, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = image::ImageReader::open(path)
        .map_err(io)?
        .with_guessed_format()
        .map_err(io)?;
    let mut il = image::Limits::default();
    il.max_alloc = Some(limits.max_plane_bytes);
    reader.limits(il);
    Ok(reader)
}

impl RasterSource {
    /// Reads the header and checks the size against `limits`.
    pub fn open(path: &Path, limits: &Limits) -> Result<RasterSource, Error> {
        let err = |source| Error::Image {
            path: path.to_path_buf(),
            source,
        };
        let decoder = reader(path, limits)?.into_decoder().map_err(err)?;
        let (w, h) = decoder.dimensions();
        let (w, h) = (u64::from(w), u64::from(h));
        let (dtype, samples, names): (DataType, usize, &[&str]) = match decoder.color_type() {
            ColorType::L8 => (DataType::Uint8, 1, &[]),
            ColorType::L16 => (DataType::Uint16, 1, &[]),
            ColorType::La8 => (DataType::Uint8, 2, &["L", "A"]),
            ColorType::La16 => (DataType::Uint16, 2, &["L", "A"]),
            ColorType::Rgb8 => (DataType::Uint8, 3, &["R", "G", "B"]),
            ColorType::Rgb16 => (DataType::Uint16, 3, &["R", "G", "B"]),
            ColorType::Rgba8 => (DataType::Uint8, 4, &["R", "G", "B", "A"]),
            ColorType::Rgba16 => (DataType::Uint16, 4, &["R", "G", "B", "A"]),
            ColorType::Rgb32F => (DataType::Float32, 3, &["R", "G", "B"]),
            ColorType::Rgba32F => (DataType::Float32, 4, &["R", "G", "B", "A"]),
            other => {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    message: format!("pixel layout {other:?}"),
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
        // All samples are decoded together: check them as one plane.
        limits.check(path, &[h, w * samples as u64], dtype)?;
        Ok(RasterSource {
            meta: SourceMeta {
                path: path.to_path_buf(),
                axes,
                shape,
                dtype,
                channel_names: names.iter().map(|s| s.to_string()).collect(),
            },
            limits: *limits,
            data: None,
            samples,
        })
    }

    fn decode(&self) -> Result<PixelData, Error> {
        let path = &self.meta.path;
        let img = reader(path, &self.limits)?
            .decode()
            .map_err(|source| Error::Image {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(match img {
            DynamicImage::ImageLuma8(b) => PixelData::U8(b.into_raw()),
            DynamicImage::ImageLuma16(b) => PixelData::U16(b.into_raw()),
            DynamicImage::ImageLumaA8(b) => PixelData::U8(b.into_raw()),
            DynamicImage::ImageLumaA16(b) => PixelData::U16(b.into_raw()),
            DynamicImage::ImageRgb8(b) => PixelData::U8(b.into_raw()),
            DynamicImage::ImageRgb16(b) => PixelData::U16(b.into_raw()),
            DynamicImage::ImageRgba8(b) => PixelData::U8(b.into_raw()),
            DynamicImage::ImageRgba16(b) => PixelData::U16(b.into_raw()),
            DynamicImage::ImageRgb32F(b) => PixelData::F32(b.into_raw()),
            DynamicImage::ImageRgba32F(b) => PixelData::F32(b.into_raw()),
            other => {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    message: format!("pixel layout {:?}", other.color()),
                })
            }
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
        if self.data.is_none() {
            self.data = Some(self.decode()?);
        }
        if self.samples == 1 {
            let data = self.data.take().expect("decoded above");
            return Ok(Plane::new(h, w, data));
        }
        let data = self
            .data
            .as_ref()
            .expect("decoded above")
            .strided(index, self.samples);
        if index + 1 == self.samples {
            self.data = None;
        }
        Ok(Plane::new(h, w, data))
    }
}
