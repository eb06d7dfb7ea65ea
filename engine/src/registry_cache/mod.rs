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
pub use spec::{CacheExport, CacheImport, CachePlace};

/// The caches a run reads and writes, and the results it touched.
pub(crate) struct RegistryCache {
    client: Client,
    store: Store,
    imports: Vec<Source>,
    exports: Vec<CacheExport>,
    /// Every result the run made or found, for export.
    touched: Mutex<Vec<Touched>>,
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
        }
    }

    /// Whether there is anything to do at all.
    pub(crate) fn is_used(&self) -> bool {
        !self.imports.is_empty() || !self.exports.is_empty()
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
