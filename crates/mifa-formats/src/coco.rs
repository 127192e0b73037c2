//! COCO object-detection collections (`instances_*.json`) and results files (a bare list of
//! annotations), read as a stream and written as a stream.
//!
//! Profile: `formats/coco/README.md`. Segmentations are polygons (several parts per object,
//! no holes), uncompressed RLE (`counts` a list) or compressed RLE (`counts` a string), routed by
//! shape as pycocotools routes them; masks are made exactly as pycocotools makes them
//! ([`Annotation::to_rle`]).

use super::json_stream::{line_col, ElementError, JsonStream, StreamError};
use crate::annotations::{Rle, RleError};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Errors reading or writing COCO files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not a regular file, is over its cap or is not UTF-8.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// The file cannot be read or written.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Malformed JSON, or a member of the wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Well-formed JSON that breaks a COCO rule.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the annotation, image or category.
        message: String,
    },
}

impl Error {
    fn from_stream(path: &Path, e: StreamError) -> Error {
        match e {
            StreamError::Io(source) => Error::Io {
                path: path.to_path_buf(),
                source,
            },
            StreamError::Stopped(message) => Error::Invalid {
                path: path.to_path_buf(),
                message,
            },
            StreamError::Syntax { offset, message } => {
                let (line, column) = line_col(path, offset);
                Error::Syntax {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message,
                }
            }
        }
    }
}

/// A COCO image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// Identifier.
    pub id: i64,
    /// File name (or relative path) of the image.
    pub file_name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Other keys (`license`, `coco_url`, `date_captured`, …), kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A COCO category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Category {
    /// Identifier.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Parent category name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supercategory: Option<String>,
    /// Other keys (`keypoints`, `skeleton`, …), kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// RLE counts as stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Counts {
    /// A list of run lengths (uncompressed RLE, usually `iscrowd: 1`).
    List(Vec<u32>),
    /// The compressed string form.
    Compressed(String),
}

/// An object's segmentation.
#[derive(Debug, Clone, PartialEq)]
pub enum Segmentation {
    /// No segmentation (a box-only annotation).
    None,
    /// Polygon parts `[x1, y1, x2, y2, …]`, merged by union.
    Polygons(Vec<Vec<f64>>),
    /// Run-length encoded mask of size `[height, width]`.
    Rle {
        /// `[height, width]`.
        size: [u32; 2],
        /// Runs.
        counts: Counts,
    },
}

/// A COCO annotation (ground truth or result).
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    /// Identifier (results files have none).
    pub id: Option<i64>,
    /// The image.
    pub image_id: i64,
    /// The category.
    pub category_id: Option<i64>,
    /// The mask.
    pub segmentation: Segmentation,
    /// `[x, y, width, height]`.
    pub bbox: Option<[f64; 4]>,
    /// Area in pixels, as stored.
    pub area: Option<f64>,
    /// Crowd region.
    pub iscrowd: bool,
    /// Detection score (results files).
    pub score: Option<f64>,
    /// Other keys (`keypoints`, `attributes`, …), kept.
    pub extra: Option<Box<Map<String, Value>>>,
}

impl Annotation {
    /// How reports name it: `annotation 12` or `result #3`.
    pub fn name(&self, index: usize) -> String {
        match self.id {
            Some(id) => format!("annotation {id}"),
            None => format!("annotation #{}", index + 1),
        }
    }

