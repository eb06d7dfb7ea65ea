//! The memo: the engine's step results, kept by the store under their cache
//! key (`snapshotter`'s results: prepare, fill, commit), and the record an
//! exec leaves beside its layer (`result.json`).
//!
//! A result is a directory holding `fs` (the layer the step added) and, for
//! execs, `result.json`, `stdout` and `stderr`. Processes agree on who makes
//! a result through the store's lock per key, so identical work in flight in
//! two `tanto` processes runs once.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use snapshotter::{Prepared, Store};

use crate::cache_key::CacheKey;
use crate::error::Error;
use crate::registry_cache::RegistryCache;

pub(crate) use snapshotter::ResultKind as Kind;

/// What an exec step left besides its layer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ExecRecord {
    pub exit_code: i32,
    pub args: Vec<String>,
    /// The step read a secret: its result stays out of registry caches
    /// unless the user exports such steps.
    #[serde(default)]
    pub reads_secrets: bool,
}

/// A committed result, and whether this call built it (or fetched it
/// from a registry cache).
pub(crate) struct Entry {
    pub dir: PathBuf,
    pub built: bool,
    pub fetched: bool,
}

#[derive(Clone)]
pub(crate) struct Memo {
    store: Store,
    /// `--cache-from` and `--cache-to`, when the run has any.
    registry_cache: Option<Arc<RegistryCache>>,
}

impl Memo {
    pub fn new(store: Store) -> Memo {
        Memo {
            store,
            registry_cache: None,
        }
    }

    /// Results are looked up in registry caches too, and noted for export.
    pub fn with_registry_cache(mut self, cache: Arc<RegistryCache>) -> Memo {
        self.registry_cache = Some(cache).filter(|c| c.is_used());
        self
    }

    /// The committed result's directory, if there is one.
    pub fn lookup(&self, kind: Kind, key: &CacheKey) -> Result<Option<PathBuf>, Error> {
        let found = self
            .store
            .result(kind, &key.to_hex())
            .map_err(|source| Error::Store {
                source: Box::new(source),
            })?;
        if let (Some(dir), Some(cache)) = (&found, &self.registry_cache) {
            cache.touched(kind, key, dir, "");
        }
        Ok(found)
    }

    /// The committed result's directory, fetched from a registry cache when
    /// only a cache has it (records kept by key: nothing to build here).
    pub fn find(
        &self,
        kind: Kind,
        key: &CacheKey,
        description: &str,
    ) -> Result<Option<PathBuf>, Error> {
        self.fetch(kind, key, description, &[])
    }

    /// [`Memo::find`] for a result made on top of `parents` (recorded, for
    /// the collector, whether or not they are on disk yet): a layer is a
    /// diff, so it can be fetched before the chain below it.
    pub fn fetch(
        &self,
        kind: Kind,
        key: &CacheKey,
        description: &str,
        parents: &[PathBuf],
    ) -> Result<Option<PathBuf>, Error> {
        if let Some(dir) = self.lookup(kind, key)? {
            return Ok(Some(dir));
        }
        if self.registry_cache.is_none() {
            return Ok(None);
        }
        let entry = self.obtain(kind, key, description, parents, None::<BuildNothing>)?;
        Ok(entry.map(|entry| entry.dir))
    }

    /// The committed result of `key`; when there is none, it is fetched
    /// from a registry cache that has it, else `build` fills a fresh entry,
    /// which is then committed. Under the key's lock, so two processes never
    /// build one key at once; a failed build leaves nothing behind.
    /// `description` tells people what the result is (`du`).
    pub fn get_or_build(
        &self,
        kind: Kind,
        key: &CacheKey,
        description: &str,
        parents: &[PathBuf],
        build: impl FnOnce(&Path) -> Result<(), Error>,
    ) -> Result<Entry, Error> {
        let entry = self.obtain(kind, key, description, parents, Some(build))?;
        Ok(entry.expect("an entry is built when no cache has it"))
    }

    /// The committed result of `key`, else one fetched from a registry
    /// cache, else one `build` makes; `None` only without `build`.
    fn obtain(
        &self,
        kind: Kind,
        key: &CacheKey,
        description: &str,
        parents: &[PathBuf],
        build: Option<impl FnOnce(&Path) -> Result<(), Error>>,
    ) -> Result<Option<Entry>, Error> {
        let store_error = |source| Error::Store {
            source: Box::new(source),
        };
        match self
            .store
            .prepare(kind, &key.to_hex())
            .map_err(store_error)?
        {
            Prepared::Committed(dir) => {
                self.touched(kind, key, &dir, description);
                Ok(Some(Entry {
                    dir,
                    built: false,
                    fetched: false,
                }))
            }
            Prepared::Active(active) => {
                let fetched = self
                    .registry_cache
                    .as_ref()
                    .and_then(|cache| cache.fetch(kind, key, active.dir()));
                if fetched.is_none() {
                    match build {
                        Some(build) => build(active.dir())?,
                        // Dropped uncommitted: nothing is left behind.
                        None => return Ok(None),
                    }
                }
                let dir = active.commit(description, parents).map_err(store_error)?;
                self.touched(kind, key, &dir, description);
                Ok(Some(Entry {
                    dir,
                    built: fetched.is_none(),
                    fetched: fetched.is_some(),
                }))
            }
        }
    }

    fn touched(&self, kind: Kind, key: &CacheKey, dir: &Path, description: &str) {
        if let Some(cache) = &self.registry_cache {
            cache.touched(kind, key, dir, description);
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

/// What [`Memo::find`] builds when no registry cache has the result: nothing.
type BuildNothing = fn(&Path) -> Result<(), Error>;

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
