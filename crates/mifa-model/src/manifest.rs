//! The manifest file `mifa.json`: parsing, format-version gate, JSON Schema, serialisation.
//!
//! The schema is generated from the types in [`crate::metadata`]; `formats/manifest/schema.json`
//! is a copy that a test keeps identical, so the documented contract and the code cannot drift.

use crate::metadata::{Manifest, FORMAT_VERSION};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// File name of the manifest inside a package.
pub const FILE_NAME: &str = "mifa.json";

/// Deepest nesting of arrays and objects a manifest may have (the root object is level 1).
/// The reader refuses deeper documents and `mifa meta set` / `meta import` refuse to write
/// them, so that whatever mifa writes it can read again; serde_json's own limit is 128.
pub const MAX_DEPTH: usize = 64;

/// Errors reading or parsing a manifest.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{path}: cannot read the manifest")]
    Read {
        /// The manifest path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Not well-formed JSON.
    #[error("{path}:{line}:{column}: malformed JSON: {message}")]
    Malformed {
        /// The manifest path.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    #[error("{path}:{line}:{column}: arrays and objects nest deeper than {MAX_DEPTH} levels here, the most a manifest may nest")]
    TooDeep {
        /// The manifest path.
        path: PathBuf,
        /// 1-based line of the bracket that goes one level too deep.
        line: usize,
        /// 1-based column of that bracket.
        column: usize,
    },
    /// A document built in memory (by an edit or a merge) nests deeper than [`MAX_DEPTH`].
    #[error(
        "{path}: {at:?} is nested more than {MAX_DEPTH} levels deep, the most a manifest may nest"
    )]
    Depth {
        /// The manifest path.
        path: PathBuf,
        /// Dotted path of the first value too deep.
        at: String,
    },
    /// `format_version` missing, not `major.minor`, or newer than this build reads.
    #[error("{path}: format_version: {message}")]
    Version {
        /// The manifest path.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The document breaks the manifest schema.
    #[error("{path}: {} schema error(s), first: {}", errors.len(), errors[0])]
    Schema {
        /// The manifest path.
        path: PathBuf,
        /// Every violation.
        errors: Vec<SchemaError>,
    },
}

/// One schema violation, located by JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// Dotted JSON path, e.g. `study.authors[0].name` (empty for the root).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// The manifest JSON Schema (draft 2020-12), generated from [`Manifest`].
pub fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut schema = schemars::schema_for!(Manifest).to_value();
        if let Value::Object(map) = &mut schema {
            map.insert(
                "$id".into(),
                Value::String(format!("urn:mifa:manifest:{FORMAT_VERSION}")),
            );
        }
        schema
    })
}

/// The schema as the pretty-printed text stored in `formats/manifest/schema.json`.
pub fn schema_text() -> String {
    let mut s = serde_json::to_string_pretty(schema()).expect("schema serialises");
    s.push('\n');
    s
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::options()
            .should_validate_formats(true)
            .build(schema())
            .expect("the generated manifest schema is a valid JSON Schema")
    })
}

/// Parses text into JSON, reporting line and column when it is malformed. Documents nested
/// deeper than [`MAX_DEPTH`] are refused by a scan before parsing, so that no parser recursion
/// depends on the file.
pub fn parse_json(path: &Path, text: &str) -> Result<Value, Error> {
    if let Some((line, column)) = too_deep_at(text, MAX_DEPTH) {
        return Err(Error::TooDeep {
            path: path.to_path_buf(),
            line,
            column,
        });
    }
    serde_json::from_str(text).map_err(|e| Error::Malformed {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    })
}

/// Line and column (1-based) of the first `[` or `{` outside strings that opens level
/// `limit + 1`; `None` when the text never nests deeper than `limit`. Malformed text is scanned
/// all the same: the parser reports what else is wrong with it.
pub fn too_deep_at(text: &str, limit: usize) -> Option<(usize, usize)> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let (mut line, mut line_start) = (1usize, 0usize);
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    // Columns count characters, as serde_json's do.
                    let column = text[line_start..i].chars().count() + 1;
                    return Some((line, column));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            _ => {}
        }
    }
    None
}

