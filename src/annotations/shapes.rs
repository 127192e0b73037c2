//! Vector annotations: objects (a geometry plus properties) and image-level labels, in level-0
//! pixel coordinates of one image, on the pixel-corner convention of [`super::contour`].
//!
//! Property keys follow the GeoJSON profile in `formats/geojson/README.md`; readers of other
//! formats map their keys onto it, so every format shares one model.

use super::contour::{self, Polygon};
use super::rle::{Rle, MAX_COORDINATE};
use crate::metadata::AnnotationType;
use serde_json::{Map, Value};
use std::fmt;

/// A position: `x` right, `y` down, optionally `z` (a plane index or depth in pixels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Column coordinate.
    pub x: f64,
    /// Row coordinate.
    pub y: f64,
    /// Depth, for 3D points.
    pub z: Option<f64>,
}

impl Point {
    /// A 2D point.
    pub fn xy(x: f64, y: f64) -> Point {
        Point { x, y, z: None }
    }
}

/// The shape of an object.
#[derive(Debug, Clone, PartialEq)]
pub enum Geometry {
    /// One position.
    Point(Point),
    /// Several positions of one object.
    MultiPoint(Vec<Point>),
    /// An open line.
    LineString(Vec<Point>),
    /// Several lines.
    MultiLineString(Vec<Vec<Point>>),
    /// An area with holes.
    Polygon(Polygon),
    /// Several areas.
    MultiPolygon(Vec<Polygon>),
}

impl Geometry {
    /// The GeoJSON type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Geometry::Point(_) => "Point",
            Geometry::MultiPoint(_) => "MultiPoint",
            Geometry::LineString(_) => "LineString",
            Geometry::MultiLineString(_) => "MultiLineString",
            Geometry::Polygon(_) => "Polygon",
            Geometry::MultiPolygon(_) => "MultiPolygon",
        }
    }

    /// The polygons, if the geometry is an area.
    pub fn polygons(&self) -> &[Polygon] {
        match self {
            Geometry::Polygon(p) => std::slice::from_ref(p),
            Geometry::MultiPolygon(ps) => ps,
            _ => &[],
        }
    }

    /// Every `(x, y)` of the geometry.
    pub fn coords(&self) -> Box<dyn Iterator<Item = [f64; 2]> + '_> {
        match self {
            Geometry::Point(p) => Box::new(std::iter::once([p.x, p.y])),
            Geometry::MultiPoint(ps) | Geometry::LineString(ps) => {
                Box::new(ps.iter().map(|p| [p.x, p.y]))
            }
            Geometry::MultiLineString(ls) => Box::new(ls.iter().flatten().map(|p| [p.x, p.y])),
            Geometry::Polygon(_) | Geometry::MultiPolygon(_) => Box::new(
                self.polygons()
                    .iter()
                    .flat_map(|p| std::iter::once(&p.exterior).chain(&p.holes))
                    .flatten()
                    .copied(),
            ),
        }
    }

    /// `[xmin, ymin, xmax, ymax]` of the coordinates; `None` when there are none.
    pub fn bounds(&self) -> Option<[f64; 4]> {
        let mut it = self.coords();
        let first = it.next()?;
        Some(it.fold([first[0], first[1], first[0], first[1]], |b, c| {
            [
                b[0].min(c[0]),
                b[1].min(c[1]),
                b[2].max(c[0]),
                b[3].max(c[1]),
            ]
        }))
    }

    /// The first non-finite or absurd coordinate, as `(index, value)`.
    pub fn bad_coordinate(&self) -> Option<(usize, f64)> {
        self.coords()
            .flatten()
            .enumerate()
            .find(|(_, v)| !v.is_finite() || v.abs() > MAX_COORDINATE)
    }

    /// The pixels of an area geometry on a `height × width` image (even-odd within each
    /// polygon, union over the polygons); `None` for points and lines, which have no area.
    pub fn to_rle(&self, height: u32, width: u32) -> Option<Rle> {
        let polys = self.polygons();
        if polys.is_empty() {
            return None;
        }
        let parts: Vec<Rle> = polys
            .iter()
            .map(|p| polygon_rle(p, height, width))
            .collect();
        Rle::union(&parts)
    }
}

