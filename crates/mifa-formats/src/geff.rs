//! geff (graph exchange file format, spec 1.3): a Zarr group with `nodes/ids`,
//! `nodes/props/<p>/{values,missing,data}`, `edges/ids` (E, 2), `edges/props/…` and the
//! metadata under the group attribute `geff`.
//!
//! Reading goes through `zarrs`, so any codec and Zarr v2 or v3 works; omitted chunks read as
//! the fill value, numpy fixed-width strings (`<U…`) as text, variable-length props as nested
//! lists. Writing produces Zarr v2 (geff's default, read by every geff version): one
//! uncompressed chunk per array, so the files are plain little-endian arrays.

use super::store::ZarrView;
use crate::annotations::tracks::{Edge, Node, TrackGraph, TrackSet};
use crate::Limits;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zarrs::array::{Array, ArraySubset};

/// The geff version we write.
pub const GEFF_VERSION: &str = "1.3";

/// Errors reading or writing geff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not a regular file, is over its cap or is not UTF-8.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// A file cannot be read or written.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The metadata is missing a key or holds a wrong value.
    #[error("{path}: {key}: {message}")]
    Meta {
        /// The attributes file.
        path: PathBuf,
        /// The key, as a path (`geff.axes[0].name`).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// An array is missing, unreadable or of the wrong shape.
    #[error("{path}: {message}")]
    Array {
        /// The array.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// A column of a prop (or of ids), decoded.
#[derive(Debug, Clone)]
enum Column {
    Int(Vec<i64>),
    UInt(Vec<u64>),
    Float(Vec<f64>),
    Bool(Vec<bool>),
    Text(Vec<String>),
}

impl Column {
    fn len(&self) -> usize {
        match self {
            Column::Int(v) => v.len(),
            Column::UInt(v) => v.len(),
            Column::Float(v) => v.len(),
            Column::Bool(v) => v.len(),
            Column::Text(v) => v.len(),
        }
    }
    fn value(&self, i: usize) -> Value {
        match self {
            Column::Int(v) => Value::from(v[i]),
            Column::UInt(v) => Value::from(v[i]),
            Column::Float(v) => serde_json::Number::from_f64(v[i])
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Column::Bool(v) => Value::Bool(v[i]),
            Column::Text(v) => Value::String(v[i].clone()),
        }
    }
    fn f64(&self, i: usize) -> Option<f64> {
        match self {
            Column::Int(v) => Some(v[i] as f64),
            Column::UInt(v) => Some(v[i] as f64),
            Column::Float(v) => Some(v[i]),
            _ => None,
        }
    }
}

/// Bytes that reading an array of `shape` and numpy/zarr dtype `d` takes in memory: numbers
/// become 8-byte values, text `U<k>` takes 4 bytes per character and a string at least 24.
fn decoded_bytes(shape: &[u64], d: &str) -> u64 {
    let each = match d.strip_prefix('U').and_then(|k| k.parse::<u64>().ok()) {
        Some(k) => k.saturating_mul(4).max(24),
        None if matches!(d, "string" | "str" | "O") || d.starts_with("fixed_length_utf32") => 24,
        None => 8,
    };
    shape
        .iter()
        .try_fold(each, |acc, &n| acc.checked_mul(n))
        .unwrap_or(u64::MAX)
}

/// A prop read: values per element, shape of one element, missing flags.
struct Prop {
    values: Column,
    /// Elements per entry (product of the trailing dimensions); 1 for scalars.
    width: usize,
    missing: Option<Vec<bool>>,
    /// Varlength data, when the prop is variable-length.
    data: Option<Column>,
}

struct Store {
    root: PathBuf,
    /// Regular files only, never through a link: a FIFO chunk would hang the read.
    store: Arc<ZarrView>,
}

impl Store {
    fn exists(&self, rel: &str) -> bool {
        let p = self.root.join(rel);
        p.join(".zarray").is_file() || p.join("zarr.json").is_file()
    }

    /// Reads a whole array. Its declared shape is checked first, against `rows` (the number of
    /// entries it must have, when known) and against [`Limits`]: a few bytes of metadata can
    /// declare terabytes of fill values.
    fn column(&self, rel: &str, rows: Option<u64>) -> Result<(Column, Vec<u64>), Error> {
        let path = self.root.join(rel);
        let err = |message: String| Error::Array {
            path: path.clone(),
            message,
        };
        let array =
            Array::open(self.store.clone(), &format!("/{rel}")).map_err(|e| err(e.to_string()))?;
        let shape = array.shape().to_vec();
        let md = serde_json::to_value(array.metadata()).map_err(|e| err(e.to_string()))?;
        let dtype = md
            .get("dtype")
            .or_else(|| md.get("data_type"))
            .map(|d| match d {
                Value::String(s) => s.clone(),
                Value::Object(o) => o
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                other => other.to_string(),
            })
            .unwrap_or_default();
        let d = dtype.trim_start_matches(['<', '>', '|', '=']);
        if let Some(n) = rows.filter(|&n| shape.first() != Some(&n)) {
            return Err(err(format!("shape {shape:?} for {n} ids")));
        }
        let limit = Limits::default().max_plane_bytes;
        let bytes = decoded_bytes(&shape, d);
        if bytes > limit {
            return Err(err(format!(
                "shape {shape:?} of {d} declares {bytes} bytes, over the limit of {limit} bytes"
            )));
        }
        let all = ArraySubset::new_with_shape(shape.clone());
        let e = |e: zarrs::array::ArrayError| err(e.to_string());
        macro_rules! get {
            ($t:ty) => {
                array.retrieve_array_subset::<Vec<$t>>(&all).map_err(e)?
            };
        }
        let col = match d {
            "b1" | "bool" => Column::Bool(get!(bool)),
            "i1" | "int8" => Column::Int(get!(i8).into_iter().map(i64::from).collect()),
            "i2" | "int16" => Column::Int(get!(i16).into_iter().map(i64::from).collect()),
            "i4" | "int32" => Column::Int(get!(i32).into_iter().map(i64::from).collect()),
            "i8" | "int64" => Column::Int(get!(i64)),
            "u1" | "uint8" => Column::UInt(get!(u8).into_iter().map(u64::from).collect()),
            "u2" | "uint16" => Column::UInt(get!(u16).into_iter().map(u64::from).collect()),
            "u4" | "uint32" => Column::UInt(get!(u32).into_iter().map(u64::from).collect()),
            "u8" | "uint64" => Column::UInt(get!(u64)),
            "f4" | "float32" => Column::Float(get!(f32).into_iter().map(f64::from).collect()),
            "f8" | "float64" => Column::Float(get!(f64)),
            d if d.starts_with('U') || d.starts_with("fixed_length_utf32") => Column::Text(
                get!(Vec<char>)
                    .into_iter()
                    .map(|cs| cs.into_iter().take_while(|&c| c != '\0').collect())
                    .collect(),
            ),
            "string" | "str" | "O" => Column::Text(get!(String)),
            other => return Err(err(format!("data type {other:?} is not supported"))),
        };
        Ok((col, shape))
    }

    fn prop(&self, group: &str, name: &str, n: usize) -> Result<Prop, Error> {
        let base = format!("{group}/props/{name}");
        let (values, shape) = self.column(&format!("{base}/values"), Some(n as u64))?;
        let bad = |message: String| Error::Array {
            path: self.root.join(&base).join("values"),
            message,
        };
        let width = shape[1..].iter().product::<u64>() as usize;
        let missing = if self.exists(&format!("{base}/missing")) {
            match self.column(&format!("{base}/missing"), Some(n as u64))?.0 {
                Column::Bool(b) if b.len() == n => Some(b),
                other => {
                    return Err(bad(format!(
                        "missing has {} entries that should be {n} booleans",
                        other.len()
                    )))
                }
            }
        } else {
            None
        };
        let data = if self.exists(&format!("{base}/data")) {
            Some(self.column(&format!("{base}/data"), None)?.0)
        } else {
            None
        };
        Ok(Prop {
            values,
            width,
            missing,
            data,
        })
    }

    /// Value of entry `i` of a prop, `None` when missing.
    fn entry(prop: &Prop, i: usize, path: &Path) -> Result<Option<Value>, Error> {
        if prop.missing.as_ref().is_some_and(|m| m[i]) {
            return Ok(None);
        }
        if let Some(data) = &prop.data {
            // Varlength: values row = [offset, dim0, dim1, …], offsets in elements.
            let row: Vec<u64> = (0..prop.width)
                .map(|k| prop.values.f64(i * prop.width + k).unwrap_or(0.0) as u64)
                .collect();
            let (offset, dims) = (row[0] as usize, &row[1..]);
            let count: usize = dims.iter().product::<u64>() as usize;
            if offset + count > data.len() {
                return Err(Error::Array {
                    path: path.to_path_buf(),
                    message: format!(
                        "entry {i} reads data {offset}..{} of {}",
                        offset + count,
                        data.len()
                    ),
                });
            }
            let flat: Vec<Value> = (offset..offset + count).map(|k| data.value(k)).collect();
            return Ok(Some(nest(&flat, dims)));
        }
        if prop.width == 1 {
            let v = prop.values.value(i);
            return Ok((!v.is_null()).then_some(v));
        }
        Ok(Some(Value::Array(
            (0..prop.width)
                .map(|k| prop.values.value(i * prop.width + k))
                .collect(),
        )))
    }
}

fn nest(flat: &[Value], dims: &[u64]) -> Value {
    if dims.len() <= 1 {
        return Value::Array(flat.to_vec());
    }
    let step = flat.len() / dims[0].max(1) as usize;
    Value::Array(
        flat.chunks(step.max(1))
            .map(|c| nest(c, &dims[1..]))
            .collect(),
    )
}

/// What reading needs to know beyond the file.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Pixel size `[x, y, z]` and its unit, to turn physical coordinates into pixels.
    pub pixel_size: Option<([f64; 3], String)>,
}

/// A geff group read.
#[derive(Debug, Clone)]
pub struct Read {
    /// Objects and links.
    pub set: TrackSet,
    /// The `geff` metadata, verbatim.
    pub meta: Map<String, Value>,
    /// How coordinates were interpreted, for the import record and the user.
    pub notes: Vec<String>,
}

/// `micron`, `um`, `µm` → `micrometer`; `sec`, `s` → `second`; others as written.
pub fn normalise_unit(u: &str) -> String {
    match u.trim().to_ascii_lowercase().as_str() {
        "micron" | "microns" | "um" | "µm" | "μm" | "micrometre" => "micrometer".into(),
        "sec" | "s" | "secs" | "seconds" => "second".into(),
        "nm" | "nanometre" => "nanometer".into(),
        "min" | "mins" | "minutes" => "minute".into(),
        "px" | "pixels" => "pixel".into(),
        other => other.to_string(),
    }
}

/// Why a `geff_version` cannot be read: geff has published 0.x and 1.x (`0.2.1`, `1.1`,
/// `0.4.1.dev3+g…`); a later major version may change what the arrays mean.
fn version_problem(version: &str) -> Option<String> {
    let major = version.split('.').next().unwrap_or("");
    match major.parse::<u64>() {
        Ok(0 | 1) if version.contains('.') => None,
        Ok(m) if version.contains('.') => Some(format!(
            "version {version:?} (major version {m}) is newer than the geff 0.x and 1.x this \
             version of mifa reads"
        )),
        _ => Some(format!(
            "{version:?} is not a geff version (MAJOR.MINOR[.PATCH], e.g. {GEFF_VERSION:?})"
        )),
    }
}

/// Reads a geff group.
pub fn read(root: &Path, opts: &ReadOptions) -> Result<Read, Error> {
    let (attrs_path, attrs) = group_attributes(root)?;
    let meta = geff_meta(&attrs_path, &attrs)?;
    let store = Store {
        root: root.to_path_buf(),
        store: Arc::new(ZarrView::local(root).map_err(|e| Error::Array {
            path: root.to_path_buf(),
            message: e.to_string(),
        })?),
    };
    let ids = node_ids(&store, root)?;
    let n = ids.len();
    let (edge_col, eshape) = store.column("edges/ids", None)?;
    if eshape.len() != 2 || eshape[1] != 2 {
        return Err(Error::Array {
            path: root.join("edges/ids"),
            message: format!("shape {eshape:?}; edge ids are (E, 2)"),
        });
    }
    let e_count = eshape[0] as usize;
    let mut notes = Vec::new();
    let axes = meta
        .get("axes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names = axis_names(&axes, &attrs_path)?;
    let mut props: BTreeMap<String, Prop> = BTreeMap::new();
    for p in &prop_names(&meta, "node_props_metadata") {
        props.insert(p.clone(), store.prop("nodes", p, n)?);
    }
    let columns = NodeColumns::new(root, &attrs_path, &meta, &props, &names, opts, &mut notes)?;
    let nodes = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| columns.node(i, id))
        .collect::<Result<Vec<_>, _>>()?;
    let (edges, edge_props) = read_edges(&store, root, &meta, &edge_col, e_count)?;
    let time_unit = axes
        .iter()
        .find(|a| a.get("name").and_then(Value::as_str) == Some(names.time.as_str()))
        .and_then(|a| a.get("unit"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(Read {
        set: TrackSet {
            graph: TrackGraph { nodes, edges },
            edge_props,
            links: Vec::new(),
            tracks: Vec::new(),
            space_unit: names.by_letter.get(&'x').and_then(|s| s.1.clone()),
            time_unit,
        },
        meta,
        notes,
    })
}

fn meta_err(attrs_path: &Path, key: &str, message: String) -> Error {
    Error::Meta {
        path: attrs_path.to_path_buf(),
        key: key.into(),
        message,
    }
}

/// The `geff` object of the group attributes, of a version we read.
fn geff_meta(attrs_path: &Path, attrs: &Map<String, Value>) -> Result<Map<String, Value>, Error> {
    let meta = attrs
        .get("geff")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| {
            meta_err(
                attrs_path,
                "geff",
                "no geff metadata in the group attributes".into(),
            )
        })?;
    let Some(version) = meta.get("geff_version").and_then(Value::as_str) else {
        return Err(meta_err(attrs_path, "geff.geff_version", "missing".into()));
    };
    if let Some(message) = version_problem(version) {
        return Err(meta_err(attrs_path, "geff.geff_version", message));
    }
    Ok(meta)
}

/// `nodes/ids`, as non-negative integers.
fn node_ids(store: &Store, root: &Path) -> Result<Vec<u64>, Error> {
    match store.column("nodes/ids", None)?.0 {
        Column::UInt(v) => Ok(v),
        Column::Int(v) => v
            .into_iter()
            .map(u64::try_from)
            .collect::<Result<_, _>>()
            .map_err(|_| Error::Array {
                path: root.join("nodes/ids"),
                message: "a negative node id".into(),
            }),
        _ => Err(Error::Array {
            path: root.join("nodes/ids"),
            message: "node ids are not integers".into(),
        }),
    }
}

/// The props named in the metadata object `key` (`node_props_metadata`, …).
fn prop_names(meta: &Map<String, Value>, key: &str) -> Vec<String> {
    meta.get(key)
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// A space axis: its prop name and unit.
type SpaceAxis = (String, Option<String>);

/// The axes of the metadata, by role.
struct AxisNames {
    /// The time axis's prop.
    time: String,
    /// Space axes by letter (`x`, `y`, `z`).
    by_letter: BTreeMap<char, SpaceAxis>,
}

/// The time and space axes named in `geff.axes`.
fn axis_names(axes: &[Value], attrs_path: &Path) -> Result<AxisNames, Error> {
    let mut time = None;
    let mut space: Vec<SpaceAxis> = Vec::new();
    for (i, a) in axes.iter().enumerate() {
        let name = a.get("name").and_then(Value::as_str).ok_or_else(|| {
            meta_err(
                attrs_path,
                &format!("geff.axes[{i}].name"),
                "missing".into(),
            )
        })?;
        let unit = a.get("unit").and_then(Value::as_str).map(str::to_string);
        match a.get("type").and_then(Value::as_str) {
            Some("time") => time = Some(name.to_string()),
            Some("space") => space.push((name.to_string(), unit)),
            _ => {}
        }
    }
    let Some(time) = time else {
        return Err(meta_err(
            attrs_path,
            "geff.axes",
            "no axis of type time; tracks need one (the frame of each node)".into(),
        ));
    };
    if space.len() < 2 {
        return Err(meta_err(
            attrs_path,
            "geff.axes",
            format!("{} space axes; tracks need y and x", space.len()),
        ));
    }
    Ok(AxisNames {
        time,
        by_letter: space_letters(&space),
    })
}

/// Space axes by name (x, POSITION_X, …), else in order z?, y, x.
fn space_letters(space: &[SpaceAxis]) -> BTreeMap<char, SpaceAxis> {
    let letter = |name: &str| {
        let l = name.to_ascii_lowercase();
        ['x', 'y', 'z']
            .into_iter()
            .find(|c| l == c.to_string() || l.ends_with(&format!("_{c}")))
    };
    let mut by_letter: BTreeMap<char, SpaceAxis> = BTreeMap::new();
    for s in space {
        if let Some(c) = letter(&s.0) {
            by_letter.insert(c, s.clone());
        }
    }
    if by_letter.len() != space.len()
        || !by_letter.contains_key(&'x')
        || !by_letter.contains_key(&'y')
    {
        by_letter.clear();
        let order: &[char] = if space.len() == 3 {
            &['z', 'y', 'x']
        } else {
            &['y', 'x']
        };
        for (s, c) in space.iter().zip(order) {
            by_letter.insert(*c, s.clone());
        }
    }
    by_letter
}

/// Index of a coordinate letter in a position `[x, y, z]`.
fn letter_index(c: char) -> usize {
    match c {
        'x' => 0,
        'y' => 1,
        _ => 2,
    }
}

/// The node props that make a [`Node`]: time, coordinates (with their divisor to pixels) and
/// label, and the others kept as its props.
struct NodeColumns<'a> {
    root: &'a Path,
    time: &'a str,
    tprop: &'a Prop,
    coords: Vec<(char, &'a Prop, f64)>,
    seg_prop: Option<String>,
    props: &'a BTreeMap<String, Prop>,
    /// Props read into the node's fields, not its props.
    used: Vec<String>,
}

impl<'a> NodeColumns<'a> {
    fn new(
        root: &'a Path,
        attrs_path: &Path,
        meta: &Map<String, Value>,
        props: &'a BTreeMap<String, Prop>,
        names: &'a AxisNames,
        opts: &ReadOptions,
        notes: &mut Vec<String>,
    ) -> Result<NodeColumns<'a>, Error> {
        let axis_prop = |name: &str| -> Result<&'a Prop, Error> {
            props.get(name).ok_or_else(|| {
                meta_err(
                    attrs_path,
                    "geff.axes",
                    format!("axis {name:?} has no node prop"),
                )
            })
        };
        let scale = |unit: &Option<String>, k: usize| -> f64 {
            let Some(u) = unit.as_deref().map(normalise_unit) else {
                return 1.0;
            };
            if u == "pixel" {
                return 1.0;
            }
            match &opts.pixel_size {
                Some((s, pu)) if normalise_unit(pu) == u => s[k],
                _ => 1.0,
            }
        };
        let mut coords: Vec<(char, &Prop, f64)> = Vec::new();
        for (c, (name, unit)) in &names.by_letter {
            let s = scale(unit, letter_index(*c));
            match unit.as_deref().map(normalise_unit) {
                Some(u) if u != "pixel" && s == 1.0 => notes.push(format!(
                    "axis {name} is in {u}; with no pixel size in {u} known, its values are kept as pixel coordinates"
                )),
                Some(u) if u != "pixel" => notes.push(format!("axis {name}: {u} ÷ {s} per pixel")),
                _ => {}
            }
            coords.push((*c, axis_prop(name)?, s));
        }
        let time = names.time.as_str();
        let tprop = axis_prop(time)?;
        let seg_prop = label_prop(meta, props);
        let used: Vec<String> = names
            .by_letter
            .values()
            .map(|s| s.0.clone())
            .chain([time.to_string()])
            .chain(seg_prop.clone())
            .collect();
        Ok(NodeColumns {
            root,
            time,
            tprop,
            coords,
            seg_prop,
            props,
            used,
        })
    }

    /// Node `i`, whose id is `id`.
    fn node(&self, i: usize, id: u64) -> Result<Node, Error> {
        let root = self.root;
        let nan_or_missing = |p: &Prop| p.missing.as_ref().is_some_and(|m| m[i]);
        let tv = if nan_or_missing(self.tprop) {
            None
        } else {
            self.tprop.values.f64(i)
        };
        let t = match tv {
            Some(v) if v.fract() == 0.0 => v as i64,
            other => {
                return Err(Error::Array {
                    path: root.join(format!("nodes/props/{}/values", self.time)),
                    message: format!(
                        "node {id} has time {other:?}; the time axis must hold integer frames"
                    ),
                })
            }
        };
        let mut pos = [0.0f64; 3];
        let mut has_z = false;
        for (c, p, s) in &self.coords {
            let v = p
                .values
                .f64(i)
                .filter(|_| !nan_or_missing(p))
                .ok_or_else(|| Error::Array {
                    path: root.join("nodes/props"),
                    message: format!("node {id} has no {c} coordinate"),
                })?;
            let k = letter_index(*c);
            has_z |= k == 2;
            pos[k] = v / s;
        }
        let label = match &self.seg_prop {
            Some(sp) => match self.props.get(sp) {
                Some(p) if !nan_or_missing(p) => {
                    p.values.f64(i).filter(|v| *v > 0.0).map(|v| v as u64)
                }
                _ => None,
            },
            None => None,
        };
        let mut m = Map::new();
        for (name, p) in self.props {
            if self.used.contains(name) {
                continue;
            }
            if let Some(v) = Store::entry(p, i, &root.join("nodes/props").join(name))? {
                m.insert(name.clone(), v);
            }
        }
        let node = Node {
            id,
            t,
            x: pos[0],
            y: pos[1],
            z: has_z.then_some(pos[2]),
            label,
            props: m,
        };
        if let Some(p) = node.placement_problem() {
            return Err(Error::Array {
                path: root.join("nodes"),
                message: format!("node {id}: {p}"),
            });
        }
        Ok(node)
    }
}

/// The label link: related_objects labels → node_prop (or the deprecated label_prop), else a
/// `seg_id` prop.
fn label_prop(meta: &Map<String, Value>, props: &BTreeMap<String, Prop>) -> Option<String> {
    meta.get("related_objects")
        .and_then(Value::as_array)
        .and_then(|r| {
            r.iter()
                .find(|o| o.get("type").and_then(Value::as_str) == Some("labels"))
        })
        .and_then(|o| o.get("node_prop").or_else(|| o.get("label_prop")))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| props.contains_key("seg_id").then(|| "seg_id".to_string()))
}

