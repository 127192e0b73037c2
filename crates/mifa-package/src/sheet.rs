//! Metadata sheets: partial manifests filled in a spreadsheet or an editor, merged into a package.
//!
//! * `.json`, `.yaml`, `.yml`: any subset of the manifest (`study`, `rembi`, `annotation_sets`,
//!   …), merged as [`crate::edit::merge`] describes.
//! * `.tsv`, `.txt`, `.csv`: blocks in the shape of BioImage Archive PageTab / REMBI templates.
//!   A block starts with a section name (`Study`, `Author`, `Publication`, `Funding`, `AI model`,
//!   `Study Component`, `Biosample`, `Specimen`, `Image acquisition`, `Image correlation`,
//!   `Image analysis`, `Annotation`), with an id in the second cell for sections that have one;
//!   each following row is `Attribute <TAB> value [<TAB> value …]`, attribute names as BIA's
//!   templates spell them. Blank rows separate blocks, `#` starts a comment row. See
//!   `formats/manifest/sheet.md`.

use crate::edit::{self, changed_leaves};
use crate::metadata::{bia_fields, checks};
use crate::package::{Package, UpdateError};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Errors reading a sheet.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not a regular file, is over its cap or is not UTF-8.
    #[error(transparent)]
    Input(#[from] crate::formats::input::InputError),
    /// JSON or YAML nested deeper than [`MAX_DEPTH`].
    #[error("{path}:{line}: nested deeper than {max} levels; a metadata sheet needs far fewer")]
    TooDeep {
        /// The sheet.
        path: PathBuf,
        /// 1-based line where the depth is passed.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// A row or value is wrong.
    #[error("{path}:{line}: {message}")]
    Row {
        /// The sheet.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// Malformed JSON or YAML.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The sheet.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser says.
        message: String,
    },
    /// The extension is not one we read.
    #[error("{path}: unknown sheet type; use .json, .yaml, .yml, .tsv, .txt or .csv")]
    Extension {
        /// The sheet.
        path: PathBuf,
    },
    /// The merged metadata was refused.
    #[error("{path}")]
    Edit {
        /// The sheet.
        path: PathBuf,
        /// Cause.
        #[source]
        source: edit::Error,
    },
}

/// Deepest nesting of lists and mappings a JSON or YAML sheet may have. A manifest is a
/// dozen levels deep; the cap is checked on the text before parsing, because libyaml takes
/// time quadratic in the depth (a 200 KB sheet took 38 s) before serde's own limit applies.
/// A sheet merges at the manifest's root, so it shares the manifest's limit.
pub const MAX_DEPTH: usize = crate::manifest::MAX_DEPTH;

/// Reads a sheet into a partial manifest document, within [`TextLimits::current`]'s cap.
///
/// [`TextLimits::current`]: crate::formats::input::TextLimits::current
pub fn read(path: &Path) -> Result<Value, Error> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if !matches!(
        ext.as_str(),
        "json" | "yaml" | "yml" | "tsv" | "txt" | "csv"
    ) {
        return Err(Error::Extension {
            path: path.to_path_buf(),
        });
    }
    let max = crate::formats::input::TextLimits::current().max_sheet_bytes;
    let text = crate::formats::input::read_text_capped(path, max, "a metadata sheet")?;
    let too_deep = |line| Error::TooDeep {
        path: path.to_path_buf(),
        line,
        max: MAX_DEPTH,
    };
    match ext.as_str() {
        "json" => json_depth_exceeded(&text, MAX_DEPTH).map_or(Ok(()), |l| Err(too_deep(l)))?,
        "yaml" | "yml" => {
            yaml_depth_exceeded(&text, MAX_DEPTH).map_or(Ok(()), |l| Err(too_deep(l)))?
        }
        _ => {}
    }
    let doc = match ext.as_str() {
        "json" => serde_json::from_str::<Value>(&text).map_err(|e| Error::Syntax {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?,
        "yaml" | "yml" => serde_yaml_ng::from_str::<Value>(&text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            Error::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.to_string(),
            }
        })?,
        "tsv" | "txt" => parse_table(path, &text, b'\t')?,
        "csv" => parse_table(path, &text, b',')?,
        _ => {
            return Err(Error::Extension {
                path: path.to_path_buf(),
            })
        }
    };
    if !doc.is_object() {
        return Err(Error::Row {
            path: path.to_path_buf(),
            line: 1,
            message:
                "a metadata sheet is a mapping of manifest keys (study, rembi, annotation_sets, …)"
                    .into(),
        });
    }
    Ok(doc)
}

