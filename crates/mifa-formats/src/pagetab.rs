//! BioStudies PageTab (the BioImage Archive's submission format), JSON and TSV, and its TSV
//! file lists. Profile: `formats/bia/README.md`.
//!
//! We write what BioStudies' own serializers write: JSON attributes `{name, value}` with
//! `"reference": true` for references and `valqual` for value qualifiers; TSV blocks separated
//! by blank lines, a subsection header `Type\tAccNo\tParentAccNo`, `<name>` for a reference and
//! `[name]` for a value qualifier of the attribute before it. The readers accept that subset
//! (and JSON section tables), so that a written submission can be checked by reading it back.

use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Errors of PageTab reading.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not a regular file, is over its cap or is not UTF-8.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// The document breaks a PageTab rule; `at` names the line or key.
    #[error("{path}: {at}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Line (`line 12`) or JSON key (`section.subsections[3].attributes[0]`).
        at: String,
        /// What is wrong.
        message: String,
    },
}

/// A name–value pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Name, e.g. `Title`.
    pub name: String,
    /// Value.
    pub value: String,
    /// The value is the accession of another section (`<name>` in TSV).
    pub reference: bool,
    /// Value qualifiers, e.g. `[URL]` of a licence.
    pub valqual: Vec<(String, String)>,
}

impl Attribute {
    /// A plain attribute.
    pub fn new(name: &str, value: impl Into<String>) -> Attribute {
        Attribute {
            name: name.to_string(),
            value: clean(&value.into()),
            reference: false,
            valqual: Vec::new(),
        }
    }
}

/// A file attached to a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// Path in the upload area.
    pub path: String,
    /// Attributes.
    pub attributes: Vec<Attribute>,
}

/// A link attached to a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// URL.
    pub url: String,
    /// Attributes (`Description`, `Type`).
    pub attributes: Vec<Attribute>,
}

/// A section: `Study` at the root, anything below it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    /// Section type, e.g. `Study Component`.
    pub kind: String,
    /// Accession, for references and TSV parents.
    pub accno: Option<String>,
    /// Attributes.
    pub attributes: Vec<Attribute>,
    /// Subsections, in order.
    pub subsections: Vec<Section>,
    /// Files.
    pub files: Vec<FileRef>,
    /// Links.
    pub links: Vec<Link>,
}

impl Section {
    /// A section of type `kind` with accession `accno`.
    pub fn new(kind: &str, accno: Option<String>) -> Section {
        Section {
            kind: kind.to_string(),
            accno,
            ..Default::default()
        }
    }

    /// Adds `name: value` unless the value is blank.
    pub fn attr(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        let v: String = value.into();
        if !v.trim().is_empty() {
            self.attributes.push(Attribute::new(name, v));
        }
        self
    }

    /// Values of attribute `name`.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.attributes
            .iter()
            .filter(|a| a.name == name)
            .map(|a| a.value.as_str())
            .collect()
    }

    /// First value of attribute `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values(name).first().copied()
    }

    /// Every section below this one, depth first, with its parent's accession.
    pub fn walk(&self) -> Vec<(&Section, Option<&str>)> {
        let mut out = Vec::new();
        fn go<'a>(s: &'a Section, out: &mut Vec<(&'a Section, Option<&'a str>)>) {
            for c in &s.subsections {
                out.push((c, s.accno.as_deref()));
                go(c, out);
            }
        }
        go(self, &mut out);
        out
    }
}

/// A submission: its own attributes (`Title`, `ReleaseDate`, `AttachTo`, `Template`) and the
/// root section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// Accession; empty for a new submission.
    pub accno: String,
    /// Submission attributes.
    pub attributes: Vec<Attribute>,
    /// The `Study` section.
    pub section: Section,
}

type AttrsFn<'a> = dyn Fn(Option<&Value>, &str) -> Result<Vec<Attribute>, Error> + 'a;

/// Cells of one TSV row, with its 1-based line.
type Row = (usize, Vec<String>);

/// A TSV syntax error: line and message.
type TsvError = (usize, String);

