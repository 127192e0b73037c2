//! A write-only Zarr store for imports, and the durability step that goes with it.
//!
//! `zarrs`' `FilesystemStore` flushes every chunk to disk (`fsync`) before returning, which
//! halves import speed. Imports write into a temporary directory that only becomes part of the
//! package when renamed, so one flush of the whole tree before the rename ([`make_durable`])
//! gives the same guarantee at a fraction of the cost.

use std::path::{Path, PathBuf};
use zarrs::storage::{
    Bytes, OffsetBytesIterator, StorageError, StoreKey, StorePrefix, WritableStorageTraits,
};

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
