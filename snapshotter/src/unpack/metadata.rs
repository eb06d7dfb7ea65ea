//! An entry's metadata as a layer records it (mode, owners, mtime, xattrs),
//! read from its header and applied to what the unpacker made: as
//! recorded in a snapshot, as the user's files in an export
//! (`applied.rs`), which keeps no owners and no xattrs.

use std::ffi::CStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use super::Unpacker;
use crate::{overlay, sys, Error};

/// The metadata of one entry that we apply, gathered before its data is read.
pub(super) struct Meta {
    pub(super) mode: u32,
    pub(super) uid: u64,
    pub(super) gid: u64,
    pub(super) mtime: i64,
    pub(super) xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Unpacker<'_> {
    pub(super) fn meta<R: Read>(
        &self,
        entry: &mut tar::Entry<R>,
        shown: &str,
    ) -> Result<Meta, Error> {
        let header = entry.header();
        let bad =
            |what: &str| self.unsafe_entry(shown, &format!("its header has an invalid {what}"));
        let mut meta = Meta {
            mode: header.mode().map_err(|_| bad("mode"))? & 0o7777,
            uid: header.uid().map_err(|_| bad("uid"))?,
            gid: header.gid().map_err(|_| bad("gid"))?,
            mtime: header.mtime().map_err(|_| bad("mtime"))? as i64,
            xattrs: Vec::new(),
        };
        if let Some(extensions) = entry
            .pax_extensions()
            .map_err(|source| self.read_error(source))?
        {
            for extension in extensions {
                let extension = extension.map_err(|source| self.read_error(source))?;
                let key = extension.key_bytes();
                let value = extension.value_bytes();
                let number = || {
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.parse::<u64>().ok())
                };
                match key {
                    b"uid" => meta.uid = number().ok_or_else(|| bad("PAX uid"))?,
                    b"gid" => meta.gid = number().ok_or_else(|| bad("PAX gid"))?,
                    _ => {
                        if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                            meta.xattrs.push((name.to_vec(), value.to_vec()));
                        }
                    }
                }
            }
        }
        Ok(meta)
    }

    pub(super) fn set_dir_meta(
        &mut self,
        dir: &OwnedFd,
        path: &Path,
        meta: &Meta,
        shown: &str,
    ) -> Result<(), Error> {
        if let Some(applied) = self.applied.as_deref_mut() {
            // Its mode waits until every layer is in (see `applied.rs`).
            applied.dir_listed(path, meta.mode, meta.mtime);
            return Ok(());
        }
        if path.as_os_str().is_empty() {
            // The layer root has no name in a parent: chown it by descriptor.
            let owner = u32::try_from(meta.uid).and_then(|uid| Ok((uid, u32::try_from(meta.gid)?)));
            let result = match owner {
                Ok((uid, gid)) => sys::chown_fd(dir.as_fd(), uid, gid),
                Err(_) => Err(io::Error::from_raw_os_error(libc::EINVAL)),
            };
            result.map_err(|e| self.chown_error(e, meta, shown))?;
        }
        sys::chmod_fd(dir.as_fd(), meta.mode).map_err(|e| self.io_error(path, e))?;
        self.set_xattrs(dir.as_fd(), meta, shown)?;
        if !path.as_os_str().is_empty() {
            self.dir_mtimes.push((path.to_owned(), meta.mtime));
        }
        Ok(())
    }

    pub(super) fn chown(
        &self,
        dir: BorrowedFd,
        name: &CStr,
        meta: &Meta,
        shown: &str,
    ) -> Result<(), Error> {
        if self.applied.is_some() {
            // An export's files are the user's: left as made.
            return Ok(());
        }
        let (uid, gid) = match (u32::try_from(meta.uid), u32::try_from(meta.gid)) {
            (Ok(uid), Ok(gid)) => (uid, gid),
            _ => {
                return Err(self.chown_error(
                    io::Error::from_raw_os_error(libc::EINVAL),
                    meta,
                    shown,
                ))
            }
        };
        sys::chown_at(dir, name, uid, gid).map_err(|e| self.chown_error(e, meta, shown))
    }

    fn chown_error(&self, error: io::Error, meta: &Meta, shown: &str) -> Error {
        if error.raw_os_error() == Some(libc::EINVAL) {
            Error::UnmappedId {
                layer: self.layer.to_owned(),
                entry: shown.to_owned(),
                uid: meta.uid,
                gid: meta.gid,
            }
        } else {
            self.io_error(Path::new(shown), error)
        }
    }

    /// Applies the xattrs a layer may carry. Overlay's own are refused: a
    /// layer must not forge whiteouts, opaque markers or redirects that we
    /// did not derive from its entries.
    pub(super) fn set_xattrs(&self, fd: BorrowedFd, meta: &Meta, shown: &str) -> Result<(), Error> {
        if self.applied.is_some() {
            return Ok(());
        }
        for (name, value) in &meta.xattrs {
            if overlay::is_overlay_xattr(name) {
                return Err(self.unsafe_entry(
                    shown,
                    "it carries an overlay xattr, which only tanto may set",
                ));
            }
            let cname = sys::cstring(name).map_err(|e| self.io_error(Path::new(shown), e))?;
            if let Err(e) = sys::set_xattr_fd(fd, &cname, value) {
                // security.selinux and trusted.* are not ours to set in a user
                // namespace; losing them is what rootless podman does too.
                tracing::debug!(
                    "layer {}: cannot set xattr {} on {shown:?}: {e}",
                    self.layer,
                    String::from_utf8_lossy(name)
                );
            }
        }
        Ok(())
    }
}
