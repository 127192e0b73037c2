//! CMSO biotracks: a Frictionless tabular data package (`datapackage.json`, or biotracks'
//! `dp.json`) with an objects table, a links table and an optional tracks table.
//!
//! Reading maps columns by header name (tools order them differently), accepts integral floats
//! as ids and frames (biotracks infers types from five rows), CRLF or LF, and a tracks table
//! that is a resource or only a `tracks.csv` beside the others (as biotracks writes it). Links
//! become graph edges by sorting each link's objects by frame and joining neighbours; objects
//! repeated in several links (mothers at divisions) count once.
//!
//! Writing satisfies both the biotracks validator and frictionless: string `primaryKey` with a
//! `unique` constraint, exactly one foreign key in the links table, a lowercase package name.
//! mifa adds a fourth resource, `mifa_edges_table` (`edges.csv`), that lists every link with
//! its features, so graphs that links cannot carry (features per link) survive.

use crate::annotations::tracks::{Edge, Node, TrackGraph, TrackSet};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Objects table.
pub const OBJECTS: &str = "cmso_objects_table";
/// Links table.
pub const LINKS: &str = "cmso_links_table";
/// Tracks table.
pub const TRACKS: &str = "cmso_tracks_table";
/// mifa's table of links between objects, with their features.
pub const EDGES: &str = "mifa_edges_table";
/// Column of objects holding the object's value in the label mask.
pub const LABEL_COLUMN: &str = "mifa_label";

const OBJECT_ID: &str = "cmso_object_id";
const FRAME: &str = "cmso_frame_id";
const X: &str = "cmso_x_coord";
const Y: &str = "cmso_y_coord";
const Z: &str = "cmso_z_coord";
const LINK_ID: &str = "cmso_link_id";
const TRACK_ID: &str = "cmso_track_id";
const SOURCE: &str = "mifa_source_id";
const TARGET: &str = "mifa_target_id";