/// The 1-based line where JSON text first nests arrays and objects deeper than `max`.
fn json_depth_exceeded(text: &str, max: usize) -> Option<usize> {
    let (mut depth, mut line) = (0usize, 1usize);
    let (mut in_string, mut escaped) = (false, false);
    for b in text.bytes() {
        match b {
            b'\n' => line += 1,
            _ if in_string => {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
            }
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(line);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The 1-based line where YAML text first nests deeper than `max`: flow collections
/// (`[`, `{` outside quotes and comments), block indentation levels and `- ` entries that
/// open a sequence on the same line all count. Lines of block scalars (`|`, `>`) are text.
/// An over-estimate is harmless: real sheets are a few levels deep.
fn yaml_depth_exceeded(text: &str, max: usize) -> Option<usize> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut quote: Option<char> = None;
    let mut scalar_indent: Option<usize> = None;
    for (i, raw) in text.lines().enumerate() {
        let content = raw.trim_start_matches(' ');
        let indent = raw.len() - content.len();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if let Some(s) = scalar_indent {
            if indent > s {
                continue;
            }
            scalar_indent = None;
        }
        let mut block = 0;
        if flow == 0 && quote.is_none() {
            while indents.last().is_some_and(|&top| top >= indent) {
                indents.pop();
            }
            indents.push(indent);
            let mut rest = content;
            while let Some(r) = rest.strip_prefix('-').filter(|r| r.starts_with(' ')) {
                block += 1;
                rest = r.trim_start_matches(' ');
            }
        }
        let mut prev = ' ';
        let mut body_end = content.len();
        let mut skip = false;
        for (j, c) in content.char_indices() {
            if std::mem::take(&mut skip) {
                continue;
            }
            match quote {
                // An escaped character in double quotes, a doubled quote in single ones.
                Some('"') if c == '\\' => skip = true,
                Some('\'') if c == '\'' && content[j + 1..].starts_with('\'') => skip = true,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '#' if prev == ' ' => {
                        body_end = j;
                        break;
                    }
                    '"' | '\'' if matches!(prev, ' ' | '[' | '{' | ',' | ':' | '-') => {
                        quote = Some(c)
                    }
                    // In block context a bracket inside a plain scalar (`a[1]`) is text.
                    '[' | '{' if flow > 0 || matches!(prev, ' ' | ':' | '-' | ',') => {
                        flow += 1;
                        // Checked as it opens: a line may close all it opened (`[[[x]]]`).
                        if indents.len() + block + flow > max {
                            return Some(i + 1);
                        }
                    }
                    ']' | '}' => flow = flow.saturating_sub(1),
                    _ => {}
                },
            }
            prev = c;
        }
        if indents.len() + block + flow > max {
            return Some(i + 1);
        }
        let body = content[..body_end].trim_end();
        let tail = body.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '+');
        if quote.is_none() && flow == 0 && (tail.ends_with('|') || tail.ends_with('>')) {
            scalar_indent = Some(indent);
        }
    }
    None
}

/// Merges a sheet into the package; returns the dotted paths of every value that changed.
/// Nothing is written if the merged manifest would gain validation errors.
pub fn import(pkg: &mut Package, path: &Path) -> Result<Vec<String>, Error> {
    let mut incoming = read(path)?;
    if let Value::Object(m) = &mut incoming {
        // The package's own format version stands; a sheet does not move it.
        m.shift_remove("format_version");
    }
    pkg.update_value(|doc| {
        let before = doc.clone();
        edit::merge(doc, incoming);
        Ok(changed_leaves(&before, doc))
    })
    .map_err(|e: UpdateError<edit::Error>| Error::Edit {
        path: path.to_path_buf(),
        source: e.into(),
    })
}

use bia_fields::Import::*;
use bia_fields::{Import, SheetSection as Section, Target, SHEET_SECTIONS as SECTIONS};