/// The pixels of one polygon (even-odd over its rings), as run lengths.
pub fn polygon_rle(p: &Polygon, height: u32, width: u32) -> Rle {
    Rle::from_toggles(&contour::polygon_flips(p, height, width), height, width)
}

/// An object's identifier: the GeoJSON Feature `id` (a number or a string).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectId {
    /// A number (COCO annotation ids, label values).
    Int(i64),
    /// A string (QuPath writes UUIDs).
    Str(String),
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectId::Int(i) => write!(f, "{i}"),
            ObjectId::Str(s) => write!(f, "{s}"),
        }
    }
}

impl From<&ObjectId> for Value {
    fn from(id: &ObjectId) -> Value {
        match id {
            ObjectId::Int(i) => Value::from(*i),
            ObjectId::Str(s) => Value::from(s.as_str()),
        }
    }
}

/// Property keys of the profile.
pub mod keys {
    /// `{"name": …, "color": [r, g, b]}`: the object's class (QuPath's key).
    pub const CLASSIFICATION: &str = "classification";
    /// Detection or model confidence, 0–1.
    pub const CONFIDENCE: &str = "confidence";
    /// Who drew the object: an ORCID or a name from the set's authors.
    pub const ANNOTATOR: &str = "annotator";
    /// Instance label value in a label mask made from, or traced into, this object.
    pub const LABEL: &str = "label";
    /// `"box"` for an axis-aligned bounding box stored as a Polygon.
    pub const SHAPE: &str = "shape";
    /// Free measurements: `{"Area µm^2": 12.5, …}`.
    pub const MEASUREMENTS: &str = "measurements";
    /// Time index of a point or shape in a time series.
    pub const T: &str = "t";
    /// QuPath's object type, `annotation` or `detection`.
    pub const OBJECT_TYPE: &str = "objectType";
    /// COCO crowd region.
    pub const ISCROWD: &str = "iscrowd";
}

/// One annotated object.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Identifier, unique in its collection.
    pub id: Option<ObjectId>,
    /// Shape.
    pub geometry: Geometry,
    /// Properties (profile keys in [`keys`], anything else kept verbatim).
    pub properties: Map<String, Value>,
}

impl Object {
    /// An object without id or properties.
    pub fn new(geometry: Geometry) -> Object {
        Object {
            id: None,
            geometry,
            properties: Map::new(),
        }
    }

    /// The class name.
    pub fn class(&self) -> Option<&str> {
        self.properties
            .get(keys::CLASSIFICATION)?
            .get("name")?
            .as_str()
    }

    /// Sets the class name (and its colour, when known).
    pub fn set_class(&mut self, name: &str, color: Option<[u8; 3]>) {
        let mut c = Map::new();
        c.insert("name".into(), Value::from(name));
        if let Some(rgb) = color {
            c.insert("color".into(), Value::from(rgb.to_vec()));
        }
        self.properties
            .insert(keys::CLASSIFICATION.into(), Value::Object(c));
    }

    /// Confidence, when recorded.
    pub fn confidence(&self) -> Option<f64> {
        self.properties.get(keys::CONFIDENCE)?.as_f64()
    }

    /// Instance label value, when recorded.
    pub fn label(&self) -> Option<u64> {
        self.properties.get(keys::LABEL)?.as_u64()
    }

    /// Whether the object is a bounding box.
    pub fn is_box(&self) -> bool {
        self.properties.get(keys::SHAPE).and_then(Value::as_str) == Some("box")
    }

    /// Whether the object is a COCO crowd region.
    pub fn is_crowd(&self) -> bool {
        match self.properties.get(keys::ISCROWD) {
            Some(Value::Bool(b)) => *b,
            Some(v) => v.as_i64() == Some(1),
            None => false,
        }
    }

    /// The BIA annotation type this object contributes.
    pub fn annotation_type(&self) -> AnnotationType {
        match &self.geometry {
            Geometry::Point(_) | Geometry::MultiPoint(_) => AnnotationType::PointAnnotations,
            _ if self.is_box() => AnnotationType::BoundingBoxes,
            _ => AnnotationType::GeometricalAnnotations,
        }
    }

    /// How reports name the object: its id, or its position in the file.
    pub fn name(&self, index: usize) -> String {
        match &self.id {
            Some(id) => format!("{id}"),
            None => format!("#{}", index + 1),
        }
    }
}

