//! Releases: immutable version records (`versions/X.Y.Z.json`) holding a content manifest of
//! every file (SHA-256, Zarr chunks included) rolled up into a dataset hash, a metadata
//! snapshot and the credit list carried forward from every earlier release; annotation files
//! kept content-addressed under `versions/objects/`; verification of the package against a
//! record.

use crate::io_error::io;
use crate::package::{self, Package, LOCK_FILE, VERSIONS_DIR};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Folder of the content-addressed store, under `versions/`.
pub const OBJECTS_DIR: &str = "objects";

/// Errors of releases and verification.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file cannot be read or written.
    #[error(transparent)]
    Io(#[from] crate::io_error::IoError),
    /// A version record is malformed.
    #[error("{}: {message}", path.display())]
    Record {
        /// The record.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The version string is not semver, or does not increase.
    #[error("version {version:?}: {message}")]
    Version {
        /// The version asked for.
        version: String,
        /// What is wrong.
        message: String,
    },
    /// The package has validation errors.
    #[error("the package has {} validation error(s) (first: {first}); fix them, or release anyway with --allow-invalid (recorded)", count)]
    Invalid {
        /// How many.
        count: usize,
        /// The first one.
        first: String,
    },
    /// Nothing changed since the previous release.
    #[error("nothing changed since version {previous} (same dataset hash {hash} and credit)")]
    NoChange {
        /// The previous version.
        previous: String,
        /// Its dataset hash.
        hash: String,
    },
    /// No record of that version.
    #[error("no release {version:?} (releases: {known})")]
    Unknown {
        /// Asked for.
        version: String,
        /// Recorded.
        known: String,
    },
    /// `versions/HEAD` disagrees with the release records: releasing would bless the change.
    #[error(
        "cannot release: {message}; run `mifa verify`, and put the release records back first"
    )]
    Head {
        /// What disagrees.
        message: String,
    },
    /// Package-level failure (lock, manifest).
    #[error(transparent)]
    Package(#[from] package::Error),
}

/// One file of the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FileEntry {
    /// Path relative to the package, `/`-separated.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// SHA-256 and size of a file, streamed.
pub fn hash_file(path: &Path) -> Result<(u64, String), Error> {
    let mut f = fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((size, hex(&h.finalize())))
}

/// [`hash_file`] of a file inside the package, never through a symbolic link.
fn hash_in_package(root: &Path, path: &Path) -> Result<(u64, String), Error> {
    let mut f = package::open_in_package(root, path)?;
    let full = root.join(path.strip_prefix(root).unwrap_or(path));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io(&full))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((size, hex(&h.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Files that are not content: release records, the lock, temporaries of interrupted writes.
fn excluded(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    rel == VERSIONS_DIR
        || rel.starts_with(&format!("{VERSIONS_DIR}/"))
        || rel == LOCK_FILE
        || package::is_temporary(name)
        || name.starts_with(".mifa.")
}

/// Paths of the content files under `dir` into `out`; symbolic links and special files (FIFOs,
/// devices, sockets) into `special`, as `path (what)`, never followed or read.
fn walk(
    root: &Path,
    dir: &Path,
    out: &mut Vec<String>,
    special: &mut Vec<String>,
) -> Result<(), Error> {
    let mut entries: Vec<fs::DirEntry> = fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let rel = p
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .replace('\\', "/");
        if excluded(&rel) {
            continue;
        }
        let ft = e.file_type().map_err(io(&p))?;
        if ft.is_dir() {
            walk(root, &p, out, special)?;
        } else if ft.is_file() {
            out.push(rel);
        } else {
            special.push(format!("{rel} ({})", package::kind_of(&ft)));
        }
    }
    Ok(())
}

/// Every content file of the package (all but `versions/`, the lock and temporaries), sorted
/// by path, with size and SHA-256 (hashed on all cores). Refuses a package holding a symbolic
/// link or a special file (mifa never follows links inside a package).
pub fn content(root: &Path) -> Result<Vec<FileEntry>, Error> {
    let (files, special) = content_and_special(root)?;
    match special.first() {
        Some(s) => Err(Error::Record {
            path: root.to_path_buf(),
            message: format!(
                "{s} inside the package: mifa does not follow links or read special files there; remove it"
            ),
        }),
        None => Ok(files),
    }
}

/// [`content`], with the symbolic links and special files found (not followed) listed apart.
fn content_and_special(root: &Path) -> Result<(Vec<FileEntry>, Vec<String>), Error> {
    use rayon::prelude::*;
    let mut paths = Vec::new();
    let mut special = Vec::new();
    walk(root, root, &mut paths, &mut special)?;
    paths.sort();
    special.sort();
    let files = paths
        .into_par_iter()
        .map(|rel| {
            let (size, sha256) = hash_in_package(root, &root.join(&rel))?;
            Ok(FileEntry {
                path: rel,
                size,
                sha256,
            })
        })
        .collect::<Result<_, Error>>()?;
    Ok((files, special))
}

/// The dataset's fingerprint: SHA-256 over `mifa-dataset-v1\n` and one `path\tsize\tsha256\n`
/// line per file, in path order.
pub fn dataset_hash(files: &[FileEntry]) -> String {
    let mut h = Sha256::new();
    h.update(b"mifa-dataset-v1\n");
    for f in files {
        h.update(format!("{}\t{}\t{}\n", f.path, f.size, f.sha256).as_bytes());
    }
    format!("sha256:{}", hex(&h.finalize()))
}

/// A person credited by a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Credit {
    /// Name.
    pub name: String,
    /// ORCID iD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orcid: Option<String>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Annotation sets annotated (including sets since replaced).
    #[serde(default)]
    pub sets: Vec<String>,
    /// First release crediting this person.
    pub since: String,
}

impl Credit {
    fn same_person(&self, name: &str, orcid: Option<&str>) -> bool {
        match (self.orcid.as_deref(), orcid) {
            (Some(a), Some(b)) => a == b,
            _ => self.name.eq_ignore_ascii_case(name),
        }
    }
}

/// A credit removed on purpose, recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreditRemoval {
    /// Name.
    pub name: String,
    /// ORCID iD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orcid: Option<String>,
    /// Why.
    pub reason: String,
}

