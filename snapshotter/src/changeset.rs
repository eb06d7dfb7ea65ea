//! Dagger's `Changeset`: what changed from one tree to another, path by
//! path, and those changes applied to a third tree or to a host directory.
//!
//! The lists follow Dagger's (a file-level comparison, as `git diff` sees
//! trees): paths are relative, a directory's ends with `/`. Added: every
//! new file and every new directory, nested ones too. Modified: a
//! non-directory in both trees whose contents, symlink target, or type as
//! git knows it (file, executable file, symlink) differ; owners, other
//! permission bits and mtimes are not changes here (`Directory.diff`, the
//! changeset's layer, still carries them). Removed: what the newer tree
//! lacks, a directory once without its contents. An entry that turned from
//! a directory into a non-directory, or back, is removed and added.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::copy::{resolve_dest, LayerWriter};
use crate::diff::{changed_items, same_contents};
use crate::filter::Filter;
use crate::view::{ChainView, FileKind, Found, Item};
use crate::{copy, sys, Error};

/// Two trees compared: the subtree `before_path` of `before` (older) and
/// `after_path` of `after` (newer).
#[derive(Clone, Copy, Debug)]
pub struct Comparison<'v> {
    pub before: &'v ChainView,
    pub before_path: &'v str,
    pub after: &'v ChainView,
    pub after_path: &'v str,
}

/// What changed, as Dagger's `Changeset` lists it (sorted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangedPaths {
    pub added: Vec<String>,
    pub modified: Vec<String>,
    /// Collapsed: a removed directory once, its contents left out.
    pub removed: Vec<String>,
    /// Every non-directory removed, inside removed directories too: what a
    /// patch deletes.
    pub removed_files: Vec<String>,
    /// Every entry removed, directories (ending with `/`) and what was in
    /// them: what `diffStats` lists.
    pub removed_all: Vec<String>,
}

impl ChangedPaths {
    /// Whether no file changed. As in Dagger (`git diff --quiet`),
    /// directories alone (a new empty one) do not count.
    pub fn is_empty(&self) -> bool {
        self.modified.is_empty()
            && self.removed_files.is_empty()
            && !self.added.iter().any(|p| !p.ends_with('/'))
    }
}

/// How a path is listed: relative, a directory's with a trailing `/`.
fn listed(rel: &Path, is_dir: bool) -> String {
    let text = String::from_utf8_lossy(rel.as_os_str().as_bytes()).into_owned();
    if is_dir {
        format!("{text}/")
    } else {
        text
    }
}

fn walk_all(view: &ChainView, path: &str) -> Result<Vec<Item>, Error> {
    view.walk(path, &Filter::everything())?
        .ok_or_else(|| Error::NotFound {
            path: path.to_owned(),
        })
}

/// The mode git records for a non-directory: symlink, executable or not.
fn git_mode(found: &Found) -> u32 {
    match found.kind {
        FileKind::Symlink => 0o120000,
        _ if found.meta.mode() & 0o111 != 0 => 0o100755,
        _ => 0o100644,
    }
}

