//! The one filesystem error that names its path, and the short form of long lists in messages.
//!
//! Error messages name what they are about and leave the cause to the error's `source()`: a
//! reporter that walks the chain (anyhow's `{:#}`, [`chain`]) then prints each cause once.

use std::fmt::{Display, Write};
use std::path::{Path, PathBuf};

/// A filesystem operation on `path` failed; the cause is its source.
#[derive(Debug, thiserror::Error)]
#[error("{}", path.display())]
pub struct IoError {
    /// The path acted on.
    pub path: PathBuf,
    /// Cause.
    #[source]
    pub source: std::io::Error,
}

/// `.at(path)` on a `std::io::Result`: the error becomes an [`IoError`] naming `path`.
pub trait IoResultExt<T> {
    /// Attaches `path` to the error.
    fn at(self, path: impl AsRef<Path>) -> Result<T, IoError>;
}

impl<T> IoResultExt<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T, IoError> {
        self.map_err(io(path.as_ref()))
    }
}

/// For `map_err`: an [`IoError`] naming `path` (`?` then converts it into a module's error).
pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IoError + '_ {
    move |source| IoError {
        path: path.to_path_buf(),
        source,
    }
}

/// An error and its causes on one line, `a: b: c`, for messages that keep only text.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let _ = write!(s, ": {c}");
        cause = c.source();
    }
    s
}

/// The first `n` items joined by `, `, then how many more: `3, 7, 9 … and 4,812 more`.
pub fn first_few<T: Display>(items: &[T], n: usize) -> String {
    first_few_by(items, n, ", ")
}

/// [`first_few`] with another separator, for items that hold commas themselves.
pub fn first_few_by<T: Display>(items: &[T], n: usize, sep: &str) -> String {
    let mut s = String::new();
    for (i, item) in items.iter().take(n).enumerate() {
        if i > 0 {
            s.push_str(sep);
        }
        let _ = write!(s, "{item}");
    }
    if items.len() > n {
        let _ = write!(s, " … and {} more", thousands(items.len() - n));
    }
    s
}

/// `4812` as `4,812`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut s = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            s.push(',');
        }
        s.push(c);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_the_message_and_the_cause_comes_once() {
        let e = std::fs::read("/no/such/file")
            .at("/no/such/file")
            .unwrap_err();
        assert_eq!(e.to_string(), "/no/such/file");
        let text = chain(&e);
        assert!(text.starts_with("/no/such/file: "), "{text}");
        assert_eq!(text.matches("os error 2").count(), 1, "{text}");
    }

    #[test]
    fn long_lists_show_the_first_few_and_a_count() {
        let ids: Vec<u32> = (1..=4815).collect();
        assert_eq!(first_few(&ids, 3), "1, 2, 3 … and 4,812 more");
        assert_eq!(first_few(&ids[..3], 3), "1, 2, 3");
        assert_eq!(first_few_by(&["a", "b"], 1, "; "), "a … and 1 more");
        assert_eq!(first_few::<u8>(&[], 3), "");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