fn attr_json(a: &Attribute) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), json!(a.name));
    o.insert("value".into(), json!(a.value));
    if a.reference {
        o.insert("reference".into(), json!(true));
    }
    if !a.valqual.is_empty() {
        o.insert(
            "valqual".into(),
            Value::Array(
                a.valqual
                    .iter()
                    .map(|(n, v)| json!({"name": n, "value": v}))
                    .collect(),
            ),
        );
    }
    Value::Object(o)
}

fn section_json(s: &Section) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), json!(s.kind));
    if let Some(a) = &s.accno {
        o.insert("accno".into(), json!(a));
    }
    o.insert(
        "attributes".into(),
        Value::Array(s.attributes.iter().map(attr_json).collect()),
    );
    if !s.links.is_empty() {
        let links = s
            .links
            .iter()
            .map(|l| {
                json!({"url": l.url, "attributes": l.attributes.iter().map(attr_json).collect::<Vec<_>>()})
            })
            .collect();
        o.insert("links".into(), Value::Array(links));
    }
    if !s.files.is_empty() {
        let files = s
            .files
            .iter()
            .map(|f| {
                json!({"path": f.path, "attributes": f.attributes.iter().map(attr_json).collect::<Vec<_>>()})
            })
            .collect();
        o.insert("files".into(), Value::Array(files));
    }
    if !s.subsections.is_empty() {
        o.insert(
            "subsections".into(),
            Value::Array(s.subsections.iter().map(section_json).collect()),
        );
    }
    Value::Object(o)
}

impl Submission {
    /// The PageTab JSON document.
    pub fn to_json(&self) -> Value {
        json!({
            "accno": self.accno,
            "type": "submission",
            "attributes": self.attributes.iter().map(attr_json).collect::<Vec<_>>(),
            "section": section_json(&self.section),
        })
    }

