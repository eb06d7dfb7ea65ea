//! The on-disk store: its layout, the locks that let several tanto processes
//! share it, and the clean-up of what a killed process left half-done.
//!
//! ```text
//! $TANTO_ROOT/
//!   content/blobs/sha256/<hex>    verified blobs (layers, configs, manifests)
//!   content/tmp/                  blobs being written
//!   snapshots/sha256-<hex>/fs     image layers, by diff id (this file);
//!                                 `-squashed` after the hex when their owners
//!                                 are (owners.rs)
//!   snapshots/local-<hash>/fs     host directories, by content (host/)
//!   snapshots/<kind>-<key>/       step results: exec-, layer- (results.rs)
//!   snapshots/tmp/                snapshots and results being made
//!   local/                        stat caches of host directories (host/)
//!   packed/<hash>.json            which blob a layer was packed into (packed.rs)
//!   cache/<name hash>/            cache volumes (cache_volume.rs)
//!   locks/<id>.lock               flock(2) locks, one per thing being made
//!   secret.key                    the key of secrets' keyed hashes (secret_key.rs)
//! ```
//!
//! Only this crate builds paths under the root; what goes inside a step
//! result's directory is its maker's.
//!
//! Temp names are `<stem>.<pid>.<n>` (`temp.rs`): a rename is the only way
//! anything becomes visible, so whatever a crash leaves in a `tmp/` is never
//! trusted, and it is removed once its process is gone.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::compression::Compression;
use crate::content::{digest_hex, ContentStore, Digesting};
use crate::meta::{apparent_size, EntryKind, Meta};
use crate::owners::Owners;
use crate::temp::{process_alive, remove_temps, temp_name};
use crate::unpack::{UnpackStats, Unpacker};
use crate::{sys, Error};

/// Bounds that protect the store from hostile layers.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// The most bytes one layer may expand to. Default: 100 times its
    /// compressed size, and never less than 1 GiB.
    pub max_layer_bytes: Option<u64>,
}

impl Limits {
    fn expanded_bound(&self, compressed: u64, compression: Compression) -> u64 {
        match (self.max_layer_bytes, compression) {
            (Some(bound), _) => bound,
            (None, Compression::None) => compressed,
            (None, _) => compressed.saturating_mul(100).max(1 << 30),
        }
    }
}

/// A committed, immutable snapshot: a directory tree that is one layer of an
/// overlay mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    id: String,
    dir: PathBuf,
}

impl Snapshot {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The tree itself, as a lower directory for overlay.
    pub fn fs(&self) -> PathBuf {
        self.dir.join("fs")
    }
}

/// The blob of one layer to ingest, as the image's manifest and config
/// describe it.
#[derive(Clone, Copy, Debug)]
pub struct LayerBlob<'a> {
    /// Digest of the blob as stored in the registry (compressed).
    pub digest: &'a str,
    pub size: u64,
    /// Digest of the uncompressed tar, from the image config's `rootfs.diff_ids`.
    pub diff_id: &'a str,
    pub compression: Compression,
}

/// Held while a layer's snapshot is made; other processes wait for it.
pub struct LayerLock {
    _file: File,
    id: String,
}

/// What ingesting one layer did.
#[derive(Debug)]
pub struct Ingested {
    pub snapshot: Snapshot,
    pub stats: UnpackStats,
}

#[derive(Clone)]
pub struct Store {
    root: PathBuf,
    meta: Arc<Meta>,
    content: ContentStore,
    snapshots: PathBuf,
    snapshots_tmp: PathBuf,
    locks: PathBuf,
    limits: Limits,
    owners: Owners,
}

