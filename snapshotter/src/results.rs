//! Step results: what the engine's ops make, kept under their cache key.
//!
//! Their lifecycle is containerd's: [`Store::prepare`] finds the committed
//! result of a key, or hands out an [`Active`] entry — a fresh temp
//! directory, with the key's lock held so no other process makes the same
//! result at once. The caller fills it and [`Active::commit`]s it: one
//! rename into `snapshots/<kind>-<key>/`, so a crash leaves either nothing
//! or the whole result. An active entry dropped without commit is removed.
//!
//! What goes inside an entry is the caller's (`fs/` is the layer; an exec
//! adds its output and record); the store owns where entries live.

use std::fs::File;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::meta::{apparent_size, EntryKind, Meta};
use crate::store::Store;
use crate::temp::temp_name;
use crate::Error;

/// The kinds of results, each its own directory prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultKind {
    /// A process run on a root file system: its changes and output.
    Exec,
    /// A file operation's layer (or a built image's tarball).
    Layer,
}

impl ResultKind {
    fn entry_kind(self) -> EntryKind {
        match self {
            ResultKind::Exec => EntryKind::StepResult,
            ResultKind::Layer => EntryKind::FileOperation,
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            ResultKind::Exec => "exec",
            ResultKind::Layer => "layer",
        }
    }
}

/// What [`Store::prepare`] found.
pub enum Prepared {
    /// The result is there: its directory.
    Committed(PathBuf),
    /// It is not: an empty entry to fill and commit.
    Active(Active),
}

/// A result being made: an empty directory only this process writes, and the
/// key's lock. Removed on drop unless committed.
pub struct Active {
    temp: PathBuf,
    dest: PathBuf,
    id: String,
    kind: ResultKind,
    meta: Arc<Meta>,
    _lock: File,
    committed: bool,
}

impl Active {
    /// The directory to fill.
    pub fn dir(&self) -> &Path {
        &self.temp
    }

    /// Makes the result visible under its key and records it, described
    /// for people as `description` (the step's command), made on top of the
    /// entries `parents` are in (its layers below, its inputs); returns its
    /// directory. If a result of the same key is there already (a crash
    /// between another process's rename and its record), that one stands
    /// and ours is dropped.
    pub fn commit(mut self, description: &str, parents: &[PathBuf]) -> Result<PathBuf, Error> {
        match std::fs::rename(&self.temp, &self.dest) {
            Ok(()) => self.committed = true,
            Err(_) if is_result(&self.dest) => {}
            Err(source) => {
                return Err(Error::Store {
                    path: self.dest.clone(),
                    source,
                })
            }
        }
        self.meta.record(
            &self.id,
            self.kind.entry_kind(),
            apparent_size(&self.dest),
            description,
        )?;
        let mut parents: Vec<String> = parents
            .iter()
            .filter_map(|path| self.meta.entry_of(path))
            .filter(|parent| *parent != self.id)
            .collect();
        parents.sort();
        parents.dedup();
        self.meta.record_parents(&self.id, &parents)?;
        Ok(self.dest.clone())
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.temp) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("cannot remove {}: {e}", self.temp.display());
            }
        }
    }
}

fn is_result(dir: &Path) -> bool {
    dir.join("fs").is_dir()
}

impl Store {
    /// The committed result of `kind` for `key` (a cache key in hex), if
    /// any; one found is in use by this process from now on (a collector
    /// leaves it).
    pub fn result(&self, kind: ResultKind, key: &str) -> Result<Option<PathBuf>, Error> {
        let dir = self.result_dir(kind, key);
        let present = is_result(&dir) && self.meta().touch(&result_id(kind, key))?;
        Ok(present.then_some(dir))
    }

    /// The committed result of `key`, or, when there is none, an empty entry
    /// to make it in. Waits while another process makes the same result,
    /// and then finds it committed.
    pub fn prepare(&self, kind: ResultKind, key: &str) -> Result<Prepared, Error> {
        if let Some(dir) = self.result(kind, key)? {
            return Ok(Prepared::Committed(dir));
        }
        let stem = format!("{}-{key}", kind.prefix());
        let lock = self.lock_entry(&stem)?;
        if let Some(dir) = self.result(kind, key)? {
            return Ok(Prepared::Committed(dir));
        }
        let temp = temp_name(self.snapshots_tmp_dir(), &stem);
        std::fs::create_dir_all(&temp).map_err(|source| Error::Store {
            path: temp.clone(),
            source,
        })?;
        Ok(Prepared::Active(Active {
            temp,
            dest: self.result_dir(kind, key),
            id: result_id(kind, key),
            kind,
            meta: self.meta_arc(),
            _lock: lock,
            committed: false,
        }))
    }

