//! New entries in a layer: a file (`withNewFile`), a directory
//! (`withNewDirectory`), a whiteout (`withoutFile`, `withoutDirectory`).

use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;

use super::{attrs_of, resolve_dest, split_name, DirAttrs, LayerWriter, DEFAULT_DIR};
use crate::view::ChainView;
use crate::{overlay, sys, Error};

/// Writes a new regular file (`withNewFile`) at `dest_path`.
pub fn write_new_file(
    target: &ChainView,
    dest_layer: &Path,
    dest_path: &str,
    contents: &[u8],
    mode: u32,
    owner: (u32, u32),
) -> Result<(), Error> {
    let mut writer = LayerWriter::open(target, dest_layer)?;
    let dest = resolve_dest(target, dest_path)?;
    let (parent, name) = split_name(&writer, &dest)?;
    let dir = writer.ensure_dirs(parent)?;
    let at = |e| writer.error(&dest, e);
    sys::remove_at(dir.as_fd(), &name).map_err(at)?;
    let mut file = sys::create_file_at(dir.as_fd(), &name).map_err(at)?;
    file.write_all(contents).map_err(at)?;
    sys::chown_fd(file.as_fd(), owner.0, owner.1).map_err(at)?;
    sys::chmod_fd(file.as_fd(), mode & 0o7777).map_err(at)?;
    writer.finish()
}

/// Creates a directory (`withNewDirectory`) at `dest_path`, with its parents.
/// One that exists in `target` keeps its contents and takes `mode`.
pub fn make_dir(
    target: &ChainView,
    dest_layer: &Path,
    dest_path: &str,
    mode: u32,
) -> Result<(), Error> {
    let mut writer = LayerWriter::open(target, dest_layer)?;
    let dest = resolve_dest(target, dest_path)?;
    if dest.as_os_str().is_empty() {
        return writer.finish();
    }
    let (parent, name) = split_name(&writer, &dest)?;
    let dir = writer.ensure_dirs(parent)?;
    let mut attrs = DirAttrs {
        mode: mode & 0o7777,
        ..DEFAULT_DIR
    };
    if let Some(node) = target.lookup(&format!("/{}", dest.display()), false)? {
        if node.metadata.is_dir() {
            attrs = DirAttrs {
                mode: mode & 0o7777,
                ..attrs_of(&node.metadata)
            };
        }
    }
    writer.make_dir_entry(dir.as_fd(), &name, &dest, attrs, true)?;
    writer.finish()
}

/// Makes sure a directory is at `dest_path` (Dockerfile `WORKDIR`): made
/// with its parents, mode 0755 and owned by root, when missing; left as it
/// is, mode and owner, when there.
pub fn ensure_dir(target: &ChainView, dest_layer: &Path, dest_path: &str) -> Result<(), Error> {
    let existing = match resolve_dest(target, dest_path) {
        Ok(dest) if dest.as_os_str().is_empty() => true,
        Ok(dest) => target
            .lookup(&format!("/{}", dest.display()), false)?
            .is_some_and(|node| node.metadata.is_dir()),
        Err(e) => return Err(e),
    };
    if existing {
        return LayerWriter::open(target, dest_layer)?.finish();
    }
    make_dir(target, dest_layer, dest_path, 0o755)
}

/// Removes `dest_path` from the merged view (`withoutFile`,
/// `withoutDirectory`): a whiteout where `target` has something, nothing
/// where it has not. Removing a missing path is not an error.
pub fn make_whiteout(target: &ChainView, dest_layer: &Path, dest_path: &str) -> Result<(), Error> {
    let mut writer = LayerWriter::open(target, dest_layer)?;
    let dest = match resolve_dest(target, dest_path) {
        Ok(dest) => dest,
        // A path through a file cannot exist: nothing to remove.
        Err(Error::NotADirectory { .. }) => return writer.finish(),
        Err(e) => return Err(e),
    };
    let (parent, name) = split_name(&writer, &dest)?;
    let in_target = target
        .lookup(&format!("/{}", dest.display()), false)?
        .is_some();
    if in_target {
        let dir = writer.ensure_dirs(parent)?;
        let at = |e| writer.error(&dest, e);
        sys::remove_at(dir.as_fd(), &name).map_err(at)?;
        overlay::make_whiteout_at(dir.as_fd(), &name).map_err(at)?;
    } else {
        // Only what this layer itself added may be there.
        match sys::open_dir_beneath(writer.root.as_fd(), parent, true) {
            Ok(dir) => sys::remove_at(dir.as_fd(), &name).map_err(|e| writer.error(&dest, e))?,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {}
            Err(e) => return Err(writer.error(parent, e)),
        }
    }
    writer.finish()
}
