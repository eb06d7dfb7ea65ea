//! The content store: blobs named by their sha256 digest, written to a temp
//! file and renamed into place only once their digest and size are verified.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::temp::temp_name;
use crate::Error;

/// The hex part of a `sha256:` digest, checked so that it is safe to use as a
/// file name.
pub(crate) fn digest_hex(digest: &str) -> Result<&str, Error> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(hex)
        }
        _ => Err(Error::InvalidDigest {
            digest: digest.to_owned(),
        }),
    }
}

/// A reader that hashes (sha256) and counts what passes through it, optionally
/// copying it to a file, and refuses to pass more than `limit` bytes.
pub(crate) struct Digesting<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
    limit: u64,
    exceeded: bool,
    copy: Option<File>,
}

impl<R: Read> Digesting<R> {
    pub(crate) fn new(inner: R, limit: u64, copy: Option<File>) -> Digesting<R> {
        Digesting {
            inner,
            hasher: Sha256::new(),
            count: 0,
            limit,
            exceeded: false,
            copy,
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// Whether reading stopped because the limit was reached.
    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// Reads everything that is left, so the digest covers the whole stream.
    pub(crate) fn drain(&mut self) -> io::Result<()> {
        io::copy(self, &mut io::sink()).map(|_| ())
    }

    /// The digest so far and the copy file, flushed to disk.
    pub(crate) fn finish(self) -> io::Result<(String, u64, Option<File>)> {
        if let Some(file) = &self.copy {
            file.sync_all()?;
        }
        Ok((
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.count,
            self.copy,
        ))
    }
}

impl<R: Read> Read for Digesting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.limit {
            self.exceeded = true;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "stream exceeds its size bound",
            ));
        }
        self.hasher.update(&buf[..n]);
        if let Some(file) = &mut self.copy {
            file.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

/// Where blobs live and how they get there.
#[derive(Clone, Debug)]
pub(crate) struct ContentStore {
    blobs: PathBuf,
    tmp: PathBuf,
}

impl ContentStore {
    pub(crate) fn new(root: &Path) -> ContentStore {
        ContentStore {
            blobs: root.join("content/blobs/sha256"),
            tmp: root.join("content/tmp"),
        }
    }

    pub(crate) fn dirs(&self) -> [&Path; 2] {
        [&self.blobs, &self.tmp]
    }

    pub(crate) fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    pub(crate) fn path(&self, digest: &str) -> Result<PathBuf, Error> {
        Ok(self.blobs.join(digest_hex(digest)?))
    }

    /// A fresh temp file for `digest`, named so stale ones can be traced to
    /// the process that left them.
    pub(crate) fn temp_file(&self, digest: &str) -> Result<(File, PathBuf), Error> {
        let path = temp_name(&self.tmp, digest_hex(digest)?);
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| Error::BlobWrite {
                digest: digest.to_owned(),
                source,
            })?;
        Ok((file, path))
    }

    /// A fresh temp file for a blob whose digest is not known yet (one being
    /// packed).
    pub(crate) fn temp_file_unnamed(&self) -> Result<(File, PathBuf), Error> {
        let path = temp_name(&self.tmp, "packing");
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| Error::BlobWrite {
                digest: "(being packed)".to_owned(),
                source,
            })?;
        Ok((file, path))
    }

    /// Moves a verified temp file into place. Another process may have done
    /// the same meanwhile; both wrote the same bytes, so either copy is right.
    pub(crate) fn commit(&self, temp: &Path, digest: &str) -> Result<(), Error> {
        let target = self.path(digest)?;
        std::fs::rename(temp, &target).map_err(|source| Error::BlobWrite {
            digest: digest.to_owned(),
            source,
        })
    }

    /// Writes a small blob held in memory to a temp file, after checking its
    /// digest; the caller commits it.
    pub(crate) fn write(&self, digest: &str, bytes: &[u8]) -> Result<PathBuf, Error> {
        let actual = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
        if actual != digest {
            return Err(Error::DigestMismatch {
                expected: digest.to_owned(),
                actual,
                size: bytes.len() as u64,
            });
        }
        let (mut file, temp) = self.temp_file(digest)?;
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if let Err(source) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(Error::BlobWrite {
                digest: digest.to_owned(),
                source,
            });
        }
        Ok(temp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_must_be_plain_sha256_hex() {
        let good = format!("sha256:{}", "0".repeat(64));
        assert!(digest_hex(&good).is_ok());
        assert!(digest_hex(&format!("sha256:../{}", "0".repeat(61))).is_err());
        assert!(digest_hex("sha512:00").is_err());
        assert!(digest_hex(&format!("sha256:{}", "A".repeat(64))).is_err());
    }

    #[test]
    fn digesting_reader_bounds_and_hashes() {
        let mut reader = Digesting::new(&b"hello"[..], 5, None);
        reader.drain().unwrap();
        let (digest, size, _) = reader.finish().unwrap();
        assert_eq!(size, 5);
        assert_eq!(
            digest,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let mut reader = Digesting::new(&b"hello!"[..], 5, None);
        assert!(reader.drain().is_err());
        assert!(reader.exceeded());
    }

    #[test]
    fn write_refuses_wrong_content() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::new(dir.path());
        for d in store.dirs() {
            std::fs::create_dir_all(d).unwrap();
        }
        let wrong = format!("sha256:{}", "0".repeat(64));
        assert!(matches!(
            store.write(&wrong, b"x"),
            Err(Error::DigestMismatch { .. })
        ));
        assert!(!store.path(&wrong).unwrap().exists());
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }
}
