//! Looking after the store without running anything: what it holds
//! (`tanto du`) and taking space back (`tanto prune`, the collector).

use std::path::Path;
use std::time::Duration;

use snapshotter::{Limits, PruneRequest, Store};

use crate::error::Error;

pub use snapshotter::{EntryInfo, EntryKind, PruneReport};

/// A store opened for `du` and `prune`.
pub struct StoreAdmin {
    store: Store,
}

/// What the store holds, by kind.
#[derive(Clone, Debug, Default)]
pub struct StoreUsage {
    /// One line per kind, in [`EntryKind::ALL`]'s order.
    pub kinds: Vec<KindUsage>,
    pub total: u64,
    /// What nobody uses now: a prune could take it.
    pub reclaimable: u64,
    /// The least recent last use, nanoseconds since the epoch.
    pub oldest_use: Option<i64>,
    /// Every entry, least recently used first.
    pub entries: Vec<EntryInfo>,
    /// The store's file system: total and free bytes.
    pub disk_total: u64,
    pub disk_free: u64,
}

#[derive(Clone, Debug)]
pub struct KindUsage {
    pub kind: EntryKind,
    pub entries: usize,
    pub bytes: u64,
    pub reclaimable: u64,
}

/// What to prune; see `tanto prune --help`.
#[derive(Clone, Debug, Default)]
pub struct PruneOptions {
    /// Only what was unused for this long.
    pub keep_duration: Option<Duration>,
    /// Free at least this many bytes; `None`: everything selected.
    pub bytes_to_free: Option<u64>,
    pub cache_volumes: bool,
    pub dry_run: bool,
}

impl StoreAdmin {
    /// Opens the store at `root` (creating nothing but its skeleton).
    pub fn open(root: &Path) -> Result<StoreAdmin, Error> {
        let store = Store::open(root, Limits::default()).map_err(store_error)?;
        Ok(StoreAdmin { store })
    }

    pub fn usage(&self) -> Result<StoreUsage, Error> {
        usage_of(&self.store)
    }

    pub fn prune(&self, options: &PruneOptions) -> Result<PruneReport, Error> {
        prune_store(&self.store, options)
    }
}

/// What `store` holds, by kind, and its disk.
pub(crate) fn usage_of(store: &Store) -> Result<StoreUsage, Error> {
    let entries = store.entries().map_err(store_error)?;
    let (disk_total, disk_free) = snapshotter::disk_space(store.root()).map_err(store_error)?;
    let kinds = EntryKind::ALL
        .into_iter()
        .map(|kind| {
            let of_kind = entries.iter().filter(|e| e.kind == kind);
            KindUsage {
                kind,
                entries: of_kind.clone().count(),
                bytes: of_kind.clone().map(|e| e.size).sum(),
                reclaimable: of_kind.filter(|e| !e.in_use).map(|e| e.size).sum(),
            }
        })
        .collect::<Vec<_>>();
    Ok(StoreUsage {
        total: kinds.iter().map(|k| k.bytes).sum(),
        reclaimable: kinds.iter().map(|k| k.reclaimable).sum(),
        oldest_use: entries.iter().map(|e| e.last_used).min(),
        kinds,
        entries,
        disk_total,
        disk_free,
    })
}

pub(crate) fn prune_store(store: &Store, options: &PruneOptions) -> Result<PruneReport, Error> {
    store
        .prune(&PruneRequest {
            unused_for: options.keep_duration,
            bytes_to_free: options.bytes_to_free,
            cache_volumes: options.cache_volumes,
            dry_run: options.dry_run,
        })
        .map_err(store_error)
}

pub(crate) fn store_error(source: snapshotter::Error) -> Error {
    Error::Store {
        source: Box::new(source),
    }
}