/// Edges, with one property map per edge (empty when no edge has any).
type EdgesWithProps = (Vec<Edge>, Vec<Map<String, Value>>);

/// The edges and their props (none when no edge has any).
fn read_edges(
    store: &Store,
    root: &Path,
    meta: &Map<String, Value>,
    edge_col: &Column,
    e_count: usize,
) -> Result<EdgesWithProps, Error> {
    let edge_id = |k: usize| -> Result<u64, Error> {
        match edge_col {
            Column::UInt(v) => Ok(v[k]),
            Column::Int(v) if v[k] >= 0 => Ok(v[k] as u64),
            _ => Err(Error::Array {
                path: root.join("edges/ids"),
                message: "edge ids are not non-negative integers".into(),
            }),
        }
    };
    let mut eprops: BTreeMap<String, Prop> = BTreeMap::new();
    for p in &prop_names(meta, "edge_props_metadata") {
        eprops.insert(p.clone(), store.prop("edges", p, e_count)?);
    }
    let mut edges = Vec::with_capacity(e_count);
    let mut edge_props = Vec::with_capacity(e_count);
    for k in 0..e_count {
        edges.push(Edge {
            source: edge_id(2 * k)?,
            target: edge_id(2 * k + 1)?,
        });
        let mut m = Map::new();
        for (name, p) in &eprops {
            if let Some(v) = Store::entry(p, k, &root.join("edges/props").join(name))? {
                m.insert(name.clone(), v);
            }
        }
        edge_props.push(m);
    }
    if edge_props.iter().all(Map::is_empty) {
        edge_props.clear();
    }
    Ok((edges, edge_props))
}

