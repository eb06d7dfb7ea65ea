//! Copying subtrees of a chain into a layer: `withDirectory` and
//! `withFile` (COPY), the rewrites in place (`chown`, `withTimestamps`),
//! and `Directory.diff`'s items.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use super::{copy_xattrs, resolve_dest, split_name, CopyStats, LayerWriter, Overrides};
use crate::filter::Filter;
use crate::view::{ChainView, FileKind, Item};
use crate::{sys, Error};

/// Materializes the merged subtree `src_path` of `source` (a file or a
/// directory), filtered, into the diff directory `dest_layer` at `dest_path`,
/// as a layer to stack on `target`. A directory merges into a directory that
/// `target` has at `dest_path` (Docker's COPY); anything else there is
/// replaced. `owner` overrides every entry's owner; `mode_override` the
/// permissions of a copied file, or of every entry below a copied
/// directory, files and directories (a Dockerfile's `COPY --chmod`, as
/// buildah applies it; the directory itself keeps its own).
#[allow(clippy::too_many_arguments)]
pub fn copy_into_layer(
    source: &ChainView,
    src_path: &str,
    filter: &Filter,
    target: &ChainView,
    dest_layer: &Path,
    dest_path: &str,
    owner: Option<(u32, u32)>,
    mode_override: Option<u32>,
) -> Result<CopyStats, Error> {
    let overrides = Overrides {
        owner,
        file_mode: mode_override,
        all_modes: None,
        mtime: None,
    };
    copy_tree(
        source, src_path, filter, target, dest_layer, dest_path, &overrides, true,
    )
}

/// [`copy_into_layer`] with every override; `merge` keeps the attributes
/// of a directory `target` already has at `dest_path` (COPY), where a
/// rewrite in place (`chown`, `withTimestamps`) gives it the overrides too.
#[allow(clippy::too_many_arguments)]
pub(crate) fn copy_tree(
    source: &ChainView,
    src_path: &str,
    filter: &Filter,
    target: &ChainView,
    dest_layer: &Path,
    dest_path: &str,
    overrides: &Overrides,
    merge: bool,
) -> Result<CopyStats, Error> {
    let items = source
        .walk(src_path, filter)?
        .ok_or_else(|| Error::NotFound {
            path: src_path.to_owned(),
        })?;
    let mut writer = LayerWriter::open(target, dest_layer)?;
    let mut stats = CopyStats::default();
    let mut dest = resolve_dest(target, dest_path)?;
    let root = &items[0].found;
    // A directory's mode override is every entry's below it.
    let tree_overrides;
    let overrides = match (root.kind, overrides.file_mode) {
        (FileKind::Dir, Some(mode)) => {
            tree_overrides = Overrides {
                file_mode: None,
                all_modes: Some(mode),
                ..*overrides
            };
            &tree_overrides
        }
        _ => overrides,
    };
    if root.kind != FileKind::Dir {
        let (parent, name) = split_name(&writer, &dest)?;
        let dir = writer.ensure_dirs(parent)?;
        writer.copy_entry(
            source,
            root,
            dir.as_fd(),
            &name,
            &dest,
            overrides,
            &mut stats,
        )?;
        writer.finish()?;
        return Ok(stats);
    }

    // The mode given for a directory is its entries', not its own (as
    // buildah's COPY --chmod).
    let root_overrides = Overrides {
        all_modes: None,
        ..*overrides
    };
    // Into an existing directory, or one a symlink there points to.
    let existing = target.lookup(&format!("/{}", dest.display()), true)?;
    match existing {
        Some(node) if merge && node.metadata.is_dir() => {
            dest = PathBuf::from(node.container_path.trim_start_matches('/'));
            writer.ensure_dirs(&dest)?;
        }
        _ if dest.as_os_str().is_empty() => {
            // The chain's root: the layer's own root takes the attributes.
            let attrs = root_overrides.dir_attrs(&root.meta);
            writer
                .dir_times
                .retain(|(rel, _)| !rel.as_os_str().is_empty());
            let fd = writer
                .root
                .try_clone()
                .map_err(|e| writer.error(Path::new(""), e))?;
            writer.set_dir_attrs(fd.as_fd(), Path::new(""), attrs)?;
        }
        _ => {
            let (parent, name) = split_name(&writer, &dest)?;
            let dir = writer.ensure_dirs(parent)?;
            let attrs = root_overrides.dir_attrs(&root.meta);
            writer.make_dir_entry(dir.as_fd(), &name, &dest, attrs, true)?;
        }
    }
    stats.dirs += 1;
    let children = Overrides {
        file_mode: None,
        ..*overrides
    };
    writer.write_items(source, &items[1..], &dest, &children, &mut stats)?;
    writer.finish()?;
    Ok(stats)
}

impl LayerWriter<'_> {
    /// Writes walked `items` (parents before children) under `dest`.
    pub(crate) fn write_items<'i>(
        &mut self,
        source: &ChainView,
        items: impl IntoIterator<Item = &'i Item>,
        dest: &Path,
        overrides: &Overrides,
        stats: &mut CopyStats,
    ) -> Result<(), Error> {
        for item in items {
            let rel = dest.join(&item.rel);
            let (parent, name) = split_name(self, &rel)?;
            let dir = self.dir(parent)?;
            if item.found.kind == FileKind::Dir {
                let attrs = overrides.dir_attrs(&item.found.meta);
                let sub = self.make_dir_entry(dir.as_fd(), &name, &rel, attrs, true)?;
                let src_dir = sys::open_dir(&item.found.host)
                    .map_err(|e| source.read_error(item.found.layer, &item.found.host, e))?;
                copy_xattrs(src_dir.as_fd(), sub.as_fd()).map_err(|e| self.error(&rel, e))?;
                stats.dirs += 1;
            } else {
                self.copy_entry(
                    source,
                    &item.found,
                    dir.as_fd(),
                    &name,
                    &rel,
                    overrides,
                    stats,
                )?;
            }
        }
        Ok(())
    }
}

/// Writes walked `items` of `source` (a subtree's entries, parents before
/// children, the subtree's root left out) into the fresh layer `dest_layer`
/// at its root, with their own attributes: `Directory.diff`.
pub(crate) fn copy_items(
    source: &ChainView,
    items: &[&Item],
    dest_layer: &Path,
) -> Result<CopyStats, Error> {
    let empty = ChainView::new(Vec::new());
    let mut writer = LayerWriter::open(&empty, dest_layer)?;
    let mut stats = CopyStats::default();
    writer.write_items(
        source,
        items.iter().copied(),
        Path::new(""),
        &Overrides::default(),
        &mut stats,
    )?;
    writer.finish()?;
    Ok(stats)
}
