//! Writing new layers in overlay diff format: copies of (filtered) subtrees
//! of a chain, new files and directories, and whiteouts.
//!
//! The layer being written (`dest_layer`) will be stacked on `target`, the
//! chain the operation applies to. Where a destination path goes through
//! symlinks of `target`, they are resolved inside `target` first, so the
//! layer holds plain directories only; every write then happens relative to
//! a descriptor opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`,
//! so nothing the layer or the source contains can lead a write outside it.
//! Directories created only to hold the destination copy their attributes
//! from `target`, so the merged view does not change above the destination.
//!
//! Here: the writer and its one-entry copies; `tree.rs` copies subtrees
//! (`withDirectory`, `chown`, `Directory.diff`), `edit.rs` makes new files,
//! directories and whiteouts, `changes.rs` writes what the copying
//! snapshotter found a step changed.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::view::{ChainView, FileKind, Found};
use crate::{overlay, sys, Error};

mod archive;
mod changes;
mod edit;
mod tree;

pub use archive::{archive_compression, extract_into_layer, ArchiveCompression};
pub use edit::{ensure_dir, make_dir, make_whiteout, write_new_file};
pub use tree::copy_into_layer;
pub(crate) use tree::{copy_items, copy_tree};

/// What one copy wrote.
#[derive(Debug, Default, Clone)]
pub struct CopyStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
    /// Device nodes the kernel did not let us create (rootless), by path.
    pub skipped: Vec<String>,
}

/// What a copy sets on every entry instead of the source's own: `chown`
/// (owner), `withTimestamps` (mtime), `withFile(permissions:)` (the mode
/// of the one file copied).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Overrides {
    pub(crate) owner: Option<(u32, u32)>,
    /// The mode of the one file copied (a file source).
    pub(crate) file_mode: Option<u32>,
    /// The mode of every entry copied, directories too (a directory
    /// source with a mode: a Dockerfile's `COPY --chmod`).
    pub(crate) all_modes: Option<u32>,
    /// Seconds since the epoch.
    pub(crate) mtime: Option<i64>,
}

impl Overrides {
    fn dir_attrs(&self, meta: &std::fs::Metadata) -> DirAttrs {
        let mut attrs = attrs_of(meta);
        if let Some((uid, gid)) = self.owner {
            (attrs.uid, attrs.gid) = (uid, gid);
        }
        if let Some(seconds) = self.mtime {
            attrs.mtime = Some((seconds, 0));
        }
        if let Some(mode) = self.all_modes {
            attrs.mode = mode & 0o7777;
        }
        attrs
    }
}

/// Attributes given to a directory we create.
#[derive(Clone, Copy)]
struct DirAttrs {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Option<(i64, i64)>,
}

const DEFAULT_DIR: DirAttrs = DirAttrs {
    mode: 0o755,
    uid: 0,
    gid: 0,
    mtime: None,
};

fn attrs_of(meta: &std::fs::Metadata) -> DirAttrs {
    DirAttrs {
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        mtime: Some((meta.mtime(), meta.mtime_nsec())),
    }
}

/// An open diff directory being written.
pub(crate) struct LayerWriter<'t> {
    root: OwnedFd,
    layer: PathBuf,
    target: &'t ChainView,
    /// Directory mtimes to set once their children are written.
    dir_times: Vec<(PathBuf, (i64, i64))>,
}

