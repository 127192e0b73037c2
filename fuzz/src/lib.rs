//! Helpers shared by the fuzz targets: a scratch folder per process (reused across iterations,
//! so a target that must go through a path stays fast) and a multi-file container decoded from
//! the fuzz input, for readers that take a folder (biotracks, geff, OME-Zarr).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Largest number of files a container may unpack, so one input cannot fill the disk.
pub const MAX_FILES: usize = 256;
/// Deepest relative path a container may name.
pub const MAX_DEPTH: usize = 8;
/// Starts a file in a container: `@@@ relative/path` on its own line, then the contents.
pub const MARKER: &[u8] = b"@@@ ";

static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_scratch() {
    if let Some(dir) = SCRATCH.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Where scratch folders go: `$MIFA_FUZZ_TMP`, else `/dev/shm` (memory: unpacking a Zarr store
/// of a few hundred files on each iteration is disk-bound otherwise), else the temp folder.
fn scratch_base() -> PathBuf {
    if let Some(dir) = std::env::var_os("MIFA_FUZZ_TMP") {
        return dir.into();
    }
    let shm = Path::new("/dev/shm");
    let writable = shm
        .metadata()
        .is_ok_and(|m| m.is_dir() && !m.permissions().readonly());
    if writable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// This process's scratch folder (`<base>/mifa-fuzz-<pid>`), created once and removed at exit.
pub fn scratch() -> &'static Path {
    SCRATCH.get_or_init(|| {
        let dir = scratch_base().join(format!("mifa-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the scratch folder can be created");
        // libFuzzer ends a timed run with exit(), which runs atexit handlers.
        // SAFETY: registering a plain extern "C" function that touches only a static.
        unsafe { libc::atexit(remove_scratch) };
        dir
    })
}

/// Writes `data` to `name` in the scratch folder (replacing the previous iteration's file).
pub fn file(name: &str, data: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    std::fs::write(&path, data).expect("the scratch file can be written");
    path
}

/// An empty folder `name` in the scratch folder (whatever the previous iteration left is removed).
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = scratch().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the scratch folder can be created");
    dir
}

/// A relative path from a container, or `None` when it could leave the folder: no absolute
/// paths, no `.`/`..` or empty components, no backslashes or control characters.
fn safe_name(raw: &[u8]) -> Option<PathBuf> {
    let name = std::str::from_utf8(raw).ok()?;
    let parts: Vec<&str> = name.split('/').collect();
    let ok = |p: &&str| {
        !p.is_empty()
            && *p != "."
            && *p != ".."
            && p.len() <= 64
            && p.chars().all(|c| !c.is_control() && c != '\\')
    };
    if parts.len() > MAX_DEPTH || !parts.iter().all(ok) {
        return None;
    }
    Some(parts.iter().collect())
}

/// Splits a container into `(relative path, contents)`. Each file is a line `@@@ path`
/// followed by its contents and one newline, which is dropped (so `seed.sh` can `cat` files
/// after their marker line). Bytes before the first marker, unsafe names and files past
/// [`MAX_FILES`] are ignored.
pub fn split(data: &[u8]) -> Vec<(PathBuf, &[u8])> {
    let mut starts = Vec::new();
    if data.starts_with(MARKER) {
        starts.push(0);
    }
    let mut i = 0;
    while let Some(k) = find(&data[i..], b"\n@@@ ") {
        starts.push(i + k + 1);
        i += k + 1;
    }
    let mut out = Vec::new();
    for (n, &s) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map_or(data.len(), |&e| e - 1);
        let rec = &data[s + MARKER.len()..end.max(s + MARKER.len())];
        let (name, body) = match rec.iter().position(|&b| b == b'\n') {
            Some(nl) => (&rec[..nl], &rec[nl + 1..]),
            None => (rec, &rec[rec.len()..]),
        };
        // The last file's trailing newline is the packer's too.
        let body = if n + 1 == starts.len() {
            body.strip_suffix(b"\n").unwrap_or(body)
        } else {
            body
        };
        if let Some(p) = safe_name(name) {
            out.push((p, body));
        }
        if out.len() == MAX_FILES {
            break;
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Unpacks a container into a fresh scratch folder `name` and returns it. Files that cannot be
/// written (a name that is also a folder) are skipped: the reader sees what could be made.
pub fn unpack(name: &str, data: &[u8]) -> PathBuf {
    let dir = fresh_dir(name);
    for (rel, body) in split(data) {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            if std::fs::create_dir_all(parent).is_err() {
                continue;
            }
        }
        let _ = std::fs::write(&path, body);
    }
    dir
}

/// Caps for image reads in the targets: small enough that a declared size the reader trusts
/// shows up as a refusal, not as an allocation that trips libFuzzer's memory limit.
#[allow(clippy::needless_update)] // keeps compiling when Limits gains a field
pub fn limits() -> mifa::formats::Limits {
    mifa::formats::Limits {
        max_plane_bytes: 64 << 20,
        max_image_bytes: 1 << 30,
        max_axis_len: 1 << 16,
        ..mifa::formats::Limits::default()
    }
}

/// A little-endian, uncompressed TIFF of `pages` identical `width`×`height` 8-bit pages (grey,
/// or RGB when `rgb`), with `description` as page 0's ImageDescription: the carrier for OME-XML.
pub fn tiff(description: &[u8], pages: u16, width: u16, height: u16, rgb: bool) -> Vec<u8> {
    let samples: u16 = if rgb { 3 } else { 1 };
    let strip = usize::from(width) * usize::from(height) * usize::from(samples);
    let mut out = b"II*\0\0\0\0\0".to_vec();
    // ASCII values end with NUL; the description and the RGB BitsPerSample go after the header.
    let desc_at = out.len() as u32;
    out.extend_from_slice(description);
    out.push(0);
    let bits_at = out.len() as u32;
    out.extend_from_slice(&[8, 0, 8, 0, 8, 0]);
    let mut next_link = 4usize;
    for page in 0..pages {
        let pixels_at = out.len() as u32;
        out.extend((0..strip).map(|i| (i as u8).wrapping_add(page as u8)));
        if out.len() % 2 == 1 {
            out.push(0);
        }
        let ifd_at = out.len() as u32;
        out[next_link..next_link + 4].copy_from_slice(&ifd_at.to_le_bytes());
        // (tag, type, count, value or offset); types: 2 ASCII, 3 SHORT, 4 LONG.
        let mut tags: Vec<(u16, u16, u32, u32)> = vec![
            (256, 3, 1, u32::from(width)),
            (257, 3, 1, u32::from(height)),
            if rgb {
                (258, 3, 3, bits_at)
            } else {
                (258, 3, 1, 8)
            },
            (259, 3, 1, 1),
            (262, 3, 1, if rgb { 2 } else { 1 }),
            (273, 4, 1, pixels_at),
            (277, 3, 1, u32::from(samples)),
            (278, 3, 1, u32::from(height)),
            (279, 4, 1, strip as u32),
            (284, 3, 1, 1),
        ];
        if page == 0 {
            tags.push((270, 2, description.len() as u32 + 1, desc_at));
            tags.sort_by_key(|t| t.0);
        }
        out.extend_from_slice(&(tags.len() as u16).to_le_bytes());
        for (tag, kind, count, value) in tags {
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&value.to_le_bytes());
        }
        next_link = out.len();
        out.extend_from_slice(&[0; 4]);
    }
    out
}
