//! A BioImage Archive submission from a released package: PageTab (JSON and TSV) with the
//! REMBI sections and one `Annotation` section per annotation set (every MIFA attribute), TSV
//! file lists, and the files laid out as the lists name them (images and masks as zipped
//! OME-Zarr, vector and track annotations in their open formats, mifa's metadata beside them).
//!
//! Everything is checked before anything is written ([`plan`]); the submission is written under
//! a temporary name and renamed when complete ([`publish`]); [`check`] re-reads a written
//! submission and checks its structure (section types, attribute names, references,
//! associations, file lists and the files they name). Facts and sources: `formats/bia/README.md`.

use crate::formats::pagetab::{
    self, check_path, Attribute, FileList, FileRef, Link, Section, Submission,
};
use crate::formats::zip;
use crate::io_error::{chain, io};
use crate::metadata::completeness::{self, Level};
use crate::metadata::{
    AnnotationFile, AnnotationMethod, AnnotationSet, AnnotationType, Biosample, ImageAcquisition,
    ImageAnalysis, ImageCorrelation, ImageEntry, Manifest, ModelRef, Person, Specimen, Study,
    StudyComponent,
};
use crate::package::{self, Package, ANNOTATIONS_DIR};
use crate::{info, tracks, validate, versions};
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Errors of publication.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The package or a release record could not be read.
    #[error(transparent)]
    Versions(#[from] versions::Error),
    /// Validation could not run.
    #[error(transparent)]
    Validate(#[from] validate::Error),
    /// Reading the tracks of a set failed.
    #[error(transparent)]
    Tracks(#[from] tracks::Error),
    /// Writing a zipped OME-Zarr failed.
    #[error(transparent)]
    Zip(#[from] zip::Error),
    /// Reading a written PageTab document failed.
    #[error(transparent)]
    Pagetab(#[from] pagetab::Error),
    /// Writing a file failed.
    #[error(transparent)]
    Package(#[from] package::Error),
    /// The checks found errors; nothing was written.
    #[error("the package cannot be submitted yet ({} problem(s)):\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Refused(Vec<Problem>),
    /// The output folder is in the way, or another argument is unusable.
    #[error("{0}")]
    Invalid(String),
    /// A filesystem operation failed.
    #[error(transparent)]
    Io(#[from] crate::io_error::IoError),
}

/// Error or warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks the submission.
    Error,
    /// Worth knowing; does not block.
    Warning,
}

/// One finding of the checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// Where: a manifest key (`study.license`), a file, or a PageTab section.
    pub at: String,
    /// What is wrong, with the value, and what to do.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{s}: {}: {}", self.at, self.message)
    }
}

fn error(at: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        severity: Severity::Error,
        at: at.into(),
        message: message.into(),
    }
}

fn warning(at: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        severity: Severity::Warning,
        at: at.into(),
        message: message.into(),
    }
}

/// Which name the annotation sections get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnnotationSection {
    /// `Annotation`: the BioImages.v5 template's name (what the submission tool writes).
    #[default]
    Annotation,
    /// `Annotations`: the older name, the one BIA's ingester looks for today.
    Annotations,
}

impl AnnotationSection {
    /// The section type.
    pub fn as_str(self) -> &'static str {
        match self {
            AnnotationSection::Annotation => "Annotation",
            AnnotationSection::Annotations => "Annotations",
        }
    }
}

/// Publication options.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// Accession of the BIA study holding the previous version (`S-BIAD…`), when known.
    pub previous_accession: Option<String>,
    /// Submit although the licence is not one BIA offers (CC0, CC BY 4.0); recorded as a warning.
    pub allow_license: bool,
    /// Name of the annotation sections.
    pub annotation_section: AnnotationSection,
    /// Replace an earlier submission folder written by mifa.
    pub force: bool,
}

/// Where a file of the submission comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// An OME-Zarr group zipped (root at the zip root), without the folders in `skip`.
    Zarr {
        /// Group directory.
        root: PathBuf,
        /// Sub-folders left out (an image's `labels`, published as annotation files).
        skip: Vec<String>,
        /// The OME-Zarr version, for the archive comment.
        ome_version: String,
    },
    /// A file copied as it is.
    Copy(PathBuf),
    /// Bytes made here (file lists, metadata).
    Bytes(Vec<u8>),
}

/// One file of the upload area.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// Path in the upload area (as the file lists name it).
    pub path: String,
    /// Exact size in bytes.
    pub size: u64,
    /// Where it comes from.
    pub source: Source,
}

/// How to upload a submission of a given size, per BIA's guidance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// The BioStudies submission tool's upload: under 50 GB in all and 20 GB per file.
    SubmissionTool,
    /// FTP to the personal secret directory: up to 1 TB.
    Ftp,
    /// Aspera: beyond 1 TB.
    Aspera,
}

const GB: u64 = 1_000_000_000;

/// The route for `total` bytes whose largest file has `largest` bytes.
pub fn route(total: u64, largest: u64) -> Route {
    if total < 50 * GB && largest < 20 * GB {
        Route::SubmissionTool
    } else if total <= 1000 * GB {
        Route::Ftp
    } else {
        Route::Aspera
    }
}

/// Everything a submission will hold, checked; nothing written yet.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The PageTab document.
    pub submission: Submission,
    /// Files of the upload area, file lists included, in writing order.
    pub files: Vec<Planned>,
    /// Findings; any error blocks [`publish`].
    pub problems: Vec<Problem>,
    /// Release published.
    pub version: String,
    /// Its dataset hash.
    pub fingerprint: String,
    /// Bytes to upload.
    pub total_bytes: u64,
    /// Upload route for that size.
    pub route: Route,
}

impl Plan {
    /// The errors.
    pub fn errors(&self) -> Vec<&Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .collect()
    }
}

/// Folder (inside the submission) holding what is uploaded.
pub const UPLOAD_DIR: &str = "upload";
/// Marker naming the package, version and fingerprint a submission folder was made from.
pub const MARKER: &str = "mifa-submission.json";

fn license(spdx: &str) -> Option<(&'static str, &'static str)> {
    match spdx.trim() {
        "CC0-1.0" => Some((
            "CC0",
            "https://creativecommons.org/publicdomain/zero/1.0/legalcode",
        )),
        "CC-BY-4.0" => Some((
            "CC BY 4.0",
            "https://creativecommons.org/licenses/by/4.0/legalcode",
        )),
        _ => None,
    }
}

fn zip_path(id: &str) -> String {
    format!("images/{id}.ome.zarr.zip")
}