impl<'t> LayerWriter<'t> {
    pub(crate) fn open(target: &'t ChainView, dest_layer: &Path) -> Result<LayerWriter<'t>, Error> {
        let root = sys::open_dir(dest_layer).map_err(|source| Error::LayerWrite {
            layer: dest_layer.to_owned(),
            path: "/".into(),
            source,
        })?;
        let mut writer = LayerWriter {
            root,
            layer: dest_layer.to_owned(),
            target,
            dir_times: Vec::new(),
        };
        // Overlay takes the merged root's attributes from the upper layer.
        if let Some(node) = target.lookup("/", false)? {
            if !target.layers().is_empty() {
                let attrs = attrs_of(&node.metadata);
                let at = |e| writer.error(Path::new(""), e);
                sys::chown_fd(writer.root.as_fd(), attrs.uid, attrs.gid).map_err(at)?;
                sys::chmod_fd(writer.root.as_fd(), attrs.mode).map_err(at)?;
                if let Some(mtime) = attrs.mtime {
                    writer.dir_times.push((PathBuf::new(), mtime));
                }
            }
        }
        Ok(writer)
    }

    pub(crate) fn error(&self, rel: &Path, source: io::Error) -> Error {
        Error::LayerWrite {
            layer: self.layer.clone(),
            path: format!("/{}", rel.display()),
            source,
        }
    }

    /// Opens the directory `rel` of the layer, which we made: no symlinks.
    fn dir(&self, rel: &Path) -> Result<OwnedFd, Error> {
        sys::open_dir_beneath(self.root.as_fd(), rel, true).map_err(|e| self.error(rel, e))
    }

    /// Opens `rel` in the layer, creating what is missing of it with the
    /// attributes of the same directories in the target.
    pub(crate) fn ensure_dirs(&mut self, rel: &Path) -> Result<OwnedFd, Error> {
        let mut dir = self
            .root
            .try_clone()
            .map_err(|e| self.error(Path::new(""), e))?;
        let mut so_far = PathBuf::new();
        for component in rel.components() {
            so_far.push(component);
            let attrs = match self
                .target
                .lookup(&format!("/{}", so_far.display()), false)?
            {
                Some(node) if node.metadata.is_dir() => attrs_of(&node.metadata),
                _ => DEFAULT_DIR,
            };
            let name = cname(component.as_os_str()).map_err(|e| self.error(&so_far, e))?;
            dir = self.make_dir_entry(dir.as_fd(), &name, &so_far, attrs, false)?;
        }
        Ok(dir)
    }

    /// Makes `name` in `dir` a directory with `attrs`. An existing directory
    /// is kept (its contents merge) and only gets the attributes when
    /// `set_existing`; anything else there is replaced, and a directory that
    /// replaces a whiteout is made opaque, since the whiteout hid what is below.
    fn make_dir_entry(
        &mut self,
        dir: BorrowedFd,
        name: &CStr,
        rel: &Path,
        attrs: DirAttrs,
        set_existing: bool,
    ) -> Result<OwnedFd, Error> {
        let at = |e| self.error(rel, e);
        let existing = sys::lstat_at(dir, name).map_err(at)?;
        if let Some(st) = &existing {
            if sys::is_dir(st) {
                let sub = sys::open_subdir(dir, name).map_err(at)?;
                if set_existing {
                    self.set_dir_attrs(sub.as_fd(), rel, attrs)?;
                } else {
                    self.dir_times
                        .push((rel.to_owned(), (st.st_mtime, st.st_mtime_nsec)));
                }
                return Ok(sub);
            }
            sys::remove_at(dir, name).map_err(at)?;
        }
        let was_whiteout = existing
            .as_ref()
            .is_some_and(|st| overlay::is_whiteout(st.st_mode, st.st_rdev))
            || self.has_whiteout_file(rel);
        sys::mkdir_at(dir, name, 0o700).map_err(at)?;
        let sub = sys::open_subdir(dir, name).map_err(at)?;
        if was_whiteout {
            overlay::mark_opaque_fd(sub.as_fd()).map_err(at)?;
        }
        self.set_dir_attrs(sub.as_fd(), rel, attrs)?;
        Ok(sub)
    }

    /// Whether the layer has a whiteout file for `rel` (the copying
    /// snapshotter's form of a whiteout).
    fn has_whiteout_file(&self, rel: &Path) -> bool {
        match (rel.parent(), rel.file_name()) {
            (Some(parent), Some(name)) => {
                overlay::has_whiteout_file(&self.layer.join(parent), name)
            }
            _ => false,
        }
    }

    fn set_dir_attrs(&mut self, fd: BorrowedFd, rel: &Path, attrs: DirAttrs) -> Result<(), Error> {
        let at = |e| self.error(rel, e);
        sys::chown_fd(fd, attrs.uid, attrs.gid).map_err(at)?;
        sys::chmod_fd(fd, attrs.mode).map_err(at)?;
        if let Some(mtime) = attrs.mtime {
            self.dir_times.push((rel.to_owned(), mtime));
        }
        Ok(())
    }

    /// Sets the recorded directory mtimes, deepest first.
    pub(crate) fn finish(mut self) -> Result<(), Error> {
        let times = std::mem::take(&mut self.dir_times);
        for (rel, mtime) in times.into_iter().rev() {
            let result = match (rel.parent(), rel.file_name()) {
                (Some(parent), Some(name)) => {
                    let dir = self.dir(parent)?;
                    let name = cname(name).map_err(|e| self.error(&rel, e))?;
                    sys::set_times_at(dir.as_fd(), &name, mtime)
                }
                _ => sys::set_times_fd(self.root.as_fd(), mtime),
            };
            result.map_err(|e| self.error(&rel, e))?;
        }
        Ok(())
    }

    /// Copies one non-directory entry of `source` to `name` in `dir`,
    /// replacing what the layer had there.
    #[allow(clippy::too_many_arguments)]
    fn copy_entry(
        &mut self,
        source: &ChainView,
        found: &Found,
        dir: BorrowedFd,
        name: &CStr,
        rel: &Path,
        overrides: &Overrides,
        stats: &mut CopyStats,
    ) -> Result<(), Error> {
        let at = |e| self.error(rel, e);
        let meta = &found.meta;
        let (uid, gid) = overrides.owner.unwrap_or((meta.uid(), meta.gid()));
        let mtime = overrides
            .mtime
            .map_or((meta.mtime(), meta.mtime_nsec()), |seconds| (seconds, 0));
        let mode = overrides
            .file_mode
            .or(overrides.all_modes)
            .unwrap_or(meta.mode())
            & 0o7777;
        let read_error = |e| source.read_error(found.layer, &found.host, e);
        sys::remove_at(dir, name).map_err(at)?;
        match found.kind {
            FileKind::File => {
                let input = sys::open_nofollow(&found.host).map_err(read_error)?;
                let output = sys::create_file_at(dir, name).map_err(at)?;
                stats.bytes += sys::copy_contents(&input, &output).map_err(at)?;
                sys::chown_fd(output.as_fd(), uid, gid).map_err(at)?;
                // After chown, which clears set-id bits.
                sys::chmod_fd(output.as_fd(), mode).map_err(at)?;
                copy_xattrs(input.as_fd(), output.as_fd()).map_err(at)?;
                sys::set_times_fd(output.as_fd(), mtime).map_err(at)?;
                stats.files += 1;
            }
            FileKind::Symlink => {
                let target = std::fs::read_link(&found.host).map_err(read_error)?;
                sys::symlink_at(target.as_os_str(), dir, name).map_err(at)?;
                sys::chown_at(dir, name, uid, gid).map_err(at)?;
                sys::set_times_at(dir, name, mtime).map_err(at)?;
                stats.symlinks += 1;
            }
            FileKind::Other => {
                let rdev = meta.rdev();
                let (major, minor) = (libc::major(rdev), libc::minor(rdev));
                let file_type = meta.mode() & libc::S_IFMT;
                match sys::mknod_at(dir, name, file_type | 0o600, major, minor) {
                    Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                        tracing::warn!(
                            "cannot create device node /{} here: skipped",
                            rel.display()
                        );
                        stats.skipped.push(format!("/{}", rel.display()));
                        return Ok(());
                    }
                    other => other.map_err(at)?,
                }
                sys::chown_at(dir, name, uid, gid).map_err(at)?;
                sys::chmod_node_at(dir, name, mode).map_err(at)?;
                sys::set_times_at(dir, name, mtime).map_err(at)?;
            }
            FileKind::Dir => unreachable!("directories are made by make_dir_entry"),
        }
        Ok(())
    }
}

