//! Bringing the store within a GC policy: one road for the collection at
//! the end of a run (`gc.rs`), `EngineCache.prune` with the policy, and the
//! collection during a run when the disk runs low (below).

use snapshotter::Store;

use crate::context::Context;
use crate::error::Error;
use crate::gc_policy::{GcPolicy, Trigger, Usage};
use crate::store_admin::{prune_store, store_error, PruneOptions, PruneReport};

/// What a collection did.
#[derive(Debug)]
pub struct Collected {
    /// The threshold the store had crossed.
    pub trigger: Trigger,
    pub report: PruneReport,
    /// Bytes the policy asked to free (more than `report.freed` when what
    /// remained was in use or too recent).
    pub wanted: u64,
}

/// Frees what `policy` asks for the store's usage and disk now, least
/// recently used first, cache volumes last, never what a running tanto
/// uses; `None` when the store is already within it.
pub(crate) fn collect_within(store: &Store, policy: &GcPolicy) -> Result<Option<Collected>, Error> {
    let store_used = store
        .entries()
        .map_err(store_error)?
        .iter()
        .map(|e| e.size)
        .sum();
    let (disk_total, disk_free) = snapshotter::disk_space(store.root()).map_err(store_error)?;
    let plan = policy.resolve(Usage {
        disk_total,
        disk_free,
        store_used,
    });
    let Some(trigger) = plan.trigger.filter(|_| plan.free_bytes > 0) else {
        return Ok(None);
    };
    let report = prune_store(
        store,
        &PruneOptions {
            keep_duration: plan.unused_for,
            bytes_to_free: Some(plan.free_bytes),
            cache_volumes: true,
            dry_run: false,
        },
    )?;
    tracing::debug!(?trigger, freed = report.freed, "garbage collected");
    Ok(Some(Collected {
        trigger,
        report,
        wanted: plan.free_bytes,
    }))
}

/// At most this often during a run.
const DURING_RUN_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// After a step made something new: when the disk has fallen under the
/// policy's min free space, collect now rather than at the end of the run
/// (what this run uses is leased and stays).
pub(crate) fn collect_if_disk_low(ctx: &Context) {
    let policy = &ctx.gc_policy;
    if !policy.enabled {
        return;
    }
    let Ok((disk_total, disk_free)) = snapshotter::disk_space(ctx.store.root()) else {
        return;
    };
    if disk_free >= policy.limits(disk_total).min_free_space {
        return;
    }
    {
        let mut last = ctx.gc_last_run.lock().unwrap();
        if last.is_some_and(|at| at.elapsed() < DURING_RUN_EVERY) {
            return;
        }
        *last = Some(std::time::Instant::now());
    }
    match collect_within(&ctx.store, policy) {
        Ok(None) => {}
        Ok(Some(collected)) => tracing::warn!(
            "the disk ran low during the run: garbage collection freed {} bytes",
            collected.report.freed
        ),
        Err(error) => tracing::warn!("garbage collection failed: {}", crate::report(&error)),
    }
}
