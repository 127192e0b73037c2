//! Package validation: schema, values, referential integrity, files, then MIFA/REMBI completeness.
//!
//! [`validate`] never stops at the first problem: it reports every error and warning it can find,
//! each naming the file, the JSON path (or line and column for malformed JSON) and the value.
//! Errors make a package invalid; warnings and completeness gaps do not.

use crate::manifest::{self, FILE_NAME};
use crate::metadata::checks::{self, LicenseStatus};
use crate::metadata::completeness::{self, Completeness};
use crate::metadata::{AxisType, Manifest, Person};
use crate::package;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

mod scope;
pub use scope::Scope;

/// How bad an issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The package is invalid.
    Error,
    /// Usable, but probably not what was meant, or discouraged.
    Warning,
}

/// One problem found in a package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Issue {
    /// Error or warning.
    pub severity: Severity,
    /// Stable machine-readable code, e.g. `orcid`, `reference`, `schema`.
    pub code: String,
    /// File the problem is in, relative to the package root.
    pub file: String,
    /// Dotted JSON path, when the problem is in a JSON document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// 1-based line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// What is wrong, with the offending value.
    pub message: String,
}

impl Issue {
    /// An error at a JSON path of a file.
    pub fn error(
        code: &str,
        file: &str,
        path: Option<String>,
        message: impl Into<String>,
    ) -> Issue {
        Issue {
            severity: Severity::Error,
            code: code.into(),
            file: file.into(),
            path: path.filter(|p| !p.is_empty()),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// A warning at a JSON path of a file.
    pub fn warning(
        code: &str,
        file: &str,
        path: Option<String>,
        message: impl Into<String>,
    ) -> Issue {
        Issue {
            severity: Severity::Warning,
            ..Issue::error(code, file, path, message)
        }
    }

    /// `file[:line:col]: path: message`.
    pub fn located_message(&self) -> String {
        let mut s = self.file.clone();
        if let (Some(l), Some(c)) = (self.line, self.column) {
            s.push_str(&format!(":{l}:{c}"));
        }
        if let Some(p) = &self.path {
            s.push_str(&format!(": {p}"));
        }
        s.push_str(&format!(": {}", self.message));
        s
    }
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.located_message())
    }
}

/// The outcome of validating a package.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Package root as given.
    pub package: PathBuf,
    /// Every error and warning, errors first.
    pub issues: Vec<Issue>,
    /// The completeness report; absent when the manifest could not be read at all.
    pub completeness: Option<Completeness>,
}

impl Report {
    /// The errors.
    pub fn errors(&self) -> Vec<Issue> {
        self.issues
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .cloned()
            .collect()
    }

    /// The warnings.
    pub fn warnings(&self) -> Vec<Issue> {
        self.issues
            .iter()
            .filter(|i| i.severity == Severity::Warning)
            .cloned()
            .collect()
    }

    /// True when there are no errors.
    pub fn is_valid(&self) -> bool {
        self.issues.iter().all(|i| i.severity != Severity::Error)
    }

    /// The stable machine-readable form printed by `mifa validate --json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "report": "mifa-validate",
            "report_version": 1,
            "package": self.package,
            "valid": self.is_valid(),
            "errors": self.errors(),
            "warnings": self.warnings(),
            "completeness": self.completeness,
        })
    }
}

/// Errors that stop validation before anything can be reported.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory holds no manifest.
    #[error("{path}: not a mifa package (no {FILE_NAME})")]
    NotAPackage {
        /// The directory.
        path: PathBuf,
    },
}

