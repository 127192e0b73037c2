//! Zipped OME-Zarr (`*.ome.zarr.zip`) as the BioImage Archive serves it, laid out as NGFF RFC-9
//! recommends: the OME-Zarr root at the zip root, entries STORED (chunks are compressed
//! already), ZIP64 records throughout, the root `zarr.json` first and the other metadata
//! documents next (breadth first), and a JSON archive comment `{"ome": {"version": …}}`.
//!
//! Entries carry a fixed timestamp (1980-01-01) and are written in a fixed order, so the same
//! OME-Zarr always gives the same bytes: a re-published version has the same checksum.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Errors of zip writing and reading.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The input is not a regular file.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// An entry's name escapes the archive's root, or its sizes cannot be those of the file.
    #[error("{path}: entry {entry:?}: {message}")]
    Entry {
        /// The archive.
        path: PathBuf,
        /// The entry's name.
        entry: String,
        /// What is wrong.
        message: String,
    },
    /// The archive is not a zip we can read.
    #[error("{path}: not a readable zip: {message}")]
    Malformed {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One entry of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Name inside the archive (`/`-separated).
    pub name: String,
    /// Uncompressed size.
    pub size: u64,
    /// CRC-32 of the content.
    pub crc32: u32,
    /// Compression method (0 = stored).
    pub method: u16,
    /// Offset of the local header.
    pub offset: u64,
}

/// The files under `root` in archive order: `zarr.json` (and Zarr v2's `.zgroup`, `.zattrs`,
/// `.zarray`) documents first, shallowest first, then everything else sorted by path.
/// Folders named in `skip` (relative, e.g. `labels`) are left out.
pub fn zarr_entries(root: &Path, skip: &[&str]) -> Result<Vec<(String, PathBuf)>, Error> {
    let mut files = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        for e in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let e = e.map_err(io(&dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let ft = e.file_type().map_err(io(&e.path()))?;
            if ft.is_dir() {
                if !skip.contains(&r.as_str()) {
                    stack.push((e.path(), r));
                }
            } else if ft.is_file() && !mifa_model::ids::is_temporary(&name) {
                files.push((r, e.path()));
            }
        }
    }
    let is_meta = |n: &str| {
        let base = n.rsplit('/').next().unwrap_or(n);
        matches!(base, "zarr.json" | ".zgroup" | ".zattrs" | ".zarray")
    };
    files.sort_by(|(a, _), (b, _)| {
        let key = |n: &str| {
            (
                !is_meta(n),
                if is_meta(n) {
                    n.matches('/').count()
                } else {
                    0
                },
            )
        };
        key(a).cmp(&key(b)).then_with(|| a.cmp(b))
    });
    Ok(files)
}

const DOS_DATE_1980: u16 = (1 << 5) | 1;
const VERSION: u16 = 45;
const UTF8: u16 = 1 << 11;