    /// The PageTab TSV document.
    pub fn to_tsv(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("Submission\t{}\n", cell(&self.accno)));
        for a in &self.attributes {
            attr_tsv(&mut out, a);
        }
        fn block(out: &mut String, s: &Section, parent: Option<&str>, root: bool) {
            out.push('\n');
            let mut head = vec![cell(&s.kind)];
            if let Some(a) = &s.accno {
                head.push(cell(a));
                if let (false, Some(p)) = (root, parent) {
                    head.push(cell(p));
                }
            }
            out.push_str(&head.join("\t"));
            out.push('\n');
            for a in &s.attributes {
                attr_tsv(out, a);
            }
            for l in &s.links {
                out.push_str(&format!("\nLink\t{}\n", cell(&l.url)));
                for a in &l.attributes {
                    attr_tsv(out, a);
                }
            }
            if !s.files.is_empty() {
                let mut names: Vec<&str> = Vec::new();
                for f in &s.files {
                    for a in &f.attributes {
                        if !names.contains(&a.name.as_str()) {
                            names.push(&a.name);
                        }
                    }
                }
                out.push_str("\nFiles");
                for n in &names {
                    out.push('\t');
                    out.push_str(&cell(n));
                }
                out.push('\n');
                for f in &s.files {
                    out.push_str(&cell(&f.path));
                    for n in &names {
                        out.push('\t');
                        let v = f.attributes.iter().find(|a| a.name == *n);
                        out.push_str(&v.map(|a| cell(&a.value)).unwrap_or_default());
                    }
                    out.push('\n');
                }
            }
            for c in &s.subsections {
                block(out, c, s.accno.as_deref(), false);
            }
        }
        block(&mut out, &self.section, None, true);
        out
    }

    /// Reads a PageTab JSON document.
    pub fn from_json(path: &Path, v: &Value) -> Result<Submission, Error> {
        let bad = |at: &str, m: &str| Error::Invalid {
            path: path.to_path_buf(),
            at: at.to_string(),
            message: m.to_string(),
        };
        let attrs = |v: Option<&Value>, at: &str| -> Result<Vec<Attribute>, Error> {
            let Some(v) = v else { return Ok(Vec::new()) };
            let arr = v.as_array().ok_or_else(|| bad(at, "not a list"))?;
            arr.iter()
                .enumerate()
                .map(|(i, a)| {
                    let at = format!("{at}[{i}]");
                    let name = a
                        .get("name")
                        .and_then(Value::as_str)
                        .filter(|n| !n.trim().is_empty())
                        .ok_or_else(|| bad(&at, "attribute without a name"))?;
                    let value = match a.get("value") {
                        None | Some(Value::Null) => String::new(),
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                    };
                    let reference = match a.get("reference") {
                        None => false,
                        Some(Value::Bool(b)) => *b,
                        Some(_) => return Err(bad(&at, "`reference` must be true or false")),
                    };
                    let mut valqual = Vec::new();
                    if let Some(q) = a.get("valqual").and_then(Value::as_array) {
                        for q in q {
                            valqual.push((
                                q.get("name")
                                    .and_then(Value::as_str)
                                    .unwrap_or("")
                                    .to_string(),
                                q.get("value")
                                    .and_then(Value::as_str)
                                    .unwrap_or("")
                                    .to_string(),
                            ));
                        }
                    }
                    Ok(Attribute {
                        name: name.to_string(),
                        value,
                        reference,
                        valqual,
                    })
                })
                .collect()
        };
        fn section(
            v: &Value,
            at: &str,
            attrs: &AttrsFn,
            bad: &dyn Fn(&str, &str) -> Error,
        ) -> Result<Section, Error> {
            let kind = v
                .get("type")
                .and_then(Value::as_str)
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| bad(at, "section without a type"))?;
            let mut s = Section::new(
                kind,
                v.get("accno").and_then(Value::as_str).map(str::to_string),
            );
            s.attributes = attrs(v.get("attributes"), &format!("{at}.attributes"))?;
            // A nested list is a table: its rows are items of the same kind.
            let flat = |key: &str| -> Vec<(String, &Value)> {
                let mut out = Vec::new();
                if let Some(items) = v.get(key).and_then(Value::as_array) {
                    for (i, it) in items.iter().enumerate() {
                        match it {
                            Value::Array(rows) => {
                                for (j, r) in rows.iter().enumerate() {
                                    out.push((format!("{at}.{key}[{i}][{j}]"), r));
                                }
                            }
                            other => out.push((format!("{at}.{key}[{i}]"), other)),
                        }
                    }
                }
                out
            };
            for (a, sub) in flat("subsections") {
                s.subsections.push(section(sub, &a, attrs, bad)?);
            }
            for (a, f) in flat("files") {
                let path = f
                    .get("path")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad(&a, "file without a path"))?;
                s.files.push(FileRef {
                    path: path.to_string(),
                    attributes: attrs(f.get("attributes"), &format!("{a}.attributes"))?,
                });
            }
            for (a, l) in flat("links") {
                let url = l
                    .get("url")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad(&a, "link without a url"))?;
                s.links.push(Link {
                    url: url.to_string(),
                    attributes: attrs(l.get("attributes"), &format!("{a}.attributes"))?,
                });
            }
            Ok(s)
        }
        let root = v
            .get("section")
            .ok_or_else(|| bad("section", "no root section"))?;
        Ok(Submission {
            accno: v
                .get("accno")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            attributes: attrs(v.get("attributes"), "attributes")?,
            section: section(root, "section", &attrs, &bad)?,
        })
    }

    /// Reads a PageTab TSV document (the subset [`Submission::to_tsv`] writes, plus comments).
    pub fn from_tsv(path: &Path, text: &str) -> Result<Submission, Error> {
        let bad = |line: usize, m: String| Error::Invalid {
            path: path.to_path_buf(),
            at: format!("line {line}"),
            message: m,
        };
        let rows = split_rows(text).map_err(|(l, m)| bad(l, m))?;
        let mut blocks: Vec<Vec<(usize, Vec<String>)>> = vec![Vec::new()];
        for (line, cells) in rows {
            if cells.iter().all(|c| c.trim().is_empty()) {
                if !blocks.last().is_some_and(Vec::is_empty) {
                    blocks.push(Vec::new());
                }
                continue;
            }
            if cells[0].starts_with('#') {
                continue;
            }
            if let Some(b) = blocks.last_mut() {
                b.push((line, cells));
            }
        }
        blocks.retain(|b| !b.is_empty());
        let mut it = blocks.into_iter();
        let first = it.next().ok_or_else(|| bad(1, "empty document".into()))?;
        if first[0].1[0] != "Submission" {
            return Err(bad(
                first[0].0,
                "the first block must start with `Submission`".into(),
            ));
        }
        let mut sub = Submission {
            accno: first[0].1.get(1).cloned().unwrap_or_default(),
            attributes: Vec::new(),
            section: Section::default(),
        };
        read_attrs(&mut sub.attributes, &first[1..]).map_err(|(l, m)| bad(l, m))?;
        // Sections are kept flat with their parent's accession, then nested at the end.
        let mut flat: Vec<(Section, Option<String>, usize)> = Vec::new();
        for b in it {
            let (line, head) = (&b[0].0, &b[0].1);
            let kind = head[0].as_str();
            match kind {
                "Files" => {
                    let target = flat
                        .last_mut()
                        .map(|(s, _, _)| s)
                        .ok_or_else(|| bad(*line, "a Files table before any section".into()))?;
                    for (_, r) in &b[1..] {
                        let mut f = FileRef {
                            path: r[0].clone(),
                            attributes: Vec::new(),
                        };
                        for (n, v) in head.iter().skip(1).zip(r.iter().skip(1)) {
                            if !v.is_empty() {
                                f.attributes.push(Attribute::new(n, v.clone()));
                            }
                        }
                        target.files.push(f);
                    }
                }
                "Link" => {
                    let target = flat
                        .last_mut()
                        .map(|(s, _, _)| s)
                        .ok_or_else(|| bad(*line, "a Link before any section".into()))?;
                    let mut l = Link {
                        url: head.get(1).cloned().unwrap_or_default(),
                        attributes: Vec::new(),
                    };
                    read_attrs(&mut l.attributes, &b[1..]).map_err(|(l, m)| bad(l, m))?;
                    target.links.push(l);
                }
                _ => {
                    if kind.contains('[') {
                        return Err(bad(*line, format!("section tables (`{kind}`) are not read; write one block per section")));
                    }
                    let mut s = Section::new(kind, head.get(1).filter(|a| !a.is_empty()).cloned());
                    read_attrs(&mut s.attributes, &b[1..]).map_err(|(l, m)| bad(l, m))?;
                    let parent = head.get(2).filter(|p| !p.is_empty()).cloned();
                    flat.push((s, parent, *line));
                }
            }
        }
        if flat.is_empty() {
            return Err(bad(1, "no root section after the Submission block".into()));
        }
        let (root, _, _) = flat.remove(0);
        let root_acc = root.accno.clone();
        // Attach children under their parents, deepest last so that chains resolve.
        let mut nodes: Vec<(Section, Option<String>, usize)> = flat;
        let mut root = root;
        #[allow(clippy::result_large_err)] // the section comes back to try the next branch
        fn insert(into: &mut Section, parent: &str, s: Section) -> Result<(), Section> {
            if into.accno.as_deref() == Some(parent) {
                into.subsections.push(s);
                return Ok(());
            }
            let mut s = s;
            for c in &mut into.subsections {
                match insert(c, parent, s) {
                    Ok(()) => return Ok(()),
                    Err(back) => s = back,
                }
            }
            Err(s)
        }
        for (s, parent, line) in nodes.drain(..) {
            match parent {
                Some(p) if Some(&p) != root_acc.as_ref() => {
                    let kind = s.kind.clone();
                    insert(&mut root, &p, s).map_err(|_| Error::Invalid {
                        path: path.to_path_buf(),
                        at: format!("line {line}"),
                        message: format!(
                            "section {kind:?}: parent accession {p:?} names no earlier section"
                        ),
                    })?;
                }
                _ => root.subsections.push(s),
            }
        }
        sub.section = root;
        Ok(sub)
    }
}

