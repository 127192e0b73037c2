//! GeoJSON (RFC 7946) in image pixel coordinates: QuPath exports and plain files in, one
//! documented profile out (`formats/geojson/README.md`).
//!
//! Read: a FeatureCollection (streamed feature by feature), a bare list of Features (QuPath),
//! one Feature, or a bare geometry. QuPath's key drift is normalised: `classification` as an
//! object (`name`, `color` or legacy `colorRGB`) or a string, or a plain `class` property;
//! `measurements` as a map or a list of `{name, value}`. Either winding is accepted.
//!
//! Write: a FeatureCollection, rings closed, exteriors counter-clockwise and holes clockwise in
//! the coordinate numbers (RFC 7946 §3.1.6; on screen, with `y` down, they look the other way),
//! image-level labels in the foreign member `image_labels`, the image id in `image`.

use super::json_stream::{line_col, ElementError, JsonStream, StreamError};
use crate::annotations::contour::{signed_area2, simple_rings, tidy_ring};
use crate::annotations::rle::MAX_COORDINATE;
use crate::annotations::shapes::{keys, Collection, Geometry, ImageLabel, Object, ObjectId, Point};
use crate::annotations::{Polygon, Ring};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Errors reading or writing GeoJSON.
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
    /// Malformed JSON.
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
    /// Well-formed JSON that is not usable GeoJSON.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the feature.
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

/// How strictly to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Drop unusable features (too few points, bad coordinates, unknown geometry) with a
    /// warning instead of failing.
    pub skip_invalid: bool,
}

/// A file read, with what was normalised or dropped on the way.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Read {
    /// The annotations.
    pub collection: Collection,
    /// Warnings, each naming the feature (`feature 3 (id abc)`).
    pub warnings: Vec<String>,
    /// Features dropped (with `skip_invalid`), with the reason.
    pub dropped: Vec<(String, String)>,
}

enum Item {
    Object(Object),
    Label(ImageLabel),
    Nothing,
}

struct Parsed {
    item: Result<Item, String>,
    warnings: Vec<String>,
    id: Option<ObjectId>,
}

/// Reads a GeoJSON file.
pub fn read(path: &Path, opts: ReadOptions) -> Result<Read, Error> {
    // Streamed, so only the file's type is checked: a device or FIFO would never end.
    let file = crate::input::open_regular(path)?;
    let size = file.metadata().map(|m| m.len() + 1).ok();
    read_from(file, size, path, opts)
}

