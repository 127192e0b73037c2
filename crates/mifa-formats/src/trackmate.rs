//! TrackMate XML (versions 3 to 8): spots with their features and ROI polygons, edges with
//! theirs, tracks and the filtered-track list, and the image calibration.
//!
//! Positions in the file are physical (`POSITION_X` = pixel index × `pixelwidth`, pixel centres
//! on integers, as ImgLib2); objects get pixel coordinates by dividing by the calibration of
//! `Settings/ImageData`, and keep every spot attribute (`POSITION_X` included) verbatim as a
//! feature. TrackMate's graph is undirected; links are oriented forward in time. Edges that go
//! round in a cycle in the direction the file lists them are refused (see [`closing_edge`]).

use crate::annotations::tracks::{Edge, Node, TrackGraph, TrackSet};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Errors reading TrackMate XML.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not a regular file, is over its cap or is not UTF-8.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// The XML is malformed or breaks a TrackMate rule.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u32,
        /// What is wrong, naming ids.
        message: String,
    },
}

/// One TrackMate track.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// `TRACK_ID`.
    pub id: i64,
    /// `name` (e.g. `Track_47`).
    pub name: String,
    /// Track features (`TRACK_DURATION`, …).
    pub features: Map<String, Value>,
    /// Whether it is in `FilteredTracks` (shown and exported by TrackMate).
    pub filtered: bool,
}

