//! A write-only Zarr store for imports, and the durability step that goes with it; and the seam every
//! package read goes through: [`ReadStore`] (local, in memory, later remote) and [`ZarrView`],
//! which lets `zarrs` open arrays over any of them.
//!
//! `zarrs`' `FilesystemStore` flushes every chunk to disk (`fsync`) before returning, which
//! halves import speed. Imports write into a temporary directory that only becomes part of the
//! package when renamed, so one flush of the whole tree before the rename ([`make_durable`])
//! gives the same guarantee at a fraction of the cost.

pub use bytes::Bytes;
use std::ops::Range;
use std::path::{Path, PathBuf};
#[cfg(feature = "zarr")]
use zarrs::storage::byte_range::{ByteRange, ByteRangeIterator};
#[cfg(feature = "zarr")]
use zarrs::storage::{
    MaybeBytes, MaybeBytesIterator, OffsetBytesIterator, ReadableStorageTraits, StorageError,
    StoreKey, StorePrefix, WritableStorageTraits,
};

/// Why a [`ReadStore`] could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A key that is not a package-relative `/`-separated path.
    #[error("{key:?}: not a plain key ({message})")]
    BadKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        message: &'static str,
    },
    /// A component of the key's path is a symbolic link.
    #[error("{}: is a symbolic link; mifa does not follow links inside a package", path.display())]
    Link {
        /// The link.
        path: PathBuf,
    },
    /// The key names something that is not a regular file.
    #[error("{}: is a {kind}, not a regular file", path.display())]
    NotAFile {
        /// The object.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// The object is larger than the caller's cap.
    #[error("{}: {size} bytes, more than the {max} allowed", path.display())]
    TooLarge {
        /// The object.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// Reading failed.
    #[error("{}", path.display())]
    Io {
        /// The object.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// A key of a [`ReadStore`]: a package-relative path of plain `/`-separated components,
/// checked once when made (no `..`, `.`, empty component or leading `/`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(String);

impl Key {
    /// Checks `key`.
    pub fn new(key: &str) -> Result<Key, StoreError> {
        let bad = |message| StoreError::BadKey {
            key: key.into(),
            message,
        };
        if key.is_empty() {
            return Err(bad("empty"));
        }
        if key.starts_with('/') || key.contains('\\') {
            return Err(bad("absolute or not '/'-separated"));
        }
        if key
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(bad("empty, '.' or '..' component"));
        }
        Ok(Key(key.into()))
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `prefix/self`, for keys read under a folder of the package (an image's OME-Zarr).
    pub fn under(prefix: &str, rel: &str) -> Result<Key, StoreError> {
        match prefix.trim_matches('/') {
            "" => Key::new(rel),
            p => Key::new(&format!("{p}/{rel}")),
        }
    }
}

/// The read-only storage a package is read from: the local filesystem ([`LocalStore`]),
/// memory ([`MemoryStore`]), later HTTP or S3. Synchronous, and never asked to list: a
/// package's files are found from its manifest and release records.
pub trait ReadStore: Send + Sync + std::fmt::Debug {
    /// The whole object, `None` when it does not exist; refused above `max` bytes.
    fn get(&self, key: &Key, max: u64) -> Result<Option<Bytes>, StoreError>;
    /// Bytes `range` of the object (clipped to its end), `None` when it does not exist.
    fn get_range(&self, key: &Key, range: Range<u64>) -> Result<Option<Bytes>, StoreError>;
    /// The object's size, `None` when it does not exist.
    fn size(&self, key: &Key) -> Result<Option<u64>, StoreError>;
    /// Where `key` lives, for messages (a path, or a URL as a path).
    fn locate(&self, key: &str) -> PathBuf;
}

/// Package files on the local filesystem, never read through a link (an OME-Zarr inside a
/// package cannot lead reads out of it): every component of a key is `lstat`ed, links and special files are refused.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// The store of the package (or folder) at `root`, refused when `root` is a link.
    pub fn new(root: &Path) -> Result<LocalStore, StoreError> {
        if std::fs::symlink_metadata(root).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(StoreError::Link { path: root.into() });
        }
        Ok(LocalStore { root: root.into() })
    }

    /// The file of `key`, opened after checking its path; `None` when it does not exist.
    fn open(&self, key: &Key) -> Result<Option<(std::fs::File, u64, PathBuf)>, StoreError> {
        let mut p = self.root.clone();
        let io = |p: &Path| {
            let path = p.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        let mut last = None;
        for c in key.as_str().split('/') {
            p.push(c);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => return Err(StoreError::Link { path: p }),
                Ok(m) => last = Some(m),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io(&p)(e)),
            }
        }
        let not_a_file = |m: &std::fs::Metadata, path: PathBuf| {
            let kind = crate::input::kind_of(&m.file_type());
            Err(StoreError::NotAFile { path, kind })
        };
        match last {
            Some(m) if m.is_dir() => return Ok(None),
            // Refused before opening: opening a FIFO would wait for a writer.
            Some(m) if !m.is_file() => return not_a_file(&m, p),
            _ => {}
        }
        let f = std::fs::File::open(&p).map_err(io(&p))?;
        // Checked again on the opened file: it may have been swapped since the lstat.
        let m = f.metadata().map_err(io(&p))?;
        if !m.is_file() {
            return not_a_file(&m, p);
        }
        Ok(Some((f, m.len(), p)))
    }
}

impl ReadStore for LocalStore {
    fn get(&self, key: &Key, max: u64) -> Result<Option<Bytes>, StoreError> {
        use std::io::Read;
        let Some((f, size, path)) = self.open(key)? else {
            return Ok(None);
        };
        if size > max {
            return Err(StoreError::TooLarge { path, size, max });
        }
        let mut buf = Vec::with_capacity(size as usize);
        // Capped again while reading: the file may grow after its size was read.
        f.take(max.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        if buf.len() as u64 > max {
            let size = buf.len() as u64;
            return Err(StoreError::TooLarge { path, size, max });
        }
        Ok(Some(buf.into()))
    }

    fn get_range(&self, key: &Key, range: Range<u64>) -> Result<Option<Bytes>, StoreError> {
        use std::io::{Read, Seek, SeekFrom};
        let Some((mut f, size, path)) = self.open(key)? else {
            return Ok(None);
        };
        let (start, end) = (
            range.start.min(size),
            range.end.min(size).max(range.start.min(size)),
        );
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        f.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut buf = Vec::with_capacity((end - start) as usize);
        f.take(end - start).read_to_end(&mut buf).map_err(io)?;
        Ok(Some(buf.into()))
    }

    fn size(&self, key: &Key) -> Result<Option<u64>, StoreError> {
        Ok(self.open(key)?.map(|(_, size, _)| size))
    }

    fn locate(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

/// Package files held in memory (a package received as bytes, or tests of the seam).
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    name: PathBuf,
    files: std::collections::HashMap<String, Bytes>,
}

impl MemoryStore {
    /// An empty store; `name` stands for it in messages.
    pub fn new(name: impl Into<PathBuf>) -> MemoryStore {
        MemoryStore {
            name: name.into(),
            files: Default::default(),
        }
    }

    /// Adds (or replaces) the object of `key`.
    pub fn insert(&mut self, key: &Key, value: impl Into<Bytes>) {
        self.files.insert(key.as_str().into(), value.into());
    }

    /// A store holding a copy of every regular file below `dir`, keyed by its path there (a
    /// package held in memory, as a buffer from Python or a test would hold it). Links and
    /// special files are refused, as [`LocalStore`] refuses them; `max` bytes in all.
    pub fn copy_of(dir: &Path, max: u64) -> Result<MemoryStore, StoreError> {
        let local = LocalStore::new(dir)?;
        let mut mem = MemoryStore::new(dir);
        let mut left = max;
        mem.copy_tree(&local, dir, "", &mut left)?;
        Ok(mem)
    }

    fn copy_tree(
        &mut self,
        local: &LocalStore,
        dir: &Path,
        prefix: &str,
        left: &mut u64,
    ) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        };
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            let name = format!("{prefix}{}", name.to_string_lossy());
            if entry.file_type().map_err(io)?.is_dir() {
                self.copy_tree(local, &entry.path(), &format!("{name}/"), left)?;
                continue;
            }
            let key = Key::new(&name)?;
            if let Some(bytes) = local.get(&key, *left)? {
                *left -= bytes.len() as u64;
                self.insert(&key, bytes);
            }
        }
        Ok(())
    }
}