/// Errors reading or writing a biotracks package.
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
    /// The descriptor is not usable.
    #[error("{path}: {key}: {message}")]
    Descriptor {
        /// The descriptor.
        path: PathBuf,
        /// Where in it.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A table row is unusable.
    #[error("{path}:{line}: {message}")]
    Row {
        /// The CSV file.
        path: PathBuf,
        /// 1-based line (the header is line 1).
        line: u64,
        /// What is wrong, naming the column and value.
        message: String,
    },
    /// The tables disagree with each other (ids that are not there, …).
    #[error("{path}: {message}")]
    Invalid {
        /// The package.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A biotracks package read: the tracks, plus the descriptor's top-level keys (name, title,
/// units, authors, and mifa's own `mifa` block) kept verbatim.
#[derive(Debug, Clone)]
pub struct Read {
    /// The descriptor file.
    pub descriptor: PathBuf,
    /// Objects, links and their grouping.
    pub set: TrackSet,
    /// Top-level descriptor keys other than `resources`.
    pub meta: Map<String, Value>,
}

/// Finds the descriptor in `path` (a folder, or the descriptor itself).
pub fn descriptor_path(path: &Path) -> Result<PathBuf, Error> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    for name in ["datapackage.json", "dp.json"] {
        if path.join(name).is_file() {
            return Ok(path.join(name));
        }
    }
    // biotracks writes its package into `dp/` (or `output/dp/`) beside its configuration:
    // look two levels down for exactly one descriptor.
    let mut found = Vec::new();
    let mut dirs = vec![(path.to_path_buf(), 0)];
    while let Some((d, depth)) = dirs.pop() {
        for name in ["datapackage.json", "dp.json"] {
            let p = d.join(name);
            if p.is_file() {
                found.push(p);
            }
        }
        if depth < 2 {
            if let Ok(rd) = std::fs::read_dir(&d) {
                dirs.extend(
                    rd.flatten()
                        .map(|e| e.path())
                        .filter(|p| p.is_dir())
                        .map(|p| (p, depth + 1)),
                );
            }
        }
    }
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::Invalid {
            path: path.to_path_buf(),
            message: "no datapackage.json or dp.json (a CMSO biotracks package) in it or two folders down".into(),
        }),
        _ => Err(Error::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "{} descriptors ({}); name the one to read",
                found.len(),
                found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum FieldType {
    Integer,
    Number,
    Boolean,
    Json,
    Text,
}

struct Table {
    path: PathBuf,
    types: HashMap<String, FieldType>,
}

/// Reads a biotracks package: a folder holding `datapackage.json`/`dp.json`, or the descriptor.
pub fn read(path: &Path) -> Result<Read, Error> {
    let descriptor = descriptor_path(path)?;
    let dir = descriptor.parent().unwrap_or(Path::new(".")).to_path_buf();
    let max = crate::input::TextLimits::current().max_table_bytes;
    let text = crate::input::read_text_capped(&descriptor, max, "a datapackage descriptor")?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| Error::Descriptor {
        path: descriptor.clone(),
        key: format!("line {} column {}", e.line(), e.column()),
        message: e.to_string(),
    })?;
    let bad = |key: String, message: String| Error::Descriptor {
        path: descriptor.clone(),
        key,
        message,
    };
    let Some(obj) = doc.as_object() else {
        return Err(bad("(root)".into(), "not a JSON object".into()));
    };
    let resources = obj
        .get("resources")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("resources".into(), "missing or not a list".into()))?;
    let mut tables: HashMap<String, Table> = HashMap::new();
    for (i, r) in resources.iter().enumerate() {
        let key = format!("resources[{i}]");
        let name = r.get("name").and_then(Value::as_str).unwrap_or("");
        let rel = match r.get("path") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
                a[0].as_str().unwrap_or("").to_string()
            }
            other => {
                return Err(bad(
                    format!("{key}.path"),
                    format!("{other:?}; expected one relative file path"),
                ))
            }
        };
        if rel.starts_with('/') || rel.split(['/', '\\']).any(|c| c == "..") || rel.contains("://")
        {
            return Err(bad(
                format!("{key}.path"),
                format!("{rel:?} leaves the package; resource paths are relative, without '..'"),
            ));
        }
        let mut types = HashMap::new();
        if let Some(fields) = r.pointer("/schema/fields").and_then(Value::as_array) {
            for f in fields {
                let (Some(n), t) = (f.get("name").and_then(Value::as_str), f.get("type")) else {
                    continue;
                };
                let t = match t.and_then(Value::as_str).unwrap_or("string") {
                    "integer" => FieldType::Integer,
                    "number" => FieldType::Number,
                    "boolean" => FieldType::Boolean,
                    "array" | "object" | "geojson" => FieldType::Json,
                    _ => FieldType::Text,
                };
                types.insert(n.to_string(), t);
            }
        }
        tables.insert(
            name.to_string(),
            Table {
                path: dir.join(rel),
                types,
            },
        );
    }
    let objects = tables.remove(OBJECTS).ok_or_else(|| {
        bad(
            "resources".into(),
            format!("no resource named {OBJECTS:?} (the CMSO objects table)"),
        )
    })?;
    let links = tables.remove(LINKS).ok_or_else(|| {
        bad(
            "resources".into(),
            format!("no resource named {LINKS:?} (the CMSO links table)"),
        )
    })?;
    // biotracks writes tracks.csv without listing it as a resource.
    let tracks = tables.remove(TRACKS).or_else(|| {
        let p = dir.join("tracks.csv");
        p.is_file().then(|| Table {
            path: p,
            types: HashMap::new(),
        })
    });
    let edges = tables.remove(EDGES);

    let nodes = read_objects(&objects)?;
    let link_rows = read_pairs(&links, LINK_ID, OBJECT_ID)?;
    let track_rows = match &tracks {
        Some(t) => read_pairs(t, TRACK_ID, LINK_ID)?,
        None => Vec::new(),
    };
    // Rows map one to one to lines (header on line 1).
    let ids: std::collections::HashSet<u64> = nodes.iter().map(|n| n.id).collect();
    if let Some(i) = link_rows.iter().position(|(_, o)| !ids.contains(o)) {
        let (link, o) = link_rows[i];
        return Err(row_err(
            &links.path,
            i as u64 + 2,
            format!("link {link} names object {o}, which is not in the objects table"),
        ));
    }
    let (edge_list, edge_props) = match &edges {
        Some(t) => read_edges(t)?,
        None => {
            let e = TrackSet::edges_from_links(&nodes, &link_rows).map_err(|message| {
                Error::Invalid {
                    path: links.path.clone(),
                    message,
                }
            })?;
            (e, Vec::new())
        }
    };
    let linked: std::collections::HashSet<u64> = link_rows.iter().map(|l| l.0).collect();
    if let Some((track, link)) = track_rows.iter().find(|(_, l)| !linked.contains(l)) {
        return Err(Error::Invalid {
            path: tracks.map(|t| t.path).unwrap_or(dir),
            message: format!("track {track} names link {link}, which is not in the links table"),
        });
    }
    let meta: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| k.as_str() != "resources")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let set = TrackSet {
        graph: TrackGraph {
            nodes,
            edges: edge_list,
        },
        edge_props,
        links: link_rows,
        tracks: track_rows,
        space_unit: meta
            .get("cmso_space_unit")
            .and_then(Value::as_str)
            .map(str::to_string),
        time_unit: meta
            .get("cmso_time_unit")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    Ok(Read {
        descriptor,
        set,
        meta,
    })
}

