//! Cache volumes: directories kept in the store between runs, by name.
//!
//! `<store>/cache/<blake3 of the name>/` holds `data` (SHARED and LOCKED
//! users) and `private-<n>` (one per concurrent PRIVATE user). The sharing
//! modes hold across `tanto` processes because they are file locks: LOCKED
//! waits on `locked.lock`; PRIVATE takes the first `private-<n>.lock` that is
//! free, so concurrent users never share a directory, while one user after
//! another reuses `private-0` and keeps its cache warm.

use std::fs::File;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::meta::{apparent_size, EntryKind, Meta};
use crate::results::open_lock;
use crate::store::Store;
use crate::{sys, Error};

/// How concurrent users share a cache volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolumeSharing {
    /// Everyone uses the same directory at once.
    Shared,
    /// Each concurrent user gets a directory of its own.
    Private,
    /// One user at a time; others wait.
    Locked,
}

/// A cache volume's directory, in use until dropped: its lock (LOCKED,
/// PRIVATE) is held as long as this lives.
pub struct VolumeInUse {
    dir: PathBuf,
    _lock: Option<File>,
    /// The volume as the metadata names it, and where its size is kept.
    id: String,
    volume: PathBuf,
    meta: Arc<Meta>,
}

impl VolumeInUse {
    /// The directory to mount.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for VolumeInUse {
    fn drop(&mut self) {
        // Its size after the step, for `du` and the collector.
        let size = apparent_size(&self.volume);
        if let Err(e) = self.meta.record(&self.id, EntryKind::CacheVolume, size, "") {
            tracing::warn!("cannot record the size of {}: {e}", self.volume.display());
        }
    }
}

impl Store {
    /// The directory of the cache volume `name` for one user sharing it as
    /// `sharing`; waits while a LOCKED volume is in use.
    pub fn cache_volume(&self, name: &str, sharing: VolumeSharing) -> Result<VolumeInUse, Error> {
        let hash = &blake3::hash(name.as_bytes()).to_hex()[..32];
        let volume = self.root().join("cache").join(hash);
        let id = format!("cache/{hash}");
        let create = |dir: &Path| {
            std::fs::create_dir_all(dir).map_err(|source| Error::Store {
                path: dir.to_owned(),
                source,
            })
        };
        // Made, leased and collected one process at a time; a LOCKED
        // user's wait below is outside it.
        let guard = self.lock_entry(&format!("cache-{hash}"))?;
        create(&volume)?;
        // The name, for people looking at the store.
        let _ = std::fs::write(volume.join("name"), name);
        // In use from now on: a collector never takes a mounted volume.
        if !self.meta().touch(&id)? {
            self.meta().record(
                &id,
                EntryKind::CacheVolume,
                apparent_size(&volume),
                &format!("cache volume {name}"),
            )?;
        }
        drop(guard);
        let (dir, lock) = match sharing {
            VolumeSharing::Shared => (volume.join("data"), None),
            VolumeSharing::Locked => {
                let path = volume.join("locked.lock");
                let lock = open_lock(&path)?;
                sys::lock_exclusive(&lock).map_err(|source| Error::Store { path, source })?;
                (volume.join("data"), Some(lock))
            }
            VolumeSharing::Private => {
                let mut n = 0;
                loop {
                    let path = volume.join(format!("private-{n}.lock"));
                    let lock = open_lock(&path)?;
                    if sys::try_lock_exclusive(&lock)
                        .map_err(|source| Error::Store { path, source })?
                    {
                        break (volume.join(format!("private-{n}")), Some(lock));
                    }
                    n += 1;
                }
            }
        };
        create(&dir)?;
        Ok(VolumeInUse {
            dir,
            _lock: lock,
            id,
            volume,
            meta: self.meta_arc(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    fn store(root: &tempfile::TempDir) -> Store {
        Store::open(root.path(), Limits::default()).unwrap()
    }

    #[test]
    fn private_users_at_once_get_different_directories_and_reuse_them_after() {
        let root = tempfile::tempdir().unwrap();
        let store = store(&root);
        let a = store.cache_volume("c", VolumeSharing::Private).unwrap();
        let b = store.cache_volume("c", VolumeSharing::Private).unwrap();
        assert_ne!(a.dir(), b.dir());
        let first = a.dir().to_owned();
        drop(a);
        let c = store.cache_volume("c", VolumeSharing::Private).unwrap();
        assert_eq!(first, c.dir());
    }

    #[test]
    fn shared_and_locked_use_one_directory_per_name() {
        let root = tempfile::tempdir().unwrap();
        let store = store(&root);
        let shared = store.cache_volume("c", VolumeSharing::Shared).unwrap();
        assert!(shared._lock.is_none());
        let locked = store.cache_volume("c", VolumeSharing::Locked).unwrap();
        assert_eq!(shared.dir(), locked.dir());
        assert!(locked._lock.is_some());
        let other = store.cache_volume("d", VolumeSharing::Shared).unwrap();
        assert_ne!(shared.dir(), other.dir());
    }

    #[test]
    fn a_locked_user_waits_for_the_holder() {
        let root = tempfile::tempdir().unwrap();
        let held = store(&root)
            .cache_volume("c", VolumeSharing::Locked)
            .unwrap();
        let second_store = store(&root);
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _second = second_store
                .cache_volume("c", VolumeSharing::Locked)
                .unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(200))
            .is_err());
        drop(held);
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        waiter.join().unwrap();
    }
}