/// A TrackMate file read.
#[derive(Debug, Clone)]
pub struct Read {
    /// Spots and edges as objects and links.
    pub set: TrackSet,
    /// `TrackMate@version`.
    pub version: String,
    /// Pixel size in x, y, z used to convert positions (1 where the file gives none).
    pub pixel_size: [f64; 3],
    /// Frame interval (`ImageData@timeinterval`).
    pub time_interval: Option<f64>,
    /// Image file the tracking ran on (`ImageData@folder` + `filename`).
    pub image_file: Option<String>,
    /// Image size `(width, height, nslices, nframes)`.
    pub image_size: Option<[u64; 4]>,
    /// Tracks with their features.
    pub tracks: Vec<Track>,
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn attr_value(v: &str) -> Value {
    if let Ok(i) = v.parse::<i64>() {
        return Value::from(i);
    }
    match v.parse::<f64>() {
        // NaN and infinities have no JSON form: the feature is left out (missing).
        Ok(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Err(_) => Value::String(v.to_string()),
    }
}

/// The index of an edge that closes a directed cycle among `edges` (node indices below `n`),
/// found by an iterative depth-first search (a back edge is on a cycle).
///
/// TrackMate's graph is undirected and the reader orients every edge forward in time, so a
/// cycle is only visible in the direction the file lists the edges. TrackMate writes each edge
/// from the earlier spot to the later one: edges that go round in a circle as listed are a
/// hand edit or a corrupt file, not a lineage.
fn closing_edge(n: usize, edges: &[(usize, usize)]) -> Option<usize> {
    let mut out = vec![Vec::new(); n];
    for (k, &(s, t)) in edges.iter().enumerate() {
        out[s].push((t, k));
    }
    // 0: not seen, 1: on the current path, 2: done.
    let mut state = vec![0u8; n];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        state[start] = 1;
        stack.push((start, 0));
        while let Some((u, i)) = stack.last_mut() {
            let u = *u;
            let Some(&(v, k)) = out[u].get(*i) else {
                state[u] = 2;
                stack.pop();
                continue;
            };
            *i += 1;
            match state[v] {
                0 => {
                    state[v] = 1;
                    stack.push((v, 0));
                }
                1 => return Some(k),
                _ => {}
            }
        }
    }
    None
}

/// Reads a TrackMate XML file.
pub fn read(path: &Path) -> Result<Read, Error> {
    let max = crate::input::TextLimits::current().max_xml_bytes;
    let text = crate::input::read_text_capped(path, max, "TrackMate XML")?;
    let doc = roxmltree::Document::parse(&text).map_err(|e| Error::Invalid {
        path: path.to_path_buf(),
        line: e.pos().row,
        message: format!("not well-formed XML: {e}"),
    })?;
    let mut p = Parser::new(path, &doc)?;
    if let Some(all) = child(p.model, "AllSpots") {
        for frame in all.children().filter(|c| c.has_tag_name("SpotsInFrame")) {
            let t: i64 = frame
                .attribute("frame")
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| p.bad(frame, "<SpotsInFrame> without an integer frame".into()))?;
            for spot in frame.children().filter(|c| c.has_tag_name("Spot")) {
                p.spot(spot, t)?;
            }
        }
    }
    let filtered: HashSet<i64> = child(p.model, "FilteredTracks")
        .map(|f| {
            f.children()
                .filter(|c| c.has_tag_name("TrackID"))
                .filter_map(|c| c.attribute("TRACK_ID").and_then(|v| v.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    if let Some(all) = child(p.model, "AllTracks") {
        for tr in all.children().filter(|c| c.has_tag_name("Track")) {
            p.track(tr, &filtered)?;
        }
    }
    p.check_cycles()?;
    p.check_filtered(&filtered)?;
    Ok(p.finish())
}

type XmlNode<'a, 'i> = roxmltree::Node<'a, 'i>;

/// A positive, finite calibration value of `Settings/ImageData`.
fn calibration(image: Option<XmlNode>, key: &str) -> Option<f64> {
    image
        .and_then(|i| i.attribute(key))
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
}

/// The attributes of `n` but those in `skip`, as features (numbers where they parse).
fn attr_features(n: XmlNode, skip: [&str; 2]) -> Map<String, Value> {
    let mut features = Map::new();
    for a in n.attributes() {
        if !skip.contains(&a.name()) {
            let v = attr_value(a.value());
            if !v.is_null() {
                features.insert(a.name().to_string(), v);
            }
        }
    }
    features
}

/// The document being read and the graph read from it so far.
struct Parser<'a, 'i> {
    path: &'a Path,
    doc: &'a roxmltree::Document<'i>,
    root: XmlNode<'a, 'i>,
    model: XmlNode<'a, 'i>,
    image: Option<XmlNode<'a, 'i>>,
    pixel_size: [f64; 3],
    image_size: Option<[u64; 4]>,
    nodes: Vec<Node>,
    /// Spot id → index in `nodes`.
    at: HashMap<u64, usize>,
    edges: Vec<Edge>,
    edge_props: Vec<Map<String, Value>>,
    tracks: Vec<Track>,
    /// Edges kept, forward in time, to drop repeats.
    seen: HashSet<(u64, u64)>,
    /// Edges as the file lists them, SPOT_SOURCE_ID -> SPOT_TARGET_ID (spot indices).
    listed: Vec<(usize, usize, XmlNode<'a, 'i>)>,
}

impl<'a, 'i> Parser<'a, 'i> {
    /// Checks the root and reads the calibration.
    fn new(path: &'a Path, doc: &'a roxmltree::Document<'i>) -> Result<Self, Error> {
        let root = doc.root_element();
        let bad = |n: XmlNode, message: String| Error::Invalid {
            path: path.to_path_buf(),
            line: doc.text_pos_at(n.range().start).row,
            message,
        };
        if root.tag_name().name() != "TrackMate" {
            return Err(bad(
                root,
                format!(
                    "the root element is <{}>, not <TrackMate>",
                    root.tag_name().name()
                ),
            ));
        }
        let model = child(root, "Model").ok_or_else(|| bad(root, "no <Model> element".into()))?;
        let image = child(root, "Settings").and_then(|s| child(s, "ImageData"));
        let pixel_size = [
            calibration(image, "pixelwidth").unwrap_or(1.0),
            calibration(image, "pixelheight").unwrap_or(1.0),
            calibration(image, "voxeldepth").unwrap_or(1.0),
        ];
        let dims = |key: &str| {
            image
                .and_then(|i| i.attribute(key))
                .and_then(|v| v.parse::<u64>().ok())
        };
        let image_size = match (
            dims("width"),
            dims("height"),
            dims("nslices"),
            dims("nframes"),
        ) {
            (Some(w), Some(h), Some(z), Some(t)) => Some([w, h, z, t]),
            _ => None,
        };
        Ok(Parser {
            path,
            doc,
            root,
            model,
            image,
            pixel_size,
            image_size,
            nodes: Vec::new(),
            at: HashMap::new(),
            edges: Vec::new(),
            edge_props: Vec::new(),
            tracks: Vec::new(),
            seen: HashSet::new(),
            listed: Vec::new(),
        })
    }

    fn bad(&self, n: XmlNode, message: String) -> Error {
        Error::Invalid {
            path: self.path.to_path_buf(),
            line: self.doc.text_pos_at(n.range().start).row,
            message,
        }
    }

    /// Adds one `<Spot>` of frame `t`, in pixel coordinates.
    fn spot(&mut self, spot: XmlNode, t: i64) -> Result<(), Error> {
        let id: u64 = spot
            .attribute("ID")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                self.bad(
                    spot,
                    format!(
                        "a spot with ID {:?}; expected a non-negative integer",
                        spot.attribute("ID")
                    ),
                )
            })?;
        let props = self.spot_props(spot, id)?;
        let pos = |k: &str| -> Result<f64, Error> {
            spot.attribute(k)
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| self.bad(spot, format!("spot {id} has no number {k}")))
        };
        let three_d = self.image_size.is_some_and(|s| s[2] > 1);
        let x = pos("POSITION_X")? / self.pixel_size[0];
        let y = pos("POSITION_Y")? / self.pixel_size[1];
        let z = if three_d {
            Some(pos("POSITION_Z")? / self.pixel_size[2])
        } else {
            None
        };
        if self.at.insert(id, self.nodes.len()).is_some() {
            return Err(self.bad(spot, format!("spot ID {id} is used twice")));
        }
        let node = Node {
            id,
            t,
            x,
            y,
            z,
            label: None,
            props,
        };
        if let Some(p) = node.placement_problem() {
            return Err(self.bad(spot, format!("spot {id}: {p}")));
        }
        self.nodes.push(node);
        Ok(())
    }

    /// A spot's attributes as features (its name when not the default), with its ROI polygon.
    fn spot_props(&self, spot: XmlNode, id: u64) -> Result<Map<String, Value>, Error> {
        let mut props = Map::new();
        let mut n_roi = 0usize;
        for a in spot.attributes() {
            match a.name() {
                "ID" => {}
                "ROI_N_POINTS" => n_roi = a.value().parse().unwrap_or(0),
                "name" => {
                    if a.value() != format!("ID{id}") {
                        props.insert("name".into(), Value::String(a.value().into()));
                    }
                }
                k => {
                    let v = attr_value(a.value());
                    if !v.is_null() {
                        props.insert(k.to_string(), v);
                    }
                }
            }
        }
        if n_roi > 2 {
            let coords: Vec<f64> = spot
                .text()
                .unwrap_or("")
                .split_whitespace()
                .map(|v| v.parse::<f64>())
                .collect::<Result<_, _>>()
                .map_err(|_| self.bad(spot, format!("spot {id}: its ROI holds a non-number")))?;
            if coords.len() != 2 * n_roi {
                return Err(self.bad(
                    spot,
                    format!(
                        "spot {id}: ROI_N_POINTS is {n_roi} but the ROI holds {} numbers",
                        coords.len()
                    ),
                ));
            }
            let pts: Vec<Value> = coords
                .chunks(2)
                .map(|p| serde_json::json!([p[0], p[1]]))
                .collect();
            props.insert("ROI".into(), Value::Array(pts));
        }
        Ok(props)
    }

    /// Adds one `<Track>` and its edges.
    fn track(&mut self, tr: XmlNode<'a, 'i>, filtered: &HashSet<i64>) -> Result<(), Error> {
        let tid: i64 = tr
            .attribute("TRACK_ID")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| self.bad(tr, "a <Track> without an integer TRACK_ID".into()))?;
        self.tracks.push(Track {
            id: tid,
            name: tr.attribute("name").unwrap_or("").to_string(),
            features: attr_features(tr, ["name", "TRACK_ID"]),
            filtered: filtered.contains(&tid),
        });
        for e in tr.children().filter(|c| c.has_tag_name("Edge")) {
            self.edge(e, tid)?;
        }
        Ok(())
    }

