//! The copying snapshotter: a step's root file system as a plain copy of
//! its layer chain, for where overlay cannot be mounted (the store on
//! overlay itself, as on a container's root file system; a file system
//! without user xattrs), as containerd's "native" and buildah's "vfs"
//! snapshotters do.
//!
//! Its lifecycle has two halves around the step:
//!
//! 1. [`copy_chain`] copies the merged chain into a fresh directory
//!    (`copy_file_range`, so extents are shared where the file system
//!    reflinks) and notes the change time of a marker made right after.
//!    Or [`take_over_copy`] takes over the copy an earlier step left, once
//!    that step's changes are committed on top of its chain: it reads as
//!    the new chain, and only needs a new marker.
//! 2. The step runs on that directory, bound as its root.
//! 3. [`write_changes`] writes what the step changed into an empty layer
//!    directory, in the store's diff format (whiteout files here, see
//!    `overlay.rs`), so the result is stored, keyed, packed and published
//!    as one made on overlay would be.
//!
//! What changed is found from change times: the kernel sets an inode's
//! ctime on every write, chmod, chown, link, rename and unlink, and the
//! copy cannot set it back, so an entry whose ctime is older than the
//! marker is as it was copied, and a directory whose ctime is older has
//! the same names. Only newer entries are compared with the chain (their
//! metadata, then their bytes and xattrs when all else is equal: a file
//! put back as it was is no change). A directory's own mtime is not a
//! change: entries made and removed again (a mount point, a trust store's
//! extra certificate) leave none behind. Hard links in the chain are
//! copied as separate files.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::Metadata;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::copy::{copy_tree, split_name, LayerWriter, Overrides};
use crate::filter::Filter;
use crate::view::{ChainView, FileKind};
use crate::{overlay, sys, Error};

/// A chain copied into a directory for one step.
#[derive(Debug, Clone)]
pub struct CopiedRoot {
    dir: PathBuf,
    /// The change time of the marker made once the copy was done.
    copied_at: (i64, i64),
}

impl CopiedRoot {
    /// The copy: the step's root, or a directory it mounts.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `meta` (an entry of the copy) was changed since the copy.
    fn changed(&self, meta: &Metadata) -> bool {
        (meta.ctime(), meta.ctime_nsec()) >= self.copied_at
    }
}

/// Copies the merged `chain` into `dest`, which must not exist.
pub fn copy_chain(chain: &ChainView, dest: &Path) -> Result<CopiedRoot, Error> {
    let write_error = |source| Error::LayerWrite {
        layer: dest.to_owned(),
        path: "/".into(),
        source,
    };
    std::fs::create_dir(dest).map_err(write_error)?;
    let empty = ChainView::new(Vec::new());
    let overrides = Overrides::default();
    copy_tree(
        chain,
        "/",
        &Filter::everything(),
        &empty,
        dest,
        "/",
        &overrides,
        false,
    )?;
    marked(dest)
}

/// Takes over `from`, a copy left by an earlier step that reads exactly as
/// the chain the next step runs on (its changes written and committed on
/// top of its own chain), as that step's copy in `dest`: a rename, and a
/// new marker, so only what the next step changes counts as changed.
pub fn take_over_copy(from: &Path, dest: &Path) -> Result<CopiedRoot, Error> {
    std::fs::rename(from, dest).map_err(|source| Error::LayerWrite {
        layer: dest.to_owned(),
        path: "/".into(),
        source,
    })?;
    marked(dest)
}

/// `dest` as a [`CopiedRoot`] whose entries, as they are now, count as
/// unchanged.
fn marked(dest: &Path) -> Result<CopiedRoot, Error> {
    let write_error = |source| Error::LayerWrite {
        layer: dest.to_owned(),
        path: "/".into(),
        source,
    };
    // The kernel's clock as it stamps inodes (coarse, so an entry written in
    // the same tick counts as changed: a copy too many, never one lost).
    let marker = dest.with_extension("copied-at");
    std::fs::write(&marker, b"").map_err(write_error)?;
    let meta = marker.symlink_metadata().map_err(write_error)?;
    std::fs::remove_file(&marker).map_err(write_error)?;
    Ok(CopiedRoot {
        dir: dest.to_owned(),
        copied_at: (meta.ctime(), meta.ctime_nsec()),
    })
}