impl ReadStore for MemoryStore {
    fn get(&self, key: &Key, max: u64) -> Result<Option<Bytes>, StoreError> {
        match self.files.get(key.as_str()) {
            Some(b) if b.len() as u64 > max => Err(StoreError::TooLarge {
                path: self.locate(key.as_str()),
                size: b.len() as u64,
                max,
            }),
            b => Ok(b.cloned()),
        }
    }

    fn get_range(&self, key: &Key, range: Range<u64>) -> Result<Option<Bytes>, StoreError> {
        Ok(self.files.get(key.as_str()).map(|b| {
            let n = b.len() as u64;
            let start = range.start.min(n);
            b.slice(start as usize..range.end.clamp(start, n) as usize)
        }))
    }

    fn size(&self, key: &Key) -> Result<Option<u64>, StoreError> {
        Ok(self.files.get(key.as_str()).map(|b| b.len() as u64))
    }

    fn locate(&self, key: &str) -> PathBuf {
        self.name.join(key)
    }
}

#[cfg(feature = "zarr")]
/// A [`ReadStore`] seen by `zarrs` from one of its folders (an image's OME-Zarr), so arrays
/// open over any store. Read-only and never listed.
#[derive(Debug, Clone)]
pub struct ZarrView {
    store: std::sync::Arc<dyn ReadStore>,
    prefix: String,
}

