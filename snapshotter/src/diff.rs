//! `Directory.diff`: what one tree has that another lacks or has otherwise,
//! as a layer of its own.
//!
//! As in Dagger (BuildKit's snapshot diff read as a directory), the result
//! holds the entries of `upper` that are new or changed against `lower`,
//! with the directories that lead to them; what `upper` removed cannot show
//! in a directory and is left out. An entry is unchanged when its type,
//! permission bits, owner, and (for files) contents or (for symlinks)
//! target are the same: mtimes are not compared, so a tree diffed against
//! a copy of itself is empty.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::copy::copy_items;
use crate::filter::Filter;
use crate::view::{ChainView, FileKind, Found, Item};
use crate::{sys, Error};

/// Writes into `dest_layer` what the subtree `upper_path` of `upper` has
/// that the subtree `lower_path` of `lower` lacks or has otherwise. A
/// missing `lower_path` counts as empty.
pub fn diff_into_layer(
    lower: &ChainView,
    lower_path: &str,
    upper: &ChainView,
    upper_path: &str,
    dest_layer: &Path,
) -> Result<(), Error> {
    let items = changed_items(lower, lower_path, upper, upper_path)?;
    let kept: Vec<&Item> = items.iter().collect();
    copy_items(upper, &kept, dest_layer)?;
    Ok(())
}

/// The entries of the subtree `upper_path` of `upper` that are new or
/// changed against `lower_path` of `lower`, with the directories that lead
/// to them, parents first; the subtree's root is left out. A missing
/// `lower_path` counts as empty.
pub(crate) fn changed_items(
    lower: &ChainView,
    lower_path: &str,
    upper: &ChainView,
    upper_path: &str,
) -> Result<Vec<Item>, Error> {
    let items = upper
        .walk(upper_path, &Filter::everything())?
        .ok_or_else(|| Error::NotFound {
            path: upper_path.to_owned(),
        })?;
    let mut changed = vec![false; items.len()];
    for (i, item) in items.iter().enumerate().skip(1) {
        let path = format!(
            "{}/{}",
            lower_path.trim_end_matches('/'),
            item.rel.display()
        );
        let before = lower.resolve(&path, false)?.map(|(found, _)| found);
        if !same(lower, before.as_ref(), upper, &item.found)? {
            changed[i] = true;
        }
    }
    // A directory is kept when anything below it is: it leads there.
    let index: HashMap<&Path, usize> = items
        .iter()
        .enumerate()
        .map(|(i, item)| (item.rel.as_path(), i))
        .collect();
    for i in (1..items.len()).rev() {
        if changed[i] {
            if let Some(&at) = items[i].rel.parent().and_then(|p| index.get(p)) {
                changed[at] = true;
            }
        }
    }
    Ok(items
        .into_iter()
        .zip(changed)
        .skip(1)
        .filter_map(|(item, keep)| keep.then_some(item))
        .collect())
}

fn same(
    lower: &ChainView,
    before: Option<&Found>,
    upper: &ChainView,
    after: &Found,
) -> Result<bool, Error> {
    let Some(before) = before else {
        return Ok(false);
    };
    let (a, b) = (&before.meta, &after.meta);
    if before.kind != after.kind || a.mode() != b.mode() || a.uid() != b.uid() || a.gid() != b.gid()
    {
        return Ok(false);
    }
    match after.kind {
        FileKind::Dir => Ok(true),
        FileKind::Symlink => {
            let read = |view: &ChainView, found: &Found| {
                std::fs::read_link(&found.host)
                    .map_err(|e| view.read_error(found.layer, &found.host, e))
            };
            Ok(read(lower, before)? == read(upper, after)?)
        }
        FileKind::File if a.len() != b.len() => Ok(false),
        // The same file of the same layer, seen through both chains.
        FileKind::File if before.host == after.host => Ok(true),
        FileKind::File => same_contents(lower, before, upper, after),
        FileKind::Other => Ok(a.rdev() == b.rdev()),
    }
}

pub(crate) fn same_contents(
    lower: &ChainView,
    before: &Found,
    upper: &ChainView,
    after: &Found,
) -> Result<bool, Error> {
    let open = |view: &ChainView, found: &Found| {
        sys::open_nofollow(&found.host).map_err(|e| view.read_error(found.layer, &found.host, e))
    };
    let (mut x, mut y) = (open(lower, before)?, open(upper, after)?);
    same_bytes(&mut x, &mut y).map_err(|e| upper.read_error(after.layer, &after.host, e))
}

/// Whether two open files hold the same bytes, read side by side.
pub(crate) fn same_bytes(x: &mut std::fs::File, y: &mut std::fs::File) -> std::io::Result<bool> {
    let (mut bx, mut by) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    loop {
        let n = read_full(x, &mut bx)?;
        let m = read_full(y, &mut by)?;
        if n != m || bx[..n] != by[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// Reads until `buf` is full or the file ends.
fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}
