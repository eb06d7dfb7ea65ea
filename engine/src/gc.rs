//! Automatic garbage collection: after a session or a query, the store is
//! brought back within the policy (`gc_policy`: Dagger's knobs and
//! defaults, from `config.toml` and the environment), least recently used
//! first, cache volumes last, never what another running tanto uses.

use snapshotter::PruneRequest;

use crate::engine::Engine;
use crate::error::Error;
use crate::gc_policy::{GcPolicy, Trigger, Usage};
use crate::store_admin::PruneReport;

/// What an automatic collection did.
#[derive(Debug)]
pub struct Collected {
    /// The threshold the store had crossed.
    pub trigger: Trigger,
    pub report: PruneReport,
    /// Bytes the policy asked to free (more than `report.freed` when what
    /// remained was in use or too recent).
    pub wanted: u64,
}

impl Engine {
    /// Collects garbage if the store is over the policy (`GcPolicy::load`);
    /// `None` when the policy is off or nothing had to go. This engine's own
    /// leases end first: call it once its work is done.
    pub fn collect_garbage(&self) -> Result<Option<Collected>, Error> {
        let policy = GcPolicy::load().map_err(|source| Error::GcPolicy {
            source: Box::new(source),
        })?;
        if !policy.enabled {
            return Ok(None);
        }
        let store = &self.ctx.store;
        let store_error = |source| Error::Store {
            source: Box::new(source),
        };
        store.release_leases().map_err(store_error)?;
        let entries = store.entries().map_err(store_error)?;
        let (disk_total, disk_free) = snapshotter::disk_space(store.root()).map_err(store_error)?;
        let plan = policy.resolve(Usage {
            disk_total,
            disk_free,
            store_used: entries.iter().map(|e| e.size).sum(),
        });
        let Some(trigger) = plan.trigger.filter(|_| plan.free_bytes > 0) else {
            return Ok(None);
        };
        let report = store
            .prune(&PruneRequest {
                unused_for: plan.unused_for,
                bytes_to_free: Some(plan.free_bytes),
                cache_volumes: true,
                dry_run: false,
            })
            .map_err(store_error)?;
        tracing::debug!(?trigger, freed = report.freed, "garbage collected");
        Ok(Some(Collected {
            trigger,
            wanted: plan.free_bytes,
            report,
        }))
    }
}
