//! The package on disk: layout, creation, the writer lock and atomic commits.
//!
//! Layout (documented in `formats/package/README.md`):
//! ```text
//! DIR/mifa.json        manifest (written last by every command)
//! DIR/images/          one OME-Zarr per image
//! DIR/annotations/     one folder per annotation set
//! DIR/versions/        immutable release records
//! ```
//! Every write goes through [`Package::update`] or [`Package::create`]: it takes the writer lock,
//! checks the new manifest, refuses changes that add validation errors, and replaces `mifa.json`
//! by writing a temporary file and renaming it, so a reader sees the old or the new manifest,
//! never a mix.

use crate::manifest::{self, FILE_NAME};
use crate::metadata::Manifest;
use crate::validate::{self, Issue};
use serde_json::Value;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// Folder of images.
pub const IMAGES_DIR: &str = "images";
/// Folder of annotation sets.
pub const ANNOTATIONS_DIR: &str = "annotations";
/// Folder of release records.
pub const VERSIONS_DIR: &str = "versions";
/// Lock file held while a command writes.
pub const LOCK_FILE: &str = ".mifa.lock";

/// Errors opening, creating or writing a package.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed.
    #[error("{path}: {action}")]
    Io {
        /// The path acted on.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// `mifa init` on a directory that already holds a package.
    #[error("{path}: a mifa package already exists here; refusing to overwrite it")]
    Exists {
        /// The existing manifest.
        path: PathBuf,
    },
    /// The directory has no manifest.
    #[error("{path}: not a mifa package (no {FILE_NAME}); create one with `mifa init`")]
    NotAPackage {
        /// The directory.
        path: PathBuf,
    },
    /// Another process holds the writer lock.
    #[error("{path}: package is locked by pid {pid}; wait for it to finish (or delete the lock file if that process is gone)")]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Holder.
        pid: u32,
    },
    /// The manifest could not be read.
    #[error(transparent)]
    Manifest(#[from] manifest::Error),
    /// A path inside the package crosses a symbolic link, which mifa never follows there.
    #[error("{path}: is a symbolic link; mifa does not follow links inside a package")]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// A path to read inside the package is not a regular file (a FIFO, a device, a folder).
    #[error("{path}: is a {kind}, not a regular file")]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// A path given as inside the package is outside it.
    #[error("{path}: is outside the package {root}")]
    Outside {
        /// The path.
        path: PathBuf,
        /// The package root.
        root: PathBuf,
    },
    /// The journal of an interrupted write names a path no writer journals; nothing was done.
    #[error("{journal}: refusing the journal of an interrupted write: entry {entry:?} {reason}; nothing was changed (check the package, then remove the journal by hand)")]
    Journal {
        /// The journal file.
        journal: PathBuf,
        /// The offending entry.
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// An output would be written inside the package (and change its content), or would hold it.
    #[error("{path}: an output of mifa must lie outside the package {root} (and not contain it); choose another path")]
    OutputInPackage {
        /// The output path.
        path: PathBuf,
        /// The package root, resolved.
        root: PathBuf,
    },
    /// An output path holds something that must not be replaced.
    #[error("{path}: is a {kind}; refusing to replace it (give the path of a regular file)")]
    Output {
        /// The output path.
        path: PathBuf,
        /// What is there.
        kind: &'static str,
    },
    /// An output folder path holds something other than a folder.
    #[error("{path}: is a {kind}, not a folder; refusing to write into it")]
    OutputDir {
        /// The output folder.
        path: PathBuf,
        /// What is there.
        kind: &'static str,
    },
    /// The change would make the package invalid; nothing was written.
    #[error("{path}: change refused, nothing was written: {}", summarize(issues))]
    Invalid {
        /// The manifest.
        path: PathBuf,
        /// The errors the change would introduce.
        issues: Vec<Issue>,
    },
}

fn summarize(issues: &[Issue]) -> String {
    let mut s = issues
        .iter()
        .take(3)
        .map(|i| match &i.path {
            Some(p) if i.file == FILE_NAME => format!("{p}: {}", i.message),
            _ => i.located_message(),
        })
        .collect::<Vec<_>>()
        .join("; ");
    if issues.len() > 3 {
        s.push_str(&format!(" (and {} more)", issues.len() - 3));
    }
    s
}

fn io<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// An open package: its root and its parsed manifest.
#[derive(Debug, Clone)]
pub struct Package {
    root: PathBuf,
    manifest: Manifest,
}

impl Package {
    /// Creates a new package in `dir` (created if missing). Refuses if `dir` already holds a
    /// manifest. The manifest is written last, so an interrupted `init` leaves no package.
    pub fn create(dir: &Path, manifest: Manifest) -> Result<Package, Error> {
        let manifest_path = dir.join(FILE_NAME);
        if manifest_path.exists() {
            return Err(Error::Exists {
                path: manifest_path,
            });
        }
        let issues = validate::check_manifest(dir, &manifest).errors();
        if !issues.is_empty() {
            return Err(Error::Invalid {
                path: manifest_path,
                issues,
            });
        }
        fs::create_dir_all(dir).map_err(io(dir, "cannot create the package directory"))?;
        let _lock = Lock::acquire(dir)?;
        for sub in [IMAGES_DIR, ANNOTATIONS_DIR, VERSIONS_DIR] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(io(&p, "cannot create directory"))?;
        }
        // Re-check under the lock: a concurrent init may have won the race.
        if manifest_path.exists() {
            return Err(Error::Exists {
                path: manifest_path,
            });
        }
        write_atomic(&manifest_path, manifest::to_text(&manifest).as_bytes())?;
        Ok(Package {
            root: dir.to_path_buf(),
            manifest,
        })
    }

    /// Opens the package in `dir`, refusing manifests that are malformed, newer than this build
    /// or break the schema. Semantic problems (bad ORCID, dangling references) do not stop
    /// opening; [`crate::validate`] reports them.
    pub fn open(dir: &Path) -> Result<Package, Error> {
        let manifest_path = dir.join(FILE_NAME);
        if !manifest_path.is_file() {
            return Err(Error::NotAPackage {
                path: dir.to_path_buf(),
            });
        }
        check_manifest_file(dir)?;
        let (manifest, _) = manifest::read(&manifest_path)?;
        Ok(Package {
            root: dir.to_path_buf(),
            manifest,
        })
    }

    /// Package root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The manifest as last read or written.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Path of the manifest file.
    pub fn manifest_path(&self) -> PathBuf {
        self.root.join(FILE_NAME)
    }

    /// Applies a change to the manifest atomically: under the writer lock, re-reads the manifest,
    /// applies `change`, refuses the result if it has validation errors the old manifest did not
    /// have (the model, and the files the change touched: see [`validate::Scope`]), then replaces
    /// `mifa.json`. Returns what `change` returned.
    pub fn update<T, E>(
        &mut self,
        change: impl FnOnce(&mut Manifest) -> Result<T, E>,
    ) -> Result<T, UpdateError<E>> {
        let lock = self.lock()?;
        self.update_locked(&lock, change)
    }

    /// Like [`Package::update`], on the raw JSON document (for path-based edits and merges of
    /// keys the types do not model).
    pub fn update_value<T, E>(
        &mut self,
        change: impl FnOnce(&mut Value) -> Result<T, UpdateError<E>>,
    ) -> Result<T, UpdateError<E>> {
        let lock = self.lock()?;
        self.update_value_locked(&lock, change)
    }

    /// Takes the writer lock, for operations that write data files before the manifest (the
    /// lock is held from the first file to the manifest); pass it to the `*_locked` updates.
    pub fn lock(&self) -> Result<Lock, Error> {
        Lock::acquire(&self.root)
    }

    /// [`Package::update`] under a lock the caller already holds.
    pub fn update_locked<T, E>(
        &mut self,
        lock: &Lock,
        change: impl FnOnce(&mut Manifest) -> Result<T, E>,
    ) -> Result<T, UpdateError<E>> {
        self.update_value_locked(lock, |doc| {
            let mut m = deserialize_doc(doc)?;
            let out = change(&mut m).map_err(UpdateError::Change)?;
            *doc = serde_json::to_value(&m).expect("a manifest always serialises");
            Ok(out)
        })
    }

    /// [`Package::update_value`] under a lock the caller already holds.
    pub fn update_value_locked<T, E>(
        &mut self,
        lock: &Lock,
        change: impl FnOnce(&mut Value) -> Result<T, UpdateError<E>>,
    ) -> Result<T, UpdateError<E>> {
        debug_assert!(lock.path.starts_with(&self.root));
        let path = self.manifest_path();
        check_manifest_file(&self.root)?;
        let (old, mut doc) = manifest::read(&path)?;
        let out = change(&mut doc)?;
        let new = match manifest::from_value(&path, doc) {
            Ok((m, _)) => m,
            Err(manifest::Error::Schema { errors, .. }) => {
                let issues = errors
                    .into_iter()
                    .map(|e| Issue::error("schema", FILE_NAME, Some(e.path), e.message))
                    .collect();
                return Err(Error::Invalid { path, issues }.into());
            }
            Err(e) => return Err(Error::from(e).into()),
        };
        let introduced = introduced_errors(&self.root, &old, &new);
        if !introduced.is_empty() {
            return Err(Error::Invalid {
                path,
                issues: introduced,
            }
            .into());
        }
        if new != old {
            write_atomic(&path, manifest::to_text(&new).as_bytes())?;
        }
        lock.committed();
        self.manifest = new;
        Ok(out)
    }

    /// Resolves a package-relative path from the manifest, refusing absolute paths and paths
    /// that leave the package; the message names the manifest that holds the path.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, String> {
        check_relative_path(rel)
            .map_err(|msg| format!("{}: {msg}", self.manifest_path().display()))?;
        Ok(self.root.join(rel))
    }

    /// Refuses an output path (file or folder, existing or not) inside the package or holding
    /// it: written there, it would change the package's content and fail `verify`.
    pub fn check_output_outside(&self, out: &Path) -> Result<(), Error> {
        let root = self
            .root
            .canonicalize()
            .map_err(io(&self.root, "cannot resolve the package folder"))?;
        let out_abs = resolve_nearest(out)?;
        if out_abs.starts_with(&root) || root.starts_with(&out_abs) {
            return Err(Error::OutputInPackage {
                path: out.to_path_buf(),
                root,
            });
        }
        Ok(())
    }
}