/// The previous release of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Previous {
    /// Its version.
    pub version: String,
    /// SHA-256 of its record file.
    pub record_sha256: String,
}

/// `versions/X.Y.Z.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(
    title = "mifa release record",
    description = "An immutable record of one released version of a mifa package (versions/X.Y.Z.json)."
)]
pub struct Record {
    /// `mifa-version`.
    pub format: String,
    /// Record format version.
    pub format_version: u32,
    /// Semver of the dataset.
    pub version: String,
    /// RFC 3339.
    pub timestamp: String,
    /// The release before, and the hash of its record.
    pub previous: Option<Previous>,
    /// What changed.
    pub changes: String,
    /// Validation errors released anyway (`--allow-invalid`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub released_with_errors: Vec<String>,
    /// The dataset hash over `files`.
    pub dataset_sha256: String,
    /// Every content file.
    pub files: Vec<FileEntry>,
    /// Everyone credited so far.
    pub credit: Vec<Credit>,
    /// Credits removed in this release.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credit_removed: Vec<CreditRemoval>,
    /// `mifa.json` at release.
    pub metadata: serde_json::Value,
}

const RECORD_FORMAT: &str = "mifa-version";

/// The JSON Schema of release records, as stored in `formats/versions/schema.json`.
pub fn schema_text() -> String {
    let mut v = schemars::schema_for!(Record).to_value();
    if let serde_json::Value::Object(m) = &mut v {
        m.insert("$id".into(), "urn:mifa:version-record:1".into());
    }
    serde_json::to_string_pretty(&v).expect("a schema serialises") + "\n"
}

/// File in `versions/` naming the latest release record and its SHA-256, outside the content
/// hash: an edited, swapped or deleted latest record no longer matches it.
pub const HEAD_FILE: &str = "HEAD";
const HEAD_FORMAT: &str = "mifa-versions-head";

/// `versions/HEAD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Head {
    /// `mifa-versions-head`.
    format: String,
    /// File name of the latest record in `versions/` (`X.Y.Z.json`).
    record: String,
    /// SHA-256 of that record file, lower-case hex.
    record_sha256: String,
}

fn head_rel() -> PathBuf {
    Path::new(VERSIONS_DIR).join(HEAD_FILE)
}

/// `versions/HEAD`, or `None` when there is none (a package released before mifa wrote it).
fn read_head(root: &Path) -> Result<Option<Head>, Error> {
    let rel = head_rel();
    if package::lstat_in_package(root, &root.join(&rel))?.is_none() {
        return Ok(None);
    }
    let path = root.join(&rel);
    let bad = |message: String| Error::Record {
        path: path.clone(),
        message,
    };
    let text = package::read_text_in_package(root, &root.join(&rel))?;
    let h: Head = serde_json::from_str(&text)
        .map_err(|e| bad(format!("line {} column {}: {e}", e.line(), e.column())))?;
    if h.format != HEAD_FORMAT {
        return Err(bad(format!(
            "format {:?}, expected {HEAD_FORMAT:?}",
            h.format
        )));
    }
    if h.record.contains('/') || h.record.starts_with('.') || !h.record.ends_with(".json") {
        return Err(bad(format!(
            "record {:?} is not the file name of a release record (X.Y.Z.json)",
            h.record
        )));
    }
    if h.record_sha256.len() != 64 || !h.record_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(format!(
            "record_sha256 {:?} is not 64 hex digits",
            h.record_sha256
        )));
    }
    Ok(Some(h))
}

/// The head of the latest record `path`.
fn head_of(path: &Path) -> Result<Head, Error> {
    Ok(Head {
        format: HEAD_FORMAT.into(),
        record: path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        record_sha256: hash_file(path)?.1,
    })
}

/// How `versions/HEAD` disagrees with the latest of `all` (errors), and a warning when a
/// package that has releases has no head.
fn head_problems(root: &Path, all: &[(PathBuf, Record)]) -> (Vec<String>, Vec<String>) {
    let head = match read_head(root) {
        Ok(h) => h,
        Err(e) => return (vec![crate::io_error::chain(&e)], Vec::new()),
    };
    let rel = |name: &str| format!("{VERSIONS_DIR}/{name}");
    let latest = all.last().map(|(p, _)| p);
    match (head, latest) {
        (None, None) => (Vec::new(), Vec::new()),
        (None, Some(p)) => (
            Vec::new(),
            vec![format!(
                "{VERSIONS_DIR}/{HEAD_FILE} is missing (released before mifa kept it, or deleted): the latest record {} cannot be checked against it; the next `mifa release` writes it",
                rel(&p.file_name().unwrap_or_default().to_string_lossy())
            )],
        ),
        (Some(h), latest) => {
            let name = latest.map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned());
            if !root.join(VERSIONS_DIR).join(&h.record).exists() {
                return (vec![format!(
                    "{VERSIONS_DIR}/{HEAD_FILE} names {} as the latest release record, but it is missing (deleted or renamed)",
                    rel(&h.record)
                )], Vec::new());
            }
            if name.as_deref() != Some(h.record.as_str()) {
                return (vec![format!(
                    "{VERSIONS_DIR}/{HEAD_FILE} names {} as the latest release record, but the latest record is {} (a record was added, renamed or swapped by hand)",
                    rel(&h.record),
                    rel(name.as_deref().unwrap_or("(none)"))
                )], Vec::new());
            }
            let record = Path::new(VERSIONS_DIR).join(&h.record);
            match hash_in_package(root, &root.join(&record)) {
                Ok((_, now)) if now == h.record_sha256 => (Vec::new(), Vec::new()),
                Ok((_, now)) => (vec![format!(
                    "{}: the latest release record changed since it was released (SHA-256 now {now}, {VERSIONS_DIR}/{HEAD_FILE} records {})",
                    rel(&h.record),
                    h.record_sha256
                )], Vec::new()),
                Err(e) => (vec![crate::io_error::chain(&e)], Vec::new()),
            }
        }
    }
}

