//! The stat cache of one host directory and filter, kept in the store at
//! `local/<blake3 of path and filter>.cache`: each file's hash with the
//! (device, inode, size, mtime, ctime, mode) it was computed for. A file
//! whose stat is unchanged is taken to be unchanged (as git and BuildKit
//! assume), so an unchanged tree re-hashes with stat calls only.
//!
//! The file is `CACHE_MAGIC` followed by records of: path length (u32),
//! path, dev, ino, size, mtime_ns, ctime_ns (u64 each), mode (u32), hash
//! (32 bytes), integers little-endian. A damaged file is an empty cache.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::HostEntry;
use crate::digest::EntryKind;
use crate::temp::temp_name;

const CACHE_MAGIC: &[u8] = b"tanto-statcache-v1\n";

/// The stat fields that, unchanged, let a cached hash be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stamp {
    dev: u64,
    ino: u64,
    pub(super) size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    mode: u32,
}

impl Stamp {
    pub(super) fn of(meta: &Metadata) -> Stamp {
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

/// The file name stem of the stat cache of `shown` under `filter_text`.
pub(super) fn cache_stem(shown: &Path, filter_text: &str) -> String {
    let mut key = blake3::Hasher::new();
    key.update(shown.as_os_str().as_bytes());
    key.update(b"\0");
    key.update(filter_text.as_bytes());
    key.finalize().to_hex().to_string()
}

/// FNV-1a: the keys are our own relative paths, so a fast hash that no
/// adversary picks inputs for is enough, and 100k lookups stay cheap.
#[derive(Default)]
pub(super) struct Fnv(u64);

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
pub(super) type Cache<'d> =
    HashMap<&'d [u8], (Stamp, [u8; 32]), std::hash::BuildHasherDefault<Fnv>>;

/// Reads a stat cache file's bytes; a missing one is empty.
pub(super) fn read_cache(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

/// Indexes a stat cache; a damaged one is an empty one.
pub(super) fn load_cache<'d>(path: &Path, data: &'d [u8]) -> Cache<'d> {
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

pub(super) fn save_cache(dir: &Path, stem: &str, entries: &[HostEntry]) -> io::Result<()> {
    let mut data = Vec::with_capacity(CACHE_MAGIC.len() + entries.len() * 96);
    data.extend_from_slice(CACHE_MAGIC);
    for entry in entries {
        let (EntryKind::File, Some(hash)) = (entry.kind, entry.hash) else {
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

/// Takes the hash of every file of `entries` whose stat the cache holds;
/// returns the indexes of the files it does not (to be hashed).
pub(super) fn take_cached(cache: &Cache, entries: &mut [HostEntry]) -> Vec<usize> {
    let mut misses = Vec::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        if entry.kind != EntryKind::File {
            continue;
        }
        match cache.get(entry.rel.as_os_str().as_bytes()) {
            Some((stamp, hash)) if *stamp == entry.stamp => entry.hash = Some(*hash),
            _ => misses.push(i),
        }
    }
    misses
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn cache_round_trips_and_tolerates_damage() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let meta = std::fs::metadata(&file).unwrap();
        let mut entry = HostEntry::new(PathBuf::from("a/f"), file, &meta, EntryKind::File);
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
