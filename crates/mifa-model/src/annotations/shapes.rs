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

/// Validity problems of a polygon under the OGC rules, worded as geo's `Validation` words them
/// (self-intersecting or too short rings, non-finite coordinates, holes outside the exterior or
/// crossing each other). geo tests every pair of a ring's segments, which took 93 s on one ring
/// of 10⁵ vertices; here the ring test is a sweep in O(n log n) with the same verdicts.
pub fn polygon_problems(p: &Polygon) -> Vec<String> {
    use geo::algorithm::validation::{CoordIndex, InvalidPolygon, RingRole};
    let mut out = Vec::new();
    if p.exterior.is_empty() {
        return out;
    }
    for (i, ring) in std::iter::once(&p.exterior).chain(&p.holes).enumerate() {
        if ring.is_empty() {
            continue;
        }
        let role = || match i {
            0 => RingRole::Exterior,
            i => RingRole::Interior(i - 1),
        };
        let closed = closed_ring(ring);
        // geo counts the closed ring's points once consecutive repeats are dropped.
        let distinct = 1 + closed.windows(2).filter(|w| w[0] != w[1]).count();
        if distinct < 4 {
            out.push(InvalidPolygon::TooFewPointsInRing(role()).to_string());
        }
        let finite = closed.iter().all(|c| c[0].is_finite() && c[1].is_finite());
        // Non-finite coordinates have no order to sweep in; they are reported below.
        if finite && ring_self_intersects(&closed) {
            out.push(InvalidPolygon::SelfIntersection(role()).to_string());
        }
        for (k, c) in closed.iter().enumerate() {
            if !(c[0].is_finite() && c[1].is_finite()) {
                out.push(InvalidPolygon::NonFiniteCoord(role(), CoordIndex(k)).to_string());
            }
        }
    }
    out.extend(hole_problems(p));
    out
}

/// The ring as geo closes it: the first vertex repeated at the end unless it is there already.
fn closed_ring(ring: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut closed = ring.to_vec();
    if let (Some(&first), Some(&last)) = (ring.first(), ring.last()) {
        if first != last {
            closed.push(first);
        }
    }
    closed
}

/// geo's checks between rings: each hole inside the exterior, touching it or another hole at
/// points only, no two holes overlapping. These use geo's indexed relate, not pair loops.
fn hole_problems(p: &Polygon) -> Vec<String> {
    use geo::algorithm::validation::{InvalidPolygon, RingRole};
    use geo::coordinate_position::CoordPos;
    use geo::dimensions::Dimensions;
    use geo::{PreparedGeometry, Relate};
    let mut out = Vec::new();
    if p.holes.iter().all(Vec::is_empty) {
        return out;
    }
    let as_polygon = |r: &[[f64; 2]]| {
        geo::Polygon::new(
            geo::LineString::from(r.iter().map(|c| (c[0], c[1])).collect::<Vec<_>>()),
            vec![],
        )
    };
    let exterior = as_polygon(&p.exterior);
    let exterior = PreparedGeometry::from(&exterior);
    for (i, hole) in p.holes.iter().enumerate() {
        if hole.is_empty() {
            continue;
        }
        let hole_polygon = as_polygon(hole);
        let prepared = PreparedGeometry::from(&hole_polygon);
        let m = exterior.relate(&prepared);
        if !m.is_contains() {
            out.push(
                InvalidPolygon::InteriorRingNotContainedInExteriorRing(RingRole::Interior(i))
                    .to_string(),
            );
        }
        if m.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional {
            out.push(
                InvalidPolygon::IntersectingRingsOnALine(RingRole::Exterior, RingRole::Interior(i))
                    .to_string(),
            );
        }
        for (j, other) in p.holes.iter().enumerate().skip(i + 1) {
            if other.is_empty() {
                continue;
            }
            let m = prepared.relate(&as_polygon(other));
            let (a, b) = (RingRole::Interior(i), RingRole::Interior(j));
            if m.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional {
                out.push(InvalidPolygon::IntersectingRingsOnAnArea(a, b).to_string());
            }
            if m.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional {
                out.push(InvalidPolygon::IntersectingRingsOnALine(a, b).to_string());
            }
        }
    }
    out
}