    /// The mask on a `height × width` image, as pycocotools `annToRLE` makes it: polygons
    /// rasterised and merged, RLE decoded (its size must match), a box-only annotation from
    /// its box. `None` when there is neither segmentation nor box.
    pub fn to_rle(&self, height: u32, width: u32) -> Result<Option<Rle>, RleError> {
        match &self.segmentation {
            Segmentation::Polygons(parts) if !parts.is_empty() => {
                let rles = parts
                    .iter()
                    .map(|p| {
                        if p.len() < 6 {
                            return Err(RleError::Polygon(format!(
                                "has {} values; a polygon needs at least 3 points (6 values)",
                                p.len()
                            )));
                        }
                        Rle::from_polygon(p, height, width)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Rle::union(&rles))
            }
            Segmentation::Rle { size, counts } => {
                if *size != [height, width] {
                    return Err(RleError::Polygon(format!(
                        "RLE size {size:?} differs from the image's [{height}, {width}]"
                    )));
                }
                let rle = match counts {
                    Counts::List(c) => Rle::from_counts(c.clone(), height, width)?,
                    Counts::Compressed(s) => Rle::from_compressed(s, height, width)?,
                };
                Ok(Some(rle))
            }
            _ => match self.bbox {
                Some([x, y, w, h]) => {
                    let xy = [x, y, x, y + h, x + w, y + h, x + w, y];
                    Rle::from_polygon(&xy, height, width).map(Some)
                }
                None => Ok(None),
            },
        }
    }
}

/// A polygon annotation's mask as pycocotools makes it (its `area` is the COCO ground-truth
/// area) and its `bbox` as COCO ground truth has it: the vertices' extent.
pub fn polygon_mask_bbox(parts: &[Vec<f64>], height: u32, width: u32) -> Option<(Rle, [f64; 4])> {
    let rles: Vec<Rle> = parts
        .iter()
        .filter_map(|p| Rle::from_polygon(p, height, width).ok())
        .collect();
    let mask = Rle::union(&rles)?;
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in parts {
        for xy in p.chunks_exact(2) {
            x0 = x0.min(xy[0]);
            x1 = x1.max(xy[0]);
            y0 = y0.min(xy[1]);
            y1 = y1.max(xy[1]);
        }
    }
    Some((mask, [x0, y0, x1 - x0, y1 - y0]))
}

/// Everything but the annotations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    /// `info`.
    pub info: Option<Value>,
    /// `licenses`.
    pub licenses: Vec<Value>,
    /// `images`.
    pub images: Vec<Image>,
    /// `categories`.
    pub categories: Vec<Category>,
    /// Other top-level members, kept.
    pub extra: Map<String, Value>,
    /// Whether the file is a results file (a bare list of annotations).
    pub results: bool,
    /// Number of annotations (counted when skipped, or when read).
    pub annotations: usize,
}

impl Header {
    /// Image by id.
    pub fn image_index(&self) -> HashMap<i64, &Image> {
        self.images.iter().map(|i| (i.id, i)).collect()
    }

    /// Refuses an image or category id listed twice: annotations name them by id, so a
    /// second one would be ambiguous (and one of them silently dropped by the indexes).
    fn check_ids(&self) -> Result<(), String> {
        fn twice(what: &str, mut ids: impl Iterator<Item = i64>) -> Result<(), String> {
            let mut seen = std::collections::HashSet::new();
            match ids.find(|&id| !seen.insert(id)) {
                Some(id) => Err(format!("{what} id {id} is used twice")),
                None => Ok(()),
            }
        }
        twice("image", self.images.iter().map(|i| i.id))?;
        twice("category", self.categories.iter().map(|c| c.id))
    }

    /// Category by id.
    pub fn category_index(&self) -> HashMap<i64, &Category> {
        self.categories.iter().map(|c| (c.id, c)).collect()
    }
}

/// A COCO file held in memory (annotations in a compact form, not a JSON tree).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dataset {
    /// Images, categories and the rest.
    pub header: Header,
    /// Annotations in file order.
    pub annotations: Vec<Annotation>,
}

fn open(path: &Path) -> Result<JsonStream<std::fs::File>, Error> {
    // Streamed, so only the file's type is checked: a device or FIFO would never end.
    let f = crate::input::open_regular(path)?;
    let size = f.metadata().map(|m| m.len() + 1).unwrap_or(u64::MAX);
    Ok(JsonStream::with_size_hint(f, size))
}

fn parse_annotation(bytes: &[u8]) -> Result<Annotation, ElementError> {
    Ok(serde_json::from_slice(bytes)?)
}

/// What to do with each annotation: `map` it where it is parsed (on any core), then give the
/// result to `sink` in file order.
type Each<'a, T> = (
    &'a (dyn Fn(Annotation) -> T + Sync),
    &'a mut dyn FnMut(T) -> Result<(), String>,
);

/// Reads the file, mapping and sinking each annotation as it is parsed; returns the rest.
/// `each: None` skips the annotations (counting them) without parsing.
fn read<T: Send>(path: &Path, sink: Option<Each<'_, T>>) -> Result<Header, Error> {
    read_stream(open(path)?, path, sink)
}