#[cfg(feature = "zarr")]
impl ZarrView {
    /// The view of `store` under `prefix` (`""` for its root).
    pub fn new(store: std::sync::Arc<dyn ReadStore>, prefix: &str) -> ZarrView {
        ZarrView {
            store,
            prefix: prefix.trim_matches('/').into(),
        }
    }

    /// The view of the local folder `base` (an image's OME-Zarr) through a [`LocalStore`].
    pub fn local(base: &Path) -> Result<ZarrView, StorageError> {
        let store = LocalStore::new(base).map_err(to_storage)?;
        Ok(ZarrView::new(std::sync::Arc::new(store), ""))
    }

    fn key(&self, key: &StoreKey) -> Result<Key, StorageError> {
        Key::under(&self.prefix, key.as_str()).map_err(to_storage)
    }
}

#[cfg(feature = "zarr")]
fn to_storage(e: StoreError) -> StorageError {
    match e {
        StoreError::Io { source, .. } => StorageError::IOError(std::sync::Arc::new(source)),
        other => StorageError::Other(other.to_string()),
    }
}

#[cfg(feature = "zarr")]
impl ReadableStorageTraits for ZarrView {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        let key = self.key(key)?;
        let Some(size) = self.store.size(&key).map_err(to_storage)? else {
            return Ok(None);
        };
        let parts = byte_ranges.map(move |r| {
            self.store
                .get_range(&key, r.to_range(size))
                .map_err(to_storage)?
                .ok_or_else(|| {
                    StorageError::Other(format!("{}: vanished while read", key.as_str()))
                })
        });
        Ok(Some(Box::new(parts)))
    }

    fn get_partial(
        &self,
        key: &StoreKey,
        byte_range: ByteRange,
    ) -> Result<MaybeBytes, StorageError> {
        let key = self.key(key)?;
        match byte_range {
            // One open for a whole chunk; its decoded size is capped by the caller.
            ByteRange::FromStart(0, None) => self.store.get(&key, u64::MAX).map_err(to_storage),
            r => {
                let Some(size) = self.store.size(&key).map_err(to_storage)? else {
                    return Ok(None);
                };
                self.store
                    .get_range(&key, r.to_range(size))
                    .map_err(to_storage)
            }
        }
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.store.size(&self.key(key)?).map_err(to_storage)
    }

    fn supports_get_partial(&self) -> bool {
        true
    }
}

#[cfg(feature = "zarr")]
/// Writes keys as files under a directory, without flushing each one.
#[derive(Debug)]
pub struct ImportStore {
    base: PathBuf,
}

#[cfg(feature = "zarr")]
impl ImportStore {
    /// A store rooted at `base`.
    pub fn new(base: &Path) -> ImportStore {
        ImportStore {
            base: base.to_path_buf(),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.base.join(key)
    }
}

#[cfg(feature = "zarr")]
impl WritableStorageTraits for ImportStore {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        let path = self.path(key.as_str());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &value)?;
        Ok(())
    }

    fn set_partial_many(
        &self,
        key: &StoreKey,
        offset_values: OffsetBytesIterator,
    ) -> Result<(), StorageError> {
        use std::io::{Seek, SeekFrom, Write};
        let path = self.path(key.as_str());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        for (offset, value) in offset_values {
            f.seek(SeekFrom::Start(offset))?;
            f.write_all(&value)?;
        }
        Ok(())
    }

    fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        match std::fs::remove_file(self.path(key.as_str())) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        match std::fs::remove_dir_all(self.path(prefix.as_str())) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn supports_set_partial(&self) -> bool {
        true
    }
}

/// Flushes everything written under `dir` to disk: one `syncfs` of its filesystem on Linux,
/// otherwise every file and directory of the tree.
pub fn make_durable(dir: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(dir)?;
        // SAFETY: `f` is an open file descriptor for the duration of the call.
        if unsafe { libc::syncfs(f.as_raw_fd()) } == 0 {
            return Ok(());
        }
    }
    sync_tree(dir)
}

fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        } else {
            std::fs::File::open(entry.path())?.sync_all()?;
        }
    }
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn a_local_zarr_view_never_reads_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let base = dir.path().join("img.ome.zarr");
        std::fs::create_dir_all(base.join("0/c")).unwrap();
        std::fs::write(base.join("0/c/0"), "chunk").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), base.join("0/c/1")).unwrap();
        std::os::unix::fs::symlink(outside.path(), base.join("1")).unwrap();
        let store = ZarrView::local(&base).unwrap();
        let key = |k: &str| StoreKey::new(k).unwrap();
        assert_eq!(
            store.get(&key("0/c/0")).unwrap().unwrap().as_ref(),
            b"chunk"
        );
        assert!(store.get(&key("0/c/9")).unwrap().is_none());
        for k in ["0/c/1", "1/secret"] {
            let err = store.get(&key(k)).unwrap_err().to_string();
            assert!(err.contains("is a symbolic link"), "{err}");
            assert!(store.size_key(&key(k)).is_err());
        }
        let linked = dir.path().join("linked.ome.zarr");
        std::os::unix::fs::symlink(&base, &linked).unwrap();
        assert!(ZarrView::local(&linked).is_err());
    }

    fn k(s: &str) -> Key {
        Key::new(s).unwrap()
    }

    #[test]
    fn keys_are_plain_relative_paths() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            "./a",
            "a//b",
            "a/",
            "a\\b",
        ] {
            assert!(
                matches!(Key::new(bad), Err(StoreError::BadKey { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(
            Key::under("images/x.ome.zarr/", "0/c/0").unwrap().as_str(),
            "images/x.ome.zarr/0/c/0"
        );
        assert_eq!(Key::under("", "mifa.json").unwrap().as_str(), "mifa.json");
        assert!(Key::under("images", "../mifa.json").is_err());
    }

    #[test]
    fn the_local_store_reads_ranges_caps_and_refuses_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/f"), "0123456789").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("a/l")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("d")).unwrap();
        let store = LocalStore::new(dir.path()).unwrap();
        assert_eq!(
            store.get(&k("a/f"), 10).unwrap().unwrap().as_ref(),
            b"0123456789"
        );
        assert!(matches!(
            store.get(&k("a/f"), 9),
            Err(StoreError::TooLarge {
                size: 10,
                max: 9,
                ..
            })
        ));
        assert_eq!(
            store.get_range(&k("a/f"), 2..5).unwrap().unwrap().as_ref(),
            b"234"
        );
        assert_eq!(
            store.get_range(&k("a/f"), 8..50).unwrap().unwrap().as_ref(),
            b"89"
        );
        assert_eq!(
            store
                .get_range(&k("a/f"), 20..30)
                .unwrap()
                .unwrap()
                .as_ref(),
            b""
        );
        assert_eq!(store.size(&k("a/f")).unwrap(), Some(10));
        assert!(store.get(&k("a/missing"), 10).unwrap().is_none());
        assert!(store.size(&k("nothing/here")).unwrap().is_none());
        assert!(
            store.get(&k("a"), 10).unwrap().is_none(),
            "a folder is no object"
        );
        for key in ["a/l", "d/secret"] {
            assert!(
                matches!(store.get(&k(key), 10), Err(StoreError::Link { .. })),
                "{key}"
            );
            assert!(store.size(&k(key)).is_err());
        }
        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(dir.path(), &linked).unwrap();
        assert!(LocalStore::new(&linked).is_err());
    }

    #[test]
    fn the_local_store_refuses_special_files() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let store = LocalStore::new(dir.path()).unwrap();
        let err = store.get(&k("fifo"), 10).unwrap_err();
        assert!(
            matches!(err, StoreError::NotAFile { kind: "FIFO", .. }),
            "{err}"
        );
    }

    #[test]
    fn an_array_reads_the_same_from_memory_as_from_disk() {
        use zarrs::array::Array;
        let pkg =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../formats/manifest/valid/complete");
        let mem = MemoryStore::copy_of(&pkg, 1 << 30).unwrap();
        let image = "images/nuclei.ome.zarr";
        let read = |store: std::sync::Arc<dyn ReadStore>| -> Vec<u16> {
            let view = std::sync::Arc::new(ZarrView::new(store, image));
            let a = Array::open(view, "/0").unwrap();
            a.retrieve_array_subset(&a.subset_all()).unwrap()
        };
        let disk = read(std::sync::Arc::new(LocalStore::new(&pkg).unwrap()));
        assert_eq!(disk.len(), 16 * 16);
        assert_eq!(read(std::sync::Arc::new(mem)), disk);
    }
}
