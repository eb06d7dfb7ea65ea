//! Mounting an overlay outside a step, with the options every step's root
//! is mounted with (`userxattr`): for the engine's check that overlay works
//! here the way the store uses it.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::exec::absolute_overlay_options;
use crate::Error;

/// Mounts a writable overlay of `lowers` (top first) with `upper` and `work`
/// at `target`. Paths are given whole (the process may have threads, so it
/// cannot chdir to shorten them): a chain too long for one page of options
/// is [`Error::LowerDirsTooLong`]. Needs to run as root of a user namespace
/// (or real root).
pub fn mount_overlay(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), Error> {
    let options = absolute_overlay_options(lowers, Some((upper, work)))?;
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .map_err(|source| Error::OverlayMount {
        target: target.to_owned(),
        source,
    })
}

/// Detaches the mount at `target` (lazily: it goes once nothing uses it).
pub fn unmount(target: &Path) -> Result<(), Error> {
    umount2(target, MntFlags::MNT_DETACH).map_err(|source| Error::Unmount {
        target: target.to_owned(),
        source,
    })
}
