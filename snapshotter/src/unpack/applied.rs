//! Unpacking a layer *on* the layers below it, as `tar -x` of each layer in
//! turn and as overlay shows them merged: the form of an export written
//! straight from a chain's layer blobs (`streamed_export.rs`), where no
//! snapshot is kept.
//!
//! - `.wh.NAME` deletes what the layers below left at NAME;
//!   `.wh..wh..opq` empties its directory of what they put there. What
//!   this layer itself wrote stays (it is remembered per layer).
//! - Entries are the user's files, as an export writes them: owned by the
//!   caller, no xattrs, no set-id bits, no device nodes or FIFOs.
//! - Directories keep a writable mode until every layer is applied
//!   ([`Applied::finish`]): a read-only one would refuse what later
//!   entries put in it, unless the caller may override permissions.
//! - Only the subtree at `prefix` is written, with paths relative to it.
//!
//! Where the merged view cannot be told from the stream alone — something
//! other than a directory at or above the prefix, a path through a symlink
//! or a file, a hard link from outside the prefix — the unpack stops with
//! [`Error::NotStreamable`], and the caller exports the ordinary way.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::Unpacker;
use crate::{sys, Error};

/// The permission bits an exported entry keeps (as `export.rs`).
pub(super) const EXPORTED_BITS: u32 = 0o1777;

/// What applying layers one on another carries from one layer to the next.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// The exported path, relative to the chain's root ("" for the root).
    prefix: PathBuf,
    /// What the layer being applied wrote, relative to the prefix.
    written: HashSet<PathBuf>,
    /// Each directory's mode and mtime, as the top-most layer listing it
    /// says; set once all layers are applied. "" is the exported one.
    dirs: HashMap<PathBuf, (u32, i64)>,
}

/// Where a layer's entry falls, seen from the exported path.
pub(super) enum Place {
    /// At or below it: its path relative to the prefix.
    Inside(PathBuf),
    /// Strictly above it (one of its parents).
    Above,
    /// Anywhere else: not exported.
    Outside,
}

impl Applied {
    pub(crate) fn new(prefix: PathBuf) -> Applied {
        Applied {
            prefix,
            ..Applied::default()
        }
    }

    /// Whether some layer listed the exported directory itself, and no
    /// layer above deleted it: only then is it certainly a directory of
    /// the chain.
    pub(crate) fn lists_root(&self) -> bool {
        self.dirs.contains_key(Path::new(""))
    }

    /// Gives every directory under `root` (the export) its mode and
    /// mtime, deepest first, once nothing more goes in them.
    pub(crate) fn finish(self, root: BorrowedFd) -> io::Result<()> {
        let mut dirs: Vec<_> = self.dirs.into_iter().collect();
        dirs.sort_by_key(|(path, _)| std::cmp::Reverse(path.components().count()));
        for (path, (mode, mtime)) in dirs {
            let dir = match sys::open_dir_beneath(root, &path, true) {
                Ok(dir) => dir,
                // Replaced by a file of a later layer, or gone.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                    continue
                }
                Err(e) => return Err(e),
            };
            sys::chmod_fd(dir.as_fd(), mode)?;
            sys::set_times_fd(dir.as_fd(), (mtime, 0))?;
        }
        Ok(())
    }

    pub(super) fn start_layer(&mut self) {
        self.written.clear();
    }

    pub(super) fn wrote(&mut self, rel: PathBuf) {
        self.written.insert(rel);
    }

    pub(super) fn was_written(&self, rel: &Path) -> bool {
        self.written.contains(rel)
    }

    pub(super) fn dir_listed(&mut self, rel: &Path, mode: u32, mtime: i64) {
        self.dirs.insert(rel.to_owned(), (mode, mtime));
        self.written.insert(rel.to_owned());
    }

    /// Forgets the directories at and under `rel` that this layer did not
    /// write: a whiteout took them.
    fn forget_lower_dirs(&mut self, rel: &Path) {
        let written = &self.written;
        self.dirs
            .retain(|path, _| !path.starts_with(rel) || written.contains(path));
    }

    /// Where `path` (normalized, relative to the chain's root) falls.
    pub(super) fn place(&self, path: &Path) -> Place {
        match path.strip_prefix(&self.prefix) {
            Ok(rel) => Place::Inside(rel.to_owned()),
            Err(_) if self.prefix.starts_with(path) => Place::Above,
            Err(_) => Place::Outside,
        }
    }
}