fn group_attributes(root: &Path) -> Result<(PathBuf, Map<String, Value>), Error> {
    let read = |p: &Path| -> Result<Option<Value>, Error> {
        if !p.exists() {
            return Ok(None);
        }
        let max = crate::input::TextLimits::current().max_table_bytes;
        match crate::input::read_capped(p, max, "geff metadata") {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::Meta {
                    path: p.to_path_buf(),
                    key: format!("line {}", e.line()),
                    message: e.to_string(),
                }),
            Err(e) => Err(e.into()),
        }
    };
    let v3 = root.join("zarr.json");
    if let Some(doc) = read(&v3)? {
        let attrs = doc
            .get("attributes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        return Ok((v3, attrs));
    }
    let v2 = root.join(".zattrs");
    match read(&v2)? {
        Some(Value::Object(m)) => Ok((v2, m)),
        _ => Err(Error::Meta {
            path: root.to_path_buf(),
            key: "attributes".into(),
            message: "not a Zarr group with attributes (.zattrs or zarr.json)".into(),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// A column ready to write: raw little-endian bytes, numpy dtype, geff dtype, shape.
struct Out {
    bytes: Vec<u8>,
    dtype: String,
    geff: &'static str,
    shape: Vec<u64>,
    fill: Value,
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn mkdir_group(dir: &Path, attrs: Option<&Value>) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    write_file(&dir.join(".zgroup"), b"{\n  \"zarr_format\": 2\n}\n")?;
    if let Some(a) = attrs {
        let mut t = serde_json::to_string_pretty(a).expect("JSON serialises");
        t.push('\n');
        write_file(&dir.join(".zattrs"), t.as_bytes())?;
    }
    Ok(())
}

fn write_array(dir: &Path, a: &Out) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let chunks: Vec<u64> = a.shape.iter().map(|&d| d.max(1)).collect();
    let md = json!({"zarr_format": 2, "shape": a.shape, "chunks": chunks, "dtype": a.dtype,
        "compressor": null, "fill_value": a.fill, "order": "C", "filters": null,
        "dimension_separator": "."});
    let mut t = serde_json::to_string_pretty(&md).expect("JSON serialises");
    t.push('\n');
    write_file(&dir.join(".zarray"), t.as_bytes())?;
    if a.shape.iter().all(|&d| d > 0) {
        let key = vec!["0"; a.shape.len()].join(".");
        write_file(&dir.join(key), &a.bytes)?;
    }
    Ok(())
}

fn out_u64(v: &[u64], shape: Vec<u64>) -> Out {
    Out {
        bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        dtype: "<u8".into(),
        geff: "uint64",
        shape,
        fill: json!(0),
    }
}

fn out_bool(v: &[bool]) -> Out {
    Out {
        bytes: v.iter().map(|&b| u8::from(b)).collect(),
        dtype: "|b1".into(),
        geff: "bool",
        shape: vec![v.len() as u64],
        fill: json!(false),
    }
}

/// A prop's values as a column: the widest type that holds every present value.
/// Returns the values, the missing flags (when some are absent) and, for nested numeric
/// lists, the varlength data; `None` when the values have no geff form.
fn prop_column(values: &[Option<&Value>]) -> Option<(Out, Option<Vec<bool>>, Option<Out>)> {
    let n = values.len() as u64;
    let present: Vec<&Value> = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| !v.is_null())
        .collect();
    let missing: Vec<bool> = values
        .iter()
        .map(|v| v.is_none_or(|v| v.is_null()))
        .collect();
    let missing = missing.iter().any(|&m| m).then_some(missing);
    if present.is_empty() {
        return None;
    }
    if present.iter().all(|v| v.is_boolean()) {
        let v: Vec<bool> = values
            .iter()
            .map(|v| v.and_then(Value::as_bool).unwrap_or(false))
            .collect();
        return Some((out_bool(&v), missing, None));
    }
    if present.iter().all(|v| v.is_i64()) {
        let v: Vec<i64> = values
            .iter()
            .map(|v| v.and_then(Value::as_i64).unwrap_or(0))
            .collect();
        let out = Out {
            bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            dtype: "<i8".into(),
            geff: "int64",
            shape: vec![n],
            fill: json!(0),
        };
        return Some((out, missing, None));
    }
    if present.iter().all(|v| v.is_number()) {
        let v: Vec<f64> = values
            .iter()
            .map(|v| v.and_then(Value::as_f64).unwrap_or(f64::NAN))
            .collect();
        let out = Out {
            bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            dtype: "<f8".into(),
            geff: "float64",
            shape: vec![n],
            fill: json!(0.0),
        };
        return Some((out, missing, None));
    }
    if present.iter().all(|v| v.is_string()) {
        let texts: Vec<Vec<char>> = values
            .iter()
            .map(|v| v.and_then(Value::as_str).unwrap_or("").chars().collect())
            .collect();
        let width = texts.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut bytes = Vec::with_capacity(texts.len() * width * 4);
        for t in &texts {
            for k in 0..width {
                let c = t.get(k).map_or(0u32, |&c| c as u32);
                bytes.extend_from_slice(&c.to_le_bytes());
            }
        }
        let out = Out {
            bytes,
            dtype: format!("<U{width}"),
            geff: "str",
            shape: vec![n],
            fill: json!(""),
        };
        return Some((out, missing, None));
    }
    // Lists of equal-width numeric rows (polygons: [[x, y], …]) → varlength float64.
    let rows = |v: &Value| -> Option<(usize, usize, Vec<f64>)> {
        let outer = v.as_array()?;
        let width = outer.first().and_then(Value::as_array).map_or(0, Vec::len);
        let mut flat = Vec::new();
        for r in outer {
            let r = r.as_array()?;
            if r.len() != width {
                return None;
            }
            for x in r {
                flat.push(x.as_f64()?);
            }
        }
        Some((outer.len(), width, flat))
    };
    let parsed: Vec<Option<(usize, usize, Vec<f64>)>> = values
        .iter()
        .map(|v| v.filter(|v| !v.is_null()).and_then(rows))
        .collect();
    if parsed
        .iter()
        .zip(values)
        .any(|(p, v)| p.is_none() && v.is_some_and(|v| !v.is_null()))
    {
        return None;
    }
    let width = parsed.iter().flatten().map(|p| p.1).max().unwrap_or(0);
    if parsed.iter().flatten().any(|p| p.1 != width) {
        return None;
    }
    let mut offsets = Vec::new();
    let mut data: Vec<f64> = Vec::new();
    for p in &parsed {
        let (rows, w, flat) = p.clone().unwrap_or((0, width, Vec::new()));
        offsets.extend([data.len() as u64, rows as u64, w as u64]);
        data.extend(flat);
    }
    let values = out_u64(&offsets, vec![n, 3]);
    let data = Out {
        bytes: data.iter().flat_map(|x| x.to_le_bytes()).collect(),
        dtype: "<f8".into(),
        geff: "float64",
        shape: vec![data.len() as u64],
        fill: json!(0.0),
    };
    Some((
        Out {
            geff: "float64",
            ..values
        },
        missing,
        Some(data),
    ))
}

/// A prop to write: name, values, missing flags, varlength data.
type Col = (String, Out, Option<Vec<bool>>, Option<Out>);

/// What to write beyond the graph.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Unit of x/y/z (default `pixel`) and of t (default `frame`), with scales to physical
    /// units when known: `(unit, scale)`.
    pub space: Option<(String, [f64; 3])>,
    /// Frame interval and its unit.
    pub time: Option<(String, f64)>,
    /// Free metadata under `extra`.
    pub extra: Map<String, Value>,
}

/// Writes `set` as a geff group at `dir` (which must not exist). Returns the names of props
/// that have no geff form and were left out.
pub fn write(dir: &Path, set: &TrackSet, opts: &WriteOptions) -> Result<Vec<String>, Error> {
    let g = &set.graph;
    let has_z = g.nodes.iter().any(|x| x.z.is_some());
    let mut left_out = Vec::new();
    let mut node_cols = position_columns(g, has_z);
    node_cols.extend(track_columns(g));
    let node_maps: Vec<&Map<String, Value>> = g.nodes.iter().map(|x| &x.props).collect();
    node_cols.extend(feature_columns(
        &node_maps,
        g.nodes.len(),
        "object",
        &mut left_out,
    ));
    let edge_maps: Vec<&Map<String, Value>> = set.edge_props.iter().collect();
    let edge_cols = feature_columns(&edge_maps, g.edges.len(), "link", &mut left_out);
    let geff = geff_attributes(&node_cols, &edge_cols, has_z, opts);
    if dir.exists() {
        return Err(Error::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "already exists"),
        });
    }
    mkdir_group(dir, Some(&json!({"geff": geff})))?;
    write_groups(dir, g, &node_cols, &edge_cols)?;
    Ok(left_out)
}