/// The releases of a package, oldest first, with the path of each record.
pub fn records(root: &Path) -> Result<Vec<(PathBuf, Record)>, Error> {
    let dir = root.join(VERSIONS_DIR);
    let mut out = Vec::new();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io(&dir)(e).into()),
    };
    for e in entries {
        let p = e.map_err(io(&dir))?.path();
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if !name.ends_with(".json") || name.starts_with('.') {
            continue;
        }
        let text = package::read_text_in_package(root, &p)?;
        let r: Record = serde_json::from_str(&text).map_err(|e| Error::Record {
            path: p.clone(),
            message: format!("line {} column {}: {e}", e.line(), e.column()),
        })?;
        if r.format != RECORD_FORMAT {
            return Err(Error::Record {
                path: p,
                message: format!("format {:?}, expected {RECORD_FORMAT:?}", r.format),
            });
        }
        // A record edited by hand must not lead reads or writes outside the package.
        let sha_ok = |h: &str| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
        for f in &r.files {
            if let Err(msg) = package::check_relative_path(&f.path) {
                return Err(Error::Record {
                    path: p,
                    message: format!("file {:?}: {msg}", f.path),
                });
            }
            if !sha_ok(&f.sha256) {
                return Err(Error::Record {
                    path: p,
                    message: format!(
                        "file {:?}: sha256 {:?} is not 64 hex digits",
                        f.path, f.sha256
                    ),
                });
            }
        }
        out.push((p, r));
    }
    // Semver precedence; records whose version does not parse come last, by text.
    out.sort_by(|a, b| {
        let (va, vb) = (
            semver::Version::parse(&a.1.version),
            semver::Version::parse(&b.1.version),
        );
        match (va, vb) {
            (Ok(x), Ok(y)) => x
                .cmp_precedence(&y)
                .then_with(|| a.1.version.cmp(&b.1.version)),
            (Ok(_), Err(_)) => std::cmp::Ordering::Less,
            (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
            (Err(_), Err(_)) => a.1.version.cmp(&b.1.version),
        }
    });
    Ok(out)
}

/// The credit list after this release: the previous credit, then everyone in the manifest now,
/// minus explicit removals.
fn carry_credit(
    previous: &[Credit],
    m: &crate::metadata::Manifest,
    version: &str,
    removals: &[CreditRemoval],
) -> Vec<Credit> {
    let mut out: Vec<Credit> = previous.to_vec();
    for c in crate::info::contributors(m) {
        match out
            .iter_mut()
            .find(|x| x.same_person(&c.name, c.orcid.as_deref()))
        {
            Some(x) => {
                if x.orcid.is_none() {
                    x.orcid = c.orcid.clone();
                }
                for r in c.roles {
                    if !x.roles.contains(&r) {
                        x.roles.push(r);
                    }
                }
                for s in c.sets {
                    if !x.sets.contains(&s) {
                        x.sets.push(s);
                    }
                }
            }
            None => out.push(Credit {
                name: c.name,
                orcid: c.orcid,
                roles: c.roles,
                sets: c.sets,
                since: version.to_string(),
            }),
        }
    }
    out.retain(|c| {
        !removals
            .iter()
            .any(|r| c.same_person(&r.name, r.orcid.as_deref()))
    });
    out
}

/// What `mifa release` asks for.
#[derive(Debug, Clone, Default)]
pub struct ReleaseRequest {
    /// Semver.
    pub version: String,
    /// Description of the changes.
    pub changes: String,
    /// Release despite validation errors (recorded).
    pub allow_invalid: bool,
    /// Credits to remove on purpose (name or ORCID, with a reason).
    pub remove_credit: Vec<CreditRemoval>,
}

/// Path of an object in the content-addressed store.
pub fn object_path(root: &Path, sha256: &str) -> PathBuf {
    root.join(VERSIONS_DIR)
        .join(OBJECTS_DIR)
        .join("sha256")
        .join(&sha256[..2])
        .join(&sha256[2..])
}

/// Whether a file is kept in the store: annotation files and label images (images themselves
/// are tracked by hash only).
fn stored(path: &str) -> bool {
    path.starts_with("annotations/")
        || path.contains("/labels/")
        || path == crate::manifest::FILE_NAME
}

/// Copies `src` into the store under its hash, once (objects are immutable).
fn store_object(root: &Path, src: &Path, sha256: &str) -> Result<(), Error> {
    let dst = object_path(root, sha256);
    // Never written through a link: it could lead out of the package.
    package::lstat_in_package(root, &dst)?;
    if dst.exists() {
        return Ok(());
    }
    let dir = dst.parent().expect("in the store");
    fs::create_dir_all(dir).map_err(io(dir))?;
    let bytes = package::read_in_package(root, src)?;
    package::write_atomic(&dst, &bytes)?;
    Ok(())
}

