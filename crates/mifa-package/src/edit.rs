//! Metadata edits without hand-editing JSON: dotted paths, people, merges of partial manifests.
//!
//! Path syntax: keys joined by `.`; after a key, `[N]` picks element N of an array, `[+]` appends
//! a new element, and `[ID]` picks the element whose `id` is `ID`, creating it if absent:
//! `study.description`, `study.keywords[+].label`, `rembi.biosamples[hela].organisms[0].ncbi_taxon`.

use crate::manifest::{self, MAX_DEPTH};
use crate::metadata::checks;
use crate::metadata::Person;
use crate::package::{self, Package, UpdateError};
use serde_json::{Map, Value};

/// Errors of metadata edits.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path does not parse or does not fit the document.
    #[error("{path}: {reason}")]
    Path {
        /// The path as given.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// `--json` was given but the value is not JSON.
    #[error("value {value:?} is not valid JSON")]
    Json {
        /// The value.
        value: String,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// The value nests arrays and objects deeper than the manifest may hold at its path.
    #[error("{path}: value {value} nests arrays and objects too deep: the path takes {steps} of the {MAX_DEPTH} levels a manifest may nest, so the value may nest at most {room}{hint}")]
    TooDeep {
        /// The path as given.
        path: String,
        /// The value, shortened.
        value: String,
        /// Levels the path takes.
        steps: usize,
        /// Levels left for the value.
        room: usize,
        /// How to store it as text instead, where that applies.
        hint: &'static str,
    },
    /// An annotation set named by `--set` does not exist.
    #[error("annotation set {id:?} does not exist (known: {known}); create it with `mifa meta set DIR annotation_sets[{id}].title \"…\"`")]
    NoSuchSet {
        /// The id given.
        id: String,
        /// Ids that exist.
        known: String,
    },
    /// The package refused the change or could not be written.
    #[error(transparent)]
    Package(#[from] package::Error),
}

impl From<UpdateError<Error>> for Error {
    fn from(e: UpdateError<Error>) -> Self {
        match e {
            UpdateError::Package(p) => Error::Package(p),
            UpdateError::Change(c) => c,
        }
    }
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Object key.
    Key(String),
    /// Array index.
    Index(usize),
    /// Append to an array.
    Append,
    /// Array element with this `id` (created when setting).
    Id(String),
}

/// Longest text of a path or value quoted in an error.
const SHOWN: usize = 120;

/// `text`, cut to [`SHOWN`] characters (with its length) so that an error stays readable.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(SHOWN) {
        None => text.to_string(),
        Some((i, _)) => format!("{}… ({} characters)", &text[..i], text.chars().count()),
    }
}

/// Parses a dotted path. A path of more than [`MAX_DEPTH`] steps (keys and selectors) is
/// refused: it could only lead deeper than a manifest may nest.
pub fn parse_path(path: &str) -> Result<Vec<Step>, Error> {
    let bad = |reason: &str| Error::Path {
        path: shorten(path),
        reason: reason.to_string(),
    };
    let too_long = || {
        bad(&format!(
            "more than {MAX_DEPTH} keys and [..] selectors, deeper than a manifest may nest"
        ))
    };
    if path.is_empty() {
        return Err(bad("empty path"));
    }
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() {
            return Err(bad("empty key (two dots, or a leading '.' or '[')"));
        }
        if steps.len() == MAX_DEPTH {
            return Err(too_long());
        }
        steps.push(Step::Key(key.to_string()));
        while !rest.is_empty() {
            if steps.len() == MAX_DEPTH {
                return Err(too_long());
            }
            let close = rest.find(']').ok_or_else(|| bad("'[' without ']'"))?;
            let sel = &rest[1..close];
            steps.push(match sel {
                "" => return Err(bad("empty []")),
                "+" => Step::Append,
                s if s.chars().all(|c| c.is_ascii_digit()) => {
                    Step::Index(s.parse().map_err(|_| bad("index too large"))?)
                }
                s => Step::Id(s.to_string()),
            });
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(bad("text after ']' must be '.' or '['"));
            }
        }
    }
    Ok(steps)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value at `path`.
