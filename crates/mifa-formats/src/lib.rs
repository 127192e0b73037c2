//! File formats: one module per folder of `formats/`, each behind a cargo feature of the same
//! name (all on by default; `.ci/layers.sh` builds each alone). Each converts between files and the
//! in-memory model ([`crate::raster`], [`crate::metadata`]) and has its own error type.
//!
//! Image inputs are read plane by plane through [`PlaneSource`], so a stack is never held in
//! memory whole; [`Limits`] caps what a single plane, a single decode unit (a PNG or JPEG, a TIFF
//! strip or tile, a Zarr chunk) and a single region read may allocate.
// The format modules name the model through these; with few features some go unused.
#[allow(unused_imports)]
use mifa_model::{annotations, metadata, raster};

#[cfg(feature = "biotracks")]
pub mod biotracks;
#[cfg(feature = "coco")]
pub mod coco;
#[cfg(feature = "ctc")]
pub mod ctc;
#[cfg(feature = "geff")]
pub mod geff;
#[cfg(feature = "geojson")]
pub mod geojson;
pub mod input;
#[cfg(any(feature = "coco", feature = "geojson"))]
// GeoJSON alone uses fewer of the stream's methods than COCO.
#[cfg_attr(not(feature = "coco"), allow(dead_code))]
pub(crate) mod json_stream;
#[cfg(feature = "ome-zarr")]
pub mod ome_zarr;
#[cfg(feature = "pagetab")]
pub mod pagetab;
#[cfg(feature = "png-jpeg")]
pub mod png_jpeg;
#[cfg(feature = "points")]
pub mod points;
pub mod store;
#[cfg(feature = "tiff")]
pub mod tiff;
#[cfg(feature = "trackmate")]
pub mod trackmate;
#[cfg(feature = "zip")]
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
    /// Largest decode unit, in decoded bytes (default 1 GiB): a whole PNG or JPEG, one TIFF
    /// strip or tile, one Zarr chunk. Checked against the declared size before decoding, so a
    /// small compressed file cannot expand into gigabytes; raised with `--max-decode-mb`.
    pub max_decode_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_plane_bytes: 4 << 30,
            max_image_bytes: 64 << 40,
            max_axis_len: 1 << 24,
            max_decode_bytes: 1 << 30,
        }
    }
}

impl Limits {
    /// The default limits with the decode-unit cap set to `mb` mebibytes (`--max-decode-mb`).
    pub fn with_max_decode_mb(mut self, mb: u64) -> Limits {
        self.max_decode_bytes = mb.saturating_mul(1 << 20);
        self
    }

    /// Checks one decode unit (`unit`, e.g. "JPEG" or "TIFF strip 3") of `dims` pixels (height,
    /// width) with `bytes_per_pixel` decoded bytes each, before any of it is decoded.
    pub fn check_decode(
        &self,
        path: &Path,
        unit: &str,
        dims: (u64, u64),
        bytes_per_pixel: u64,
    ) -> Result<(), Error> {
        let bytes = dims
            .0
            .checked_mul(dims.1)
            .and_then(|n| n.checked_mul(bytes_per_pixel))
            .unwrap_or(u64::MAX);
        if bytes <= self.max_decode_bytes {
            return Ok(());
        }
        Err(Error::DecodeLimit {
            path: path.to_path_buf(),
            unit: unit.to_string(),
            height: dims.0,
            width: dims.1,
            bytes,
            limit: self.max_decode_bytes,
        })
    }

    /// Checks a read of `region` (one range per axis) of the array at `path` (of `shape`), which
    /// allocates the whole region at once: it must fit the plane cap.
    pub fn check_region(
        &self,
        path: &Path,
        region: &[std::ops::Range<u64>],
        shape: &[u64],
        dtype: DataType,
    ) -> Result<(), Error> {
        let bytes = region
            .iter()
            .try_fold(dtype.size() as u64, |acc, r| {
                acc.checked_mul(r.end.saturating_sub(r.start))
            })
            .unwrap_or(u64::MAX);
        if bytes <= self.max_plane_bytes {
            return Ok(());
        }
        Err(Error::Limits {
            path: path.to_path_buf(),
            message: format!(
                "reading region {region:?} of shape {shape:?} needs {bytes} bytes, over the limit of {} bytes for one read",
                self.max_plane_bytes
            ),
        })
    }

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
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    #[cfg(feature = "tiff")]
    /// The TIFF decoder or encoder failed (truncated, corrupt, unsupported compression, …).
    #[error("{path}: TIFF")]
    Tiff {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: ::tiff::TiffError,
    },
    #[cfg(feature = "png-jpeg")]
    /// PNG or JPEG decoding failed.
    #[error("{path}")]
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
    #[cfg(feature = "zarr")]
    /// A Zarr chunk could not be read or decoded.
    #[error("{path}: chunk {chunk:?}")]
    ZarrChunk {
        /// The array.
        path: PathBuf,
        /// Grid indices of the chunk (for a sharded array, of its shard).
        chunk: Vec<u64>,
        /// What zarrs said (boxed: it is large, and this path is rare).
        #[source]
        source: Box<zarrs::array::ArrayError>,
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
    /// A decode unit declares more decoded bytes than [`Limits::max_decode_bytes`].
    #[error("{path}: {unit} declares {height}x{width} pixels, {bytes} bytes decoded, over the decode limit of {limit} bytes ({} MiB); if the file is genuine, raise the limit with --max-decode-mb", limit >> 20)]
    DecodeLimit {
        /// The file.
        path: PathBuf,
        /// The unit: "PNG", "JPEG", "TIFF strip 0", "TIFF tile 5", "Zarr chunk".
        unit: String,
        /// Declared height of the unit, in pixels.
        height: u64,
        /// Declared width of the unit, in pixels (times the samples decoded together).
        width: u64,
        /// Declared decoded size.
        bytes: u64,
        /// The cap.
        limit: u64,
    },
    /// The file ends before its image data does (a cut-off download or copy).
    #[error("{path}: truncated {format}: {message}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// "JPEG" or "PNG".
        format: &'static str,
        /// What is missing.
        message: String,
    },
    /// An input could not be opened as a regular file (a FIFO, a device, a directory), or is
    /// over its size cap.
    #[error(transparent)]
    Input(#[from] input::InputError),
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
        #[cfg(feature = "ome-zarr")]
        return Ok(Box::new(ome_zarr::ZarrPlanes::open_image(path, limits)?));
    }
    let name = path.to_string_lossy().to_ascii_lowercase();
    let has = |ends: &[&str]| ends.iter().any(|e| name.ends_with(e));
    #[cfg(feature = "tiff")]
    if has(&[".tif", ".tiff", ".btf", ".tf8"]) {
        return Ok(Box::new(tiff::TiffSource::open(path, limits)?));
    }
    #[cfg(feature = "png-jpeg")]
    if has(&[".png", ".jpg", ".jpeg"]) {
        return Ok(Box::new(png_jpeg::RasterSource::open(path, limits)?));
    }
    // Without some image features, these are unused.
    let _ = (has, limits);
    Err(Error::Unsupported {
        path: path.to_path_buf(),
        message: UNSUPPORTED_IMAGE.into(),
    })
}

/// Why an image input was not opened.
const UNSUPPORTED_IMAGE: &str = if cfg!(all(
    feature = "tiff",
    feature = "png-jpeg",
    feature = "ome-zarr"
)) {
    "not a TIFF, PNG, JPEG or OME-Zarr directory (by its name)"
} else {
    "not an image input this build reads (by its name; TIFF, PNG/JPEG and OME-Zarr are cargo features of mifa-formats)"
};