/// Releases the package: refuses a version that is not semver or does not increase, a
/// package with validation errors (unless allowed, then recorded) and a release that changes
/// nothing; stores the annotation files, then writes the record (the commit point).
pub fn release(pkg: &Package, req: &ReleaseRequest) -> Result<Record, Error> {
    let root = pkg.root();
    let bad = |message: String| Error::Version {
        version: req.version.clone(),
        message,
    };
    let v = semver::Version::parse(&req.version)
        .map_err(|e| bad(format!("not a semantic version (X.Y.Z): {e}")))?;
    if !v.build.is_empty() {
        return Err(bad("build metadata (+…) is not allowed in a release".into()));
    }
    let lock = pkg.lock()?;
    let all = records(root)?;
    if let Some(message) = head_problems(root, &all).0.into_iter().next() {
        return Err(Error::Head { message });
    }
    let previous = all.last();
    if let Some((_, p)) = previous {
        let pv = semver::Version::parse(&p.version).map_err(|e| bad(e.to_string()))?;
        if v.cmp_precedence(&pv) != std::cmp::Ordering::Greater {
            return Err(bad(format!(
                "must be greater than the latest release, {}",
                p.version
            )));
        }
    }
    let report = crate::validate::validate(root).map_err(|e| Error::Record {
        path: root.join(crate::manifest::FILE_NAME),
        message: e.to_string(),
    })?;
    let errors: Vec<String> = report.errors().iter().map(|i| i.to_string()).collect();
    if !errors.is_empty() && !req.allow_invalid {
        return Err(Error::Invalid {
            count: errors.len(),
            first: errors[0].clone(),
        });
    }
    let (manifest, metadata) =
        crate::manifest::read(&pkg.manifest_path()).map_err(|e| Error::Record {
            path: pkg.manifest_path(),
            message: e.to_string(),
        })?;
    let files = content(root)?;
    let dataset_sha256 = dataset_hash(&files);
    let prev_credit = previous.map(|(_, p)| p.credit.clone()).unwrap_or_default();
    for r in &req.remove_credit {
        let known = prev_credit
            .iter()
            .any(|c| c.same_person(&r.name, r.orcid.as_deref()))
            || crate::info::contributors(&manifest).iter().any(|c| {
                match (c.orcid.as_deref(), r.orcid.as_deref()) {
                    (Some(a), Some(b)) => a == b,
                    _ => c.name.eq_ignore_ascii_case(&r.name),
                }
            });
        if !known {
            return Err(bad(format!(
                "--remove-credit {:?} matches no credited person (give the name or ORCID as `mifa credit` shows it)",
                r.name
            )));
        }
    }
    // Removals stay in force in later releases.
    let mut removals: Vec<CreditRemoval> = all
        .iter()
        .flat_map(|(_, r)| r.credit_removed.clone())
        .collect();
    removals.extend(req.remove_credit.iter().cloned());
    let credit = carry_credit(&prev_credit, &manifest, &req.version, &removals);
    if let Some((_, p)) = previous {
        if p.dataset_sha256 == dataset_sha256 && p.credit == credit && req.remove_credit.is_empty()
        {
            return Err(Error::NoChange {
                previous: p.version.clone(),
                hash: dataset_sha256,
            });
        }
    }
    for f in files.iter().filter(|f| stored(&f.path)) {
        store_object(root, &root.join(&f.path), &f.sha256)?;
    }
    let prev = match previous {
        Some((path, p)) => Some(Previous {
            version: p.version.clone(),
            record_sha256: hash_file(path)?.1,
        }),
        None => None,
    };
    let record = Record {
        format: RECORD_FORMAT.into(),
        format_version: 1,
        version: req.version.clone(),
        timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        previous: prev,
        changes: req.changes.clone(),
        released_with_errors: errors,
        dataset_sha256,
        files,
        credit,
        credit_removed: req.remove_credit.clone(),
        metadata,
    };
    let path = root
        .join(VERSIONS_DIR)
        .join(format!("{}.json", req.version));
    if path.exists() {
        return Err(bad(format!("{} already exists", path.display())));
    }
    fs::create_dir_all(root.join(VERSIONS_DIR)).map_err(io(&root.join(VERSIONS_DIR)))?;
    let text = serde_json::to_string_pretty(&record).expect("a record serialises") + "\n";
    write_record_and_head(root, &lock, &path, text.as_bytes())?;
    Ok(record)
}

/// Writes the record and `versions/HEAD` as one transaction: both are journaled, so that a
/// crash before both are in place rolls back to the previous release (its head restored).
fn write_record_and_head(
    root: &Path,
    lock: &package::Lock,
    path: &Path,
    text: &[u8],
) -> Result<(), Error> {
    let head = root.join(head_rel());
    package::lstat_in_package(root, &head)?;
    package::lstat_in_package(root, path)?;
    lock.will_create(path)?;
    if head.exists() {
        let backup = head.with_file_name(format!(".{HEAD_FILE}.old-{}", std::process::id()));
        fs::copy(&head, &backup).map_err(io(&backup))?;
        lock.will_replace(&head, &backup)?;
    } else {
        lock.will_create(&head)?;
    }
    package::write_atomic(path, text)?;
    let h = head_of(path)?;
    let h = serde_json::to_string_pretty(&h).expect("a head serialises") + "\n";
    package::write_atomic(&head, h.as_bytes())?;
    lock.committed();
    Ok(())
}

/// Differences between the package and a release's content manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Verification {
    /// The release checked.
    pub version: String,
    /// Files the record lists that are gone.
    pub missing: Vec<String>,
    /// Files whose size or hash differs.
    pub corrupted: Vec<String>,
    /// Files present but not in the record.
    pub unexpected: Vec<String>,
    /// Stored annotation objects that are missing or do not match their hash.
    pub bad_objects: Vec<String>,
    /// Whether the record's chain (previous record hashes) holds.
    pub chain_errors: Vec<String>,
    /// How `versions/HEAD` disagrees with the latest record (edited, swapped or deleted).
    pub head_errors: Vec<String>,
    /// Symbolic links and special files inside the package (`path (what)`), never followed.
    pub special: Vec<String>,
    /// Not errors: e.g. a package released before `versions/HEAD` existed.
    pub warnings: Vec<String>,
}

impl Verification {
    /// True when nothing differs.
    pub fn ok(&self) -> bool {
        self.missing.is_empty()
            && self.corrupted.is_empty()
            && self.unexpected.is_empty()
            && self.bad_objects.is_empty()
            && self.chain_errors.is_empty()
            && self.head_errors.is_empty()
            && self.special.is_empty()
    }
}