/// The manifest of a JSON document, a schema error naming the manifest otherwise.
fn deserialize_doc<E>(doc: &Value) -> Result<Manifest, UpdateError<E>> {
    serde::Deserialize::deserialize(doc).map_err(|e: serde_json::Error| {
        UpdateError::Package(Error::Invalid {
            path: PathBuf::from(FILE_NAME),
            issues: vec![Issue::error("schema", FILE_NAME, None, e.to_string())],
        })
    })
}

/// Errors of `new` that `old` did not have, from the model and the files the change touched (an
/// edit costs what it changes; `mifa validate` checks every file).
fn introduced_errors(root: &Path, old: &Manifest, new: &Manifest) -> Vec<Issue> {
    let scope = validate::Scope::between(old, new);
    let errors = |m| {
        let issues = validate::check_commit(root, m, &scope);
        issues
            .into_iter()
            .filter(|i| i.severity == validate::Severity::Error)
    };
    let before: HashSet<Issue> = errors(old).collect();
    errors(new).filter(|i| !before.contains(i)).collect()
}

/// Refuses a manifest that is a symbolic link or not a regular file: it is read and replaced
/// in place, so it must be the package's own.
pub fn check_manifest_file(root: &Path) -> Result<(), Error> {
    match lstat_in_package(root, &root.join(FILE_NAME))? {
        Some(m) if !m.file_type().is_file() => Err(Error::NotAFile {
            path: root.join(FILE_NAME),
            kind: kind_of(&m.file_type()),
        }),
        _ => Ok(()),
    }
}

/// Error of [`Package::update`]: the package refused, or the change itself failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    /// Lock, read, validation or write failure.
    #[error(transparent)]
    Package(#[from] Error),
    /// The change returned an error; nothing was written.
    #[error(transparent)]
    Change(E),
}

impl<E> From<manifest::Error> for UpdateError<E> {
    fn from(e: manifest::Error) -> Self {
        UpdateError::Package(e.into())
    }
}

pub use crate::formats::input::kind_of;
pub use mifa_model::ids::{check_relative_path, is_temporary};

/// `path` relative to `root`: a path starting with `root` (give `root.join(rel)`, which is
/// unambiguous even when `root` is relative) has it stripped, another absolute one is outside,
/// another relative one is taken as relative to `root`. Refuses `..` and other non-plain
/// components.
fn below<'a>(root: &Path, path: &'a Path) -> Result<&'a Path, Error> {
    let rel = if path.is_absolute() || path.starts_with(root) {
        path.strip_prefix(root).map_err(|_| Error::Outside {
            path: path.to_path_buf(),
            root: root.to_path_buf(),
        })?
    } else {
        path
    };
    if rel.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(rel)
    } else {
        Err(Error::Outside {
            path: path.to_path_buf(),
            root: root.to_path_buf(),
        })
    }
}

