//! The overlay diff format: how a layer directory says what it removes from
//! the layers below it, as overlayfs reads it when mounted with `userxattr`
//! (inside a user namespace). Every part of the store that writes or reads
//! layers — unpacking, packing, copies into new layers, the merged view —
//! takes the format from here.
//!
//! - A **whiteout** is a character device 0/0 with the name it hides: the
//!   name is gone from every lower layer.
//! - An **opaque directory** carries the xattr `user.overlay.opaque=y`: its
//!   own entries stay, everything below it in lower layers is hidden.
//! - Every other `user.overlay.*` xattr (and the privileged
//!   `trusted.overlay.*` ones) is overlay's own bookkeeping. Layer content
//!   never carries one: it would forge whiteouts, opaque markers or
//!   redirects.
//!
//! The path-based functions are public so that a check of the kernel's
//! overlay can build its layers in exactly the store's format.
//!
//! Where overlay cannot be mounted (the store on overlay itself, as on a
//! container's root file system), the same markers cannot be made either:
//! the kernel refuses a 0/0 device there. The copying snapshotter
//! (`copied_root.rs`) then writes the OCI layer format's markers instead,
//! as plain files — **whiteout files**: `.wh.NAME` hides NAME, and
//! `.wh..wh..opq` makes its directory opaque. Only steps that run on a
//! copy read such layers, never the kernel, so the process chooses one
//! form for all it writes ([`use_whiteout_files`]) and, in that form,
//! reads both (a store may hold layers from before).

use std::ffi::{CStr, OsStr};
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::sys;

/// The xattr that makes a directory opaque.
pub const OPAQUE_XATTR: &str = "user.overlay.opaque";
const OPAQUE_XATTR_C: &CStr = c"user.overlay.opaque";

/// The value of `OPAQUE_XATTR` that makes a directory opaque.
pub const OPAQUE_VALUE: &[u8] = b"y";

/// The namespaces of overlay's own xattrs.
const XATTR_PREFIXES: [&[u8]; 2] = [b"user.overlay.", b"trusted.overlay."];

/// A whiteout file's name is this and the name it hides.
pub const WHITEOUT_PREFIX: &str = ".wh.";

/// The whiteout file that makes its directory opaque.
pub const OPAQUE_FILE: &str = ".wh..wh..opq";

static WHITEOUT_FILES: AtomicBool = AtomicBool::new(false);

/// Writes whiteouts and opaque markers as files from now on, for the whole
/// process: the copying snapshotter's choice, made once before anything is
/// written.
pub fn use_whiteout_files() {
    WHITEOUT_FILES.store(true, Ordering::Relaxed);
}

/// Whether this process writes (and so also reads) whiteout files.
pub fn whiteout_files() -> bool {
    WHITEOUT_FILES.load(Ordering::Relaxed)
}

/// The name a whiteout file `name` hides, when whiteout files are in use;
/// `Some("")` for the opaque marker.
pub(crate) fn hidden_by(name: &OsStr) -> Option<&OsStr> {
    if !whiteout_files() {
        return None;
    }
    if name == OPAQUE_FILE {
        return Some(OsStr::new(""));
    }
    name.as_bytes()
        .strip_prefix(WHITEOUT_PREFIX.as_bytes())
        .map(OsStr::from_bytes)
}

/// Whether a file with this `st_mode` and `st_rdev` is a whiteout device.
pub fn is_whiteout(mode: u32, rdev: u64) -> bool {
    mode & libc::S_IFMT == libc::S_IFCHR && rdev == 0
}

/// Whether `dir` (a layer's directory) has a whiteout file for `name`.
pub(crate) fn has_whiteout_file(dir: &Path, name: &OsStr) -> bool {
    if !whiteout_files() {
        return false;
    }
    let mut file = std::ffi::OsString::from(WHITEOUT_PREFIX);
    file.push(name);
    dir.join(file).symlink_metadata().is_ok()
}

