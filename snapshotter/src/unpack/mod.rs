//! Applying one layer's tar stream to an empty directory, in the form overlay
//! expects when mounted with `userxattr` inside a user namespace:
//!
//! - `.wh.NAME` becomes an overlay whiteout named NAME (see `overlay.rs`);
//! - `.wh..wh..opq` marks its directory opaque;
//! - ownership, modes, xattrs, mtimes, symlinks and hardlinks are kept
//!   (unless the owners are squashed: see `owners.rs`);
//! - device nodes are created where the kernel allows it (real root) and
//!   skipped with a warning where it does not (a user namespace).
//!
//! Safety does not rest on string checks alone: every entry's parent is opened
//! with `openat2(RESOLVE_BENEATH)` and every change is made relative to that
//! descriptor, so a symlink planted by an earlier entry cannot redirect a later
//! one outside the snapshot.
//!
//! The same unpacker also applies layers one on another, for an export
//! written straight from a chain's blobs: see `applied.rs`.

mod applied;
mod metadata;

use std::ffi::{CStr, OsStr};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use tar::EntryType;

use crate::owners::{Owners, Squash};
use crate::{overlay, sys, Error};

pub(crate) use applied::Applied;
use applied::Place;

/// What one unpack did.
#[derive(Debug, Default, Clone)]
pub struct UnpackStats {
    pub entries: u64,
    pub file_bytes: u64,
    /// Device nodes that could not be created (rootless), by path.
    pub skipped_devices: Vec<String>,
}

pub(crate) struct Unpacker<'l> {
    root: OwnedFd,
    layer: &'l str,
    /// The owner every entry gets instead of its recorded one, if any.
    squash: Option<Squash>,
    /// Set when applying this layer on the ones below (an export).
    applied: Option<&'l mut Applied>,
    /// Directory mtimes are set last: adding children would change them.
    dir_mtimes: Vec<(PathBuf, i64)>,
    buffer: Vec<u8>,
    stats: UnpackStats,
}

impl<'l> Unpacker<'l> {
    pub(crate) fn new(dir: &Path, layer: &'l str, owners: Owners) -> Result<Unpacker<'l>, Error> {
        let root = sys::open_dir(dir).map_err(|source| Error::Unpack {
            layer: layer.to_owned(),
            entry: String::new(),
            source,
        })?;
        Ok(Unpacker {
            root,
            layer,
            squash: (owners == Owners::Squashed).then(Squash::own),
            applied: None,
            dir_mtimes: Vec::new(),
            buffer: vec![0; 256 << 10],
            stats: UnpackStats::default(),
        })
    }

    /// An unpacker that applies this layer on what `dir` holds (the
    /// layers below, applied before): see `applied.rs`.
    pub(crate) fn applying(
        dir: &Path,
        layer: &'l str,
        applied: &'l mut Applied,
    ) -> Result<Unpacker<'l>, Error> {
        let mut unpacker = Unpacker::new(dir, layer, Owners::Recorded)?;
        applied.start_layer();
        unpacker.applied = Some(applied);
        Ok(unpacker)
    }