fn join(v: &[String]) -> String {
    v.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Size of a STORED ZIP64 archive as [`zip::write`] writes it.
fn zip_size(entries: &[(String, PathBuf)], comment: &str) -> Result<u64, Error> {
    let mut n = 56 + 20 + 22 + comment.len() as u64;
    for (name, p) in entries {
        let size = std::fs::metadata(p).map_err(io(p))?.len();
        n += 30 + 20 + 46 + 28 + 2 * name.len() as u64 + size;
    }
    Ok(n)
}

fn ome_version(root: &Path) -> String {
    let v3 = root.join("zarr.json");
    let text = std::fs::read_to_string(&v3)
        .or_else(|_| std::fs::read_to_string(root.join(".zattrs")))
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let attrs = v.get("attributes").unwrap_or(&v);
    attrs
        .pointer("/ome/version")
        .or_else(|| attrs.pointer("/multiscales/0/version"))
        .and_then(|x| x.as_str())
        .unwrap_or(if v3.is_file() { "0.5" } else { "0.4" })
        .to_string()
}

/// Checks the package and lays out its submission; writes nothing.
pub fn plan(pkg: &Package, opts: &PublishOptions) -> Result<Plan, Error> {
    let mut p = Planner::new(pkg, opts);
    p.requirements()?;
    let records = versions::records(p.root)?;
    let (version, fingerprint) = p.release(&records)?;
    p.check_title();
    let release_date = p.release_date();
    let mut study = p.study(&version, &fingerprint);
    p.authors(&mut study);
    publications_and_funding(&p.m.study, &mut study);
    p.rembi(&mut study);
    p.study_components(&mut study);
    p.annotation_sets(&mut study)?;
    p.metadata_files(&mut study, &records)?;
    Ok(p.finish(study, release_date, version, fingerprint))
}

/// An image's (biosample, specimen, image acquisition) titles: one Associations section each.
type Association = (String, String, String);

/// What the steps of [`plan`] share: the package, and what they have found and laid out so far.
struct Planner<'a> {
    pkg: &'a Package,
    m: &'a Manifest,
    root: &'a Path,
    opts: &'a PublishOptions,
    /// The release published, when there is one.
    record: Option<versions::Record>,
    problems: Vec<Problem>,
    /// REMBI section titles by (section type, id), for the associations that name them.
    titles: BTreeMap<(&'static str, String), String>,
    used_titles: BTreeSet<(&'static str, String)>,
    /// Files of the upload area, in writing order.
    files: Vec<Planned>,
    seen_paths: BTreeSet<String>,
}

impl<'a> Planner<'a> {
    fn new(pkg: &'a Package, opts: &'a PublishOptions) -> Self {
        Planner {
            pkg,
            m: pkg.manifest(),
            root: pkg.root(),
            opts,
            record: None,
            problems: Vec::new(),
            titles: BTreeMap::new(),
            used_titles: BTreeSet::new(),
            files: Vec::new(),
            seen_paths: BTreeSet::new(),
        }
    }

    /// The BIA-required metadata and everything `mifa validate` calls an error.
    fn requirements(&mut self) -> Result<(), Error> {
        for c in completeness::checks(self.m) {
            if c.level == Level::Required && !c.present {
                self.problems.push(error(
                    &c.path,
                    format!("required by the BioImage Archive: {}", c.hint),
                ));
            }
        }
        let report = validate::validate(self.root)?;
        for i in report.errors() {
            let at = match &i.path {
                Some(p) => format!("{} {p}", i.file),
                None => i.file.clone(),
            };
            self.problems
                .push(error(at, format!("{} (mifa validate)", i.message)));
        }
        Ok(())
    }

    /// What is published is a release, unchanged since: its version and dataset hash, both
    /// empty when there is no release.
    fn release(
        &mut self,
        records: &[(PathBuf, versions::Record)],
    ) -> Result<(String, String), Error> {
        let Some((_, r)) = records.last() else {
            self.problems.push(error(
                "versions/",
                "no release yet: a submission publishes a release (mifa release DIR --version 1.0.0 --changes \"…\")",
            ));
            return Ok((String::new(), String::new()));
        };
        let v = versions::verify(self.root, Some(&r.version))?;
        if !v.ok() {
            self.problems.push(error(
                format!("versions/{}.json", r.version),
                format!(
                    "the package differs from release {} ({} missing, {} changed, {} unexpected file(s), {} chain error(s)): release the changes, or restore, first (mifa verify DIR lists them)",
                    r.version,
                    v.missing.len(),
                    v.corrupted.len(),
                    v.unexpected.len(),
                    v.chain_errors.len()
                ),
            ));
        }
        self.record = Some(r.clone());
        Ok((r.version.clone(), r.dataset_sha256.clone()))
    }

    fn check_title(&mut self) {
        let title = &self.m.study.title;
        if title.trim().chars().count() < 25 {
            self.problems.push(error(
                "study.title",
                format!("{title:?} is shorter than the 25 characters BIA's template asks for"),
            ));
        }
    }

    /// The submission's release date, checked against BIA's two-year limit on private data.
    fn release_date(&mut self) -> String {
        let today = chrono::Utc::now().date_naive();
        let Some(d) = self.m.study.release_date.as_deref() else {
            self.problems.push(error(
                "study.release_date",
                "BIA needs a release date (YYYY-MM-DD): mifa meta set DIR study.release_date 2027-01-31",
            ));
            return String::new();
        };
        match chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            Err(_) => self.problems.push(error(
                "study.release_date",
                format!("{d:?} is not a YYYY-MM-DD date"),
            )),
            Ok(date) if date < today => self.problems.push(warning(
                "study.release_date",
                format!("{d} is in the past: the study becomes public as soon as BIA accepts it"),
            )),
            Ok(date) if date > today + chrono::Days::new(731) => self.problems.push(error(
                "study.release_date",
                format!("{d} is more than two years ahead; BIA holds data private for at most two years"),
            )),
            Ok(_) => {}
        }
        d.to_string()
    }

    /// The Study section's attributes and links, without its subsections.
    fn study(&mut self, version: &str, fingerprint: &str) -> Section {
        let s = &self.m.study;
        let mut study = Section::new("Study", None);
        study.attr("Title", s.title.trim());
        study.attr("Description", s.description.clone().unwrap_or_default());
        for k in &s.keywords {
            study.attr("Keywords", k.label.clone());
        }
        study.attr(
            "Acknowledgements",
            s.acknowledgements.clone().unwrap_or_default(),
        );
        let license = self.license_attribute();
        study.attributes.push(license);
        study.attr(
            "Funding statement",
            s.funding_statement.clone().unwrap_or_default(),
        );
        study.attr("Dataset version", version);
        if !fingerprint.is_empty() {
            study.attr("Dataset fingerprint", fingerprint);
        }
        if let Some(p) = self.record.as_ref().and_then(|r| r.previous.as_ref()) {
            study.attr("Previous version", p.version.clone());
        }
        if let Some(acc) = &self.opts.previous_accession {
            let ok = acc.starts_with("S-")
                && acc.len() > 2
                && acc[2..].chars().all(|c| c.is_ascii_alphanumeric());
            if !ok {
                self.problems.push(error(
                    "--previous-accession",
                    format!("{acc:?} is not a BioStudies accession (S-BIAD123)"),
                ));
            }
            study.attr("Previous version accession", acc.clone());
        }
        study.links.extend(model_links(&s.models));
        study
    }

    /// The License attribute; a licence BIA does not offer is an error unless allowed.
    fn license_attribute(&mut self) -> Attribute {
        let spdx = &self.m.study.license;
        if let Some((name, url)) = license(spdx) {
            return Attribute {
                name: "License".into(),
                value: name.into(),
                reference: false,
                valqual: vec![("URL".into(), url.into())],
            };
        }
        let msg = format!(
            "{spdx:?} is not a licence BIA offers (CC0-1.0 or CC-BY-4.0); relicense if you hold the rights (mifa meta set DIR study.license CC-BY-4.0), or agree it with BIA first",
        );
        self.problems.push(if self.opts.allow_license {
            warning(
                "study.license",
                format!("{msg} (submitted anyway: --allow-license)"),
            )
        } else {
            error(
                "study.license",
                format!("{msg}; --allow-license writes it anyway"),
            )
        });
        Attribute {
            name: "License".into(),
            value: spdx.clone(),
            reference: false,
            valqual: vec![(
                "URL".into(),
                format!("https://spdx.org/licenses/{}.html", spdx.trim()),
            )],
        }
    }

    /// Author sections, then one organisation section per distinct affiliation.
    fn authors(&mut self, study: &mut Section) {
        let m = self.m;
        let mut orgs: Vec<String> = Vec::new();
        for (i, a) in m.study.authors.iter().enumerate() {
            let sec = self.author(i, a, &mut orgs);
            study.subsections.push(sec);
        }
        for (k, o) in orgs.iter().enumerate() {
            let mut sec = Section::new("organisation", Some(format!("o{}", k + 1)));
            sec.attr("Name", o.clone());
            study.subsections.push(sec);
        }
    }

    /// Study author `i`; its affiliation refers to its entry in `orgs`, added if new.
    fn author(&mut self, i: usize, a: &Person, orgs: &mut Vec<String>) -> Section {
        let mut sec = Section::new("Author", Some(format!("a-{}", i + 1)));
        sec.attr("Name", a.name.clone());
        sec.attr("E-mail", a.email.clone().unwrap_or_default());
        sec.attr("ORCID", a.orcid.clone().unwrap_or_default());
        sec.attr("Role", a.roles.join(", "));
        match a
            .affiliation
            .as_deref()
            .map(str::trim)
            .filter(|x| !x.is_empty())
        {
            Some(org) => {
                let k = orgs.iter().position(|o| o == org).unwrap_or_else(|| {
                    orgs.push(org.to_string());
                    orgs.len() - 1
                });
                sec.attributes.push(Attribute {
                    name: "affiliation".into(),
                    value: format!("o{}", k + 1),
                    reference: true,
                    valqual: Vec::new(),
                });
            }
            None => self.problems.push(error(
                format!("study.authors[{i}].affiliation"),
                format!("BIA needs an organisation for every author ({})", a.name),
            )),
        }
        if a.email.is_none() {
            self.problems.push(error(
                format!("study.authors[{i}].email"),
                format!("BIA needs an e-mail for every author ({})", a.name),
            ));
        }
        sec
    }

    /// A REMBI section's title (its id when it has none), which must be unique per section
    /// type: associations name sections by title.
    fn title_of(&mut self, kind: &'static str, id: &str, title: Option<&String>) -> String {
        let t = title
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| id.to_string());
        if !self.used_titles.insert((kind, t.clone())) {
            self.problems.push(error(
                format!("rembi {kind} {id:?}"),
                format!("title {t:?} is used twice; BIA links images to {kind} sections by title"),
            ));
        }
        self.titles.insert((kind, id.to_string()), t.clone());
        t
    }

    /// The title [`Planner::title_of`] gave the REMBI section `id` of type `kind`.
    fn title(&self, kind: &'static str, id: &str) -> Option<String> {
        self.titles.get(&(kind, id.to_string())).cloned()
    }

    /// The REMBI sections, by type.
    fn rembi(&mut self, study: &mut Section) {
        let r = &self.m.rembi;
        for b in &r.biosamples {
            let sec = self.biosample(b);
            study.subsections.push(sec);
        }
        for x in &r.specimens {
            let sec = self.specimen(x);
            study.subsections.push(sec);
        }
        for x in &r.acquisitions {
            let sec = self.acquisition(x);
            study.subsections.push(sec);
        }
        for x in &r.correlations {
            let sec = self.correlation(x);
            study.subsections.push(sec);
        }
        for x in &r.analyses {
            let sec = self.analysis(x);
            study.subsections.push(sec);
        }
    }

    fn biosample(&mut self, b: &Biosample) -> Section {
        let mut sec = Section::new("Biosample", Some(format!("biosample-{}", b.id)));
        sec.attr("Title", self.title_of("Biosample", &b.id, b.title.as_ref()));
        for o in &b.organisms {
            let v = match &o.common_name {
                Some(c) => format!("{} ({c})", o.scientific_name),
                None => o.scientific_name.clone(),
            };
            sec.attr("Organism", v);
        }
        sec.attr("Description", b.description.clone().unwrap_or_default());
        sec.attr(
            "Biological entity",
            b.biological_entity.clone().unwrap_or_default(),
        );
        sec.attr("Experimental variable", join(&b.experimental_variables));
        sec.attr("Extrinsic variable", join(&b.extrinsic_variables));
        sec.attr("Intrinsic variable", join(&b.intrinsic_variables));
        sec
    }

    fn specimen(&mut self, x: &Specimen) -> Section {
        let mut sec = Section::new("Specimen", Some(format!("specimen-{}", x.id)));
        sec.attr("Title", self.title_of("Specimen", &x.id, x.title.as_ref()));
        sec.attr(
            "Sample preparation protocol",
            x.sample_preparation_protocol.clone().unwrap_or_default(),
        );
        sec.attr(
            "Growth protocol",
            x.growth_protocol.clone().unwrap_or_default(),
        );
        sec
    }

    fn acquisition(&mut self, x: &ImageAcquisition) -> Section {
        let mut sec = Section::new("Image acquisition", Some(format!("acquisition-{}", x.id)));
        sec.attr(
            "Title",
            self.title_of("Image acquisition", &x.id, x.title.as_ref()),
        );
        sec.attr(
            "Imaging instrument",
            x.instrument.clone().unwrap_or_default(),
        );
        sec.attr(
            "Image acquisition parameters",
            x.parameters.clone().unwrap_or_default(),
        );
        sec.attr(
            "Imaging method",
            x.imaging_method
                .as_ref()
                .map(|t| t.label.clone())
                .unwrap_or_default(),
        );
        sec
    }

    fn correlation(&mut self, x: &ImageCorrelation) -> Section {
        let mut sec = Section::new("Image correlation", Some(format!("correlation-{}", x.id)));
        sec.attr(
            "Title",
            self.title_of("Image correlation", &x.id, x.title.as_ref()),
        );
        sec.attr("Fiducials used", x.fiducials.clone().unwrap_or_default());
        sec.attr(
            "Spatial and temporal alignment",
            x.spatial_temporal_alignment.clone().unwrap_or_default(),
        );
        sec.attr(
            "Transformation matrix",
            x.transformation_matrix.clone().unwrap_or_default(),
        );
        sec
    }

    fn analysis(&mut self, x: &ImageAnalysis) -> Section {
        let mut sec = Section::new("Image analysis", Some(format!("analysis-{}", x.id)));
        sec.attr(
            "Title",
            self.title_of("Image analysis", &x.id, x.title.as_ref()),
        );
        sec.attr(
            "Image analysis overview",
            x.overview.clone().unwrap_or_default(),
        );
        sec
    }

    /// Adds a file to the upload area; its path must be valid for BIA and its own.
    fn add(&mut self, p: Planned) {
        if let Err(e) = check_path(&p.path) {
            self.problems.push(error(
                p.path.clone(),
                format!("not a valid BIA file path: {e}"),
            ));
        }
        if !self.seen_paths.insert(p.path.clone()) {
            self.problems.push(error(
                p.path.clone(),
                "two files of the submission would share this path",
            ));
        }
        self.files.push(p);
    }

    /// Adds a file list, as TSV.
    fn add_list(&mut self, path: String, list: &FileList) {
        let text = list.to_tsv().into_bytes();
        self.add(Planned {
            path,
            size: text.len() as u64,
            source: Source::Bytes(text),
        });
    }

    /// An OME-Zarr group to zip without the folders in `skip`: its exact size and source, or
    /// `None` (a problem at `at`) when it cannot be read.
    fn zipped(&mut self, at: String, root: PathBuf, skip: &[&str]) -> Option<(u64, Source)> {
        let version = ome_version(&root);
        let comment = json!({"ome": {"version": version}}).to_string();
        match zip::zarr_entries(&root, skip)
            .map_err(Error::from)
            .and_then(|e| zip_size(&e, &comment))
        {
            Ok(size) => Some((
                size,
                Source::Zarr {
                    root,
                    skip: skip.iter().map(|s| s.to_string()).collect(),
                    ome_version: version,
                },
            )),
            Err(e) => {
                self.problems
                    .push(error(at, format!("cannot be read: {}", chain(&e))));
                None
            }
        }
    }

    /// Study components: images grouped, one Associations subsection per distinct REMBI link.
    fn study_components(&mut self, study: &mut Section) {
        let m = self.m;
        if m.images.is_empty() {
            self.problems.push(error(
                "images",
                "the package has no images; a BIA study component needs at least one",
            ));
        }
        let mut by_comp: BTreeMap<String, Vec<&ImageEntry>> = BTreeMap::new();
        for img in &m.images {
            match m.study_component_of(img) {
                Some(c) => by_comp.entry(c.to_string()).or_default().push(img),
                None => self.problems.push(error(
                    format!("images[{}].study_component", img.id),
                    "the image belongs to no study component (and the package has several, or none): mifa meta set DIR images[ID].study_component …",
                )),
            }
        }
        let mut comp_names = BTreeSet::new();
        for (ci, c) in m.rembi.study_components.iter().enumerate() {
            let Some(imgs) = by_comp.get(&c.id) else {
                self.problems.push(warning(
                    format!("rembi.study_components[{}]", c.id),
                    "no image belongs to this study component; it is left out",
                ));
                continue;
            };
            let name = c.name.clone().unwrap_or_else(|| c.id.clone());
            if !comp_names.insert(name.clone()) {
                self.problems.push(error(
                    format!("rembi.study_components[{}].name", c.id),
                    format!("name {name:?} is used twice; BIA groups file lists by it"),
                ));
            }
            let sec = self.study_component(ci, c, name, imgs);
            study.subsections.push(sec);
        }
    }

    /// Study component `ci`: its section, the file list of its images and the images zipped.
    fn study_component(
        &mut self,
        ci: usize,
        c: &StudyComponent,
        name: String,
        imgs: &[&ImageEntry],
    ) -> Section {
        let list_path = format!("file-lists/images-{}.tsv", c.id);
        let mut sec = Section::new("Study Component", Some(format!("sc-{}", ci + 1)));
        sec.attr("Name", name);
        sec.attr("Description", c.description.clone().unwrap_or_default());
        sec.attr("File List", list_path.clone());
        let mut assoc: BTreeSet<Association> = BTreeSet::new();
        let mut list = FileList {
            columns: [
                "Image id",
                "Axes",
                "Shape",
                "Data type",
                "Pixel size",
                "Channels",
                "Biosample",
                "Specimen",
                "Image acquisition",
            ]
            .map(String::from)
            .to_vec(),
            rows: Vec::new(),
        };
        for img in imgs {
            self.image(img, &mut assoc, &mut list);
        }
        sec.subsections.extend(self.associations(ci, &assoc));
        self.add_list(list_path, &list);
        sec
    }

    /// One image: its association, its file list row and its zipped OME-Zarr (without
    /// `labels`: those are published as annotation files).
    fn image(&mut self, img: &ImageEntry, assoc: &mut BTreeSet<Association>, list: &mut FileList) {
        let links = self.image_links(img, assoc);
        let key = format!("images[{}].path", img.id);
        let ms_root = match self.pkg.resolve(&img.path) {
            Ok(r) if r.is_dir() => r,
            Ok(r) => {
                self.problems
                    .push(error(key, format!("{} is missing", r.display())));
                return;
            }
            Err(e) => {
                self.problems.push(error(key, e));
                return;
            }
        };
        let Some((size, source)) = self.zipped(key, ms_root, &["labels"]) else {
            return;
        };
        list.rows.push((zip_path(&img.id), image_row(img, links)));
        self.add(Planned {
            path: zip_path(&img.id),
            size,
            source,
        });
    }

    /// The titles of an image's biosample, specimen and acquisition; records their
    /// association when the image names all three and all three exist.
    fn image_links(
        &mut self,
        img: &ImageEntry,
        assoc: &mut BTreeSet<Association>,
    ) -> (Option<String>, Option<String>, Option<String>) {
        let m = self.m;
        let (b, sp, a) = (
            m.biosample_of(img),
            m.specimen_of(img),
            m.acquisition_of(img),
        );
        let mut ok = true;
        for (what, v, key) in [
            ("biosample", b, "biosample"),
            ("specimen", sp, "specimen"),
            ("image acquisition", a, "acquisition"),
        ] {
            if v.is_none() {
                ok = false;
                self.problems.push(error(
                    format!("images[{}].{key}", img.id),
                    format!("BIA needs the {what} of every image (none given, and the package has not exactly one)"),
                ));
            }
        }
        let (bt, st, at) = (
            b.and_then(|b| self.title("Biosample", b)),
            sp.and_then(|x| self.title("Specimen", x)),
            a.and_then(|x| self.title("Image acquisition", x)),
        );
        if ok {
            match (&bt, &st, &at) {
                (Some(bt), Some(st), Some(at)) => {
                    assoc.insert((bt.clone(), st.clone(), at.clone()));
                }
                _ => self.problems.push(error(
                    format!("images[{}]", img.id),
                    "links to a biosample, specimen or acquisition that the package does not define",
                )),
            }
        }
        (bt, st, at)
    }

    /// Study component `ci`'s Associations sections; the study's correlation and analysis
    /// join each when the study has exactly one.
    fn associations(&self, ci: usize, assoc: &BTreeSet<Association>) -> Vec<Section> {
        let r = &self.m.rembi;
        let mut out = Vec::new();
        for (k, (b, sp, a)) in assoc.iter().enumerate() {
            let mut asec =
                Section::new("Associations", Some(format!("sc-{}-as-{}", ci + 1, k + 1)));
            asec.attr("Biosample", b.clone());
            asec.attr("Specimen", sp.clone());
            asec.attr("Image acquisition", a.clone());
            if r.correlations.len() == 1 {
                asec.attr(
                    "Image correlation",
                    self.title("Image correlation", &r.correlations[0].id)
                        .unwrap_or_default(),
                );
            }
            if r.analyses.len() == 1 {
                asec.attr(
                    "Image analysis",
                    self.title("Image analysis", &r.analyses[0].id)
                        .unwrap_or_default(),
                );
            }
            out.push(asec);
        }
        out
    }

    /// One annotation section and file list per set.
    fn annotation_sets(&mut self, study: &mut Section) -> Result<(), Error> {
        let m = self.m;
        let mut set_titles = BTreeSet::new();
        for (si, set) in m.annotation_sets.iter().enumerate() {
            let title = set.title.clone().unwrap_or_else(|| set.id.clone());
            if !set_titles.insert(title.clone()) {
                self.problems.push(error(
                    format!("annotation_sets[{}].title", set.id),
                    format!(
                        "title {title:?} is used twice; BIA groups annotation file lists by title"
                    ),
                ));
            }
            if let Some(sec) = self.annotation_set(si, set, title)? {
                study.subsections.push(sec);
            }
        }
        Ok(())
    }

    /// Set `si`: its section, its file list and its files; `None` when its tracks cannot be
    /// read (a problem), so that the set is left out.
    fn annotation_set(
        &mut self,
        si: usize,
        set: &AnnotationSet,
        title: String,
    ) -> Result<Option<Section>, Error> {
        let list_path = format!("file-lists/annotations-{}.tsv", set.id);
        let mut sec = self.annotation_section(si, set, title, &list_path);
        sec.subsections.extend(annotators(si, set));
        if let Some(v) = self.version_section(si) {
            sec.subsections.push(v);
        }
        let mut list = FileList {
            columns: [
                "Source Image",
                "Annotation Type",
                "Transformation",
                "Creation Time",
            ]
            .map(String::from)
            .to_vec(),
            rows: Vec::new(),
        };
        let is_tracks = set.types.contains(&AnnotationType::Tracks)
            && self
                .root
                .join(ANNOTATIONS_DIR)
                .join(&set.id)
                .join(tracks::DESCRIPTOR)
                .is_file();
        if is_tracks {
            if !self.track_files(set, &mut list)? {
                return Ok(None);
            }
        } else {
            for (fi, f) in set.files.iter().enumerate() {
                self.annotation_file(set, fi, f, &mut list);
            }
        }
        self.add_list(list_path, &list);
        Ok(Some(sec))
    }

    /// Set `si`'s section with every MIFA attribute, without its subsections.
    fn annotation_section(
        &self,
        si: usize,
        set: &AnnotationSet,
        title: String,
        list_path: &str,
    ) -> Section {
        let mut sec = Section::new(
            self.opts.annotation_section.as_str(),
            Some(format!("annotation-{}", si + 1)),
        );
        sec.attr("Title", title);
        sec.attr(
            "Annotation Overview",
            set.overview.clone().unwrap_or_default(),
        );
        sec.attr("Annotation Type", types_of(&set.types));
        if let Some(meth) = &set.method {
            sec.attr("Annotation Method", method_text(meth));
        }
        sec.attr(
            "Annotation Confidence Level",
            set.confidence.clone().unwrap_or_default(),
        );
        sec.attr(
            "Annotation Criteria",
            set.criteria.clone().unwrap_or_default(),
        );
        let cov = info::coverage(self.m, set);
        sec.attr(
            "Annotation Coverage",
            format!(
                "{} of {} images annotated ({} file(s))",
                cov.images_annotated, cov.images_total, cov.files
            ),
        );
        sec.attr(
            "Transformations",
            set.transformations.clone().unwrap_or_default(),
        );
        if let Some(sp) = &set.spatial {
            sec.attr(
                "Spatial Information",
                match &sp.description {
                    Some(d) => format!("{}: {d}", sp.units),
                    None => sp.units.clone(),
                },
            );
        }
        sec.attr("Creation Time", set.created.clone().unwrap_or_default());
        sec.attr("File List", list_path);
        sec
    }

    /// The release published, as set `si`'s Version subsection.
    fn version_section(&self, si: usize) -> Option<Section> {
        let rec = self.record.as_ref()?;
        let mut v = Section::new("Version", Some(format!("annotation-{}-version", si + 1)));
        v.attr("Annotation version", rec.version.clone());
        v.attr("Version timestamp", rec.timestamp.clone());
        v.attr("Version changes", rec.changes.clone());
        v.attr(
            "Previous version",
            rec.previous
                .as_ref()
                .map(|p| p.version.clone())
                .unwrap_or_default(),
        );
        v.attr(
            "Previous version accession",
            self.opts.previous_accession.clone().unwrap_or_default(),
        );
        Some(v)
    }

    /// A tracks set's stored files, copied as they are; `false` when the tracks cannot be read.
    fn track_files(&mut self, set: &AnnotationSet, list: &mut FileList) -> Result<bool, Error> {
        let stored = match tracks::read_set(self.pkg, &set.id) {
            Ok(st) => st,
            Err(e) => {
                self.problems.push(error(
                    format!("annotation_sets[{}]", set.id),
                    format!("the tracks cannot be read: {}", chain(&e)),
                ));
                return Ok(false);
            }
        };
        let src = stored.image.as_deref().map(zip_path).unwrap_or_default();
        if src.is_empty() {
            self.problems.push(error(format!("annotation_sets[{}]", set.id), "the tracks belong to no image; BIA needs the source image of every annotation file"));
        }
        let dir = self.root.join(ANNOTATIONS_DIR).join(&set.id);
        for (rel, p) in zip::zarr_entries(&dir, &[])? {
            let path = format!("annotations/{}/{rel}", set.id);
            let size = std::fs::metadata(&p).map_err(io(&p))?.len();
            list.rows.push((
                path.clone(),
                vec![
                    src.clone(),
                    "tracks".into(),
                    set.transformations.clone().unwrap_or_default(),
                    set.created.clone().unwrap_or_default(),
                ],
            ));
            self.add(Planned {
                path,
                size,
                source: Source::Copy(p),
            });
        }
        Ok(true)
    }

    /// File `fi` of a set: its row (listed with its first source image) and the file, a label
    /// image zipped, anything else copied.
    fn annotation_file(
        &mut self,
        set: &AnnotationSet,
        fi: usize,
        f: &AnnotationFile,
        list: &mut FileList,
    ) {
        let at = format!("annotation_sets[{}].files[{fi}]", set.id);
        let Some(img) = f.source_images.first() else {
            self.problems.push(error(
                at,
                format!(
                    "{} names no source image; BIA needs one per annotation file",
                    f.path
                ),
            ));
            return;
        };
        let types = if f.types.is_empty() {
            types_of(&set.types)
        } else {
            types_of(&f.types)
        };
        let transformation = f
            .transformation
            .clone()
            .or_else(|| set.transformations.clone())
            .unwrap_or_default();
        let created = f
            .created
            .clone()
            .or_else(|| set.created.clone())
            .unwrap_or_default();
        if f.source_images.len() > 1 {
            self.problems.push(warning(
                at.clone(),
                format!(
                    "{} annotates {} images; a BIA file list row has one Source Image, so it is listed with {img:?} only",
                    f.path,
                    f.source_images.len()
                ),
            ));
        }
        let Some(planned) = self.annotation_source(set, f, img, at) else {
            return;
        };
        list.rows.push((
            planned.path.clone(),
            vec![zip_path(img), types, transformation, created],
        ));
        self.add(planned);
    }

    /// Where annotation file `f` (annotating `img`) goes in the upload area; `None` (a problem
    /// at `at`) when it cannot be read.
    fn annotation_source(
        &mut self,
        set: &AnnotationSet,
        f: &AnnotationFile,
        img: &str,
        at: String,
    ) -> Option<Planned> {
        let src = match self.pkg.resolve(&f.path) {
            Ok(p) if p.exists() => p,
            Ok(p) => {
                self.problems
                    .push(error(at, format!("{} is missing", p.display())));
                return None;
            }
            Err(e) => {
                self.problems.push(error(at, e));
                return None;
            }
        };
        if f.path.contains("/labels/") {
            let (size, source) = self.zipped(at, src, &[])?;
            return Some(Planned {
                path: format!("annotations/{}/{img}.ome.zarr.zip", set.id),
                size,
                source,
            });
        }
        let name = f.path.rsplit('/').next().unwrap_or(&f.path);
        let size = match std::fs::metadata(&src) {
            Ok(m) if m.is_file() => m.len(),
            _ => {
                self.problems.push(error(
                    at,
                    format!("{} is not a readable file", src.display()),
                ));
                return None;
            }
        };
        Some(Planned {
            path: format!("annotations/{}/{name}", set.id),
            size,
            source: Source::Copy(src),
        })
    }

    /// mifa's own metadata, beside the data: the manifest, every release record, the citation.
    fn metadata_files(
        &mut self,
        study: &mut Section,
        records: &[(PathBuf, versions::Record)],
    ) -> Result<(), Error> {
        let mut meta_files = vec![(
            "mifa/mifa.json".to_string(),
            Source::Copy(self.pkg.manifest_path()),
            "mifa package manifest: study, REMBI and MIFA annotation metadata",
        )];
        for (p, r) in records {
            meta_files.push((format!("mifa/versions/{}.json", r.version), Source::Copy(p.clone()), "mifa release record: content manifest with SHA-256 of every file, dataset hash, changes, credit"));
        }
        if let Some(rec) = &self.record {
            if !rec.credit.is_empty() {
                let cff = versions::citation_cff(self.m, &rec.credit, Some(rec)).into_bytes();
                meta_files.push((
                    "mifa/CITATION.cff".to_string(),
                    Source::Bytes(cff),
                    "Citation File Format record of this dataset version",
                ));
            }
        }
        for (path, source, desc) in meta_files {
            let size = match &source {
                Source::Copy(p) => std::fs::metadata(p).map_err(io(p))?.len(),
                Source::Bytes(b) => b.len() as u64,
                Source::Zarr { .. } => 0,
            };
            study.files.push(FileRef {
                path: path.clone(),
                attributes: vec![Attribute::new("Description", desc)],
            });
            self.add(Planned { path, size, source });
        }
        Ok(())
    }

    /// The plan: the document, the files, their size and route, and the problems, errors first.
    fn finish(
        mut self,
        study: Section,
        release_date: String,
        version: String,
        fingerprint: String,
    ) -> Plan {
        let total: u64 = self.files.iter().map(|f| f.size).sum();
        let largest = self.files.iter().map(|f| f.size).max().unwrap_or(0);
        let route = route(total, largest);
        let submission = Submission {
            accno: String::new(),
            attributes: vec![
                Attribute::new("Title", self.m.study.title.trim()),
                Attribute::new("ReleaseDate", release_date),
                Attribute::new("AttachTo", "BioImages"),
                Attribute::new("Template", "BioImages.v5"),
            ],
            section: study,
        };
        self.problems.sort_by_key(|p| p.severity);
        Plan {
            submission,
            files: self.files,
            problems: self.problems,
            version,
            fingerprint,
            total_bytes: total,
            route,
        }
    }
}

