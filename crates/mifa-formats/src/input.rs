//! Opening user-given input files: only regular files are read (a FIFO would hang, a device
//! such as `/dev/zero` never ends, a directory is a mistake), and a whole-file read stops one
//! byte past its cap instead of growing until memory runs out.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Environment variable that, when set to a number of bytes, replaces every [`TextLimits`] cap.
pub const LIMIT_ENV: &str = "MIFA_MAX_TEXT_BYTES";

/// Caps on files read whole into memory, in bytes.
///
/// Sheets and tables are hand-made or exported from a spreadsheet: 256 MiB is far beyond any
/// real one. TrackMate XML grows with every spot and edge feature: files of a few hundred MB
/// come from long experiments, so it gets 1 GiB (roxmltree then needs a few times that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLimits {
    /// Metadata sheets (TSV, CSV, JSON, YAML).
    pub max_sheet_bytes: u64,
    /// Tables and small documents: points CSV, CTC track files, biotracks and geff metadata,
    /// PageTab file lists.
    pub max_table_bytes: u64,
    /// TrackMate XML.
    pub max_xml_bytes: u64,
}

impl Default for TextLimits {
    fn default() -> Self {
        TextLimits {
            max_sheet_bytes: 256 << 20,
            max_table_bytes: 256 << 20,
            max_xml_bytes: 1 << 30,
        }
    }
}

impl TextLimits {
    /// The defaults, or [`LIMIT_ENV`] for every cap when it is set to a number.
    pub fn current() -> Self {
        match std::env::var(LIMIT_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok())
        {
            Some(n) => TextLimits {
                max_sheet_bytes: n,
                max_table_bytes: n,
                max_xml_bytes: n,
            },
            None => TextLimits::default(),
        }
    }
}

/// Errors opening or reading an input file.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A filesystem error.
    #[error("{path}: cannot read")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A FIFO, device, socket or directory was given where a file is read.
    #[error("{path}: is a {kind}, not a regular file")]
    NotRegular {
        /// The path given.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// The file is larger than its cap.
    #[error(
        "{path}: larger than the limit of {max} bytes for {what} (set {LIMIT_ENV} to raise it)"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap, in bytes.
        max: u64,
        /// What kind of file the cap is for.
        what: &'static str,
    },
    /// The file is not UTF-8 text.
    #[error("{path}: not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Offset of the first invalid byte.
        offset: usize,
    },
}