/// Dotted path (`a.b[2]`, empty for the root) of the first array or object nested deeper
/// than `limit` levels (a scalar is 0 levels, `[]` 1); `None` when none is. Walks without
/// recursion, so that any value can be measured.
pub fn too_deep_value(value: &Value, limit: usize) -> Option<String> {
    enum Level<'a> {
        Array(std::iter::Enumerate<std::slice::Iter<'a, Value>>),
        Object(serde_json::map::Iter<'a>),
    }
    enum Label<'a> {
        Index(usize),
        Key(&'a str),
    }
    fn open(v: &Value) -> Option<Level<'_>> {
        match v {
            Value::Array(a) => Some(Level::Array(a.iter().enumerate())),
            Value::Object(m) => Some(Level::Object(m.iter())),
            _ => None,
        }
    }
    let render = |labels: &[Label]| {
        let mut out = String::new();
        for l in labels {
            match l {
                Label::Index(i) => out.push_str(&format!("[{i}]")),
                Label::Key(k) if out.is_empty() => out.push_str(k),
                Label::Key(k) => out.push_str(&format!(".{k}")),
            }
        }
        out
    };
    // `labels[k]` is how `levels[k + 1]` was reached from `levels[k]`.
    let mut levels: Vec<Level> = open(value).into_iter().collect();
    let mut labels: Vec<Label> = Vec::new();
    if levels.len() > limit {
        return Some(String::new());
    }
    while let Some(top) = levels.last_mut() {
        let next = match top {
            Level::Array(it) => it.next().map(|(i, v)| (Label::Index(i), v)),
            Level::Object(it) => it.next().map(|(k, v)| (Label::Key(k.as_str()), v)),
        };
        let Some((label, child)) = next else {
            levels.pop();
            labels.pop();
            continue;
        };
        if let Some(level) = open(child) {
            levels.push(level);
            labels.push(label);
            if levels.len() > limit {
                return Some(render(&labels));
            }
        }
    }
    None
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Checks `format_version`: present, `major.minor`, not newer than [`FORMAT_VERSION`].
pub fn check_version(path: &Path, doc: &Value) -> Result<(), Error> {
    let err = |message: String| Error::Version {
        path: path.to_path_buf(),
        message,
    };
    let found = match doc.get("format_version") {
        Some(Value::String(s)) => s,
        Some(other) => return Err(err(format!("{other} is not a version string like \"{FORMAT_VERSION}\""))),
        None => return Err(err(format!(
            "missing; a mifa manifest starts with \"format_version\": \"{FORMAT_VERSION}\" (is this a mifa package?)"
        ))),
    };
    let parse = |s: &str| -> Option<(u64, u64)> {
        let (a, b) = s.split_once('.')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    let ours = parse(FORMAT_VERSION).expect("FORMAT_VERSION is major.minor");
    match parse(found) {
        None => Err(err(format!("{found:?} is not major.minor"))),
        Some(v) if v > ours => Err(err(format!(
            "{found:?} is newer than this mifa reads ({FORMAT_VERSION}); upgrade mifa to open this package"
        ))),
        Some(_) => Ok(()),
    }
}

/// Every schema violation of a parsed document.
pub fn schema_errors(doc: &Value) -> Vec<SchemaError> {
    validator()
        .iter_errors(doc)
        .map(|e| SchemaError {
            path: pointer_to_path(e.instance_path().as_str()),
            message: e.to_string(),
        })
        .collect()
}

/// Turns a JSON pointer (`/study/authors/0/name`) into a dotted path (`study.authors[0].name`).
pub fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::new();
    for raw in pointer.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

/// Keys the schema does not describe, with their dotted paths. They are kept on rewrite;
/// the validator warns about them because they are often typos.
pub fn unknown_keys(doc: &Value) -> Vec<(String, Vec<String>)> {
    let root = schema();
    let mut out = Vec::new();
    walk_unknown(doc, root, root, String::new(), &mut out);
    out
}

fn resolve<'a>(node: &'a Value, root: &'a Value) -> Vec<&'a Value> {
    if let Some(r) = node.get("$ref").and_then(Value::as_str) {
        let target = r
            .strip_prefix('#')
            .and_then(|p| root.pointer(p))
            .unwrap_or(&Value::Null);
        return resolve(target, root);
    }
    let mut out = vec![node];
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(alts)) = node.get(key) {
            for alt in alts {
                out.extend(resolve(alt, root));
            }
        }
    }
    out
}