    /// Unpacks every entry of `reader`, a tar stream. Stops at the tar
    /// end-of-archive marker; the caller drains what follows.
    pub(crate) fn unpack<R: Read>(mut self, reader: R) -> Result<UnpackStats, Error> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive
            .entries()
            .map_err(|source| self.read_error(source))?;
        for entry in entries {
            let mut entry = entry.map_err(|source| self.read_error(source))?;
            self.apply(&mut entry)?;
            self.stats.entries += 1;
        }
        for (path, mtime) in std::mem::take(&mut self.dir_mtimes).into_iter().rev() {
            let (parent, name) = split(&path);
            let name = sys::cstring(name.as_bytes()).map_err(|e| self.io_error(&path, e))?;
            let dir = sys::open_dir_beneath(self.root.as_fd(), parent, true)
                .map_err(|e| self.io_error(&path, e))?;
            sys::set_mtime_at(dir.as_fd(), &name, mtime).map_err(|e| self.io_error(&path, e))?;
        }
        Ok(self.stats)
    }

    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), Error> {
        let raw_path = entry
            .path()
            .map_err(|source| self.read_error(source))?
            .into_owned();
        let shown = raw_path.display().to_string();
        let path = normalize(&raw_path).map_err(|reason| self.unsafe_entry(&shown, reason))?;
        let kind = entry.header().entry_type();
        let mut meta = self.meta(entry, &shown)?;
        if let Some(squash) = self.squash {
            squash.apply(&mut meta.uid, &mut meta.gid, &mut meta.mode, kind.is_dir());
        }
        if let Some(target) = path
            .file_name()
            .and_then(|name| name.as_bytes().strip_prefix(b".wh."))
        {
            let parent = split(&path).0;
            return match self.applied {
                Some(_) => self.applied_whiteout(parent, target, &shown),
                None => self.whiteout(parent, target, &shown),
            };
        }
        let path = match self.applied.as_deref() {
            None => path,
            Some(applied) => {
                meta.mode &= applied::EXPORTED_BITS;
                match applied.place(&path) {
                    Place::Inside(rel) if rel.as_os_str().is_empty() && !kind.is_dir() => {
                        return Err(
                            self.not_streamable(&shown, "the exported path is not a directory")
                        )
                    }
                    Place::Inside(rel) => rel,
                    Place::Above if kind.is_dir() => return Ok(()),
                    Place::Above => {
                        return Err(self.not_streamable(
                            &shown,
                            "it puts a non-directory at or above the exported path",
                        ))
                    }
                    Place::Outside => return Ok(()),
                }
            }
        };

        if path.as_os_str().is_empty() {
            // The layer's own root ("./"): only its metadata applies.
            if kind.is_dir() {
                let root = self.root.try_clone().map_err(|e| self.io_error(&path, e))?;
                self.set_dir_meta(&root, &path, &meta, &shown)?;
                return Ok(());
            }
            return Err(self.unsafe_entry(&shown, "the layer root must be a directory"));
        }
        let (parent, name) = split(&path);
        let dir = self.parent_dir(parent, &shown)?;
        let cname = sys::cstring(name.as_bytes()).map_err(|e| self.io_error(&path, e))?;
        if let Some(existing) =
            sys::lstat_at(dir.as_fd(), &cname).map_err(|e| self.io_error(&path, e))?
        {
            // A later entry replaces an earlier one, except that a directory
            // meeting a directory only takes the new metadata.
            if !(sys::is_dir(&existing) && kind.is_dir()) {
                sys::remove_at(dir.as_fd(), &cname).map_err(|e| self.io_error(&path, e))?;
            }
        }

        let at = |e| self.io_error(&path, e);
        match kind {
            EntryType::Directory => {
                match sys::mkdir_at(dir.as_fd(), &cname, 0o700) {
                    Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(at(e)),
                    _ => {}
                }
                let sub = sys::open_subdir(dir.as_fd(), &cname).map_err(at)?;
                self.chown(dir.as_fd(), &cname, &meta, &shown)?;
                self.set_dir_meta(&sub, &path, &meta, &shown)?;
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let mut file = sys::create_file_at(dir.as_fd(), &cname).map_err(at)?;
                self.copy_data(entry, &mut file, &path)?;
                self.chown(dir.as_fd(), &cname, &meta, &shown)?;
                sys::chmod_fd(file.as_fd(), meta.mode).map_err(|e| self.io_error(&path, e))?;
                self.set_xattrs(file.as_fd(), &meta, &shown)?;
                sys::set_mtime_at(dir.as_fd(), &cname, meta.mtime)
                    .map_err(|e| self.io_error(&path, e))?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|source| self.read_error(source))?
                    .ok_or_else(|| self.unsafe_entry(&shown, "a symlink without a target"))?;
                // The target is stored, never followed by us: later entries
                // are resolved beneath the root, so it cannot lead them out.
                sys::symlink_at(target.as_os_str(), dir.as_fd(), &cname).map_err(at)?;
                self.chown(dir.as_fd(), &cname, &meta, &shown)?;
                sys::set_mtime_at(dir.as_fd(), &cname, meta.mtime)
                    .map_err(|e| self.io_error(&path, e))?;
            }
            EntryType::Link => self.hardlink(entry, dir.as_fd(), &cname, &shown)?,
            // As the ordinary export: device nodes are what an unpack in a
            // user namespace skips anyway, a FIFO is worth a word.
            EntryType::Char | EntryType::Block if self.applied.is_some() => {
                self.stats.skipped_devices.push(path.display().to_string());
                return Ok(());
            }
            EntryType::Fifo if self.applied.is_some() => {
                tracing::warn!(
                    "not exporting /{}: only files, directories and symlinks are exported",
                    path.display()
                );
                return Ok(());
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let file_type = match kind {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                match sys::mknod_at(dir.as_fd(), &cname, file_type | 0o600, major, minor) {
                    Err(e)
                        if e.raw_os_error() == Some(libc::EPERM) && file_type != libc::S_IFIFO =>
                    {
                        self.stats.skipped_devices.push(path.display().to_string());
                        return Ok(());
                    }
                    other => other.map_err(at)?,
                }
                self.chown(dir.as_fd(), &cname, &meta, &shown)?;
                sys::chmod_node_at(dir.as_fd(), &cname, meta.mode)
                    .map_err(|e| self.io_error(&path, e))?;
                sys::set_mtime_at(dir.as_fd(), &cname, meta.mtime)
                    .map_err(|e| self.io_error(&path, e))?;
            }
            other => {
                tracing::warn!(
                    "layer {}: skipping entry {shown:?} of unsupported type {other:?}",
                    self.layer
                );
                return Ok(());
            }
        }
        if let Some(applied) = self.applied.as_deref_mut() {
            applied.wrote(path);
        }
        Ok(())
    }

    fn copy_data<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        file: &mut std::fs::File,
        path: &Path,
    ) -> Result<(), Error> {
        loop {
            let n = match entry.read(&mut self.buffer) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(self.read_error(source)),
            };
            file.write_all(&self.buffer[..n])
                .map_err(|e| self.io_error(path, e))?;
            self.stats.file_bytes += n as u64;
        }
    }

    fn hardlink<R: Read>(
        &self,
        entry: &mut tar::Entry<R>,
        dir: BorrowedFd,
        name: &CStr,
        shown: &str,
    ) -> Result<(), Error> {
        let target = entry
            .link_name()
            .map_err(|source| self.read_error(source))?
            .ok_or_else(|| self.unsafe_entry(shown, "a hardlink without a target"))?;
        let target = normalize(&target).map_err(|_| {
            self.unsafe_entry(
                shown,
                &format!("its hardlink target {target:?} leaves the layer"),
            )
        })?;
        let target = match self.applied.as_deref() {
            None => target,
            Some(applied) => match applied.place(&target) {
                Place::Inside(rel) if applied.was_written(&rel) => rel,
                Place::Inside(_) => return Err(self.unsafe_entry(
                    shown,
                    &format!("it links to {target:?}, which is not in this layer (hardlinks must stay within one layer)"),
                )),
                _ => {
                    return Err(
                        self.not_streamable(shown, "it links to a file outside the exported path")
                    )
                }
            },
        };
        let (target_parent, target_name) = split(&target);
        let missing = || {
            self.unsafe_entry(
                shown,
                &format!("it links to {target:?}, which is not in this layer (hardlinks must stay within one layer)"),
            )
        };
        let target_dir = match sys::open_dir_beneath(self.root.as_fd(), target_parent, true) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Err(missing()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ELOOP | libc::EXDEV | libc::ENOTDIR)
                ) =>
            {
                return Err(
                    self.unsafe_entry(shown, "its hardlink target's path goes through a symlink")
                )
            }
            Err(e) => return Err(self.io_error(Path::new(shown), e)),
        };
        let target_name =
            sys::cstring(target_name.as_bytes()).map_err(|e| self.io_error(&target, e))?;
        match sys::lstat_at(target_dir.as_fd(), &target_name)
            .map_err(|e| self.io_error(&target, e))?
        {
            None => Err(missing()),
            Some(st) if sys::is_dir(&st) => {
                Err(self.unsafe_entry(shown, "it hardlinks a directory"))
            }
            Some(_) => sys::link_at(target_dir.as_fd(), &target_name, dir, name)
                .map_err(|e| self.io_error(Path::new(shown), e)),
        }
    }

    /// `.wh.NAME` hides NAME of the layers below; `.wh..wh..opq` hides all of
    /// its directory's lower content.
    fn whiteout(&mut self, parent: &Path, target: &[u8], shown: &str) -> Result<(), Error> {
        let dir = self.parent_dir(parent, shown)?;
        if target == b".wh..opq" {
            return self.make_opaque(dir.as_fd(), shown);
        }
        if target.starts_with(b".wh.") {
            // aufs bookkeeping (.wh..wh.plnk and the like) means nothing to overlay.
            tracing::debug!("layer {}: ignoring aufs metadata {shown:?}", self.layer);
            return Ok(());
        }
        if target.is_empty() || target == b"." || target == b".." {
            return Err(
                self.unsafe_entry(shown, "a whiteout must name an entry of its own directory")
            );
        }
        let name = sys::cstring(target).map_err(|e| self.io_error(Path::new(shown), e))?;
        match sys::lstat_at(dir.as_fd(), &name).map_err(|e| self.io_error(Path::new(shown), e))? {
            // Whiteouts hide lower layers only; what this layer added stays,
            // and a directory it added hides the lower one's content.
            Some(st) if sys::is_dir(&st) => {
                let sub = sys::open_subdir(dir.as_fd(), &name)
                    .map_err(|e| self.io_error(Path::new(shown), e))?;
                self.make_opaque(sub.as_fd(), shown)
            }
            Some(_) => Ok(()),
            None => overlay::make_whiteout_at(dir.as_fd(), &name)
                .map_err(|e| self.io_error(Path::new(shown), e)),
        }
    }

    fn make_opaque(&self, dir: BorrowedFd, shown: &str) -> Result<(), Error> {
        overlay::mark_opaque_fd(dir).map_err(|e| self.io_error(Path::new(shown), e))
    }

    /// Opens `parent` beneath the root, creating missing directories the way
    /// `tar -x` does (0755, owned by root).
    fn parent_dir(&self, parent: &Path, shown: &str) -> Result<OwnedFd, Error> {
        // Applied on lower layers, a symlink in the path would be followed
        // where overlay would show this layer's directory over it.
        let no_symlinks = self.applied.is_some();
        match sys::open_dir_beneath(self.root.as_fd(), parent, no_symlinks) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(self.resolve_error(shown, e)),
        }
        let mut dir = self
            .root
            .try_clone()
            .map_err(|e| self.io_error(parent, e))?;
        let mut so_far = PathBuf::new();
        for component in parent.components() {
            so_far.push(component);
            dir = match sys::open_dir_beneath(self.root.as_fd(), &so_far, no_symlinks) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    let name = sys::cstring(component.as_os_str().as_bytes())
                        .map_err(|e| self.io_error(parent, e))?;
                    sys::mkdir_at(dir.as_fd(), &name, 0o755)
                        .map_err(|e| self.io_error(&so_far, e))?;
                    sys::open_dir_beneath(self.root.as_fd(), &so_far, no_symlinks)
                        .map_err(|e| self.resolve_error(shown, e))?
                }
                Err(e) => return Err(self.resolve_error(shown, e)),
            };
        }
        Ok(dir)
    }

    fn resolve_error(&self, shown: &str, error: io::Error) -> Error {
        if self.applied.is_some()
            && matches!(
                error.raw_os_error(),
                Some(libc::ELOOP | libc::EXDEV | libc::ENOTDIR)
            )
        {
            return self.not_streamable(shown, "its path goes through a symlink or a file");
        }
        match error.raw_os_error() {
            Some(libc::EXDEV) => {
                self.unsafe_entry(shown, "a symlink in its path leads outside the layer")
            }
            Some(libc::ELOOP) => {
                self.unsafe_entry(shown, "its path goes through too many symlinks")
            }
            Some(libc::ENOTDIR) => {
                self.unsafe_entry(shown, "a parent in its path is not a directory")
            }
            _ => self.io_error(Path::new(shown), error),
        }
    }

    fn unsafe_entry(&self, entry: &str, reason: &str) -> Error {
        Error::UnsafeEntry {
            layer: self.layer.to_owned(),
            entry: entry.to_owned(),
            reason: reason.to_owned(),
        }
    }

    fn io_error(&self, path: &Path, source: io::Error) -> Error {
        Error::Unpack {
            layer: self.layer.to_owned(),
            entry: path.display().to_string(),
            source,
        }
    }

    fn read_error(&self, source: io::Error) -> Error {
        Error::Read {
            layer: self.layer.to_owned(),
            source,
        }
    }
}

/// A layer path made relative and plain: `./a//b/` is `a/b`. Absolute paths
/// and `..` are refused rather than rewritten, since no honest layer has them.
pub(crate) fn normalize(raw: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute paths are not allowed in a layer")
            }
            Component::ParentDir => return Err("paths with .. are not allowed in a layer"),
        }
    }
    Ok(out)
}

fn split(path: &Path) -> (&Path, &OsStr) {
    (
        path.parent().unwrap_or(Path::new("")),
        path.file_name().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests;