/// [`read`] over any byte source; `path` is what errors are named with.
fn read_stream<T: Send, R: std::io::Read + Send>(
    mut s: JsonStream<R>,
    path: &Path,
    mut sink: Option<Each<'_, T>>,
) -> Result<Header, Error> {
    let mut header = Header::default();
    let err = |e| Error::from_stream(path, e);
    let mut count = 0usize;
    let mut take = |t: T, sink: &mut Option<Each<'_, T>>| -> Result<(), StreamError> {
        count += 1;
        if let Some((_, f)) = sink.as_mut() {
            f(t).map_err(StreamError::Stopped)?;
        }
        Ok(())
    };
    let map: Option<&(dyn Fn(Annotation) -> T + Sync)> = sink.as_ref().map(|(m, _)| *m);
    let parse = |b: &[u8]| -> Result<T, ElementError> {
        let a = parse_annotation(b)?;
        Ok(map.expect("parsed only with a sink")(a))
    };
    let result = match s.peek().map_err(err)? {
        Some(b'[') => {
            header.results = true;
            if sink.is_some() {
                s.parse_elements(parse, |a| take(a, &mut sink))
            } else {
                s.skip().map(|n| header.annotations = n)
            }
        }
        Some(b'{') => s.members(|s, key| {
            match key.as_str() {
                "annotations" => {
                    if sink.is_some() {
                        s.parse_elements(parse, |a| take(a, &mut sink))?
                    } else {
                        header.annotations = s.skip()?;
                    }
                }
                "images" => header.images = s.value()?,
                "categories" => header.categories = s.value()?,
                "info" => header.info = Some(s.value()?),
                "licenses" => header.licenses = s.value()?,
                _ => {
                    let v: Value = s.value()?;
                    header.extra.insert(key, v);
                }
            }
            Ok(())
        }),
        Some(c) => {
            return Err(Error::Syntax {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
                message: format!(
                    "expected a COCO object or a list of results, found {:?}",
                    char::from(c)
                ),
            })
        }
        None => {
            return Err(Error::Invalid {
                path: path.to_path_buf(),
                message: "the file is empty".into(),
            })
        }
    };
    result.map_err(err)?;
    s.expect_end().map_err(err)?;
    header.check_ids().map_err(|message| Error::Invalid {
        path: path.to_path_buf(),
        message,
    })?;
    if sink.is_some() {
        header.annotations = count;
    }
    Ok(header)
}

/// Reads everything but the annotations, which are skipped (counted) without being parsed.
pub fn read_header(path: &Path) -> Result<Header, Error> {
    read::<()>(path, None)
}

/// Streams the annotations to `f` in file order, parsed in parallel, never holding the file;
/// an `Err` from `f` stops the read. Returns the header.
pub fn for_each_annotation(
    path: &Path,
    f: impl FnMut(Annotation) -> Result<(), String>,
) -> Result<Header, Error> {
    for_each_annotation_with(path, |a| a, f)
}

/// Like [`for_each_annotation`], with `map` applied to each annotation on the core that parsed
/// it (for work that should run in parallel), `sink` in file order.
pub fn for_each_annotation_with<T: Send>(
    path: &Path,
    map: impl Fn(Annotation) -> T + Sync,
    mut sink: impl FnMut(T) -> Result<(), String>,
) -> Result<Header, Error> {
    read(path, Some((&map, &mut sink)))
}

impl Dataset {
    /// Loads a COCO file (or results file) into memory, streaming: no JSON tree is built.
    pub fn load(path: &Path) -> Result<Dataset, Error> {
        Dataset::load_stream(open(path)?, path)
    }

    /// Loads COCO from any byte source (a network object, a buffer), streamed like
    /// [`Dataset::load`]; `name` is what errors are named with.
    pub fn load_from(source: impl std::io::Read + Send, name: &Path) -> Result<Dataset, Error> {
        Dataset::load_stream(JsonStream::with_size_hint(source, u64::MAX), name)
    }

    fn load_stream<R: std::io::Read + Send>(
        s: JsonStream<R>,
        path: &Path,
    ) -> Result<Dataset, Error> {
        let mut annotations = Vec::new();
        let mut push = |a: Annotation| {
            annotations.push(a);
            Ok(())
        };
        let keep = |a: Annotation| a;
        let header = read_stream(s, path, Some((&keep, &mut push)))?;
        Ok(Dataset {
            header,
            annotations,
        })
    }