/// Columns the node fields fill rather than free props.
const RESERVED_PROPS: [&str; 7] = ["t", "z", "y", "x", "seg_id", "tracklet_id", "lineage_id"];

/// The columns t, z (when any node has one), y, x and seg_id (when any node has a label).
fn position_columns(g: &TrackGraph, has_z: bool) -> Vec<Col> {
    let n = g.nodes.len();
    let int = |v: Vec<i64>| Out {
        bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        dtype: "<i8".into(),
        geff: "int64",
        shape: vec![v.len() as u64],
        fill: json!(0),
    };
    let float = |v: Vec<f64>| Out {
        bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        dtype: "<f8".into(),
        geff: "float64",
        shape: vec![v.len() as u64],
        fill: json!(0.0),
    };
    let mut node_cols: Vec<Col> = Vec::new();
    node_cols.push((
        "t".into(),
        int(g.nodes.iter().map(|x| x.t).collect()),
        None,
        None,
    ));
    if has_z {
        let missing: Vec<bool> = g.nodes.iter().map(|x| x.z.is_none()).collect();
        let any = missing.iter().any(|&m| m);
        node_cols.push((
            "z".into(),
            float(g.nodes.iter().map(|x| x.z.unwrap_or(0.0)).collect()),
            any.then_some(missing),
            None,
        ));
    }
    node_cols.push((
        "y".into(),
        float(g.nodes.iter().map(|x| x.y).collect()),
        None,
        None,
    ));
    node_cols.push((
        "x".into(),
        float(g.nodes.iter().map(|x| x.x).collect()),
        None,
        None,
    ));
    if g.nodes.iter().any(|x| x.label.is_some()) {
        let missing: Vec<bool> = g.nodes.iter().map(|x| x.label.is_none()).collect();
        let any = missing.iter().any(|&m| m);
        node_cols.push((
            "seg_id".into(),
            out_u64(
                &g.nodes
                    .iter()
                    .map(|x| x.label.unwrap_or(0))
                    .collect::<Vec<_>>(),
                vec![n as u64],
            ),
            any.then_some(missing),
            None,
        ));
    }
    node_cols
}