/// Metadata of `rel` below `root`, refusing any component that is a symbolic link (the last
/// one included); `None` when a component does not exist.
pub fn lstat_in_package(root: &Path, path: &Path) -> Result<Option<fs::Metadata>, Error> {
    let rel = below(root, path)?;
    let mut p = root.to_path_buf();
    let mut last = None;
    for c in rel.components() {
        p.push(c);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => return Err(Error::Symlink { path: p }),
            Ok(m) => last = Some(m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&p, "cannot inspect")(e)),
        }
    }
    Ok(last)
}

/// Opens a regular file inside the package for reading without following a symbolic link:
/// every component below `root` is checked, and the file is opened with `O_NOFOLLOW`.
/// `path` is `root.join(rel)` (or `rel`, when `rel` does not start with `root`'s components).
pub fn open_in_package(root: &Path, path: &Path) -> Result<File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let full = root.join(below(root, path)?);
    match lstat_in_package(root, path)? {
        None => {
            return Err(io(&full, "cannot open")(std::io::Error::from(
                std::io::ErrorKind::NotFound,
            )))
        }
        Some(m) if !m.file_type().is_file() => {
            return Err(Error::NotAFile {
                path: full,
                kind: kind_of(&m.file_type()),
            })
        }
        Some(_) => {}
    }
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&full)
        .map_err(io(&full, "cannot open"))
}

/// Checks, for a reader that opens `path` itself, that it is reached inside the package without
/// a symbolic link and is a regular file when it exists (a missing file is the reader's to
/// report).
pub fn check_file_in_package(root: &Path, path: &Path) -> Result<(), Error> {
    match lstat_in_package(root, path)? {
        Some(m) if !m.file_type().is_file() => Err(Error::NotAFile {
            path: root.join(below(root, path)?),
            kind: kind_of(&m.file_type()),
        }),
        _ => Ok(()),
    }
}

/// Checks that the folder `path` inside the package, and everything in it, holds no symbolic
/// link and no special file (for readers that open files of a folder by paths of their own).
pub fn check_tree_in_package(root: &Path, path: &Path) -> Result<(), Error> {
    if lstat_in_package(root, path)?.is_none() {
        return Ok(());
    }
    let mut stack = vec![root.join(below(root, path)?)];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).map_err(io(&dir, "cannot list"))? {
            let e = e.map_err(io(&dir, "cannot list"))?;
            let ft = e.file_type().map_err(io(&e.path(), "cannot inspect"))?;
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_symlink() {
                return Err(Error::Symlink { path: e.path() });
            } else if !ft.is_file() {
                return Err(Error::NotAFile {
                    path: e.path(),
                    kind: kind_of(&ft),
                });
            }
        }
    }
    Ok(())
}

/// Reads a whole regular file inside the package, as [`open_in_package`] opens it.
pub fn read_in_package(root: &Path, path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let full = root.join(below(root, path)?);
    let mut f = open_in_package(root, path)?;
    let mut out = Vec::new();
    f.read_to_end(&mut out).map_err(io(&full, "cannot read"))?;
    Ok(out)
}

/// [`read_in_package`] as UTF-8 text.
pub fn read_text_in_package(root: &Path, path: &Path) -> Result<String, Error> {
    let full = root.join(below(root, path)?);
    String::from_utf8(read_in_package(root, path)?).map_err(|e| Error::Io {
        path: full,
        action: "is not UTF-8 text",
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
    })
}

/// Every symbolic link and special file (FIFO, socket, device) inside the package, as
/// package-relative path and kind, sorted; links are not followed.
pub fn special_entries(root: &Path) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let p = e.path();
            if ft.is_dir() {
                stack.push(p);
            } else if !ft.is_file() {
                let rel = p.strip_prefix(root).unwrap_or(&p);
                out.push((rel.to_string_lossy().into_owned(), kind_of(&ft)));
            }
        }
    }
    out.sort();
    out
}

/// `report` with an error for every symbolic link and special file inside the package.
pub fn with_link_issues(root: &Path, mut report: validate::Report) -> validate::Report {
    for (rel, kind) in special_entries(root) {
        report.issues.push(Issue::error(
            "symlink",
            &rel,
            None,
            format!("is a {kind}; mifa does not follow links nor read special files inside a package: replace it with the file or folder itself"),
        ));
    }
    report.issues.sort_by_key(|i| i.severity);
    report
}

/// Writes a command's output file at a user-given `path`: a regular file (or nothing) there is
/// replaced atomically; a character device (`/dev/null`, `/dev/stdout`) is written through, as
/// `cp` does; anything else (a folder, a symbolic link, a FIFO, a socket, a block device) is
/// refused, and nothing is ever renamed over it.
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::os::unix::fs::FileTypeExt;
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_char_device() => {
            let mut f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(io(path, "cannot open"))?;
            f.write_all(bytes).map_err(io(path, "cannot write"))?;
            f.flush().map_err(io(path, "cannot write"))
        }
        Ok(m) if !m.file_type().is_file() => Err(Error::Output {
            path: path.to_path_buf(),
            kind: kind_of(&m.file_type()),
        }),
        Ok(_) => write_atomic(path, bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_atomic(path, bytes),
        Err(e) => Err(io(path, "cannot inspect")(e)),
    }
}

/// Runs `write` for an output file at a user-given `path` that a writer of its own stages and
/// renames into place: on a regular file (or nothing) it writes `path` itself; on a character
/// device it writes a temporary file elsewhere whose bytes are then written through the device
/// (nothing is renamed over it); anything else is refused before `write` runs.
pub fn write_output_with<T, E: From<Error>>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<T, E>,
) -> Result<T, E> {
    use std::os::unix::fs::FileTypeExt;
    check_output(path)?;
    let device = fs::metadata(path).is_ok_and(|m| m.file_type().is_char_device());
    if !device {
        return write(path);
    }
    let dir = temp_dir_for_output()?;
    let tmp = dir.join(path.file_name().unwrap_or("out".as_ref()));
    let result = write(&tmp).and_then(|out| {
        let bytes = fs::read(&tmp).map_err(io(&tmp, "cannot read temporary file"))?;
        let mut f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io(path, "cannot open"))?;
        f.write_all(&bytes).map_err(io(path, "cannot write"))?;
        Ok(out)
    });
    let _ = fs::remove_dir_all(&dir);
    result
}