/// What [`write_changes`] found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changes {
    /// Entries written (new or changed; a new directory counts once).
    pub written: u64,
    /// Names removed (whiteouts).
    pub removed: u64,
}

/// Writes what changed in `copied` since [`copy_chain`] made it from
/// `chain` into `upper`, an empty layer directory.
pub fn write_changes(
    chain: &ChainView,
    copied: &CopiedRoot,
    upper: &Path,
) -> Result<Changes, Error> {
    let source = ChainView::new(vec![copied.dir.clone()]);
    let mut walk = Walk {
        chain,
        copied,
        source: &source,
        writer: LayerWriter::open(chain, upper)?,
        changes: Changes::default(),
    };
    walk.dir(Path::new(""))?;
    walk.writer.finish()?;
    Ok(walk.changes)
}

struct Walk<'a> {
    chain: &'a ChainView,
    copied: &'a CopiedRoot,
    source: &'a ChainView,
    writer: LayerWriter<'a>,
    changes: Changes,
}

impl Walk<'_> {
    fn read_error(&self, rel: &Path, source: std::io::Error) -> Error {
        Error::LayerRead {
            layer: self.copied.dir.clone(),
            path: format!("/{}", rel.display()),
            source,
        }
    }

    /// The chain's entry at `rel`, not following a link.
    fn in_chain(&self, rel: &Path) -> Result<Option<Metadata>, Error> {
        Ok(self
            .chain
            .lookup(&format!("/{}", rel.display()), false)?
            .map(|entry| entry.metadata))
    }

    /// Walks the copy's directory `rel`, which the chain has as a directory.
    fn dir(&mut self, rel: &Path) -> Result<(), Error> {
        let host = self.copied.dir.join(rel);
        let meta = host
            .symlink_metadata()
            .map_err(|e| self.read_error(rel, e))?;
        if self.copied.changed(&meta) {
            if let Some(entry) = self.chain.lookup(&format!("/{}", rel.display()), false)? {
                let changed = !same_attrs(&entry.metadata, &meta)
                    || xattrs_of(&entry.host_path, true) != xattrs_of(&host, true);
                if changed {
                    self.write_dir_attrs(rel, &meta)?;
                }
            }
            self.removed_names(rel)?;
        }
        let mut names: Vec<OsString> = std::fs::read_dir(&host)
            .and_then(|entries| entries.map(|e| e.map(|e| e.file_name())).collect())
            .map_err(|e| self.read_error(rel, e))?;
        names.sort();
        for name in names {
            let child = rel.join(&name);
            let meta = self
                .copied
                .dir
                .join(&child)
                .symlink_metadata()
                .map_err(|e| self.read_error(&child, e))?;
            if !self.copied.changed(&meta) && !meta.is_dir() {
                continue;
            }
            let before = if self.copied.changed(&meta) {
                Some(self.in_chain(&child)?)
            } else {
                None
            };
            match before {
                // Untouched since the copy: a directory is walked for what
                // changed below it.
                None => self.dir(&child)?,
                Some(Some(b)) if b.is_dir() && meta.is_dir() => self.dir(&child)?,
                Some(Some(b)) if !meta.is_dir() && self.same_entry(&b, &child, &meta)? => {}
                Some(_) => self.write_entry(&child)?,
            }
        }
        Ok(())
    }

    /// Whiteouts for the names the chain has in `rel` that the copy has not.
    fn removed_names(&mut self, rel: &Path) -> Result<(), Error> {
        let (dir, _) = match self.chain.resolve(&format!("/{}", rel.display()), false)? {
            Some(found) if found.0.kind == FileKind::Dir => found,
            _ => return Ok(()),
        };
        let host = self.copied.dir.join(rel);
        let present: BTreeSet<OsString> = std::fs::read_dir(&host)
            .and_then(|entries| entries.map(|e| e.map(|e| e.file_name())).collect())
            .map_err(|e| self.read_error(rel, e))?;
        for (name, _) in self.chain.children(&dir)? {
            if present.contains(&name) {
                continue;
            }
            let gone = rel.join(&name);
            let (parent, cname) = split_name(&self.writer, &gone)?;
            let fd = self.writer.ensure_dirs(parent)?;
            overlay::make_whiteout_at(fd.as_fd(), &cname)
                .map_err(|e| self.writer.error(&gone, e))?;
            self.changes.removed += 1;
        }
        Ok(())
    }

    /// Gives the layer's directory `rel` the copy's attributes.
    fn write_dir_attrs(&mut self, rel: &Path, meta: &Metadata) -> Result<(), Error> {
        if rel.as_os_str().is_empty() {
            let root = self.writer.ensure_dirs(rel)?;
            return self.writer.set_attrs_of(root.as_fd(), rel, meta);
        }
        let (parent, name) = split_name(&self.writer, rel)?;
        let dir = self.writer.ensure_dirs(parent)?;
        let sub = self.writer.open_subdir(dir.as_fd(), &name, rel)?;
        self.writer.set_attrs_of(sub.as_fd(), rel, meta)?;
        self.changes.written += 1;
        Ok(())
    }

    /// Copies the copy's entry `rel` (and all below it) into the layer.
    fn write_entry(&mut self, rel: &Path) -> Result<(), Error> {
        let path = format!("/{}", rel.display());
        self.writer.write_copy_of(self.source, &path, rel)?;
        self.changes.written += 1;
        Ok(())
    }

    /// Whether the copy's non-directory `rel` is what the chain has there.
    fn same_entry(&self, before: &Metadata, rel: &Path, meta: &Metadata) -> Result<bool, Error> {
        if !same_attrs(before, meta)
            || before.len() != meta.len()
            || (before.mtime(), before.mtime_nsec()) != (meta.mtime(), meta.mtime_nsec())
            || before.file_type() != meta.file_type()
        {
            return Ok(false);
        }
        let Some(entry) = self.chain.lookup(&format!("/{}", rel.display()), false)? else {
            return Ok(false);
        };
        let host = self.copied.dir.join(rel);
        let same = if meta.file_type().is_symlink() {
            std::fs::read_link(&entry.host_path).ok() == std::fs::read_link(&host).ok()
        } else if meta.is_file() {
            same_bytes(&entry.host_path, &host).map_err(|e| self.read_error(rel, e))?
                && xattrs_of(&entry.host_path, false) == xattrs_of(&host, false)
        } else {
            meta.rdev() == before.rdev()
        };
        Ok(same)
    }
}