fn open_csv(table: &Table) -> Result<csv::Reader<std::fs::File>, Error> {
    // Streamed, so only the file's type is checked: a device or FIFO would never end.
    let f = crate::input::open_regular(&table.path)?;
    Ok(csv::ReaderBuilder::new().flexible(false).from_reader(f))
}

fn row_err(path: &Path, line: u64, message: String) -> Error {
    Error::Row {
        path: path.to_path_buf(),
        line,
        message,
    }
}

fn headers(rdr: &mut csv::Reader<std::fs::File>, path: &Path) -> Result<Vec<String>, Error> {
    Ok(rdr
        .headers()
        .map_err(|e| row_err(path, 1, e.to_string()))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect())
}

fn column(headers: &[String], name: &str, path: &Path) -> Result<usize, Error> {
    headers.iter().position(|h| h == name).ok_or_else(|| {
        row_err(
            path,
            1,
            format!("no column {name:?} (columns: {})", headers.join(", ")),
        )
    })
}

/// An id or frame: an integer, or a float with no fractional part (biotracks declares
/// `number` for frames when it inferred them from `0.0`, `1.0`, …).
fn integer(cell: &str) -> Option<i64> {
    let c = cell.trim();
    c.parse::<i64>().ok().or_else(|| {
        c.parse::<f64>()
            .ok()
            .filter(|v| v.fract() == 0.0 && v.abs() < 9.0e15)
            .map(|v| v as i64)
    })
}

fn parse_id(cell: &str, col: &str, path: &Path, line: u64) -> Result<u64, Error> {
    integer(cell)
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| {
            row_err(
                path,
                line,
                format!("{col} is {cell:?}; expected a non-negative integer id"),
            )
        })
}

fn number(cell: &str, col: &str, path: &Path, line: u64) -> Result<f64, Error> {
    cell.trim()
        .parse::<f64>()
        .map_err(|_| row_err(path, line, format!("{col} is {cell:?}; expected a number")))
}

/// A cell as a JSON value by its declared type; empty cells are missing (`None`).
fn typed(cell: &str, t: Option<FieldType>) -> Option<Value> {
    let c = cell.trim();
    if c.is_empty() {
        return None;
    }
    let guess = |c: &str| {
        c.parse::<i64>()
            .map(Value::from)
            .ok()
            .or_else(|| {
                c.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
            })
            .unwrap_or_else(|| Value::String(c.to_string()))
    };
    Some(match t {
        Some(FieldType::Integer) => c
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| guess(c)),
        Some(FieldType::Number) => guess(c),
        Some(FieldType::Boolean) => match c.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Value::Bool(true),
            "false" | "0" | "no" => Value::Bool(false),
            _ => Value::String(c.to_string()),
        },
        Some(FieldType::Json) => {
            serde_json::from_str(c).unwrap_or_else(|_| Value::String(c.to_string()))
        }
        Some(FieldType::Text) => Value::String(cell.to_string()),
        None => guess(c),
    })
}

