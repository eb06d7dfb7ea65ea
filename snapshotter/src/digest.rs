//! The content digest of a tree, shared by layer chains and host
//! directories so that a host directory and its snapshot digest alike.
//!
//! The encoding is versioned (`tanto.tree.v1`): once digests are used as
//! cache keys, changing what they cover must change the tag. Entries are fed
//! in sorted pre-order with length-prefixed fields; mtimes never take part.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const TAG: &[u8] = b"tanto.tree.v1\0";

/// What a `Record` is: the digest tells a file from a directory, a symlink
/// or anything else (a device node, a fifo).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// What the digest covers of one entry.
pub(crate) struct Record<'a> {
    /// Relative to the tree's root, `/`-separated; empty for the root.
    pub rel: &'a [u8],
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub hash: Option<[u8; 32]>,
    pub target: &'a [u8],
    pub rdev: u64,
}

pub(crate) struct TreeHasher(blake3::Hasher);

impl TreeHasher {
    pub(crate) fn new() -> TreeHasher {
        let mut hasher = blake3::Hasher::new();
        hasher.update(TAG);
        TreeHasher(hasher)
    }

    pub(crate) fn add(&mut self, record: &Record) {
        let h = &mut self.0;
        h.update(&(record.rel.len() as u64).to_le_bytes());
        h.update(record.rel);
        h.update(&[match record.kind {
            EntryKind::File => b'f',
            EntryKind::Dir => b'd',
            EntryKind::Symlink => b'l',
            EntryKind::Other => b'o',
        }]);
        // The root directory's own attributes are the caller's business
        // (where it lands decides them), only its contents count.
        let root_dir = record.rel.is_empty() && record.kind == EntryKind::Dir;
        if !root_dir {
            h.update(&(record.mode & 0o7777).to_le_bytes());
            h.update(&record.uid.to_le_bytes());
            h.update(&record.gid.to_le_bytes());
        }
        match record.kind {
            EntryKind::File => {
                h.update(&record.size.to_le_bytes());
                h.update(&record.hash.unwrap_or([0; 32]));
            }
            EntryKind::Symlink => {
                h.update(&(record.target.len() as u64).to_le_bytes());
                h.update(record.target);
            }
            EntryKind::Other => {
                h.update(&record.mode.to_le_bytes());
                h.update(&record.rdev.to_le_bytes());
            }
            EntryKind::Dir => {}
        }
    }

    pub(crate) fn finish(self) -> String {
        format!("blake3:{}", self.0.finalize().to_hex())
    }
}

/// blake3 of everything readable from `file`.
pub(crate) fn hash_reader(mut file: impl Read, buf: &mut [u8]) -> io::Result<([u8; 32], u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut total = 0u64;
    loop {
        match file.read(buf) {
            Ok(0) => return Ok((*hasher.finalize().as_bytes(), total)),
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

pub(crate) fn hash_file(path: &Path, buf: &mut [u8]) -> io::Result<([u8; 32], u64)> {
    let file: File = crate::sys::open_nofollow(path)?;
    hash_reader(file, buf)
}

/// Runs `work` on every index of `0..count` with a few threads; results in
/// index order. Hashing is bound by both disk and CPU, so a thread or two
/// more than the cores keeps both busy.
pub(crate) fn parallel<T: Send>(
    count: usize,
    work: impl Fn(usize, &mut Vec<u8>) -> T + Sync,
) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8)
        .min(count.max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..count).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buf = vec![0u8; 256 << 10];
                let mut local = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    local.push((i, work(i, &mut buf)));
                }
                let mut results = results.lock().unwrap_or_else(|e| e.into_inner());
                for (i, value) in local {
                    results[i] = Some(value);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|v| v.expect("every index is worked on"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rel: &[u8], mode: u32, content: &[u8]) -> String {
        let mut h = TreeHasher::new();
        h.add(&Record {
            rel,
            kind: EntryKind::File,
            mode,
            uid: 0,
            gid: 0,
            size: content.len() as u64,
            hash: Some(*blake3::hash(content).as_bytes()),
            target: b"",
            rdev: 0,
        });
        h.finish()
    }

    #[test]
    fn covers_name_mode_and_content() {
        let base = file(b"a", 0o644, b"x");
        assert!(base.starts_with("blake3:"));
        assert_eq!(base, file(b"a", 0o644, b"x"));
        assert_ne!(base, file(b"b", 0o644, b"x"));
        assert_ne!(base, file(b"a", 0o755, b"x"));
        assert_ne!(base, file(b"a", 0o644, b"y"));
    }

    #[test]
    fn parallel_keeps_order() {
        let out = parallel(1000, |i, _| i * 2);
        assert_eq!(out, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
        assert!(parallel(0, |i, _| i).is_empty());
    }
}
