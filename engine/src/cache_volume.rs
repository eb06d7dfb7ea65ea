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

use crate::error::Error;
use crate::memo::{lock_file, try_lock_file};

/// How concurrent steps share a cache volume (Dagger's `CacheSharingMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sharing {
    /// Everyone uses the same directory at once.
    #[default]
    Shared,
    /// Each concurrent user gets a directory of its own.
    Private,
    /// One user at a time; others wait.
    Locked,
}

impl Sharing {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Sharing::Shared => "SHARED",
            Sharing::Private => "PRIVATE",
            Sharing::Locked => "LOCKED",
        }
    }
}

/// Returns the directory to mount, and the lock to hold while it is in use.
pub(crate) fn acquire(
    store_root: &Path,
    name: &str,
    sharing: Sharing,
) -> Result<(PathBuf, Option<File>), Error> {
    let volume = store_root
        .join("cache")
        .join(&blake3::hash(name.as_bytes()).to_hex()[..32]);
    let create = |dir: &Path| {
        std::fs::create_dir_all(dir).map_err(|source| Error::CacheVolume {
            name: name.to_owned(),
            path: dir.to_owned(),
            source,
        })
    };
    create(&volume)?;
    // The name, for people looking at the store.
    let _ = std::fs::write(volume.join("name"), name);
    match sharing {
        Sharing::Shared => {
            let data = volume.join("data");
            create(&data)?;
            Ok((data, None))
        }
        Sharing::Locked => {
            let lock = lock_file(&volume.join("locked.lock"))?;
            let data = volume.join("data");
            create(&data)?;
            Ok((data, Some(lock)))
        }
        Sharing::Private => {
            for n in 0.. {
                if let Some(lock) = try_lock_file(&volume.join(format!("private-{n}.lock")))? {
                    let dir = volume.join(format!("private-{n}"));
                    create(&dir)?;
                    return Ok((dir, Some(lock)));
                }
            }
            unreachable!("some private instance is always free")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_users_at_once_get_different_directories_and_reuse_them_after() {
        let root = tempfile::tempdir().unwrap();
        let (a, lock_a) = acquire(root.path(), "c", Sharing::Private).unwrap();
        let (b, _lock_b) = acquire(root.path(), "c", Sharing::Private).unwrap();
        assert_ne!(a, b);
        drop(lock_a);
        let (c, _lock_c) = acquire(root.path(), "c", Sharing::Private).unwrap();
        assert_eq!(a, c);
    }

    #[test]
    fn shared_and_locked_use_one_directory_per_name() {
        let root = tempfile::tempdir().unwrap();
        let (shared, none) = acquire(root.path(), "c", Sharing::Shared).unwrap();
        assert!(none.is_none());
        let (locked, lock) = acquire(root.path(), "c", Sharing::Locked).unwrap();
        assert_eq!(shared, locked);
        assert!(lock.is_some());
        let (other, _) = acquire(root.path(), "d", Sharing::Shared).unwrap();
        assert_ne!(shared, other);
    }

    #[test]
    fn a_locked_user_waits_for_the_holder() {
        let root = tempfile::tempdir().unwrap();
        let (_, held) = acquire(root.path(), "c", Sharing::Locked).unwrap();
        let path = root.path().to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _second = acquire(&path, "c", Sharing::Locked).unwrap();
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