fn read_objects(table: &Table) -> Result<Vec<Node>, Error> {
    let path = &table.path;
    let mut rdr = open_csv(table)?;
    let h = headers(&mut rdr, path)?;
    let (ci, cf, cx, cy) = (
        column(&h, OBJECT_ID, path)?,
        column(&h, FRAME, path)?,
        column(&h, X, path)?,
        column(&h, Y, path)?,
    );
    let cz = h.iter().position(|c| c == Z);
    let cl = h.iter().position(|c| c == LABEL_COLUMN);
    let extra: Vec<(usize, &String)> = h
        .iter()
        .enumerate()
        .filter(|(i, _)| ![Some(ci), Some(cf), Some(cx), Some(cy), cz, cl].contains(&Some(*i)))
        .collect();
    let mut nodes = Vec::new();
    let mut seen: HashMap<u64, u64> = HashMap::new();
    for (k, rec) in rdr.records().enumerate() {
        let line = k as u64 + 2;
        let rec = rec.map_err(|e| row_err(path, line, e.to_string()))?;
        let id = parse_id(&rec[ci], OBJECT_ID, path, line)?;
        if let Some(first) = seen.insert(id, line) {
            return Err(row_err(
                path,
                line,
                format!("object {id} is already on line {first}; object ids are unique"),
            ));
        }
        let t = integer(&rec[cf]).ok_or_else(|| {
            row_err(
                path,
                line,
                format!("{FRAME} is {:?}; expected an integer frame", &rec[cf]),
            )
        })?;
        let z = match cz.map(|c| rec[c].trim()) {
            None | Some("") => None,
            Some(v) => Some(number(v, Z, path, line)?),
        };
        let label = match cl.map(|c| rec[c].trim()) {
            None | Some("") => None,
            Some(v) => Some(parse_id(v, LABEL_COLUMN, path, line)?),
        };
        let mut props = Map::new();
        for &(c, name) in &extra {
            if let Some(v) = typed(&rec[c], table.types.get(name).copied()) {
                props.insert(name.clone(), v);
            }
        }
        let node = Node {
            id,
            t,
            x: number(&rec[cx], X, path, line)?,
            y: number(&rec[cy], Y, path, line)?,
            z,
            label,
            props,
        };
        if let Some(p) = node.placement_problem() {
            return Err(row_err(path, line, format!("object {id}: {p}")));
        }
        nodes.push(node);
    }
    Ok(nodes)
}

fn read_pairs(table: &Table, a: &str, b: &str) -> Result<Vec<(u64, u64)>, Error> {
    let path = &table.path;
    let mut rdr = open_csv(table)?;
    let h = headers(&mut rdr, path)?;
    let (ca, cb) = (column(&h, a, path)?, column(&h, b, path)?);
    let mut out = Vec::new();
    for (k, rec) in rdr.records().enumerate() {
        let line = k as u64 + 2;
        let rec = rec.map_err(|e| row_err(path, line, e.to_string()))?;
        out.push((
            parse_id(&rec[ca], a, path, line)?,
            parse_id(&rec[cb], b, path, line)?,
        ));
    }
    Ok(out)
}

type Edges = (Vec<Edge>, Vec<Map<String, Value>>);