/// A fresh private folder in the system's temporary folder.
fn temp_dir_for_output() -> Result<PathBuf, Error> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    let mut last = None;
    for n in 0..100u32 {
        let d = base.join(format!(".mifa-out-{}-{n}", std::process::id()));
        match fs::DirBuilder::new().mode(0o700).create(&d) {
            Ok(()) => return Ok(d),
            Err(e) => last = Some(e),
        }
    }
    Err(io(&base, "cannot create a temporary folder")(
        last.unwrap_or_else(|| std::io::Error::other("no free name")),
    ))
}

/// Checks a user-given output path before a command writes it in steps of its own: refuses
/// what [`write_output`] refuses (a character device is accepted).
pub fn check_output(path: &Path) -> Result<(), Error> {
    match fs::symlink_metadata(path) {
        Ok(m) => {
            use std::os::unix::fs::FileTypeExt;
            let ft = m.file_type();
            if ft.is_file() || ft.is_char_device() {
                Ok(())
            } else {
                Err(Error::Output {
                    path: path.to_path_buf(),
                    kind: kind_of(&ft),
                })
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path, "cannot inspect")(e)),
    }
}

/// Checks a user-given output folder: refuses one that exists as anything but a real folder
/// (a symbolic link included).
pub fn check_output_dir(path: &Path) -> Result<(), Error> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_dir() => Ok(()),
        Ok(m) => Err(Error::OutputDir {
            path: path.to_path_buf(),
            kind: kind_of(&m.file_type()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path, "cannot inspect")(e)),
    }
}

/// `path` made absolute through its nearest existing ancestor (resolved, links included), with
/// the components that do not exist yet appended as given.
fn resolve_nearest(path: &Path) -> Result<PathBuf, Error> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(io(path, "cannot resolve the current folder for"))?
            .join(path)
    };
    let mut rest = Vec::new();
    let mut at = abs.as_path();
    loop {
        match at.canonicalize() {
            Ok(base) => {
                return Ok(rest.iter().rev().fold(base, |p, c| p.join(c)));
            }
            Err(_) => match (at.parent(), at.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_os_string());
                    at = parent;
                }
                _ => return Ok(abs.clone()),
            },
        }
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to disk,
/// then renamed over `path`, then the directory flushed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = create_new_nofollow(&tmp)?;
        f.write_all(bytes)
            .map_err(io(&tmp, "cannot write temporary file"))?;
        f.sync_all()
            .map_err(io(&tmp, "cannot flush temporary file"))?;
        fs::rename(&tmp, path).map_err(io(path, "cannot replace file"))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `tmp` afresh: whatever a dead writer (or anyone) left under that name, a symbolic
/// link included, is removed first and never followed.
fn create_new_nofollow(tmp: &Path) -> Result<File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(tmp)
    };
    match open() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            remove_entry(tmp);
            open()
        }
        r => r,
    }
    .map_err(io(tmp, "cannot create temporary file"))
}

/// The writer lock: an exclusive `flock` on `.mifa.lock`, which holds the owner's pid for the
/// message. The kernel releases it when the holder dies, however it dies (SIGKILL included), so
/// a crash never leaves a stale lock; the file itself stays (removing it would race).
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    file: File,
    root: PathBuf,
    journal: std::sync::Mutex<Option<Journal>>,
}

/// Name of the journal of an interrupted write, in the package root.
pub const JOURNAL_FILE: &str = ".mifa.journal.json";

/// What a write in progress has put in place before its manifest commit: paths it created and
/// paths it moved aside. After a crash, the next writer rolls back (the manifest is still the
/// one from before) or forward (the manifest was committed).
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Journal {
    manifest_sha256: String,
    created: Vec<String>,
    backups: Vec<[String; 2]>,
    /// Paths the committed change no longer uses, removed after the commit.
    #[serde(default)]
    obsolete: Vec<String>,
    /// Set (atomically) once the manifest is committed, before any clean-up: recovery then
    /// only finishes the clean-up.
    #[serde(default)]
    committed: bool,
}

fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    match fs::read(path) {
        Ok(b) => sha2::Sha256::digest(&b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect(),
        Err(_) => String::new(),
    }
}

/// Removes what is at `p` without following a link: a symbolic link goes itself (never its
/// target), a folder with its contents (`remove_dir_all` does not follow links inside).
fn remove_entry(p: &Path) {
    match fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_dir() => {
            let _ = fs::remove_dir_all(p);
        }
        Ok(_) => {
            let _ = fs::remove_file(p);
        }
        Err(_) => {}
    }
}

/// Removes the journaled path `rel` below `root`, unless a folder above it is a symbolic link
/// (then it would be outside the package).
fn remove_journaled(root: &Path, rel: &str) {
    let parent = Path::new(rel).parent().unwrap_or(Path::new(""));
    if parent.as_os_str().is_empty() || lstat_in_package(root, &root.join(parent)).is_ok() {
        remove_entry(&root.join(rel));
    }
}

/// Why a journal entry is not one a writer makes, if it is not: writers only stage below
/// `images/<image>`, `annotations/<set>/` and `versions/`, and never through a link.
fn journal_entry_problem(root: &Path, rel: &str) -> Option<String> {
    if let Err(msg) = check_relative_path(rel) {
        return Some(if Path::new(rel).is_absolute() || rel.starts_with('/') {
            "is absolute".to_string()
        } else if rel.split('/').any(|s| s == "..") {
            "leaves the package ('..')".to_string()
        } else {
            format!("is not a plain package path ({msg})")
        });
    }
    let segments: Vec<&str> = rel.split('/').collect();
    let depth = match segments[0] {
        IMAGES_DIR | VERSIONS_DIR => 2,
        ANNOTATIONS_DIR => 3,
        _ => {
            return Some(
                "is not below images/, annotations/<set>/ or versions/, where writers stage".into(),
            )
        }
    };
    if segments.len() < depth {
        return Some(format!(
            "names a folder of the package itself ({}), not something a writer put there",
            segments.join("/")
        ));
    }
    let parent = Path::new(rel).parent().unwrap_or(Path::new(""));
    match lstat_in_package(root, &root.join(parent)) {
        Err(Error::Symlink { path }) => Some(format!(
            "crosses the symbolic link {}; mifa never follows links inside a package",
            path.display()
        )),
        _ => None,
    }
}

/// The first journal entry that recovery must not act on, with why.
fn journal_problem(root: &Path, j: &Journal) -> Option<(String, String)> {
    let paths = j
        .created
        .iter()
        .chain(j.backups.iter().flatten())
        .chain(&j.obsolete);
    for p in paths {
        if let Some(why) = journal_entry_problem(root, p) {
            return Some((p.clone(), why));
        }
    }
    for [dest, backup] in &j.backups {
        let (d, b) = (Path::new(dest), Path::new(backup));
        let name = b.file_name().map(|n| n.to_string_lossy().into_owned());
        if d.parent() != b.parent() || !name.as_deref().is_some_and(is_temporary) {
            return Some((
                backup.clone(),
                format!("is not a temporary beside {dest:?}, as writers make backups"),
            ));
        }
    }
    None
}