fn read_attrs(
    out: &mut Vec<Attribute>,
    rows: &[(usize, Vec<String>)],
) -> Result<(), (usize, String)> {
    for (line, r) in rows {
        let name = r[0].trim();
        let value = r.get(1).cloned().unwrap_or_default();
        if let Some(q) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
            let prev = out
                .last_mut()
                .ok_or((*line, format!("value qualifier [{q}] follows no attribute")))?;
            prev.valqual.push((q.to_string(), value));
        } else if name.starts_with('(') {
            // Name qualifiers are legal PageTab, but nothing we check uses them.
            continue;
        } else if let Some(n) = name.strip_prefix('<').and_then(|n| n.strip_suffix('>')) {
            out.push(Attribute {
                name: n.to_string(),
                value,
                reference: true,
                valqual: Vec::new(),
            });
        } else {
            out.push(Attribute::new(name, value));
        }
    }
    Ok(())
}

fn attr_tsv(out: &mut String, a: &Attribute) {
    let name = if a.reference {
        format!("<{}>", a.name)
    } else {
        a.name.clone()
    };
    out.push_str(&format!("{}\t{}\n", cell(&name), cell(&a.value)));
    for (n, v) in &a.valqual {
        out.push_str(&format!("[{}]\t{}\n", cell(n), cell(v)));
    }
}