fn same_attrs(a: &Metadata, b: &Metadata) -> bool {
    a.mode() == b.mode() && a.uid() == b.uid() && a.gid() == b.gid()
}

/// A file's or directory's xattrs, overlay's own left out; none where they
/// cannot be read.
fn xattrs_of(path: &Path, is_dir: bool) -> Vec<(std::ffi::CString, Vec<u8>)> {
    let fd: std::os::fd::OwnedFd = match is_dir {
        true => match sys::open_dir(path) {
            Ok(fd) => fd,
            Err(_) => return Vec::new(),
        },
        false => match sys::open_nofollow(path) {
            Ok(file) => file.into(),
            Err(_) => return Vec::new(),
        },
    };
    let mut all = sys::xattrs_fd(fd.as_fd()).unwrap_or_default();
    all.retain(|(name, _)| !overlay::is_overlay_xattr(name.as_bytes()));
    all.sort();
    all
}

fn same_bytes(a: &Path, b: &Path) -> std::io::Result<bool> {
    let (mut a, mut b) = (sys::open_nofollow(a)?, sys::open_nofollow(b)?);
    crate::diff::same_bytes(&mut a, &mut b)
}

/// The file at the store's root that says its layers may hold whiteout
/// files: once the copying snapshotter has written one, overlay cannot
/// mount the store's layers (it would show the markers as files).
const WHITEOUT_FILES_MARK: &str = "whiteout-files";

impl crate::Store {
    /// Whether the copying snapshotter has written layers here.
    pub fn holds_whiteout_files(&self) -> bool {
        self.root().join(WHITEOUT_FILES_MARK).exists()
    }

    /// Records that the copying snapshotter writes layers here, before it
    /// writes any.
    pub fn record_whiteout_files(&self) -> Result<(), Error> {
        let path = self.root().join(WHITEOUT_FILES_MARK);
        if path.exists() {
            return Ok(());
        }
        let text = "Layers here may hold whiteout files (.wh.NAME): the copying \
                    snapshotter made them, and overlay cannot mount them.\n";
        let temp = crate::temp::temp_name(self.snapshots_tmp_dir(), "whiteout-files");
        std::fs::write(&temp, text)
            .and_then(|()| std::fs::rename(&temp, &path))
            .map_err(|source| Error::Store { path, source })
    }
}