/// Recomputes every hash and compares the package with release `version` (default: the
/// latest): missing, corrupted and unexpected files, the stored objects and the record chain.
pub fn verify(root: &Path, version: Option<&str>) -> Result<Verification, Error> {
    if root.join(package::JOURNAL_FILE).exists() {
        // A write was interrupted: taking the lock finishes or undoes it first.
        drop(package::Lock::acquire(root)?);
    }
    let all = records(root)?;
    if all.is_empty() {
        if let Ok(Some(h)) = read_head(root) {
            return Err(Error::Record {
                path: root.join(head_rel()),
                message: format!(
                    "names {VERSIONS_DIR}/{} as the latest release record, but there are no release records (deleted?)",
                    h.record
                ),
            });
        }
    }
    let known = || {
        let v: Vec<&str> = all.iter().map(|(_, r)| r.version.as_str()).collect();
        if v.is_empty() {
            "none; make one with `mifa release`".to_string()
        } else {
            v.join(", ")
        }
    };
    let idx = match version {
        Some(v) => all.iter().position(|(_, r)| r.version == v),
        None => all.len().checked_sub(1),
    }
    .ok_or_else(|| Error::Unknown {
        version: version.unwrap_or("(latest)").to_string(),
        known: known(),
    })?;
    let record = &all[idx].1;
    let (head_errors, warnings) = head_problems(root, &all);
    let (files, special) = content_and_special(root)?;
    let mut out = Verification {
        version: record.version.clone(),
        head_errors,
        special,
        warnings,
        ..Default::default()
    };
    let now: BTreeMap<String, FileEntry> = files.into_iter().map(|f| (f.path.clone(), f)).collect();
    let want: BTreeMap<&str, &FileEntry> =
        record.files.iter().map(|f| (f.path.as_str(), f)).collect();
    for (p, f) in &want {
        match now.get(*p) {
            None => out.missing.push(p.to_string()),
            Some(g) if g.size != f.size || g.sha256 != f.sha256 => {
                out.corrupted.push(p.to_string())
            }
            Some(_) => {}
        }
        if stored(p) {
            let o = object_path(root, &f.sha256);
            match hash_in_package(root, &o) {
                Ok((_, h)) if h == f.sha256 => {}
                Ok(_) => out.bad_objects.push(format!(
                    "{} (object of {p} does not match its hash)",
                    o.display()
                )),
                Err(_) => out
                    .bad_objects
                    .push(format!("{} (object of {p} is missing)", o.display())),
            }
        }
    }
    for p in now.keys() {
        if !want.contains_key(p.as_str()) {
            out.unexpected.push(p.clone());
        }
    }
    if dataset_hash(&record.files) != record.dataset_sha256 {
        out.chain_errors.push(format!(
            "release {}: its dataset hash does not match its file list",
            record.version
        ));
    }
    if let Some(prev) = &all[0].1.previous {
        out.chain_errors.push(format!(
            "release {} points at release {}, which is missing",
            all[0].1.version, prev.version
        ));
    }
    for w in all[..=idx].windows(2) {
        let ((pp, p), (_, r)) = (&w[0], &w[1]);
        let h = hash_in_package(root, pp)?.1;
        match &r.previous {
            Some(prev) if prev.version == p.version && prev.record_sha256 == h => {}
            _ => out.chain_errors.push(format!(
                "release {} does not point at release {} as it is now (record changed or missing)",
                r.version, p.version
            )),
        }
    }
    Ok(out)
}

/// Everyone credited now: the latest release's credit carried forward with the people of the
/// manifest, and the version it refers to (`None` when never released).
pub fn current_credit(pkg: &Package) -> Result<(Option<Record>, Vec<Credit>), Error> {
    let all = records(pkg.root())?;
    let removals: Vec<CreditRemoval> = all
        .iter()
        .flat_map(|(_, r)| r.credit_removed.clone())
        .collect();
    let latest = all.into_iter().next_back().map(|(_, r)| r);
    let prev = latest
        .as_ref()
        .map(|r| r.credit.clone())
        .unwrap_or_default();
    let credit = carry_credit(&prev, pkg.manifest(), "unreleased", &removals);
    Ok((latest, credit))
}