/// A value as both PageTab forms can hold it: BioStudies' TSV reader trims cells, splits on
/// tabs, and reads a `"…"` run on one line as literal text, so only a value spanning lines is
/// quoted, and such a value cannot also hold `"` (it becomes `'`).
pub fn clean(v: &str) -> String {
    let v = v.replace('\r', "").replace('\t', " ");
    let v = v.trim();
    if v.contains('\n') {
        v.replace('"', "'")
    } else {
        v.to_string()
    }
}

/// A TSV cell: quoted only when it spans lines (see [`clean`]).
fn cell(v: &str) -> String {
    let v = clean(v);
    if v.contains('\n') {
        format!("\"{v}\"")
    } else {
        v
    }
}

/// Splits TSV text into rows of cells (1-based line of each row), honouring quoted cells.
fn split_rows(text: &str) -> Result<Vec<Row>, TsvError> {
    let mut rows = Vec::new();
    let mut cells = Vec::new();
    let mut cur = String::new();
    let (mut line, mut start) = (1usize, 1usize);
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cur.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    cur.push('\n');
                }
                _ => cur.push(c),
            }
            continue;
        }
        match c {
            '"' if at_start && {
                let rest: String = chars.clone().take_while(|&c| c != '\n').collect();
                !rest.contains('"')
            } =>
            {
                quoted = true;
                at_start = false;
            }
            '\t' => {
                cells.push(std::mem::take(&mut cur).trim().to_string());
                at_start = true;
            }
            '\r' => {}
            '\n' => {
                cells.push(std::mem::take(&mut cur).trim().to_string());
                rows.push((start, std::mem::take(&mut cells)));
                line += 1;
                start = line;
                at_start = true;
            }
            ' ' if at_start => {}
            _ => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err((start, "a quoted cell is never closed".into()));
    }
    if !cur.is_empty() || !cells.is_empty() {
        cells.push(cur.trim().to_string());
        rows.push((start, cells));
    }
    Ok(rows)
}

/// A file list: header (first cell `Files`) and one row per file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileList {
    /// Attribute columns after `Files`.
    pub columns: Vec<String>,
    /// Path, then one value per column.
    pub rows: Vec<(String, Vec<String>)>,
}