    /// Adds one `<Edge>` of track `tid`, forward in time, unless its pair is linked already.
    fn edge(&mut self, e: XmlNode<'a, 'i>, tid: i64) -> Result<(), Error> {
        let end = |k: &str| -> Result<u64, Error> {
            let v = e
                .attribute(k)
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| {
                    self.bad(e, format!("an edge of track {tid} without an integer {k}"))
                })?;
            if !self.at.contains_key(&v) {
                return Err(self.bad(
                    e,
                    format!(
                        "an edge of track {tid} names {k} {v}, which is not a spot in AllSpots"
                    ),
                ));
            }
            Ok(v)
        };
        let (mut s, mut t) = (end("SPOT_SOURCE_ID")?, end("SPOT_TARGET_ID")?);
        if s == t {
            return Err(self.bad(
                e,
                format!("an edge of track {tid} links spot {s} to itself"),
            ));
        }
        let written = (self.at[&s], self.at[&t], e);
        if self.nodes[self.at[&s]].t > self.nodes[self.at[&t]].t {
            std::mem::swap(&mut s, &mut t);
        }
        if !self.seen.insert((s, t)) {
            return Ok(()); // undirected simple graph: one edge per pair
        }
        self.listed.push(written);
        let mut m = attr_features(e, ["SPOT_SOURCE_ID", "SPOT_TARGET_ID"]);
        m.insert("TRACK_ID".into(), Value::from(tid));
        self.edges.push(Edge {
            source: s,
            target: t,
        });
        self.edge_props.push(m);
        Ok(())
    }

    /// Refuses edges that close a cycle in the direction the file lists them.
    fn check_cycles(&self) -> Result<(), Error> {
        let nodes = &self.nodes;
        let pairs: Vec<(usize, usize)> = self.listed.iter().map(|&(s, t, _)| (s, t)).collect();
        if let Some(k) = closing_edge(nodes.len(), &pairs) {
            let (s, t, e) = self.listed[k];
            return Err(self.bad(
                e,
                format!(
                    "the edge from spot {} (frame {}) to spot {} (frame {}) closes a cycle of \
                     edges as listed (SPOT_SOURCE_ID -> SPOT_TARGET_ID); TrackMate lists each edge \
                     from the earlier spot to the later one",
                    nodes[s].id, nodes[s].t, nodes[t].id, nodes[t].t
                ),
            ));
        }
        Ok(())
    }

    /// Every filtered track id must name a track.
    fn check_filtered(&self, filtered: &HashSet<i64>) -> Result<(), Error> {
        for id in filtered {
            if !self.tracks.iter().any(|t| t.id == *id) {
                let f = child(self.model, "FilteredTracks").expect("filtered ids come from it");
                return Err(self.bad(
                    f,
                    format!("FilteredTracks names TRACK_ID {id}, which is not in AllTracks"),
                ));
            }
        }
        Ok(())
    }

    /// The result; spots keep the id of their track, so the grouping survives without the XML.
    fn finish(mut self) -> Read {
        let mut spot_track: HashMap<u64, i64> = HashMap::new();
        for (e, m) in self.edges.iter().zip(&self.edge_props) {
            let tid = m["TRACK_ID"].as_i64().expect("set above");
            spot_track.insert(e.source, tid);
            spot_track.insert(e.target, tid);
        }
        for n in &mut self.nodes {
            if let Some(t) = spot_track.get(&n.id) {
                n.props.insert("TRACK_ID".into(), Value::from(*t));
            }
        }
        let version = self.root.attribute("version").unwrap_or("").to_string();
        let image_file = self.image.and_then(|i| {
            let f = i.attribute("filename").filter(|f| !f.is_empty())?;
            Some(format!("{}{}", i.attribute("folder").unwrap_or(""), f))
        });
        Read {
            set: TrackSet {
                graph: TrackGraph {
                    nodes: self.nodes,
                    edges: self.edges,
                },
                edge_props: self.edge_props,
                links: Vec::new(),
                tracks: Vec::new(),
                space_unit: self.model.attribute("spatialunits").map(str::to_string),
                time_unit: self.model.attribute("timeunits").map(str::to_string),
            },
            version,
            pixel_size: self.pixel_size,
            time_interval: calibration(self.image, "timeinterval"),
            image_file,
            image_size: self.image_size,
            tracks: self.tracks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(spot: &str) -> String {
        format!(
            r#"<TrackMate version="7.0"><Model><AllSpots>
<SpotsInFrame frame="0"><Spot ID="1" POSITION_X="1" POSITION_Y="2" /></SpotsInFrame>
<SpotsInFrame frame="{spot}</SpotsInFrame>
</AllSpots></Model></TrackMate>"#
        )
    }

    #[test]
    fn unplaceable_spots_are_refused_with_their_id() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.xml");
        std::fs::write(
            &p,
            xml(r#"1"><Spot ID="7" POSITION_X="3" POSITION_Y="2" />"#),
        )
        .unwrap();
        assert_eq!(read(&p).unwrap().set.graph.nodes.len(), 2);
        for (spot, want) in [
            (
                r#"1"><Spot ID="7" POSITION_X="NaN" POSITION_Y="2" />"#,
                "spot 7: x is NaN, not a finite number",
            ),
            (
                r#"1"><Spot ID="7" POSITION_X="1" POSITION_Y="-Infinity" />"#,
                "spot 7: y is -inf, not a finite number",
            ),
            (
                r#"-2"><Spot ID="7" POSITION_X="1" POSITION_Y="2" />"#,
                "spot 7: frame -2 is negative",
            ),
        ] {
            std::fs::write(&p, xml(spot)).unwrap();
            let e = read(&p).unwrap_err().to_string();
            assert_eq!(e, format!("{}:3: {want}", p.display()));
        }
    }

    #[test]
    fn cycles_of_edges_as_listed_are_found() {
        assert_eq!(closing_edge(3, &[(0, 1), (1, 2)]), None);
        // A split and a merge (a diamond) is no cycle.
        assert_eq!(closing_edge(4, &[(0, 1), (0, 2), (1, 3), (2, 3)]), None);
        assert_eq!(closing_edge(3, &[(0, 1), (1, 2), (2, 0)]), Some(2));
        assert_eq!(closing_edge(4, &[(3, 3)]), Some(0));
    }

    #[test]
    fn devices_are_refused() {
        let e = read(Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(e, Error::Input(_)), "{e}");
    }
}
