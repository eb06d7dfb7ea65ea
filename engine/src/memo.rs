//! The memo: the engine's step results, kept by the store under their cache
//! key (`snapshotter`'s results: prepare, fill, commit), and the record an
//! exec leaves beside its layer (`result.json`).
//!
//! A result is a directory holding `fs` (the layer the step added) and, for
//! execs, `result.json`, `stdout` and `stderr`. Processes agree on who makes
//! a result through the store's lock per key, so identical work in flight in
//! two `tanto` processes runs once.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use snapshotter::{Prepared, Store};

use crate::cache_key::CacheKey;
use crate::error::Error;

pub(crate) use snapshotter::ResultKind as Kind;

/// What an exec step left besides its layer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ExecRecord {
    pub exit_code: i32,
    pub args: Vec<String>,
}

/// A committed result, and whether this call built it.
pub(crate) struct Entry {
    pub dir: PathBuf,
    pub built: bool,
}

#[derive(Clone)]
pub(crate) struct Memo {
    store: Store,
}

impl Memo {
    pub fn new(store: Store) -> Memo {
        Memo { store }
    }

    /// The committed result's directory, if there is one.
    pub fn lookup(&self, kind: Kind, key: &CacheKey) -> Result<Option<PathBuf>, Error> {
        self.store
            .result(kind, &key.to_hex())
            .map_err(|source| Error::Store {
                source: Box::new(source),
            })
    }

    /// The committed result of `key`; when there is none, `build` fills a
    /// fresh entry, which is then committed. Under the key's lock, so two
    /// processes never build one key at once; a failed build leaves nothing
    /// behind. `description` tells people what the result is (`du`).
    pub fn get_or_build(
        &self,
        kind: Kind,
        key: &CacheKey,
        description: &str,
        parents: &[PathBuf],
        build: impl FnOnce(&Path) -> Result<(), Error>,
    ) -> Result<Entry, Error> {
        let store_error = |source| Error::Store {
            source: Box::new(source),
        };
        match self
            .store
            .prepare(kind, &key.to_hex())
            .map_err(store_error)?
        {
            Prepared::Committed(dir) => Ok(Entry { dir, built: false }),
            Prepared::Active(active) => {
                build(active.dir())?;
                let dir = active.commit(description, parents).map_err(store_error)?;
                Ok(Entry { dir, built: true })
            }
        }
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
    fn a_result_exists_only_once_built_and_a_failed_build_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path(), snapshotter::Limits::default()).unwrap();
        let memo = Memo::new(store);
        let key = KeyBuilder::new("t").finish();
        assert!(memo.lookup(Kind::Exec, &key).unwrap().is_none());
        let failed = memo.get_or_build(Kind::Exec, &key, "test", &[], |dir| {
            std::fs::create_dir(dir.join("fs")).unwrap();
            Err(Error::NoCommand)
        });
        assert!(matches!(failed, Err(Error::NoCommand)));
        assert!(memo.lookup(Kind::Exec, &key).unwrap().is_none());
        assert_eq!(
            std::fs::read_dir(root.path().join("snapshots/tmp"))
                .unwrap()
                .count(),
            0
        );
        let built = memo
            .get_or_build(Kind::Exec, &key, "test", &[], |dir| {
                std::fs::create_dir(dir.join("fs")).map_err(|source| Error::Memo {
                    path: dir.to_owned(),
                    source,
                })
            })
            .unwrap();
        assert!(built.built);
        let found = memo
            .get_or_build(Kind::Exec, &key, "test", &[], |_| panic!("built twice"))
            .unwrap();
        assert!(!found.built);
        assert_eq!(found.dir, built.dir);
        assert_eq!(memo.lookup(Kind::Exec, &key).unwrap(), Some(built.dir));
    }
}