impl FileList {
    /// The TSV text. Tabs and line breaks inside values (which BioStudies' reader cannot hold)
    /// become spaces.
    pub fn to_tsv(&self) -> String {
        let clean = |v: &str| v.replace(['\t', '\n', '\r'], " ").trim().to_string();
        let mut out = String::from("Files");
        for c in &self.columns {
            out.push('\t');
            out.push_str(&clean(c));
        }
        out.push('\n');
        for (p, vals) in &self.rows {
            out.push_str(&clean(p));
            for v in vals {
                out.push('\t');
                out.push_str(&clean(v));
            }
            out.push('\n');
        }
        out
    }

    /// Reads a TSV file list as BioStudies does: tab-split, no quoting, blank rows skipped.
    pub fn read_tsv(path: &Path) -> Result<FileList, Error> {
        let max = crate::input::TextLimits::current().max_table_bytes;
        let text = crate::input::read_text_capped(path, max, "a file list")?;
        let bad = |line: usize, m: String| Error::Invalid {
            path: path.to_path_buf(),
            at: format!("line {line}"),
            message: m,
        };
        let mut lines = text.lines().enumerate();
        let (_, head) = lines
            .next()
            .ok_or_else(|| bad(1, "empty file list".into()))?;
        let head: Vec<&str> = head.split('\t').map(str::trim).collect();
        if head[0] != "Files" {
            return Err(bad(
                1,
                format!("the first header cell must be `Files`, not {:?}", head[0]),
            ));
        }
        if let Some(i) = head.iter().position(|h| h.is_empty()) {
            return Err(bad(1, format!("header column {} has no name", i + 1)));
        }
        let mut rows = Vec::new();
        for (i, l) in lines {
            if l.trim().is_empty() {
                continue;
            }
            let cells: Vec<&str> = l.split('\t').map(str::trim).collect();
            if cells[0].is_empty() {
                return Err(bad(i + 1, "a row without a path".into()));
            }
            let vals = (1..head.len())
                .map(|k| cells.get(k).copied().unwrap_or("").to_string())
                .collect();
            rows.push((cells[0].to_string(), vals));
        }
        Ok(FileList {
            columns: head[1..].iter().map(|s| s.to_string()).collect(),
            rows,
        })
    }

    /// Values of column `name`, one per row (empty where the column is missing).
    pub fn column(&self, name: &str) -> Vec<&str> {
        match self.columns.iter().position(|c| c == name) {
            Some(k) => self.rows.iter().map(|(_, v)| v[k].as_str()).collect(),
            None => vec![""; self.rows.len()],
        }
    }
}

