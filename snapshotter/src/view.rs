//! Reading a layer chain as overlay would merge it, without mounting it.
//!
//! The layers are diff directories, top-most first. A name is looked up in
//! each layer from the top: the first layer that has it decides, except that
//! directories merge with the directories of the same name below them until
//! one is opaque or a lower layer has a non-directory there. A whiteout hides
//! the name in all lower layers. (`overlay.rs` defines both markers.)

use std::collections::{BTreeMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::digest::{self, EntryKind, Record, TreeHasher};
use crate::filter::{self, Filter, Pattern};
use crate::{overlay, sys, Error};

/// Symlinks followed in one lookup before it is called a loop (as Linux).
const MAX_SYMLINKS: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Other,
}

impl FileKind {
    fn of(meta: &Metadata) -> FileKind {
        let t = meta.file_type();
        if t.is_file() {
            FileKind::File
        } else if t.is_dir() {
            FileKind::Dir
        } else if t.is_symlink() {
            FileKind::Symlink
        } else {
            FileKind::Other
        }
    }
}

/// An entry of the merged tree, as `ChainView::lookup` finds it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Index in the chain of the layer the entry comes from (for a
    /// directory, the top-most one that has it).
    pub layer: usize,
    pub host_path: PathBuf,
    pub metadata: Metadata,
    /// The path after resolving symlinks and `..`, absolute in the chain.
    pub container_path: String,
}

impl Entry {
    pub fn kind(&self) -> FileKind {
        FileKind::of(&self.metadata)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub kind: FileKind,
}

/// An entry of the merged tree, with what it takes to list it if it is a
/// directory.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) kind: FileKind,
    pub(crate) layer: usize,
    pub(crate) host: PathBuf,
    pub(crate) meta: Metadata,
    /// For a directory: the layers' directories that merge into it, top first.
    pub(crate) dirs: Vec<(usize, PathBuf)>,
}

/// One entry of a walked subtree.
#[derive(Debug)]
pub(crate) struct Item {
    /// Relative to the walked path; empty for the walked path itself.
    pub(crate) rel: PathBuf,
    pub(crate) found: Found,
}

enum Resolved {
    Found(Box<Found>, String),
    /// Does not exist; with `create`, where it would be created.
    Missing(String),
}

/// A read-only merged view of a layer chain.
#[derive(Clone, Debug)]
pub struct ChainView {
    layers: Vec<PathBuf>,
}

fn is_whiteout(meta: &Metadata) -> bool {
    overlay::is_whiteout(meta.mode(), meta.rdev())
}

impl ChainView {
    pub fn new(layers: Vec<PathBuf>) -> ChainView {
        ChainView { layers }
    }

    pub fn layers(&self) -> &[PathBuf] {
        &self.layers
    }

    pub(crate) fn read_error(&self, layer: usize, path: &Path, source: io::Error) -> Error {
        Error::LayerRead {
            layer: self.layers[layer].clone(),
            path: path.display().to_string(),
            source,
        }
    }

    fn is_opaque(&self, layer: usize, dir: &Path) -> Result<bool, Error> {
        overlay::is_opaque(dir).map_err(|e| self.read_error(layer, dir, e))
    }

    fn root(&self) -> Result<Found, Error> {
        let mut dirs = Vec::new();
        let mut first = None;
        for (i, layer) in self.layers.iter().enumerate() {
            let meta =
                std::fs::symlink_metadata(layer).map_err(|e| self.read_error(i, layer, e))?;
            if !meta.is_dir() {
                return Err(self.read_error(i, layer, io::Error::from_raw_os_error(libc::ENOTDIR)));
            }
            first.get_or_insert((i, meta));
            dirs.push((i, layer.clone()));
            if self.is_opaque(i, layer)? {
                break;
            }
        }
        let (layer, meta) = match first {
            Some(first) => first,
            // An empty chain is an empty directory.
            None => (
                0,
                std::fs::symlink_metadata("/").map_err(|e| Error::LayerRead {
                    layer: PathBuf::new(),
                    path: "/".into(),
                    source: e,
                })?,
            ),
        };
        Ok(Found {
            kind: FileKind::Dir,
            layer,
            host: self.layers.get(layer).cloned().unwrap_or_default(),
            meta,
            dirs,
        })
    }