fn walk_unknown(
    value: &Value,
    node: &Value,
    root: &'static Value,
    path: String,
    out: &mut Vec<(String, Vec<String>)>,
) {
    let nodes = resolve(node, root);
    match value {
        Value::Object(map) => {
            let Some(props) = nodes
                .iter()
                .find_map(|n| n.get("properties").and_then(Value::as_object))
            else {
                return;
            };
            let known: Vec<String> = props.keys().cloned().collect();
            for (k, v) in map {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match props.get(k) {
                    Some(sub) => walk_unknown(v, sub, root, child, out),
                    None => out.push((child, known.clone())),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = nodes.iter().find_map(|n| n.get("items")) {
                for (i, v) in items.iter().enumerate() {
                    walk_unknown(v, item_schema, root, format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Reads, version-checks, schema-checks and deserialises a manifest file.
pub fn read(path: &Path) -> Result<(Manifest, Value), Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let doc = parse_json(path, &text)?;
    from_value(path, doc)
}

/// Version-checks, schema-checks and deserialises a parsed manifest.
pub fn from_value(path: &Path, doc: Value) -> Result<(Manifest, Value), Error> {
    // A document built in memory (an edit, a merge) is held to the reader's limit, so that
    // nothing is written that mifa cannot open again.
    if let Some(at) = too_deep_value(&doc, MAX_DEPTH) {
        return Err(Error::Depth {
            path: path.to_path_buf(),
            at,
        });
    }
    check_version(path, &doc)?;
    let errors = schema_errors(&doc);
    if !errors.is_empty() {
        return Err(Error::Schema {
            path: path.to_path_buf(),
            errors,
        });
    }
    // The schema is generated from the types, so this only fails if they disagree; report it
    // as a schema error rather than panicking.
    let manifest = Manifest::deserialize(&doc).map_err(|e| Error::Schema {
        path: path.to_path_buf(),
        errors: vec![SchemaError {
            path: String::new(),
            message: e.to_string(),
        }],
    })?;
    Ok((manifest, doc))
}

/// Serialises a manifest as the pretty-printed text mifa writes (trailing newline included).
pub fn to_text(manifest: &Manifest) -> String {
    let mut s = serde_json::to_string_pretty(manifest).expect("a manifest always serialises");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_paths() {
        assert_eq!(pointer_to_path(""), "");
        assert_eq!(
            pointer_to_path("/study/authors/0/orcid"),
            "study.authors[0].orcid"
        );
        assert_eq!(pointer_to_path("/images/2"), "images[2]");
    }

    #[test]
    fn malformed_json_has_line_and_column() {
        let err = parse_json(Path::new("x/mifa.json"), "{\n  \"a\": 1,\n  \"b\" 2\n}").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("x/mifa.json:3:7: malformed JSON: expected `:`"),
            "{msg}"
        );
    }

    #[test]
    fn newer_version_refused() {
        let doc = serde_json::json!({"format_version": "9.0"});
        let msg = check_version(Path::new("m.json"), &doc)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("newer than this mifa reads"), "{msg}");
    }

    #[test]
    fn unknown_keys_found_at_every_depth() {
        let doc = serde_json::json!({
            "format_version": "0.1",
            "study": {"title": "t", "license": "CC0-1.0", "titel": "x",
                       "authors": [{"name": "A", "orcid_id": "1"}]},
            "lab_notes": {"a": 1}
        });
        let keys: Vec<String> = unknown_keys(&doc).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["study.titel", "study.authors[0].orcid_id", "lab_notes"]
        );
    }

    #[test]
    fn roundtrip_keeps_unknown_keys() {
        let doc = serde_json::json!({
            "format_version": "0.1",
            "study": {"title": "t", "license": "CC0-1.0", "x-lab": {"freezer": 3}},
            "custom": [1, 2]
        });
        let (m, _) = from_value(Path::new("m.json"), doc).unwrap();
        let back: Value = serde_json::from_str(&to_text(&m)).unwrap();
        assert_eq!(back["study"]["x-lab"]["freezer"], 3);
        assert_eq!(back["custom"], serde_json::json!([1, 2]));
    }

    fn nested(n: usize) -> String {
        format!("{}{}", "[".repeat(n), "]".repeat(n))
    }

    #[test]
    fn depth_scan_counts_brackets_outside_strings() {
        assert_eq!(too_deep_at(&nested(64), 64), None);
        assert_eq!(too_deep_at(&nested(65), 64), Some((1, 65)));
        // Brackets inside strings, escaped quotes included, do not count.
        let text = format!("{{\"a\": \"\\\"{}\"}}", "[".repeat(100));
        assert_eq!(too_deep_at(&text, 2), None);
        assert_eq!(too_deep_at("{\n  \"a\": [[[1]]]\n}", 3), Some((2, 10)));
        // Unbalanced closers neither underflow nor hide later depth.
        assert_eq!(too_deep_at("]]]][[", 1), Some((1, 6)));
    }

    #[test]
    fn too_deep_documents_are_refused_before_parsing() {
        let err = parse_json(Path::new("p/mifa.json"), &"[".repeat(1_000_000)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "p/mifa.json:1:65: arrays and objects nest deeper than 64 levels here, the most a manifest may nest"
        );
        assert!(parse_json(Path::new("m.json"), &nested(MAX_DEPTH)).is_ok());
    }

    #[test]
    fn too_deep_values_are_found_without_recursion() {
        let mut v = serde_json::json!(1);
        for i in 0..10_000 {
            // Built by hand: `json!` serialises what it interpolates, recursively.
            v = if i % 2 == 0 {
                Value::Array(vec![v])
            } else {
                Value::Object(serde_json::Map::from_iter([("k".to_string(), v)]))
            };
        }
        let at = too_deep_value(&v, 3).unwrap();
        assert_eq!(at, "k[0].k");
        assert_eq!(
            too_deep_value(&serde_json::json!({"a": [1, {"b": 2}]}), 3),
            None
        );
        assert_eq!(
            too_deep_value(&serde_json::json!({"a": [1, {"b": []}]}), 3).as_deref(),
            Some("a[1].b")
        );
        assert_eq!(
            too_deep_value(&serde_json::json!([]), 0).as_deref(),
            Some("")
        );
        // Drop a deep value without recursing either (serde_json's Drop recurses).
        let mut stack = vec![v];
        while let Some(mut x) = stack.pop() {
            match &mut x {
                Value::Array(a) => stack.append(a),
                Value::Object(m) => stack.extend(std::mem::take(m).into_iter().map(|(_, v)| v)),
                _ => {}
            }
        }
    }

    #[test]
    fn from_value_refuses_documents_deeper_than_the_reader_reads() {
        let mut doc = serde_json::json!({"format_version": "0.1", "study": {"title": "t", "license": "CC0-1.0"}});
        doc["x"] = serde_json::from_str(&nested(MAX_DEPTH - 1)).unwrap();
        assert!(from_value(Path::new("m.json"), doc.clone()).is_ok());
        doc["x"] = serde_json::from_str(&nested(MAX_DEPTH)).unwrap();
        let msg = from_value(Path::new("m.json"), doc)
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("m.json: \"x[0][0]")
                && msg
                    .ends_with("is nested more than 64 levels deep, the most a manifest may nest"),
            "{msg}"
        );
    }
}
