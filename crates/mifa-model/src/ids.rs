//! Rules for ids and package-relative paths, shared by every layer.

use std::path::{Component, Path};

/// Ids name files and folders and appear in URLs: letters, digits, `_`, `.`, `-`.
pub fn valid_id(id: &str) -> bool {
    id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && id.len() <= 128
}

/// Checks that a package-relative path stays inside the package: relative, `/`-separated, no
/// `..`, no empty or `.` segments, no backslashes.
pub fn check_relative_path(rel: &str) -> Result<(), String> {
    if rel.is_empty() {
        return Err("empty path".into());
    }
    if rel.contains('\\') {
        return Err(format!("{rel:?} uses '\\'; package paths use '/'"));
    }
    let p = Path::new(rel);
    if p.is_absolute() || rel.starts_with('/') {
        return Err(format!(
            "{rel:?} is absolute; package paths are relative to the package root"
        ));
    }
    for c in p.components() {
        match c {
            Component::Normal(_) => {}
            Component::ParentDir => {
                return Err(format!("{rel:?} escapes the package ('..')"));
            }
            _ => return Err(format!("{rel:?} is not a plain relative path")),
        }
    }
    if rel.split('/').any(|s| s.is_empty() || s == ".") {
        return Err(format!("{rel:?} has an empty or '.' segment"));
    }
    Ok(())
}

/// Whether a file name is a temporary of a write (staging, new or old copy): hidden and
/// tagged `.tmp-PID`, `.new-PID` or `.old-PID`.
pub fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && [".tmp-", ".new-", ".old-"].iter().any(|t| name.contains(t))
}