/// A bounding box `[x, y, width, height]` as a box object (a closed Polygon ring).
pub fn box_object(bbox: [f64; 4]) -> Object {
    let [x, y, w, h] = bbox;
    let mut o = Object::new(Geometry::Polygon(Polygon {
        exterior: vec![[x, y], [x + w, y], [x + w, y + h], [x, y + h]],
        holes: Vec::new(),
    }));
    o.properties.insert(keys::SHAPE.into(), Value::from("box"));
    o
}

/// An image-level annotation: a class present in the image, optionally with a count (weak
/// annotation) and a confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageLabel {
    /// Class name.
    pub class: String,
    /// Number of objects of the class, for counting annotations.
    pub count: Option<u64>,
    /// Confidence, 0–1.
    pub confidence: Option<f64>,
    /// Other keys, kept.
    pub extra: Map<String, Value>,
}

/// The annotations of one image in one set: what one GeoJSON file holds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Collection {
    /// The package image annotated, when recorded in the file.
    pub image: Option<String>,
    /// Objects, in file order.
    pub objects: Vec<Object>,
    /// Image-level labels and counts.
    pub image_labels: Vec<ImageLabel>,
    /// Other top-level members, kept.
    pub extra: Map<String, Value>,
}

impl Collection {
    /// The BIA annotation types present.
    pub fn annotation_types(&self) -> Vec<AnnotationType> {
        let mut t: Vec<AnnotationType> = self.objects.iter().map(Object::annotation_type).collect();
        if self.image_labels.iter().any(|l| l.count.is_none()) {
            t.push(AnnotationType::ClassLabels);
        }
        if self.image_labels.iter().any(|l| l.count.is_some()) {
            t.push(AnnotationType::Counts);
        }
        t.sort_by_key(|a| a.as_str());
        t.dedup();
        t
    }

    /// Class names used by objects and image labels, in first-use order.
    pub fn classes(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let names = self
            .objects
            .iter()
            .filter_map(Object::class)
            .chain(self.image_labels.iter().map(|l| l.class.as_str()));
        for n in names {
            if !out.contains(&n) {
                out.push(n);
            }
        }
        out
    }
}

/// Traces a row-major label plane into one object per label value (a Polygon, or a
/// MultiPolygon when the value has several 4-connected parts), with `label` set to the value.
pub fn objects_from_labels(mask: &[i64], height: usize, width: usize) -> Vec<(i64, Object)> {
    contour::trace(mask, height, width)
        .into_iter()
        .map(|(value, mut polys)| {
            let geometry = if polys.len() == 1 {
                Geometry::Polygon(polys.remove(0))
            } else {
                Geometry::MultiPolygon(polys)
            };
            let mut o = Object::new(geometry);
            o.properties.insert(keys::LABEL.into(), Value::from(value));
            (value, o)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_rasterises_to_its_pixels() {
        let b = box_object([2.0, 1.0, 3.0, 2.0]);
        assert!(b.is_box());
        assert_eq!(b.annotation_type(), AnnotationType::BoundingBoxes);
        let rle = b.geometry.to_rle(5, 8).unwrap();
        assert_eq!(rle.area(), 6);
        assert_eq!(rle.bbox(), [2.0, 1.0, 3.0, 2.0]);
        assert_eq!(b.geometry.bounds(), Some([2.0, 1.0, 5.0, 3.0]));
    }

    #[test]
    fn traced_labels_become_objects() {
        #[rustfmt::skip]
        let m: Vec<i64> = vec![
            1, 1, 0, 2,
            1, 1, 0, 0,
            0, 0, 0, 2,
        ];
        let objs = objects_from_labels(&m, 3, 4);
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0].1.label(), Some(1));
        assert!(matches!(objs[1].1.geometry, Geometry::MultiPolygon(ref p) if p.len() == 2));
        assert_eq!(objs[1].1.geometry.to_rle(3, 4).unwrap().area(), 2);
    }

    #[test]
    fn class_round_trips() {
        let mut o = Object::new(Geometry::Point(Point::xy(1.0, 2.0)));
        assert_eq!(o.class(), None);
        o.set_class("nucleus", Some([255, 0, 0]));
        assert_eq!(o.class(), Some("nucleus"));
        assert_eq!(o.annotation_type(), AnnotationType::PointAnnotations);
        assert!(o.geometry.to_rle(4, 4).is_none());
    }
}