/// Removes temporaries of writes that died before journaling them, in the folders where
/// writes stage (under the lock no other writer is alive, so all are dead).
fn sweep(root: &Path) {
    for d in staging_dirs(root) {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // Only temporaries of dead processes (some writers stage before taking the lock);
            // the pid is the digits after the last '-' (`.tmp-img-123.ome.zarr` too). Without
            // /proc no process can be known dead, so nothing is swept.
            let digits: String = name
                .rsplit('-')
                .next()
                .unwrap_or("")
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let pid = digits.parse::<u32>().ok();
            let dead = Path::new("/proc/self").exists()
                && pid.is_some_and(|p| {
                    p != std::process::id() && !Path::new(&format!("/proc/{p}")).exists()
                });
            if is_temporary(&name) && dead {
                remove_entry(&e.path());
            }
        }
    }
}

/// The folders where writers stage temporaries: the root, `images/` and each image with its
/// `labels/`, `annotations/` and each set, `versions/` and its object fan-out folders. Only
/// real folders: a link to elsewhere is never listed, so never swept.
fn staging_dirs(root: &Path) -> Vec<PathBuf> {
    let real_dir = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_dir());
    let subdirs = |d: &Path| -> Vec<PathBuf> {
        if !real_dir(d) {
            return Vec::new();
        }
        fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect()
    };
    let images = root.join(IMAGES_DIR);
    let versions = root.join(VERSIONS_DIR);
    let mut dirs = vec![
        root.to_path_buf(),
        images.clone(),
        root.join(ANNOTATIONS_DIR),
        versions.clone(),
    ];
    for image in subdirs(&images) {
        dirs.push(image.join("labels"));
        dirs.push(image);
    }
    dirs.extend(subdirs(&root.join(ANNOTATIONS_DIR)));
    dirs.extend(subdirs(&versions.join("objects").join("sha256")));
    dirs.retain(|d| real_dir(d));
    dirs
}

/// Finishes or undoes a write interrupted by a crash, from its journal.
fn recover(root: &Path) -> Result<(), Error> {
    let jp = root.join(JOURNAL_FILE);
    if lstat_in_package(root, &jp)?.is_none() {
        sweep(root);
        return Ok(());
    }
    let text = read_text_in_package(root, &jp)?;
    // The journal is written atomically before each rename it lists, so it is whole. Its
    // paths must be ones a writer journals: a journal that names anything else is not ours.
    let j: Journal = serde_json::from_str(&text).map_err(|e| Error::Invalid {
        path: jp.clone(),
        issues: vec![Issue::error("journal", JOURNAL_FILE, None, e.to_string())],
    })?;
    if let Some((entry, reason)) = journal_problem(root, &j) {
        return Err(Error::Journal {
            journal: jp,
            entry,
            reason,
        });
    }
    let manifest = sha256_file(&root.join(FILE_NAME));
    if manifest == j.manifest_sha256 && !j.committed {
        for c in j.created.iter().rev() {
            remove_journaled(root, c);
        }
        for [dest, backup] in j.backups.iter().rev() {
            let (d, b) = (root.join(dest), root.join(backup));
            if fs::symlink_metadata(&b).is_ok() {
                remove_entry(&d);
                fs::rename(&b, &d).map_err(io(&d, "cannot restore from journal"))?;
            }
        }
    } else {
        for p in j.backups.iter().map(|[_, b]| b).chain(&j.obsolete) {
            remove_journaled(root, p);
        }
    }
    fs::remove_file(&jp).map_err(io(&jp, "cannot remove journal"))?;
    sweep(root);
    if let Ok(d) = File::open(root) {
        let _ = d.sync_all();
    }
    Ok(())
}

impl Lock {
    /// Takes the lock of the package at `dir`, or says who holds it.
    pub fn acquire(dir: &Path) -> Result<Lock, Error> {
        use std::io::{Read, Seek};
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::io::AsRawFd;
        let path = dir.join(LOCK_FILE);
        // Never through a link: the lock file is truncated and written.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io(&path, "cannot open lock file"))?;
        // SAFETY: flock on a file descriptor we own.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::WouldBlock {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let pid = text.trim().parse::<u32>().unwrap_or(0);
                return Err(Error::Locked { path, pid });
            }
            return Err(io(&path, "cannot lock")(e));
        }
        file.set_len(0)
            .map_err(io(&path, "cannot write lock file"))?;
        file.rewind().map_err(io(&path, "cannot write lock file"))?;
        writeln!(file, "{}", std::process::id()).map_err(io(&path, "cannot write lock file"))?;
        recover(dir)?;
        Ok(Lock {
            path,
            file,
            root: dir.to_path_buf(),
            journal: std::sync::Mutex::new(None),
        })
    }

    fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.root)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    }

    fn record(&self, f: impl FnOnce(&mut Journal, &Lock)) -> Result<(), Error> {
        let mut g = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        let j = g.get_or_insert_with(|| Journal {
            manifest_sha256: sha256_file(&self.root.join(FILE_NAME)),
            ..Default::default()
        });
        f(j, self);
        let text = serde_json::to_string(j).expect("a journal serialises");
        write_atomic(&self.root.join(JOURNAL_FILE), text.as_bytes())
    }

    /// Call before renaming something new into `path`: a crash before the manifest commit
    /// removes it. Refuses a path that exists (a rollback would delete it).
    pub fn will_create(&self, path: &Path) -> Result<(), Error> {
        if path.exists() {
            return Err(Error::Io {
                path: path.to_path_buf(),
                action: "cannot create",
                source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "it exists already"),
            });
        }
        self.record(|j, l| j.created.push(l.rel(path)))
    }

    /// Call before moving `path` aside to `backup` to replace it: a crash before the manifest
    /// commit puts it back; after the commit the backup goes.
    pub fn will_replace(&self, path: &Path, backup: &Path) -> Result<(), Error> {
        self.record(|j, l| j.backups.push([l.rel(path), l.rel(backup)]))
    }

    /// Call before the manifest commit for a path the new manifest no longer uses: it is
    /// removed after the commit (also when a crash interrupts the removal).
    pub fn will_obsolete(&self, path: &Path) -> Result<(), Error> {
        self.record(|j, l| j.obsolete.push(l.rel(path)))
    }

    /// The change is committed (the manifest records it, or for a release, its record and
    /// head are in place): the backups and the journal go.
    pub(crate) fn committed(&self) {
        let mut g = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mut j) = g.take() {
            j.committed = true;
            let text = serde_json::to_string(&j).expect("a journal serialises");
            // If the marker cannot be written, recovery falls back to comparing manifests.
            let _ = write_atomic(&self.root.join(JOURNAL_FILE), text.as_bytes());
            for p in j.backups.iter().map(|[_, b]| b).chain(&j.obsolete) {
                remove_journaled(&self.root, p);
            }
            let _ = fs::remove_file(self.root.join(JOURNAL_FILE));
        }
    }
}

