//! OME-Zarr images and labels (NGFF 0.5 on Zarr v3, NGFF 0.4 on Zarr v2), through `zarrs`.
//!
//! Profile: `formats/ome-zarr/README.md`. We write one multiscale per image: level `0` at full
//! resolution, then 2× reductions in y and x (mean for intensities, mode for labels) until the
//! plane fits one chunk; chunks are one plane thick and 256×256 by default, zstd-compressed
//! (blosc-zstd for 0.4), sharded in 0.5 when a plane spans more than 2×2 chunks (shards of up
//! to 8×8 chunks); `dimension_names` always set.

use super::store::ZarrView;
use super::{Error, Limits, PlaneSource, SourceMeta};
use crate::metadata::{Axis, AxisType, DataType};
use crate::raster::{Downsample, PixelData, Plane};
use rayon::prelude::*;
use serde_json::{json, Map, Value};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zarrs::array::{Array, ArraySubset};

/// NGFF version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NgffVersion {
    /// NGFF 0.4 on Zarr v2.
    V04,
    /// NGFF 0.5 on Zarr v3.
    #[default]
    V05,
}

impl NgffVersion {
    /// `"0.4"` or `"0.5"`.
    pub fn as_str(self) -> &'static str {
        match self {
            NgffVersion::V04 => "0.4",
            NgffVersion::V05 => "0.5",
        }
    }
}

impl std::str::FromStr for NgffVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "0.4" => Ok(NgffVersion::V04),
            "0.5" => Ok(NgffVersion::V05),
            other => Err(format!(
                "unsupported NGFF version {other:?}; use 0.5 or 0.4"
            )),
        }
    }
}

/// One resolution level of a multiscale.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// Array path relative to the multiscale group.
    pub path: String,
    /// Array shape.
    pub shape: Vec<u64>,
    /// `scale` transform.
    pub scale: Vec<f64>,
    /// Optional `translation` transform.
    pub translation: Option<Vec<f64>>,
}

/// An OME-Zarr multiscale image (or label image) with its metadata checked.
#[derive(Debug, Clone)]
pub struct Multiscale {
    /// The group directory.
    pub root: PathBuf,
    /// NGFF version.
    pub version: NgffVersion,
    /// `multiscales[0].name`.
    pub name: Option<String>,
    /// Axes.
    pub axes: Vec<Axis>,
    /// Levels, highest resolution first.
    pub levels: Vec<Level>,
    /// Sample type of level 0.
    pub dtype: DataType,
    /// Channel names from `omero` metadata.
    pub channel_names: Vec<String>,
    /// Names listed in `labels/`.
    pub labels: Vec<String>,
    /// `image-label` metadata, when this is a label image.
    pub image_label: Option<Map<String, Value>>,
    /// Caps on what one read allocates and decodes (default [`Limits::default`]).
    pub limits: Limits,
}

fn meta_err(path: &Path, key: &str, message: impl Into<String>) -> Error {
    Error::Metadata {
        path: path.to_path_buf(),
        key: key.into(),
        message: message.into(),
    }
}

