//! A write-only Zarr store for imports, and the durability step that goes with it; a
//! read-only store confined to its folder, for reading images of a package.
//!
//! `zarrs`' `FilesystemStore` flushes every chunk to disk (`fsync`) before returning, which
//! halves import speed. Imports write into a temporary directory that only becomes part of the
//! package when renamed, so one flush of the whole tree before the rename ([`make_durable`])
//! gives the same guarantee at a fraction of the cost.

use std::path::{Path, PathBuf};
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::byte_range::{ByteRange, ByteRangeIterator};
use zarrs::storage::{
    Bytes, MaybeBytes, MaybeBytesIterator, OffsetBytesIterator, ReadableStorageTraits,
    StorageError, StoreKey, StorePrefix, WritableStorageTraits,
};

/// Reads keys as files under a folder, like `zarrs`' `FilesystemStore`, but never through a
/// symbolic link (nor the folder itself one): a key whose path crosses a link, or that is not
/// a regular file, is an error. An OME-Zarr inside a package cannot lead reads out of it.
#[derive(Debug)]
pub struct ConfinedStore {
    base: PathBuf,
    inner: FilesystemStore,
}

impl ConfinedStore {
    /// A store rooted at `base`, refused when `base` is a symbolic link.
    pub fn new(base: &Path) -> Result<ConfinedStore, StorageError> {
        if std::fs::symlink_metadata(base).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(link_error(base));
        }
        let inner = FilesystemStore::new(base).map_err(|e| StorageError::Other(e.to_string()))?;
        Ok(ConfinedStore {
            base: base.to_path_buf(),
            inner,
        })
    }

    /// Whether `key` may be read: `Ok(false)` when it does not exist, an error when a component
    /// is a link or the file is not a regular file.
    fn check(&self, key: &StoreKey) -> Result<bool, StorageError> {
        let mut p = self.base.clone();
        for c in Path::new(key.as_str()).components() {
            match c {
                std::path::Component::Normal(s) => p.push(s),
                _ => {
                    return Err(StorageError::Other(format!(
                        "{}: not a plain key",
                        key.as_str()
                    )))
                }
            }
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => return Err(link_error(&p)),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_file() => Ok(true),
            Ok(m) if m.file_type().is_dir() => Ok(false),
            Ok(m) => Err(StorageError::Other(format!(
                "{}: is a {}, not a regular file",
                p.display(),
                crate::package::kind_of(&m.file_type())
            ))),
            Err(e) => Err(e.into()),
        }
    }
}

fn link_error(p: &Path) -> StorageError {
    StorageError::Other(format!(
        "{}: is a symbolic link; mifa does not follow links inside a package",
        p.display()
    ))
}

impl ReadableStorageTraits for ConfinedStore {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        if !self.check(key)? {
            return Ok(None);
        }
        self.inner.get_partial_many(key, byte_ranges)
    }

    fn get_partial(
        &self,
        key: &StoreKey,
        byte_range: ByteRange,
    ) -> Result<MaybeBytes, StorageError> {
        if !self.check(key)? {
            return Ok(None);
        }
        self.inner.get_partial(key, byte_range)
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        if !self.check(key)? {
            return Ok(None);
        }
        self.inner.size_key(key)
    }

    fn supports_get_partial(&self) -> bool {
        self.inner.supports_get_partial()
    }
}

/// Writes keys as files under a directory, without flushing each one.
#[derive(Debug)]
pub struct ImportStore {
    base: PathBuf,
}

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
mod tests {
    use super::*;

    #[test]
    fn the_confined_store_never_reads_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let base = dir.path().join("img.ome.zarr");
        std::fs::create_dir_all(base.join("0/c")).unwrap();
        std::fs::write(base.join("0/c/0"), "chunk").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), base.join("0/c/1")).unwrap();
        std::os::unix::fs::symlink(outside.path(), base.join("1")).unwrap();
        let store = ConfinedStore::new(&base).unwrap();
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
        assert!(ConfinedStore::new(&linked).is_err());
    }
}
