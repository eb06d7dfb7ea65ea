//! Checking that overlay works here the way the store uses it: mounted with
//! `userxattr`, honouring char 0/0 whiteouts and `user.overlay.opaque`.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

/// Builds a two-layer overlay under `scratch` (which must not exist) and
/// checks what the merged view shows. Needs to run as root of a user
/// namespace (or real root). Leaves nothing behind.
pub fn probe(scratch: &Path) -> Result<(), String> {
    std::fs::create_dir_all(scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let result = probe_in(scratch);
    let _ = umount2(&scratch.join("merged"), MntFlags::MNT_DETACH);
    let _ = std::fs::remove_dir_all(scratch);
    result
}

fn probe_in(scratch: &Path) -> Result<(), String> {
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
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    }
    for file in [lower.join("gone"), lower.join("dir/hidden")] {
        std::fs::write(&file, "x").map_err(|e| format!("write {}: {e}", file.display()))?;
    }
    mknod(
        &upper.join("gone"),
        SFlag::S_IFCHR,
        Mode::empty(),
        makedev(0, 0),
    )
    .map_err(|e| format!("cannot create a whiteout (char 0/0): {e}"))?;
    xattr_set(&upper.join("dir"), "user.overlay.opaque", b"y").map_err(|e| {
        format!("cannot set user.overlay.opaque (does the file system support user xattrs?): {e}")
    })?;
    let options = format!(
        "lowerdir={},upperdir={},workdir={},userxattr",
        lower.display(),
        upper.display(),
        work.display()
    );
    mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .map_err(|e| format!("cannot mount overlay with userxattr: {e}"))?;
    if merged.join("gone").symlink_metadata().is_ok() {
        return Err("overlay ignored a whiteout".into());
    }
    if merged.join("dir/hidden").exists() {
        return Err("overlay ignored user.overlay.opaque".into());
    }
    Ok(())
}

fn xattr_set(path: &Path, name: &str, value: &[u8]) -> std::io::Result<()> {
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
        Err(std::io::Error::last_os_error())
    }
}
