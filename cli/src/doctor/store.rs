//! The store: where it is, and whether overlay mounts there.

use std::path::{Path, PathBuf};
use std::process::Command;

use engine::snapshotter_choice::{Setting, SNAPSHOTTER_ENV};

use super::{bad, ok, Check, Verdict};
use crate::output;

pub(super) fn overlay(root: &Path) -> Check {
    let name = "snapshotter";
    let setting = match Setting::load() {
        Ok(setting) => setting,
        Err(e) => {
            return bad(
                name,
                Verdict::Fail,
                format!("{e:#}"),
                format!("set {SNAPSHOTTER_ENV} to auto, overlay or copy"),
            )
        }
    };
    if setting == Setting::Copy {
        return ok(
            name,
            format!("copy ({SNAPSHOTTER_ENV}=copy): steps run on copies of their layers"),
        );
    }
    // Probe in the store's own directory (or the nearest one that exists):
    // the file system under test is the store's.
    let dir = root
        .ancestors()
        .find(|p| p.is_dir())
        .unwrap_or(Path::new("/tmp"));
    let refused = match store_on_overlay(dir) {
        Some(why) => why,
        None => match probe_overlay(dir) {
            Ok(()) => {
                return ok(
                    name,
                    format!(
                    "overlay: mounts in tanto's namespace on {}; whiteouts and opaque dirs work",
                    dir.display()
                ),
                )
            }
            Err(why) => why,
        },
    };
    let volume = "put the store on a volume: mount one (a Kubernetes `emptyDir`, `podman run -v`; ext4, xfs or btrfs) and set TANTO_ROOT to a directory in it";
    match setting {
        Setting::Overlay => bad(
            name,
            Verdict::Fail,
            format!("{SNAPSHOTTER_ENV} is overlay, but {refused}"),
            format!("{volume}, or unset {SNAPSHOTTER_ENV} to copy layers instead"),
        ),
        _ => bad(
            name,
            Verdict::Warn,
            format!("copy: {refused}, so steps run on copies of their layers (slower, more disk)"),
            format!("{volume}; overlay needs Linux 5.11 or later and user xattrs"),
        ),
    }
}

/// Runs the overlay probe in tanto's namespace; what it said when it fails.
fn probe_overlay(dir: &Path) -> Result<(), String> {
    let scratch = dir.join(format!(".tanto-doctor-{}", std::process::id()));
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let outcome = Command::new(exe)
        .arg("__probe-overlay")
        .arg(&scratch)
        // Its own warnings (a single-id mapping, say) are other checks' business.
        .env("RUST_LOG", "off")
        .output();
    match outcome {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => {
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            Err(format!(
                "overlay cannot be mounted on {}: {}",
                dir.display(),
                said.trim().replace('\n', "; ")
            ))
        }
        Err(e) => Err(format!("cannot run the overlay probe: {e}")),
    }
}

/// The store on an overlay file system (a container's own root): overlay
/// cannot be mounted on top of it.
fn store_on_overlay(dir: &Path) -> Option<String> {
    let stat = nix::sys::statfs::statfs(dir).ok()?;
    (stat.filesystem_type() == nix::sys::statfs::OVERLAYFS_SUPER_MAGIC).then(|| {
        format!(
            "{} is on an overlay file system (a container's root file system), where overlay cannot be mounted",
            dir.display()
        )
    })
}

pub(super) fn store(root: &Path) -> Check {
    let name = "store";
    let existing = root
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    match nix::sys::statvfs::statvfs(existing) {
        Ok(stat) => {
            let free = stat.blocks_available() * stat.fragment_size();
            let found = format!("{} ({} free)", root.display(), output::bytes(free));
            if free < 2_000_000_000 {
                bad(
                    name,
                    Verdict::Warn,
                    found,
                    "free some space or point TANTO_ROOT elsewhere: images need room to unpack"
                        .into(),
                )
            } else {
                ok(name, found)
            }
        }
        Err(e) => bad(
            name,
            Verdict::Fail,
            format!("{}: {e}", root.display()),
            "set TANTO_ROOT to a writable directory".into(),
        ),
    }
}