impl Unpacker<'_> {
    fn applied(&self) -> &Applied {
        self.applied.as_deref().expect("an applying unpacker")
    }

    /// `.wh.TARGET` in `parent`, applied: what the lower layers left there
    /// goes.
    pub(super) fn applied_whiteout(
        &mut self,
        parent: &Path,
        target: &[u8],
        shown: &str,
    ) -> Result<(), Error> {
        let everything = Path::new("");
        if target == b".wh..opq" {
            let (cleared, dir_itself) = match self.applied().place(parent) {
                Place::Inside(rel) => (rel, false),
                Place::Above => (everything.to_owned(), true),
                Place::Outside => return Ok(()),
            };
            self.forget_lower(&cleared, dir_itself);
            return self.clear_lower(&cleared, shown);
        }
        if target.starts_with(b".wh.") {
            // aufs bookkeeping (.wh..wh.plnk and the like).
            return Ok(());
        }
        if target.is_empty() || target == b"." || target == b".." {
            return Err(
                self.unsafe_entry(shown, "a whiteout must name an entry of its own directory")
            );
        }
        match self
            .applied()
            .place(&parent.join(OsStr::from_bytes(target)))
        {
            Place::Inside(rel) if !rel.as_os_str().is_empty() => {
                self.forget_lower(&rel, true);
                self.remove_lower(&rel, shown)
            }
            Place::Inside(_) | Place::Above => {
                self.forget_lower(everything, true);
                self.clear_lower(everything, shown)
            }
            Place::Outside => Ok(()),
        }
    }

    /// A whiteout takes what lower layers put under `rel` (and, with
    /// `itself`, `rel` too, unless this layer wrote it): their directories'
    /// modes are no longer to be set.
    fn forget_lower(&mut self, rel: &Path, itself: bool) {
        let applied = self.applied.as_deref_mut().expect("an applying unpacker");
        let keep = (!itself || applied.was_written(rel))
            .then(|| applied.dirs.get(rel).copied())
            .flatten();
        applied.forget_lower_dirs(rel);
        if let Some(kept) = keep {
            applied.dirs.insert(rel.to_owned(), kept);
        }
    }

    /// Removes `rel` unless this layer wrote it; a directory this layer
    /// wrote loses only what lower layers put in it.
    fn remove_lower(&self, rel: &Path, shown: &str) -> Result<(), Error> {
        if self.applied().was_written(rel) {
            return self.clear_lower(rel, shown);
        }
        let (parent, name) = super::split(rel);
        let Some(dir) = self.open_existing(parent, shown)? else {
            return Ok(());
        };
        let name = sys::cstring(name.as_bytes()).map_err(|e| self.io_error(rel, e))?;
        sys::remove_at(dir.as_fd(), &name).map_err(|e| self.io_error(rel, e))
    }

    /// Empties the directory `rel` of everything this layer did not write,
    /// at any depth. Nothing there (or not a directory): nothing to do.
    fn clear_lower(&self, rel: &Path, shown: &str) -> Result<(), Error> {
        let Some(dir) = self.open_existing(rel, shown)? else {
            return Ok(());
        };
        for name in sys::list_dir(dir.as_fd()).map_err(|e| self.io_error(rel, e))? {
            let child = rel.join(OsStr::from_bytes(name.as_bytes()));
            if !self.applied().was_written(&child) {
                sys::remove_at(dir.as_fd(), &name).map_err(|e| self.io_error(&child, e))?;
                continue;
            }
            let is_dir = sys::lstat_at(dir.as_fd(), &name)
                .map_err(|e| self.io_error(&child, e))?
                .is_some_and(|st| sys::is_dir(&st));
            if is_dir {
                self.clear_lower(&child, shown)?;
            }
        }
        Ok(())
    }

    /// The directory `rel`, if there is one (no symlink followed).
    fn open_existing(
        &self,
        rel: &Path,
        shown: &str,
    ) -> Result<Option<std::os::fd::OwnedFd>, Error> {
        match sys::open_dir_beneath(self.root.as_fd(), rel, true) {
            Ok(fd) => Ok(Some(fd)),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => Ok(None),
            Err(e) => Err(self.resolve_error(shown, e)),
        }
    }

    pub(super) fn not_streamable(&self, shown: &str, reason: &str) -> Error {
        Error::NotStreamable {
            layer: self.layer.to_owned(),
            entry: shown.to_owned(),
            reason: reason.to_owned(),
        }
    }
}