    /// Where the result of `kind` for `key` is committed, made or not yet:
    /// what a chain names before a result only a registry cache has is
    /// fetched.
    pub fn result_dir(&self, kind: ResultKind, key: &str) -> PathBuf {
        self.snapshots_dir()
            .join(format!("{}-{key}", kind.prefix()))
    }
}

/// How the metadata names a result: its path under the store root.
fn result_id(kind: ResultKind, key: &str) -> String {
    format!("snapshots/{}-{key}", kind.prefix())
}

pub(crate) fn open_lock(path: &Path) -> Result<File, Error> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| Error::Store {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    fn active(prepared: Prepared) -> Active {
        match prepared {
            Prepared::Active(active) => active,
            Prepared::Committed(dir) => panic!("{} is committed already", dir.display()),
        }
    }

    #[test]
    fn a_result_is_made_once_and_found_after() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path().join("store"), Limits::default()).unwrap();
        assert_eq!(store.result(ResultKind::Exec, "ab12").unwrap(), None);
        let entry = active(store.prepare(ResultKind::Exec, "ab12").unwrap());
        std::fs::create_dir(entry.dir().join("fs")).unwrap();
        std::fs::write(entry.dir().join("stdout"), "hi").unwrap();
        let dir = entry.commit("test", &[]).unwrap();
        assert_eq!(dir, root.path().join("store/snapshots/exec-ab12"));
        assert_eq!(std::fs::read_to_string(dir.join("stdout")).unwrap(), "hi");
        assert_eq!(
            store.result(ResultKind::Exec, "ab12").unwrap(),
            Some(dir.clone())
        );
        assert!(matches!(
            store.prepare(ResultKind::Exec, "ab12").unwrap(),
            Prepared::Committed(found) if found == dir
        ));
        // Kinds do not share keys.
        assert_eq!(store.result(ResultKind::Layer, "ab12").unwrap(), None);
    }

    #[test]
    fn an_entry_dropped_without_commit_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path(), Limits::default()).unwrap();
        let entry = active(store.prepare(ResultKind::Layer, "cd34").unwrap());
        let temp = entry.dir().to_owned();
        std::fs::create_dir(temp.join("fs")).unwrap();
        drop(entry);
        assert!(!temp.exists());
        assert_eq!(store.result(ResultKind::Layer, "cd34").unwrap(), None);
        let tmp = std::fs::read_dir(root.path().join("snapshots/tmp")).unwrap();
        assert_eq!(tmp.count(), 0);
    }

    #[test]
    fn a_second_maker_waits_and_finds_the_first_ones_result() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path(), Limits::default()).unwrap();
        let first = active(store.prepare(ResultKind::Exec, "ef56").unwrap());
        let waiter = {
            let store = store.clone();
            std::thread::spawn(move || store.prepare(ResultKind::Exec, "ef56").unwrap())
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!waiter.is_finished(), "the lock lets only one maker in");
        std::fs::create_dir(first.dir().join("fs")).unwrap();
        let dir = first.commit("test", &[]).unwrap();
        match waiter.join().unwrap() {
            Prepared::Committed(found) => assert_eq!(found, dir),
            Prepared::Active(_) => panic!("the waiter made the result again"),
        }
    }

    #[test]
    fn a_result_committed_first_by_another_stands() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path(), Limits::default()).unwrap();
        let ours = active(store.prepare(ResultKind::Layer, "0a0b").unwrap());
        std::fs::create_dir(ours.dir().join("fs")).unwrap();
        std::fs::write(ours.dir().join("fs/ours"), "x").unwrap();
        // Another process's result lands first (as a store whose locks were
        // lost would let it).
        let theirs = root.path().join("snapshots/layer-0a0b");
        std::fs::create_dir_all(theirs.join("fs")).unwrap();
        let temp = ours.dir().to_owned();
        assert_eq!(ours.commit("test", &[]).unwrap(), theirs);
        assert!(!theirs.join("fs/ours").exists());
        assert!(!temp.exists());
    }
}
