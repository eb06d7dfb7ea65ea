//! Writing a merged subtree to the host (`Directory.export`, `File.export`),
//! so that a failure leaves the destination as it was.
//!
//! Everything is first built in a temp sibling of the destination,
//! `.<name>.tanto-tmp-<pid>-<n>` (same file system, so renames are atomic),
//! and flushed; only then is anything renamed into place. Exported files
//! belong to the caller and lose set-id bits: the export is the user's data,
//! not a container's.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::filter::Filter;
use crate::view::{ChainView, FileKind, Item};
use crate::{sys, Error};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The permission bits an exported entry keeps.
const KEPT_BITS: u32 = 0o1777;

fn temp_sibling(parent: &Path, name: &std::ffi::OsStr) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut temp = std::ffi::OsString::from(".");
    temp.push(name);
    temp.push(format!(".tanto-tmp-{}-{n}", std::process::id()));
    parent.join(temp)
}

/// The absolute destination, its parent (which must be a directory) and
/// its name.
fn destination(dest: &Path) -> Result<(PathBuf, PathBuf, std::ffi::OsString), Error> {
    let export_error = |source| Error::Export {
        path: dest.to_owned(),
        source,
    };
    let dest = std::path::absolute(dest).map_err(export_error)?;
    let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
        return Err(export_error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the destination must name a file or directory in a parent directory",
        )));
    };
    match std::fs::metadata(parent) {
        Ok(meta) if meta.is_dir() => {}
        _ => {
            return Err(Error::ExportParentMissing {
                path: dest.clone(),
                parent: parent.to_owned(),
            })
        }
    }
    Ok((dest.clone(), parent.to_owned(), name.to_owned()))
}

/// Exports the merged directory `src_path` of `view`, filtered, to `dest`.
/// A missing `dest` is created; an existing directory is merged into (files
/// not in the export stay), or with `wipe` replaced whole. Returns the
/// absolute path written.
pub fn export_dir(
    view: &ChainView,
    src_path: &str,
    filter: &Filter,
    dest: &Path,
    wipe: bool,
) -> Result<PathBuf, Error> {
    let items = view
        .walk(src_path, filter)?
        .ok_or_else(|| Error::NotFound {
            path: src_path.to_owned(),
        })?;
    if items[0].found.kind != FileKind::Dir {
        return Err(Error::NotADirectory {
            path: src_path.to_owned(),
        });
    }
    let target = DirDestination::check(dest)?;
    if target.exists && !wipe {
        check_merge(&items, &target.dest)?;
    }
    let dest = target.dest.clone();
    target.write(
        wipe,
        |temp| {
            build(&items, temp).map_err(|source| Error::Export {
                path: dest.clone(),
                source,
            })
        },
        |temp, dest| merge(&items, temp, dest),
    )
}

/// Where a directory export goes, checked before anything is written.
pub(crate) struct DirDestination {
    /// Absolute; where a symlink to a directory points.
    pub dest: PathBuf,
    parent: PathBuf,
    name: std::ffi::OsString,
    /// Whether a directory is there already.
    pub exists: bool,
}

