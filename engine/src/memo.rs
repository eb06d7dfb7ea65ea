//! The persistent memo: committed step results, named by cache key.
//!
//! A result is a directory `snapshots/<kind>-<key>/` holding `fs` (the layer
//! the step added) and, for execs, `result.json`, `stdout` and `stderr`. It
//! is built in `snapshots/tmp/<kind>-<key>.<pid>.<n>` and renamed into place:
//! the rename is the commit, so a crash leaves either nothing or a whole
//! result, and the store's open sweeps temps of dead processes. Processes
//! agree on who runs a step through a lock file per key, so identical work in
//! flight in two `tanto` processes runs once.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::cache_key::CacheKey;
use crate::error::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Exec,
    Layer,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Exec => "exec",
            Kind::Layer => "layer",
        }
    }
}

/// What an exec step left besides its layer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ExecRecord {
    pub exit_code: i32,
    pub args: Vec<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Memo {
    snapshots: PathBuf,
    temps: PathBuf,
    locks: PathBuf,
}

static TEMPS: AtomicU64 = AtomicU64::new(0);

impl Memo {
    pub fn new(store_root: &Path) -> Memo {
        Memo {
            snapshots: store_root.join("snapshots"),
            temps: store_root.join("snapshots/tmp"),
            locks: store_root.join("locks"),
        }
    }

    pub fn committed(&self, kind: Kind, key: &CacheKey) -> PathBuf {
        self.snapshots
            .join(format!("{}-{}", kind.prefix(), key.to_hex()))
    }

    /// The committed result's directory, if there is one.
    pub fn lookup(&self, kind: Kind, key: &CacheKey) -> Option<PathBuf> {
        let dir = self.committed(kind, key);
        dir.join("fs").is_dir().then_some(dir)
    }

    pub fn read_record(&self, dir: &Path) -> Result<ExecRecord, Error> {
        let path = dir.join("result.json");
        let bytes = std::fs::read(&path).map_err(|source| Error::Memo {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Memo {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// A fresh, empty temp directory for building `kind`'s result for `key`.
    pub fn temp_dir(&self, kind: Kind, key: &CacheKey) -> Result<PathBuf, Error> {
        let n = TEMPS.fetch_add(1, Ordering::Relaxed);
        let dir = self.temps.join(format!(
            "{}-{}.{}.{n}",
            kind.prefix(),
            key.to_hex(),
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|source| Error::Memo {
            path: dir.clone(),
            source,
        })?;
        Ok(dir)
    }

    /// Commits a built temp directory. If another process committed the same
    /// key first, its result wins and ours is discarded: both are the same.
    pub fn commit(&self, kind: Kind, key: &CacheKey, temp: &Path) -> Result<PathBuf, Error> {
        let dest = self.committed(kind, key);
        match std::fs::rename(temp, &dest) {
            Ok(()) => Ok(dest),
            Err(e) if dest.join("fs").is_dir() => {
                tracing::debug!("{} was committed by another process ({e})", dest.display());
                remove_tree(temp);
                Ok(dest)
            }
            Err(source) => Err(Error::Memo { path: dest, source }),
        }
    }

    /// The committed result of `key`; when there is none, `build` fills a
    /// fresh temp directory, which is then committed. Under the key's lock,
    /// so two processes never build one key at once; a failed build leaves
    /// nothing behind.
    pub fn get_or_build(
        &self,
        kind: Kind,
        key: &CacheKey,
        build: impl FnOnce(&Path) -> Result<(), Error>,
    ) -> Result<Entry, Error> {
        if let Some(dir) = self.lookup(kind, key) {
            return Ok(Entry { dir, built: false });
        }
        let _lock = self.lock(kind, key)?;
        // Another process may have committed it while we waited.
        if let Some(dir) = self.lookup(kind, key) {
            return Ok(Entry { dir, built: false });
        }
        let temp = self.temp_dir(kind, key)?;
        if let Err(error) = build(&temp) {
            remove_tree(&temp);
            return Err(error);
        }
        let dir = self.commit(kind, key, &temp)?;
        Ok(Entry { dir, built: true })
    }

    /// Blocks until this process holds the lock of `key`.
    pub fn lock(&self, kind: Kind, key: &CacheKey) -> Result<KeyLock, Error> {
        let path = self
            .locks
            .join(format!("{}-{}.lock", kind.prefix(), key.to_hex()));
        lock_file(&path).map(KeyLock)
    }
}

/// A committed result, and whether this call built it.
pub(crate) struct Entry {
    pub dir: PathBuf,
    pub built: bool,
}

/// Held while a step runs; released on drop.
pub(crate) struct KeyLock(#[allow(dead_code)] File);

fn open_lock_file(path: &Path) -> Result<File, Error> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| Error::Memo {
            path: path.to_owned(),
            source,
        })
}

/// Opens (creating) and exclusively locks `path`, waiting for other holders.
pub(crate) fn lock_file(path: &Path) -> Result<File, Error> {
    let file = open_lock_file(path)?;
    loop {
        // SAFETY: a valid open fd.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(file);
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(Error::Memo {
                path: path.to_owned(),
                source: error,
            });
        }
    }
}

/// Tries to lock `path` without waiting; `None` when someone else holds it.
pub(crate) fn try_lock_file(path: &Path) -> Result<Option<File>, Error> {
    let file = open_lock_file(path)?;
    // SAFETY: a valid open fd.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        Ok(Some(file))
    } else {
        Ok(None)
    }
}

/// Removes a tree we built, logging (not failing) when that is impossible.
pub(crate) fn remove_tree(path: &Path) {
    if let Err(e) = std::fs::remove_dir_all(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("cannot remove {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_key::KeyBuilder;

    #[test]
    fn a_result_exists_only_once_committed() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("locks")).unwrap();
        let memo = Memo::new(root.path());
        let key = KeyBuilder::new("t").finish();
        assert!(memo.lookup(Kind::Exec, &key).is_none());
        let temp = memo.temp_dir(Kind::Exec, &key).unwrap();
        std::fs::create_dir(temp.join("fs")).unwrap();
        assert!(memo.lookup(Kind::Exec, &key).is_none());
        let _lock = memo.lock(Kind::Exec, &key).unwrap();
        memo.commit(Kind::Exec, &key, &temp).unwrap();
        assert!(memo.lookup(Kind::Exec, &key).is_some());

        // A second commit of the same key (another process) keeps the first.
        let again = memo.temp_dir(Kind::Exec, &key).unwrap();
        std::fs::create_dir(again.join("fs")).unwrap();
        std::fs::write(again.join("fs/x"), "x").unwrap();
        memo.commit(Kind::Exec, &key, &again).unwrap();
        assert!(!again.exists());
        assert!(!memo.committed(Kind::Exec, &key).join("fs/x").exists());
    }
}