pub fn get<'a>(doc: &'a Value, path: &str) -> Result<&'a Value, Error> {
    let steps = parse_path(path)?;
    let mut cur = doc;
    for step in &steps {
        let next = match (step, cur) {
            (Step::Key(k), Value::Object(m)) => m.get(k),
            (Step::Index(i), Value::Array(a)) => a.get(*i),
            (Step::Id(id), Value::Array(a)) => a
                .iter()
                .find(|e| e.get("id").and_then(Value::as_str) == Some(id)),
            (Step::Append, _) => {
                return Err(Error::Path {
                    path: path.into(),
                    reason: "[+] only makes sense when setting".into(),
                })
            }
            _ => None,
        };
        cur = next.ok_or_else(|| Error::Path {
            path: path.into(),
            reason: format!("nothing at {}", describe(step)),
        })?;
    }
    Ok(cur)
}

fn describe(step: &Step) -> String {
    match step {
        Step::Key(k) => format!("key {k:?}"),
        Step::Index(i) => format!("index [{i}]"),
        Step::Id(id) => format!("id [{id}]"),
        Step::Append => "[+]".into(),
    }
}

/// Sets `value` at `path`, creating objects, arrays and id-selected elements on the way.
pub fn set(doc: &mut Value, path: &str, value: Value) -> Result<(), Error> {
    let steps = parse_path(path)?;
    let err = |reason: String| Error::Path {
        path: path.into(),
        reason,
    };
    let mut cur = doc;
    for (n, step) in steps.iter().enumerate() {
        let last = n + 1 == steps.len();
        // What to create when the slot is missing: an array if the next step indexes, else an object.
        let fresh = || match steps.get(n + 1) {
            Some(Step::Key(_)) => Value::Object(Map::new()),
            Some(_) => Value::Array(Vec::new()),
            None => Value::Null,
        };
        cur = match step {
            Step::Key(k) => {
                if cur.is_null() {
                    *cur = Value::Object(Map::new());
                }
                let found = type_name(cur);
                let Value::Object(m) = cur else {
                    return Err(err(format!("cannot take key {k:?} of {found}")));
                };
                m.entry(k.clone()).or_insert_with(fresh)
            }
            _ => {
                if cur.is_null() {
                    *cur = Value::Array(Vec::new());
                }
                let found = type_name(cur);
                let Value::Array(a) = cur else {
                    return Err(err(format!("cannot index {found} with {}", describe(step))));
                };
                let i = match step {
                    Step::Index(i) if *i < a.len() => *i,
                    Step::Index(i) if *i == a.len() => {
                        a.push(fresh());
                        *i
                    }
                    Step::Index(i) => {
                        return Err(err(format!("index [{i}] is past the end (the array has {} elements; use [+] to append)", a.len())))
                    }
                    Step::Append => {
                        a.push(fresh());
                        a.len() - 1
                    }
                    Step::Id(id) => match a.iter().position(|e| e.get("id").and_then(Value::as_str) == Some(id)) {
                        Some(i) => i,
                        None => {
                            let mut m = Map::new();
                            m.insert("id".into(), Value::String(id.clone()));
                            a.push(Value::Object(m));
                            a.len() - 1
                        }
                    },
                    Step::Key(_) => unreachable!("handled above"),
                };
                &mut a[i]
            }
        };
        if last {
            if matches!(step, Step::Id(_)) && !value.is_object() {
                return Err(err(
                    "an [ID] element is an object; set one of its keys, e.g. [ID].title".into(),
                ));
            }
            match (cur, value) {
                // Setting an object on an id-selected element keeps its id.
                (Value::Object(existing), Value::Object(new)) if matches!(step, Step::Id(_)) => {
                    existing.extend(new);
                }
                (slot, value) => *slot = value,
            }
            return Ok(());
        }
    }
    Ok(())
}