fn read_edges(table: &Table) -> Result<Edges, Error> {
    let path = &table.path;
    let mut rdr = open_csv(table)?;
    let h = headers(&mut rdr, path)?;
    let (cs, ct) = (column(&h, SOURCE, path)?, column(&h, TARGET, path)?);
    let extra: Vec<(usize, &String)> = h
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != cs && *i != ct)
        .collect();
    let (mut edges, mut props) = (Vec::new(), Vec::new());
    for (k, rec) in rdr.records().enumerate() {
        let line = k as u64 + 2;
        let rec = rec.map_err(|e| row_err(path, line, e.to_string()))?;
        edges.push(Edge {
            source: parse_id(&rec[cs], SOURCE, path, line)?,
            target: parse_id(&rec[ct], TARGET, path, line)?,
        });
        let mut m = Map::new();
        for &(c, name) in &extra {
            if let Some(v) = typed(&rec[c], table.types.get(name).copied()) {
                m.insert(name.clone(), v);
            }
        }
        props.push(m);
    }
    if props.iter().all(Map::is_empty) {
        props.clear();
    }
    Ok((edges, props))
}

/// What to put in the descriptor besides the tables.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Package name (made lowercase and stripped to `[a-z0-9._-]`).
    pub name: String,
    /// Top-level keys to add (title, units, `mifa`, …); `name` and `resources` are ours.
    pub meta: Map<String, Value>,
    /// Write mifa's edges table (the package store); off for a plain CMSO export.
    pub edges_table: bool,
}

/// A column: name, Table Schema type, and description.
struct Col {
    name: String,
    kind: &'static str,
}

/// The Table Schema type that holds every value of a column.
fn column_type<'a>(values: impl Iterator<Item = &'a Value>) -> &'static str {
    let mut kind: Option<&'static str> = None;
    for v in values {
        let k = match v {
            Value::Null => continue,
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        kind = Some(match (kind, k) {
            (None, k) => k,
            (Some(a), b) if a == b => a,
            (Some("integer"), "number") | (Some("number"), "integer") => "number",
            _ => "string",
        });
    }
    kind.unwrap_or("string")
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => other.to_string(),
    }
}

fn field(c: &Col, description: &str) -> Value {
    json!({"name": c.name, "type": c.kind, "format": "default", "title": "", "description": description})
}

/// Columns of free features in first-seen order, with their types.
fn prop_columns<'a>(maps: impl Iterator<Item = &'a Map<String, Value>> + Clone) -> Vec<Col> {
    let mut names: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for m in maps.clone() {
        for k in m.keys() {
            if seen.insert(k.clone()) {
                names.push(k.clone());
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let kind = column_type(maps.clone().filter_map(|m| m.get(&name)));
            Col { name, kind }
        })
        .collect()
}

fn write_csv(
    path: &Path,
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<(), Error> {
    let f = std::fs::File::create(path).map_err(io(path))?;
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(std::io::BufWriter::new(f));
    let csv_err = |e: csv::Error| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    };
    w.write_record(header).map_err(csv_err)?;
    for r in rows {
        w.write_record(&r).map_err(csv_err)?;
    }
    let inner = w.into_inner().map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let f = inner.into_inner().map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e.into_error(),
    })?;
    f.sync_all().map_err(io(path))
}

/// Lowercase, `[a-z0-9._-]` only: the package name both validators accept.
pub fn package_name(s: &str) -> String {
    let n: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if n.is_empty() {
        "tracks".into()
    } else {
        n
    }
}