/// Writes `files` (archive name, source path) into a new STORED ZIP64 archive at `out`, with
/// archive comment `comment`. Returns the entries written. The caller renames into place.
pub fn write(out: &Path, files: &[(String, PathBuf)], comment: &str) -> Result<Vec<Entry>, Error> {
    let f = File::create(out).map_err(io(out))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let mut entries = Vec::with_capacity(files.len());
    let mut pos = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    for (name, src) in files {
        let offset = pos;
        let mut header = Vec::with_capacity(30 + name.len() + 20);
        header.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&UTF8.to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes()); // stored
        header.extend_from_slice(&0u16.to_le_bytes()); // time
        header.extend_from_slice(&DOS_DATE_1980.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes()); // crc, patched below
        header.extend_from_slice(&u32::MAX.to_le_bytes());
        header.extend_from_slice(&u32::MAX.to_le_bytes());
        header.extend_from_slice(&(name.len() as u16).to_le_bytes());
        header.extend_from_slice(&20u16.to_le_bytes());
        header.extend_from_slice(name.as_bytes());
        header.extend_from_slice(&1u16.to_le_bytes());
        header.extend_from_slice(&16u16.to_le_bytes());
        let sizes_at = header.len();
        header.extend_from_slice(&[0u8; 16]);
        w.write_all(&header).map_err(io(out))?;
        let mut src_f = File::open(src).map_err(io(src))?;
        let mut crc = crc32fast::Hasher::new();
        let mut size = 0u64;
        loop {
            let n = src_f.read(&mut buf).map_err(io(src))?;
            if n == 0 {
                break;
            }
            crc.update(&buf[..n]);
            w.write_all(&buf[..n]).map_err(io(out))?;
            size += n as u64;
        }
        let crc = crc.finalize();
        // Patch CRC and sizes in place: the data is streamed once, whatever its size.
        let end = offset + header.len() as u64 + size;
        w.flush().map_err(io(out))?;
        let f = w.get_mut();
        f.seek(SeekFrom::Start(offset + 14)).map_err(io(out))?;
        f.write_all(&crc.to_le_bytes()).map_err(io(out))?;
        let mut sizes = size.to_le_bytes().to_vec();
        sizes.extend_from_slice(&size.to_le_bytes());
        f.seek(SeekFrom::Start(offset + sizes_at as u64))
            .map_err(io(out))?;
        f.write_all(&sizes).map_err(io(out))?;
        f.seek(SeekFrom::Start(end)).map_err(io(out))?;
        pos = end;
        entries.push(Entry {
            name: name.clone(),
            size,
            crc32: crc,
            method: 0,
            offset,
        });
    }
    let cd_start = pos;
    for e in &entries {
        let mut h = Vec::with_capacity(46 + e.name.len() + 28);
        h.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        h.extend_from_slice(&(VERSION | (3 << 8)).to_le_bytes()); // made by: Unix
        h.extend_from_slice(&VERSION.to_le_bytes());
        h.extend_from_slice(&UTF8.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(&DOS_DATE_1980.to_le_bytes());
        h.extend_from_slice(&e.crc32.to_le_bytes());
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        h.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        h.extend_from_slice(&28u16.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // comment
        h.extend_from_slice(&0u16.to_le_bytes()); // disk
        h.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        h.extend_from_slice(&(0o100_644u32 << 16).to_le_bytes());
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        h.extend_from_slice(e.name.as_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&24u16.to_le_bytes());
        h.extend_from_slice(&e.size.to_le_bytes());
        h.extend_from_slice(&e.size.to_le_bytes());
        h.extend_from_slice(&e.offset.to_le_bytes());
        w.write_all(&h).map_err(io(out))?;
        pos += h.len() as u64;
    }
    let cd_size = pos - cd_start;
    let n = entries.len() as u64;
    let mut t = Vec::with_capacity(56 + 20 + 22 + comment.len());
    // ZIP64 end of central directory record and its locator.
    t.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
    t.extend_from_slice(&44u64.to_le_bytes());
    t.extend_from_slice(&(VERSION | (3 << 8)).to_le_bytes());
    t.extend_from_slice(&VERSION.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&n.to_le_bytes());
    t.extend_from_slice(&n.to_le_bytes());
    t.extend_from_slice(&cd_size.to_le_bytes());
    t.extend_from_slice(&cd_start.to_le_bytes());
    t.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&pos.to_le_bytes());
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    t.extend_from_slice(&0u16.to_le_bytes());
    t.extend_from_slice(&0u16.to_le_bytes());
    let n16 = u16::try_from(n).unwrap_or(u16::MAX);
    t.extend_from_slice(&n16.to_le_bytes());
    t.extend_from_slice(&n16.to_le_bytes());
    t.extend_from_slice(&u32::MAX.to_le_bytes());
    t.extend_from_slice(&u32::MAX.to_le_bytes());
    let comment = &comment.as_bytes()[..comment.len().min(u16::MAX as usize)];
    t.extend_from_slice(&(comment.len() as u16).to_le_bytes());
    t.extend_from_slice(comment);
    w.write_all(&t).map_err(io(out))?;
    let f = w.into_inner().map_err(|e| Error::Io {
        path: out.to_path_buf(),
        source: e.into_error(),
    })?;
    f.sync_all().map_err(io(out))?;
    Ok(entries)
}

