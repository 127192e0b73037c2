//! File formats: one module per folder of `formats/`. Each converts between files and the
//! in-memory model ([`crate::raster`], [`crate::metadata`]) and has its own error type.
//!
//! Image inputs are read plane by plane through [`PlaneSource`], so a stack is never held in
//! memory whole; [`Limits`] caps what a single plane may allocate.

pub mod biotracks;
pub mod coco;
pub mod ctc;
pub mod geff;
pub mod geojson;
pub mod input;
pub(crate) mod json_stream;
pub mod ome_zarr;
pub mod pagetab;
pub mod png_jpeg;
pub mod points;
pub mod store;
pub mod tiff;
pub mod trackmate;
pub mod zip;

use crate::metadata::{Axis, AxisType, DataType};
use crate::raster::Plane;
use std::path::{Path, PathBuf};

/// Resource caps for reading images, checked against declared sizes before allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest decoded 2D plane, in bytes (default 4 GiB).
    pub max_plane_bytes: u64,
    /// Largest image (all planes), in bytes (default 64 TiB): anything larger is a corrupt header.
    pub max_image_bytes: u64,
    /// Largest size of one axis, in pixels (default 2^24).
    pub max_axis_len: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_plane_bytes: 4 << 30,
            max_image_bytes: 64 << 40,
            max_axis_len: 1 << 24,
        }
    }
}

impl Limits {
    /// Checks declared dimensions: no zero-sized axis, nothing larger than the caps.
    pub fn check(&self, path: &Path, shape: &[u64], dtype: DataType) -> Result<(), Error> {
        let err = |message: String| Error::Limits {
            path: path.to_path_buf(),
            message,
        };
        if let Some(i) = shape.iter().position(|&n| n == 0) {
            return Err(err(format!("axis {i} has size 0 (shape {shape:?})")));
        }
        if let Some(&n) = shape.iter().find(|&&n| n > self.max_axis_len) {
            return Err(err(format!(
                "an axis of {n} pixels exceeds the limit of {} (shape {shape:?})",
                self.max_axis_len
            )));
        }
        let bytes = |dims: &[u64]| {
            dims.iter()
                .try_fold(dtype.size() as u64, |acc, &n| acc.checked_mul(n))
                .unwrap_or(u64::MAX)
        };
        let plane = bytes(&shape[shape.len().saturating_sub(2)..]);
        if plane > self.max_plane_bytes {
            return Err(err(format!(
                "one plane is {plane} bytes, over the limit of {} bytes (shape {shape:?})",
                self.max_plane_bytes
            )));
        }
        let total = bytes(shape);
        if total > self.max_image_bytes {
            return Err(err(format!(
                "the image is {total} bytes, over the limit of {} bytes (shape {shape:?})",
                self.max_image_bytes
            )));
        }
        Ok(())
    }
}

/// Errors reading or writing image files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The TIFF decoder or encoder failed (truncated, corrupt, unsupported compression, …).
    #[error("{path}: TIFF: {source}")]
    Tiff {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: ::tiff::TiffError,
    },
    /// PNG or JPEG decoding failed.
    #[error("{path}: {source}")]
    Image {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: ::image::ImageError,
    },
    /// A Zarr store could not be read or written.
    #[error("{path}: Zarr: {message}")]
    Zarr {
        /// The store or array.
        path: PathBuf,
        /// What zarrs said.
        message: String,
    },
    /// Metadata is missing or breaks the format's rules.
    #[error("{path}: {key}: {message}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// The key or element at fault.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The file is valid but holds something we do not handle.
    #[error("{path}: unsupported: {message}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What.
        message: String,
    },
    /// Declared sizes break a [`Limits`] cap.
    #[error("{path}: {message}")]
    Limits {
        /// The file.
        path: PathBuf,
        /// Which cap, with the values.
        message: String,
    },
}

/// What an image source holds, known before reading pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceMeta {
    /// The file or directory read.
    pub path: PathBuf,
    /// Axes in storage order; the last two are `y` and `x`.
    pub axes: Vec<Axis>,
    /// Size of each axis.
    pub shape: Vec<u64>,
    /// Sample type.
    pub dtype: DataType,
    /// Channel names, when the source names its channels.
    pub channel_names: Vec<String>,
}

impl SourceMeta {
    /// Number of 2D planes (product of the non-yx axes).
    pub fn planes(&self) -> usize {
        self.shape[..self.shape.len() - 2].iter().product::<u64>() as usize
    }

    /// Plane height and width.
    pub fn plane_shape(&self) -> (usize, usize) {
        let n = self.shape.len();
        (self.shape[n - 2] as usize, self.shape[n - 1] as usize)
    }

    /// The axes as a string, e.g. `tczyx`.
    pub fn axes_string(&self) -> String {
        self.axes.iter().map(|a| a.name.as_str()).collect()
    }
}

/// A readable image, plane by plane.
pub trait PlaneSource: Send {
    /// Shape, axes and type.
    fn meta(&self) -> &SourceMeta;
    /// Plane `index`, counting in C order over the non-yx axes.
    fn read_plane(&mut self, index: usize) -> Result<Plane, Error>;
}

/// Builds OME-Zarr axes from names (`tczyx` order rules checked by validation).
pub fn axes_from_names(names: &str) -> Result<Vec<Axis>, String> {
    let mut axes = Vec::new();
    for c in names.chars() {
        let kind = match c {
            't' => AxisType::Time,
            'c' => AxisType::Channel,
            'z' | 'y' | 'x' => AxisType::Space,
            other => {
                return Err(format!(
                    "unknown axis {other:?} in {names:?}; use letters from tczyx"
                ))
            }
        };
        if axes.iter().any(|a: &Axis| a.name == c.to_string()) {
            return Err(format!("axis {c:?} appears twice in {names:?}"));
        }
        axes.push(Axis {
            name: c.to_string(),
            kind,
            unit: None,
            scale: None,
            extra: Default::default(),
        });
    }
    if !names.ends_with("yx") {
        return Err(format!("axes {names:?} must end with yx"));
    }
    let order = "tczyx";
    let positions: Vec<usize> = names.chars().map(|c| order.find(c).unwrap_or(0)).collect();
    if positions.windows(2).any(|w| w[0] > w[1]) {
        return Err(format!(
            "axes {names:?} are out of order; OME-Zarr orders them t, c, z, y, x"
        ));
    }
    Ok(axes)
}

/// Opens any supported image input: TIFF (incl. OME-TIFF and ImageJ), PNG, JPEG, or an OME-Zarr
/// directory.
pub fn open_source(path: &Path, limits: &Limits) -> Result<Box<dyn PlaneSource>, Error> {
    if path.is_dir() {
        return Ok(Box::new(ome_zarr::ZarrPlanes::open_image(path, limits)?));
    }
    let name = path.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".tif")
        || name.ends_with(".tiff")
        || name.ends_with(".btf")
        || name.ends_with(".tf8")
    {
        Ok(Box::new(tiff::TiffSource::open(path, limits)?))
    } else if name.ends_with(".png") || name.ends_with(".jpg") || name.ends_with(".jpeg") {
        Ok(Box::new(png_jpeg::RasterSource::open(path, limits)?))
    } else {
        Err(Error::Unsupported {
            path: path.to_path_buf(),
            message: "not a TIFF, PNG, JPEG or OME-Zarr directory (by its name)".into(),
        })
    }
}
