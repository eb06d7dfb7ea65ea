//! The registry cache: step results shared between runners through any OCI
//! registry, with no server of tanto's own. `--cache-to` pushes the results
//! a run made or used (`export.rs`); `--cache-from` looks a step's key up
//! before running it and fetches the result instead (`import.rs`). How an
//! entry sits in a registry, and why concurrent writers lose nothing, is in
//! `entry.rs`.
//!
//! What never crosses: cache volumes (they are not results), and results of
//! steps that read a secret unless the user exports them on purpose (their
//! output may carry it). Keys carry secrets only as keyed hashes, whose key
//! is the store's own, so such a step never matches another store's anyway.

mod entry;
mod export;
mod import;
mod spec;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use registry::Client;
use snapshotter::Store;

use crate::cache_key::CacheKey;
use snapshotter::ResultKind as Kind;

pub use export::ExportReport;
pub use spec::{CacheExport, CacheImport, CachePlace, ExportMode};

/// The caches a run reads and writes, and the results it touched.
pub(crate) struct RegistryCache {
    client: Client,
    store: Store,
    imports: Vec<Source>,
    exports: Vec<CacheExport>,
    /// Every result the run made or found, for export.
    touched: Mutex<Vec<Touched>>,
    /// What the run answered with: the layers of the chains and the
    /// results clients were given (`mode=min` exports only these).
    returned: Mutex<Vec<PathBuf>>,
    /// Keys (hex) of entries this run found unusable: their steps run here.
    refused: Mutex<HashSet<String>>,
}

/// A cache to import from, and its tags once listed.
struct Source {
    place: CachePlace,
    tags: OnceLock<HashSet<String>>,
}

#[derive(Clone)]
struct Touched {
    kind: Kind,
    key: CacheKey,
    dir: PathBuf,
    description: String,
}

impl RegistryCache {
    pub(crate) fn new(
        client: Client,
        store: Store,
        imports: Vec<CacheImport>,
        exports: Vec<CacheExport>,
    ) -> RegistryCache {
        RegistryCache {
            client,
            store,
            imports: imports
                .into_iter()
                .map(|import| Source {
                    place: import.place,
                    tags: OnceLock::new(),
                })
                .collect(),
            exports,
            touched: Mutex::default(),
            returned: Mutex::default(),
            refused: Mutex::default(),
        }
    }

    /// Whether results are looked for in a registry: then chains are
    /// solved lazily (`pending.rs`).
    pub(crate) fn imports_any(&self) -> bool {
        !self.imports.is_empty()
    }

    /// Whether there is anything to do at all.
    pub(crate) fn is_used(&self) -> bool {
        !self.imports.is_empty() || !self.exports.is_empty()
    }

    /// Notes what a client was answered with: a chain's layers, or a
    /// result's directory (for `mode=min`).
    pub(crate) fn returned(&self, paths: impl IntoIterator<Item = PathBuf>) {
        if self.exports.iter().any(|e| e.mode == ExportMode::Min) {
            self.returned.lock().unwrap().extend(paths);
        }
    }

    /// Whether a result (its directory) is, or holds a layer of, what a
    /// client was answered with.
    fn was_returned(&self, dir: &std::path::Path) -> bool {
        self.returned
            .lock()
            .unwrap()
            .iter()
            .any(|path| path.starts_with(dir))
    }

    /// Notes a result the run made or found, for `--cache-to`.
    pub(crate) fn touched(
        &self,
        kind: Kind,
        key: &CacheKey,
        dir: &std::path::Path,
        description: &str,
    ) {
        if self.exports.is_empty() {
            return;
        }
        self.touched.lock().unwrap().push(Touched {
            kind,
            key: *key,
            dir: dir.to_owned(),
            description: description.to_owned(),
        });
    }
}