fn zarr_err(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> Error + '_ {
    move |e| Error::Zarr {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn read_json(path: &Path) -> Result<Option<Value>, Error> {
    use crate::input::{self, InputError};
    // Only a regular file is read (a FIFO would hang), and within the cap for small documents.
    let max = input::TextLimits::current().max_table_bytes;
    match input::read_text_capped(path, max, "OME-Zarr metadata") {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            meta_err(
                path,
                &format!("line {} column {}", e.line(), e.column()),
                format!("malformed JSON: {e}"),
            )
        }),
        Err(InputError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The OME attributes of a group: (version, attributes, file they came from).
fn group_attrs(dir: &Path) -> Result<(NgffVersion, Map<String, Value>, PathBuf), Error> {
    let v3 = dir.join("zarr.json");
    if let Some(doc) = read_json(&v3)? {
        let ome = doc
            .pointer("/attributes/ome")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| meta_err(&v3, "attributes.ome", "missing: not an OME-Zarr 0.5 group"))?;
        return Ok((NgffVersion::V05, ome, v3));
    }
    let v2 = dir.join(".zattrs");
    if let Some(doc) = read_json(&v2)? {
        let attrs = doc
            .as_object()
            .cloned()
            .ok_or_else(|| meta_err(&v2, "", "not a JSON object"))?;
        return Ok((NgffVersion::V04, attrs, v2));
    }
    if dir.join(".zgroup").is_file() {
        return Err(meta_err(
            dir,
            ".zattrs",
            "missing: a Zarr group without OME metadata",
        ));
    }
    Err(meta_err(
        dir,
        "zarr.json",
        "not an OME-Zarr image: no zarr.json or .zattrs",
    ))
}

fn parse_axes(file: &Path, ms: &Value) -> Result<Vec<Axis>, Error> {
    let axes = ms.get("axes").and_then(Value::as_array).ok_or_else(|| {
        meta_err(
            file,
            "multiscales[0].axes",
            "missing (OME-Zarr 0.4 and 0.5 require axes)",
        )
    })?;
    let mut out = Vec::new();
    for (i, a) in axes.iter().enumerate() {
        let key = format!("multiscales[0].axes[{i}]");
        let name = a
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| meta_err(file, &key, "axis without a name"))?;
        let kind = match a.get("type").and_then(Value::as_str) {
            Some("space") => AxisType::Space,
            Some("time") => AxisType::Time,
            Some("channel") => AxisType::Channel,
            // Untyped axes named like the standard ones are common in 0.4 files.
            None if matches!(name, "x" | "y" | "z") => AxisType::Space,
            None if name == "t" => AxisType::Time,
            None if name == "c" => AxisType::Channel,
            other => return Err(Error::Unsupported {
                path: file.to_path_buf(),
                message: format!("{key}: axis {name:?} of type {other:?}; mifa handles space, time and channel axes"),
            }),
        };
        let unit = a
            .get("unit")
            .and_then(Value::as_str)
            .filter(|u| crate::metadata::checks::unit(u).is_ok())
            .map(String::from);
        out.push(Axis {
            name: name.into(),
            kind,
            unit,
            scale: None,
            extra: Default::default(),
        });
    }
    let count = |k| out.iter().filter(|a| a.kind == k).count();
    if !(2..=5).contains(&out.len())
        || !(2..=3).contains(&count(AxisType::Space))
        || count(AxisType::Time) > 1
        || count(AxisType::Channel) > 1
    {
        return Err(meta_err(file, "multiscales[0].axes", format!(
            "{} axes with {} space, {} time, {} channel; OME-Zarr needs 2-5 axes, 2-3 of them space, at most one time and one channel",
            out.len(), count(AxisType::Space), count(AxisType::Time), count(AxisType::Channel))));
    }
    let rank = |k: AxisType| match k {
        AxisType::Time => 0,
        AxisType::Channel => 1,
        AxisType::Space => 2,
    };
    if out.windows(2).any(|w| rank(w[0].kind) > rank(w[1].kind)) {
        return Err(meta_err(
            file,
            "multiscales[0].axes",
            "axes out of order: time, then channel, then space",
        ));
    }
    let mut names = std::collections::HashSet::new();
    if let Some(a) = out.iter().find(|a| !names.insert(a.name.clone())) {
        return Err(meta_err(
            file,
            "multiscales[0].axes",
            format!("axis name {:?} is used twice", a.name),
        ));
    }
    let n = out.len();
    if out[n - 2].name != "y" || out[n - 1].name != "x" {
        return Err(Error::Unsupported {
            path: file.to_path_buf(),
            message: "the last two axes must be y and x".into(),
        });
    }
    Ok(out)
}

fn transform(
    file: &Path,
    key: &str,
    list: &[Value],
    n: usize,
) -> Result<(Vec<f64>, Option<Vec<f64>>), Error> {
    let vec_of = |t: &Value, field: &str| -> Result<Vec<f64>, Error> {
        let v: Vec<f64> = t
            .get(field)
            .and_then(Value::as_array)
            .ok_or_else(|| meta_err(file, key, format!("{field} transform without a {field} list (paths to transform files are not supported)")))?
            .iter()
            .map(|x| x.as_f64().ok_or_else(|| meta_err(file, key, format!("{field} holds a non-number"))))
            .collect::<Result<_, _>>()?;
        if v.len() != n {
            return Err(meta_err(
                file,
                key,
                format!("{field} has {} values for {n} axes", v.len()),
            ));
        }
        Ok(v)
    };
    let types: Vec<&str> = list
        .iter()
        .map(|t| t.get("type").and_then(Value::as_str).unwrap_or(""))
        .collect();
    match types.as_slice() {
        ["scale"] => Ok((vec_of(&list[0], "scale")?, None)),
        ["scale", "translation"] => Ok((vec_of(&list[0], "scale")?, Some(vec_of(&list[1], "translation")?))),
        other => Err(meta_err(file, key, format!(
            "coordinateTransformations are {other:?}; OME-Zarr needs exactly one scale, optionally followed by one translation"))),
    }
}

/// Opens a zarrs array, as the store the group lives in sees it.
#[doc(hidden)]
pub fn open_array(root: &Path, rel: &str) -> Result<Array<ZarrView>, Error> {
    let view = ZarrView::local(root).map_err(|e| zarr_err(root)(&e))?;
    open_array_in(view, rel, &root.join(rel))
}

/// Opens array `rel` of the group `view` sees, over any [`super::store::ReadStore`];
/// `located` names it in errors.
#[doc(hidden)]
pub fn open_array_in(view: ZarrView, rel: &str, located: &Path) -> Result<Array<ZarrView>, Error> {
    let path = format!("/{}", rel.trim_matches('/'));
    Array::open(Arc::new(view), &path).map_err(|e| zarr_err(located)(&e))
}

fn dtype_of(path: &Path, array: &Array<ZarrView>) -> Result<DataType, Error> {
    let md = serde_json::to_value(array.metadata()).map_err(|e| zarr_err(path)(&e))?;
    let name = md
        .get("data_type")
        .or_else(|| md.get("dtype"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let trimmed = name.trim_start_matches(['<', '>', '|', '=']);
    Ok(match trimmed {
        "bool" | "b1" => DataType::Bool,
        "uint8" | "u1" => DataType::Uint8,
        "uint16" | "u2" => DataType::Uint16,
        "uint32" | "u4" => DataType::Uint32,
        "uint64" | "u8" => DataType::Uint64,
        "int8" | "i1" => DataType::Int8,
        "int16" | "i2" => DataType::Int16,
        "int32" | "i4" => DataType::Int32,
        "int64" | "i8" => DataType::Int64,
        "float32" | "f4" => DataType::Float32,
        "float64" | "f8" => DataType::Float64,
        _ => {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: format!("data type {name:?}"),
            })
        }
    })
}

/// Checks one chunk's decoded size (for a sharded array, one inner chunk's, and the shard
/// index's) against the decode cap, before zarrs allocates it.
fn check_chunk_size(
    path: &Path,
    array: &Array<ZarrView>,
    dtype: DataType,
    limits: &Limits,
) -> Result<(), Error> {
    use zarrs::array::ArrayShardedExt;
    let origin = vec![0; array.dimensionality()];
    let chunk: Vec<u64> = array
        .chunk_shape(&origin)
        .map_err(|e| zarr_err(path)(&e))?
        .iter()
        .map(|n| n.get())
        .collect();
    let dims = |shape: &[u64]| {
        let (last, rest) = shape.split_last().unwrap_or((&1, &[]));
        let rows = rest.iter().try_fold(1u64, |a, &n| a.checked_mul(n));
        (rows.unwrap_or(u64::MAX), *last)
    };
    let Some(inner) = array.subchunk_shape() else {
        return limits.check_decode(path, "Zarr chunk", dims(&chunk), dtype.size() as u64);
    };
    let inner: Vec<u64> = inner.iter().map(|n| n.get()).collect();
    limits.check_decode(path, "Zarr inner chunk", dims(&inner), dtype.size() as u64)?;
    // The shard index holds an offset and a length (16 bytes) per inner chunk.
    let per_shard: Vec<u64> = chunk
        .iter()
        .zip(&inner)
        .map(|(s, i)| s.div_ceil(*i))
        .collect();
    limits.check_decode(path, "Zarr shard index", dims(&per_shard), 16)
}

/// Names the chunk behind a failed read: the failing chunk is found by reading, one chunk at a
/// time, the part of the region each holds (only on this error path; no more is allocated than
/// the region itself).
fn chunk_err(
    path: &Path,
    array: &Array<ZarrView>,
    subset: &ArraySubset,
    error: zarrs::array::ArrayError,
) -> Error {
    let read_part = |idx: &[u64]| -> Result<(), zarrs::array::ArrayError> {
        let chunk = array.chunk_subset(idx)?;
        let part = chunk.overlap(subset)?.relative_to(chunk.start())?;
        array
            .retrieve_chunk_subset::<zarrs::array::ArrayBytes<'static>>(idx, &part)
            .map(drop)
    };
    let chunks = array.chunks_in_array_subset(subset).ok().flatten();
    let failing = chunks
        .into_iter()
        .flat_map(|c| c.indices())
        .find_map(|idx| read_part(&idx).err().map(|e| (idx.to_vec(), e)));
    match failing {
        Some((chunk, source)) => Error::ZarrChunk {
            path: path.to_path_buf(),
            chunk,
            source: Box::new(source),
        },
        None => zarr_err(path)(&error),
    }
}

impl Multiscale {
    /// Opens and checks an OME-Zarr image or label group: metadata per the spec, every level's
    /// array present with one dimension per axis, levels never growing.
    pub fn open(root: &Path) -> Result<Multiscale, Error> {
        let (version, attrs, file) = group_attrs(root)?;
        if version == NgffVersion::V05 {
            match attrs.get("version").and_then(Value::as_str) {
                Some("0.5") => {}
                other => {
                    return Err(meta_err(
                        &file,
                        "attributes.ome.version",
                        format!("{other:?}; mifa reads OME-Zarr 0.5 (zarr.json) and 0.4 (.zattrs)"),
                    ))
                }
            }
        }
        let ms_list = attrs
            .get("multiscales")
            .and_then(Value::as_array)
            .ok_or_else(|| meta_err(&file, "multiscales", "missing: not an OME-Zarr image"))?;
        let ms = ms_list
            .first()
            .ok_or_else(|| meta_err(&file, "multiscales", "empty list"))?;
        if version == NgffVersion::V04 {
            match ms.get("version").and_then(Value::as_str) {
                Some("0.4") => {}
                other => {
                    return Err(Error::Unsupported {
                        path: file.clone(),
                        message: format!(
                            "multiscales[0].version {other:?}; mifa reads OME-Zarr 0.4 and 0.5"
                        ),
                    })
                }
            }
        }
        let mut axes = parse_axes(&file, ms)?;
        let datasets = ms
            .get("datasets")
            .and_then(Value::as_array)
            .filter(|d| !d.is_empty())
            .ok_or_else(|| meta_err(&file, "multiscales[0].datasets", "missing or empty"))?;
        let mut levels = Vec::new();
        let mut dtype = None;
        for (i, ds) in datasets.iter().enumerate() {
            let key = format!("multiscales[0].datasets[{i}]");
            let path = ds
                .get("path")
                .and_then(Value::as_str)
                .ok_or_else(|| meta_err(&file, &key, "no path"))?;
            mifa_model::ids::check_relative_path(path)
                .map_err(|m| meta_err(&file, &format!("{key}.path"), m))?;
            let transforms = ds
                .get("coordinateTransformations")
                .and_then(Value::as_array)
                .ok_or_else(|| meta_err(&file, &key, "no coordinateTransformations"))?;
            let (scale, translation) = transform(
                &file,
                &format!("{key}.coordinateTransformations"),
                transforms,
                axes.len(),
            )?;
            if !root.join(path).is_dir() {
                return Err(meta_err(
                    &file,
                    &format!("{key}.path"),
                    format!("array {path:?} does not exist"),
                ));
            }
            let array = open_array(root, path)?;
            let shape = array.shape().to_vec();
            if shape.len() != axes.len() {
                return Err(meta_err(
                    &file,
                    &format!("{key}.path"),
                    format!(
                        "array {path:?} has {} dimensions for {} axes",
                        shape.len(),
                        axes.len()
                    ),
                ));
            }
            if let Some(prev) = levels.last().map(|l: &Level| &l.shape) {
                if shape.iter().zip(prev.iter()).any(|(a, b)| a > b) {
                    return Err(meta_err(
                        &file,
                        &format!("{key}.path"),
                        format!(
                            "level {i} {shape:?} is larger than level {} {prev:?}",
                            i - 1
                        ),
                    ));
                }
            }
            if i == 0 {
                let d = dtype_of(&root.join(path), &array)?;
                // The shape is what every later allocation is sized by: refuse an edited one
                // (10^6 x 10^6 planes) here, naming the array and its shape.
                Limits::default().check(&root.join(path), &shape, d)?;
                dtype = Some(d);
            }
            levels.push(Level {
                path: path.into(),
                shape,
                scale,
                translation,
            });
        }
        for (axis, &s) in axes.iter_mut().zip(&levels[0].scale) {
            if axis.kind != AxisType::Channel && s.is_finite() && s > 0.0 {
                axis.scale = Some(s);
            }
        }
        let omero = attrs.get("omero");
        let mut channel_names: Vec<String> = omero
            .and_then(|o| o.get("channels"))
            .and_then(Value::as_array)
            .map(|chs| {
                chs.iter()
                    .map(|c| {
                        c.get("label")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let n_channels = axes
            .iter()
            .position(|a| a.kind == AxisType::Channel)
            .map(|c| levels[0].shape[c] as usize);
        if n_channels != Some(channel_names.len()) || channel_names.iter().all(String::is_empty) {
            channel_names.clear();
        }
        let labels = match group_attrs(&root.join("labels")) {
            Ok((_, la, _)) => la
                .get("labels")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        Ok(Multiscale {
            root: root.to_path_buf(),
            version,
            name: ms.get("name").and_then(Value::as_str).map(String::from),
            axes,
            levels,
            dtype: dtype.expect("at least one level"),
            channel_names,
            labels,
            image_label: attrs.get("image-label").and_then(Value::as_object).cloned(),
            limits: Limits::default(),
        })
    }

    /// The same multiscale with other caps (e.g. a raised `--max-decode-mb`).
    pub fn with_limits(mut self, limits: Limits) -> Multiscale {
        self.limits = limits;
        self
    }

    /// Opens `labels/<name>`.
    pub fn label(&self, name: &str) -> Result<Multiscale, Error> {
        if !self.labels.iter().any(|l| l == name) {
            return Err(meta_err(
                &self.root.join("labels"),
                "labels",
                format!(
                    "no label {name:?} (labels: {})",
                    if self.labels.is_empty() {
                        "none".into()
                    } else {
                        self.labels.join(", ")
                    }
                ),
            ));
        }
        let m = Multiscale::open(&self.root.join("labels").join(name))?;
        if m.image_label.is_none() {
            return Err(meta_err(
                &m.root,
                "image-label",
                "missing: a label image needs image-label metadata",
            ));
        }
        if !m.dtype.is_integer() {
            return Err(meta_err(
                &m.root,
                "data_type",
                format!("{:?}: labels must be integers", m.dtype),
            ));
        }
        self.check_label_shape(&m)?;
        Ok(m.with_limits(self.limits))
    }

    /// A label covers its image: every axis the two share (all but `c`) has the same size at
    /// level 0, so readers can index both with the same coordinates.
    fn check_label_shape(&self, label: &Multiscale) -> Result<(), Error> {
        let size = |m: &Multiscale, name: &str| {
            m.axes
                .iter()
                .position(|a| a.name == name)
                .map(|i| m.levels[0].shape[i])
        };
        for axis in &label.axes {
            let (l, i) = (size(label, &axis.name), size(self, &axis.name));
            let mismatch = match (l, i) {
                (Some(l), Some(i)) => l != i,
                // An axis the image lacks is fine only as a single slice (e.g. c of size 1).
                (Some(l), None) => l != 1,
                _ => false,
            };
            if mismatch {
                return Err(meta_err(
                    &label.root.join(&label.levels[0].path),
                    "shape",
                    format!(
                        "label {} {:?} does not match image {} {:?} along {}",
                        label.axes_string(),
                        label.levels[0].shape,
                        self.axes_string(),
                        self.levels[0].shape,
                        axis.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Axis names, e.g. `tczyx`.
    pub fn axes_string(&self) -> String {
        self.axes.iter().map(|a| a.name.as_str()).collect()
    }

    /// The level, checked to exist; with a non-empty `region`, also checked to hold one range
    /// per axis inside the level's shape.
    fn checked_level(&self, level: usize, region: &[Range<u64>]) -> Result<&Level, Error> {
        let l = self.levels.get(level).ok_or_else(|| {
            meta_err(
                &self.root,
                "level",
                format!("{level} out of range ({} levels)", self.levels.len()),
            )
        })?;
        let outside = region.len() != l.shape.len()
            || region
                .iter()
                .zip(&l.shape)
                .any(|(r, &n)| r.start > r.end || r.end > n);
        if !region.is_empty() && outside {
            return Err(meta_err(
                &self.root.join(&l.path),
                "region",
                format!("{region:?} is outside the level's shape {:?}", l.shape),
            ));
        }
        Ok(l)
    }

    /// Reads a region of a level; `region` has one range per axis. Returns the data in C order.
    /// The region and each chunk decoded for it are checked against [`Multiscale::limits`]
    /// before anything is allocated; a chunk that fails to read is named in the error.
    pub fn read_region(&self, level: usize, region: &[Range<u64>]) -> Result<PixelData, Error> {
        let (array, subset, path) = self.open_region(level, region)?;
        macro_rules! read_as {
            ($($dtype:ident => $variant:ident),*) => {
                match self.dtype {
                    $(DataType::$dtype => PixelData::$variant(
                        array
                            .retrieve_array_subset(&subset)
                            .map_err(|e| chunk_err(&path, &array, &subset, e))?,
                    ),)*
                }
            };
        }
        Ok(read_as!(
            Bool => Bool, Uint8 => U8, Uint16 => U16, Uint32 => U32, Uint64 => U64, Int8 => I8,
            Int16 => I16, Int32 => I32, Int64 => I64, Float32 => F32, Float64 => F64
        ))
    }

    /// Reads a region into an `ndarray` of the caller's element type (which must match the
    /// array's data type). Checked as [`Multiscale::read_region`] is.
    pub fn read_region_ndarray<T: zarrs::array::ElementOwned>(
        &self,
        level: usize,
        region: &[Range<u64>],
    ) -> Result<ndarray::ArrayD<T>, Error> {
        let (array, subset, path) = self.open_region(level, region)?;
        array
            .retrieve_array_subset(&subset)
            .map_err(|e| chunk_err(&path, &array, &subset, e))
    }

    /// Opens a level's array for reading `region`, after checking the region and the array's
    /// chunks against the limits.
    fn open_region(
        &self,
        level: usize,
        region: &[Range<u64>],
    ) -> Result<(Array<ZarrView>, ArraySubset, PathBuf), Error> {
        let l = self.checked_level(level, region)?;
        let path = self.root.join(&l.path);
        self.limits
            .check_region(&path, region, &l.shape, self.dtype)?;
        let array = open_array(&self.root, &l.path)?;
        check_chunk_size(&path, &array, self.dtype, &self.limits)?;
        Ok((array, ArraySubset::new_with_ranges(region), path))
    }

    /// Reads plane `index` (C order over the non-yx axes) of a level.
    pub fn read_plane(&self, level: usize, index: usize) -> Result<Plane, Error> {
        let shape = &self.checked_level(level, &[])?.shape;
        let n = shape.len();
        let mut region: Vec<Range<u64>> = Vec::with_capacity(n);
        let mut rest = index as u64;
        let mut idx = vec![0u64; n - 2];
        for k in (0..n - 2).rev() {
            idx[k] = rest % shape[k];
            rest /= shape[k];
        }
        region.extend(idx.iter().map(|&i| i..i + 1));
        region.push(0..shape[n - 2]);
        region.push(0..shape[n - 1]);
        let data = self.read_region(level, &region)?;
        Ok(Plane::new(
            shape[n - 2] as usize,
            shape[n - 1] as usize,
            data,
        ))
    }
}

/// An OME-Zarr image or label read plane by plane at level 0 (for re-import).
pub struct ZarrPlanes {
    ms: Multiscale,
    meta: SourceMeta,
}

impl ZarrPlanes {
    /// Opens the image of an OME-Zarr group.
    pub fn open_image(path: &Path, limits: &Limits) -> Result<ZarrPlanes, Error> {
        Self::from_multiscale(Multiscale::open(path)?, limits)
    }

    /// Wraps an opened multiscale (image or label).
    pub fn from_multiscale(ms: Multiscale, limits: &Limits) -> Result<ZarrPlanes, Error> {
        let ms = ms.with_limits(*limits);
        let meta = SourceMeta {
            path: ms.root.clone(),
            axes: ms.axes.clone(),
            shape: ms.levels[0].shape.clone(),
            dtype: ms.dtype,
            channel_names: ms.channel_names.clone(),
        };
        limits.check(&meta.path, &meta.shape, meta.dtype)?;
        Ok(ZarrPlanes { ms, meta })
    }

    /// The multiscale read.
    pub fn multiscale(&self) -> &Multiscale {
        &self.ms
    }
}

impl PlaneSource for ZarrPlanes {
    fn meta(&self) -> &SourceMeta {
        &self.meta
    }
    fn read_plane(&mut self, index: usize) -> Result<Plane, Error> {
        self.ms.read_plane(0, index)
    }
}

/// How we write OME-Zarr.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WriteOptions {
    /// NGFF version (0.5 default).
    pub version: NgffVersion,
    /// Chunk edge in y and x (256 default); chunks are one plane thick.
    pub chunk: u64,
    /// Planes spanning more than this many chunks are sharded (0.5 only; default 4, so a
    /// 2048×2048 plane is one shard file per level instead of 64 chunk files).
    pub shard_above_chunks: u64,
    /// Shard edge in chunks (8 default: 2048×2048 shards of 256×256 chunks).
    pub shard_chunks: u64,
    /// zstd level (1 default: 10-40% faster imports than 3 for ~10% more bytes; decoding is as fast).
    pub zstd_level: i32,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            version: NgffVersion::V05,
            chunk: 256,
            shard_above_chunks: 4,
            shard_chunks: 8,
            zstd_level: 1,
        }
    }
}

/// Level shapes: 2× smaller in y and x each level, until the plane fits one chunk.
pub fn pyramid_shapes(shape: &[u64], chunk: u64) -> Vec<Vec<u64>> {
    let n = shape.len();
    let mut out = vec![shape.to_vec()];
    loop {
        let last = out.last().expect("non-empty");
        if last[n - 2] <= chunk && last[n - 1] <= chunk {
            break;
        }
        let mut next = last.clone();
        next[n - 2] = next[n - 2].div_ceil(2);
        next[n - 1] = next[n - 1].div_ceil(2);
        out.push(next);
    }
    out
}

fn v3_dtype(d: DataType) -> (&'static str, Value) {
    match d {
        DataType::Bool => ("bool", json!(false)),
        DataType::Uint8 => ("uint8", json!(0)),
        DataType::Uint16 => ("uint16", json!(0)),
        DataType::Uint32 => ("uint32", json!(0)),
        DataType::Uint64 => ("uint64", json!(0)),
        DataType::Int8 => ("int8", json!(0)),
        DataType::Int16 => ("int16", json!(0)),
        DataType::Int32 => ("int32", json!(0)),
        DataType::Int64 => ("int64", json!(0)),
        DataType::Float32 => ("float32", json!(0.0)),
        DataType::Float64 => ("float64", json!(0.0)),
    }
}

fn v2_dtype(d: DataType) -> &'static str {
    match d {
        DataType::Bool => "|b1",
        DataType::Uint8 => "|u1",
        DataType::Uint16 => "<u2",
        DataType::Uint32 => "<u4",
        DataType::Uint64 => "<u8",
        DataType::Int8 => "|i1",
        DataType::Int16 => "<i2",
        DataType::Int32 => "<i4",
        DataType::Int64 => "<i8",
        DataType::Float32 => "<f4",
        DataType::Float64 => "<f8",
    }
}

fn array_metadata(
    shape: &[u64],
    names: &[String],
    dtype: DataType,
    opts: &WriteOptions,
    sharded: bool,
) -> Value {
    let n = shape.len();
    let mut chunk = vec![1u64; n];
    chunk[n - 2] = shape[n - 2].min(opts.chunk);
    chunk[n - 1] = shape[n - 1].min(opts.chunk);
    match opts.version {
        NgffVersion::V04 => json!({
            "zarr_format": 2,
            "shape": shape,
            "chunks": chunk,
            "dtype": v2_dtype(dtype),
            "compressor": {"id": "blosc", "cname": "zstd", "clevel": opts.zstd_level.clamp(1, 9), "shuffle": if dtype.size() > 1 { 1 } else { 0 }, "blocksize": 0},
            "fill_value": v3_dtype(dtype).1,
            "order": "C",
            "filters": null,
            "dimension_separator": "/",
        }),
        NgffVersion::V05 => {
            let (name, fill) = v3_dtype(dtype);
            // Always with a configuration: zarrs writes a configuration-less codec as a bare
            // string, which zarr-python rejects.
            let bytes = json!({"name": "bytes", "configuration": {"endian": "little"}});
            let inner = json!([bytes, {"name": "zstd", "configuration": {"level": opts.zstd_level, "checksum": false}}]);
            let (grid, codecs) = if sharded {
                let mut shard = chunk.clone();
                for k in [n - 2, n - 1] {
                    // A shard holds whole chunks: round the edge up to a multiple of the chunk.
                    let edge = (opts.chunk * opts.shard_chunks)
                        .min(shape[k].div_ceil(chunk[k]) * chunk[k]);
                    shard[k] = edge;
                }
                (
                    shard,
                    json!([{"name": "sharding_indexed", "configuration": {
                    "chunk_shape": chunk,
                    "codecs": inner,
                    "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
                    "index_location": "end"}}]),
                )
            } else {
                (chunk, inner)
            };
            json!({
                "zarr_format": 3,
                "node_type": "array",
                "shape": shape,
                "data_type": name,
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": grid}},
                "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
                "fill_value": fill,
                "codecs": codecs,
                "attributes": {},
                "dimension_names": names,
            })
        }
    }
}

fn write_json(path: &Path, v: &Value) -> Result<(), Error> {
    let mut text = serde_json::to_string_pretty(v).expect("JSON serialises");
    text.push('\n');
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes group attributes: `zarr.json` with `attributes.ome` (0.5) or `.zgroup` + `.zattrs` (0.4).
pub fn write_group(dir: &Path, version: NgffVersion, ome: Map<String, Value>) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    match version {
        NgffVersion::V05 => write_json(
            &dir.join("zarr.json"),
            &json!({"zarr_format": 3, "node_type": "group", "attributes": {"ome": ome}}),
        ),
        NgffVersion::V04 => {
            write_json(&dir.join(".zgroup"), &json!({"zarr_format": 2}))?;
            write_json(&dir.join(".zattrs"), &Value::Object(ome))
        }
    }
}

/// What writing a multiscale produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// Shapes of the levels.
    pub levels: Vec<Vec<u64>>,
    /// Per channel (or one entry without a channel axis): min and max of level 0.
    pub ranges: Vec<Option<(f64, f64)>>,
    /// Distinct values of level 0, for label images.
    pub label_values: Option<std::collections::BTreeSet<i128>>,
}

/// Writes a multiscale image into `dir` (which must not exist yet): arrays `0`, `1`, … and the
/// group metadata with `multiscales` plus `extra` (e.g. `omero`, `image-label`). Planes are
/// read one at a time from `read_plane`; `progress` is called with the bytes of each plane.
#[allow(clippy::too_many_arguments)]
pub fn write_multiscale(
    dir: &Path,
    name: &str,
    axes: &[Axis],
    shape: &[u64],
    dtype: DataType,
    how: Downsample,
    opts: &WriteOptions,
    mut extra: Map<String, Value>,
    read_plane: &mut dyn FnMut(usize) -> Result<Plane, Error>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Written, Error> {
    let n = shape.len();
    let shapes = pyramid_shapes(shape, opts.chunk);
    let names: Vec<String> = axes.iter().map(|a| a.name.clone()).collect();
    let sharded = opts.version == NgffVersion::V05
        && shape[n - 2].div_ceil(opts.chunk) * shape[n - 1].div_ceil(opts.chunk)
            > opts.shard_above_chunks;
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let store = Arc::new(super::store::ImportStore::new(dir));
    let mut arrays = Vec::new();
    for (k, s) in shapes.iter().enumerate() {
        let md = array_metadata(s, &names, dtype, opts, sharded);
        let path = dir.join(k.to_string());
        let metadata: zarrs::array::ArrayMetadata = match opts.version {
            NgffVersion::V05 => {
                serde_json::from_value::<zarrs::metadata::v3::ArrayMetadataV3>(md).map(Into::into)
            }
            NgffVersion::V04 => {
                serde_json::from_value::<zarrs::metadata::v2::ArrayMetadataV2>(md).map(Into::into)
            }
        }
        .map_err(|e| zarr_err(&path)(&e))?;
        let array = Array::new_with_metadata(store.clone(), &format!("/{k}"), metadata)
            .map_err(|e| zarr_err(&path)(&e))?;
        let md_opts =
            zarrs::array::ArrayMetadataOptions::default().with_include_zarrs_metadata(false);
        array
            .store_metadata_opt(&md_opts)
            .map_err(|e| zarr_err(&path)(&e))?;
        arrays.push(array);
    }
    // Chunk (or shard) edge in y and x of each level's grid.
    let grids: Vec<(u64, u64)> = arrays
        .iter()
        .map(|a| {
            let shape = a
                .chunk_grid()
                .chunk_shape(&vec![0; n])
                .ok()
                .flatten()
                .map(|s| s.iter().map(|x| x.get()).collect::<Vec<u64>>());
            let s = shape.unwrap_or_else(|| vec![1; n]);
            (s[n - 2], s[n - 1])
        })
        .collect();
    let channel_axis = axes.iter().position(|a| a.kind == AxisType::Channel);
    let planes: u64 = shape[..n - 2].iter().product();
    let n_ranges = channel_axis.map_or(1, |c| shape[c] as usize);
    let mut ranges: Vec<Option<(f64, f64)>> = vec![None; n_ranges];
    let mut label_values = (how == Downsample::Mode).then(std::collections::BTreeSet::new);
    for p in 0..planes as usize {
        let plane = read_plane(p)?;
        let (h, w) = (shape[n - 2] as usize, shape[n - 1] as usize);
        if (plane.height, plane.width) != (h, w) || plane.data.dtype() != dtype {
            return Err(meta_err(
                dir,
                &format!("plane {p}"),
                format!(
                    "source gave {}x{} {:?}, expected {h}x{w} {dtype:?}",
                    plane.height,
                    plane.width,
                    plane.data.dtype()
                ),
            ));
        }
        // Index of this plane along the non-yx axes.
        let mut idx = vec![0u64; n - 2];
        let mut rest = p as u64;
        for k in (0..n - 2).rev() {
            idx[k] = rest % shape[k];
            rest /= shape[k];
        }
        let slot = channel_axis.map_or(0, |c| idx[c] as usize);
        if let Some((lo, hi)) = plane.data.min_max() {
            ranges[slot] = Some(match ranges[slot] {
                Some((a, b)) => (a.min(lo), b.max(hi)),
                None => (lo, hi),
            });
        }
        if let Some(set) = label_values.as_mut() {
            set.extend(plane.data.distinct_labels().unwrap_or_default());
        }
        // The whole pyramid of this plane first, then every chunk of every level encoded and
        // stored in one parallel pass (levels are small, the pass keeps both cores busy).
        let mut pyramid = Vec::with_capacity(arrays.len());
        pyramid.push(plane);
        while pyramid.len() < arrays.len() {
            let next = pyramid.last().expect("level 0 is in").downsample(how);
            pyramid.push(next);
        }
        let tasks: Vec<(usize, u64, u64)> = pyramid
            .iter()
            .enumerate()
            .flat_map(|(k, p)| {
                let (gy, gx) = grids[k];
                let rows = (p.height as u64).div_ceil(gy);
                let cols = (p.width as u64).div_ceil(gx);
                (0..rows).flat_map(move |r| (0..cols).map(move |c| (k, r, c)))
            })
            .collect();
        // Unsharded: many small tasks, one thread each. Sharded: few large tasks, so zarrs may
        // spread a shard's inner chunks over the cores.
        let codec_opts = if sharded {
            zarrs::array::CodecOptions::default()
        } else {
            zarrs::array::CodecOptions::default().with_concurrent_target(1)
        };
        tasks.par_iter().try_for_each(|&(k, r, c)| -> Result<(), Error> {
            let (gy, gx) = grids[k];
            let p = &pyramid[k];
            let mut indices = idx.clone();
            indices.extend([r, c]);
            let path = dir.join(k.to_string());
            let ze = zarr_err(&path);
            mifa_model::with_pixels!(&p.data, v => {
                let t = tile(v, p.width, p.height, (r * gy) as usize, (c * gx) as usize, gy as usize, gx as usize);
                arrays[k].store_chunk_opt(&indices, t, &codec_opts).map_err(|e| ze(&e))
            })
        })?;
        progress((h * w * dtype.size()) as u64);
    }
    let base: Vec<f64> = axes.iter().map(|a| a.scale.unwrap_or(1.0)).collect();
    let datasets: Vec<Value> = (0..shapes.len())
        .map(|k| {
            let f = (1u64 << k) as f64;
            let scale: Vec<f64> = base
                .iter()
                .enumerate()
                .map(|(i, &s)| if i >= n - 2 { s * f } else { s })
                .collect();
            // Level k's first pixel centre sits (2^k - 1)/2 level-0 pixels in from the corner.
            let translation: Vec<f64> = base
                .iter()
                .enumerate()
                .map(|(i, &s)| if i >= n - 2 { s * (f - 1.0) / 2.0 } else { 0.0 })
                .collect();
            let mut t = vec![json!({"type": "scale", "scale": scale})];
            if k > 0 {
                t.push(json!({"type": "translation", "translation": translation}));
            }
            json!({"path": k.to_string(), "coordinateTransformations": t})
        })
        .collect();
    let axes_json: Vec<Value> = axes
        .iter()
        .map(|a| {
            let mut o = json!({"name": a.name, "type": match a.kind { AxisType::Space => "space", AxisType::Time => "time", AxisType::Channel => "channel" }});
            if let Some(u) = &a.unit {
                o["unit"] = json!(u);
            }
            o
        })
        .collect();
    let mut ms = json!({"name": name, "axes": axes_json, "datasets": datasets});
    let mut ome = Map::new();
    match opts.version {
        NgffVersion::V05 => {
            ome.insert("version".into(), json!("0.5"));
        }
        NgffVersion::V04 => {
            ms["version"] = json!("0.4");
        }
    }
    ome.insert("multiscales".into(), json!([ms]));
    ome.append(&mut extra);
    write_group(dir, opts.version, ome)?;
    Ok(Written {
        levels: shapes,
        ranges,
        label_values,
    })
}

/// The `th`×`tw` tile at (`y0`, `x0`) of a row-major plane, padded with zeros past its edges
/// (Zarr stores edge chunks at full size).
fn tile<T: Copy + Default>(
    src: &[T],
    width: usize,
    height: usize,
    y0: usize,
    x0: usize,
    th: usize,
    tw: usize,
) -> Vec<T> {
    let mut out = vec![T::default(); th * tw];
    let rows = th.min(height.saturating_sub(y0));
    let cols = tw.min(width.saturating_sub(x0));
    for r in 0..rows {
        let s = (y0 + r) * width + x0;
        out[r * tw..r * tw + cols].copy_from_slice(&src[s..s + cols]);
    }
    out
}

/// `omero` metadata naming the channels, with display windows from the data.
pub fn omero(channel_names: &[String], dtype: DataType, ranges: &[Option<(f64, f64)>]) -> Value {
    let (min, max) = match dtype {
        DataType::Bool => (0.0, 1.0),
        DataType::Uint8 => (0.0, 255.0),
        DataType::Uint16 => (0.0, 65535.0),
        DataType::Uint32 => (0.0, u32::MAX as f64),
        DataType::Int8 => (i8::MIN as f64, i8::MAX as f64),
        DataType::Int16 => (i16::MIN as f64, i16::MAX as f64),
        DataType::Int32 => (i32::MIN as f64, i32::MAX as f64),
        _ => ranges
            .iter()
            .flatten()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), r| {
                (a.min(r.0), b.max(r.1))
            }),
    };
    const COLORS: [&str; 6] = ["0000FF", "00FF00", "FF0000", "FF00FF", "00FFFF", "FFFF00"];
    let channels: Vec<Value> = channel_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (start, end) = ranges.get(i).copied().flatten().unwrap_or((min, max));
            let color = if channel_names.len() == 1 {
                "FFFFFF"
            } else {
                COLORS[i % COLORS.len()]
            };
            json!({"label": name, "color": color, "active": true,
                   "window": {"min": min, "max": max, "start": start, "end": end}})
        })
        .collect();
    json!({"channels": channels, "rdefs": {"model": if channel_names.len() == 1 { "greyscale" } else { "color" }}})
}

/// A stable, well-spread colour for a label value.
pub fn label_color(value: i128) -> [u8; 4] {
    // Golden-ratio hue steps keep neighbouring ids visually distinct.
    let h = ((value as f64) * 0.618_033_988_75).fract();
    let (s, v) = (0.75, 0.95);
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - f * s), v * (1.0 - (1.0 - f) * s));
    let (r, g, b) = match i as i32 % 6 {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    [(r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8, 255]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyramid_stops_when_a_plane_fits_a_chunk() {
        assert_eq!(pyramid_shapes(&[2048, 2048], 256).len(), 4);
        assert_eq!(pyramid_shapes(&[3, 100, 100], 256), vec![vec![3, 100, 100]]);
        assert_eq!(
            pyramid_shapes(&[513, 200], 256),
            vec![vec![513, 200], vec![257, 100], vec![129, 50]]
        );
    }

    #[test]
    fn label_colors_are_opaque_and_differ() {
        let a = label_color(1);
        let b = label_color(2);
        assert_eq!(a[3], 255);
        assert_ne!(a, b);
    }
}