/// Whether a closed ring (last vertex = first) of finite coordinates has two segments that
/// meet where geo's rule forbids: segments `a`, `b` are at fault when they intersect and
/// neither `a.end == b.start` nor `a.start == b.end`.
///
/// That rule comes down to two tests once repeated consecutive vertices are merged (a
/// zero-length segment is only ever excused, and whatever it touches its neighbours touch):
/// a vertex visited twice is a fault (two segments end there), and otherwise only segments
/// next to each other share an endpoint, so any other pair that meets is a fault. Two
/// neighbours that overlap (a spike) put a vertex on a segment that is not its neighbour, a
/// fault found by looking at each turn. What is left is Shamos and Hoey's sweep: segments ordered along a sweep line, each compared with
/// its neighbours when it is inserted and its neighbours with each other when it leaves; the
/// first meeting of two non-adjacent segments is found before the sweep passes it.
pub(crate) fn ring_self_intersects(closed: &[[f64; 2]]) -> bool {
    // Adding 0.0 turns -0.0 into 0.0, equal under == as geo compares, so they sort together.
    let mut v: Vec<[f64; 2]> = closed.iter().map(|c| [c[0] + 0.0, c[1] + 0.0]).collect();
    let doubled: Vec<[f64; 2]> = v
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    v.pop();
    v.dedup();
    while v.len() > 1 && v.first() == v.last() {
        v.pop();
    }
    if v.len() < 3 {
        return false;
    }
    if v.len() == 3 {
        // Every pair of a triangle's sides is adjacent; only a zero-length segment can be at
        // fault, lying on the opposite side of a flat triangle.
        return doubled.iter().any(|p| {
            let k = v.iter().position(|c| c == p).unwrap_or(0);
            let (a, b) = (v[(k + 1) % 3], v[(k + 2) % 3]);
            use geo::Intersects;
            geo::Line::new((a[0], a[1]), (b[0], b[1])).intersects(&geo::coord! { x: p[0], y: p[1] })
        });
    }
    let m = v.len();
    // A spike (a segment doubling back along the previous one) puts the vertex after it on
    // the previous segment, two segments away: a fault once the ring has four vertices.
    if m >= 4 && (0..m).any(|i| is_spike(v[i], v[(i + 1) % m], v[(i + 2) % m])) {
        return true;
    }
    let segments: Vec<Segment> = (0..m)
        .map(|i| {
            let (a, b) = (v[i], v[(i + 1) % m]);
            let (l, r) = if lex(&a, &b).is_le() { (a, b) } else { (b, a) };
            Segment { l, r, index: i }
        })
        .collect();
    // Insertions before removals at the same point, so that touching segments meet.
    let mut events: Vec<([f64; 2], bool, usize)> = segments
        .iter()
        .flat_map(|s| [(s.l, true, s.index), (s.r, false, s.index)])
        .collect();
    events.sort_unstable_by(|a, b| lex(&a.0, &b.0).then(b.1.cmp(&a.1)));
    // Each vertex ends two segments: more events at one point is a vertex visited twice.
    let mut run = 1;
    for w in events.windows(2) {
        run = if w[0].0 == w[1].0 { run + 1 } else { 1 };
        if run > 2 {
            return true;
        }
    }
    let adjacent = |i: usize, j: usize| (i + 1) % m == j || (j + 1) % m == i;
    let meet = |a: &Segment, b: &Segment| !adjacent(a.index, b.index) && a.intersects(b);
    let mut status = std::collections::BTreeSet::new();
    for (_, insert, i) in events {
        let s = segments[i];
        let below = status.range(..s).next_back().copied();
        let above = status
            .range((std::ops::Bound::Excluded(s), std::ops::Bound::Unbounded))
            .next()
            .copied();
        if insert {
            status.insert(s);
            if below.is_some_and(|b| meet(&b, &s)) || above.is_some_and(|a| meet(&a, &s)) {
                return true;
            }
        } else {
            // A segment that cannot be found again means the order broke, which only a
            // crossing does.
            if !status.remove(&s) {
                return true;
            }
            if let (Some(b), Some(a)) = (below, above) {
                if meet(&b, &a) {
                    return true;
                }
            }
        }
    }
    false
}

/// Whether `a → b → c` turns back on itself: collinear, with `a` and `c` on the same side of
/// `b` (compared coordinate by coordinate, so exactly).
fn is_spike(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> bool {
    let side = |p: [f64; 2]| [p[0].total_cmp(&b[0]), p[1].total_cmp(&b[1])];
    orient(a, b, c).is_eq() && side(a) == side(c)
}

fn lex(a: &[f64; 2], b: &[f64; 2]) -> std::cmp::Ordering {
    a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1]))
}

/// A ring segment from its lexicographically smaller endpoint `l` to `r`.
#[derive(Debug, Clone, Copy)]
struct Segment {
    l: [f64; 2],
    r: [f64; 2],
    index: usize,
}

fn orient(p: [f64; 2], q: [f64; 2], r: [f64; 2]) -> std::cmp::Ordering {
    use geo::kernels::{Kernel, Orientation, RobustKernel};
    let c = |a: [f64; 2]| geo::coord! { x: a[0], y: a[1] };
    match RobustKernel::orient2d(c(p), c(q), c(r)) {
        Orientation::CounterClockwise => std::cmp::Ordering::Greater,
        Orientation::Clockwise => std::cmp::Ordering::Less,
        Orientation::Collinear => std::cmp::Ordering::Equal,
    }
}