/// Removes the value at `path` and returns it.
pub fn unset(doc: &mut Value, path: &str) -> Result<Value, Error> {
    let steps = parse_path(path)?;
    let (last, parents) = steps
        .split_last()
        .expect("parse_path never returns no steps");
    let mut cur = doc;
    for step in parents {
        cur = match (step, cur) {
            (Step::Key(k), Value::Object(m)) => m.get_mut(k),
            (Step::Index(i), Value::Array(a)) => a.get_mut(*i),
            (Step::Id(id), Value::Array(a)) => a
                .iter_mut()
                .find(|e| e.get("id").and_then(Value::as_str) == Some(id)),
            _ => None,
        }
        .ok_or_else(|| Error::Path {
            path: path.into(),
            reason: format!("nothing at {}", describe(step)),
        })?;
    }
    let removed = match (last, cur) {
        (Step::Key(k), Value::Object(m)) => m.shift_remove(k),
        (Step::Index(i), Value::Array(a)) if *i < a.len() => Some(a.remove(*i)),
        (Step::Id(id), Value::Array(a)) => a
            .iter()
            .position(|e| e.get("id").and_then(Value::as_str) == Some(id))
            .map(|i| a.remove(i)),
        _ => None,
    };
    removed.ok_or_else(|| Error::Path {
        path: path.into(),
        reason: format!("nothing at {}", describe(last)),
    })
}

/// How a command-line value is turned into JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueMode {
    /// As a string if the schema accepts one there, else parsed as JSON (numbers, lists).
    Auto,
    /// Always a string.
    String,
    /// Always parsed as JSON.
    Json,
}