/// Lists the entries of an archive from its central directory (ZIP64 or not), and its comment.
pub fn list(path: &Path) -> Result<(Vec<Entry>, String), Error> {
    let bad = |m: &str| Error::Malformed {
        path: path.to_path_buf(),
        message: m.to_string(),
    };
    let mut f = crate::input::open_regular(path)?;
    let len = f.metadata().map_err(io(path))?.len();
    let tail_len = len.min(22 + 65_535 + 20);
    let mut tail = vec![0u8; tail_len as usize];
    f.seek(SeekFrom::Start(len - tail_len)).map_err(io(path))?;
    f.read_exact(&mut tail).map_err(io(path))?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..i + 4] == 0x0605_4b50u32.to_le_bytes())
        .ok_or_else(|| bad("no end of central directory record"))?;
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap_or([0; 4]));
    let u64_at = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
    let clen = u16_at(&tail, eocd + 20) as usize;
    let comment =
        String::from_utf8_lossy(&tail[eocd + 22..(eocd + 22 + clen).min(tail.len())]).into_owned();
    let (mut n, mut cd_size, mut cd_off) = (
        u64::from(u16_at(&tail, eocd + 10)),
        u64::from(u32_at(&tail, eocd + 12)),
        u64::from(u32_at(&tail, eocd + 16)),
    );
    if eocd >= 20 && tail[eocd - 20..eocd - 16] == 0x0706_4b50u32.to_le_bytes() {
        let z64 = u64_at(&tail, eocd - 12);
        let mut rec = [0u8; 56];
        f.seek(SeekFrom::Start(z64)).map_err(io(path))?;
        f.read_exact(&mut rec).map_err(io(path))?;
        if rec[0..4] != 0x0606_4b50u32.to_le_bytes() {
            return Err(bad("ZIP64 locator points at no ZIP64 end record"));
        }
        n = u64_at(&rec, 32);
        cd_size = u64_at(&rec, 40);
        cd_off = u64_at(&rec, 48);
    }
    if cd_off.saturating_add(cd_size) > len || cd_size > 1 << 32 {
        return Err(bad("central directory outside the file"));
    }
    let mut cd = vec![0u8; cd_size as usize];
    f.seek(SeekFrom::Start(cd_off)).map_err(io(path))?;
    f.read_exact(&mut cd).map_err(io(path))?;
    let mut entries = Vec::new();
    let mut names = std::collections::HashSet::new();
    let mut i = 0usize;
    while entries.len() < n as usize {
        if i + 46 > cd.len() || cd[i..i + 4] != 0x0201_4b50u32.to_le_bytes() {
            return Err(bad(&format!(
                "central directory entry {} is damaged",
                entries.len()
            )));
        }
        let method = u16_at(&cd, i + 10);
        let crc32 = u32_at(&cd, i + 16);
        let mut size = u64::from(u32_at(&cd, i + 24));
        let mut csize = u64::from(u32_at(&cd, i + 20));
        let (nl, xl, cl) = (
            u16_at(&cd, i + 28) as usize,
            u16_at(&cd, i + 30) as usize,
            u16_at(&cd, i + 32) as usize,
        );
        let mut offset = u64::from(u32_at(&cd, i + 42));
        if i + 46 + nl + xl + cl > cd.len() {
            return Err(bad("central directory entry runs past its end"));
        }
        let name = String::from_utf8_lossy(&cd[i + 46..i + 46 + nl]).into_owned();
        let mut x = i + 46 + nl;
        let xend = x + xl;
        while x + 4 <= xend {
            let (id, sz) = (u16_at(&cd, x), u16_at(&cd, x + 2) as usize);
            if id == 1 {
                let mut k = x + 4;
                let end = (x + 4 + sz).min(xend);
                for field in [&mut size, &mut csize, &mut offset] {
                    if *field == u64::from(u32::MAX) && k + 8 <= end {
                        *field = u64_at(&cd, k);
                        k += 8;
                    }
                }
            }
            x += 4 + sz;
        }
        let entry = Entry {
            name,
            size,
            crc32,
            method,
            offset,
        };
        let message = entry_problem(&entry, csize, len).or_else(|| {
            (!names.insert(entry.name.clone()))
                .then(|| "listed twice; an archive holds one entry per name".to_string())
        });
        if let Some(message) = message {
            return Err(Error::Entry {
                path: path.to_path_buf(),
                entry: entry.name,
                message,
            });
        }
        entries.push(entry);
        i = xend + cl;
    }
    Ok((entries, comment))
}

