//! Listing a host directory: the entries a filter takes, in sorted
//! pre-order, with the `lstat` each was listed with.

use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use super::{host_error, HostEntry};
use crate::digest::{self, EntryKind};
use crate::filter::Filter;
use crate::Error;

/// The entries of `dir` with their `lstat`, sorted by name.
fn list_sorted(dir: &Path) -> Result<Vec<(std::ffi::OsString, Metadata)>, Error> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(host_error(dir))? {
        let entry = entry.map_err(host_error(dir))?;
        let meta = entry.metadata().map_err(host_error(&entry.path()))?;
        children.push((entry.file_name(), meta));
    }
    children.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(children)
}

/// Lists the tree below `root` in sorted pre-order, taking what `filter`
/// takes. Walking is mostly `lstat` calls, so the root's subtrees are walked
/// by a few threads at once.
pub(super) fn walk_root(
    root: &Path,
    filter: &Filter,
    out: &mut Vec<HostEntry>,
) -> Result<(), Error> {
    let children = list_sorted(root)?;
    let subtrees = digest::parallel(children.len(), |i, _| {
        let (name, meta) = &children[i];
        let mut entries = Vec::new();
        visit(root, Path::new(""), name, meta, filter, &mut entries).map(|_| entries)
    });
    for subtree in subtrees {
        out.extend(subtree?);
    }
    Ok(())
}

/// Lists the directory `dir` (at `rel` below the root) into `out`.
fn walk(dir: &Path, rel: &Path, filter: &Filter, out: &mut Vec<HostEntry>) -> Result<bool, Error> {
    let mut any = false;
    for (name, meta) in list_sorted(dir)? {
        any |= visit(dir, rel, &name, &meta, filter, out)?;
    }
    Ok(any)
}

/// Lists the entry `name` of `dir` (and what is below it) into `out`; a
/// directory is listed when it is taken itself or anything below it is.
/// Returns whether anything was listed.
fn visit(
    dir: &Path,
    rel: &Path,
    name: &std::ffi::OsStr,
    meta: &Metadata,
    filter: &Filter,
    out: &mut Vec<HostEntry>,
) -> Result<bool, Error> {
    let child_rel = rel.join(name);
    let host = dir.join(name);
    let everything = filter.is_everything();
    let text = if everything {
        Default::default()
    } else {
        child_rel.to_string_lossy()
    };
    let t = meta.file_type();
    if t.is_dir() {
        if !everything && !filter.may_descend(&text) {
            return Ok(false);
        }
        let taken = everything || filter.includes_file(&text);
        let at = out.len();
        out.push(HostEntry::new(
            child_rel.clone(),
            host.clone(),
            meta,
            EntryKind::Dir,
        ));
        if walk(&host, &child_rel, filter, out)? || taken {
            return Ok(true);
        }
        out.truncate(at);
        return Ok(false);
    }
    if !everything && !filter.includes_file(&text) {
        return Ok(false);
    }
    if t.is_file() {
        out.push(HostEntry::new(child_rel, host, meta, EntryKind::File));
    } else if t.is_symlink() {
        let mut entry = HostEntry::new(child_rel, host, meta, EntryKind::Symlink);
        entry.target = Some(std::fs::read_link(&entry.host).map_err(host_error(&entry.host))?);
        out.push(entry);
    } else {
        let kind = if t.is_fifo() {
            "fifo"
        } else if t.is_socket() {
            "socket"
        } else {
            "device node"
        };
        tracing::warn!(
            "skipping {} ({kind}): only files, directories and symlinks are imported",
            host.display()
        );
        return Ok(false);
    }
    Ok(true)
}