/// Validates the package at `dir`: every problem becomes an [`Issue`]; only a missing manifest
/// is an `Err`.
pub fn validate(dir: &Path) -> Result<Report, Error> {
    let path = dir.join(FILE_NAME);
    let report = |issues, completeness| Report {
        package: dir.to_path_buf(),
        issues,
        completeness,
    };
    if !path.is_file() {
        return Err(Error::NotAPackage {
            path: dir.to_path_buf(),
        });
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            let i = Issue::error("io", FILE_NAME, None, format!("cannot read: {e}"));
            return Ok(report(vec![i], None));
        }
    };
    let doc = match manifest::parse_json(&path, &text) {
        Ok(d) => d,
        Err(manifest::Error::Malformed {
            line,
            column,
            message,
            ..
        }) => {
            let i = Issue {
                line: Some(line),
                column: Some(column),
                ..Issue::error(
                    "json",
                    FILE_NAME,
                    None,
                    format!("malformed JSON: {message}"),
                )
            };
            return Ok(report(vec![i], None));
        }
        Err(e) => {
            return Ok(report(
                vec![Issue::error("json", FILE_NAME, None, e.to_string())],
                None,
            ))
        }
    };
    match manifest::from_value(&path, doc) {
        Ok((m, _)) => Ok(crate::package::with_link_issues(
            dir,
            check_manifest(dir, &m),
        )),
        Err(manifest::Error::Version { message, .. }) => Ok(report(
            vec![Issue::error(
                "format_version",
                FILE_NAME,
                Some("format_version".into()),
                message,
            )],
            None,
        )),
        Err(manifest::Error::Schema { errors, .. }) => Ok(report(
            errors
                .into_iter()
                .map(|e| Issue::error("schema", FILE_NAME, Some(e.path), e.message))
                .collect(),
            None,
        )),
        Err(e) => Ok(report(
            vec![Issue::error("manifest", FILE_NAME, None, e.to_string())],
            None,
        )),
    }
}

/// Checks a parsed manifest against the package at `root`: values, ids, references, files;
/// then assesses completeness.
pub fn check_manifest(root: &Path, m: &Manifest) -> Report {
    Report {
        package: root.to_path_buf(),
        issues: checker_issues(root, m, None),
        completeness: Some(completeness::assess(m)),
    }
}

/// What a commit checks: the whole model of `m`, and on disk only the files in `scope` (see
/// [`Scope::between`]). No completeness: it never refuses a write.
pub fn check_commit(root: &Path, m: &Manifest, scope: &Scope) -> Vec<Issue> {
    checker_issues(root, m, Some(scope))
}

fn checker_issues(root: &Path, m: &Manifest, scope: Option<&Scope>) -> Vec<Issue> {
    let mut v = Checker {
        root,
        scope,
        issues: Vec::new(),
    };
    v.study(m);
    v.rembi_and_images(m);
    v.classes(m);
    v.annotation_sets(m);
    v.splits(m);
    v.unknown_keys(m);
    let mut issues = v.issues;
    issues.sort_by_key(|i| i.severity);
    issues
}

struct Checker<'a> {
    root: &'a Path,
    /// `None`: every file; else only those a commit touched.
    scope: Option<&'a Scope>,
    issues: Vec<Issue>,
}