/// Reads GeoJSON from any byte source (a network object, a buffer), streamed as [`read`] does;
/// `size_hint` (the length, when known) sizes the first buffer, `name` is what errors are
/// named with.
pub fn read_from(
    source: impl std::io::Read + Send,
    size_hint: Option<u64>,
    name: &Path,
    opts: ReadOptions,
) -> Result<Read, Error> {
    let path = name;
    let mut s = JsonStream::with_size_hint(source, size_hint.unwrap_or(u64::MAX));
    let err = |e| Error::from_stream(path, e);
    let mut out = Read::default();
    let mut index = 0usize;
    let mut sink = |p: Parsed, out: &mut Read| -> Result<(), StreamError> {
        let name = feature_name(index, p.id.as_ref());
        index += 1;
        for w in p.warnings {
            out.warnings.push(format!("{name}: {w}"));
        }
        match p.item {
            Ok(Item::Object(o)) => out.collection.objects.push(o),
            Ok(Item::Label(l)) => out.collection.image_labels.push(l),
            Ok(Item::Nothing) => {}
            Err(m) if opts.skip_invalid => out.dropped.push((name, m)),
            Err(m) => return Err(StreamError::Stopped(format!("{name}: {m}"))),
        }
        Ok(())
    };
    let parse = feature_from_slice;
    let mut top = Map::new();
    let result = match s.peek().map_err(err)? {
        Some(b'[') => s.parse_elements(parse, |p| sink(p, &mut out)),
        Some(b'{') => s.members(|s, key| {
            if key == "features" {
                s.parse_elements(parse, |p| sink(p, &mut out))
            } else {
                let v: Value = s.value()?;
                top.insert(key, v);
                Ok(())
            }
        }),
        Some(c) => {
            return Err(Error::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "expected a GeoJSON object or a list of features, found {:?}",
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
    let invalid = |message: String| Error::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let kind = top.get("type").and_then(Value::as_str).map(str::to_string);
    match kind.as_deref() {
        None if top.is_empty() => {} // a bare list of features
        Some("FeatureCollection") => {
            top.remove("type");
            if let Some(img) = top.remove("image") {
                out.collection.image = img.as_str().map(str::to_string);
            }
            if let Some(labels) = top.remove("image_labels") {
                out.collection
                    .image_labels
                    .extend(image_labels(labels).map_err(invalid)?);
            }
            // RFC 7946 `bbox` is derived; everything else is kept.
            top.remove("bbox");
            out.collection.extra = top;
        }
        Some("Feature") => {
            let f: RawFeature = serde_json::from_value(Value::Object(top))
                .map_err(|e| invalid(format!("the Feature: {e}")))?;
            sink(parse_feature(f), &mut out).map_err(err)?;
        }
        Some("GeometryCollection") => {
            return Err(invalid(
                "a GeometryCollection is not supported; write each geometry as a Feature".into(),
            ))
        }
        Some(_) if top.contains_key("coordinates") => {
            let raw: RawGeometry = serde_json::from_value(Value::Object(top))
                .map_err(|e| invalid(format!("the geometry: {e}")))?;
            let g = parse_geometry(&raw, &mut Vec::new()).map_err(invalid)?;
            out.collection.objects.push(Object::new(g));
        }
        Some(other) => return Err(invalid(format!("unknown GeoJSON type {other:?}"))),
        None => {
            return Err(invalid(
                "the top-level object has no \"type\"; expected a FeatureCollection".into(),
            ))
        }
    }
    Ok(out)
}

fn feature_name(index: usize, id: Option<&ObjectId>) -> String {
    match id {
        Some(id) => format!("feature {} (id {id})", index + 1),
        None => format!("feature {}", index + 1),
    }
}

fn parse_id(v: &Value) -> Option<ObjectId> {
    match v {
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => ObjectId::Int(i),
            None => ObjectId::Str(n.to_string()),
        }),
        Value::String(s) => Some(ObjectId::Str(s.clone())),
        _ => None,
    }
}

fn parse_feature(f: RawFeature) -> Parsed {
    let mut warnings = Vec::new();
    let id = f.id.as_ref().and_then(parse_id);
    let item = (|| -> Result<Item, String> {
        match f.kind.as_ref().map(|k| k.as_str()) {
            Some(Some("Feature")) => {}
            Some(_) => {
                return Err(format!(
                    "has type {}; expected \"Feature\"",
                    f.kind.as_ref().expect("some")
                ))
            }
            None => return Err("has no \"type\": \"Feature\"".into()),
        }
        let mut properties = match f.properties {
            Some(Value::Object(m)) => m,
            Some(Value::Null) | None => Map::new(),
            Some(other) => return Err(format!("properties is {other}; expected an object")),
        };
        normalise_properties(&mut properties, &mut warnings);
        match &f.geometry {
            None => {
                // No shape: an image-level label when it names a class.
                let class = properties
                    .get(keys::CLASSIFICATION)
                    .and_then(|c| c.get("name"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                match class {
                    Some(class) => Ok(Item::Label(ImageLabel {
                        class,
                        count: properties.get("count").and_then(Value::as_u64),
                        confidence: properties.get(keys::CONFIDENCE).and_then(Value::as_f64),
                        extra: Map::new(),
                    })),
                    None => {
                        warnings.push("has no geometry and no class; skipped".into());
                        Ok(Item::Nothing)
                    }
                }
            }
            Some(g) => {
                let geometry = parse_geometry(g, &mut warnings)?;
                Ok(Item::Object(Object {
                    id: id.clone(),
                    geometry,
                    properties,
                }))
            }
        }
    })();
    Parsed { item, warnings, id }
}

/// A feature element of the array: typed when it is an object, else reported.
fn feature_from_slice(b: &[u8]) -> Result<Parsed, ElementError> {
    let trimmed = b.iter().find(|c| !c.is_ascii_whitespace());
    if trimmed != Some(&b'{') {
        let v: Value = serde_json::from_slice(b)?;
        return Ok(Parsed {
            item: Err(format!("is {v}, not a Feature object")),
            warnings: Vec::new(),
            id: None,
        });
    }
    Ok(parse_feature(serde_json::from_slice(b)?))
}

/// Maps QuPath's and plain keys onto the profile.
fn normalise_properties(p: &mut Map<String, Value>, warnings: &mut Vec<String>) {
    let mut class = match p.remove(keys::CLASSIFICATION) {
        Some(Value::String(name)) => Some(json!({ "name": name })),
        Some(Value::Object(mut c)) => {
            if let Some(argb) = c.remove("colorRGB").and_then(|v| v.as_i64()) {
                c.entry("color")
                    .or_insert_with(|| Value::from(rgb(argb).to_vec()));
            }
            if c.get("name").and_then(Value::as_str).is_some() {
                Some(Value::Object(c))
            } else {
                // QuPath writes names as a list for derived classes ("Tumor: Positive").
                match c.get("names").and_then(Value::as_array) {
                    Some(names) => {
                        let joined: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
                        c.insert("name".into(), Value::from(joined.join(": ")));
                        Some(Value::Object(c))
                    }
                    None => {
                        warnings.push("classification has no name; ignored".into());
                        None
                    }
                }
            }
        }
        Some(Value::Null) | None => None,
        Some(other) => {
            warnings.push(format!("classification is {other}; ignored"));
            None
        }
    };
    if class.is_none() {
        for key in ["class", "classname", "category"] {
            if let Some(Value::String(name)) = p.get(key) {
                class = Some(json!({ "name": name }));
                p.remove(key);
                break;
            }
        }
    }
    if let Some(c) = class {
        p.insert(keys::CLASSIFICATION.into(), c);
    }
    if let Some(Value::Array(list)) = p.get(keys::MEASUREMENTS) {
        // QuPath ≤ 0.2: [{"name": …, "value": …}, …].
        let mut m = Map::new();
        for item in list {
            if let (Some(n), Some(v)) =
                (item.get("name").and_then(Value::as_str), item.get("value"))
            {
                m.insert(n.to_string(), v.clone());
            }
        }
        p.insert(keys::MEASUREMENTS.into(), Value::Object(m));
    }
}

/// `[r, g, b]` of a packed (A)RGB integer, as QuPath stores colours.
fn rgb(packed: i64) -> [u8; 3] {
    let v = packed as u32;
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// GeoJSON `coordinates` parsed without a JSON tree: positions inline, lists of them, and
/// whatever else was there (kept to be reported).
#[derive(Debug, Clone, PartialEq)]
enum C {
    Num(serde_json::Number),
    /// A position of 2 or 3 numbers.
    Pos([f64; 3], u8),
    List(Vec<C>),
    Other(Value),
}

impl std::fmt::Display for C {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            C::Num(n) => write!(f, "{n}"),
            C::Pos(v, n) => write!(f, "{}", Value::from(v[..*n as usize].to_vec())),
            C::List(items) => {
                f.write_str("[")?;
                for (i, c) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("]")
            }
            C::Other(v) => write!(f, "{v}"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for C {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<C, D::Error> {
        use serde::de::{MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = C;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("GeoJSON coordinates")
            }
            fn visit_i64<E>(self, v: i64) -> Result<C, E> {
                Ok(C::Num(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<C, E> {
                Ok(C::Num(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<C, E> {
                Ok(serde_json::Number::from_f64(v).map_or(C::Other(Value::Null), C::Num))
            }
            fn visit_str<E>(self, v: &str) -> Result<C, E> {
                Ok(C::Other(Value::from(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<C, E> {
                Ok(C::Other(Value::from(v)))
            }
            fn visit_unit<E>(self) -> Result<C, E> {
                Ok(C::Other(Value::Null))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<C, A::Error> {
                let v = <Value as serde::Deserialize>::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(C::Other(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<C, A::Error> {
                // A position ([x, y] or [x, y, z]) is stored inline; anything else as a list.
                let mut nums: [f64; 3] = [0.0; 3];
                let mut items: Vec<C> = Vec::new();
                let mut n = 0usize;
                while let Some(c) = seq.next_element::<C>()? {
                    match (&c, items.is_empty()) {
                        (C::Num(x), true) if n < 3 => {
                            nums[n] = x.as_f64().unwrap_or(f64::NAN);
                            n += 1;
                        }
                        _ => {
                            if items.is_empty() && n > 0 {
                                items.extend(nums[..n].iter().map(|&x| {
                                    serde_json::Number::from_f64(x)
                                        .map_or(C::Other(Value::Null), C::Num)
                                }));
                            }
                            items.push(c);
                        }
                    }
                }
                Ok(if items.is_empty() && n >= 2 {
                    C::Pos(nums, n as u8)
                } else if items.is_empty() && n == 1 {
                    C::List(vec![
                        serde_json::Number::from_f64(nums[0]).map_or(C::Other(Value::Null), C::Num)
                    ])
                } else {
                    C::List(items)
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A geometry object as read: its type and coordinates, nothing else kept.
#[derive(serde::Deserialize)]
struct RawGeometry {
    #[serde(rename = "type")]
    kind: Option<String>,
    coordinates: Option<C>,
}

/// A Feature as read: geometry typed, properties as JSON.
#[derive(serde::Deserialize)]
struct RawFeature {
    #[serde(rename = "type")]
    kind: Option<Value>,
    id: Option<Value>,
    #[serde(default)]
    geometry: Option<RawGeometry>,
    properties: Option<Value>,
}

fn position(c: &C, warnings: &mut Vec<String>) -> Result<Point, String> {
    let (v, n) = match c {
        C::Pos(v, n) => (*v, *n as usize),
        C::List(items) if items.len() > 3 && items.iter().all(|i| matches!(i, C::Num(_))) => {
            warnings.push(format!(
                "position {c} has more than 3 coordinates; extra ones ignored"
            ));
            let x = |i: usize| match &items[i] {
                C::Num(n) => n.as_f64().unwrap_or(f64::NAN),
                _ => f64::NAN,
            };
            ([x(0), x(1), x(2)], 3)
        }
        C::List(items) if items.iter().all(|i| matches!(i, C::Num(_))) => {
            return Err(format!("position {c} has fewer than 2 coordinates"))
        }
        C::List(items) if items.iter().any(|i| matches!(i, C::Other(_))) => {
            return Err(format!("position {c} holds a non-number"))
        }
        _ => return Err(format!("position {c} is not an array of numbers")),
    };
    if let Some(bad) = v[..n]
        .iter()
        .find(|x| !x.is_finite() || x.abs() > MAX_COORDINATE)
    {
        return Err(format!(
            "coordinate {} is out of range (±{MAX_COORDINATE} pixels)",
            Value::from(*bad)
        ));
    }
    Ok(Point {
        x: v[0],
        y: v[1],
        z: (n == 3).then_some(v[2]),
    })
}

fn list(c: &C) -> Result<&[C], String> {
    match c {
        C::List(items) => Ok(items),
        other => Err(format!("coordinates {other} are not a list")),
    }
}

fn positions(c: &C, warnings: &mut Vec<String>) -> Result<Vec<Point>, String> {
    list(c)
        .map_err(|_| format!("coordinates {c} are not a list of positions"))?
        .iter()
        .map(|p| position(p, warnings))
        .collect()
}

fn ring(c: &C, what: &str, warnings: &mut Vec<String>) -> Result<Ring, String> {
    let pts = positions(c, warnings)?;
    if pts.iter().any(|p| p.z.is_some()) {
        warnings.push(format!(
            "{what} has z coordinates; polygons are 2D, z ignored"
        ));
    }
    let mut r: Ring = pts.iter().map(|p| [p.x, p.y]).collect();
    if r.len() >= 2 && r.first() == r.last() {
        r.pop();
    } else if !r.is_empty() {
        warnings.push(format!(
            "{what} is not closed (RFC 7946 wants first = last); closed it"
        ));
    }
    let n = tidy_ring(&mut r);
    if n < 3 {
        return Err(format!(
            "{what} has {n} distinct points; a polygon ring needs at least 3"
        ));
    }
    Ok(r)
}

fn polygon(c: &C, warnings: &mut Vec<String>) -> Result<Polygon, String> {
    let rings = list(c).map_err(|_| format!("polygon coordinates {c} are not a list of rings"))?;
    let Some((first, rest)) = rings.split_first() else {
        return Err("polygon has no rings".into());
    };
    let exterior = ring(first, "exterior ring", warnings)?;
    let holes = rest
        .iter()
        .enumerate()
        .map(|(i, h)| ring(h, &format!("hole {}", i + 1), warnings))
        .collect::<Result<_, _>>()?;
    Ok(Polygon { exterior, holes })
}

fn parse_geometry(g: &RawGeometry, warnings: &mut Vec<String>) -> Result<Geometry, String> {
    let t = g
        .kind
        .as_deref()
        .ok_or_else(|| "geometry has no \"type\"".to_string())?;
    if t == "GeometryCollection" {
        return Err("GeometryCollection is not supported; use one Feature per geometry".into());
    }
    let c = g
        .coordinates
        .as_ref()
        .ok_or_else(|| format!("{t} has no \"coordinates\""))?;
    Ok(match t {
        "Point" => Geometry::Point(position(c, warnings)?),
        "MultiPoint" => Geometry::MultiPoint(positions(c, warnings)?),
        "LineString" => {
            let l = positions(c, warnings)?;
            if l.len() < 2 {
                return Err("LineString has fewer than 2 positions".into());
            }
            Geometry::LineString(l)
        }
        "MultiLineString" => Geometry::MultiLineString(
            list(c)?
                .iter()
                .map(|l| positions(l, warnings))
                .collect::<Result<_, _>>()?,
        ),
        "Polygon" => Geometry::Polygon(polygon(c, warnings)?),
        "MultiPolygon" => Geometry::MultiPolygon(
            list(c)?
                .iter()
                .enumerate()
                .map(|(i, p)| polygon(p, warnings).map_err(|e| format!("part {}: {e}", i + 1)))
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(format!("unknown geometry type {other:?}")),
    })
}

fn image_labels(v: Value) -> Result<Vec<ImageLabel>, String> {
    let Value::Array(items) = v else {
        return Err(format!("image_labels is {v}; expected a list"));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Object(mut m) = item else {
                return Err(format!("image_labels[{i}] is not an object"));
            };
            let class = match m.remove("class") {
                Some(Value::String(s)) => s,
                _ => return Err(format!("image_labels[{i}] has no \"class\" name")),
            };
            let count = match m.remove("count") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().ok_or_else(|| {
                    format!("image_labels[{i}].count is {v}; expected a whole number")
                })?),
            };
            let confidence = m.remove(keys::CONFIDENCE).and_then(|v| v.as_f64());
            Ok(ImageLabel {
                class,
                count,
                confidence,
                extra: m,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Writing.

fn ring_value(r: &Ring, ccw: bool) -> Value {
    let mut pts: Vec<Value> = r.iter().map(|p| json!([p[0], p[1]])).collect();
    if (signed_area2(r) > 0.0) != ccw {
        pts.reverse();
    }
    if let Some(first) = pts.first().cloned() {
        pts.push(first);
    }
    Value::Array(pts)
}

fn polygon_value(p: &Polygon) -> Value {
    let mut rings = vec![ring_value(&p.exterior, true)];
    rings.extend(p.holes.iter().map(|h| ring_value(h, false)));
    Value::Array(rings)
}

fn point_value(p: &Point) -> Value {
    match p.z {
        Some(z) => json!([p.x, p.y, z]),
        None => json!([p.x, p.y]),
    }
}

/// The GeoJSON geometry object of the profile.
pub fn geometry_value(g: &Geometry) -> Value {
    let coordinates = match g {
        Geometry::Point(p) => point_value(p),
        Geometry::MultiPoint(ps) | Geometry::LineString(ps) => {
            Value::Array(ps.iter().map(point_value).collect())
        }
        Geometry::MultiLineString(ls) => Value::Array(
            ls.iter()
                .map(|l| Value::Array(l.iter().map(point_value).collect()))
                .collect(),
        ),
        Geometry::Polygon(_) | Geometry::MultiPolygon(_) => {
            // Rings touching themselves at a corner are written as simple rings (OGC).
            let simple: Vec<Polygon> = g.polygons().iter().flat_map(simple_rings).collect();
            if matches!(g, Geometry::Polygon(_)) && simple.len() == 1 {
                polygon_value(&simple[0])
            } else {
                return json!({
                    "type": "MultiPolygon",
                    "coordinates": Value::Array(simple.iter().map(polygon_value).collect()),
                });
            }
        }
    };
    json!({ "type": g.type_name(), "coordinates": coordinates })
}

/// The GeoJSON Feature of an object.
pub fn feature_value(o: &Object) -> Value {
    let mut f = Map::new();
    f.insert("type".into(), Value::from("Feature"));
    if let Some(id) = &o.id {
        f.insert("id".into(), Value::from(id));
    }
    f.insert("geometry".into(), geometry_value(&o.geometry));
    f.insert("properties".into(), Value::Object(o.properties.clone()));
    Value::Object(f)
}

/// Writes a FeatureCollection up to the opening of its `features` array: the image id, other
/// top-level members and image-level labels of `c` (its objects are not written). Features
/// follow, separated by `",\n"`, then [`write_tail`].
#[doc(hidden)]
pub fn write_head(w: &mut impl Write, c: &Collection) -> std::io::Result<()> {
    w.write_all(b"{\"type\": \"FeatureCollection\"")?;
    if let Some(img) = &c.image {
        write!(w, ", \"image\": {}", Value::from(img.as_str()))?;
    }
    for (k, v) in &c.extra {
        write!(w, ", {}: {}", Value::from(k.as_str()), v)?;
    }
    if !c.image_labels.is_empty() {
        let labels: Vec<Value> = c
            .image_labels
            .iter()
            .map(|l| {
                let mut m = Map::new();
                m.insert("class".into(), Value::from(l.class.as_str()));
                if let Some(n) = l.count {
                    m.insert("count".into(), Value::from(n));
                }
                if let Some(x) = l.confidence {
                    m.insert(keys::CONFIDENCE.into(), Value::from(x));
                }
                m.extend(l.extra.clone());
                Value::Object(m)
            })
            .collect();
        write!(w, ", \"image_labels\": {}", Value::Array(labels))?;
    }
    w.write_all(b", \"features\": [")
}

/// Closes what [`write_head`] opened.
#[doc(hidden)]
pub fn write_tail(w: &mut impl Write) -> std::io::Result<()> {
    w.write_all(b"\n]}\n")
}

/// Writes a collection as a FeatureCollection (temporary file, fsync, rename).
pub fn write(path: &Path, c: &Collection) -> Result<(), Error> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let file = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        write_head(&mut w, c)?;
        for (i, o) in c.objects.iter().enumerate() {
            w.write_all(if i == 0 { b"\n" } else { b",\n" })?;
            serde_json::to_writer(&mut w, &feature_value(o))?;
        }
        write_tail(&mut w)?;
        w.flush()?;
        w.get_ref().sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `text` from a file and from bytes: both readers must agree, errors included.
    fn read_str(text: &str, opts: ReadOptions) -> Result<Read, Error> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.geojson");
        std::fs::write(&p, text).unwrap();
        let from_file = read(&p, opts);
        let from_bytes = read_from(text.as_bytes(), None, &p, opts);
        match (&from_file, &from_bytes) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (a, b) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        }
        from_file
    }

    #[test]
    fn qupath_key_drift_is_normalised() {
        let r = read_str(
            r#"[
              {"type": "Feature", "id": "a1", "geometry": {"type": "Polygon", "coordinates": [[[0,0],[0,4],[4,4],[4,0],[0,0]]]},
               "properties": {"objectType": "annotation", "classification": {"name": "Tumor", "colorRGB": -3670016}, "isLocked": false}},
              {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1.5, 2.5]},
               "properties": {"classification": "Immune", "measurements": [{"name": "Area", "value": 3.5}]}},
              {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}, "properties": {"class": "cell"}},
              {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
               "properties": {"classification": {"names": ["Tumor", "Positive"], "color": [1, 2, 3]}}}
            ]"#,
            ReadOptions::default(),
        )
        .unwrap();
        let o = &r.collection.objects;
        assert_eq!(o.len(), 4);
        assert_eq!(o[0].id, Some(ObjectId::Str("a1".into())));
        assert_eq!(o[0].class(), Some("Tumor"));
        assert_eq!(
            o[0].properties["classification"]["color"],
            json!([200, 0, 0])
        );
        assert_eq!(o[0].properties["isLocked"], false);
        assert_eq!(o[1].class(), Some("Immune"));
        assert_eq!(o[1].properties["measurements"], json!({"Area": 3.5}));
        assert_eq!(o[2].class(), Some("cell"));
        assert_eq!(o[3].class(), Some("Tumor: Positive"));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    #[test]
    fn writes_the_profile_and_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.geojson");
        let mut c = Collection {
            image: Some("img".into()),
            ..Collection::default()
        };
        // Clockwise in the numbers (as QuPath writes): the writer turns it around.
        let mut o = Object::new(Geometry::Polygon(Polygon {
            exterior: vec![[0.0, 0.0], [0.0, 4.0], [4.0, 4.0], [4.0, 0.0]],
            holes: vec![vec![[1.0, 1.0], [2.0, 1.0], [2.0, 2.0], [1.0, 2.0]]],
        }));
        o.id = Some(ObjectId::Int(7));
        o.set_class("cell", Some([0, 255, 0]));
        c.objects.push(o);
        c.image_labels.push(ImageLabel {
            class: "cell".into(),
            count: Some(1),
            confidence: None,
            extra: Map::new(),
        });
        write(&p, &c).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let rings = &v["features"][0]["geometry"]["coordinates"];
        let as_ring = |r: &Value| -> Ring {
            r.as_array()
                .unwrap()
                .iter()
                .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
                .collect()
        };
        assert!(
            signed_area2(&as_ring(&rings[0])) > 0.0,
            "exterior counter-clockwise"
        );
        assert!(signed_area2(&as_ring(&rings[1])) < 0.0, "hole clockwise");
        assert_eq!(rings[0][0], rings[0][4], "closed");
        let back = read(&p, ReadOptions::default()).unwrap();
        assert_eq!(back.collection.image.as_deref(), Some("img"));
        assert_eq!(back.collection.image_labels, c.image_labels);
        let g = &back.collection.objects[0];
        assert_eq!(g.id, Some(ObjectId::Int(7)));
        assert_eq!(g.class(), Some("cell"));
        assert_eq!(
            g.geometry.to_rle(6, 6).unwrap(),
            c.objects[0].geometry.to_rle(6, 6).unwrap()
        );
    }

    #[test]
    fn bad_features_are_named_or_skipped() {
        let text = r#"{"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": 1, "geometry": {"type": "Point", "coordinates": [1, 2]}, "properties": {}},
            {"type": "Feature", "id": 2, "geometry": {"type": "Polygon", "coordinates": [[[0,0],[1,1],[0,0]]]}, "properties": null},
            {"type": "Feature", "id": 3, "geometry": {"type": "Point", "coordinates": [1e300, 2]}, "properties": {}}
        ]}"#;
        let e = read_str(text, ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("feature 2 (id 2): exterior ring has 2 distinct points"),
            "{e}"
        );
        let r = read_str(text, ReadOptions { skip_invalid: true }).unwrap();
        assert_eq!(r.collection.objects.len(), 1);
        assert_eq!(r.dropped.len(), 2);
        assert!(r.dropped[1].1.contains("out of range"), "{:?}", r.dropped);
        let e = read_str(
            "{\"type\": \"FeatureCollection\",\n \"features\": [{]}",
            ReadOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("t.geojson:2:"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn traced_masks_survive_a_write_and_read(h in 1usize..16, w in 1usize..16, bits in proptest::collection::vec(0i64..4, 256)) {
            let mask = &bits[..h * w];
            let objects = crate::annotations::shapes::objects_from_labels(mask, h, w);
            let c = Collection {
                objects: objects.iter().map(|(_, o)| o.clone()).collect(),
                ..Collection::default()
            };
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("r.geojson");
            write(&p, &c).unwrap();
            let back = read(&p, ReadOptions::default()).unwrap().collection;
            proptest::prop_assert_eq!(back.objects.len(), objects.len());
            for ((value, o), b) in objects.iter().zip(&back.objects) {
                let want: Vec<u8> = mask.iter().map(|v| u8::from(v == value)).collect();
                let want = crate::annotations::Rle::from_mask(&want, h as u32, w as u32);
                proptest::prop_assert_eq!(b.geometry.to_rle(h as u32, w as u32).unwrap(), want);
                proptest::prop_assert_eq!(b.label(), o.label());
            }
        }
    }

    #[test]
    fn bare_geometry_and_single_feature() {
        let r = read_str(
            r#"{"type": "MultiPolygon", "coordinates": [[[[0,0],[2,0],[2,2],[0,2],[0,0]]], [[[5,5],[6,5],[6,6],[5,5]]]]}"#,
            ReadOptions::default(),
        )
        .unwrap();
        assert!(
            matches!(&r.collection.objects[0].geometry, Geometry::MultiPolygon(p) if p.len() == 2)
        );
        let r = read_str(
            r#"{"type": "Feature", "id": 4, "geometry": {"type": "LineString", "coordinates": [[0,0],[3,4]]}, "properties": {"class": "axon"}}"#,
            ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(r.collection.objects[0].class(), Some("axon"));
        assert_eq!(r.collection.objects[0].id, Some(ObjectId::Int(4)));
    }

    #[test]
    fn devices_are_refused() {
        let e = read(Path::new("/dev/zero"), ReadOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/dev/zero: is a character device, not a regular file"
        );
    }
}
