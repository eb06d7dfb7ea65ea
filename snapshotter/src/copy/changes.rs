//! The writes the copying snapshotter makes of a step's changes
//! (`copied_root.rs`): an entry copied as it is, a directory's attributes
//! as the copy has them.

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use super::{attrs_of, copy_xattrs, split_name, CopyStats, LayerWriter, Overrides, DEFAULT_DIR};
use crate::filter::Filter;
use crate::view::{ChainView, FileKind};
use crate::{sys, Error};

impl LayerWriter<'_> {
    /// Opens the layer's directory `name` in `dir` (`rel`), made with the
    /// target's attributes if missing.
    pub(crate) fn open_subdir(
        &mut self,
        dir: BorrowedFd,
        name: &CStr,
        rel: &Path,
    ) -> Result<OwnedFd, Error> {
        let attrs = match self.target.lookup(&format!("/{}", rel.display()), false)? {
            Some(node) if node.metadata.is_dir() => attrs_of(&node.metadata),
            _ => DEFAULT_DIR,
        };
        self.make_dir_entry(dir, name, rel, attrs, false)
    }

    /// Gives the directory `fd` (the layer's `rel`) the attributes of `meta`.
    pub(crate) fn set_attrs_of(
        &mut self,
        fd: BorrowedFd,
        rel: &Path,
        meta: &std::fs::Metadata,
    ) -> Result<(), Error> {
        self.set_dir_attrs(fd, rel, attrs_of(meta))
    }

    /// Copies `src_path` of `source` to `dest` in the layer as it is: a
    /// link not followed, `dest` taken literally (the copying
    /// snapshotter's changes, where what the chain has at `dest` may be a
    /// link the step replaced), whatever the layer had there replaced.
    pub(crate) fn write_copy_of(
        &mut self,
        source: &ChainView,
        src_path: &str,
        dest: &Path,
    ) -> Result<CopyStats, Error> {
        let mut stats = CopyStats::default();
        let not_found = || Error::NotFound {
            path: src_path.to_owned(),
        };
        let (root, _) = source.resolve(src_path, false)?.ok_or_else(not_found)?;
        let (parent, name) = split_name(self, dest)?;
        let dir = self.ensure_dirs(parent)?;
        let overrides = Overrides::default();
        if root.kind != FileKind::Dir {
            self.copy_entry(
                source,
                &root,
                dir.as_fd(),
                &name,
                dest,
                &overrides,
                &mut stats,
            )?;
            return Ok(stats);
        }
        let items = source
            .walk(src_path, &Filter::everything())?
            .ok_or_else(not_found)?;
        let sub = self.make_dir_entry(dir.as_fd(), &name, dest, attrs_of(&root.meta), true)?;
        let src_dir =
            sys::open_dir(&root.host).map_err(|e| source.read_error(root.layer, &root.host, e))?;
        copy_xattrs(src_dir.as_fd(), sub.as_fd()).map_err(|e| self.error(dest, e))?;
        stats.dirs += 1;
        self.write_items(source, &items[1..], dest, &overrides, &mut stats)?;
        Ok(stats)
    }
}
