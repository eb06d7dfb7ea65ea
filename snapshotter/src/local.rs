//! Host directories and files as snapshots (`Host.directory`, `Host.file`).
//!
//! A host directory is keyed by its content alone — the digest of
//! `digest.rs` with every owner taken as 0:0, which is what its snapshot
//! holds, so the snapshot's own digest is the same. Hashing is what costs,
//! so a stat cache per host directory and filter, kept in the store at
//! `local/<blake3 of path and filter>.cache`, remembers each file's hash
//! with the (device, inode, size, mtime, ctime, mode) it was computed for.
//! A file whose stat is unchanged is taken to be unchanged (as git and
//! BuildKit assume): an unchanged tree re-hashes with stat calls only.
//!
//! The snapshot `snapshots/local-<hex>/fs` is made only if missing, in
//! `snapshots/tmp` and renamed into place; several processes may race to
//! make it, and the first rename wins.

use std::collections::{BTreeMap, HashMap};
use std::fs::Metadata;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::digest::{self, Kind, Record, TreeHasher};
use crate::filter::Filter;
use crate::store::Store;
use crate::temp::temp_name;
use crate::{sys, Error};

const CACHE_MAGIC: &[u8] = b"tanto-statcache-v1\n";

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

/// The stat fields that, unchanged, let a cached hash be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    mode: u32,
}

impl Stamp {
    fn of(meta: &Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
            mode: meta.mode(),
        }
    }
}

struct Entry {
    rel: PathBuf,
    host: PathBuf,
    kind: Kind,
    mode: u32,
    stamp: Stamp,
    mtime: (i64, i64),
    target: Option<PathBuf>,
    hash: Option<[u8; 32]>,
}

