//! Collecting when the disk runs low during a run: after a step made
//! something new, if the disk is under the policy's min free space, the
//! store is brought back within it then, not at the end of the run.

use crate::context::Context;
use crate::error::Error;
use crate::gc_policy::Usage;

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
    let collect = || -> Result<u64, Error> {
        let usage = crate::store_admin::usage_of(&ctx.store)?;
        let plan = policy.resolve(Usage {
            disk_total,
            disk_free,
            store_used: usage.total,
        });
        if plan.free_bytes == 0 {
            return Ok(0);
        }
        let report = crate::store_admin::prune_store(
            &ctx.store,
            &crate::store_admin::PruneOptions {
                keep_duration: plan.unused_for,
                bytes_to_free: Some(plan.free_bytes),
                cache_volumes: true,
                dry_run: false,
            },
        )?;
        Ok(report.freed)
    };
    match collect() {
        Ok(0) => {}
        Ok(freed) => tracing::warn!(
            "the disk ran low during the run: garbage collection freed {freed} bytes"
        ),
        Err(error) => tracing::warn!("garbage collection failed: {}", crate::report(&error)),
    }
}