impl DirDestination {
    pub(crate) fn check(dest: &Path) -> Result<DirDestination, Error> {
        let (mut dest, parent, name) = destination(dest)?;
        let existing = match std::fs::metadata(&dest) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => return Err(Error::Export { path: dest, source }),
        };
        let (parent, name) = match &existing {
            Some(meta) if !meta.is_dir() => return Err(Error::ExportNotADirectory { path: dest }),
            // A symlink to a directory: export into where it points.
            Some(_) if std::fs::symlink_metadata(&dest).is_ok_and(|m| m.is_symlink()) => {
                dest = std::fs::canonicalize(&dest).map_err(|source| Error::Export {
                    path: dest.clone(),
                    source,
                })?;
                match (dest.parent(), dest.file_name()) {
                    (Some(p), Some(n)) => (p.to_owned(), n.to_owned()),
                    _ => (parent, name),
                }
            }
            _ => (parent, name),
        };
        Ok(DirDestination {
            dest,
            parent,
            name,
            exists: existing.is_some(),
        })
    }

    /// Builds the tree with `build` in a temp sibling (which must not
    /// exist before), flushes it, and only then puts it in place: renamed
    /// to a missing destination, exchanged with an existing one (`wipe`)
    /// or moved into it (`merge(temp, dest)`). On failure the destination
    /// is as it was. Returns the path written.
    pub(crate) fn write(
        &self,
        wipe: bool,
        build: impl FnOnce(&Path) -> Result<(), Error>,
        merge: impl FnOnce(&Path, &Path) -> io::Result<()>,
    ) -> Result<PathBuf, Error> {
        let export_error = |source| Error::Export {
            path: self.dest.clone(),
            source,
        };
        let temp = temp_sibling(&self.parent, &self.name);
        let built = build(&temp).and_then(|()| {
            let fd = sys::open_dir(&temp).map_err(export_error)?;
            sys::sync_filesystem(fd.as_fd()).map_err(export_error)
        });
        if let Err(e) = built {
            remove_temp(&temp);
            return Err(e);
        }
        let placed = match (self.exists, wipe) {
            (false, _) => std::fs::rename(&temp, &self.dest),
            (true, true) => sys::rename_exchange(&temp, &self.dest),
            (true, false) => merge(&temp, &self.dest),
        };
        remove_temp(&temp);
        placed.map_err(export_error)?;
        Ok(self.dest.clone())
    }
}

fn remove_temp(temp: &Path) {
    match std::fs::remove_dir_all(temp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("cannot remove {}: {e}; remove it by hand", temp.display()),
    }
}

/// Refuses, before anything changes, a merge that would put a file where
/// the destination has a directory.
fn check_merge(items: &[Item], dest: &Path) -> Result<(), Error> {
    for item in &items[1..] {
        if item.found.kind == FileKind::Dir {
            continue;
        }
        let path = dest.join(&item.rel);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            return Err(Error::ExportConflict {
                path: dest.to_owned(),
                conflict: path,
            });
        }
    }
    Ok(())
}

/// Moves the built tree into `dest`, entry by entry: a directory that is
/// missing there (or is a file or symlink there) moves whole, a directory
/// that exists is merged into, anything else replaces what is there.
fn merge(items: &[Item], temp: &Path, dest: &Path) -> io::Result<()> {
    let mut moved: Option<&Path> = None;
    for item in &items[1..] {
        if moved.is_some_and(|m| item.rel.starts_with(m)) {
            continue;
        }
        let from = temp.join(&item.rel);
        let to = dest.join(&item.rel);
        let there = match std::fs::symlink_metadata(&to) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        if item.found.kind == FileKind::Dir {
            match there {
                Some(meta) if meta.is_dir() => continue,
                Some(_) => std::fs::remove_file(&to)?,
                None => {}
            }
            moved = Some(&item.rel);
        }
        std::fs::rename(&from, &to)?;
    }
    Ok(())
}

/// A failure to read the source, as opposed to writing the export.
/// A source file that cannot be read, named: the export's own path does
/// not say which one failed.
#[derive(Debug)]
struct SourceError {
    path: String,
    source: io::Error,
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read {}", self.path)
    }
}

impl std::error::Error for SourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn source_error(item: &Item) -> impl Fn(io::Error) -> io::Error + '_ {
    move |source| {
        io::Error::new(
            source.kind(),
            SourceError {
                path: format!("/{}", item.rel.display()),
                source,
            },
        )
    }
}