    /// Checks references and geometry: each annotation names an existing image and category
    /// (results files: category only when categories are given), polygons have ≥ 3 points and
    /// finite coordinates, RLE sizes match the image and counts cover it. Returns the problems,
    /// each naming the annotation.
    pub fn check(&self) -> Vec<String> {
        let images = self.header.image_index();
        let cats = self.header.category_index();
        let mut out = Vec::new();
        let mut ids = std::collections::HashSet::new();
        for (i, a) in self.annotations.iter().enumerate() {
            let name = a.name(i);
            if let Some(id) = a.id {
                if !ids.insert(id) {
                    out.push(format!("{name}: the id is used twice"));
                }
            }
            let Some(img) = images.get(&a.image_id) else {
                if !self.header.results {
                    out.push(format!("{name}: image_id {} is not an image", a.image_id));
                }
                continue;
            };
            match a.category_id {
                Some(c) if !cats.is_empty() && !cats.contains_key(&c) => {
                    out.push(format!("{name}: category_id {c} is not a category"))
                }
                None if !self.header.results => out.push(format!("{name}: no category_id")),
                _ => {}
            }
            if let Err(e) = a.to_rle(img.height, img.width) {
                out.push(format!("{name} (image {}): {e}", a.image_id));
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Deserialisation by hand: no buffering of unknown keys, no allocation for known ones.

struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// An integer id, also accepted as a float with no fraction (some writers emit `1.0`).
fn id<'de, A: MapAccess<'de>>(map: &mut A, key: &'static str) -> Result<i64, A::Error> {
    struct V(&'static str);
    impl Visitor<'_> for V {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "an integer {} (COCO ids are integers)", self.0)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom(format!("{} {v} is too large", self.0)))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
            if v.fract() == 0.0 && v.abs() < 9.0e15 {
                Ok(v as i64)
            } else {
                Err(E::custom(format!(
                    "{} is {v}; COCO ids are integers",
                    self.0
                )))
            }
        }
    }
    struct Seed(&'static str);
    impl<'de> de::DeserializeSeed<'de> for Seed {
        type Value = i64;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<i64, D::Error> {
            d.deserialize_any(V(self.0))
        }
    }
    map.next_value_seed(Seed(key))
}

thread_local! {
    /// Reused while a polygon is parsed, so each part is allocated once at its exact size.
    static SCRATCH: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct Part;

impl<'de> de::DeserializeSeed<'de> for Part {
    type Value = Vec<f64>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<f64>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Part {
    type Value = Vec<f64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a polygon [x1, y1, x2, y2, …]")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<f64>, A::Error> {
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            s.clear();
            while let Some(v) = seq.next_element::<f64>()? {
                s.push(v);
            }
            Ok(s.as_slice().to_vec())
        })
    }
}

impl<'de> Deserialize<'de> for Annotation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Annotation;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a COCO annotation object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Annotation, A::Error> {
                let mut a = Annotation {
                    id: None,
                    image_id: 0,
                    category_id: None,
                    segmentation: Segmentation::None,
                    bbox: None,
                    area: None,
                    iscrowd: false,
                    score: None,
                    extra: None,
                };
                let mut has_image = false;
                while let Some(Key(k)) = map.next_key::<Key>()? {
                    match k.as_ref() {
                        "id" => a.id = Some(id(&mut map, "id")?),
                        "image_id" => {
                            a.image_id = id(&mut map, "image_id")?;
                            has_image = true;
                        }
                        "category_id" => a.category_id = Some(id(&mut map, "category_id")?),
                        "segmentation" => a.segmentation = map.next_value()?,
                        "bbox" => a.bbox = map.next_value()?,
                        "area" => a.area = map.next_value()?,
                        "score" => a.score = map.next_value()?,
                        "iscrowd" => {
                            let v: Value = map.next_value()?;
                            a.iscrowd = match &v {
                                Value::Bool(b) => *b,
                                Value::Number(n) if n.as_f64() == Some(0.0) => false,
                                Value::Number(n) if n.as_f64() == Some(1.0) => true,
                                Value::Null => false,
                                _ => {
                                    return Err(de::Error::custom(format!(
                                        "iscrowd is {v}; expected 0 or 1"
                                    )))
                                }
                            };
                        }
                        other => {
                            let v: Value = map.next_value()?;
                            a.extra
                                .get_or_insert_with(Default::default)
                                .insert(other.to_string(), v);
                        }
                    }
                }
                if !has_image {
                    return Err(de::Error::missing_field("image_id"));
                }
                Ok(a)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for Segmentation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Segmentation;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("polygons [[x1, y1, …], …] or RLE {\"size\": [h, w], \"counts\": …}")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Segmentation, E> {
                Ok(Segmentation::None)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Segmentation, A::Error> {
                let mut parts: Vec<Vec<f64>> = Vec::with_capacity(1);
                while let Some(p) = seq.next_element_seed(Part)? {
                    parts.push(p);
                }
                if parts.is_empty() {
                    return Ok(Segmentation::None);
                }
                Ok(Segmentation::Polygons(parts))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Segmentation, A::Error> {
                let mut size: Option<[u32; 2]> = None;
                let mut counts: Option<Counts> = None;
                while let Some(Key(k)) = map.next_key::<Key>()? {
                    match k.as_ref() {
                        "size" => size = Some(map.next_value()?),
                        "counts" => {
                            counts = Some(match map.next_value::<Value>()? {
                                Value::String(s) => Counts::Compressed(s),
                                Value::Array(items) => Counts::List(
                                    items
                                        .iter()
                                        .map(|v| {
                                            v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                                                de::Error::custom(format!(
                                                    "RLE count {v} is not a non-negative 32-bit integer"
                                                ))
                                            })
                                        })
                                        .collect::<Result<_, A::Error>>()?,
                                ),
                                v => {
                                    return Err(de::Error::custom(format!(
                                        "RLE counts is {v}; expected a string or a list"
                                    )))
                                }
                            })
                        }
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                match (size, counts) {
                    (Some(size), Some(counts)) => Ok(Segmentation::Rle { size, counts }),
                    (None, _) => Err(de::Error::missing_field("size")),
                    (_, None) => Err(de::Error::missing_field("counts")),
                }
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------------
// Writing.

impl Serialize for Segmentation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Segmentation::None => s.serialize_seq(Some(0))?.end(),
            Segmentation::Polygons(p) => p.serialize(s),
            Segmentation::Rle { size, counts } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("size", size)?;
                match counts {
                    Counts::List(c) => m.serialize_entry("counts", c)?,
                    Counts::Compressed(c) => m.serialize_entry("counts", c)?,
                }
                m.end()
            }
        }
    }
}

impl Serialize for Annotation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(id) = self.id {
            m.serialize_entry("id", &id)?;
        }
        m.serialize_entry("image_id", &self.image_id)?;
        if let Some(c) = self.category_id {
            m.serialize_entry("category_id", &c)?;
        }
        m.serialize_entry("segmentation", &self.segmentation)?;
        if let Some(a) = self.area {
            m.serialize_entry("area", &a)?;
        }
        if let Some(b) = &self.bbox {
            m.serialize_entry("bbox", b)?;
        }
        m.serialize_entry("iscrowd", &u8::from(self.iscrowd))?;
        if let Some(sc) = self.score {
            m.serialize_entry("score", &sc)?;
        }
        if let Some(extra) = &self.extra {
            for (k, v) in extra.iter() {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

/// Writes a COCO file as a stream: the header first (categories before annotations, so that
/// streaming readers meet them first), then one annotation at a time. Written to a temporary
/// file renamed into place by [`Writer::finish`].
pub struct Writer {
    path: PathBuf,
    tmp: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    first: bool,
}

impl Writer {
    /// Starts `path` with the header (its `results` and `annotations` fields are ignored).
    pub fn create(path: &Path, header: &Header) -> Result<Writer, Error> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "coco.json".into());
        let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let io = |source| Error::Io {
            path: tmp.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let file = std::fs::File::create(&tmp).map_err(io)?;
        let mut w = Writer {
            path: path.to_path_buf(),
            tmp: tmp.clone(),
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            first: true,
        };
        let mut top = Map::new();
        top.insert(
            "info".into(),
            header
                .info
                .clone()
                .unwrap_or_else(|| Value::Object(Map::new())),
        );
        top.insert("licenses".into(), Value::from(header.licenses.clone()));
        for (k, v) in &header.extra {
            top.insert(k.clone(), v.clone());
        }
        let body = (|| -> std::io::Result<()> {
            w.out.write_all(b"{")?;
            for (k, v) in &top {
                serde_json::to_writer(&mut w.out, k)?;
                w.out.write_all(b": ")?;
                serde_json::to_writer(&mut w.out, v)?;
                w.out.write_all(b",\n")?;
            }
            w.out.write_all(b"\"images\": ")?;
            list(&mut w.out, &header.images)?;
            w.out.write_all(b",\n\"categories\": ")?;
            list(&mut w.out, &header.categories)?;
            w.out.write_all(b",\n\"annotations\": [")?;
            Ok(())
        })();
        if let Err(e) = body {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(e));
        }
        Ok(w)
    }

    /// Appends one annotation.
    pub fn annotation(&mut self, a: &Annotation) -> Result<(), Error> {
        let r = (|| -> std::io::Result<()> {
            self.out
                .write_all(if self.first { b"\n" } else { b",\n" })?;
            self.first = false;
            serde_json::to_writer(&mut self.out, a)?;
            Ok(())
        })();
        r.map_err(|source| Error::Io {
            path: self.tmp.clone(),
            source,
        })
    }

    /// Closes the document, flushes it to disk and renames it into place.
    pub fn finish(mut self) -> Result<(), Error> {
        let r = (|| -> std::io::Result<()> {
            self.out.write_all(b"\n]}\n")?;
            self.out.flush()?;
            self.out.get_ref().sync_all()?;
            std::fs::rename(&self.tmp, &self.path)
        })();
        r.map_err(|source| {
            let _ = std::fs::remove_file(&self.tmp);
            Error::Io {
                path: self.path.clone(),
                source,
            }
        })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Not finished: leave nothing behind (after a rename the temporary is gone anyway).
        let _ = std::fs::remove_file(&self.tmp);
    }
}

fn list<T: Serialize>(w: &mut impl Write, items: &[T]) -> std::io::Result<()> {
    w.write_all(b"[")?;
    for (i, item) in items.iter().enumerate() {
        w.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *w, item)?;
    }
    w.write_all(b"]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_every_segmentation_form_in_any_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "a.json",
            r#"{"annotations": [
                {"id": 1, "image_id": 7, "category_id": 2, "segmentation": [[1, 1, 4, 1, 4, 3]], "area": 3.0, "bbox": [1, 1, 3, 2], "iscrowd": 0},
                {"id": 2, "image_id": 7, "category_id": 2, "segmentation": {"size": [4, 5], "counts": [5, 3, 12]}, "iscrowd": 1, "attributes": {"occluded": false}},
                {"id": 3, "image_id": 7, "category_id": 2, "segmentation": {"size": [4, 5], "counts": "53<"}, "iscrowd": 0},
                {"id": 4, "image_id": 7, "category_id": 2, "bbox": [0, 0, 2, 2], "iscrowd": 0}
              ],
              "images": [{"id": 7, "file_name": "a.png", "width": 5, "height": 4, "license": 1}],
              "categories": [{"id": 2, "name": "cell", "supercategory": "thing"}],
              "info": {"year": 2024}, "licenses": [], "custom": true}"#,
        );
        let d = Dataset::load(&p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(
            Dataset::load_from(&bytes[..], &p).unwrap(),
            d,
            "bytes read as the file"
        );
        assert_eq!(d.annotations.len(), 4);
        assert_eq!(d.header.images[0].extra["license"], 1);
        assert_eq!(d.header.extra["custom"], true);
        assert!(d.annotations[1].iscrowd);
        assert_eq!(
            d.annotations[1].extra.as_ref().unwrap()["attributes"]["occluded"],
            false
        );
        assert_eq!(d.check(), Vec::<String>::new());
        let areas: Vec<u64> = d
            .annotations
            .iter()
            .map(|a| a.to_rle(4, 5).unwrap().unwrap().area())
            .collect();
        assert_eq!(areas[1], 3);
        assert_eq!(areas[3], 4);
        let h = read_header(&p).unwrap();
        assert_eq!(h.annotations, 4);
        assert_eq!(h.categories[0].name, "cell");
    }

