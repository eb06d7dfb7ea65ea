//! `tanto prune`: taking space back from the store, least recently used
//! first, never what a running tanto uses. With no size given it removes
//! everything nobody uses (cache volumes with `--cache-volumes`); with
//! sizes, Dagger's GC knobs say how much (engine's `gc_policy`).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use engine::gc_policy::{parse_duration, GcPolicy, Space, Usage};
use engine::{PruneOptions, StoreAdmin};

use crate::output;

#[derive(clap::Args)]
pub struct Args {
    /// Remove everything nobody uses, cache volumes included; afterwards the
    /// store directory can be deleted with a plain `rm -rf`
    #[arg(long)]
    all: bool,
    /// Keep what was used more recently than this (`48h`, `30m`, `7d`, `1h30m`, seconds)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    keep_duration: Option<Duration>,
    /// Prune until the store uses at most this (`512MB`, `10GiB`, bytes, or `75%` of the disk)
    #[arg(long, value_name = "SIZE")]
    max_used_space: Option<Space>,
    /// Never prune the store below this
    #[arg(long, value_name = "SIZE")]
    reserved_space: Option<Space>,
    /// Prune until the disk has this much free
    #[arg(long, value_name = "SIZE")]
    min_free_space: Option<Space>,
    /// Prune down to this size
    #[arg(long, value_name = "SIZE")]
    target_space: Option<Space>,
    /// Cache volumes too (always last)
    #[arg(long)]
    cache_volumes: bool,
    /// Say what would be removed; remove nothing
    #[arg(long)]
    dry_run: bool,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let admin = StoreAdmin::open(root)?;
    let bytes_to_free = if args.all {
        None
    } else {
        bytes_to_free(&admin, &args)?
    };
    if bytes_to_free == Some(0) {
        output::status("nothing to prune: the store is within the sizes given");
        return Ok(ExitCode::SUCCESS);
    }
    let report = admin.prune(&PruneOptions {
        keep_duration: if args.all { None } else { args.keep_duration },
        bytes_to_free,
        cache_volumes: args.all || args.cache_volumes,
        dry_run: args.dry_run,
    })?;
    for entry in &report.removed {
        output::status(&format!(
            "{} {} {} ({})",
            if args.dry_run {
                "would remove"
            } else {
                "removed"
            },
            crate::du::kind_name(entry.kind),
            if entry.description.is_empty() {
                &entry.id
            } else {
                &entry.description
            },
            output::bytes(entry.size)
        ));
    }
    if report.skipped_in_use > 0 {
        output::status(&format!(
            "kept {} entries a running tanto started using meanwhile",
            report.skipped_in_use
        ));
    }
    output::line(&format!(
        "{} {} in {} entries",
        if args.dry_run { "would free" } else { "freed" },
        output::bytes(report.freed),
        report.removed.len()
    ));
    Ok(ExitCode::SUCCESS)
}

/// What the sizes given ask to free; `None` when none is given (remove all
/// that is selected).
fn bytes_to_free(admin: &StoreAdmin, args: &Args) -> anyhow::Result<Option<u64>> {
    let sizes = [
        args.max_used_space,
        args.reserved_space,
        args.min_free_space,
        args.target_space,
    ];
    if sizes.iter().all(Option::is_none) {
        return Ok(None);
    }
    let usage = admin.usage()?;
    // A knob not given does not trigger anything.
    let policy = GcPolicy {
        enabled: true,
        keep_duration: args.keep_duration,
        reserved_space: Some(args.reserved_space.unwrap_or(Space::Bytes(0))),
        max_used_space: args.max_used_space.unwrap_or(Space::percent(100)),
        min_free_space: args.min_free_space.unwrap_or(Space::Bytes(0)),
        target_space: args.target_space,
    };
    let plan = policy.resolve(Usage {
        disk_total: usage.disk_total,
        disk_free: usage.disk_free,
        store_used: usage.total,
    });
    // Asked for by hand, a target is a goal of its own.
    let to_target = args.target_space.map_or(0, |target| {
        let keep = target
            .resolve(usage.disk_total)
            .max(plan.limits.reserved_space);
        usage.total.saturating_sub(keep)
    });
    Ok(Some(plan.free_bytes.max(to_target)))
}