/// `given-names` and `family-names` of a display name: "Family, Given" or "Given … Family",
/// with lower-case particles (van, von, de, …) kept with the family name.
pub fn split_name(name: &str) -> (String, String) {
    if let Some((family, given)) = name.split_once(',') {
        return (given.trim().to_string(), family.trim().to_string());
    }
    let words: Vec<&str> = name.split_whitespace().collect();
    if words.len() < 2 {
        return (String::new(), name.trim().to_string());
    }
    let mut start = words.len() - 1;
    while start > 1
        && words[start - 1]
            .chars()
            .next()
            .is_some_and(char::is_lowercase)
    {
        start -= 1;
    }
    (words[..start].join(" "), words[start..].join(" "))
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// A `CITATION.cff` (1.2.0) for the dataset at `version`, with every credited person.
pub fn citation_cff(
    m: &crate::metadata::Manifest,
    credit: &[Credit],
    version: Option<&Record>,
) -> String {
    let mut out = String::new();
    out.push_str("cff-version: 1.2.0\n");
    out.push_str("message: \"If you use this dataset, please cite it as below.\"\n");
    out.push_str("type: dataset\n");
    out.push_str(&format!("title: {}\n", yaml_str(&m.study.title)));
    if let Some(r) = version {
        out.push_str(&format!("version: {}\n", yaml_str(&r.version)));
        let date = r.timestamp.get(..10).unwrap_or(&r.timestamp);
        out.push_str(&format!("date-released: {}\n", yaml_str(date)));
    }
    out.push_str(&format!("license: {}\n", yaml_str(&m.study.license)));
    out.push_str("authors:\n");
    for c in credit {
        let (given, family) = split_name(&c.name);
        if given.is_empty() {
            out.push_str(&format!("  - name: {}\n", yaml_str(&family)));
        } else {
            out.push_str(&format!("  - given-names: {}\n", yaml_str(&given)));
            out.push_str(&format!("    family-names: {}\n", yaml_str(&family)));
        }
        if let Some(o) = &c.orcid {
            out.push_str(&format!(
                "    orcid: {}\n",
                yaml_str(&format!("https://orcid.org/{o}"))
            ));
        }
    }
    if let Some(r) = version {
        out.push_str("identifiers:\n");
        out.push_str("  - type: other\n");
        out.push_str(&format!("    value: {}\n", yaml_str(&r.dataset_sha256)));
        out.push_str(
            "    description: \"mifa dataset hash (SHA-256 over every file of the release)\"\n",
        );
    }
    if let Some(d) = &m.study.description {
        out.push_str(&format!("abstract: {}\n", yaml_str(d)));
    }
    out
}

/// One side of a diff: a release, or the package as it is now.
#[derive(Debug, Clone)]
pub struct Side {
    /// `X.Y.Z` or `working`.
    pub name: String,
    /// Every content file.
    pub files: Vec<FileEntry>,
    /// The manifest.
    pub metadata: serde_json::Value,
    /// The credit.
    pub credit: Vec<Credit>,
    /// Where each stored file can be read: the package file (working) or its stored object.
    sources: BTreeMap<String, PathBuf>,
}

/// A release (`X.Y.Z`) or the working state (`working`) as a diff side.
pub fn side(pkg: &Package, which: &str) -> Result<Side, Error> {
    let root = pkg.root();
    if which == "working" || which == "." {
        let files = content(root)?;
        let sources = files
            .iter()
            .map(|f| (f.path.clone(), root.join(&f.path)))
            .collect();
        let (_, credit) = current_credit(pkg)?;
        let (_, metadata) =
            crate::manifest::read(&pkg.manifest_path()).map_err(|e| Error::Record {
                path: pkg.manifest_path(),
                message: e.to_string(),
            })?;
        return Ok(Side {
            name: "working".into(),
            files,
            metadata,
            credit,
            sources,
        });
    }
    let all = records(root)?;
    let r = all
        .into_iter()
        .map(|(_, r)| r)
        .find(|r| r.version == which)
        .ok_or_else(|| Error::Unknown {
            version: which.to_string(),
            known: records(root)
                .map(|v| {
                    v.iter()
                        .map(|(_, r)| r.version.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
        })?;
    let sources = r
        .files
        .iter()
        .filter(|f| stored(&f.path))
        .map(|f| {
            let o = object_path(root, &f.sha256);
            // Objects are read by path: never through a link.
            package::check_file_in_package(root, &o)?;
            Ok((f.path.clone(), o))
        })
        .collect::<Result<_, Error>>()?;
    Ok(Side {
        name: r.version,
        files: r.files,
        metadata: r.metadata,
        credit: r.credit,
        sources,
    })
}

/// Object-level changes of one annotation set.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SetChange {
    /// The set.
    pub set: String,
    /// Objects added, by kind (`polygons`, `points`, …).
    pub added: BTreeMap<String, u64>,
    /// Objects removed, by kind.
    pub removed: BTreeMap<String, u64>,
    /// Objects whose geometry or properties changed, by kind.
    pub changed: BTreeMap<String, u64>,
    /// Files (label chunks, tracks tables) that differ, when objects are not compared.
    pub files_changed: u64,
}

/// Everything that differs between two sides.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diff {
    /// Left side.
    pub from: String,
    /// Right side.
    pub to: String,
    /// Dataset hashes.
    pub hashes: (String, String),
    /// Images only on the right.
    pub images_added: Vec<String>,
    /// Images only on the left.
    pub images_removed: Vec<String>,
    /// Images whose files (labels excluded) differ.
    pub images_changed: Vec<String>,
    /// Annotation sets only on the right.
    pub sets_added: Vec<String>,
    /// Annotation sets only on the left.
    pub sets_removed: Vec<String>,
    /// Sets on both sides that differ.
    pub sets_changed: Vec<SetChange>,
    /// Manifest paths whose value changed.
    pub metadata_changed: Vec<String>,
    /// People credited only on the right.
    pub credit_added: Vec<String>,
    /// People credited only on the left.
    pub credit_removed: Vec<String>,
}

fn ids(meta: &serde_json::Value, key: &str) -> Vec<String> {
    meta.get(key)
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("id").and_then(|i| i.as_str()).map(str::to_string))
        .collect()
}

fn set_paths(meta: &serde_json::Value, set: &str) -> Vec<String> {
    meta.get("annotation_sets")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter(|s| s.get("id").and_then(|i| i.as_str()) == Some(set))
        .flat_map(|s| {
            s.get("files")
                .and_then(|f| f.as_array())
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|f| f.get("path").and_then(|p| p.as_str()).map(str::to_string))
        // A tracks set is listed by its descriptor; its tables sit beside it.
        .map(|p| match p.strip_suffix("/datapackage.json") {
            Some(dir) if dir.ends_with("/tracks") => dir.to_string(),
            _ => p,
        })
        .collect()
}

/// The files at `prefix` or under `prefix/`. `files` is sorted by path (as [`content`] and
/// records keep it), so this is two binary searches, not a scan per set file.
fn hashes_under<'a>(files: &'a [FileEntry], prefix: &str) -> BTreeMap<&'a str, &'a str> {
    debug_assert!(files.windows(2).all(|w| w[0].path <= w[1].path));
    let dir = format!("{}/", prefix.trim_end_matches('/'));
    let exact = files
        .binary_search_by(|f| f.path.as_str().cmp(prefix))
        .ok()
        .map(|i| &files[i]);
    let start = files.partition_point(|f| f.path.as_str() < dir.as_str());
    let under = files[start..]
        .iter()
        .take_while(|f| f.path.starts_with(&dir));
    exact
        .into_iter()
        .chain(under)
        .map(|f| (f.path.as_str(), f.sha256.as_str()))
        .collect()
}

/// Objects of a GeoJSON file: id → (kind, canonical JSON).
fn objects_of(path: &Path) -> Result<BTreeMap<String, (String, String)>, Error> {
    let read =
        crate::formats::geojson::read(path, Default::default()).map_err(|e| Error::Record {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(read
        .collection
        .objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let id =
                o.id.as_ref()
                    .map_or_else(|| format!("#{i}"), |id| id.to_string());
            let kind = match o.geometry.type_name() {
                "Point" | "MultiPoint" => "points",
                "LineString" | "MultiLineString" => "lines",
                _ if o.is_box() => "boxes",
                _ => "polygons",
            };
            let canon = crate::formats::geojson::feature_value(o).to_string();
            (id, (kind.to_string(), canon))
        })
        .collect())
}

/// Compares two sides: images, annotation sets (objects of GeoJSON files matched by id),
/// metadata leaves and credit.
pub fn diff(a: &Side, b: &Side) -> Result<Diff, Error> {
    let mut d = Diff {
        from: a.name.clone(),
        to: b.name.clone(),
        hashes: (dataset_hash(&a.files), dataset_hash(&b.files)),
        ..Default::default()
    };
    let (ia, ib) = (ids(&a.metadata, "images"), ids(&b.metadata, "images"));
    for id in &ib {
        if !ia.contains(id) {
            d.images_added.push(id.clone());
        }
    }
    for id in &ia {
        if !ib.contains(id) {
            d.images_removed.push(id.clone());
            continue;
        }
        let prefix = format!("images/{id}.ome.zarr");
        let strip = |m: BTreeMap<&str, &str>| -> BTreeMap<String, String> {
            m.into_iter()
                .filter(|(p, _)| !p.contains("/labels/"))
                .map(|(p, h)| (p.to_string(), h.to_string()))
                .collect()
        };
        if strip(hashes_under(&a.files, &prefix)) != strip(hashes_under(&b.files, &prefix)) {
            d.images_changed.push(id.clone());
        }
    }
    let (sa, sb) = (
        ids(&a.metadata, "annotation_sets"),
        ids(&b.metadata, "annotation_sets"),
    );
    for s in &sb {
        if !sa.contains(s) {
            d.sets_added.push(s.clone());
        }
    }
    for s in &sa {
        if !sb.contains(s) {
            d.sets_removed.push(s.clone());
            continue;
        }
        let mut change = SetChange {
            set: s.clone(),
            ..Default::default()
        };
        let mut paths: Vec<String> = set_paths(&a.metadata, s);
        paths.extend(set_paths(&b.metadata, s));
        paths.sort();
        paths.dedup();
        for p in paths {
            let (ha, hb) = (hashes_under(&a.files, &p), hashes_under(&b.files, &p));
            if ha == hb {
                continue;
            }
            if p.ends_with(".geojson") {
                let load = |side: &Side| -> Result<BTreeMap<String, (String, String)>, Error> {
                    match side.sources.get(&p) {
                        Some(src) => objects_of(src),
                        None => Ok(BTreeMap::new()),
                    }
                };
                let (oa, ob) = (load(a)?, load(b)?);
                for (id, (kind, canon)) in &ob {
                    match oa.get(id) {
                        None => *change.added.entry(kind.clone()).or_default() += 1,
                        Some((_, c)) if c != canon => {
                            *change.changed.entry(kind.clone()).or_default() += 1
                        }
                        Some(_) => {}
                    }
                }
                for (id, (kind, _)) in &oa {
                    if !ob.contains_key(id) {
                        *change.removed.entry(kind.clone()).or_default() += 1;
                    }
                }
            } else {
                let keys: std::collections::BTreeSet<&&str> = ha.keys().chain(hb.keys()).collect();
                change.files_changed +=
                    keys.iter().filter(|k| ha.get(**k) != hb.get(**k)).count() as u64;
            }
        }
        let set_meta = |m: &serde_json::Value| {
            m.get("annotation_sets")
                .and_then(|v| v.as_array())
                .and_then(|v| {
                    v.iter()
                        .find(|x| x.get("id").and_then(|i| i.as_str()) == Some(s))
                })
                .cloned()
        };
        let meta_changed = set_meta(&a.metadata) != set_meta(&b.metadata);
        if meta_changed
            || change.files_changed > 0
            || !change.added.is_empty()
            || !change.removed.is_empty()
            || !change.changed.is_empty()
        {
            d.sets_changed.push(change);
        }
    }
    d.metadata_changed = crate::edit::changed_leaves(&a.metadata, &b.metadata);
    // The same person when the ORCIDs agree (both known) or else the names do.
    let same = |x: &Credit, c: &Credit| {
        x.same_person(&c.name, c.orcid.as_deref()) || x.name.eq_ignore_ascii_case(&c.name)
    };
    for c in &b.credit {
        if !a.credit.iter().any(|x| same(x, c)) {
            d.credit_added.push(c.name.clone());
        }
    }
    for c in &a.credit {
        if !b.credit.iter().any(|x| same(x, c)) {
            d.credit_removed.push(c.name.clone());
        }
    }
    Ok(d)
}

impl std::fmt::Display for Diff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} → {}", self.from, self.to)?;
        if self.hashes.0 == self.hashes.1 {
            return writeln!(f, "identical ({})", self.hashes.0);
        }
        let list = |f: &mut std::fmt::Formatter<'_>, what: &str, v: &[String]| {
            if v.is_empty() {
                Ok(())
            } else {
                writeln!(f, "{what}: {}", v.join(", "))
            }
        };
        list(f, "images added", &self.images_added)?;
        list(f, "images removed", &self.images_removed)?;
        list(f, "images changed", &self.images_changed)?;
        list(f, "sets added", &self.sets_added)?;
        list(f, "sets removed", &self.sets_removed)?;
        for c in &self.sets_changed {
            let mut parts = Vec::new();
            let kinds: std::collections::BTreeSet<&String> = c
                .added
                .keys()
                .chain(c.removed.keys())
                .chain(c.changed.keys())
                .collect();
            for k in kinds {
                let n = |m: &BTreeMap<String, u64>| m.get(k).copied().unwrap_or(0);
                parts.push(format!(
                    "+{} {k}, −{}, {} changed",
                    n(&c.added),
                    n(&c.removed),
                    n(&c.changed)
                ));
            }
            if c.files_changed > 0 {
                parts.push(format!("{} files changed", c.files_changed));
            }
            if parts.is_empty() {
                parts.push("metadata changed".into());
            }
            writeln!(f, "{}: {}", c.set, parts.join("; "))?;
        }
        list(f, "metadata changed", &self.metadata_changed)?;
        list(f, "credit added", &self.credit_added)?;
        list(f, "credit removed", &self.credit_removed)?;
        Ok(())
    }
}