/// Links to the models trained on the data that have an address.
fn model_links(models: &[ModelRef]) -> Vec<Link> {
    models
        .iter()
        .filter_map(|model| {
            let url = model.url.clone().or_else(|| {
                model
                    .bioimage_io_id
                    .as_ref()
                    .map(|id| format!("https://bioimage.io/#/?id={id}"))
            })?;
            let name = model.name.clone().unwrap_or_else(|| url.clone());
            Some(Link {
                url,
                attributes: vec![Attribute::new(
                    "Description",
                    format!("Model trained on these data: {name}"),
                )],
            })
        })
        .collect()
}

/// The study's Publication and Funding sections.
fn publications_and_funding(s: &Study, study: &mut Section) {
    for (i, p) in s.publications.iter().enumerate() {
        let mut sec = Section::new("Publication", Some(format!("p-{}", i + 1)));
        sec.attr("Title", p.title.clone().unwrap_or_default());
        sec.attr("Authors", p.authors.clone().unwrap_or_default());
        sec.attr("DOI", p.doi.clone().unwrap_or_default());
        sec.attr("Pubmed ID", p.pmid.clone().unwrap_or_default());
        sec.attr("Year", p.year.map(|y| y.to_string()).unwrap_or_default());
        study.subsections.push(sec);
    }
    for (i, f) in s.funding.iter().enumerate() {
        let mut sec = Section::new("Funding", Some(format!("f-{}", i + 1)));
        sec.attr("Agency", f.funder.clone());
        sec.attr("grant_id", f.grant_id.clone().unwrap_or_default());
        study.subsections.push(sec);
    }
}