impl Segment {
    /// Whether the closed segments share a point (exact predicates).
    fn intersects(&self, o: &Segment) -> bool {
        use geo::Intersects;
        let line = |s: &Segment| geo::Line::new((s.l[0], s.l[1]), (s.r[0], s.r[1]));
        let (a, b) = (line(self), line(o));
        // geo's collinear case is not symmetric: ask both ways.
        a.intersects(&b) || b.intersects(&a)
    }

    /// Position along the sweep line relative to `o`, both crossing it: decided at the later
    /// left endpoint, then by the right endpoint, then (collinear) by index.
    fn order(&self, o: &Segment) -> std::cmp::Ordering {
        if self.index == o.index {
            return std::cmp::Ordering::Equal;
        }
        if lex(&self.l, &o.l).is_lt() {
            return o.order(self).reverse();
        }
        orient(o.l, o.r, self.l)
            .then_with(|| orient(o.l, o.r, self.r))
            .then(self.index.cmp(&o.index))
    }
}

impl PartialEq for Segment {
    fn eq(&self, o: &Segment) -> bool {
        self.index == o.index
    }
}

impl Eq for Segment {}

impl PartialOrd for Segment {
    fn partial_cmp(&self, o: &Segment) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Segment {
    fn cmp(&self, o: &Segment) -> std::cmp::Ordering {
        self.order(o)
    }
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

    /// The check this module replaces: geo's validation, which loops over every pair of
    /// segments of a ring. Kept here to compare verdicts.
    fn quadratic_problems(p: &Polygon) -> Vec<String> {
        use geo::Validation;
        let ring = |r: &Vec<[f64; 2]>| {
            geo::LineString::from(r.iter().map(|c| (c[0], c[1])).collect::<Vec<_>>())
        };
        geo::Polygon::new(ring(&p.exterior), p.holes.iter().map(ring).collect())
            .validation_errors()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    /// A comb: a zigzag top edge of `n` teeth over a flat base, a valid ring of `n + 3` vertices.
    fn zigzag(n: usize) -> Polygon {
        let mut exterior: Vec<[f64; 2]> = (0..=n).map(|i| [i as f64, (i % 2) as f64]).collect();
        exterior.extend([[n as f64, -10.0], [0.0, -10.0]]);
        Polygon {
            exterior,
            holes: vec![],
        }
    }

    #[test]
    fn ring_faults_are_named_as_geo_names_them() {
        let bow = Polygon {
            exterior: vec![[0.0, 0.0], [5.0, 5.0], [5.0, 0.0], [0.0, 5.0]],
            holes: vec![],
        };
        assert_eq!(
            polygon_problems(&bow),
            ["exterior ring has a self-intersection"]
        );
        let square = [[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]].to_vec();
        let p = Polygon {
            exterior: square.clone(),
            holes: vec![[[1.0, 1.0], [1.0, 2.0], [5.0, 2.0]].to_vec()],
        };
        assert_eq!(polygon_problems(&p), quadratic_problems(&p));
        assert!(!polygon_problems(&p).is_empty());
        let p = Polygon {
            exterior: vec![[0.0, 0.0], [f64::NAN, 1.0], [1.0, 1.0]],
            holes: vec![],
        };
        assert_eq!(
            polygon_problems(&p),
            ["exterior ring has a non-finite coordinate at index 1"]
        );
    }

    #[test]
    fn a_long_valid_ring_validates_quickly() {
        let p = zigzag(200_000);
        let t = std::time::Instant::now();
        assert_eq!(polygon_problems(&p), Vec::<String>::new());
        assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
        let mut bad = p.clone();
        bad.exterior[100_000][1] = -11.0;
        assert_eq!(
            polygon_problems(&bad),
            ["exterior ring has a self-intersection"]
        );
    }

    use proptest::prelude::*;

    fn ring_strategy(max: usize) -> impl Strategy<Value = Vec<[f64; 2]>> {
        proptest::collection::vec((0i8..5, 0i8..5), 0..max).prop_map(|v| {
            v.into_iter()
                .map(|(x, y)| [f64::from(x), f64::from(y)])
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn sweep_agrees_with_the_pairwise_check(
            exterior in ring_strategy(10),
            holes in proptest::collection::vec(ring_strategy(6), 0..2),
            scale in prop_oneof![Just(1.0), Just(0.1), Just(-1e-3)],
        ) {
            let scaled = |r: Vec<[f64; 2]>| r.into_iter().map(|c| [c[0] * scale, c[1] * scale]).collect();
            let p = Polygon { exterior: scaled(exterior), holes: holes.into_iter().map(scaled).collect() };
            prop_assert_eq!(polygon_problems(&p), quadratic_problems(&p), "{:?}", p);
        }
    }
}
