//! Making the snapshot of a listed host tree: directories and symlinks in
//! order, files copied in parallel batches, then the directories' modes and
//! times, all in a temp directory that is renamed into place. What is copied
//! must be what was hashed: a file whose stat changed since fails the import.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::stat_cache::Stamp;
use super::{changed, HostEntry};
use crate::digest::{self, EntryKind};
use crate::store::Store;
use crate::temp::temp_name;
use crate::{sys, Error};

/// Copies `entries` into a new snapshot at `dir`. Returns whether another
/// process made it first.
pub(super) fn make_snapshot(
    store: &Store,
    dir: &Path,
    hex: &str,
    entries: &[HostEntry],
    shown: &Path,
) -> Result<bool, Error> {
    let temp = temp_name(store.snapshots_tmp_dir(), &format!("local-{hex}"));
    let result = fill_snapshot(&temp, entries).and_then(|()| {
        let fs = sys::open_dir(&temp.join("fs"))?;
        sys::sync_filesystem(fs.as_fd())?;
        std::fs::rename(&temp, dir)
    });
    match result {
        Ok(()) => Ok(false),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&temp);
            if dir.join("fs").is_dir() {
                return Ok(true);
            }
            match e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<ChangedError>())
            {
                Some(ChangedError(path)) => Err(changed(path)),
                None => Err(Error::HostImport {
                    path: shown.to_owned(),
                    source: e,
                }),
            }
        }
    }
}

#[derive(Debug)]
struct ChangedError(PathBuf);

impl std::fmt::Display for ChangedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} changed while it was being imported",
            self.0.display()
        )
    }
}

impl std::error::Error for ChangedError {}

fn fill_snapshot(temp: &Path, entries: &[HostEntry]) -> io::Result<()> {
    let fs = temp.join("fs");
    std::fs::create_dir_all(&fs)?;
    let root = sys::open_dir(&fs)?;
    sys::chmod_fd(root.as_fd(), 0o755)?;
    // Directories and symlinks in order, then files in parallel, then the
    // directories' modes and times, deepest first (children change mtimes).
    for entry in &entries[1..] {
        let (parent, name) = parent_and_name(&entry.rel)?;
        match entry.kind {
            EntryKind::Dir => {
                let dir = sys::open_dir_beneath(root.as_fd(), parent, true)?;
                sys::mkdir_at(dir.as_fd(), &name, 0o700)?;
            }
            EntryKind::Symlink => {
                let dir = sys::open_dir_beneath(root.as_fd(), parent, true)?;
                let target = entry.target.as_deref().unwrap_or(Path::new(""));
                sys::symlink_at(target.as_os_str(), dir.as_fd(), &name)?;
                sys::chown_at(dir.as_fd(), &name, 0, 0)?;
                sys::set_times_at(dir.as_fd(), &name, entry.mtime)?;
            }
            _ => {}
        }
    }
    copy_files(root.as_fd(), entries)?;
    for entry in entries[1..].iter().rev() {
        if entry.kind != EntryKind::Dir {
            continue;
        }
        let dir = sys::open_dir_beneath(root.as_fd(), &entry.rel, true)?;
        sys::chown_fd(dir.as_fd(), 0, 0)?;
        sys::chmod_fd(dir.as_fd(), entry.mode)?;
        sys::set_times_fd(dir.as_fd(), entry.mtime)?;
    }
    Ok(())
}

/// Files per batch: one thread copies a batch, all from one directory.
const BATCH: usize = 128;

/// Copies the files of `entries` into the tree at `root`, whose directories
/// exist. Files go in batches of one directory each, interleaved across
/// directories: a thread opens its directory once per batch, and two
/// threads rarely create in the same directory at once (they would queue
/// on its lock).
fn copy_files(root: BorrowedFd, entries: &[HostEntry]) -> io::Result<()> {
    let mut by_dir: BTreeMap<&Path, Vec<&HostEntry>> = BTreeMap::new();
    for entry in entries.iter().filter(|e| e.kind == EntryKind::File) {
        let parent = entry.rel.parent().unwrap_or(Path::new(""));
        by_dir.entry(parent).or_default().push(entry);
    }
    let mut batches: Vec<(usize, &Path, &[&HostEntry])> = by_dir
        .iter()
        .flat_map(|(dir, files)| {
            files
                .chunks(BATCH)
                .enumerate()
                .map(move |(n, batch)| (n, *dir, batch))
        })
        .collect();
    batches.sort_by_key(|(n, _, _)| *n);
    // Creating as root (in the user namespace) already gives 0:0, and the
    // umask may already give the mode: skip the calls that change nothing.
    let owner_is_root = nix::unistd::geteuid().is_root() && nix::unistd::getegid().as_raw() == 0;
    let umask = sys::umask();
    let copied = digest::parallel(batches.len(), |i, _| -> io::Result<()> {
        let (_, parent, files) = batches[i];
        let dir = sys::open_dir_beneath(root, parent, true)?;
        for entry in files {
            copy_file(dir.as_fd(), entry, owner_is_root, umask)?;
        }
        Ok(())
    });
    copied.into_iter().collect()
}

fn copy_file(
    dir: BorrowedFd,
    entry: &HostEntry,
    owner_is_root: bool,
    umask: u32,
) -> io::Result<()> {
    let (_, name) = parent_and_name(&entry.rel)?;
    let input = sys::open_nofollow(&entry.host)?;
    // What we copy must be what we hashed: same inode, same stat.
    if Stamp::of(&input.metadata()?) != entry.stamp {
        return Err(io::Error::other(ChangedError(entry.host.clone())));
    }
    let output = sys::create_file_at_mode(dir, &name, entry.mode & 0o777)?;
    let n = sys::copy_contents(&input, &output)?;
    if n != entry.stamp.size || Stamp::of(&input.metadata()?) != entry.stamp {
        return Err(io::Error::other(ChangedError(entry.host.clone())));
    }
    if !owner_is_root {
        sys::chown_fd(output.as_fd(), 0, 0)?;
    }
    if entry.mode & 0o777 & !umask != entry.mode {
        sys::chmod_fd(output.as_fd(), entry.mode)?;
    }
    sys::set_times_fd(output.as_fd(), entry.mtime)
}

fn parent_and_name(rel: &Path) -> io::Result<(&Path, std::ffi::CString)> {
    let name = rel.file_name().unwrap_or_default();
    Ok((
        rel.parent().unwrap_or(Path::new("")),
        sys::cstring(name.as_bytes())?,
    ))
}