/// What a file type is, for messages.
pub fn kind_of(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_symlink() {
        "symbolic link"
    } else if ft.is_dir() {
        "folder"
    } else if ft.is_file() {
        "regular file"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

/// Opens `path` for reading when it is a regular file (symlinks followed). The type is checked
/// before opening, and again on the open file, which is opened non-blocking so that a FIFO
/// swapped in between cannot hang the open.
pub fn open_regular(path: &Path) -> Result<File, InputError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let not_regular = |t: std::fs::FileType| InputError::NotRegular {
        path: path.to_path_buf(),
        kind: kind_of(&t),
    };
    let t = std::fs::metadata(path).map_err(io)?.file_type();
    if !t.is_file() {
        return Err(not_regular(t));
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let t = f.metadata().map_err(io)?.file_type();
    if !t.is_file() {
        return Err(not_regular(t));
    }
    Ok(f)
}

/// Reads a whole regular file of at most `max` bytes; `what` names the kind of file in the
/// error.
pub fn read_capped(path: &Path, max: u64, what: &'static str) -> Result<Vec<u8>, InputError> {
    let f = open_regular(path)?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let too_large = || InputError::TooLarge {
        path: path.to_path_buf(),
        max,
        what,
    };
    if len > max {
        return Err(too_large());
    }
    // The file may grow after the stat: the cap is checked again while reading.
    read_capped_from(f, len, path, max, what)
}

/// Reads at most `max` bytes from any source (one more tells that it holds more: refused);
/// `capacity` is what to reserve up front, `name` what errors are named with.
pub fn read_capped_from(
    source: impl Read,
    capacity: u64,
    name: &Path,
    max: u64,
    what: &'static str,
) -> Result<Vec<u8>, InputError> {
    let mut bytes = Vec::with_capacity(capacity.min(max) as usize);
    source
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| InputError::Io {
            path: name.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > max {
        return Err(InputError::TooLarge {
            path: name.to_path_buf(),
            max,
            what,
        });
    }
    Ok(bytes)
}

/// [`read_capped`] for UTF-8 text.
pub fn read_text_capped(path: &Path, max: u64, what: &'static str) -> Result<String, InputError> {
    utf8(read_capped(path, max, what)?, path)
}

/// [`read_capped_from`] for UTF-8 text.
pub fn read_text_capped_from(
    source: impl Read,
    name: &Path,
    max: u64,
    what: &'static str,
) -> Result<String, InputError> {
    utf8(read_capped_from(source, 0, name, max, what)?, name)
}

fn utf8(bytes: Vec<u8>, name: &Path) -> Result<String, InputError> {
    String::from_utf8(bytes).map_err(|e| InputError::NotUtf8 {
        path: name.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// The 1-based line where a quoted CSV/TSV field opens that the text never closes, as the
/// `csv` crate reads it (a `"` opens a quote only at the start of a field, `""` inside one is a
/// quote). The crate has no strict mode: it takes the rest of the file as that one field.
pub fn unterminated_quote(text: &str, delimiter: u8) -> Option<usize> {
    let (mut line, mut opened) = (1usize, 0usize);
    let (mut in_quote, mut at_start) = (false, true);
    let mut bytes = text.bytes().peekable();
    while let Some(b) = bytes.next() {
        if b == b'\n' {
            line += 1;
        }
        if in_quote {
            if b == b'"' {
                if bytes.peek() == Some(&b'"') {
                    bytes.next();
                } else {
                    in_quote = false;
                }
            }
            continue;
        }
        match b {
            b'"' if at_start => {
                in_quote = true;
                opened = line;
                at_start = false;
            }
            b'\n' | b'\r' => at_start = true,
            _ => at_start = b == delimiter,
        }
    }
    in_quote.then_some(opened)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unterminated_quotes_are_found_where_they_open() {
        assert_eq!(unterminated_quote("a,\"b\nc\",d\ne,f\n", b','), None);
        assert_eq!(unterminated_quote("a,\"b \"\"q\"\"\"\n", b','), None);
        // A quote inside an unquoted field is text.
        assert_eq!(unterminated_quote("a,b\"c\n", b','), None);
        assert_eq!(
            unterminated_quote("x,y\n1,2,\"never closed\n3,4\n", b','),
            Some(2)
        );
        assert_eq!(unterminated_quote("a\t\"b\"\"\n", b'\t'), Some(1));
        assert_eq!(unterminated_quote("a,\"b\"\"\n", b'\t'), None);
    }

    #[test]
    fn devices_and_directories_are_refused() {
        let e = read_capped(Path::new("/dev/zero"), 1 << 20, "a sheet").unwrap_err();
        assert!(
            matches!(
                e,
                InputError::NotRegular {
                    kind: "character device",
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "/dev/zero: is a character device, not a regular file"
        );
        let dir = tempfile::tempdir().unwrap();
        let e = read_capped(dir.path(), 10, "a sheet").unwrap_err();
        assert!(matches!(e, InputError::NotRegular { kind: "folder", .. }));
    }

    #[test]
    fn a_fifo_is_refused_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fifo");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_text_capped(&p, 10, "a sheet").unwrap_err();
        assert!(
            matches!(e, InputError::NotRegular { kind: "FIFO", .. }),
            "{e}"
        );
    }

    #[test]
    fn files_over_the_cap_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.tsv");
        std::fs::write(&p, "0123456789").unwrap();
        assert_eq!(read_text_capped(&p, 10, "a sheet").unwrap(), "0123456789");
        let e = read_text_capped(&p, 9, "a sheet").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: larger than the limit of 9 bytes for a sheet (set {LIMIT_ENV} to raise it)",
                p.display()
            )
        );
        std::fs::write(&p, b"ab\xffc").unwrap();
        let e = read_text_capped(&p, 10, "a sheet").unwrap_err();
        assert!(matches!(e, InputError::NotUtf8 { offset: 2, .. }), "{e}");
    }
}