/// What `restore` did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Restored {
    /// Files written back from the store.
    pub written: Vec<String>,
    /// Files of the set's current version removed (not in the restored version).
    pub removed: Vec<String>,
}

/// Restores annotation set `set` as it was in release `version`: its files from the store,
/// its manifest entry (and the classes it used) from the record. The files are written first,
/// then the manifest, then leftovers of the replaced version are removed.
pub fn restore(pkg: &mut Package, version: &str, set: &str) -> Result<Restored, Error> {
    let root = pkg.root().to_path_buf();
    let all = records(&root)?;
    let Some((_, r)) = all.iter().find(|(_, r)| r.version == version) else {
        return Err(Error::Unknown {
            version: version.into(),
            known: all
                .iter()
                .map(|(_, r)| r.version.clone())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let old_entry = r
        .metadata
        .get("annotation_sets")
        .and_then(|v| v.as_array())
        .and_then(|v| {
            v.iter()
                .find(|s| s.get("id").and_then(|i| i.as_str()) == Some(set))
        })
        .cloned()
        .ok_or_else(|| Error::Record {
            path: root.join(VERSIONS_DIR).join(format!("{version}.json")),
            message: format!("release {version} has no annotation set {set:?}"),
        })?;
    let old_paths = set_paths(&r.metadata, set);
    if let Some(p) = old_paths.iter().find(|p| p.contains("/labels/")) {
        return Err(Error::Record {
            path: root.join(p),
            message: format!(
                "set {set:?} holds label images; restoring masks is not supported yet (their OME-Zarr labels groups would need rewriting)"
            ),
        });
    }
    let current_meta = serde_json::to_value(pkg.manifest()).expect("a manifest serialises");
    let current_paths = set_paths(&current_meta, set);
    let mut out = Restored::default();
    let lock = pkg.lock()?;
    // Files back from the store (objects are verified before use).
    let mut keep = std::collections::BTreeSet::new();
    for p in &old_paths {
        for (path, sha) in hashes_under(&r.files, p) {
            let obj = object_path(&root, sha);
            let bytes = package::read_in_package(&root, &obj)?;
            let got = hex(&Sha256::digest(&bytes));
            if got != sha {
                return Err(Error::Record {
                    path: obj,
                    message: format!("stored object of {path} is corrupted (sha256 {got})"),
                });
            }
            let dst = root.join(path);
            // Never written through a link: it could point out of the package.
            package::lstat_in_package(&root, &dst)?;
            if let Some(dir) = dst.parent() {
                fs::create_dir_all(dir).map_err(io(dir))?;
            }
            let same = hash_in_package(&root, &dst)
                .map(|(_, h)| h == sha)
                .unwrap_or(false);
            if !same {
                if dst.is_file() {
                    let name = dst
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .to_string();
                    let backup = dst.with_file_name(format!(".{name}.old-{}", std::process::id()));
                    fs::copy(&dst, &backup).map_err(io(&backup))?;
                    lock.will_replace(&dst, &backup)?;
                } else {
                    lock.will_create(&dst)?;
                }
                package::write_atomic(&dst, &bytes)?;
                out.written.push(path.to_string());
            }
            keep.insert(path.to_string());
        }
    }
    // Files of the replaced version that the restored one does not have: removed once the
    // manifest no longer lists them.
    let now = content(&root)?;
    for p in &current_paths {
        for (path, _) in hashes_under(&now, p) {
            if !keep.contains(path) && !old_paths.iter().any(|o| path == o) {
                lock.will_obsolete(&root.join(path))?;
                out.removed.push(path.to_string());
            }
        }
    }
    // The manifest: the set's entry and the classes the old version used.
    let old_classes: Vec<crate::metadata::Class> = r
        .metadata
        .get("classes")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .ok()
        .flatten()
        .unwrap_or_default();
    let entry: crate::metadata::AnnotationSet =
        serde_json::from_value(old_entry).map_err(|e| Error::Record {
            path: root.join(VERSIONS_DIR).join(format!("{version}.json")),
            message: format!("set {set:?}: {e}"),
        })?;
    pkg.update_locked(&lock, |m| -> Result<(), Error> {
        match m.annotation_sets.iter_mut().find(|s| s.id == set) {
            Some(s) => *s = entry,
            None => m.annotation_sets.push(entry),
        }
        for c in old_classes {
            if m.class(&c.name).is_none() && !m.classes.iter().any(|x| x.id == c.id) {
                m.classes.push(c);
            }
        }
        Ok(())
    })
    .map_err(|e| match e {
        package::UpdateError::Change(e) => e,
        package::UpdateError::Package(e) => Error::Package(e),
    })?;
    Ok(out)
}