/// Checks a path against BioStudies' file-list rules: `/` separators, no `.`/`..` segments,
/// no leading, trailing or double slash, characters `A–Z a–z 0–9 ! - _ . * ' ( )` only.
pub fn check_path(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("empty path".into());
    }
    if p.starts_with('/') || p.ends_with('/') || p.contains("//") {
        return Err(format!("{p:?}: leading, trailing or double `/`"));
    }
    if p.split('/').any(|s| s == "." || s == "..") {
        return Err(format!("{p:?}: `.` or `..` segment"));
    }
    if let Some(c) = p
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "!-_.*'()/".contains(*c)))
    {
        return Err(format!(
            "{p:?}: character {c:?} is not allowed (BIA allows letters, digits and ! - _ . * ' ( ))"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Submission {
        let mut study = Section::new("Study", Some("s-1".into()));
        study.attr("Title", "A title with\ttab and \"quotes\"");
        study.attr(
            "Acknowledgements",
            "\"Quoted\" at the start, as BioStudies keeps it",
        );
        study.attributes.push(Attribute {
            name: "License".into(),
            value: "CC BY 4.0".into(),
            reference: false,
            valqual: vec![(
                "URL".into(),
                "https://creativecommons.org/licenses/by/4.0/legalcode".into(),
            )],
        });
        study.files.push(FileRef {
            path: "mifa/mifa.json".into(),
            attributes: vec![Attribute::new("Description", "manifest")],
        });
        study.links.push(Link {
            url: "https://example.org".into(),
            attributes: vec![Attribute::new("Description", "site")],
        });
        let mut author = Section::new("Author", Some("a-1".into()));
        author.attr("Name", "Jane Doe");
        author.attributes.push(Attribute {
            name: "affiliation".into(),
            value: "o1".into(),
            reference: true,
            valqual: vec![],
        });
        let mut org = Section::new("organisation", Some("o1".into()));
        org.attr("Name", "EMBL");
        let mut sc = Section::new("Study Component", Some("sc-1".into()));
        sc.attr("Name", "Images").attr("Description", "multi\nline");
        let mut assoc = Section::new("Associations", Some("as-1".into()));
        assoc.attr("Biosample", "B");
        sc.subsections.push(assoc);
        study.subsections = vec![author, org, sc];
        Submission {
            accno: String::new(),
            attributes: vec![
                Attribute::new("Title", "T"),
                Attribute::new("ReleaseDate", "2026-12-01"),
            ],
            section: study,
        }
    }

    #[test]
    fn json_and_tsv_read_back_identically() {
        let s = sample();
        let p = Path::new("x");
        assert_eq!(Submission::from_json(p, &s.to_json()).unwrap(), s);
        let tsv = s.to_tsv();
        assert!(tsv.contains("Associations\tas-1\tsc-1\n"), "{tsv}");
        assert!(tsv.contains("<affiliation>\to1\n"));
        assert!(tsv.contains("[URL]\thttps://"));
        // Quotes on one line are written as they are (BioStudies reads them literally); only a
        // value spanning lines is quoted.
        assert!(
            tsv.contains("Title\tA title with tab and \"quotes\"\n"),
            "{tsv}"
        );
        assert!(
            tsv.contains("Acknowledgements\t\"Quoted\" at the start"),
            "{tsv}"
        );
        assert!(tsv.contains("Description\t\"multi\nline\"\n"), "{tsv}");
        assert_eq!(Submission::from_tsv(p, &tsv).unwrap(), s, "{tsv}");
    }

    #[test]
    fn json_tables_are_flattened() {
        let v = json!({"accno": "", "attributes": [], "section": {"type": "Study", "subsections": [[
            {"type": "Author", "attributes": [{"name": "Name", "value": "A"}]},
            {"type": "Author", "attributes": [{"name": "Name", "value": "B"}]}
        ]]}});
        let s = Submission::from_json(Path::new("x"), &v).unwrap();
        assert_eq!(s.section.subsections.len(), 2);
        let bad = json!({"section": {"type": "Study", "attributes": [{"value": "x"}]}});
        let e = Submission::from_json(Path::new("x"), &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("section.attributes[0]"), "{e}");
    }

    #[test]
    fn bad_tsv_names_the_line() {
        let e = Submission::from_tsv(
            Path::new("s.tsv"),
            "Submission\nReleaseDate\t2026-01-01\n\nStudy\n[URL]\tx\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 5"), "{e}");
        let e = Submission::from_tsv(Path::new("s.tsv"), "Study\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Submission"), "{e}");
    }

    #[test]
    fn paths_follow_bia_rules() {
        assert!(check_path("images/a-b_c.(1).ome.zarr.zip").is_ok());
        for p in ["", "/a", "a/", "a//b", "./a", "a/../b", "a b", "a\tb", "ä"] {
            assert!(check_path(p).is_err(), "{p:?}");
        }
    }

    #[test]
    fn file_lists_round_trip_and_check_the_header() {
        let d = tempfile::tempdir().unwrap();
        let fl = FileList {
            columns: vec!["Source Image".into(), "Annotation Type".into()],
            rows: vec![("a.geojson".into(), vec!["i.zip".into(), "x\ty".into()])],
        };
        let p = d.path().join("l.tsv");
        std::fs::write(&p, fl.to_tsv()).unwrap();
        let back = FileList::read_tsv(&p).unwrap();
        assert_eq!(back.column("Annotation Type"), vec!["x y"]);
        assert_eq!(back.column("Source Image"), vec!["i.zip"]);
        std::fs::write(&p, "Path\tx\na\tb\n").unwrap();
        let e = FileList::read_tsv(&p).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("Files"), "{e}");
    }
}