impl Entry {
    fn new(rel: PathBuf, host: PathBuf, meta: &Metadata, kind: Kind) -> Entry {
        Entry {
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
        let mut entries = vec![Entry::new(PathBuf::new(), root.clone(), &meta, Kind::Dir)];
        walk_root(&root, filter, &mut entries)?;
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
        Entry::new(PathBuf::new(), parent.to_owned(), &parent_meta, Kind::Dir),
        Entry::new(PathBuf::from(name), path.clone(), &meta, Kind::File),
    ];
    import(store, &path, "file", || Ok(entries))
}

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
fn walk_root(root: &Path, filter: &Filter, out: &mut Vec<Entry>) -> Result<(), Error> {
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
fn walk(dir: &Path, rel: &Path, filter: &Filter, out: &mut Vec<Entry>) -> Result<bool, Error> {
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
    out: &mut Vec<Entry>,
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
        out.push(Entry::new(child_rel.clone(), host.clone(), meta, Kind::Dir));
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
        out.push(Entry::new(child_rel, host, meta, Kind::File));
    } else if t.is_symlink() {
        let mut entry = Entry::new(child_rel, host, meta, Kind::Symlink);
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

fn import(
    store: &Store,
    shown: &Path,
    filter_text: &str,
    list: impl FnOnce() -> Result<Vec<Entry>, Error>,
) -> Result<HostImport, Error> {
    let local_dir = store.root().join("local");
    std::fs::create_dir_all(&local_dir).map_err(|source| Error::Store {
        path: local_dir.clone(),
        source,
    })?;
    let mut key = blake3::Hasher::new();
    key.update(shown.as_os_str().as_bytes());
    key.update(b"\0");
    key.update(filter_text.as_bytes());
    let cache_stem = key.finalize().to_hex().to_string();
    let cache_path = local_dir.join(format!("{cache_stem}.cache"));
    // Reading the cache and walking the tree overlap.
    let (cache_data, entries) = std::thread::scope(|scope| {
        let loader = scope.spawn(|| read_cache(&cache_path));
        let entries = list();
        (loader.join().unwrap_or_default(), entries)
    });
    let mut entries = entries?;
    let cache = load_cache(&cache_path, &cache_data);

    let mut misses = Vec::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        if entry.kind != Kind::File {
            continue;
        }
        match cache.get(entry.rel.as_os_str().as_bytes()) {
            Some((stamp, hash)) if *stamp == entry.stamp => entry.hash = Some(*hash),
            _ => misses.push(i),
        }
    }
    tracing::debug!(
        "{}: {} files, {} not in the stat cache",
        shown.display(),
        entries.iter().filter(|e| e.kind == Kind::File).count(),
        misses.len()
    );
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

    let mut hasher = TreeHasher::new();
    let (mut files, mut bytes) = (0, 0);
    for entry in &entries {
        if entry.kind == Kind::File {
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
    let digest = hasher.finish();
    if !misses.is_empty() || cache.len() != files as usize {
        if let Err(e) = save_cache(&local_dir, &cache_stem, &entries) {
            tracing::warn!(
                "cannot save the stat cache of {}: {e}; the next import hashes again",
                shown.display()
            );
        }
    }

    let hex = digest.trim_start_matches("blake3:");
    let dir = store.snapshots_dir().join(format!("local-{hex}"));
    let fs = dir.join("fs");
    let mut reused = fs.is_dir();
    if !reused {
        reused = make_snapshot(store, &dir, hex, &entries, shown)?;
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

fn changed(path: &Path) -> Error {
    Error::HostRead {
        path: path.to_owned(),
        source: io::Error::other(
            "the file changed while it was being imported; run again once it is stable",
        ),
    }
}

/// Copies `entries` into a new snapshot at `dir`. Returns whether another
/// process made it first.
fn make_snapshot(
    store: &Store,
    dir: &Path,
    hex: &str,
    entries: &[Entry],
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

fn fill_snapshot(temp: &Path, entries: &[Entry]) -> io::Result<()> {
    let fs = temp.join("fs");
    std::fs::create_dir_all(&fs)?;
    let root = sys::open_dir(&fs)?;
    sys::chmod_fd(root.as_fd(), 0o755)?;
    // Directories and symlinks in order, then files in parallel, then the
    // directories' modes and times, deepest first (children change mtimes).
    for entry in &entries[1..] {
        let (parent, name) = parent_and_name(&entry.rel)?;
        match entry.kind {
            Kind::Dir => {
                let dir = sys::open_dir_beneath(root.as_fd(), parent, true)?;
                sys::mkdir_at(dir.as_fd(), &name, 0o700)?;
            }
            Kind::Symlink => {
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
        if entry.kind != Kind::Dir {
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
fn copy_files(root: BorrowedFd, entries: &[Entry]) -> io::Result<()> {
    let mut by_dir: BTreeMap<&Path, Vec<&Entry>> = BTreeMap::new();
    for entry in entries.iter().filter(|e| e.kind == Kind::File) {
        let parent = entry.rel.parent().unwrap_or(Path::new(""));
        by_dir.entry(parent).or_default().push(entry);
    }
    let mut batches: Vec<(usize, &Path, &[&Entry])> = by_dir
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

fn copy_file(dir: BorrowedFd, entry: &Entry, owner_is_root: bool, umask: u32) -> io::Result<()> {
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

/// FNV-1a: the keys are our own relative paths, so a fast hash that no
/// adversary picks inputs for is enough, and 100k lookups stay cheap.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Relative path → the stat a hash was computed for, and the hash; keys
/// borrow from the cache file's bytes.
type Cache<'d> = HashMap<&'d [u8], (Stamp, [u8; 32]), std::hash::BuildHasherDefault<Fnv>>;

/// Reads a stat cache file's bytes; a missing one is empty.
fn read_cache(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

/// Indexes a stat cache; a damaged one is an empty one.
fn load_cache<'d>(path: &Path, data: &'d [u8]) -> Cache<'d> {
    let mut cache = Cache::default();
    let Some(mut rest) = data.strip_prefix(CACHE_MAGIC) else {
        return cache;
    };
    fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        *rest = tail;
        Some(head)
    }
    fn u64_of(rest: &mut &[u8]) -> Option<u64> {
        Some(u64::from_le_bytes(take(rest, 8)?.try_into().ok()?))
    }
    let mut parse = || -> Option<()> {
        while !rest.is_empty() {
            let len = u32::from_le_bytes(take(&mut rest, 4)?.try_into().ok()?) as usize;
            let rel = take(&mut rest, len)?;
            let stamp = Stamp {
                dev: u64_of(&mut rest)?,
                ino: u64_of(&mut rest)?,
                size: u64_of(&mut rest)?,
                mtime_ns: u64_of(&mut rest)? as i64,
                ctime_ns: u64_of(&mut rest)? as i64,
                mode: u32::from_le_bytes(take(&mut rest, 4)?.try_into().ok()?),
            };
            let hash: [u8; 32] = take(&mut rest, 32)?.try_into().ok()?;
            cache.insert(rel, (stamp, hash));
        }
        Some(())
    };
    if parse().is_none() {
        tracing::debug!("stat cache {} is damaged; ignoring it", path.display());
        cache.clear();
    }
    cache
}

fn save_cache(dir: &Path, stem: &str, entries: &[Entry]) -> io::Result<()> {
    let mut data = Vec::with_capacity(CACHE_MAGIC.len() + entries.len() * 96);
    data.extend_from_slice(CACHE_MAGIC);
    for entry in entries {
        let (Kind::File, Some(hash)) = (entry.kind, entry.hash) else {
            continue;
        };
        let rel = entry.rel.as_os_str().as_bytes();
        let s = entry.stamp;
        data.extend_from_slice(&(rel.len() as u32).to_le_bytes());
        data.extend_from_slice(rel);
        for n in [s.dev, s.ino, s.size, s.mtime_ns as u64, s.ctime_ns as u64] {
            data.extend_from_slice(&n.to_le_bytes());
        }
        data.extend_from_slice(&s.mode.to_le_bytes());
        data.extend_from_slice(&hash);
    }
    let temp = temp_name(dir, stem);
    let written = std::fs::File::create(&temp).and_then(|mut file| {
        file.write_all(&data)?;
        file.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&temp, dir.join(format!("{stem}.cache")))) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trips_and_tolerates_damage() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let meta = std::fs::metadata(&file).unwrap();
        let mut entry = Entry::new(PathBuf::from("a/f"), file, &meta, Kind::File);
        entry.hash = Some([7; 32]);
        save_cache(dir.path(), "k", &[entry]).unwrap();
        let path = dir.path().join("k.cache");
        let data = read_cache(&path);
        let cache = load_cache(&path, &data);
        assert_eq!(
            cache.get(&b"a/f"[..]).unwrap(),
            &(Stamp::of(&meta), [7; 32])
        );
        let mut data = std::fs::read(&path).unwrap();
        data.truncate(data.len() - 1);
        std::fs::write(&path, data).unwrap();
        assert!(load_cache(&path, &read_cache(&path)).is_empty());
    }
}