/// `mifa meta set`: sets a value in the package manifest; nothing is written if the result is
/// invalid.
pub fn set_in_package(
    pkg: &mut Package,
    path: &str,
    raw: &str,
    mode: ValueMode,
) -> Result<(), Error> {
    let steps = parse_path(path)?.len();
    if mode != ValueMode::String {
        // Measured on the text before parsing: a value deeper than the room left would make a
        // manifest that cannot be read again (and serde_json recurses while parsing it).
        let room = MAX_DEPTH - steps;
        if manifest::too_deep_at(raw, room).is_some() {
            return Err(Error::TooDeep {
                path: shorten(path),
                value: shorten(raw),
                steps,
                room,
                hint: if mode == ValueMode::Auto {
                    " (give --string to keep it as text)"
                } else {
                    ""
                },
            });
        }
    }
    let as_json = || serde_json::from_str::<Value>(raw);
    let candidates: Vec<Value> = match mode {
        ValueMode::String => vec![Value::String(raw.to_string())],
        ValueMode::Json => vec![as_json().map_err(|source| Error::Json {
            value: raw.into(),
            source,
        })?],
        ValueMode::Auto => {
            let mut c = vec![Value::String(raw.to_string())];
            if let Ok(v) = as_json() {
                if !v.is_string() {
                    c.push(v);
                }
            }
            c
        }
    };
    // When every reading is refused, the one with the fewest errors explains the problem best
    // (e.g. "9606" as text breaks the type as well as whatever the number alone breaks).
    let mut best: Option<(usize, Error)> = None;
    for value in candidates {
        match pkg.update_value(|doc| set(doc, path, value).map_err(UpdateError::Change)) {
            Ok(()) => return Ok(()),
            Err(UpdateError::Package(e @ package::Error::Invalid { .. })) => {
                let n = match &e {
                    package::Error::Invalid { issues, .. } => issues.len(),
                    _ => unreachable!("matched above"),
                };
                if best.as_ref().is_none_or(|(m, _)| n < *m) {
                    best = Some((n, Error::Package(e)));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(best.expect("at least one candidate was tried").1)
}

/// Where a person is added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonList {
    /// `study.authors`.
    Study,
    /// `annotation_sets[ID].authors`.
    Set(String),
}

/// What [`add_person`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// A new entry.
    New,
    /// Merged into an entry with the same ORCID (or the same name, when one of them has no ORCID).
    Merged,
}

/// Adds a person to a list, merging with an existing entry of the same ORCID (or name): empty
/// fields are filled, roles are united. The ORCID is normalised from URL form first.
pub fn add_person(
    pkg: &mut Package,
    list: &PersonList,
    mut person: Person,
) -> Result<Added, Error> {
    person.orcid = person.orcid.map(|o| checks::normalize_orcid(&o));
    pkg.update(|m| {
        let people = match list {
            PersonList::Study => &mut m.study.authors,
            PersonList::Set(id) => {
                let known = m
                    .annotation_sets
                    .iter()
                    .map(|s| s.id.clone())
                    .collect::<Vec<_>>()
                    .join(", ");
                match m.annotation_sets.iter_mut().find(|s| &s.id == id) {
                    Some(set) => &mut set.authors,
                    None => {
                        return Err(Error::NoSuchSet {
                            id: id.clone(),
                            known: if known.is_empty() {
                                "none".into()
                            } else {
                                known
                            },
                        })
                    }
                }
            }
        };
        let same = people.iter_mut().find(|p| match (&p.orcid, &person.orcid) {
            (Some(a), Some(b)) => a == b,
            _ => p.name.trim().eq_ignore_ascii_case(person.name.trim()),
        });
        Ok(match same {
            Some(p) => {
                merge_person(p, person);
                Added::Merged
            }
            None => {
                people.push(person);
                Added::New
            }
        })
    })
    .map_err(Error::from)
}

fn merge_person(into: &mut Person, from: Person) {
    into.name = from.name;
    into.email = from.email.or(into.email.take());
    into.affiliation = from.affiliation.or(into.affiliation.take());
    into.orcid = from.orcid.or(into.orcid.take());
    for r in from.roles {
        if !into.roles.contains(&r) {
            into.roles.push(r);
        }
    }
    into.extra.extend(from.extra);
}

/// Deep-merges `incoming` into `doc`: objects key by key; arrays element by element, matching
/// elements by `id`, then `orcid`, then `name`, then `label` (matched elements are merged,
/// others appended, exact duplicates skipped); anything else is replaced.
pub fn merge(doc: &mut Value, incoming: Value) {
    match (doc, incoming) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for item in b {
                let key = ["id", "orcid", "name", "label"]
                    .into_iter()
                    .find_map(|k| item.get(k).filter(|v| !v.is_null()).map(|v| (k, v.clone())));
                let pos = match &key {
                    Some((k, v)) => a.iter().position(|e| e.get(*k) == Some(v)),
                    None => a.iter().position(|e| e == &item),
                };
                match pos {
                    Some(i) => merge(&mut a[i], item),
                    None => a.push(item),
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Dotted paths of every leaf that differs between two documents.
pub fn changed_leaves(old: &Value, new: &Value) -> Vec<String> {
    fn walk(old: Option<&Value>, new: Option<&Value>, path: String, out: &mut Vec<String>) {
        match (old, new) {
            (Some(Value::Object(a)), Some(Value::Object(b))) => {
                for (k, v) in b {
                    walk(a.get(k), Some(v), join(&path, k), out);
                }
                for (k, v) in a {
                    if !b.contains_key(k) {
                        walk(Some(v), None, join(&path, k), out);
                    }
                }
            }
            (Some(Value::Array(a)), Some(Value::Array(b))) => {
                for i in 0..a.len().max(b.len()) {
                    walk(a.get(i), b.get(i), format!("{path}[{i}]"), out);
                }
            }
            (Some(o), Some(n)) if o == n => {}
            (None, Some(Value::Object(b))) => {
                for (k, v) in b {
                    walk(None, Some(v), join(&path, k), out);
                }
            }
            (None, Some(Value::Array(b))) => {
                for (i, v) in b.iter().enumerate() {
                    walk(None, Some(v), format!("{path}[{i}]"), out);
                }
            }
            _ => out.push(path),
        }
    }
    fn join(path: &str, k: &str) -> String {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    }
    let mut out = Vec::new();
    walk(Some(old), Some(new), String::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_parse() {
        assert_eq!(
            parse_path("rembi.biosamples[hela].organisms[0].ncbi_taxon").unwrap(),
            vec![
                Step::Key("rembi".into()),
                Step::Key("biosamples".into()),
                Step::Id("hela".into()),
                Step::Key("organisms".into()),
                Step::Index(0),
                Step::Key("ncbi_taxon".into()),
            ]
        );
        assert!(parse_path("a..b").is_err());
        assert!(parse_path("a[0").is_err());
        assert!(parse_path("a[0]x").is_err());
    }

    #[test]
    fn paths_longer_than_the_depth_limit_are_refused() {
        let keys = |n: usize| vec!["k"; n].join(".");
        assert_eq!(parse_path(&keys(MAX_DEPTH)).unwrap().len(), MAX_DEPTH);
        // Selectors count as steps too: 32 keys with an index each.
        assert_eq!(parse_path(&vec!["k[0]"; 32].join(".")).unwrap().len(), 64);
        for path in [
            keys(MAX_DEPTH + 1),
            vec!["k[0]"; 33].join("."),
            keys(100_000),
        ] {
            let msg = parse_path(&path).unwrap_err().to_string();
            assert!(
                msg.ends_with(
                    "more than 64 keys and [..] selectors, deeper than a manifest may nest"
                ),
                "{msg}"
            );
            assert!(msg.len() < 300, "the path is shortened: {msg}");
        }
        let steps = "a".to_string() + &"[0]".repeat(200);
        assert!(parse_path(&steps).is_err());
    }

    #[test]
    fn set_creates_and_get_reads() {
        let mut doc = json!({"study": {"title": "t"}});
        set(&mut doc, "study.keywords[+].label", json!("nuclei")).unwrap();
        set(&mut doc, "study.keywords[+].label", json!("HeLa")).unwrap();
        set(
            &mut doc,
            "rembi.biosamples[hela].organisms[0].ncbi_taxon",
            json!(9606),
        )
        .unwrap();
        set(&mut doc, "rembi.biosamples[hela].title", json!("HeLa")).unwrap();
        assert_eq!(
            doc["study"]["keywords"],
            json!([{"label": "nuclei"}, {"label": "HeLa"}])
        );
        assert_eq!(
            doc["rembi"]["biosamples"],
            json!([{"id": "hela", "organisms": [{"ncbi_taxon": 9606}], "title": "HeLa"}])
        );
        assert_eq!(get(&doc, "rembi.biosamples[hela].title").unwrap(), "HeLa");
        assert_eq!(get(&doc, "study.keywords[1].label").unwrap(), "HeLa");
        assert!(get(&doc, "study.nope").is_err());
        let err = set(&mut doc, "study.title.x", json!(1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot take key \"x\" of a string"), "{err}");
        let err = set(&mut doc, "study.keywords[5].label", json!(1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("past the end"), "{err}");
    }

    #[test]
    fn unset_removes() {
        let mut doc = json!({"a": {"b": 1, "c": [1, 2, 3]}, "l": [{"id": "x"}, {"id": "y"}]});
        assert_eq!(unset(&mut doc, "a.b").unwrap(), json!(1));
        assert_eq!(unset(&mut doc, "a.c[1]").unwrap(), json!(2));
        assert_eq!(unset(&mut doc, "l[x]").unwrap(), json!({"id": "x"}));
        assert_eq!(doc, json!({"a": {"c": [1, 3]}, "l": [{"id": "y"}]}));
        assert!(unset(&mut doc, "a.zz").is_err());
    }

    #[test]
    fn merge_matches_by_identity() {
        let mut doc = json!({"study": {"authors": [{"name": "A", "orcid": "1"}], "keywords": [{"label": "x"}]},
                             "rembi": {"biosamples": [{"id": "b", "title": "old"}]}});
        merge(
            &mut doc,
            json!({"study": {"authors": [{"name": "A.", "orcid": "1", "email": "a@b.org"}, {"name": "B"}],
                                         "keywords": [{"label": "x"}, {"label": "y"}]},
                               "rembi": {"biosamples": [{"id": "b", "title": "new"}, {"id": "c"}]}}),
        );
        assert_eq!(
            doc["study"]["authors"],
            json!([{"name": "A.", "orcid": "1", "email": "a@b.org"}, {"name": "B"}])
        );
        assert_eq!(
            doc["study"]["keywords"],
            json!([{"label": "x"}, {"label": "y"}])
        );
        assert_eq!(
            doc["rembi"]["biosamples"],
            json!([{"id": "b", "title": "new"}, {"id": "c"}])
        );
    }

    #[test]
    fn changed_leaves_lists_paths() {
        let old = json!({"a": 1, "b": {"c": [1]}});
        let new = json!({"a": 1, "b": {"c": [1, 2], "d": "x"}, "e": {"f": true}});
        assert_eq!(changed_leaves(&old, &new), ["b.c[1]", "b.d", "e.f"]);
    }
}