/// Builds the exported tree at `temp`, which must not exist.
fn build(items: &[Item], temp: &Path) -> io::Result<()> {
    std::fs::create_dir(temp)?;
    // The directories being filled, from the root down, each open: the
    // walk is pre-order, so an item's parent is on this stack, and nothing
    // is opened from the root again. A directory gets its mode and times
    // as it leaves the stack, once everything in it is written.
    let mut filling: Vec<(&Item, OwnedFd)> = vec![(&items[0], sys::open_dir(temp)?)];
    for item in &items[1..] {
        let parent = item.rel.parent().unwrap_or(Path::new(""));
        while filling.len() > 1 && filling.last().is_some_and(|(dir, _)| dir.rel != parent) {
            finish_dir(filling.pop().expect("not empty"))?;
        }
        let dir = filling.last().expect("the root stays").1.as_fd();
        let file_name = item.rel.file_name().unwrap_or_default();
        let name = sys::cstring(file_name.as_bytes())?;
        let meta = &item.found.meta;
        let mtime = (meta.mtime(), meta.mtime_nsec());
        match item.found.kind {
            FileKind::Dir => {
                sys::mkdir_at(dir, &name, 0o700)?;
                let made = sys::open_dir_beneath(dir, Path::new(file_name), true)?;
                filling.push((item, made));
            }
            FileKind::File => {
                let input = sys::open_nofollow(&item.found.host).map_err(source_error(item))?;
                let output = sys::create_file_at(dir, &name)?;
                sys::copy_contents(&input, &output).map_err(|e| {
                    // Either side may fail here; a read error is the likelier.
                    source_error(item)(e)
                })?;
                sys::chmod_fd(output.as_fd(), meta.mode() & KEPT_BITS)?;
                sys::set_times_fd(output.as_fd(), mtime)?;
            }
            FileKind::Symlink => {
                let target = std::fs::read_link(&item.found.host).map_err(source_error(item))?;
                sys::symlink_at(target.as_os_str(), dir, &name)?;
                sys::set_times_at(dir, &name, mtime)?;
            }
            FileKind::Other => tracing::warn!(
                "not exporting /{}: only files, directories and symlinks are exported",
                item.rel.display()
            ),
        }
    }
    while let Some(dir) = filling.pop() {
        finish_dir(dir)?;
    }
    Ok(())
}

/// A built directory's own mode and times, set last: a read-only one
/// would refuse what goes in it, and writing in it would move its mtime.
fn finish_dir((item, dir): (&Item, OwnedFd)) -> io::Result<()> {
    let meta = &item.found.meta;
    sys::chmod_fd(dir.as_fd(), meta.mode() & KEPT_BITS)?;
    sys::set_times_fd(dir.as_fd(), (meta.mtime(), meta.mtime_nsec()))
}

/// Exports the merged file `src_path` (symlinks followed) to `dest`,
/// replacing a file there atomically. Returns the absolute path written.
pub fn export_file(view: &ChainView, src_path: &str, dest: &Path) -> Result<PathBuf, Error> {
    let found = match view.resolve(src_path, true)? {
        None => {
            return Err(Error::NotFound {
                path: src_path.to_owned(),
            })
        }
        Some((found, _)) if found.kind == FileKind::File => found,
        Some(_) => {
            return Err(Error::NotAFile {
                path: src_path.to_owned(),
            })
        }
    };
    let (dest, parent, name) = destination(dest)?;
    if std::fs::metadata(&dest).is_ok_and(|m| m.is_dir()) {
        return Err(Error::ExportIsADirectory { path: dest });
    }
    let input = sys::open_nofollow(&found.host)
        .map_err(|e| view.read_error(found.layer, &found.host, e))?;
    let temp = temp_sibling(&parent, &name);
    let written = (|| -> io::Result<()> {
        let output = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        sys::copy_contents(&input, &output)?;
        sys::chmod_fd(output.as_fd(), found.meta.mode() & KEPT_BITS)?;
        sys::set_times_fd(
            output.as_fd(),
            (found.meta.mtime(), found.meta.mtime_nsec()),
        )?;
        output.sync_all()?;
        std::fs::rename(&temp, &dest)
    })();
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(Error::Export { path: dest, source });
    }
    Ok(dest)
}