impl Checker<'_> {
    fn error(&mut self, code: &str, path: String, message: impl Into<String>) {
        self.issues
            .push(Issue::error(code, FILE_NAME, Some(path), message));
    }

    fn warn(&mut self, code: &str, path: String, message: impl Into<String>) {
        self.issues
            .push(Issue::warning(code, FILE_NAME, Some(path), message));
    }

    fn value(
        &mut self,
        code: &str,
        path: String,
        value: Option<&str>,
        check: fn(&str) -> Result<(), String>,
    ) {
        if let Some(Err(msg)) = value.map(check) {
            self.error(code, path, msg);
        }
    }

    fn study(&mut self, m: &Manifest) {
        let s = &m.study;
        match checks::license(&s.license) {
            Ok(LicenseStatus::Preferred) => {}
            Ok(LicenseStatus::Discouraged(msg)) => {
                self.warn("license", "study.license".into(), msg)
            }
            Err(msg) => self.error("license", "study.license".into(), msg),
        }
        let title_len = s.title.trim().chars().count();
        if title_len == 0 {
            self.error("required", "study.title".into(), "the study title is empty");
        } else if title_len < 25 {
            self.warn(
                "title",
                "study.title".into(),
                format!(
                    "{:?} has {title_len} characters; the BioImage Archive asks for at least 25",
                    s.title
                ),
            );
        }
        self.value(
            "date",
            "study.release_date".into(),
            s.release_date.as_deref(),
            checks::date,
        );
        self.people("study.authors", &s.authors);
        for (i, k) in s.keywords.iter().enumerate() {
            self.value(
                "curie",
                format!("study.keywords[{i}].curie"),
                k.curie.as_deref(),
                checks::curie,
            );
        }
        for (i, p) in s.publications.iter().enumerate() {
            let path = format!("study.publications[{i}]");
            if p.doi.is_none() && p.pmid.is_none() && p.title.is_none() {
                self.error(
                    "publication",
                    path.clone(),
                    "a publication needs a doi, a pmid or a title",
                );
            }
            self.value("doi", format!("{path}.doi"), p.doi.as_deref(), checks::doi);
            self.value(
                "pmid",
                format!("{path}.pmid"),
                p.pmid.as_deref(),
                checks::pmid,
            );
        }
        for (i, model) in s.models.iter().enumerate() {
            if model.bioimage_io_id.is_none() && model.url.is_none() {
                self.error(
                    "model",
                    format!("study.models[{i}]"),
                    "a related model needs a bioimage_io_id (BioImage Model Zoo) or a url",
                );
            }
        }
    }

    fn people(&mut self, list: &str, people: &[Person]) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, p) in people.iter().enumerate() {
            let path = format!("{list}[{i}]");
            if p.name.trim().is_empty() {
                self.error("required", format!("{path}.name"), "a person needs a name");
            }
            self.value(
                "orcid",
                format!("{path}.orcid"),
                p.orcid.as_deref(),
                checks::orcid,
            );
            self.value(
                "email",
                format!("{path}.email"),
                p.email.as_deref(),
                checks::email,
            );
            for (j, role) in p.roles.iter().enumerate() {
                if !checks::ROLES.contains(&role.as_str()) {
                    self.warn(
                        "role",
                        format!("{path}.roles[{j}]"),
                        format!(
                            "{role:?} is not a role we know; known roles: {}",
                            checks::ROLES.join(", ")
                        ),
                    );
                }
            }
            if let Some(orcid) = p.orcid.as_deref() {
                if let Some(first) = seen.insert(orcid, i) {
                    self.error("duplicate", format!("{path}.orcid"), format!(
                        "ORCID {orcid} is listed twice ({list}[{first}] and [{i}]); merge the two entries"));
                }
            }
        }
    }

    /// Records duplicate and malformed ids of one list; returns the set of ids.
    fn ids<'m>(&mut self, list: &str, ids: impl Iterator<Item = &'m str>) -> HashSet<&'m str> {
        let mut seen = HashSet::new();
        for (i, id) in ids.enumerate() {
            let path = format!("{list}[{i}].id");
            if !valid_id(id) {
                self.error("id", path.clone(), format!(
                    "{id:?} is not a valid id: use letters, digits, '_', '.' and '-', starting with a letter or digit"));
            }
            if !seen.insert(id) {
                self.error(
                    "duplicate",
                    path,
                    format!("id {id:?} is used twice in {list}"),
                );
            }
        }
        seen
    }

    fn reference(&mut self, path: String, target: Option<&str>, ids: &HashSet<&str>, what: &str) {
        if let Some(t) = target {
            if !ids.contains(t) {
                let known = if ids.is_empty() {
                    "none defined".to_string()
                } else {
                    let mut v: Vec<_> = ids.iter().copied().collect();
                    v.sort_unstable();
                    v.join(", ")
                };
                self.error(
                    "reference",
                    path,
                    format!("{what} {t:?} does not exist (known: {known})"),
                );
            }
        }
    }

    fn image_in_scope(&self, id: &str) -> bool {
        self.scope.is_none_or(|s| s.has_image(id))
    }

    fn file_in_scope(&self, rel: &str) -> bool {
        self.scope.is_none_or(|s| s.has_file(rel))
    }

    fn file(&mut self, path: String, rel: &str, on_disk: bool) {
        match package::check_relative_path(rel) {
            Err(msg) => self.error("path", path, msg),
            Ok(()) => {
                if on_disk && !self.root.join(rel).exists() {
                    self.error(
                        "missing_file",
                        path,
                        format!("{rel:?} does not exist in the package"),
                    );
                }
            }
        }
    }

    fn rembi_and_images(&mut self, m: &Manifest) {
        let r = &m.rembi;
        let components = self.ids(
            "rembi.study_components",
            r.study_components.iter().map(|x| x.id.as_str()),
        );
        let biosamples = self.ids(
            "rembi.biosamples",
            r.biosamples.iter().map(|x| x.id.as_str()),
        );
        let specimens = self.ids("rembi.specimens", r.specimens.iter().map(|x| x.id.as_str()));
        let acquisitions = self.ids(
            "rembi.acquisitions",
            r.acquisitions.iter().map(|x| x.id.as_str()),
        );
        self.ids(
            "rembi.correlations",
            r.correlations.iter().map(|x| x.id.as_str()),
        );
        self.ids("rembi.analyses", r.analyses.iter().map(|x| x.id.as_str()));
        for (i, a) in r.acquisitions.iter().enumerate() {
            let curie = a.imaging_method.as_ref().and_then(|t| t.curie.as_deref());
            self.value(
                "curie",
                format!("rembi.acquisitions[{i}].imaging_method.curie"),
                curie,
                checks::curie,
            );
        }
        for (i, b) in r.biosamples.iter().enumerate() {
            for (j, o) in b.organisms.iter().enumerate() {
                if o.scientific_name.trim().is_empty() {
                    self.error(
                        "required",
                        format!("rembi.biosamples[{i}].organisms[{j}].scientific_name"),
                        "an organism needs its scientific name",
                    );
                }
            }
        }

        self.ids("images", m.images.iter().map(|x| x.id.as_str()));
        let mut paths = HashSet::new();
        for (i, img) in m.images.iter().enumerate() {
            let p = format!("images[{i}]");
            self.reference(
                format!("{p}.biosample"),
                img.biosample.as_deref(),
                &biosamples,
                "biosample",
            );
            self.reference(
                format!("{p}.specimen"),
                img.specimen.as_deref(),
                &specimens,
                "specimen",
            );
            self.reference(
                format!("{p}.acquisition"),
                img.acquisition.as_deref(),
                &acquisitions,
                "image acquisition",
            );
            self.reference(
                format!("{p}.study_component"),
                img.study_component.as_deref(),
                &components,
                "study component",
            );
            let on_disk = self.image_in_scope(&img.id);
            self.file(format!("{p}.path"), &img.path, on_disk);
            if on_disk {
                self.image_store(&p, img);
            }
            if !paths.insert(img.path.as_str()) {
                self.error(
                    "duplicate",
                    format!("{p}.path"),
                    format!("{:?} is the path of two images", img.path),
                );
            }
            self.image_geometry(&p, img);
        }
    }

    /// The OME-Zarr behind an image entry must open and agree with the entry.
    fn image_store(&mut self, p: &str, img: &crate::metadata::ImageEntry) {
        if package::check_relative_path(&img.path).is_err() || !self.root.join(&img.path).exists() {
            return; // already reported
        }
        match crate::formats::ome_zarr::Multiscale::open(&self.root.join(&img.path)) {
            Err(e) => self.error(
                "ome_zarr",
                format!("{p}.path"),
                format!(
                    "not a readable OME-Zarr image: {}",
                    crate::io_error::chain(&e)
                ),
            ),
            Ok(ms) => {
                let names = |axes: &[crate::metadata::Axis]| {
                    axes.iter().map(|a| a.name.clone()).collect::<String>()
                };
                if names(&ms.axes) != names(&img.axes) {
                    self.error(
                        "ome_zarr",
                        format!("{p}.axes"),
                        format!(
                            "the manifest says {}, the OME-Zarr has {}",
                            names(&img.axes),
                            names(&ms.axes)
                        ),
                    );
                }
                if ms.levels[0].shape != img.shape {
                    self.error(
                        "ome_zarr",
                        format!("{p}.shape"),
                        format!(
                            "the manifest says {:?}, the OME-Zarr has {:?}",
                            img.shape, ms.levels[0].shape
                        ),
                    );
                }
                if ms.dtype != img.dtype {
                    self.error(
                        "ome_zarr",
                        format!("{p}.dtype"),
                        format!(
                            "the manifest says {:?}, the OME-Zarr has {:?}",
                            img.dtype, ms.dtype
                        ),
                    );
                }
                self.image_labels(p, &ms);
            }
        }
    }

    /// Each label of an image must open as one (image-label metadata, an integer type) and
    /// cover the image: a label whose shape was edited would be read out of bounds.
    fn image_labels(&mut self, p: &str, ms: &crate::formats::ome_zarr::Multiscale) {
        for name in &ms.labels {
            if let Err(e) = ms.label(name) {
                self.error(
                    "ome_zarr",
                    format!("{p}.path"),
                    format!(
                        "label {name:?} is not usable: {}",
                        crate::io_error::chain(&e)
                    ),
                );
            }
        }
    }

    fn image_geometry(&mut self, p: &str, img: &crate::metadata::ImageEntry) {
        if img.axes.len() != img.shape.len() {
            self.error(
                "axes",
                format!("{p}.shape"),
                format!(
                    "{} axes but a shape of {} dimensions",
                    img.axes.len(),
                    img.shape.len()
                ),
            );
        }
        if let Some(d) = img.shape.iter().position(|&n| n == 0) {
            self.error("shape", format!("{p}.shape[{d}]"), "a dimension of size 0");
        }
        let count = |k| img.axes.iter().filter(|a| a.kind == k).count();
        let (space, time, channel) = (
            count(AxisType::Space),
            count(AxisType::Time),
            count(AxisType::Channel),
        );
        if !(2..=5).contains(&img.axes.len())
            || !(2..=3).contains(&space)
            || time > 1
            || channel > 1
        {
            self.error("axes", format!("{p}.axes"), format!(
                "OME-Zarr needs 2-5 axes with 2-3 space, at most one time and one channel axis; found {space} space, {time} time, {channel} channel"));
        }
        // OME-Zarr order: time, then channel, then space.
        let rank = |k: AxisType| match k {
            AxisType::Time => 0,
            AxisType::Channel => 1,
            AxisType::Space => 2,
        };
        if img
            .axes
            .windows(2)
            .any(|w| rank(w[0].kind) > rank(w[1].kind))
        {
            let names: Vec<_> = img.axes.iter().map(|a| a.name.as_str()).collect();
            self.error("axes", format!("{p}.axes"), format!(
                "axes {names:?} are out of order; OME-Zarr orders them time, channel, then space (e.g. t c z y x)"));
        }
        let mut names = HashSet::new();
        for (j, a) in img.axes.iter().enumerate() {
            let ap = format!("{p}.axes[{j}]");
            if !names.insert(a.name.as_str()) {
                self.error(
                    "axes",
                    format!("{ap}.name"),
                    format!("axis name {:?} is used twice", a.name),
                );
            }
            if let Some(u) = a.unit.as_deref() {
                if a.kind == AxisType::Channel {
                    self.error("unit", format!("{ap}.unit"), "a channel axis has no unit");
                } else if let Err(msg) = checks::unit(u) {
                    self.error("unit", format!("{ap}.unit"), msg);
                } else if (a.kind == AxisType::Time)
                    != (u.ends_with("second") || matches!(u, "minute" | "hour" | "day"))
                {
                    self.error(
                        "unit",
                        format!("{ap}.unit"),
                        format!(
                            "{u:?} is not a unit of {}",
                            if a.kind == AxisType::Time {
                                "time"
                            } else {
                                "length"
                            }
                        ),
                    );
                }
            }
            if let Some(s) = a.scale {
                if !(s.is_finite() && s > 0.0) {
                    self.error(
                        "scale",
                        format!("{ap}.scale"),
                        format!("{s} is not a positive pixel size"),
                    );
                }
            }
        }
        if let Some(c) = img.axes.iter().position(|a| a.kind == AxisType::Channel) {
            let n = img.shape.get(c).copied().unwrap_or(0) as usize;
            if !img.channel_names.is_empty() && img.channel_names.len() != n {
                self.error(
                    "channels",
                    format!("{p}.channel_names"),
                    format!("{} channel names for {n} channels", img.channel_names.len()),
                );
            }
        } else if !img.channel_names.is_empty() {
            self.error(
                "channels",
                format!("{p}.channel_names"),
                "channel names but no channel axis",
            );
        }
    }

    fn classes(&mut self, m: &Manifest) {
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for (i, c) in m.classes.iter().enumerate() {
            if !ids.insert(c.id) {
                self.error(
                    "duplicate",
                    format!("classes[{i}].id"),
                    format!("class id {} is used twice", c.id),
                );
            }
            if !names.insert(c.name.as_str()) {
                self.error(
                    "duplicate",
                    format!("classes[{i}].name"),
                    format!("class name {:?} is used twice", c.name),
                );
            }
            if let Some(t) = &c.term {
                self.value(
                    "curie",
                    format!("classes[{i}].term.curie"),
                    t.curie.as_deref(),
                    checks::curie,
                );
            }
        }
    }

    fn splits(&mut self, m: &Manifest) {
        self.ids("splits", m.splits.iter().map(|s| s.id.as_str()));
        for (i, s) in m.splits.iter().enumerate() {
            if let Err(e) = s.fractions.check() {
                self.error("split", format!("splits[{i}].fractions"), e.to_string());
            }
            for problem in crate::split::check(m, s) {
                self.error("split", format!("splits[{i}]"), problem);
            }
        }
    }

    fn annotation_sets(&mut self, m: &Manifest) {
        let images: HashSet<&str> = m.images.iter().map(|x| x.id.as_str()).collect();
        let mut vectors: Vec<(&str, Option<&str>)> = Vec::new();
        self.ids(
            "annotation_sets",
            m.annotation_sets.iter().map(|x| x.id.as_str()),
        );
        for (i, set) in m.annotation_sets.iter().enumerate() {
            let p = format!("annotation_sets[{i}]");
            self.people(&format!("{p}.authors"), &set.authors);
            self.value(
                "timestamp",
                format!("{p}.created"),
                set.created.as_deref(),
                checks::timestamp,
            );
            if set.types.is_empty() && set.files.iter().any(|f| !f.types.is_empty()) {
                self.warn(
                    "types",
                    format!("{p}.types"),
                    "files declare types but the set does not",
                );
            }
            if set.files.is_empty() {
                self.warn("empty", format!("{p}.files"), "the set lists no files");
            }
            let mut seen = HashSet::new();
            for (j, f) in set.files.iter().enumerate() {
                let fp = format!("{p}.files[{j}]");
                let on_disk = self.file_in_scope(&f.path);
                self.file(format!("{fp}.path"), &f.path, on_disk);
                if on_disk
                    && f.path.ends_with(crate::vectors::VECTOR_EXT)
                    && package::check_relative_path(&f.path).is_ok()
                {
                    vectors.push((f.path.as_str(), f.source_images.first().map(String::as_str)));
                }
                if !seen.insert(f.path.as_str()) {
                    self.error(
                        "duplicate",
                        format!("{fp}.path"),
                        format!("{:?} is listed twice", f.path),
                    );
                }
                for (k, img) in f.source_images.iter().enumerate() {
                    self.reference(
                        format!("{fp}.source_images[{k}]"),
                        Some(img),
                        &images,
                        "image",
                    );
                }
                self.value(
                    "timestamp",
                    format!("{fp}.created"),
                    f.created.as_deref(),
                    checks::timestamp,
                );
                for t in &f.types {
                    if !set.types.is_empty() && !set.types.contains(t) {
                        self.warn(
                            "types",
                            format!("{fp}.types"),
                            format!(
                                "{t} is not among the set's types ({})",
                                set.types
                                    .iter()
                                    .map(|t| t.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                    }
                }
            }
        }
        // Tracks sets: graph rules, frames and positions in the image, label values in masks.
        for (i, set) in m.annotation_sets.iter().enumerate() {
            let Some(j) = set
                .files
                .iter()
                .position(|f| f.path.ends_with(&format!("/{}", crate::tracks::DESCRIPTOR)))
            else {
                continue;
            };
            if self.scope.is_some_and(|s| !s.has_set(&set.id)) {
                continue;
            }
            if !self.root.join(&set.files[j].path).is_file() {
                continue; // reported by `file`
            }
            for problem in crate::tracks::check_stored(self.root, m, &set.id) {
                self.error(
                    "tracks",
                    format!("annotation_sets[{i}].files[{j}]"),
                    format!("{}: {problem}", set.files[j].path),
                );
            }
        }
        // Vector files are independent: check them on every core.
        use rayon::prelude::*;
        let root = self.root;
        let found: Vec<Vec<Issue>> = vectors
            .par_iter()
            .map(|(rel, image)| vector_file(root, m, rel, *image))
            .collect();
        self.issues.extend(found.into_iter().flatten());
    }

    fn unknown_keys(&mut self, m: &Manifest) {
        let doc = serde_json::to_value(m).expect("a manifest always serialises");
        for (path, known) in manifest::unknown_keys(&doc) {
            let key = path.rsplit(['.', ']']).next().unwrap_or(&path).to_string();
            let msg = if key == "coverage" {
                "coverage is computed from the package (see `mifa info`); this key is kept but ignored".to_string()
            } else {
                let best = known
                    .iter()
                    .map(|k| (strsim::jaro_winkler(&key, k), k))
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .filter(|(score, _)| *score > 0.85);
                match best {
                    Some((_, k)) => format!("unknown key {key:?}, kept as is; did you mean {k:?}?"),
                    None => format!("unknown key {key:?}, kept as is"),
                }
            };
            self.warn("unknown_key", path, msg);
        }
    }
}

/// Checks a vector annotation file: readable, every object usable and valid (OGC rules),
/// inside its image, of a known class, with a unique id.
fn vector_file(root: &Path, m: &Manifest, rel: &str, image: Option<&str>) -> Vec<Issue> {
    let mut issues = Vec::new();
    use crate::formats::geojson;
    let path = root.join(rel);
    if !path.is_file() {
        return issues; // reported by `file`
    }
    let read = match geojson::read(&path, geojson::ReadOptions { skip_invalid: true }) {
        Ok(r) => r,
        Err(e) => {
            issues.push(Issue::error(
                "geojson",
                rel,
                None,
                crate::io_error::chain(&e),
            ));
            return issues;
        }
    };
    for (object, reason) in &read.dropped {
        issues.push(Issue::error(
            "geometry",
            rel,
            None,
            format!("{object}: {reason}"),
        ));
    }
    for w in &read.warnings {
        issues.push(Issue::warning("geojson", rel, None, w.clone()));
    }
    let c = &read.collection;
    if c.objects.is_empty() && c.image_labels.is_empty() {
        issues.push(Issue::warning("empty", rel, None, "holds no annotations"));
    }
    let size = image
        .and_then(|i| m.image(i))
        .and_then(crate::vectors::image_size);
    let mut seen = HashSet::new();
    for (i, o) in c.objects.iter().enumerate() {
        let name = o.name(i);
        if let Some(id) = &o.id {
            if !seen.insert(id.clone()) {
                issues.push(Issue::error(
                    "duplicate",
                    rel,
                    None,
                    format!("object {name}: the id is used twice"),
                ));
            }
        }
        for p in crate::vectors::geometry_problems(o) {
            issues.push(Issue::warning(
                "geometry",
                rel,
                None,
                format!("object {name}: {p} (rasterised even-odd, as pycocotools would)"),
            ));
        }
        if let (Some((h, w)), Some([x0, y0, x1, y1])) = (size, o.geometry.bounds()) {
            let (h, w) = (f64::from(h), f64::from(w));
            if x1 < 0.0 || y1 < 0.0 || x0 > w || y0 > h {
                issues.push(Issue::error(
                    "bounds",
                    rel,
                    None,
                    format!("object {name} lies wholly outside its {w}×{h} image"),
                ));
            } else if x0 < 0.0 || y0 < 0.0 || x1 > w || y1 > h {
                issues.push(Issue::warning(
                    "bounds",
                    rel,
                    None,
                    format!("object {name} extends beyond its {w}×{h} image (x {x0}..{x1}, y {y0}..{y1})"),
                ));
            }
        }
        if let Some(class) = o.class() {
            if m.class(class).is_none() {
                issues.push(Issue::error(
                    "class",
                    rel,
                    None,
                    format!("object {name}: class {class:?} is not in the package's classes"),
                ));
            }
        }
    }
    for l in &c.image_labels {
        if m.class(&l.class).is_none() {
            issues.push(Issue::error(
                "class",
                rel,
                None,
                format!(
                    "image label: class {:?} is not in the package's classes",
                    l.class
                ),
            ));
        }
    }
    issues
}

pub use mifa_model::ids::valid_id;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_tracks_with_unplaceable_objects_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pkg");
        let mut pkg = crate::Package::create(&dir, Manifest::new("Tracks", "MIT")).unwrap();
        let xml =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/tracks/FakeTracks.xml");
        let source = crate::tracks::Source::Trackmate;
        crate::tracks::import_tracks(&mut pkg, source, &xml, "t", &Default::default()).unwrap();
        let store = dir.join("annotations/t").join(crate::tracks::STORE_DIR);
        let objects = std::fs::read_dir(&store)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with("objects.csv"))
            .unwrap();
        let text = std::fs::read_to_string(&objects).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let x = lines[0]
            .split(',')
            .position(|h| h == "cmso_x_coord")
            .unwrap();
        let mut row: Vec<&str> = lines[1].split(',').collect();
        row[x] = "NaN";
        lines[1] = row.join(",");
        std::fs::write(&objects, lines.join("\n") + "\n").unwrap();
        let report = validate(&dir).unwrap();
        let found: Vec<&Issue> = report
            .issues
            .iter()
            .filter(|i| i.message.contains("x is NaN, not a finite number"))
            .collect();
        assert_eq!(found.len(), 1, "{:#?}", report.issues);
        assert_eq!(found[0].severity, Severity::Error);
    }
}
