//! Host directories and files as snapshots (`Host.directory`, `Host.file`).
//!
//! A host directory is keyed by its content alone — the digest of
//! `digest.rs` with every owner taken as 0:0, which is what its snapshot
//! holds, so the snapshot's own digest is the same. Hashing is what costs,
//! so a stat cache per host directory and filter (`stat_cache.rs`) remembers
//! each file's hash with the stat it was computed for: an unchanged tree
//! re-hashes with stat calls only.
//!
//! An import lists the tree the filter takes (`walk.rs`), takes the hashes
//! the stat cache holds, hashes the rest and digests the tree. The snapshot
//! `snapshots/local-<hex>/fs` is made only if missing (`fill.rs`), in
//! `snapshots/tmp` and renamed into place; several processes may race to
//! make it, and the first rename wins.

mod fill;
mod stat_cache;
mod walk;

use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::digest::{self, EntryKind, Record, TreeHasher};
use crate::filter::Filter;
use crate::store::Store;
use crate::Error;
use stat_cache::{cache_stem, load_cache, read_cache, save_cache, take_cached, Stamp};

/// What importing a host path made.
#[derive(Debug, Clone)]
pub struct HostImport {
    /// `blake3:<hex>` of the content (see `ChainView::digest`).
    pub digest: String,
    /// The snapshot's tree, a layer holding the imported content at its root.
    pub snapshot: PathBuf,
    pub files: u64,
    pub bytes: u64,
    /// Files whose contents were read to hash them (not in the stat cache,
    /// or changed since): 0 when the stat cache covered the whole tree.
    pub hashed: u64,
    /// The snapshot existed already (this content was imported before).
    pub reused: bool,
}

/// One listed entry of a host tree, with its hash once known.
struct HostEntry {
    /// Relative to the imported root; empty for the root itself.
    rel: PathBuf,
    host: PathBuf,
    kind: EntryKind,
    mode: u32,
    stamp: Stamp,
    mtime: (i64, i64),
    target: Option<PathBuf>,
    hash: Option<[u8; 32]>,
}

impl HostEntry {
    fn new(rel: PathBuf, host: PathBuf, meta: &Metadata, kind: EntryKind) -> HostEntry {
        HostEntry {
            rel,
            host,
            kind,
            mode: meta.mode() & 0o7777,
            stamp: Stamp::of(meta),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            target: None,
            hash: None,
        }
    }
}

fn host_error(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |source| Error::HostRead {
        path: path.to_owned(),
        source,
    }
}

fn changed(path: &Path) -> Error {
    Error::HostRead {
        path: path.to_owned(),
        source: io::Error::other(
            "the file changed while it was being imported; run again once it is stable",
        ),
    }
}

/// Hashes the host directory `host_path` (symlinks to it followed) under
/// `filter` and snapshots it into the store unless that content is there.
pub fn import_host_dir(
    store: &Store,
    host_path: &Path,
    filter: &Filter,
) -> Result<HostImport, Error> {
    let root = std::fs::canonicalize(host_path).map_err(host_error(host_path))?;
    let meta = std::fs::metadata(&root).map_err(host_error(&root))?;
    if !meta.is_dir() {
        return Err(Error::NotADirectory {
            path: root.display().to_string(),
        });
    }
    import(store, &root, &filter.canonical(), || {
        let mut entries = vec![HostEntry::new(
            PathBuf::new(),
            root.clone(),
            &meta,
            EntryKind::Dir,
        )];
        walk::walk_root(&root, filter, &mut entries)?;
        Ok(entries)
    })
}

/// Snapshots one host file (symlinks to it followed) as `/<name>` of an
/// otherwise empty tree.
pub fn import_host_file(store: &Store, host_path: &Path) -> Result<HostImport, Error> {
    let path = std::fs::canonicalize(host_path).map_err(host_error(host_path))?;
    let meta = std::fs::metadata(&path).map_err(host_error(&path))?;
    if !meta.is_file() {
        return Err(Error::NotAFile {
            path: path.display().to_string(),
        });
    }
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Error::NotAFile {
            path: path.display().to_string(),
        });
    };
    let parent_meta = std::fs::metadata(parent).map_err(host_error(parent))?;
    let entries = vec![
        HostEntry::new(
            PathBuf::new(),
            parent.to_owned(),
            &parent_meta,
            EntryKind::Dir,
        ),
        HostEntry::new(PathBuf::from(name), path.clone(), &meta, EntryKind::File),
    ];
    import(store, &path, "file", || Ok(entries))
}