impl Lock {
    /// Starts the one transaction of this write: see [`Transaction`].
    pub fn transaction(&self) -> Transaction<'_> {
        Transaction {
            lock: self,
            staged: std::sync::Mutex::new(Vec::new()),
            dirs: std::sync::Mutex::new(Vec::new()),
            done: false,
        }
    }

    /// Undoes what the journal lists now (a write that failed before its commit).
    fn roll_back(&self) -> Result<(), Error> {
        let pending = {
            let mut g = self.journal.lock().unwrap_or_else(|p| p.into_inner());
            g.take().is_some()
        };
        if pending {
            recover(&self.root)?;
        }
        Ok(())
    }
}

/// Tells apart the temporaries and backups of one process.
static TEMP_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One write of a package, under its lock: every file or folder it puts in place (new, or
/// replacing one kept as a backup) is journaled before it lands, and [`Transaction::commit`]'s
/// manifest rename is the single commit point. Dropped without a commit, it rolls back; after
/// a crash the next writer rolls back or forward from the journal. So a write of many files
/// (masks on several images, images with their annotations) leaves the package as it was or
/// fully updated.
#[derive(Debug)]
#[must_use = "a transaction not committed rolls back when dropped"]
pub struct Transaction<'l> {
    lock: &'l Lock,
    /// Temporaries handed out by [`Transaction::staging_path`], removed at the end if left.
    staged: std::sync::Mutex<Vec<PathBuf>>,
    /// Folders [`Transaction::create_dir_all`] created, removed on a rollback when empty.
    dirs: std::sync::Mutex<Vec<PathBuf>>,
    done: bool,
}