    /// The merged entry `name` of the merged directory `dir`.
    fn child(&self, dir: &Found, name: &OsStr) -> Result<Option<Found>, Error> {
        if overlay::hidden_by(name).is_some() {
            // A whiteout file is a marker, never an entry.
            return Ok(None);
        }
        let mut found: Option<Found> = None;
        for (layer, host_dir) in &dir.dirs {
            let host = host_dir.join(name);
            let meta = match std::fs::symlink_metadata(&host) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if overlay::has_whiteout_file(host_dir, name) {
                        break;
                    }
                    continue;
                }
                Err(e) => return Err(self.read_error(*layer, &host, e)),
            };
            if is_whiteout(&meta) {
                break;
            }
            match &mut found {
                None if meta.is_dir() => {
                    let opaque = self.is_opaque(*layer, &host)?;
                    found = Some(Found {
                        kind: FileKind::Dir,
                        layer: *layer,
                        host: host.clone(),
                        meta,
                        dirs: vec![(*layer, host)],
                    });
                    if opaque {
                        break;
                    }
                }
                None => {
                    return Ok(Some(Found {
                        kind: FileKind::of(&meta),
                        layer: *layer,
                        host,
                        meta,
                        dirs: Vec::new(),
                    }))
                }
                Some(upper) => {
                    // A lower non-directory under a directory is hidden, and
                    // so is everything below it.
                    if !meta.is_dir() {
                        break;
                    }
                    let opaque = self.is_opaque(*layer, &host)?;
                    upper.dirs.push((*layer, host));
                    if opaque {
                        break;
                    }
                }
            }
        }
        Ok(found)
    }

    /// The merged children of a directory, sorted by name.
    pub(crate) fn children(&self, dir: &Found) -> Result<Vec<(OsString, Found)>, Error> {
        let mut names: BTreeMap<OsString, Option<Found>> = BTreeMap::new();
        for (layer, host_dir) in &dir.dirs {
            let entries =
                std::fs::read_dir(host_dir).map_err(|e| self.read_error(*layer, host_dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| self.read_error(*layer, host_dir, e))?;
                let name = entry.file_name();
                if let Some(hidden) = overlay::hidden_by(&name) {
                    // The opaque marker hides nothing by name; a whiteout
                    // file hides its name below this layer.
                    let replaced = host_dir.join(hidden).symlink_metadata().is_ok();
                    if !hidden.is_empty() && !replaced {
                        names.entry(hidden.to_owned()).or_insert(None);
                    }
                    continue;
                }
                if names.contains_key(&name) {
                    continue;
                }
                let host = entry.path();
                let meta = entry
                    .metadata()
                    .map_err(|e| self.read_error(*layer, &host, e))?;
                let found = if is_whiteout(&meta) {
                    None
                } else if meta.is_dir() {
                    self.child(dir, &name)?
                } else {
                    Some(Found {
                        kind: FileKind::of(&meta),
                        layer: *layer,
                        host,
                        meta,
                        dirs: Vec::new(),
                    })
                };
                names.insert(name, found);
            }
        }
        Ok(names
            .into_iter()
            .filter_map(|(name, found)| found.map(|f| (name, f)))
            .collect())
    }

    /// Resolves `path` as a chroot at the chain's root would.
    pub(crate) fn resolve(
        &self,
        path: &str,
        follow: bool,
    ) -> Result<Option<(Found, String)>, Error> {
        Ok(match self.resolve_inner(path, follow, false)? {
            Resolved::Found(found, container_path) => Some((*found, container_path)),
            Resolved::Missing(_) => None,
        })
    }

    /// Where creating `path` would put it, as `mkdir -p` in a chroot at the
    /// chain's root would: symlinks resolved (the last component's too, if
    /// it exists and `follow`), and missing components taken literally.
    /// A path through a non-directory is an error.
    pub(crate) fn resolve_for_create(&self, path: &str, follow: bool) -> Result<String, Error> {
        Ok(match self.resolve_inner(path, follow, true)? {
            Resolved::Found(_, container_path) | Resolved::Missing(container_path) => {
                container_path
            }
        })
    }

    fn resolve_inner(&self, path: &str, follow: bool, create: bool) -> Result<Resolved, Error> {
        let root = self.root()?;
        let mut stack: Vec<(OsString, Found)> = Vec::new();
        let mut pending: VecDeque<OsString> = components(path.as_bytes());
        let mut links = 0;
        let joined = |names: &mut dyn Iterator<Item = &OsString>| {
            let mut out = String::new();
            for name in names {
                out.push('/');
                out.push_str(&name.to_string_lossy());
            }
            if out.is_empty() {
                out.push('/');
            }
            out
        };
        while let Some(name) = pending.pop_front() {
            if name == ".." {
                stack.pop();
                continue;
            }
            let current = stack.last().map(|(_, f)| f).unwrap_or(&root);
            if current.kind != FileKind::Dir {
                if create {
                    return Err(Error::NotADirectory {
                        path: joined(&mut stack.iter().map(|(n, _)| n)),
                    });
                }
                return Ok(Resolved::Missing(String::new()));
            }
            let Some(child) = self.child(current, &name)? else {
                if !create {
                    return Ok(Resolved::Missing(String::new()));
                }
                let mut names: Vec<OsString> = stack.into_iter().map(|(n, _)| n).collect();
                names.push(name);
                for rest in pending {
                    if rest == ".." {
                        names.pop();
                    } else {
                        names.push(rest);
                    }
                }
                return Ok(Resolved::Missing(joined(&mut names.iter())));
            };
            if child.kind == FileKind::Symlink && (follow || !pending.is_empty()) {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Error::SymlinkLoop {
                        path: path.to_owned(),
                    });
                }
                let target = std::fs::read_link(&child.host)
                    .map_err(|e| self.read_error(child.layer, &child.host, e))?;
                let target = target.as_os_str().as_bytes();
                if target.starts_with(b"/") {
                    stack.clear();
                }
                for component in components(target).into_iter().rev() {
                    pending.push_front(component);
                }
                continue;
            }
            stack.push((name, child));
        }
        let container_path = joined(&mut stack.iter().map(|(n, _)| n));
        let found = stack.pop().map(|(_, f)| f).unwrap_or(root);
        Ok(Resolved::Found(Box::new(found), container_path))
    }

    /// Resolves `path` (absolute, or relative to the chain's root) like a
    /// chroot would: `..` stops at the root, symlinks resolve within the
    /// chain, the last one only with `follow`. `None` if it does not exist.
    pub fn lookup(&self, path: &str, follow: bool) -> Result<Option<Entry>, Error> {
        Ok(self
            .resolve(path, follow)?
            .map(|(found, container_path)| Entry {
                layer: found.layer,
                host_path: found.host,
                metadata: found.meta,
                container_path,
            }))
    }

    pub(crate) fn resolve_dir(&self, path: &str) -> Result<(Found, String), Error> {
        match self.resolve(path, true)? {
            None => Err(Error::NotFound {
                path: path.to_owned(),
            }),
            Some((found, resolved)) if found.kind == FileKind::Dir => Ok((found, resolved)),
            Some(_) => Err(Error::NotADirectory {
                path: path.to_owned(),
            }),
        }
    }

    /// The merged entries of the directory at `path`, sorted by name.
    pub fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, Error> {
        let (dir, _) = self.resolve_dir(path)?;
        Ok(self
            .children(&dir)?
            .into_iter()
            .map(|(name, found)| DirEntry {
                name: name.to_string_lossy().into_owned(),
                kind: found.kind,
            })
            .collect())
    }

    /// The contents of the regular file at `path` (symlinks followed), at
    /// most `limit` bytes.
    pub fn read_file(&self, path: &str, limit: u64) -> Result<Vec<u8>, Error> {
        let found = match self.resolve(path, true)? {
            None => {
                return Err(Error::NotFound {
                    path: path.to_owned(),
                })
            }
            Some((found, _)) if found.kind == FileKind::File => found,
            Some(_) => {
                return Err(Error::NotAFile {
                    path: path.to_owned(),
                })
            }
        };
        let too_large = |size| Error::FileTooLarge {
            path: path.to_owned(),
            size,
            limit,
        };
        if found.meta.len() > limit {
            return Err(too_large(found.meta.len()));
        }
        let file = sys::open_nofollow(&found.host)
            .map_err(|e| self.read_error(found.layer, &found.host, e))?;
        let mut contents = Vec::with_capacity(found.meta.len() as usize);
        file.take(limit.saturating_add(1))
            .read_to_end(&mut contents)
            .map_err(|e| self.read_error(found.layer, &found.host, e))?;
        if contents.len() as u64 > limit {
            return Err(too_large(contents.len() as u64));
        }
        Ok(contents)
    }

    /// The paths below the directory `root` (relative to it, sorted) that
    /// match `pattern`; symlinked directories are not entered.
    pub fn glob(&self, root: &str, pattern: &str) -> Result<Vec<String>, Error> {
        let compiled = Pattern::new(pattern).map_err(|reason| Error::InvalidPattern {
            list: "glob",
            pattern: pattern.to_owned(),
            reason,
        })?;
        let (dir, _) = self.resolve_dir(root)?;
        let mut out = Vec::new();
        self.glob_dir(&dir, "", &compiled, &mut out)?;
        Ok(out)
    }

    fn glob_dir(
        &self,
        dir: &Found,
        rel: &str,
        pattern: &Pattern,
        out: &mut Vec<String>,
    ) -> Result<(), Error> {
        for (name, found) in self.children(dir)? {
            let child = if rel.is_empty() {
                name.to_string_lossy().into_owned()
            } else {
                format!("{rel}/{}", name.to_string_lossy())
            };
            let parts = filter::split(&child);
            if pattern.matches(&parts) {
                out.push(child.clone());
            }
            if found.kind == FileKind::Dir && pattern.may_match_below(&parts) {
                self.glob_dir(&found, &child, pattern, out)?;
            }
        }
        Ok(())
    }

    /// The subtree at `path` (symlinks followed to get there) as a sorted
    /// pre-order list, filtered. A directory is listed when the filter takes
    /// it or anything below it; the first item is always `path` itself.
    pub(crate) fn walk(&self, path: &str, filter: &Filter) -> Result<Option<Vec<Item>>, Error> {
        let Some((found, _)) = self.resolve(path, true)? else {
            return Ok(None);
        };
        let is_dir = found.kind == FileKind::Dir;
        let mut items = vec![Item {
            rel: PathBuf::new(),
            found,
        }];
        if is_dir {
            let root = items[0].found.clone();
            self.walk_dir(&root, Path::new(""), filter, &mut items)?;
        }
        Ok(Some(items))
    }

    fn walk_dir(
        &self,
        dir: &Found,
        rel: &Path,
        filter: &Filter,
        out: &mut Vec<Item>,
    ) -> Result<bool, Error> {
        let mut any = false;
        for (name, found) in self.children(dir)? {
            let child = rel.join(&name);
            let text = child.to_string_lossy();
            if found.kind == FileKind::Dir {
                if !filter.may_descend(&text) {
                    continue;
                }
                let taken = filter.includes_file(&text);
                let at = out.len();
                let merged = found.clone();
                out.push(Item {
                    rel: child.clone(),
                    found,
                });
                if self.walk_dir(&merged, &child, filter, out)? || taken {
                    any = true;
                } else {
                    out.truncate(at);
                }
            } else if filter.includes_file(&text) {
                out.push(Item { rel: child, found });
                any = true;
            }
        }
        Ok(any)
    }

    /// The content digest of the merged subtree at `path` under `filter`:
    /// relative paths, types, permission bits, owners, sizes, contents and
    /// symlink targets — never mtimes. `blake3:<hex>`.
    pub fn digest(&self, path: &str, filter: &Filter) -> Result<String, Error> {
        let items = self.walk(path, filter)?.ok_or_else(|| Error::NotFound {
            path: path.to_owned(),
        })?;
        let hashes = digest::parallel(items.len(), |i, buf| {
            let found = &items[i].found;
            if found.kind != FileKind::File {
                return Ok(None);
            }
            digest::hash_file(&found.host, buf)
                .map(|(hash, _)| Some(hash))
                .map_err(|e| self.read_error(found.layer, &found.host, e))
        });
        let mut hasher = TreeHasher::new();
        for (item, hash) in items.iter().zip(hashes) {
            let hash = hash?;
            let meta = &item.found.meta;
            let target = match item.found.kind {
                FileKind::Symlink => Some(
                    std::fs::read_link(&item.found.host)
                        .map_err(|e| self.read_error(item.found.layer, &item.found.host, e))?,
                ),
                _ => None,
            };
            hasher.add(&Record {
                rel: item.rel.as_os_str().as_bytes(),
                kind: kind(item.found.kind),
                mode: meta.mode(),
                uid: meta.uid(),
                gid: meta.gid(),
                size: meta.len(),
                hash,
                target: target.as_ref().map_or(b"", |t| t.as_os_str().as_bytes()),
                rdev: meta.rdev(),
            });
        }
        Ok(hasher.finish())
    }
}

pub(crate) fn kind(kind: FileKind) -> EntryKind {
    match kind {
        FileKind::File => EntryKind::File,
        FileKind::Dir => EntryKind::Dir,
        FileKind::Symlink => EntryKind::Symlink,
        FileKind::Other => EntryKind::Other,
    }
}

/// The components of a path, without empty ones and `.`.
fn components(path: &[u8]) -> VecDeque<OsString> {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsStr::from_bytes(c).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_drop_empty_and_dot() {
        let c: Vec<_> = components(b"/a//./b/../c/").into_iter().collect();
        assert_eq!(c, ["a", "b", "..", "c"]);
    }

    #[test]
    fn empty_chain_is_an_empty_root() {
        let view = ChainView::new(Vec::new());
        assert_eq!(view.read_dir("/").unwrap(), Vec::new());
        assert!(view.lookup("/x", true).unwrap().is_none());
    }
}