fn import(
    store: &Store,
    shown: &Path,
    filter_text: &str,
    list: impl FnOnce() -> Result<Vec<HostEntry>, Error>,
) -> Result<HostImport, Error> {
    let local_dir = store.root().join("local");
    std::fs::create_dir_all(&local_dir).map_err(|source| Error::Store {
        path: local_dir.clone(),
        source,
    })?;
    let cache_stem = cache_stem(shown, filter_text);
    let cache_path = local_dir.join(format!("{cache_stem}.cache"));
    // Reading the cache and walking the tree overlap.
    let (cache_data, entries) = std::thread::scope(|scope| {
        let loader = scope.spawn(|| read_cache(&cache_path));
        let entries = list();
        (loader.join().unwrap_or_default(), entries)
    });
    let mut entries = entries?;
    let cache = load_cache(&cache_path, &cache_data);

    let misses = take_cached(&cache, &mut entries);
    tracing::debug!(
        "{}: {} files, {} not in the stat cache",
        shown.display(),
        entries.iter().filter(|e| e.kind == EntryKind::File).count(),
        misses.len()
    );
    hash_files(&mut entries, &misses)?;
    let (digest, files, bytes) = tree_digest(&entries);
    if !misses.is_empty() || cache.len() != files as usize {
        if let Err(e) = save_cache(&local_dir, &cache_stem, &entries) {
            tracing::warn!(
                "cannot save the stat cache of {}: {e}; the next import hashes again",
                shown.display()
            );
        }
    }

    let hex = digest.trim_start_matches("blake3:");
    let name = format!("local-{hex}");
    let dir = store.snapshots_dir().join(&name);
    let fs = dir.join("fs");
    // Made, found and collected one process at a time.
    let _lock = store.lock_entry(&name)?;
    let id = format!("snapshots/{name}");
    let mut reused = fs.is_dir() && store.meta().touch(&id)?;
    if !reused {
        // There but unrecorded (a crash between its rename and its record)
        // counts as made already.
        reused = fs.is_dir() || fill::make_snapshot(store, &dir, hex, &entries, shown)?;
        store.meta().record(
            &id,
            crate::meta::EntryKind::HostDirectory,
            crate::meta::apparent_size(&dir),
            &format!("host {}", shown.display()),
        )?;
    }
    tracing::debug!(
        "{}: {digest}, snapshot {}",
        shown.display(),
        if reused { "reused" } else { "made" }
    );
    Ok(HostImport {
        digest,
        snapshot: fs,
        files,
        bytes,
        hashed: misses.len() as u64,
        reused,
    })
}

/// Hashes the files `misses` (indexes into `entries`) in parallel.
fn hash_files(entries: &mut [HostEntry], misses: &[usize]) -> Result<(), Error> {
    let hashes = digest::parallel(misses.len(), |i, buf| {
        let entry = &entries[misses[i]];
        let (hash, size) = digest::hash_file(&entry.host, buf).map_err(host_error(&entry.host))?;
        if size != entry.stamp.size {
            return Err(changed(&entry.host));
        }
        Ok(hash)
    });
    for (i, hash) in misses.iter().zip(hashes) {
        entries[*i].hash = Some(hash?);
    }
    Ok(())
}

/// The digest of the listed tree as its snapshot will hold it (every owner
/// 0:0), with its number of files and their bytes.
fn tree_digest(entries: &[HostEntry]) -> (String, u64, u64) {
    let mut hasher = TreeHasher::new();
    let (mut files, mut bytes) = (0, 0);
    for entry in entries {
        if entry.kind == EntryKind::File {
            files += 1;
            bytes += entry.stamp.size;
        }
        hasher.add(&Record {
            rel: entry.rel.as_os_str().as_bytes(),
            kind: entry.kind,
            mode: entry.mode,
            uid: 0,
            gid: 0,
            size: entry.stamp.size,
            hash: entry.hash,
            target: entry
                .target
                .as_ref()
                .map_or(b"", |t| t.as_os_str().as_bytes()),
            rdev: 0,
        });
    }
    (hasher.finish(), files, bytes)
}