/// Writes `set` as a biotracks package into the folder `dir` (created; files in it are
/// replaced). Callers that need atomicity write into a temporary folder and rename it.
pub fn write(dir: &Path, set: &TrackSet, opts: &WriteOptions) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let g = &set.graph;
    let has_z = g.nodes.iter().any(|n| n.z.is_some());
    let has_label = g.nodes.iter().any(|n| n.label.is_some());
    let reserved = [OBJECT_ID, FRAME, X, Y, Z, LABEL_COLUMN];
    let props = prop_columns(g.nodes.iter().map(|n| &n.props));
    if let Some(c) = props.iter().find(|c| reserved.contains(&c.name.as_str())) {
        return Err(Error::Invalid {
            path: dir.to_path_buf(),
            message: format!(
                "an object feature is named {:?}, a reserved CMSO column",
                c.name
            ),
        });
    }
    let mut cols = vec![
        (
            Col {
                name: OBJECT_ID.into(),
                kind: "integer",
            },
            "object id, unique",
        ),
        (
            Col {
                name: FRAME.into(),
                kind: "integer",
            },
            "frame index, 0-based",
        ),
        (
            Col {
                name: X.into(),
                kind: "number",
            },
            "x (column), pixels; pixel centres on integers",
        ),
        (
            Col {
                name: Y.into(),
                kind: "number",
            },
            "y (row), pixels; pixel centres on integers",
        ),
    ];
    if has_z {
        cols.push((
            Col {
                name: Z.into(),
                kind: "number",
            },
            "z (plane), pixels",
        ));
    }
    if has_label {
        cols.push((
            Col {
                name: LABEL_COLUMN.into(),
                kind: "integer",
            },
            "value of this object in the frame's label mask",
        ));
    }
    let header: Vec<&str> = cols
        .iter()
        .map(|(c, _)| c.name.as_str())
        .chain(props.iter().map(|c| c.name.as_str()))
        .collect();
    let objects_path = dir.join("objects.csv");
    write_csv(
        &objects_path,
        &header,
        g.nodes.iter().map(|n| {
            let mut r = vec![n.id.to_string(), n.t.to_string(), fmt(n.x), fmt(n.y)];
            if has_z {
                r.push(n.z.map(fmt).unwrap_or_default());
            }
            if has_label {
                r.push(n.label.map(|l| l.to_string()).unwrap_or_default());
            }
            r.extend(props.iter().map(|c| cell(n.props.get(&c.name))));
            r
        }),
    )?;
    let (links, tracks) = set.cmso_links();
    write_csv(
        &dir.join("links.csv"),
        &[LINK_ID, OBJECT_ID],
        links
            .iter()
            .map(|(l, o)| vec![l.to_string(), o.to_string()]),
    )?;
    write_csv(
        &dir.join("tracks.csv"),
        &[TRACK_ID, LINK_ID],
        tracks
            .iter()
            .map(|(t, l)| vec![t.to_string(), l.to_string()]),
    )?;
    let mut object_fields: Vec<Value> = cols.iter().map(|(c, d)| field(c, d)).collect();
    // The primary key, unique (biotracks checks for the constraint).
    object_fields[0]["constraints"] = json!({"unique": true});
    object_fields.extend(props.iter().map(|c| field(c, "")));
    let int = |name: &str, d: &str| {
        field(
            &Col {
                name: name.into(),
                kind: "integer",
            },
            d,
        )
    };
    let mut resources = vec![
        json!({"name": OBJECTS, "path": "objects.csv", "profile": "tabular-data-resource",
               "schema": {"fields": object_fields, "primaryKey": OBJECT_ID}}),
        json!({"name": LINKS, "path": "links.csv", "profile": "tabular-data-resource",
               "schema": {"fields": [int(LINK_ID, "link id"), int(OBJECT_ID, "an object of the link")],
                          "foreignKeys": [{"fields": OBJECT_ID,
                                           "reference": {"datapackage": "", "resource": OBJECTS, "fields": OBJECT_ID}}]}}),
        json!({"name": TRACKS, "path": "tracks.csv", "profile": "tabular-data-resource",
               "schema": {"fields": [int(TRACK_ID, "track id"), int(LINK_ID, "a link of the track")]}}),
    ];
    if opts.edges_table {
        let eprops = prop_columns(set.edge_props.iter());
        let mut header = vec![SOURCE, TARGET];
        header.extend(eprops.iter().map(|c| c.name.as_str()));
        let empty = Map::new();
        write_csv(
            &dir.join("edges.csv"),
            &header,
            g.edges.iter().enumerate().map(|(i, e)| {
                let m = set.edge_props.get(i).unwrap_or(&empty);
                let mut r = vec![e.source.to_string(), e.target.to_string()];
                r.extend(eprops.iter().map(|c| cell(m.get(&c.name))));
                r
            }),
        )?;
        let mut fields = vec![
            int(SOURCE, "object the link leaves (earlier frame)"),
            int(TARGET, "object the link reaches (later frame)"),
        ];
        fields.extend(eprops.iter().map(|c| field(c, "")));
        resources.push(
            json!({"name": EDGES, "path": "edges.csv", "profile": "tabular-data-resource",
            "schema": {"fields": fields}}),
        );
    }
    let mut doc = Map::new();
    doc.insert("name".into(), Value::String(package_name(&opts.name)));
    for (k, v) in &opts.meta {
        if k != "name" && k != "resources" {
            doc.insert(k.clone(), v.clone());
        }
    }
    doc.insert("resources".into(), Value::Array(resources));
    let mut text = serde_json::to_string_pretty(&Value::Object(doc)).expect("JSON serialises");
    text.push('\n');
    let p = dir.join("datapackage.json");
    std::fs::write(&p, text).map_err(io(&p))?;
    Ok(())
}

