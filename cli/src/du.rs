//! `tanto du`: what the store holds, by kind, how much of it a prune could
//! take now, and (`--verbose`) every entry, like `docker system df -v`.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use engine::{EntryKind, StoreAdmin, StoreUsage};

use crate::output;

#[derive(clap::Args)]
pub struct Args {
    /// List every entry: kind, size, last use and what it is
    #[arg(long, short)]
    verbose: bool,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let usage = StoreAdmin::open(root)?
        .usage()
        .with_context(|| format!("cannot read the store at {}", root.display()))?;
    if args.json {
        output::line(&serde_json::to_string_pretty(&as_json(
            &usage,
            args.verbose,
        ))?);
    } else {
        print_table(&usage, args.verbose);
    }
    Ok(ExitCode::SUCCESS)
}

/// How `du` names a kind for people.
pub fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::ImageLayer => "image layers",
        EntryKind::StepResult => "step results",
        EntryKind::FileOperation => "file operations",
        EntryKind::HostDirectory => "host directories",
        EntryKind::Blob => "blobs",
        EntryKind::CacheVolume => "cache volumes",
    }
}

fn percent(part: u64, whole: u64) -> u64 {
    (part * 100).checked_div(whole).unwrap_or(0)
}

fn print_table(usage: &StoreUsage, verbose: bool) {
    output::line(&format!(
        "{:<18} {:>8} {:>12} {:>18}",
        "KIND", "ENTRIES", "SIZE", "RECLAIMABLE"
    ));
    for kind in &usage.kinds {
        output::line(&format!(
            "{:<18} {:>8} {:>12} {:>18}",
            kind_name(kind.kind),
            kind.entries,
            output::bytes(kind.bytes),
            format!(
                "{} ({}%)",
                output::bytes(kind.reclaimable),
                percent(kind.reclaimable, kind.bytes)
            ),
        ));
    }
    output::line(&format!(
        "{:<18} {:>8} {:>12} {:>18}",
        "total",
        usage.entries.len(),
        output::bytes(usage.total),
        format!(
            "{} ({}%)",
            output::bytes(usage.reclaimable),
            percent(usage.reclaimable, usage.total)
        ),
    ));
    if let Some(oldest) = usage.oldest_use {
        output::line(&format!("oldest last use: {}", ago(oldest)));
    }
    output::line(&format!(
        "disk: {} free of {}",
        output::bytes(usage.disk_free),
        output::bytes(usage.disk_total)
    ));
    if verbose {
        output::line("");
        output::line(&format!(
            "{:<18} {:<16} {:>12} {:<16} {:<6} DESCRIPTION",
            "KIND", "ID", "SIZE", "LAST USED", "IN USE"
        ));
        for entry in &usage.entries {
            let id = entry.id.rsplit('/').next().unwrap_or(&entry.id);
            output::line(&format!(
                "{:<18} {:<16} {:>12} {:<16} {:<6} {}",
                kind_name(entry.kind),
                &id[..id.len().min(16)],
                output::bytes(entry.size),
                ago(entry.last_used),
                if entry.in_use { "yes" } else { "no" },
                entry.description
            ));
        }
    }
}

/// `3 hours ago`, for a time in nanoseconds since the epoch.
fn ago(nanos: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as i64;
    let secs = Duration::from_nanos(now.saturating_sub(nanos).max(0) as u64).as_secs();
    match secs {
        0..=59 => "just now".to_owned(),
        60..=3599 => format!("{} minutes ago", secs / 60),
        3600..=86_399 => format!("{} hours ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

fn as_json(usage: &StoreUsage, verbose: bool) -> serde_json::Value {
    let kinds: Vec<_> = usage
        .kinds
        .iter()
        .map(|k| {
            serde_json::json!({
                "kind": k.kind.code(),
                "entries": k.entries,
                "bytes": k.bytes,
                "reclaimableBytes": k.reclaimable,
            })
        })
        .collect();
    let mut answer = serde_json::json!({
        "kinds": kinds,
        "entries": usage.entries.len(),
        "bytes": usage.total,
        "reclaimableBytes": usage.reclaimable,
        "oldestUseUnixNano": usage.oldest_use,
        "diskBytes": usage.disk_total,
        "diskFreeBytes": usage.disk_free,
    });
    if verbose {
        answer["list"] = usage
            .entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "id": e.id,
                    "kind": e.kind.code(),
                    "bytes": e.size,
                    "createdUnixNano": e.created,
                    "lastUsedUnixNano": e.last_used,
                    "inUse": e.in_use,
                    "description": e.description,
                })
            })
            .collect();
    }
    answer
}