/// Tracklet and lineage ids, as geff's track_node_props.
fn track_columns(g: &TrackGraph) -> [Col; 2] {
    let n = g.nodes.len();
    let tracklets = g.tracklets();
    let mut tracklet_of: HashMap<u64, u64> = HashMap::new();
    for (k, path) in tracklets.iter().enumerate() {
        for id in path {
            tracklet_of.insert(*id, k as u64 + 1);
        }
    }
    let lineage = g.lineages();
    [
        (
            "tracklet_id".into(),
            out_u64(
                &g.nodes
                    .iter()
                    .map(|x| tracklet_of[&x.id])
                    .collect::<Vec<_>>(),
                vec![n as u64],
            ),
            None,
            None,
        ),
        (
            "lineage_id".into(),
            out_u64(
                &g.nodes
                    .iter()
                    .map(|x| lineage[&x.id] as u64)
                    .collect::<Vec<_>>(),
                vec![n as u64],
            ),
            None,
            None,
        ),
    ]
}

/// One column per free prop of `maps` (row `i` is `maps[i]`, absent past its end), in the
/// order first seen; props with no usable name or geff form are named in `left_out`, as
/// `{what} feature`.
fn feature_columns(
    maps: &[&Map<String, Value>],
    rows: usize,
    what: &str,
    left_out: &mut Vec<String>,
) -> Vec<Col> {
    let valid_name = |k: &str| {
        !k.is_empty() && !k.contains('/') && !k.starts_with('.') && !RESERVED_PROPS.contains(&k)
    };
    let mut keys: Vec<String> = Vec::new();
    for m in maps {
        for k in m.keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let mut cols = Vec::new();
    for k in keys {
        if !valid_name(&k) {
            left_out.push(format!("{what} feature {k:?} (name not usable in geff)"));
            continue;
        }
        let vals: Vec<Option<&Value>> = (0..rows)
            .map(|i| maps.get(i).and_then(|m| m.get(&k)))
            .collect();
        match prop_column(&vals) {
            Some((v, m, d)) => cols.push((k, v, m, d)),
            None => left_out.push(format!("{what} feature {k:?} (mixed or nested values)")),
        }
    }
    cols
}

/// The `geff` attributes: version, axes with their scales, the props' metadata.
fn geff_attributes(
    node_cols: &[Col],
    edge_cols: &[Col],
    has_z: bool,
    opts: &WriteOptions,
) -> Value {
    let props_meta = |cols: &[Col]| -> Map<String, Value> {
        cols.iter()
            .map(|(k, v, _, d)| {
                let dtype = d.as_ref().map_or(v.geff, |d| d.geff);
                (
                    k.clone(),
                    json!({"identifier": k, "dtype": dtype, "varlength": d.is_some()}),
                )
            })
            .collect()
    };
    let (space_unit, space_scale) = opts
        .space
        .clone()
        .map_or((None, None), |(u, s)| (Some(u), Some(s)));
    let mut axes = vec![{
        let mut a = json!({"name": "t", "type": "time", "unit": "frame"});
        if let Some((u, dt)) = &opts.time {
            a["scale"] = json!(dt);
            a["scaled_unit"] = json!(u);
        }
        a
    }];
    let letters: &[(&str, usize)] = if has_z {
        &[("z", 2), ("y", 1), ("x", 0)]
    } else {
        &[("y", 1), ("x", 0)]
    };
    for (name, k) in letters {
        let mut a = json!({"name": name, "type": "space", "unit": "pixel"});
        if let (Some(u), Some(s)) = (&space_unit, space_scale) {
            a["scale"] = json!(s[*k]);
            a["scaled_unit"] = json!(u);
        }
        axes.push(a);
    }
    let mut geff = json!({
        "geff_version": GEFF_VERSION,
        "directed": true,
        "axes": axes,
        "node_props_metadata": props_meta(node_cols),
        "edge_props_metadata": props_meta(edge_cols),
        "track_node_props": {"tracklet": "tracklet_id", "lineage": "lineage_id"},
    });
    if !opts.extra.is_empty() {
        geff["extra"] = Value::Object(opts.extra.clone());
    }
    geff
}

/// The `nodes` and `edges` groups: ids and every prop column.
fn write_groups(
    dir: &Path,
    g: &TrackGraph,
    node_cols: &[Col],
    edge_cols: &[Col],
) -> Result<(), Error> {
    for (group, cols, ids) in [
        (
            "nodes",
            node_cols,
            out_u64(
                &g.nodes.iter().map(|x| x.id).collect::<Vec<_>>(),
                vec![g.nodes.len() as u64],
            ),
        ),
        (
            "edges",
            edge_cols,
            out_u64(
                &g.edges
                    .iter()
                    .flat_map(|e| [e.source, e.target])
                    .collect::<Vec<_>>(),
                vec![g.edges.len() as u64, 2],
            ),
        ),
    ] {
        let gdir = dir.join(group);
        mkdir_group(&gdir, None)?;
        write_array(&gdir.join("ids"), &ids)?;
        mkdir_group(&gdir.join("props"), None)?;
        for (k, v, m, d) in cols {
            let pdir = gdir.join("props").join(k);
            mkdir_group(&pdir, None)?;
            write_array(&pdir.join("values"), v)?;
            if let Some(m) = m {
                write_array(&pdir.join("missing"), &out_bool(m))?;
            }
            if let Some(d) = d {
                write_array(&pdir.join("data"), d)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_published_major_versions_are_read() {
        for v in ["0.1.0", "0.2.2.dev5+g1a2b3c", "1.0", GEFF_VERSION] {
            assert_eq!(version_problem(v), None, "{v}");
        }
        assert!(version_problem("99.0")
            .unwrap()
            .contains("major version 99"));
        assert!(version_problem("abc")
            .unwrap()
            .contains("not a geff version"));
        assert!(version_problem("1").unwrap().contains("not a geff version"));
    }

    fn node(id: u64, t: i64, x: f64) -> Node {
        Node {
            id,
            t,
            x,
            y: 1.0,
            z: None,
            label: None,
            props: Map::new(),
        }
    }

    fn written(nodes: Vec<Node>) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.geff");
        let graph = TrackGraph {
            nodes,
            edges: vec![Edge {
                source: 1,
                target: 2,
            }],
        };
        write(&p, &TrackSet::from_graph(graph), &WriteOptions::default()).unwrap();
        (dir, p)
    }

    #[test]
    fn huge_declared_shapes_are_refused_before_reading() {
        let (_d, p) = written(vec![node(1, 0, 1.0), node(2, 1, 2.0)]);
        let za = p.join("nodes/ids/.zarray");
        let mut md: Value = serde_json::from_slice(&std::fs::read(&za).unwrap()).unwrap();
        md["shape"] = json!([1u64 << 40]);
        std::fs::write(&za, md.to_string()).unwrap();
        let e = read(&p, &ReadOptions::default()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&p.join("nodes/ids").display().to_string()),
            "{text}"
        );
        assert!(
            text.contains("shape [1099511627776] of ")
                && text.contains("declares 8796093022208 bytes, over the limit of 4294967296"),
            "{text}"
        );
        let (_d, p) = written(vec![node(1, 0, 1.0), node(2, 1, 2.0)]);
        let za = p.join("nodes/props/t/values/.zarray");
        let mut md: Value = serde_json::from_slice(&std::fs::read(&za).unwrap()).unwrap();
        md["shape"] = json!([3]);
        std::fs::write(&za, md.to_string()).unwrap();
        let e = read(&p, &ReadOptions::default()).unwrap_err();
        assert!(e.to_string().ends_with("shape [3] for 2 ids"), "{e}");
    }

    #[test]
    fn unplaceable_nodes_are_refused() {
        for (n, want) in [
            (
                node(2, 1, f64::NAN),
                "node 2: x is NaN, not a finite number",
            ),
            (
                node(2, 1, f64::INFINITY),
                "node 2: x is inf, not a finite number",
            ),
            (node(2, -3, 1.0), "node 2: frame -3 is negative"),
        ] {
            let (_d, p) = written(vec![node(1, 0, 1.0), n]);
            let e = read(&p, &ReadOptions::default()).unwrap_err().to_string();
            assert_eq!(e, format!("{}: {want}", p.join("nodes").display()));
        }
    }

    #[test]
    fn metadata_that_is_not_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("zarr.json")).unwrap();
        let e = read(dir.path(), &ReadOptions::default()).unwrap_err();
        assert!(matches!(e, Error::Input(_)), "{e}");
    }
}