/// Copies the xattrs of a file, except overlay's own, which would forge
/// whiteouts or opaque markers. Those the kernel refuses (`trusted.*`,
/// `security.*` in a user namespace) are dropped, as rootless podman does.
fn copy_xattrs(from: BorrowedFd, to: BorrowedFd) -> io::Result<()> {
    for (name, value) in sys::xattrs_fd(from)? {
        let bytes = name.as_bytes();
        if overlay::is_overlay_xattr(bytes) {
            continue;
        }
        if let Err(e) = sys::set_xattr_fd(to, &name, &value) {
            tracing::debug!("cannot copy xattr {}: {e}", String::from_utf8_lossy(bytes));
        }
    }
    Ok(())
}

fn cname(name: &OsStr) -> io::Result<CString> {
    sys::cstring(name.as_bytes())
}

/// `dest_path` resolved in `target` as `mkdir -p` in a chroot would resolve
/// it, except its last component: relative to the layer root, symlink-free.
pub(crate) fn resolve_dest(target: &ChainView, dest_path: &str) -> Result<PathBuf, Error> {
    let resolved = target.resolve_for_create(dest_path, false)?;
    Ok(PathBuf::from(resolved.trim_start_matches('/')))
}

pub(crate) fn split_name<'p>(
    writer: &LayerWriter,
    rel: &'p Path,
) -> Result<(&'p Path, CString), Error> {
    match (rel.parent(), rel.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, cname(name).map_err(|e| writer.error(rel, e))?)),
        _ => Err(writer.error(
            rel,
            io::Error::new(
                io::ErrorKind::IsADirectory,
                "the destination is the root directory",
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dest_paths_are_clamped_at_the_root() {
        let view = ChainView::new(Vec::new());
        assert_eq!(resolve_dest(&view, "/../../a/b").unwrap(), Path::new("a/b"));
        assert_eq!(resolve_dest(&view, "a/./b/../c").unwrap(), Path::new("a/c"));
        assert_eq!(resolve_dest(&view, "/..").unwrap(), Path::new(""));
    }
}