impl<'l> Transaction<'l> {
    /// The lock the transaction runs under.
    pub fn lock(&self) -> &'l Lock {
        self.lock
    }

    /// A fresh temporary path beside `dest` (`.NAME.N.new-PID`) to build a file or folder at
    /// before [`Transaction::create`] or [`Transaction::replace`] puts it in place. Removed at
    /// the end of the transaction if still there; the next writer sweeps it after a crash.
    pub fn staging_path(&self, dest: &Path) -> PathBuf {
        let p = self.temp_beside(dest, "new");
        self.staged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(p.clone());
        p
    }

    /// `.NAME.N.TAG-PID` beside `dest`: unique within this process, and a temporary to
    /// [`is_temporary`] and the sweep (the pid ends the name).
    fn temp_beside(&self, dest: &Path, tag: &str) -> PathBuf {
        let n = TEMP_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let p = dest.with_file_name(format!(".{name}.{n}.{tag}-{}", std::process::id()));
        remove_entry(&p);
        p
    }

    /// Creates `dir` and its missing parents; those it created go again on a rollback when
    /// empty (after a crash an empty folder may stay: it holds no content).
    pub fn create_dir_all(&self, dir: &Path) -> Result<(), Error> {
        let mut missing = Vec::new();
        let mut at = Some(dir);
        while let Some(d) = at.filter(|d| fs::symlink_metadata(d).is_err()) {
            missing.push(d.to_path_buf());
            at = d.parent();
        }
        fs::create_dir_all(dir).map_err(io(dir, "cannot create directory"))?;
        let mut g = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
        g.extend(missing.into_iter().rev());
        Ok(())
    }

    /// Renames the file or folder `staged` to `dest`, which must not exist; a rollback
    /// removes it.
    pub fn create(&self, staged: &Path, dest: &Path) -> Result<(), Error> {
        self.lock.will_create(dest)?;
        fs::rename(staged, dest).map_err(io(dest, "cannot move into place"))
    }

    /// Renames `staged` to `dest`, replacing what is there, which a rollback restores. A file
    /// is replaced in one rename (readers see the old or the new one): its backup is a hard
    /// link (or a copy) made first. A folder is moved aside, then `staged` takes its place.
    /// Each replaced path gets a backup of its own, also when replaced twice.
    pub fn replace(&self, staged: &Path, dest: &Path) -> Result<(), Error> {
        let Some(m) = lstat_in_package(&self.lock.root, dest)? else {
            return self.create(staged, dest);
        };
        let backup = self.temp_beside(dest, "old");
        if m.is_dir() {
            self.lock.will_replace(dest, &backup)?;
            fs::rename(dest, &backup).map_err(io(dest, "cannot move aside"))?;
        } else {
            if fs::hard_link(dest, &backup).is_err() {
                fs::copy(dest, &backup).map_err(io(&backup, "cannot back up"))?;
            }
            self.lock.will_replace(dest, &backup)?;
        }
        fs::rename(staged, dest).map_err(io(dest, "cannot move into place"))
    }

    /// Writes `bytes` as the file `dest` (new or replacing one), through a staged temporary.
    pub fn write_file(&self, dest: &Path, bytes: &[u8]) -> Result<(), Error> {
        let tmp = self.staging_path(dest);
        let mut f = create_new_nofollow(&tmp)?;
        f.write_all(bytes)
            .map_err(io(&tmp, "cannot write temporary file"))?;
        f.sync_all()
            .map_err(io(&tmp, "cannot flush temporary file"))?;
        self.replace(&tmp, dest)
    }

    /// `path` goes once the commit is made (also when a crash interrupts the removal).
    pub fn remove_on_commit(&self, path: &Path) -> Result<(), Error> {
        self.lock.will_obsolete(path)
    }

    /// The commit point: records the change in the manifest (see [`Package::update_locked`]);
    /// the backups and the journal then go. On an error, everything is rolled back.
    pub fn commit<T, E>(
        mut self,
        pkg: &mut Package,
        change: impl FnOnce(&mut Manifest) -> Result<T, E>,
    ) -> Result<T, UpdateError<E>> {
        let out = pkg.update_locked(self.lock, change)?;
        self.done = true;
        Ok(out)
    }

    /// Undoes everything now, reporting a failure to restore.
    pub fn roll_back(mut self) -> Result<(), Error> {
        self.done = true;
        self.undo()
    }

    fn undo(&self) -> Result<(), Error> {
        let r = self.lock.roll_back();
        let dirs = std::mem::take(&mut *self.dirs.lock().unwrap_or_else(|e| e.into_inner()));
        for d in dirs.iter().rev() {
            // remove_dir keeps a folder that is not empty.
            let _ = fs::remove_dir(d);
        }
        r
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        let staged = std::mem::take(&mut *self.staged.lock().unwrap_or_else(|e| e.into_inner()));
        for p in &staged {
            remove_entry(p);
        }
        if !self.done {
            let _ = self.undo();
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // A write that failed without committing: undo what its journal lists.
        let pending = self.journal.lock().map(|g| g.is_some()).unwrap_or(true);
        if pending {
            let _ = recover(&self.root);
        }
        let _ = self.file.set_len(0);
        // Closing the file releases the flock; say so explicitly for clarity of order.
        use std::os::unix::io::AsRawFd;
        // SAFETY: our own descriptor.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert!(check_relative_path("images/a.ome.zarr").is_ok());
        assert!(check_relative_path("../x").unwrap_err().contains("escapes"));
        assert!(check_relative_path("images/../../x")
            .unwrap_err()
            .contains("escapes"));
        assert!(check_relative_path("/etc/passwd")
            .unwrap_err()
            .contains("absolute"));
        assert!(check_relative_path("a\\b").is_err());
        assert!(check_relative_path("a//b").is_err());
        assert!(check_relative_path("./a").is_err());
        assert!(check_relative_path("").is_err());
    }

    #[test]
    fn a_journal_naming_paths_outside_the_package_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("keep.txt"), "x").unwrap();
        let evil = serde_json::json!({"manifest_sha256": "0", "created": [],
            "backups": [], "obsolete": [outside.path().join("keep.txt")]});
        fs::write(dir.path().join(JOURNAL_FILE), evil.to_string()).unwrap();
        let err = Lock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is absolute"), "{err}");
        assert!(outside.path().join("keep.txt").exists());
        // An interrupted write is rolled back: created paths go, moved-aside ones come back.
        fs::write(dir.path().join(FILE_NAME), "{}").unwrap();
        fs::create_dir_all(dir.path().join("images/new.ome.zarr")).unwrap();
        fs::write(dir.path().join("images/.a.old-1"), "old").unwrap();
        fs::write(dir.path().join("images/a"), "new").unwrap();
        let j = serde_json::json!({"manifest_sha256": sha256_file(&dir.path().join(FILE_NAME)),
            "created": ["images/new.ome.zarr"], "backups": [["images/a", "images/.a.old-1"]]});
        fs::write(dir.path().join(JOURNAL_FILE), j.to_string()).unwrap();
        drop(Lock::acquire(dir.path()).unwrap());
        assert!(!dir.path().join("images/new.ome.zarr").exists());
        assert_eq!(
            fs::read_to_string(dir.path().join("images/a")).unwrap(),
            "old"
        );
        assert!(!dir.path().join(JOURNAL_FILE).exists());
    }

    fn journal(dir: &Path, created: &[&str], obsolete: &[&str]) {
        let j = serde_json::json!({"manifest_sha256": sha256_file(&dir.join(FILE_NAME)),
            "created": created, "backups": [], "obsolete": obsolete});
        fs::write(dir.join(JOURNAL_FILE), j.to_string()).unwrap();
    }

    #[test]
    fn recovery_never_follows_a_link_out_of_the_package() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim.txt");
        fs::write(&victim, "x").unwrap();
        fs::write(dir.path().join(FILE_NAME), "{}").unwrap();
        fs::create_dir(dir.path().join(IMAGES_DIR)).unwrap();
        symlink(outside.path(), dir.path().join("images/link")).unwrap();
        for (created, obsolete) in [
            (&["images/link/victim.txt"][..], &[][..]),
            (&[], &["images/link/victim.txt"]),
        ] {
            journal(dir.path(), created, obsolete);
            let err = Lock::acquire(dir.path()).unwrap_err().to_string();
            assert!(err.contains("crosses the symbolic link"), "{err}");
            assert!(
                err.contains(JOURNAL_FILE) && err.contains("images/link/victim.txt"),
                "{err}"
            );
            assert!(victim.exists());
            assert!(
                dir.path().join(JOURNAL_FILE).exists(),
                "the journal is kept"
            );
        }
        // A journaled link itself goes, never what it points at.
        journal(dir.path(), &["images/link"], &[]);
        drop(Lock::acquire(dir.path()).unwrap());
        assert!(fs::symlink_metadata(dir.path().join("images/link")).is_err());
        assert!(victim.exists());
        // Temporaries in a linked folder are not swept.
        fs::create_dir(dir.path().join(ANNOTATIONS_DIR)).unwrap();
        symlink(outside.path(), dir.path().join("annotations/set")).unwrap();
        let tmp = outside.path().join(".x.tmp-999999999");
        fs::write(&tmp, "x").unwrap();
        drop(Lock::acquire(dir.path()).unwrap());
        assert!(tmp.exists());
    }

    #[test]
    fn a_journal_naming_the_package_roots_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE_NAME), "{}").unwrap();
        for d in [IMAGES_DIR, ANNOTATIONS_DIR, VERSIONS_DIR, "annotations/set"] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        fs::write(dir.path().join("annotations/set/a.geojson"), "{}").unwrap();
        for entry in [
            "images",
            "annotations",
            "annotations/set",
            "versions",
            FILE_NAME,
            LOCK_FILE,
            JOURNAL_FILE,
            "other",
        ] {
            journal(dir.path(), &[entry], &[]);
            let err = Lock::acquire(dir.path()).unwrap_err().to_string();
            assert!(
                err.contains(&format!("{entry:?}")) && err.contains("refusing"),
                "{err}"
            );
        }
        for d in [
            FILE_NAME,
            IMAGES_DIR,
            "annotations/set/a.geojson",
            VERSIONS_DIR,
        ] {
            assert!(dir.path().join(d).exists(), "{d}");
        }
        // A backup must be a temporary beside what it backs up.
        let j = serde_json::json!({"manifest_sha256": sha256_file(&dir.path().join(FILE_NAME)),
            "created": [], "backups": [["annotations/set/a.geojson", "images/x"]]});
        fs::write(dir.path().join(JOURNAL_FILE), j.to_string()).unwrap();
        let err = Lock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is not a temporary beside"), "{err}");
    }

    #[test]
    fn reads_in_the_package_refuse_links_and_special_files() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "s").unwrap();
        fs::create_dir_all(dir.path().join("annotations/set")).unwrap();
        fs::write(dir.path().join("annotations/set/ok.json"), "ok").unwrap();
        symlink(
            outside.path().join("secret"),
            dir.path().join("annotations/set/x.json"),
        )
        .unwrap();
        symlink(outside.path(), dir.path().join("annotations/linked")).unwrap();
        let root = dir.path();
        assert_eq!(
            read_in_package(root, Path::new("annotations/set/ok.json")).unwrap(),
            b"ok"
        );
        let abs = root.join("annotations/set/ok.json");
        assert_eq!(read_in_package(root, &abs).unwrap(), b"ok");
        for rel in ["annotations/set/x.json", "annotations/linked/secret"] {
            let err = read_in_package(root, Path::new(rel)).unwrap_err();
            assert!(matches!(err, Error::Symlink { .. }), "{err}");
            assert!(err.to_string().contains("is a symbolic link"), "{err}");
        }
        let err = read_in_package(root, Path::new("../x")).unwrap_err();
        assert!(err.to_string().contains("is outside the package"), "{err}");
        let fifo = root.join("annotations/set/fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read_in_package(root, &fifo).unwrap_err().to_string();
        assert!(err.contains("is a FIFO, not a regular file"), "{err}");
        let kinds: Vec<(String, &str)> = special_entries(root);
        assert_eq!(
            kinds,
            [
                ("annotations/linked".to_string(), "symbolic link"),
                ("annotations/set/fifo".to_string(), "FIFO"),
                ("annotations/set/x.json".to_string(), "symbolic link")
            ]
        );
        // A linked manifest is refused too.
        symlink(outside.path().join("secret"), root.join(FILE_NAME)).unwrap();
        let err = Package::open(root).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
    }

    #[test]
    fn outputs_never_replace_a_special_file() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.json");
        write_output(&file, b"1").unwrap();
        write_output(&file, b"2").unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"2");
        // Written through, as cp does; /dev/null stays a device.
        write_output(Path::new("/dev/null"), b"x").unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
        let link = dir.path().join("link");
        symlink(&file, &link).unwrap();
        let err = write_output(&link, b"3").unwrap_err().to_string();
        assert!(
            err.contains("is a symbolic link; refusing to replace it"),
            "{err}"
        );
        let err = write_output(dir.path(), b"3").unwrap_err().to_string();
        assert!(err.contains("is a folder; refusing to replace it"), "{err}");
        assert_eq!(fs::read(&file).unwrap(), b"2");
        assert!(check_output_dir(dir.path()).is_ok());
        let err = check_output_dir(&link).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link, not a folder"), "{err}");
        // A planted link at the temporary's name is replaced, not followed.
        let target = dir.path().join("target");
        fs::write(&target, "keep").unwrap();
        symlink(
            &target,
            dir.path()
                .join(format!(".out.json.tmp-{}", std::process::id())),
        )
        .unwrap();
        write_output(&file, b"4").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        assert_eq!(fs::read(&file).unwrap(), b"4");
    }

    /// A package folder with a manifest and `images/a/labels/zarr.json` holding "v0".
    fn labelled(dir: &Path) -> PathBuf {
        fs::write(dir.join(FILE_NAME), "{}").unwrap();
        let labels = dir.join("images/a/labels");
        fs::create_dir_all(&labels).unwrap();
        fs::write(labels.join("zarr.json"), "v0").unwrap();
        labels
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_transaction_rolls_back_every_step_also_a_path_replaced_twice() {
        for crash in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let labels = labelled(dir.path());
            let lock = Lock::acquire(dir.path()).unwrap();
            let tx = lock.transaction();
            let group = labels.join("zarr.json");
            // Two labels on one image: the group file is replaced twice, each time with a
            // backup of its own (one shared name would keep only the first replacement).
            tx.write_file(&group, b"v1").unwrap();
            let label = labels.join("first");
            let staged = tx.staging_path(&label);
            fs::create_dir(&staged).unwrap();
            fs::write(staged.join("zarr.json"), "{}").unwrap();
            tx.create(&staged, &label).unwrap();
            tx.write_file(&group, b"v2").unwrap();
            let set = dir.path().join("annotations/set");
            tx.create_dir_all(&set).unwrap();
            assert_eq!(fs::read_to_string(&group).unwrap(), "v2");
            if crash {
                // As after a SIGKILL: nothing of the transaction runs; the journal undoes it.
                std::mem::forget(tx);
            } else {
                drop(tx);
            }
            drop(lock);
            assert_eq!(fs::read_to_string(&group).unwrap(), "v0", "crash {crash}");
            assert_eq!(entries(&labels), ["zarr.json"], "crash {crash}");
            assert!(!dir.path().join(JOURNAL_FILE).exists());
            // The set folder made for the write goes with a rollback (a crash may leave it
            // empty).
            assert_eq!(set.exists(), crash);
        }
    }

    #[test]
    fn after_a_commit_the_backups_and_the_journal_go() {
        let dir = tempfile::tempdir().unwrap();
        let labels = labelled(dir.path());
        let lock = Lock::acquire(dir.path()).unwrap();
        let tx = lock.transaction();
        let group = labels.join("zarr.json");
        tx.write_file(&group, b"v1").unwrap();
        tx.write_file(&group, b"v2").unwrap();
        assert_eq!(entries(&labels).len(), 3, "two backups");
        // The commit point (what update_locked does after the manifest rename).
        fs::write(dir.path().join(FILE_NAME), r#"{"changed": true}"#).unwrap();
        lock.committed();
        drop(tx);
        drop(lock);
        assert_eq!(fs::read_to_string(&group).unwrap(), "v2");
        assert_eq!(entries(&labels), ["zarr.json"]);
        assert!(!dir.path().join(JOURNAL_FILE).exists());
    }

    #[test]
    fn lock_is_exclusive_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lock::acquire(dir.path()).unwrap();
        let err = Lock::acquire(dir.path()).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("locked by pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        // Released: the next writer gets it, whatever pid the file names.
        fs::write(dir.path().join(LOCK_FILE), "1\n").unwrap();
        let _again = Lock::acquire(dir.path()).unwrap();
        drop(_again);
        // A lock file that is a link is not followed (it would be truncated).
        let other = tempfile::tempdir().unwrap();
        let target = other.path().join("keep");
        fs::write(&target, "keep").unwrap();
        fs::remove_file(dir.path().join(LOCK_FILE)).unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join(LOCK_FILE)).unwrap();
        assert!(Lock::acquire(dir.path()).is_err());
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
    }
}