fn norm(s: &str) -> String {
    s.trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c == '_' { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn find_section(cell: &str) -> Option<&'static Section> {
    let n = norm(cell);
    SECTIONS
        .iter()
        .find(|s| s.names.iter().any(|name| norm(name) == n))
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(64).collect()
}

struct Block {
    section: &'static Section,
    id: Option<String>,
    line: u64,
    obj: Map<String, Value>,
}

fn parse_table(path: &Path, text: &str, delimiter: u8) -> Result<Value, Error> {
    let row_err = |line: u64, message: String| Error::Row {
        path: path.to_path_buf(),
        line,
        message,
    };
    if let Some(line) = crate::formats::input::unterminated_quote(text, delimiter) {
        return Err(row_err(
            line as u64,
            crate::formats::points::UNCLOSED_QUOTE.into(),
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut blocks: Vec<Block> = Vec::new();
    let mut open = false;
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            row_err(line, format!("cannot read row: {e}"))
        })?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let cells: Vec<&str> = record.iter().map(str::trim).collect();
        let first = cells.first().copied().unwrap_or("");
        if cells.iter().all(|c| c.is_empty()) {
            open = false;
            continue;
        }
        if first.starts_with('#') {
            continue;
        }
        let values: Vec<&str> = cells[1..]
            .iter()
            .copied()
            .filter(|c| !c.is_empty())
            .collect();
        if let Some(section) = find_section(first) {
            // A section name starts a block unless it is an attribute of the open block
            // ("Title" is both, but no section is named like an attribute of the same block).
            let is_attr = open
                && blocks
                    .last()
                    .is_some_and(|b| lookup_attr(b.section, first).is_some());
            if !is_attr {
                blocks.push(Block {
                    section,
                    id: values.first().map(|s| s.to_string()),
                    line,
                    obj: Map::new(),
                });
                open = true;
                continue;
            }
        }
        let Some(block) = blocks.last_mut().filter(|_| open) else {
            return Err(row_err(
                line,
                format!(
                    "{first:?} is not a section name, and no section is open; sections: {}",
                    SECTIONS
                        .iter()
                        .map(|s| title_case(&section_name(s)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        let Some(kind) = lookup_attr(block.section, first) else {
            let known: Vec<String> = block
                .section
                .importable()
                .map(|(f, _)| f.sheet_name())
                .collect();
            let best = known
                .iter()
                .map(|k| (strsim::jaro_winkler(&norm(first), k), k))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .filter(|(s, _)| *s > 0.8)
                .map(|(_, k)| format!("; did you mean {:?}?", title_case(k)))
                .unwrap_or_default();
            return Err(row_err(
                line,
                format!(
                    "unknown attribute {first:?} in section {}{best} (known: {})",
                    title_case(&section_name(block.section)),
                    known
                        .iter()
                        .map(|k| title_case(k))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        for value in values {
            apply(&mut block.obj, kind, value)
                .map_err(|m| row_err(line, format!("{first}: {m}")))?;
        }
    }
    assemble(path, blocks)
}

fn title_case(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn lookup_attr(section: &Section, cell: &str) -> Option<Import> {
    let n = norm(cell);
    section
        .importable()
        .find(|(f, _)| norm(f.name) == n || f.aliases.contains(&n.as_str()))
        .map(|(_, k)| k)
}

/// The name a sheet shows for a section: its first, in lower case.
fn section_name(section: &Section) -> String {
    section.names[0].to_ascii_lowercase()
}

fn push(obj: &mut Map<String, Value>, key: &str, v: Value) {
    let slot = obj.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(a) = slot {
        if !a.contains(&v) {
            a.push(v);
        }
    }
}

fn apply(obj: &mut Map<String, Value>, kind: Import, value: &str) -> Result<(), String> {
    match kind {
        Text(k) => {
            obj.insert(k.into(), Value::String(value.into()));
        }
        Orcid => {
            obj.insert(
                "orcid".into(),
                Value::String(checks::normalize_orcid(value)),
            );
        }
        Int(k) => {
            let n: i64 = value
                .parse()
                .map_err(|_| format!("{value:?} is not a whole number"))?;
            obj.insert(k.into(), json!(n));
        }
        List(k) => push(obj, k, Value::String(value.into())),
        Labels(k) => {
            for v in value.split(';').map(str::trim).filter(|v| !v.is_empty()) {
                push(obj, k, json!({"label": v}));
            }
        }
        Roles => {
            for r in value.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                push(obj, "roles", Value::String(r.to_ascii_lowercase()));
            }
        }
        Types(k) => {
            for t in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                push(
                    obj,
                    k,
                    Value::String(t.to_ascii_lowercase().replace(' ', "_")),
                );
            }
        }
        Organism => {
            let (sci, common) = match value.split_once('(') {
                Some((s, rest)) => (s.trim(), Some(rest.trim_end_matches(')').trim())),
                None => (value.trim(), None),
            };
            let mut o = json!({"scientific_name": sci});
            if let Some(c) = common.filter(|c| !c.is_empty()) {
                o["common_name"] = json!(c);
            }
            push(obj, "organisms", o);
        }
        Taxon => {
            let digits = value
                .trim()
                .trim_start_matches("NCBITaxon_")
                .trim_start_matches("NCBITaxon:")
                .trim_start_matches("NCBI:txid")
                .trim_start_matches("txid");
            let id: u64 = digits.parse().map_err(|_| {
                format!("{value:?} is not an NCBI taxon id (e.g. 9606 or NCBITaxon_9606)")
            })?;
            let Some(Value::Array(orgs)) = obj.get_mut("organisms") else {
                return Err("give the Organism row before its NCBI taxon id".into());
            };
            let last = orgs
                .last_mut()
                .expect("organisms is never empty once created");
            last["ncbi_taxon"] = json!(id);
        }
        Nested(outer, inner) => {
            let o = obj
                .entry(outer)
                .or_insert_with(|| Value::Object(Map::new()));
            o[inner] = Value::String(value.into());
        }
        Software => {
            let (name, version) = match value.rsplit_once(' ') {
                Some((n, v))
                    if v.chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_digit() || c == 'v') =>
                {
                    (n, Some(v))
                }
                _ => (value, None),
            };
            let m = obj
                .entry("method")
                .or_insert_with(|| Value::Object(Map::new()));
            let mut sw = json!({"name": name});
            if let Some(v) = version {
                sw["version"] = json!(v);
            }
            if let Value::Object(mm) = m {
                push(mm, "software", sw);
            }
        }
    }
    Ok(())
}

fn assemble(path: &Path, blocks: Vec<Block>) -> Result<Value, Error> {
    let mut doc = json!({});
    for b in blocks {
        let Block {
            section,
            id,
            line,
            mut obj,
        } = b;
        let needs_id = matches!(section.target, Target::Rembi(_) | Target::AnnotationSet);
        if needs_id {
            let id = match id.clone() {
                Some(id) => id,
                None => {
                    let from = obj
                        .get("title")
                        .or_else(|| obj.get("name"))
                        .and_then(Value::as_str)
                        .map(slug);
                    from.filter(|s| !s.is_empty()).ok_or_else(|| Error::Row {
                        path: path.to_path_buf(),
                        line,
                        message: format!(
                            "section {} needs an id in its second cell, or a Title",
                            title_case(&section_name(section))
                        ),
                    })?
                }
            };
            let mut with_id = Map::new();
            with_id.insert("id".into(), Value::String(id));
            with_id.extend(obj);
            obj = with_id;
        }
        let entry = Value::Object(obj);
        let incoming = match section.target {
            Target::Study => json!({"study": entry}),
            Target::StudyList(list) => json!({"study": {list: [entry]}}),
            Target::Rembi(list) => json!({"rembi": {list: [entry]}}),
            Target::AnnotationSet => json!({"annotation_sets": [entry]}),
            // An id on an Author block names the annotation set the person annotated.
            Target::Person => match id {
                Some(set) => json!({"annotation_sets": [{"id": set, "authors": [entry]}]}),
                None => json!({"study": {"authors": [entry]}}),
            },
        };
        edit::merge(&mut doc, incoming);
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tsv(text: &str) -> Result<Value, Error> {
        parse_table(Path::new("s.tsv"), text, b'\t')
    }

    #[test]
    fn pagetab_blocks() {
        let doc = tsv("Study\nTitle\tNuclei of HeLa cells\nKeywords\tnuclei\tHeLa\nLicense\tCC-BY-4.0\n\n\
                       Author\nName\tJane Doe\nORCID\thttps://orcid.org/0000-0002-1825-0097\nRole\tannotator, Curator\n\n\
                       Biosample\thela\nTitle\tHeLa\nOrganism\tHomo sapiens (human)\nNCBI taxon ID\tNCBITaxon_9606\n\n\
                       Author\tcells\nName\tBob\n").unwrap();
        assert_eq!(doc["study"]["title"], "Nuclei of HeLa cells");
        assert_eq!(
            doc["study"]["keywords"],
            json!([{"label": "nuclei"}, {"label": "HeLa"}])
        );
        assert_eq!(doc["study"]["authors"][0]["orcid"], "0000-0002-1825-0097");
        assert_eq!(
            doc["study"]["authors"][0]["roles"],
            json!(["annotator", "curator"])
        );
        assert_eq!(
            doc["rembi"]["biosamples"][0],
            json!({"id": "hela", "title": "HeLa", "organisms": [{"scientific_name": "Homo sapiens", "common_name": "human", "ncbi_taxon": 9606}]})
        );
        assert_eq!(
            doc["annotation_sets"][0],
            json!({"id": "cells", "authors": [{"name": "Bob"}]})
        );
    }

    #[test]
    fn unknown_attribute_named_with_line() {
        let err = tsv("Biosample\tb\nTitle\tx\nOrgansim\tHomo sapiens\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("s.tsv:3: unknown attribute \"Organsim\" in section Biosample; did you mean \"Organism\"?"), "{err}");
    }

    #[test]
    fn id_from_title_or_error() {
        let doc = tsv("Specimen\nTitle\tFixed HeLa, DAPI\n").unwrap();
        assert_eq!(doc["rembi"]["specimens"][0]["id"], "fixed-hela-dapi");
        let err = tsv("Specimen\nGrowth protocol\tx\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("s.tsv:1: section Specimen needs an id"),
            "{err}"
        );
        let err = tsv("Title\tx\n").unwrap_err().to_string();
        assert!(err.contains("not a section name"), "{err}");
    }

    fn sheet(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn deep_yaml_is_refused_fast() {
        let mut text = String::new();
        for i in 0..20_000 {
            text.push_str(&" ".repeat(i));
            text.push_str("a:\n");
        }
        let (_d, p) = sheet("deep.yaml", &text);
        let t = std::time::Instant::now();
        let e = read(&p).unwrap_err();
        assert!(t.elapsed().as_secs() < 2);
        assert!(matches!(e, Error::TooDeep { line: 65, .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "{}:65: nested deeper than 64 levels; a metadata sheet needs far fewer",
                p.display()
            )
        );
        let (_d, p) = sheet("flow.yml", &format!("study: {}", "[".repeat(100_000)));
        assert!(matches!(
            read(&p).unwrap_err(),
            Error::TooDeep { line: 1, .. }
        ));
        let (_d, p) = sheet("seq.yml", &format!("study:\n{}x\n", "- ".repeat(70)));
        assert!(matches!(
            read(&p).unwrap_err(),
            Error::TooDeep { line: 2, .. }
        ));
    }

    #[test]
    fn nesting_closed_on_its_own_line_is_still_counted() {
        let text = format!(
            "study:\n  description: {}x{}\n",
            "[".repeat(70),
            "]".repeat(70)
        );
        assert_eq!(yaml_depth_exceeded(&text, MAX_DEPTH), Some(2));
    }

    #[test]
    fn an_unclosed_quote_is_refused_where_it_opens() {
        let (_d, p) = sheet("q.csv", "Study,\nDescription,\"never closed\nTitle,x\n");
        assert_eq!(
            read(&p).unwrap_err().to_string(),
            format!(
                "{}:2: a quoted field opens here and is never closed (a missing '\"')",
                p.display()
            )
        );
    }

    #[test]
    fn ordinary_yaml_passes_the_depth_scan() {
        let text = "study:\n  title: \"a [b \\\" {c\"\n  description: |\n      [[[[[[[[[[\n        x\n  keywords:\n    - label: 'it''s [' # [[[[\n";
        assert_eq!(yaml_depth_exceeded(text, 4), None);
        let brackets = format!("title: a{}\n", "[b".repeat(100));
        assert_eq!(yaml_depth_exceeded(&brackets, 4), None);
        assert_eq!(yaml_depth_exceeded(text, 2), Some(7));
        let (_d, p) = sheet("ok.yaml", text);
        assert_eq!(read(&p).unwrap()["study"]["keywords"][0]["label"], "it's [");
    }

    #[test]
    fn yaml_alias_bombs_stay_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            text.push_str(&format!(
                "{}: &{} [*{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}]\n",
                (b'a' + i) as char,
                (b'a' + i) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char,
                (b'a' + i - 1) as char
            ));
        }
        let (_d, p) = sheet("bomb.yaml", &text);
        let t = std::time::Instant::now();
        assert!(matches!(read(&p).unwrap_err(), Error::Syntax { .. }));
        assert!(t.elapsed().as_secs() < 2);
    }

    #[test]
    fn deep_json_is_refused_with_its_line() {
        let (_d, p) = sheet(
            "deep.json",
            &format!("{{\"s\": \"[[[\\\"\",\n\"t\": {}", "[".repeat(200)),
        );
        let e = read(&p).unwrap_err();
        assert!(
            matches!(
                e,
                Error::TooDeep {
                    line: 2,
                    max: 64,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(json_depth_exceeded("[[\"[[[[\"]]", 2), None);
    }

    #[test]
    fn devices_and_fifos_are_not_read() {
        let e = read(Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(e, Error::Extension { .. }));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.tsv");
        std::fs::create_dir(&p).unwrap();
        let e = read(&p).unwrap_err();
        assert!(
            e.to_string().ends_with("is a folder, not a regular file"),
            "{e}"
        );
    }
}