    #[test]
    fn duplicate_image_and_category_ids_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let img = r#"{"id": 3, "file_name": "a.png", "width": 5, "height": 4}"#;
        let p = write(
            dir.path(),
            "d.json",
            &format!(r#"{{"images": [{img}, {img}], "annotations": [], "categories": []}}"#),
        );
        let e = read_header(&p).unwrap_err().to_string();
        assert_eq!(e, format!("{}: image id 3 is used twice", p.display()));
        let cat = r#"{"id": 2, "name": "cell"}"#;
        let p = write(
            dir.path(),
            "e.json",
            &format!(r#"{{"images": [], "annotations": [], "categories": [{cat}, {cat}]}}"#),
        );
        let e = read_header(&p).unwrap_err().to_string();
        assert!(e.ends_with("category id 2 is used twice"), "{e}");
    }

    #[test]
    fn bad_input_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "b.json",
            "{\"images\": [{\"id\": 1, \"file_name\": \"x\", \"width\": 4, \"height\": 4}],\n\"categories\": [{\"id\": 1, \"name\": \"c\"}],\n\"annotations\": [\n{\"id\": 5, \"image_id\": 9, \"category_id\": 1, \"segmentation\": [[0,0,1,0,1,1]]},\n{\"id\": 6, \"image_id\": 1, \"category_id\": 3, \"segmentation\": [[0,0,1,1]]},\n{\"id\": 7, \"image_id\": 1, \"category_id\": 1, \"segmentation\": {\"size\": [4, 4], \"counts\": [1, 2]}},\n{\"id\": 8, \"image_id\": 1, \"category_id\": 1, \"segmentation\": [[0, 0, 1, NaN]]}]}",
        );
        let e = Dataset::load(&p).unwrap_err().to_string();
        assert!(e.contains("b.json:7:"), "{e}");
        std::fs::write(&p, std::fs::read_to_string(&p).unwrap().replace(",\n{\"id\": 8, \"image_id\": 1, \"category_id\": 1, \"segmentation\": [[0, 0, 1, NaN]]}", "")).unwrap();
        let d = Dataset::load(&p).unwrap();
        let problems = d.check().join("\n");
        assert!(
            problems.contains("annotation 5: image_id 9 is not an image"),
            "{problems}"
        );
        assert!(
            problems.contains("annotation 6: category_id 3 is not a category"),
            "{problems}"
        );
        assert!(
            problems.contains("annotation 6 (image 1): polygon has 4 values"),
            "{problems}"
        );
        assert!(
            problems.contains("annotation 7 (image 1): RLE counts sum to 3"),
            "{problems}"
        );
        let p2 = write(dir.path(), "c.json", "{\"images\": [}");
        assert!(Dataset::load(&p2)
            .unwrap_err()
            .to_string()
            .contains("c.json:1:"));
    }

    #[test]
    fn writes_what_it_reads() {
        let dir = tempfile::tempdir().unwrap();
        let header = Header {
            images: vec![Image {
                id: 1,
                file_name: "a.tif".into(),
                width: 5,
                height: 4,
                extra: Map::new(),
            }],
            categories: vec![Category {
                id: 3,
                name: "cell".into(),
                supercategory: None,
                extra: Map::new(),
            }],
            ..Header::default()
        };
        let p = dir.path().join("out.json");
        let mut w = Writer::create(&p, &header).unwrap();
        let a = Annotation {
            id: Some(1),
            image_id: 1,
            category_id: Some(3),
            segmentation: Segmentation::Rle {
                size: [4, 5],
                counts: Counts::Compressed("53<".into()),
            },
            bbox: Some([1.0, 1.0, 1.0, 3.0]),
            area: Some(3.0),
            iscrowd: false,
            score: None,
            extra: None,
        };
        w.annotation(&a).unwrap();
        w.finish().unwrap();
        let d = Dataset::load(&p).unwrap();
        assert_eq!(d.annotations, vec![a]);
        assert_eq!(d.header.images, header.images);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn devices_are_refused() {
        let e = read_header(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/dev/zero: is a character device, not a regular file"
        );
    }
}