/// An image's row in its study component's file list.
fn image_row(
    img: &ImageEntry,
    (bt, st, at): (Option<String>, Option<String>, Option<String>),
) -> Vec<String> {
    let px: Vec<String> = img
        .axes
        .iter()
        .filter_map(|a| {
            a.scale.map(|s| {
                format!(
                    "{}={s}{}",
                    a.name,
                    a.unit
                        .as_deref()
                        .map(|u| format!(" {u}"))
                        .unwrap_or_default()
                )
            })
        })
        .collect();
    vec![
        img.id.clone(),
        img.axes.iter().map(|a| a.name.as_str()).collect::<String>(),
        img.shape
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("x"),
        serde_json::to_value(img.dtype)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        px.join(", "),
        img.channel_names.join(", "),
        bt.unwrap_or_default(),
        st.unwrap_or_default(),
        at.unwrap_or_default(),
    ]
}

/// Annotation types as BIA lists them.
fn types_of(t: &[AnnotationType]) -> String {
    t.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ")
}

/// An annotation method as one attribute value: kind, description, software, consensus and
/// quality assurance.
fn method_text(meth: &AnnotationMethod) -> String {
    let kind = serde_json::to_value(meth.kind)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default();
    let mut parts = vec![kind];
    parts.extend(meth.description.clone());
    if !meth.software.is_empty() {
        parts.push(format!(
            "software: {}",
            meth.software
                .iter()
                .map(|s| match &s.version {
                    Some(v) => format!("{} {v}", s.name),
                    None => s.name.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    parts.extend(meth.consensus.as_ref().map(|c| format!("consensus: {c}")));
    parts.extend(
        meth.quality_assurance
            .as_ref()
            .map(|c| format!("quality assurance: {c}")),
    );
    parts.join("; ")
}

/// Annotator sections of set `si`. Not `Author`: BIA's ingest takes every `Author` section of
/// the tree as a study author.
fn annotators(si: usize, set: &AnnotationSet) -> Vec<Section> {
    let mut out = Vec::new();
    for (ai, a) in set.authors.iter().enumerate() {
        let mut asec = Section::new(
            "Annotator",
            Some(format!("annotation-{}-a-{}", si + 1, ai + 1)),
        );
        asec.attr("Name", a.name.clone());
        asec.attr("E-mail", a.email.clone().unwrap_or_default());
        asec.attr("ORCID", a.orcid.clone().unwrap_or_default());
        asec.attr(
            "Role",
            if a.roles.is_empty() {
                "annotator".to_string()
            } else {
                a.roles.join(", ")
            },
        );
        out.push(asec);
    }
    out
}

/// What [`publish`] wrote.
#[derive(Debug, Clone)]
pub struct Published {
    /// The plan carried out.
    pub plan: Plan,
    /// The submission folder.
    pub out: PathBuf,
}

/// Free bytes on the filesystem holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// Checks the package, then writes its submission to `out` (under a temporary name, renamed
/// when complete), and checks what was written.
pub fn publish(pkg: &Package, out: &Path, opts: &PublishOptions) -> Result<Published, Error> {
    let plan = plan(pkg, opts)?;
    let errors: Vec<Problem> = plan.errors().into_iter().cloned().collect();
    if !errors.is_empty() {
        return Err(Error::Refused(errors));
    }
    let name = out
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{}: not a folder name", out.display())))?
        .to_string_lossy()
        .into_owned();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if out.exists() {
        if !opts.force {
            return Err(Error::Invalid(format!(
                "{} exists; choose another folder, or --force to replace an earlier submission",
                out.display()
            )));
        }
        if !out.join(MARKER).is_file() {
            return Err(Error::Invalid(format!(
                "{} exists and is not a submission written by mifa (no {MARKER}); not replacing it",
                out.display()
            )));
        }
    }
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    // Inside the package the submission would become part of its content (and fail `verify`).
    let parent_abs = parent.canonicalize().map_err(io(&parent))?;
    let out_abs = parent_abs.join(&name);
    let root_abs = pkg.root().canonicalize().map_err(io(pkg.root()))?;
    if out_abs.starts_with(&root_abs) || root_abs.starts_with(&out_abs) {
        return Err(Error::Invalid(format!(
            "{}: the submission folder must be outside the package {} (and not contain it)",
            out.display(),
            root_abs.display()
        )));
    }
    if let Some(free) = free_bytes(&parent) {
        let need = plan.total_bytes + (1 << 20);
        if free < need {
            return Err(Error::Invalid(format!(
                "{}: {} free, the submission needs {}",
                parent.display(),
                human(free),
                human(need)
            )));
        }
    }
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    let result = write_into(&tmp, pkg, &plan);
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let problems = check(&tmp)?;
    let bad: Vec<Problem> = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .cloned()
        .collect();
    if !bad.is_empty() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(Error::Refused(bad));
    }
    if out.exists() {
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        std::fs::rename(out, &old).map_err(io(out))?;
        if let Err(e) = std::fs::rename(&tmp, out) {
            // Put the earlier submission back rather than leave none.
            let _ = std::fs::rename(&old, out);
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(io(out)(e).into());
        }
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&tmp, out).map_err(io(out))?;
    }
    Ok(Published {
        plan,
        out: out.to_path_buf(),
    })
}

fn write_into(dir: &Path, pkg: &Package, plan: &Plan) -> Result<(), Error> {
    let up = dir.join(UPLOAD_DIR);
    for f in &plan.files {
        let dest = up.join(&f.path);
        if let Some(p) = dest.parent() {
            std::fs::create_dir_all(p).map_err(io(p))?;
        }
        match &f.source {
            Source::Zarr {
                root,
                skip,
                ome_version,
            } => {
                let skip: Vec<&str> = skip.iter().map(String::as_str).collect();
                let entries = zip::zarr_entries(root, &skip)?;
                zip::write(
                    &dest,
                    &entries,
                    &json!({"ome": {"version": ome_version}}).to_string(),
                )?;
            }
            Source::Copy(src) => {
                std::fs::copy(src, &dest).map_err(io(src))?;
            }
            Source::Bytes(b) => std::fs::write(&dest, b).map_err(io(&dest))?,
        }
        let size = std::fs::metadata(&dest).map_err(io(&dest))?.len();
        if size != f.size {
            return Err(Error::Invalid(format!(
                "{}: wrote {size} bytes, planned {} (did the package change while publishing?)",
                f.path, f.size
            )));
        }
    }
    std::fs::write(
        dir.join("submission.json"),
        serde_json::to_string_pretty(&plan.submission.to_json()).unwrap_or_default() + "\n",
    )
    .map_err(io(dir))?;
    std::fs::write(dir.join("submission.tsv"), plan.submission.to_tsv()).map_err(io(dir))?;
    std::fs::write(dir.join("README.md"), instructions(pkg.manifest(), plan)).map_err(io(dir))?;
    let marker = json!({
        "written_by": format!("mifa {}", env!("CARGO_PKG_VERSION")),
        "package": pkg.root().display().to_string(),
        "title": pkg.manifest().study.title,
        "version": plan.version,
        "dataset_hash": plan.fingerprint,
        "files": plan.files.len(),
        "bytes": plan.total_bytes,
        "route": plan.route,
        "warnings": plan.problems.iter().filter(|p| p.severity == Severity::Warning).map(|p| p.to_string()).collect::<Vec<_>>(),
    });
    std::fs::write(
        dir.join(MARKER),
        serde_json::to_string_pretty(&marker).unwrap_or_default() + "\n",
    )
    .map_err(io(dir))?;
    Ok(())
}

/// Bytes in decimal units, as BIA states its limits.
pub fn human(n: u64) -> String {
    let f = n as f64;
    if f >= 1e12 {
        format!("{:.2} TB", f / 1e12)
    } else if f >= 1e9 {
        format!("{:.2} GB", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.1} MB", f / 1e6)
    } else {
        format!("{:.1} kB", f / 1e3)
    }
}

fn instructions(m: &Manifest, plan: &Plan) -> String {
    let largest = plan.files.iter().map(|f| f.size).max().unwrap_or(0);
    let mut s = format!(
        "# BioImage Archive submission: {}\n\nDataset version {} (fingerprint {}), {} files, {} to upload (largest file {}).\n\n",
        m.study.title,
        plan.version,
        plan.fingerprint,
        plan.files.len(),
        human(plan.total_bytes),
        human(largest)
    );
    s.push_str("- `submission.tsv` / `submission.json`: the PageTab document (the same content twice; submit one).\n");
    s.push_str("- `upload/`: the files, at the paths the file lists name. Upload the *contents* of this folder, keeping the sub-folders.\n\n");
    s.push_str("## 1. Upload the files\n\n");
    match plan.route {
        Route::SubmissionTool => s.push_str(
            "Under 50 GB in all and 20 GB per file: the BioStudies submission tool's upload is enough.\n\
             Log in at https://www.ebi.ac.uk/biostudies/submissions/ , open *Files*, and upload the contents of `upload/`\n\
             keeping its folders (`file-lists/`, `images/`, `annotations/`, `mifa/`). Or with the HTTP API:\n\n\
             ```\n\
             sessid=$(curl -s https://www.ebi.ac.uk/biostudies/submissions/api/auth/login -H 'Content-Type: application/json' \\\n\
               --data '{\"login\": \"YOU@EXAMPLE.ORG\", \"password\": \"…\"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"sessid\"])')\n\
             cd upload && find . -type f | sed 's|^./||' | while read -r f; do\n\
               curl -s https://www.ebi.ac.uk/biostudies/submissions/api/files/user/upload -H \"X-SESSION-TOKEN: $sessid\" \\\n\
                 -F \"filePath=$(dirname \"$f\")\" -F \"files=@$f\"; done\n\
             ```\n\n",
        ),
        Route::Ftp => s.push_str(
            "50 GB or more in all, or a file of 20 GB or more: upload by FTP (up to 1 TB).\n\
             The submission tool's *FTP/Aspera* tab shows the FTP login and your personal secret directory. Then:\n\n\
             ```\n\
             cd upload\n\
             lftp -u USER ftp-private.ebi.ac.uk -e 'cd SECRET_DIRECTORY; mirror -R --parallel=4 . .; bye'\n\
             ```\n\n",
        ),
        Route::Aspera => s.push_str(
            "More than 1 TB: upload with Aspera. The submission tool's *FTP/Aspera* tab shows your secret directory and\n\
             which of these applies to your account:\n\n\
             ```\n\
             cd upload   # its folders go into the secret directory, not `upload` itself\n\
             ascp -P33001 -i <Aspera Connect>/etc/asperaweb_id_dsa.openssh -d * bsaspera_w@hx-fasp-1.ebi.ac.uk:SECRET_DIRECTORY\n\
             ascp -k 1 -QT -l 400M -P33001 * bs-upload@fasp.ebi.ac.uk:SECRET_DIRECTORY\n\
             ```\n\n",
        ),
    }
    s.push_str(
        "## 2. Submit the PageTab document\n\n\
         In the submission tool, choose to submit a PageTab file and give it `submission.tsv`; or\n\n\
         ```\n\
         curl https://www.ebi.ac.uk/biostudies/submissions/api/submissions/async/direct -H \"X-SESSION-TOKEN: $sessid\" \\\n\
           -F 'submission=@submission.tsv'\n\
         ```\n\n\
         BioStudies checks that every file the file lists name has been uploaded.\n\n",
    );
    let warnings: Vec<&Problem> = plan
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Warning)
        .collect();
    if !warnings.is_empty() {
        s.push_str("## Warnings from mifa's checks\n\n");
        for w in warnings {
            s.push_str(&format!("- {}: {}\n", w.at, w.message));
        }
        s.push('\n');
    }
    s
}

/// Known section types: required attributes, other attributes we write or BIA reads.
const SECTIONS: &[(&str, &[&str], &[&str])] = &[
    (
        "Study",
        &["Title", "Description", "Keywords", "License"],
        &[
            "Acknowledgements",
            "Funding statement",
            "Dataset version",
            "Dataset fingerprint",
            "Previous version",
            "Previous version accession",
        ],
    ),
    (
        "Author",
        &["Name"],
        &["E-mail", "ORCID", "Role", "affiliation"],
    ),
    ("Annotator", &["Name"], &["E-mail", "ORCID", "Role"]),
    ("organisation", &["Name"], &["Address", "RORID"]),
    (
        "Publication",
        &[],
        &["Title", "Authors", "DOI", "Pubmed ID", "Year"],
    ),
    ("Funding", &[], &["Agency", "grant_id"]),
    (
        "Biosample",
        &["Title", "Organism", "Biological entity"],
        &[
            "Description",
            "Experimental variable",
            "Extrinsic variable",
            "Intrinsic variable",
        ],
    ),
    (
        "Specimen",
        &["Title", "Sample preparation protocol"],
        &["Growth protocol"],
    ),
    (
        "Image acquisition",
        &[
            "Title",
            "Imaging instrument",
            "Image acquisition parameters",
            "Imaging method",
        ],
        &[],
    ),
    (
        "Image correlation",
        &["Title", "Spatial and temporal alignment"],
        &["Fiducials used", "Transformation matrix"],
    ),
    ("Image analysis", &["Title", "Image analysis overview"], &[]),
    (
        "Annotation",
        &[
            "Title",
            "Annotation Overview",
            "Annotation Type",
            "Annotation Method",
            "File List",
        ],
        &[
            "Annotation Confidence Level",
            "Annotation Criteria",
            "Annotation Coverage",
            "Transformations",
            "Spatial Information",
            "Creation Time",
        ],
    ),
    (
        "Study Component",
        &["Name", "Description", "File List"],
        &[],
    ),
    (
        "Associations",
        &["Biosample", "Specimen", "Image acquisition"],
        &["Image correlation", "Image analysis"],
    ),
    (
        "Version",
        &["Annotation version", "Version timestamp"],
        &[
            "Version changes",
            "Previous version",
            "Previous version accession",
        ],
    ),
];

const ANNOTATION_TYPES: [&str; 11] = [
    "class_labels",
    "bounding_boxes",
    "counts",
    "derived_annotations",
    "geometrical_annotations",
    "graphs",
    "point_annotations",
    "segmentation_mask",
    "tracks",
    "weak_annotations",
    "other",
];

/// Checks a written submission folder: the PageTab JSON and TSV agree; section types,
/// attribute names and required attributes per BIA's template; references and associations
/// resolve; every file list parses, names only existing files with valid paths, and
/// annotation lists name images of the study as `Source Image`; zipped OME-Zarr have their
/// metadata first.
pub fn check(dir: &Path) -> Result<Vec<Problem>, Error> {
    let mut out = Vec::new();
    let jp = dir.join("submission.json");
    let tp = dir.join("submission.tsv");
    let read = |p: &Path| {
        let max = crate::formats::input::TextLimits::current().max_table_bytes;
        crate::formats::input::read_text_capped(p, max, "a PageTab document")
    };
    let jtext = read(&jp).map_err(pagetab::Error::from)?;
    let jv: serde_json::Value = serde_json::from_str(&jtext).map_err(|e| {
        Error::Pagetab(pagetab::Error::Invalid {
            path: jp.clone(),
            at: format!("line {}", e.line()),
            message: e.to_string(),
        })
    })?;
    let sub = Submission::from_json(&jp, &jv)?;
    match read(&tp) {
        Ok(t) => match Submission::from_tsv(&tp, &t) {
            Ok(ts) if ts != sub => out.push(error(
                "submission.tsv",
                "says something other than submission.json",
            )),
            Ok(_) => {}
            Err(e) => out.push(error("submission.tsv", chain(&e))),
        },
        Err(e) => out.push(error("submission.tsv", chain(&e))),
    }
    let sattr = |n: &str| {
        sub.attributes
            .iter()
            .find(|a| a.name == n)
            .map(|a| a.value.as_str())
    };
    for n in ["Title", "ReleaseDate", "AttachTo", "Template"] {
        if sattr(n).is_none_or(|v| v.trim().is_empty()) {
            out.push(error("Submission", format!("no {n}")));
        }
    }
    if let Some(d) = sattr("ReleaseDate") {
        if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
            out.push(error(
                "Submission ReleaseDate",
                format!("{d:?} is not YYYY-MM-DD"),
            ));
        }
    }
    if let Some(t) = sattr("Template") {
        if !["BioImages.v4", "BioImages.v5"].contains(&t) {
            out.push(error(
                "Submission Template",
                format!("{t:?}: BIA processes REMBI studies only for BioImages.v4 or BioImages.v5"),
            ));
        }
    }
    if sub.section.kind != "Study" {
        out.push(error(
            "section",
            format!("the root section is {:?}, not Study", sub.section.kind),
        ));
    }
    let all: Vec<(&Section, Option<&str>)> = std::iter::once((&sub.section, None))
        .chain(sub.section.walk())
        .collect();
    let parent_kind: BTreeMap<&str, &str> = all
        .iter()
        .filter_map(|(s, _)| s.accno.as_deref().map(|a| (a, s.kind.as_str())))
        .collect();
    let accnos: BTreeSet<&str> = parent_kind.keys().copied().collect();
    let mut titles: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (s, _) in &all {
        if let Some(t) = s.value("Title") {
            titles.entry(s.kind.as_str()).or_default().insert(t);
        }
    }
    let upload = dir.join(UPLOAD_DIR);
    let mut image_paths: BTreeSet<String> = BTreeSet::new();
    let mut listed: BTreeSet<String> = BTreeSet::new();
    let mut annotation_lists: Vec<(String, FileList)> = Vec::new();
    let mut names_seen: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (s, parent) in &all {
        let kind = if s.kind == "Annotations" {
            "Annotation"
        } else {
            s.kind.as_str()
        };
        let at = format!("{} {}", s.kind, s.accno.as_deref().unwrap_or(""));
        let at = at.trim().to_string();
        let Some((_, req, opt)) = SECTIONS.iter().find(|(k, _, _)| *k == kind) else {
            out.push(error(
                &at,
                format!(
                    "section type {:?} is not one of BIA's REMBI/MIFA sections",
                    s.kind
                ),
            ));
            continue;
        };
        let under_study = parent.is_none_or(|p| parent_kind.get(p) == Some(&"Study"));
        for r in req.iter() {
            let needed = kind != "Author" || under_study;
            if needed && s.value(r).is_none_or(|v| v.trim().is_empty()) {
                out.push(error(&at, format!("required attribute {r:?} is missing")));
            }
        }
        if kind == "Author" && under_study {
            for r in ["E-mail", "affiliation"] {
                if s.value(r).is_none() {
                    out.push(error(&at, format!("required attribute {r:?} is missing")));
                }
            }
        }
        for a in &s.attributes {
            let known = req.contains(&a.name.as_str()) || opt.contains(&a.name.as_str());
            if !known {
                out.push(error(
                    &at,
                    format!(
                        "attribute {:?} is not one of the {} section's",
                        a.name, s.kind
                    ),
                ));
            }
            if a.reference && !accnos.contains(a.value.as_str()) {
                out.push(error(
                    &at,
                    format!("reference {} = {:?} names no section", a.name, a.value),
                ));
            }
        }
        if kind == "Annotation" {
            for t in s
                .value("Annotation Type")
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
            {
                if !ANNOTATION_TYPES.contains(&t) {
                    out.push(error(
                        &at,
                        format!(
                            "Annotation Type {t:?} is not one of BIA's ({})",
                            ANNOTATION_TYPES.join(", ")
                        ),
                    ));
                }
            }
        }
        if kind == "Associations" {
            for (attr, target) in [
                ("Biosample", "Biosample"),
                ("Specimen", "Specimen"),
                ("Image acquisition", "Image acquisition"),
                ("Image correlation", "Image correlation"),
                ("Image analysis", "Image analysis"),
            ] {
                if let Some(v) = s.value(attr) {
                    if !titles.get(target).is_some_and(|t| t.contains(v)) {
                        out.push(error(
                            &at,
                            format!("{attr} {v:?} is the title of no {target} section"),
                        ));
                    }
                }
            }
        }
        if matches!(kind, "Study Component" | "Annotation") {
            let key = if kind == "Study Component" {
                "Name"
            } else {
                "Title"
            };
            if let Some(v) = s.value(key) {
                *names_seen.entry((kind, v)).or_default() += 1;
            }
        }
        for f in &s.files {
            if let Err(e) = check_path(&f.path) {
                out.push(error(&at, e));
            }
            if !upload.join(&f.path).is_file() {
                out.push(error(
                    &at,
                    format!("file {:?} is not in {}", f.path, upload.display()),
                ));
            }
            listed.insert(f.path.clone());
        }
        if let Some(fl) = s.value("File List") {
            listed.insert(fl.to_string());
            if let Err(e) = check_path(fl) {
                out.push(error(&at, format!("File List: {e}")));
                continue;
            }
            if !(fl.ends_with(".tsv") || fl.ends_with(".json") || fl.ends_with(".xlsx")) {
                out.push(error(
                    &at,
                    format!("file list {fl:?} must end in .tsv, .json or .xlsx"),
                ));
                continue;
            }
            let p = upload.join(fl);
            let list = match FileList::read_tsv(&p) {
                Ok(l) => l,
                Err(e) => {
                    out.push(error(&at, chain(&e)));
                    continue;
                }
            };
            if list.rows.is_empty() {
                out.push(error(fl, "the file list names no files"));
            }
            for (path, _) in &list.rows {
                if let Err(e) = check_path(path) {
                    out.push(error(fl, e));
                }
                let fp = upload.join(path);
                if !fp.is_file() {
                    out.push(error(
                        fl,
                        format!("{path:?} is not in {}", upload.display()),
                    ));
                } else if path.ends_with(".ome.zarr.zip") {
                    match zip::list(&fp) {
                        Err(e) => out.push(error(fl, chain(&e))),
                        Ok((entries, _)) => {
                            let first = entries.first().map(|e| e.name.as_str()).unwrap_or("");
                            if !matches!(first, "zarr.json" | ".zattrs" | ".zgroup") {
                                out.push(warning(
                                    path.as_str(),
                                    format!("the first entry is {first:?}, not the root zarr.json"),
                                ));
                            }
                        }
                    }
                }
                listed.insert(path.clone());
            }
            if kind == "Study Component" {
                image_paths.extend(list.rows.iter().map(|(p, _)| p.clone()));
            } else if kind == "Annotation" {
                if !list.columns.iter().any(|c| c == "Source Image") {
                    out.push(error(
                        fl,
                        "an annotation file list needs a `Source Image` column",
                    ));
                }
                annotation_lists.push((fl.to_string(), list));
            }
        }
    }
    for ((kind, v), n) in names_seen {
        if n > 1 {
            out.push(error(
                kind,
                format!("{v:?} names {n} sections; BIA groups file lists by it"),
            ));
        }
    }
    for (fl, list) in &annotation_lists {
        for (i, src) in list.column("Source Image").iter().enumerate() {
            if src.is_empty() {
                out.push(error(
                    fl.as_str(),
                    format!("row {} ({}) has no Source Image", i + 2, list.rows[i].0),
                ));
            } else if !image_paths.contains(*src) {
                out.push(error(fl.as_str(), format!("row {}: Source Image {src:?} is not an image of any Study Component file list", i + 2)));
            }
        }
    }
    // Anything uploaded but named nowhere would be stored without metadata.
    if let Ok(entries) = zip::zarr_entries(&upload, &[]) {
        for (rel, _) in entries {
            if !listed.contains(&rel) {
                out.push(warning(
                    rel,
                    "uploaded but named by no file list or section",
                ));
            }
        }
    }
    out.sort_by_key(|p| p.severity);
    Ok(out)
}
