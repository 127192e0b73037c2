//! Helpers shared by the integration tests: the binary, the repository's files, temp folders.

use assert_cmd::assert::Assert;
use assert_cmd::Command;
use std::fs;
use std::path::{Path, PathBuf};

/// The `mifa` binary of this build.
pub fn mifa() -> Command {
    Command::cargo_bin("mifa").unwrap()
}

/// A path inside the repository (fixtures, formats, examples).
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Copies the tree `from` to `to`, creating `to` and its folders.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Every file under `dir`, sorted.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A progress callback that shows nothing.
pub fn quiet(_: u64) {}

/// `mifa init PKG --title TITLE --license LICENCE`, which must succeed (chain more checks on
/// the result).
pub fn init(pkg: impl AsRef<std::ffi::OsStr>, title: &str, licence: &str) -> Assert {
    mifa()
        .arg("init")
        .arg(pkg)
        .args(["--title", title, "--license", licence])
        .assert()
        .success()
}
