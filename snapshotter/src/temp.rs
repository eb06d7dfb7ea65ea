//! Temp names: what is being made is written under `<stem>.<pid>.<n>` and
//! renamed into place once complete, so whatever a crash leaves under such a
//! name is never trusted. The pid in the name tells whether its maker is
//! still alive; `remove_temps` clears what dead processes left.
//!
//! Layers, host imports and step results (`results.rs`) are all made under
//! such names in `snapshots/tmp/`, so the sweep in `Store::open` clears what
//! dead processes left of any of them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh `<stem>.<pid>.<n>` path in `dir`, unique within this process.
pub(crate) fn temp_name(dir: &Path, stem: &str) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{stem}.{}.{n}", std::process::id()))
}

/// Removes the `<stem>.<pid>.<n>` entries of `dir` that `select` picks, given
/// each one's name and the pid in it.
pub(crate) fn remove_temps(dir: &Path, select: impl Fn(&str, Option<i32>) -> bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.rsplit('.').nth(1).and_then(|p| p.parse::<i32>().ok());
        if !select(&name, pid) {
            continue;
        }
        let path = entry.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match removed {
            Ok(()) => tracing::debug!("removed {}, left by a process that died", path.display()),
            Err(e) => tracing::warn!("cannot remove stale {}: {e}", path.display()),
        }
    }
}

/// Whether `pid` is a running process. A zombie is not: a killed tanto whose
/// parent has not reaped it yet will never finish its work.
pub(crate) fn process_alive(pid: i32) -> bool {
    if pid == std::process::id() as i32 {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself
        // contain spaces and parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}
