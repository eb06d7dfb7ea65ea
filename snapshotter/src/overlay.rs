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

use std::ffi::CStr;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;

use crate::sys;

/// The xattr that makes a directory opaque.
pub const OPAQUE_XATTR: &str = "user.overlay.opaque";
const OPAQUE_XATTR_C: &CStr = c"user.overlay.opaque";

/// The value of `OPAQUE_XATTR` that makes a directory opaque.
pub const OPAQUE_VALUE: &[u8] = b"y";

/// The namespaces of overlay's own xattrs.
const XATTR_PREFIXES: [&[u8]; 2] = [b"user.overlay.", b"trusted.overlay."];

/// Whether a file with this `st_mode` and `st_rdev` is a whiteout.
pub fn is_whiteout(mode: u32, rdev: u64) -> bool {
    mode & libc::S_IFMT == libc::S_IFCHR && rdev == 0
}

/// Makes a whiteout at `path` (which must not exist).
pub fn make_whiteout(path: &Path) -> io::Result<()> {
    sys::mknod(path, libc::S_IFCHR, 0, 0)
}

/// Makes a whiteout `name` in `dir` (which must not have it).
pub(crate) fn make_whiteout_at(dir: BorrowedFd, name: &CStr) -> io::Result<()> {
    sys::mknod_at(dir, name, libc::S_IFCHR, 0, 0)
}

/// Marks the directory at `path` opaque.
pub fn mark_opaque(path: &Path) -> io::Result<()> {
    sys::lset_xattr(path, OPAQUE_XATTR_C, OPAQUE_VALUE)
}

/// Marks the open directory `dir` opaque.
pub(crate) fn mark_opaque_fd(dir: BorrowedFd) -> io::Result<()> {
    sys::set_xattr_fd(dir, OPAQUE_XATTR_C, OPAQUE_VALUE)
}

/// Whether the directory at `path` is opaque; `false` on a file system
/// without xattrs.
pub fn is_opaque(path: &Path) -> io::Result<bool> {
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
