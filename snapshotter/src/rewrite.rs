//! Layers that rewrite what a chain has in place (`chown`,
//! `withTimestamps`) or add a symlink (`withSymlink`), written as
//! `copy.rs` writes every layer.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::path::Path;

use crate::copy::{copy_tree, resolve_dest, split_name, LayerWriter, Overrides};
use crate::filter::Filter;
use crate::view::ChainView;
use crate::{sys, Error};

/// Rewrites the subtree at `path` of `target` in place, every entry with
/// `owner` and/or `mtime` (seconds since the epoch): `chown`,
/// `withTimestamps`. The layer holds a copy of the whole subtree.
pub fn rewrite_tree(
    target: &ChainView,
    dest_layer: &Path,
    path: &str,
    owner: Option<(u32, u32)>,
    mtime: Option<i64>,
) -> Result<(), Error> {
    let resolved = target
        .lookup(path, true)?
        .ok_or_else(|| Error::NotFound {
            path: path.to_owned(),
        })?
        .container_path;
    let overrides = Overrides {
        owner,
        file_mode: None,
        all_modes: None,
        mtime,
    };
    copy_tree(
        target,
        &resolved,
        &Filter::everything(),
        target,
        dest_layer,
        &resolved,
        &overrides,
        false,
    )?;
    Ok(())
}

/// Makes a symlink `link_path` → `link_target` (`withSymlink`), with the
/// missing parents made as `mkdir -p` would. Like `ln -s`, refuses to
/// replace what is there.
pub fn make_symlink(
    target: &ChainView,
    dest_layer: &Path,
    link_path: &str,
    link_target: &str,
) -> Result<(), Error> {
    let mut writer = LayerWriter::open(target, dest_layer)?;
    let dest = resolve_dest(target, link_path)?;
    if target
        .lookup(&format!("/{}", dest.display()), false)?
        .is_some()
    {
        return Err(Error::AlreadyExists {
            path: link_path.to_owned(),
        });
    }
    let (parent, name) = split_name(&writer, &dest)?;
    let dir = writer.ensure_dirs(parent)?;
    sys::symlink_at(OsStr::new(link_target), dir.as_fd(), &name)
        .map_err(|e| writer.error(&dest, e))?;
    writer.finish()
}