impl Store {
    /// Opens (creating if needed) the store at `root` and removes what dead
    /// processes left in its temp directories.
    pub fn open(root: impl Into<PathBuf>, limits: Limits) -> Result<Store, Error> {
        let root = root.into();
        let store_error = |path: &Path, source| Error::Store {
            path: path.to_owned(),
            source,
        };
        std::fs::create_dir_all(&root).map_err(|e| store_error(&root, e))?;
        // The store holds other users' files (subordinate ids): keep it private.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
            match e.kind() {
                // A volume's root directory, made by someone else (a
                // Kubernetes emptyDir): a directory below it would be ours.
                std::io::ErrorKind::PermissionDenied => Error::StoreNotOwned { path: root.clone() },
                _ => store_error(&root, e),
            }
        })?;
        let content = ContentStore::new(&root);
        let [blobs, content_tmp] = content.dirs();
        let (snapshots_tmp, locks) = (root.join("snapshots/tmp"), root.join("locks"));
        for dir in [blobs, content_tmp, &snapshots_tmp, &locks] {
            std::fs::create_dir_all(dir).map_err(|e| store_error(dir, e))?;
        }
        for dir in [content_tmp, &snapshots_tmp] {
            remove_temps(dir, |_, pid| pid.is_some_and(|pid| !process_alive(pid)));
        }
        Ok(Store {
            meta: Arc::new(Meta::open(&root)?),
            content,
            snapshots: root.join("snapshots"),
            snapshots_tmp,
            locks,
            root,
            limits,
            owners: Owners::Recorded,
        })
    }

    /// This store user's layers owned as `owners` says: ingested that way,
    /// and looked up only among layers ingested that way.
    pub fn with_owners(mut self, owners: Owners) -> Store {
        self.owners = owners;
        self
    }

    /// How this store user's layers are owned.
    pub fn owners(&self) -> Owners {
        self.owners
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where committed snapshots live (`snapshots/<id>/fs`).
    pub(crate) fn snapshots_dir(&self) -> &Path {
        &self.snapshots
    }

    /// Where snapshots are made before they are renamed into place.
    pub(crate) fn snapshots_tmp_dir(&self) -> &Path {
        &self.snapshots_tmp
    }

    pub(crate) fn content(&self) -> &ContentStore {
        &self.content
    }

    pub(crate) fn meta(&self) -> &Meta {
        &self.meta
    }

    pub(crate) fn meta_arc(&self) -> Arc<Meta> {
        Arc::clone(&self.meta)
    }

    /// The lock that makes, and removes, the entry `name` one process at a
    /// time (`locks/<name>.lock`).
    pub(crate) fn lock_entry(&self, name: &str) -> Result<File, Error> {
        let path = self.locks.join(format!("{name}.lock"));
        let lock = crate::results::open_lock(&path)?;
        sys::lock_exclusive(&lock).map_err(|source| Error::Store { path, source })?;
        Ok(lock)
    }

    /// Moves a verified temp blob into place and records it, under the
    /// blob's lock (a collector removes blobs under it too).
    pub(crate) fn commit_blob(&self, temp: &Path, digest: &str) -> Result<(), Error> {
        let hex = digest_hex(digest)?;
        let _lock = self.lock_entry(&format!("blob-{hex}"))?;
        self.content.commit(temp, digest)?;
        let path = self.content.path(digest)?;
        self.meta.record(
            &format!("content/blobs/sha256/{hex}"),
            EntryKind::Blob,
            apparent_size(&path),
            &format!("blob {digest}"),
        )
    }

    /// Stores a blob as it streams in, verifying its digest and size; a
    /// blob the store has is not written again.
    pub fn write_blob_from(&self, digest: &str, size: u64, reader: impl Read) -> Result<(), Error> {
        if self.has_blob(digest)? {
            return Ok(());
        }
        let (file, temp) = self.content.temp_file(digest)?;
        let result = Self::verify_into(digest, size, Digesting::new(reader, size, Some(file)))
            .and_then(|()| self.commit_blob(&temp, digest));
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result
    }

    /// Stores a blob whose digest is not known beforehand (a file of an
    /// image archive named otherwise); returns its digest and size.
    pub fn write_blob_unnamed(&self, reader: impl Read) -> Result<(String, u64), Error> {
        let (file, temp) = self.content.temp_file_unnamed()?;
        let mut digesting = Digesting::new(reader, u64::MAX, Some(file));
        let result = digesting
            .drain()
            .and_then(|()| digesting.finish())
            .map_err(|source| Error::BlobWrite {
                digest: "(being imported)".to_owned(),
                source,
            })
            .and_then(|(digest, size, _)| {
                self.commit_blob(&temp, &digest)?;
                Ok((digest, size))
            });
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result
    }

    fn verify_into(
        digest: &str,
        size: u64,
        mut digesting: Digesting<impl Read>,
    ) -> Result<(), Error> {
        let write_error = |source| Error::BlobWrite {
            digest: digest.to_owned(),
            source,
        };
        let drained = digesting.drain();
        if digesting.exceeded() {
            return Err(Error::SizeMismatch {
                digest: digest.to_owned(),
                expected: size,
                actual: digesting.count(),
            });
        }
        drained.map_err(write_error)?;
        let (actual, count, _) = digesting.finish().map_err(write_error)?;
        if count != size {
            return Err(Error::SizeMismatch {
                digest: digest.to_owned(),
                expected: size,
                actual: count,
            });
        }
        if actual != digest {
            return Err(Error::DigestMismatch {
                expected: digest.to_owned(),
                actual,
                size,
            });
        }
        Ok(())
    }

    /// Whether the store has the blob; one it has is in use by this
    /// process from now on (a collector leaves it).
    pub fn has_blob(&self, digest: &str) -> Result<bool, Error> {
        let hex = digest_hex(digest)?;
        Ok(self.content.path(digest)?.exists()
            && self.meta.touch(&format!("content/blobs/sha256/{hex}"))?)
    }

    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, Error> {
        self.content.path(digest)
    }

    /// Reads a small blob (manifest, config) whole.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, Error> {
        let path = self.content.path(digest)?;
        std::fs::read(&path).map_err(|source| Error::Store { path, source })
    }

    /// Stores a small blob after verifying its digest.
    pub fn write_blob(&self, digest: &str, bytes: &[u8]) -> Result<(), Error> {
        if self.has_blob(digest)? {
            return Ok(());
        }
        let temp = self.content.write(digest, bytes)?;
        let committed = self.commit_blob(&temp, digest);
        if committed.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        committed
    }

    /// The snapshot of the layer whose uncompressed digest is `diff_id`, if
    /// one was committed with this store user's [`Owners`]. Layers are
    /// keyed by content (and owners) alone: the same diff in two images,
    /// whatever sits below it, is one snapshot.
    pub fn layer_snapshot(&self, diff_id: &str) -> Result<Option<Snapshot>, Error> {
        let id = self.layer_snapshot_id(diff_id)?;
        let dir = self.snapshots.join(&id);
        let present = dir.join("fs").is_dir() && self.meta.touch(&format!("snapshots/{id}"))?;
        Ok(present.then_some(Snapshot { id, dir }))
    }

    /// Where the snapshot of `diff_id` is (its `fs`), made or not yet: the
    /// chain an image will have once its layers are pulled.
    pub fn planned_layer(&self, diff_id: &str) -> Result<PathBuf, Error> {
        Ok(self
            .snapshots
            .join(self.layer_snapshot_id(diff_id)?)
            .join("fs"))
    }

    /// Waits until no other process is making the snapshot of `diff_id`, then
    /// holds it off until the lock is dropped. Half-made attempts of dead
    /// processes are cleared once the lock is held.
    pub fn lock_layer(&self, diff_id: &str) -> Result<LayerLock, Error> {
        let id = self.layer_snapshot_id(diff_id)?;
        let path = self.locks.join(format!("{id}.lock"));
        let file = crate::results::open_lock(&path)?;
        sys::lock_exclusive(&file).map_err(|source| Error::Store { path, source })?;
        // Holding the lock proves nobody is working on these any more.
        let prefix = format!("{id}.");
        remove_temps(&self.snapshots_tmp, |name, _| name.starts_with(&prefix));
        Ok(LayerLock { _file: file, id })
    }

    /// Unpacks `compressed` — the layer blob as it streams in — into a new
    /// snapshot, verifying the blob's size and digest and the tar's diff id as
    /// it goes. With `keep_blob`, the blob is also written to the content
    /// store. Nothing becomes visible unless everything checks out.
    pub fn ingest_layer(
        &self,
        lock: &LayerLock,
        layer: &LayerBlob,
        compressed: impl Read,
        keep_blob: bool,
    ) -> Result<Ingested, Error> {
        debug_assert_eq!(lock.id, self.layer_snapshot_id(layer.diff_id)?);
        let temp_dir = temp_name(&self.snapshots_tmp, &lock.id);
        let mut blob_temp = None;
        let result = self.ingest_into(&temp_dir, layer, compressed, keep_blob, &mut blob_temp);
        if result.is_err() {
            if let Some(path) = &blob_temp {
                let _ = std::fs::remove_file(path);
            }
            if temp_dir.exists() {
                if let Err(e) = std::fs::remove_dir_all(&temp_dir) {
                    tracing::warn!(
                        "cannot remove {}: {e}; the next run will",
                        temp_dir.display()
                    );
                }
            }
        }
        result
    }

    fn ingest_into(
        &self,
        temp_dir: &Path,
        layer: &LayerBlob,
        compressed: impl Read,
        keep_blob: bool,
        blob_temp: &mut Option<PathBuf>,
    ) -> Result<Ingested, Error> {
        let commit_error = |source| Error::Commit {
            id: layer.diff_id.to_owned(),
            source,
        };
        let fs = temp_dir.join("fs");
        std::fs::create_dir_all(&fs).map_err(commit_error)?;
        let copy = if keep_blob {
            // Blob temps of this layer are written under its lock too.
            let prefix = format!("{}.", digest_hex(layer.digest)?);
            remove_temps(self.content.tmp_dir(), |name, _| name.starts_with(&prefix));
            let (file, path) = self.content.temp_file(layer.digest)?;
            *blob_temp = Some(path);
            Some(file)
        } else {
            None
        };
        let unpacker = Unpacker::new(&fs, layer.digest, self.owners)?;
        let stats = self.unpack_verified(unpacker, layer, compressed, copy)?;

        let id = self.layer_snapshot_id(layer.diff_id)?;
        let fs_dir = sys::open_dir(&fs).map_err(commit_error)?;
        sys::sync_filesystem(fs_dir.as_fd()).map_err(commit_error)?;
        if let Some(path) = blob_temp.take() {
            self.commit_blob(&path, layer.digest)?;
        }
        let dir = self.snapshots.join(&id);
        if dir.join("fs").is_dir() {
            // Committed, though the metadata did not say so (a crash between
            // a rename and its record): that one stands.
            let _ = std::fs::remove_dir_all(temp_dir);
        } else {
            std::fs::rename(temp_dir, &dir).map_err(commit_error)?;
        }
        self.meta.record(
            &format!("snapshots/{id}"),
            EntryKind::ImageLayer,
            apparent_size(&dir),
            &format!("layer {}{}", layer.diff_id, self.owners.note()),
        )?;
        Ok(Ingested {
            snapshot: Snapshot { id, dir },
            stats,
        })
    }

    /// Unpacks the layer blob `compressed` into `fs` (an empty directory of
    /// the caller's), checking the blob's size and digest and the tar's
    /// diff id as it goes: for results fetched from a registry cache. On
    /// error `fs` holds whatever was unpacked, for the caller to throw away.
    pub fn unpack_layer_into(
        &self,
        fs: &Path,
        layer: &LayerBlob,
        compressed: impl Read,
    ) -> Result<UnpackStats, Error> {
        let unpacker = Unpacker::new(fs, layer.digest, self.owners)?;
        self.unpack_verified(unpacker, layer, compressed, None)
    }

    /// What ingesting, [`Store::unpack_layer_into`] and a streamed export
    /// share: unpack with `unpacker`, verify, and copy the blob to `copy`
    /// as it passes.
    pub(crate) fn unpack_verified(
        &self,
        unpacker: Unpacker,
        layer: &LayerBlob,
        compressed: impl Read,
        copy: Option<File>,
    ) -> Result<UnpackStats, Error> {
        let read_error = |source| Error::Read {
            layer: layer.digest.to_owned(),
            source,
        };

        // The blob may not be longer than its descriptor says: reading fails
        // as soon as more than `layer.size` bytes have passed, so an overlong
        // blob is told from an exact one without reading it all.
        let mut blob = Digesting::new(compressed, layer.size, copy);
        let bound = self.limits.expanded_bound(layer.size, layer.compression);
        let unpacked = {
            let mut tar = Digesting::new(
                layer.compression.decoder(&mut blob).map_err(read_error)?,
                bound,
                None,
            );
            let unpacked = unpacker.unpack(&mut tar);
            // The diff id covers the whole stream, padding after the tar's end too.
            let drained =
                unpacked.and_then(|stats| tar.drain().map(|()| stats).map_err(read_error));
            if tar.exceeded() {
                return Err(Error::TooLarge {
                    layer: layer.digest.to_owned(),
                    limit: bound,
                });
            }
            drained.map(|stats| (stats, tar.finish()))
        };
        // Whatever went wrong while unpacking, a wrong blob is the better
        // explanation: read the rest and compare digests first.
        let blob_drained = blob.drain();
        if blob.exceeded() {
            return Err(Error::SizeMismatch {
                digest: layer.digest.to_owned(),
                expected: layer.size,
                actual: blob.count(),
            });
        }
        let (digest, size, copy) = blob.finish().map_err(read_error)?;
        if blob_drained.is_ok() && size != layer.size {
            return Err(Error::SizeMismatch {
                digest: layer.digest.to_owned(),
                expected: layer.size,
                actual: size,
            });
        }
        if blob_drained.is_ok() && digest != layer.digest {
            return Err(Error::DigestMismatch {
                expected: layer.digest.to_owned(),
                actual: digest,
                size,
            });
        }
        let (stats, diff) = unpacked?;
        blob_drained.map_err(read_error)?;
        let (diff_id, _, _) = diff.map_err(read_error)?;
        if diff_id != layer.diff_id {
            return Err(Error::DiffIdMismatch {
                layer: layer.digest.to_owned(),
                expected: layer.diff_id.to_owned(),
                actual: diff_id,
            });
        }
        drop(copy);
        Ok(stats)
    }

    fn layer_snapshot_id(&self, diff_id: &str) -> Result<String, Error> {
        Ok(format!(
            "sha256-{}{}",
            digest_hex(diff_id)?,
            self.owners.id_suffix()
        ))
    }
}
