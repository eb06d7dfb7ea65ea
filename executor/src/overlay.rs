//! What the executor must know of the overlay diff format (the snapshotter
//! defines it): an opaque directory is kept when mount points are cleaned
//! out of a step's upper directory, since it hides what is below.

/// The extended attribute that makes a directory of an upper (or diff)
/// directory hide what the layers below have there, as overlay reads it
/// when mounted with `userxattr`.
pub(crate) const OPAQUE_XATTR: &str = "user.overlay.opaque";

/// Sets an extended attribute, for tests that build upper directories.
#[cfg(test)]
pub(crate) fn xattr_set(path: &std::path::Path, name: &str, value: &[u8]) -> std::io::Result<()> {
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