/// Makes a whiteout at `path` (which must not exist).
pub fn make_whiteout(path: &Path) -> io::Result<()> {
    sys::mknod(path, libc::S_IFCHR, 0, 0)
}

/// Makes a whiteout `name` in `dir` (which must not have it).
pub(crate) fn make_whiteout_at(dir: BorrowedFd, name: &CStr) -> io::Result<()> {
    if whiteout_files() {
        let mut file = WHITEOUT_PREFIX.as_bytes().to_vec();
        file.extend_from_slice(name.to_bytes());
        return make_marker_file(dir, &file);
    }
    sys::mknod_at(dir, name, libc::S_IFCHR, 0, 0)
}

/// An empty, read-only whiteout file `name` in `dir` (kept if there).
fn make_marker_file(dir: BorrowedFd, name: &[u8]) -> io::Result<()> {
    let name = sys::cstring(name)?;
    match sys::lstat_at(dir, &name)? {
        Some(_) => Ok(()),
        None => sys::create_file_at_mode(dir, &name, 0o444).map(drop),
    }
}

/// Marks the directory at `path` opaque.
pub fn mark_opaque(path: &Path) -> io::Result<()> {
    sys::lset_xattr(path, OPAQUE_XATTR_C, OPAQUE_VALUE)
}

/// Marks the open directory `dir` opaque.
pub(crate) fn mark_opaque_fd(dir: BorrowedFd) -> io::Result<()> {
    if whiteout_files() {
        return make_marker_file(dir, OPAQUE_FILE.as_bytes());
    }
    sys::set_xattr_fd(dir, OPAQUE_XATTR_C, OPAQUE_VALUE)
}

/// Whether the directory at `path` is opaque; `false` on a file system
/// without xattrs.
pub fn is_opaque(path: &Path) -> io::Result<bool> {
    if whiteout_files() && path.join(OPAQUE_FILE).symlink_metadata().is_ok() {
        return Ok(true);
    }
    Ok(sys::lget_xattr(path, OPAQUE_XATTR_C)?.is_some_and(|v| v == OPAQUE_VALUE))
}

/// Whether the xattr `name` is one of overlay's own.
pub(crate) fn is_overlay_xattr(name: &[u8]) -> bool {
    marker_name(name).is_some()
}

/// The name of an overlay xattr without its namespace (`opaque`,
/// `redirect`, …); `None` for an xattr that is not overlay's.
pub(crate) fn marker_name(xattr: &[u8]) -> Option<&[u8]> {
    XATTR_PREFIXES
        .iter()
        .find_map(|prefix| xattr.strip_prefix(*prefix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn overlay_xattrs_are_told_apart() {
        assert_eq!(marker_name(b"user.overlay.opaque"), Some(&b"opaque"[..]));
        assert_eq!(
            marker_name(b"trusted.overlay.redirect"),
            Some(&b"redirect"[..])
        );
        assert!(!is_overlay_xattr(b"user.other"));
        assert!(!is_overlay_xattr(b"security.capability"));
        assert!(is_overlay_xattr(OPAQUE_XATTR.as_bytes()));
    }

    #[test]
    fn path_based_markers_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let opaque = dir.path().join("opq");
        std::fs::create_dir(&opaque).unwrap();
        assert!(!is_opaque(&opaque).unwrap());
        mark_opaque(&opaque).unwrap();
        assert!(is_opaque(&opaque).unwrap());
        // Since Linux 5.8 a whiteout needs no privilege.
        let gone = dir.path().join("gone");
        make_whiteout(&gone).unwrap();
        let meta = std::fs::symlink_metadata(&gone).unwrap();
        assert!(is_whiteout(meta.mode(), meta.rdev()));
        std::fs::write(dir.path().join("f"), "x").unwrap();
        let meta = std::fs::symlink_metadata(dir.path().join("f")).unwrap();
        assert!(!is_whiteout(meta.mode(), meta.rdev()));
    }
}