impl Comparison<'_> {
    /// What was added, modified and removed from `before` to `after`.
    pub fn paths(&self) -> Result<ChangedPaths, Error> {
        let old_items = walk_all(self.before, self.before_path)?;
        let new_items = walk_all(self.after, self.after_path)?;
        let by_rel = |items: &'_ [Item]| -> HashMap<std::path::PathBuf, usize> {
            items
                .iter()
                .enumerate()
                .skip(1)
                .map(|(i, item)| (item.rel.clone(), i))
                .collect()
        };
        let (old, new) = (by_rel(&old_items), by_rel(&new_items));
        // The same path with a directory on one side only is another entry.
        let same_kind =
            |a: &Found, b: &Found| (a.kind == FileKind::Dir) == (b.kind == FileKind::Dir);

        let mut paths = ChangedPaths::default();
        for item in &new_items[1..] {
            let is_dir = item.found.kind == FileKind::Dir;
            match old.get(&item.rel).map(|&i| &old_items[i].found) {
                Some(before) if same_kind(before, &item.found) => {
                    if !is_dir && self.differs(before, &item.found)? {
                        paths.modified.push(listed(&item.rel, false));
                    }
                }
                _ => paths.added.push(listed(&item.rel, is_dir)),
            }
        }
        let mut gone: Option<&Path> = None;
        for item in &old_items[1..] {
            let is_dir = item.found.kind == FileKind::Dir;
            let kept = new
                .get(&item.rel)
                .is_some_and(|&i| same_kind(&new_items[i].found, &item.found));
            if kept {
                continue;
            }
            if !is_dir {
                paths.removed_files.push(listed(&item.rel, false));
            }
            paths.removed_all.push(listed(&item.rel, is_dir));
            if gone.is_some_and(|dir| item.rel.starts_with(dir)) {
                continue;
            }
            paths.removed.push(listed(&item.rel, is_dir));
            if is_dir {
                gone = Some(&item.rel);
            }
        }
        paths.added.sort();
        paths.modified.sort();
        paths.removed.sort();
        paths.removed_files.sort();
        paths.removed_all.sort();
        Ok(paths)
    }

    /// Whether two non-directories at one path differ as git sees them.
    fn differs(&self, old: &Found, new: &Found) -> Result<bool, Error> {
        if git_mode(old) != git_mode(new) || old.kind != new.kind {
            return Ok(true);
        }
        match new.kind {
            FileKind::Symlink => {
                let target = |view: &ChainView, found: &Found| {
                    std::fs::read_link(&found.host)
                        .map_err(|e| view.read_error(found.layer, &found.host, e))
                };
                Ok(target(self.before, old)? != target(self.after, new)?)
            }
            FileKind::File if old.meta.len() != new.meta.len() => Ok(true),
            // The same file of the same layer, seen through both chains.
            FileKind::File if old.host == new.host => Ok(false),
            FileKind::File => Ok(!same_contents(self.before, old, self.after, new)?),
            _ => Ok(old.meta.rdev() != new.meta.rdev() || old.meta.mode() != new.meta.mode()),
        }
    }

    /// Writes into `dest_layer`, a layer to stack on `target`, these
    /// changes applied at `target_path` (Dagger's `withChanges`): what was
    /// removed is whited out, then what is new or changed is copied over,
    /// merging into the directories `target` has.
    pub fn apply_into_layer(
        &self,
        target: &ChainView,
        target_path: &str,
        dest_layer: &Path,
    ) -> Result<ChangedPaths, Error> {
        let paths = self.paths()?;
        let root = target_path.trim_end_matches('/');
        for removed in &paths.removed {
            let path = format!("{root}/{}", removed.trim_end_matches('/'));
            copy::make_whiteout(target, dest_layer, &path)?;
        }
        let items = changed_items(self.before, self.before_path, self.after, self.after_path)?;
        let mut writer = LayerWriter::open(target, dest_layer)?;
        let mut dest = resolve_dest(target, target_path)?;
        // Into the directory there, or the one a symlink there points to.
        if let Some(node) = target.lookup(&format!("/{}", dest.display()), true)? {
            if node.metadata.is_dir() {
                dest = node.container_path.trim_start_matches('/').into();
            }
        }
        writer.ensure_dirs(&dest)?;
        writer.write_items(
            self.after,
            items.iter(),
            &dest,
            &copy::Overrides::default(),
            &mut copy::CopyStats::default(),
        )?;
        writer.finish()?;
        Ok(paths)
    }
}

/// Writes the changes to the host directory `dest` (Dagger's
/// `Changeset.export`): the removed paths are removed there first (those
/// already missing are no error), then `layer`, the new and changed
/// entries, is merged in. Nothing outside `dest` is touched: a path through
/// a symlink there is left alone.
pub fn export_changes(
    layer: &ChainView,
    paths: &ChangedPaths,
    dest: &Path,
) -> Result<std::path::PathBuf, Error> {
    let export_error = |source| Error::Export {
        path: dest.to_owned(),
        source,
    };
    if let Ok(root) = sys::open_dir(dest) {
        for removed in &paths.removed {
            let rel = Path::new(removed.trim_end_matches('/'));
            let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
                continue;
            };
            let dir = match sys::open_dir_beneath(root.as_fd(), parent, true) {
                Ok(dir) => dir,
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(export_error(e)),
            };
            let name = sys::cstring(name.as_bytes()).map_err(export_error)?;
            sys::remove_at(dir.as_fd(), &name).map_err(export_error)?;
        }
    }
    crate::export::export_dir(layer, "/", &Filter::everything(), dest, false)
}