/// Compression methods a reader of OME-Zarr zips meets: STORED (what RFC-9 asks for, and what
/// [`write`] makes) and DEFLATE (what general-purpose zip tools make by default).
const STORED: u16 = 0;
const DEFLATED: u16 = 8;

/// Deflate expands at most 1032 times; any larger ratio is a lie or a bomb.
const MAX_RATIO: u64 = 1032;

/// Why an entry cannot be extracted safely: a name that is absolute or climbs out of the
/// root (`..`), or sizes that do not fit the `archive_len`-byte file.
fn entry_problem(e: &Entry, csize: u64, archive_len: u64) -> Option<String> {
    let n = &e.name;
    if n.starts_with('/') || n.starts_with('\\') || n.as_bytes().get(1) == Some(&b':') {
        return Some("an absolute path".into());
    }
    if n.contains('\0') {
        return Some("a NUL byte in the name".into());
    }
    if n.split(['/', '\\']).any(|c| c == "..") {
        return Some("a path that leaves the archive (`..`)".into());
    }
    if !matches!(e.method, STORED | DEFLATED) {
        return Some(format!(
            "compression method {}; an OME-Zarr zip stores its entries (method 0, as RFC-9 \
             asks) or deflates them (8)",
            e.method
        ));
    }
    if e.offset.saturating_add(30).saturating_add(csize) > archive_len {
        return Some(format!(
            "{csize} bytes at offset {} run past the end of the {archive_len}-byte archive",
            e.offset
        ));
    }
    let stored_mismatch = e.method == 0 && e.size != csize;
    if stored_mismatch || e.size > csize.saturating_mul(MAX_RATIO).max(1 << 20) {
        return Some(format!(
            "declares {} bytes from {csize} stored (method {})",
            e.size, e.method
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_list_back_with_zarr_json_first() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("img.ome.zarr");
        std::fs::create_dir_all(root.join("0/c/0")).unwrap();
        std::fs::create_dir_all(root.join("labels/x")).unwrap();
        std::fs::write(root.join("0/c/0/0"), vec![7u8; 3000]).unwrap();
        std::fs::write(root.join("0/zarr.json"), b"{}").unwrap();
        std::fs::write(root.join("zarr.json"), b"{\"a\":1}").unwrap();
        std::fs::write(root.join("labels/x/zarr.json"), b"{}").unwrap();
        let files = zarr_entries(&root, &["labels"]).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["zarr.json", "0/zarr.json", "0/c/0/0"]);
        let out = d.path().join("img.ome.zarr.zip");
        let written = write(&out, &files, r#"{"ome":{"version":"0.5"}}"#).unwrap();
        let (listed, comment) = list(&out).unwrap();
        assert_eq!(listed, written);
        assert_eq!(comment, r#"{"ome":{"version":"0.5"}}"#);
        assert_eq!(listed[2].size, 3000);
        assert_eq!(listed[2].crc32, crc32fast::hash(&[7u8; 3000]));
        // Same input, same bytes.
        let again = d.path().join("again.zip");
        write(&again, &files, r#"{"ome":{"version":"0.5"}}"#).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
    }

    #[test]
    fn damaged_archives_are_errors() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.zip");
        std::fs::write(&p, b"not a zip at all").unwrap();
        assert!(matches!(list(&p), Err(Error::Malformed { .. })));
    }

    /// A one-entry stored archive named `name` whose central directory declares `size`.
    fn archive(dir: &Path, name: &str, size: u64) -> PathBuf {
        let src = dir.join("src");
        std::fs::write(&src, b"abc").unwrap();
        let out = dir.join("a.zip");
        write(&out, &[("x".repeat(name.len()), src)], "").unwrap();
        let mut bytes = std::fs::read(&out).unwrap();
        let x = "x".repeat(name.len());
        // The name appears in the local header and in the central directory.
        let mut at = 0;
        while let Some(i) = bytes[at..].windows(x.len()).position(|w| w == x.as_bytes()) {
            bytes[at + i..at + i + x.len()].copy_from_slice(name.as_bytes());
            at += i + x.len();
        }
        if size != 3 {
            // The ZIP64 extra field of the central directory entry holds the size first.
            let cd = bytes
                .windows(4)
                .rposition(|w| w == 0x0201_4b50u32.to_le_bytes())
                .unwrap();
            let xl = u16::from_le_bytes([bytes[cd + 30], bytes[cd + 31]]) as usize;
            let nl = name.len();
            assert!(xl >= 12);
            if u32::from_le_bytes(bytes[cd + 24..cd + 28].try_into().unwrap()) == u32::MAX {
                bytes[cd + 46 + nl + 4..cd + 46 + nl + 12].copy_from_slice(&size.to_le_bytes());
            } else {
                bytes[cd + 24..cd + 28].copy_from_slice(&(size as u32).to_le_bytes());
            }
        }
        std::fs::write(&out, bytes).unwrap();
        out
    }

    #[test]
    fn escaping_names_and_impossible_sizes_are_refused() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(
            list(&archive(d.path(), "ok/x.json", 3)).unwrap().0[0].size,
            3
        );
        for (name, size, want) in [
            (
                "../../etc/passwd",
                3,
                "a path that leaves the archive (`..`)",
            ),
            ("a/../../b", 3, "a path that leaves the archive (`..`)"),
            ("/etc/passwd", 3, "an absolute path"),
            ("C:/x", 3, "an absolute path"),
            (
                "big",
                1 << 62,
                "declares 4611686018427387904 bytes from 3 stored (method 0)",
            ),
        ] {
            let p = archive(d.path(), name, size);
            let e = list(&p).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("{}: entry {name:?}: {want}", p.display()),
                "{name}"
            );
        }
        let e = list(Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(e, Error::Input(_)), "{e}");
    }

    #[test]
    fn unknown_methods_and_duplicate_names_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::write(&src, b"abc").unwrap();
        let out = d.path().join("a.zip");
        let files = [
            ("zarr.json".to_string(), src.clone()),
            ("zarr.json".into(), src),
        ];
        write(&out, &files, "").unwrap();
        let e = list(&out).unwrap_err().to_string();
        assert!(
            e.ends_with("entry \"zarr.json\": listed twice; an archive holds one entry per name"),
            "{e}"
        );
        let p = archive(d.path(), "x", 3);
        let mut bytes = std::fs::read(&p).unwrap();
        let cd = bytes
            .windows(4)
            .rposition(|w| w == 0x0201_4b50u32.to_le_bytes())
            .unwrap();
        bytes[cd + 10] = 99;
        std::fs::write(&p, bytes).unwrap();
        let e = list(&p).unwrap_err().to_string();
        assert!(e.contains("entry \"x\": compression method 99;"), "{e}");
    }
}
