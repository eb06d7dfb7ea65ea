//! Checking that overlay works here the way the store uses it: mounted with
//! `userxattr`, honouring char 0/0 whiteouts and `user.overlay.opaque`.

use std::io;
use std::path::Path;

use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use crate::{mount_overlay, unmount, Error};

/// The extended attribute that makes a directory of an upper (or diff)
/// directory hide what the layers below have there, as overlay reads it
/// when mounted with `userxattr`.
pub(crate) const OPAQUE_XATTR: &str = "user.overlay.opaque";

/// Builds a two-layer overlay under `scratch` (which must not exist) and
/// checks what the merged view shows. Needs to run as root of a user
/// namespace (or real root). Leaves nothing behind.
pub fn probe(scratch: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(scratch)
        .map_err(|source| probe_error(format!("cannot create {}", scratch.display()), source))?;
    let result = probe_in(scratch);
    let _ = unmount(&scratch.join("merged"));
    let _ = std::fs::remove_dir_all(scratch);
    result
}

fn probe_in(scratch: &Path) -> Result<(), Error> {
    let [lower, upper, work, merged] =
        ["lower", "upper", "work", "merged"].map(|d| scratch.join(d));
    for dir in [
        &lower,
        &upper,
        &work,
        &merged,
        &lower.join("dir"),
        &upper.join("dir"),
    ] {
        std::fs::create_dir_all(dir)
            .map_err(|source| probe_error(format!("mkdir {}", dir.display()), source))?;
    }
    for file in [lower.join("gone"), lower.join("dir/hidden")] {
        std::fs::write(&file, "x")
            .map_err(|source| probe_error(format!("write {}", file.display()), source))?;
    }
    mknod(
        &upper.join("gone"),
        SFlag::S_IFCHR,
        Mode::empty(),
        makedev(0, 0),
    )
    .map_err(|errno| {
        probe_error(
            "cannot create a whiteout (char 0/0)".into(),
            io::Error::from(errno),
        )
    })?;
    xattr_set(&upper.join("dir"), OPAQUE_XATTR, b"y").map_err(|source| {
        probe_error(
            format!("cannot set {OPAQUE_XATTR} (does the file system support user xattrs?)"),
            source,
        )
    })?;
    mount_overlay(&[lower], &upper, &work, &merged).map_err(|error| match error {
        Error::OverlayMount { source, .. } => probe_error(
            "cannot mount overlay with userxattr".into(),
            io::Error::from(source),
        ),
        other => other,
    })?;
    if merged.join("gone").symlink_metadata().is_ok() {
        return Err(Error::OverlayIgnored {
            what: "a whiteout".into(),
        });
    }
    if merged.join("dir/hidden").exists() {
        return Err(Error::OverlayIgnored {
            what: OPAQUE_XATTR.into(),
        });
    }
    Ok(())
}

fn probe_error(what: String, source: io::Error) -> Error {
    Error::OverlayProbe { what, source }
}

pub(crate) fn xattr_set(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    let name = std::ffi::CString::new(name)?;
    // SAFETY: valid C strings and byte slice.
    let ret = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