/// Shortest text that reads back to the same float.
fn fmt(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_floats_are_ids_and_frames() {
        assert_eq!(integer("3"), Some(3));
        assert_eq!(integer("3.0"), Some(3));
        assert_eq!(integer(" 12.0 "), Some(12));
        assert_eq!(integer("3.5"), None);
        assert_eq!(integer("x"), None);
    }

    #[test]
    fn column_types_widen() {
        let v = [json!(1), json!(2.5)];
        assert_eq!(column_type(v.iter()), "number");
        let v = [json!(1), json!("a")];
        assert_eq!(column_type(v.iter()), "string");
        let v = [json!(true), Value::Null];
        assert_eq!(column_type(v.iter()), "boolean");
    }

    #[test]
    fn package_names_are_valid() {
        assert_eq!(package_name("CMSO Tracks!"), "cmso_tracks_");
        assert_eq!(package_name(""), "tracks");
    }

    #[test]
    fn unplaceable_objects_are_refused_with_their_row() {
        let dir = tempfile::tempdir().unwrap();
        let node = |id: u64, t: i64| Node {
            id,
            t,
            x: 1.0,
            y: 2.0,
            z: None,
            label: None,
            props: Map::new(),
        };
        let graph = TrackGraph {
            nodes: vec![node(1, 0), node(2, 1)],
            edges: vec![Edge {
                source: 1,
                target: 2,
            }],
        };
        let opts = WriteOptions {
            name: "t".into(),
            meta: Map::new(),
            edges_table: false,
        };
        write(dir.path(), &TrackSet::from_graph(graph), &opts).unwrap();
        let objects = dir.path().join("objects.csv");
        let good = std::fs::read_to_string(&objects).unwrap();
        let lines: Vec<&str> = good.lines().collect();
        let header: Vec<&str> = lines[0].split(',').collect();
        let x = header.iter().position(|h| *h == X).unwrap();
        let f = header.iter().position(|h| *h == FRAME).unwrap();
        for (col, value, want) in [
            (x, "NaN", "object 2: x is NaN, not a finite number"),
            (x, "inf", "object 2: x is inf, not a finite number"),
            (f, "-1", "object 2: frame -1 is negative"),
        ] {
            let mut row: Vec<&str> = lines[2].split(',').collect();
            row[col] = value;
            let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            edited[2] = row.join(",");
            std::fs::write(&objects, edited.join("\n") + "\n").unwrap();
            let e = read(dir.path()).unwrap_err().to_string();
            assert_eq!(e, format!("{}:3: {want}", objects.display()));
        }
    }

    #[test]
    fn a_table_that_is_a_fifo_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("datapackage.json"),
            format!(
                r#"{{"name": "t", "resources": [{{"name": "{OBJECTS}", "path": "o.csv"}},
                {{"name": "{LINKS}", "path": "o.csv"}}]}}"#
            ),
        )
        .unwrap();
        let c = std::ffi::CString::new(dir.path().join("o.csv").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read(dir.path()).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("o.csv: is a FIFO, not a regular file"),
            "{e}"
        );
    }
}
