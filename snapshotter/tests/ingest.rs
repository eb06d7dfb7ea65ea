//! Layer ingestion against a real file system: what a well-formed layer turns
//! into, and that malformed or hostile layers are refused with nothing written
//! outside the store and nothing left behind inside it.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use sha2::{Digest as _, Sha256};
use snapshotter::{Compression, Error, LayerBlob, Limits, Owners, Store};

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A tar written header by header, so tests can say things `tar::Builder`
/// refuses to (`..`, absolute paths).
struct RawTar {
    builder: tar::Builder<Vec<u8>>,
    uid: u64,
    gid: u64,
}

impl RawTar {
    fn new() -> RawTar {
        // Own ids: chown to them works without privileges.
        let (uid, gid) = unsafe { (libc::geteuid() as u64, libc::getegid() as u64) };
        RawTar {
            builder: tar::Builder::new(Vec::new()),
            uid,
            gid,
        }
    }

    fn entry(
        &mut self,
        path: &str,
        kind: tar::EntryType,
        mode: u32,
        data: &[u8],
        link: &str,
    ) -> &mut Self {
        let mut header = tar::Header::new_ustar();
        header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(self.uid);
        header.set_gid(self.gid);
        header.set_mtime(1_700_000_000);
        header.set_size(data.len() as u64);
        header.set_cksum();
        self.builder.append(&header, data).unwrap();
        self
    }

    fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.entry(path, tar::EntryType::Regular, 0o644, data, "")
    }

    fn dir(&mut self, path: &str) -> &mut Self {
        self.entry(path, tar::EntryType::Directory, 0o755, b"", "")
    }

    fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.entry(path, tar::EntryType::Symlink, 0o777, b"", target)
    }

    fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.entry(path, tar::EntryType::Link, 0o644, b"", target)
    }

    fn xattr_file(&mut self, path: &str, name: &str, value: &str) -> &mut Self {
        let key = format!("SCHILY.xattr.{name}");
        let record = format!("{key}={value}\n");
        let len = record.len() + 3; // assumes a two-digit length plus the space
        let pax = format!("{len} {record}");
        self.entry(
            "PaxHeader",
            tar::EntryType::XHeader,
            0o644,
            pax.as_bytes(),
            "",
        );
        self.file(path, b"with xattr")
    }

    fn finish(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.builder, tar::Builder::new(Vec::new()))
            .into_inner()
            .unwrap()
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    /// A sibling of the store that hostile layers try to write into.
    outside: std::path::PathBuf,
}

fn fixture(limits: Limits) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let store = Store::open(dir.path().join("store"), limits).unwrap();
    Fixture {
        _dir: dir,
        store,
        outside,
    }
}

fn ingest(store: &Store, tar: &[u8]) -> Result<snapshotter::Ingested, Error> {
    let blob = gzip(tar);
    let (digest, diff_id) = (sha(&blob), sha(tar));
    let layer = LayerBlob {
        digest: &digest,
        size: blob.len() as u64,
        diff_id: &diff_id,
        compression: Compression::Gzip,
    };
    let lock = store.lock_layer(&diff_id)?;
    store.ingest_layer(&lock, &layer, &blob[..], true)
}

/// Nothing outside, nothing half-done inside.
fn assert_clean(f: &Fixture, tar: &[u8]) {
    assert_eq!(
        std::fs::read_dir(&f.outside).unwrap().count(),
        0,
        "something escaped the store"
    );
    for tmp in ["content/tmp", "snapshots/tmp"] {
        let left: Vec<_> = std::fs::read_dir(f.store.root().join(tmp))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{tmp} still holds {left:?}");
    }
    assert!(f.store.layer_snapshot(&sha(tar)).unwrap().is_none());
    assert!(!f.store.has_blob(&sha(&gzip(tar))).unwrap());
}

fn expect_unsafe(tar: Vec<u8>, needle: &str) {
    let f = fixture(Limits::default());
    let err = ingest(&f.store, &tar).unwrap_err();
    assert!(matches!(err, Error::UnsafeEntry { .. }), "{err:?}");
    assert!(err.to_string().contains(needle), "{err}");
    assert_clean(&f, &tar);
}

#[test]
fn a_layer_becomes_a_committed_overlay_tree() {
    let f = fixture(Limits::default());
    let tar = RawTar::new()
        .dir("./")
        .dir("etc/")
        .file("etc/hosts", b"127.0.0.1 localhost\n")
        .entry(
            "bin/tool",
            tar::EntryType::Regular,
            0o4755,
            b"#!/bin/sh\n",
            "",
        )
        .symlink("etc/link", "hosts")
        .hardlink("etc/hard", "etc/hosts")
        .file("gone/.wh.deleted", b"")
        .file("opaque/.wh..wh..opq", b"")
        .file("opaque/kept", b"k")
        .xattr_file("attr", "user.origin", "tanto")
        .entry("fifo", tar::EntryType::Fifo, 0o640, b"", "")
        .finish();
    let ingested = ingest(&f.store, &tar).unwrap();
    let fs = ingested.snapshot.fs();
    assert_eq!(
        std::fs::read(fs.join("etc/hosts")).unwrap(),
        b"127.0.0.1 localhost\n"
    );
    assert_eq!(
        std::fs::read_link(fs.join("etc/link")).unwrap(),
        Path::new("hosts")
    );
    assert_eq!(
        std::fs::metadata(fs.join("etc/hard")).unwrap().ino(),
        std::fs::metadata(fs.join("etc/hosts")).unwrap().ino()
    );
    assert_eq!(
        std::fs::metadata(fs.join("bin/tool"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o4755
    );
    assert_eq!(
        std::fs::metadata(fs.join("etc/hosts")).unwrap().mtime(),
        1_700_000_000
    );
    let whiteout = std::fs::symlink_metadata(fs.join("gone/deleted")).unwrap();
    assert!(whiteout.file_type().is_char_device());
    assert_eq!(whiteout.rdev(), 0);
    assert!(!fs.join("gone/.wh.deleted").exists());
    assert_eq!(
        xattr(&fs.join("opaque"), "user.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!fs.join("opaque/.wh..wh..opq").exists());
    assert_eq!(
        xattr(&fs.join("attr"), "user.origin").as_deref(),
        Some(&b"tanto"[..])
    );
    assert!(std::fs::symlink_metadata(fs.join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(f.store.has_blob(&sha(&gzip(&tar))).unwrap());
    assert_eq!(
        f.store.layer_snapshot(&sha(&tar)).unwrap(),
        Some(ingested.snapshot)
    );
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

#[test]
fn dot_dot_and_absolute_paths_are_refused() {
    expect_unsafe(RawTar::new().file("../escape", b"x").finish(), "..");
    expect_unsafe(RawTar::new().file("a/../../escape", b"x").finish(), "..");
    expect_unsafe(RawTar::new().file("/escape", b"x").finish(), "absolute");
}

#[test]
fn symlinked_parents_cannot_lead_out() {
    // The store lives in <tmp>/store; the snapshot is four levels below <tmp>.
    let out = "../../../../../outside";
    expect_unsafe(
        RawTar::new()
            .symlink("link", out)
            .file("link/file", b"x")
            .finish(),
        "outside the layer",
    );
    expect_unsafe(
        RawTar::new()
            .symlink("abs", "/tmp")
            .file("abs/file", b"x")
            .finish(),
        "outside the layer",
    );
    // A chain: the second symlink hides behind the first.
    expect_unsafe(
        RawTar::new()
            .dir("d")
            .symlink("d/up", "..")
            .symlink("d/hop", "up/../../../../../../outside")
            .file("d/hop/x", b"x")
            .finish(),
        "outside the layer",
    );
}

#[test]
fn symlinks_inside_the_layer_are_followed() {
    let f = fixture(Limits::default());
    let tar = RawTar::new()
        .dir("real")
        .symlink("alias", "real")
        .file("alias/file", b"x")
        .finish();
    let fs = ingest(&f.store, &tar).unwrap().snapshot.fs();
    assert_eq!(std::fs::read(fs.join("real/file")).unwrap(), b"x");
}

#[test]
fn hardlinks_must_stay_in_the_layer() {
    expect_unsafe(
        RawTar::new()
            .hardlink("h", "../../../../../outside/x")
            .finish(),
        "leaves the layer",
    );
    expect_unsafe(
        RawTar::new().hardlink("h", "/etc/passwd").finish(),
        "leaves the layer",
    );
    expect_unsafe(
        RawTar::new().hardlink("h", "etc/not-here").finish(),
        "not in this layer",
    );
    expect_unsafe(
        RawTar::new()
            .dir("d")
            .file("d/f", b"x")
            .symlink("s", "d")
            .hardlink("h", "s/f")
            .finish(),
        "symlink",
    );
}

#[test]
fn whiteouts_stay_in_their_directory() {
    expect_unsafe(RawTar::new().file("a/.wh...", b"").finish(), "whiteout");
    expect_unsafe(RawTar::new().file(".wh..", b"").finish(), "whiteout");
}

#[test]
fn layers_cannot_forge_overlay_metadata() {
    expect_unsafe(
        RawTar::new()
            .xattr_file("f", "user.overlay.redirect", "/x")
            .finish(),
        "overlay xattr",
    );
    expect_unsafe(
        RawTar::new()
            .xattr_file("f", "trusted.overlay.opaque", "y")
            .finish(),
        "overlay xattr",
    );
}

#[test]
fn device_nodes_are_skipped_where_the_kernel_forbids_them() {
    let f = fixture(Limits::default());
    let tar = RawTar::new()
        .entry("dev/null", tar::EntryType::Char, 0o666, b"", "")
        .finish();
    // A real root outside a user namespace may create devices; nobody else may.
    let privileged = std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|map| map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
        && unsafe { libc::geteuid() } == 0;
    let ingested = ingest(&f.store, &tar).unwrap();
    let node = ingested.snapshot.fs().join("dev/null");
    if privileged {
        assert!(std::fs::symlink_metadata(node)
            .unwrap()
            .file_type()
            .is_char_device());
        assert!(ingested.stats.skipped_devices.is_empty());
    } else {
        assert!(!node.exists());
        assert_eq!(ingested.stats.skipped_devices, ["dev/null"]);
    }
}

#[test]
fn decompression_bombs_are_bounded() {
    let f = fixture(Limits {
        max_layer_bytes: Some(1 << 20),
    });
    let tar = RawTar::new().file("zeros", &vec![0u8; 4 << 20]).finish();
    let err = ingest(&f.store, &tar).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("TANTO_MAX_LAYER_BYTES"), "{err}");
    assert_clean(&f, &tar);
}

fn ingest_raw(
    f: &Fixture,
    blob: &[u8],
    digest: &str,
    size: u64,
    diff_id: &str,
) -> Result<snapshotter::Ingested, Error> {
    let layer = LayerBlob {
        digest,
        size,
        diff_id,
        compression: Compression::Gzip,
    };
    let lock = f.store.lock_layer(diff_id)?;
    f.store.ingest_layer(&lock, &layer, blob, true)
}

#[test]
fn wrong_digests_sizes_and_diff_ids_store_nothing() {
    let tar = RawTar::new().file("f", b"content").finish();
    let blob = gzip(&tar);
    let (digest, diff_id) = (sha(&blob), sha(&tar));
    let size = blob.len() as u64;

    let f = fixture(Limits::default());
    let other = sha(b"other");
    let err = ingest_raw(&f, &blob, &other, size, &diff_id).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err:?}");
    assert_clean(&f, &tar);

    let err = ingest_raw(&f, &blob, &digest, size - 1, &diff_id).unwrap_err();
    assert!(matches!(err, Error::SizeMismatch { .. }), "{err:?}");
    assert_clean(&f, &tar);

    let err = ingest_raw(&f, &blob, &digest, size + 10, &diff_id).unwrap_err();
    assert!(matches!(err, Error::SizeMismatch { .. }), "{err:?}");
    assert_clean(&f, &tar);

    let truncated = &blob[..blob.len() / 2];
    let err = ingest_raw(&f, truncated, &digest, size, &diff_id).unwrap_err();
    assert!(
        matches!(err, Error::SizeMismatch { .. } | Error::Read { .. }),
        "{err:?}"
    );
    assert_clean(&f, &tar);

    let err = ingest_raw(&f, &blob, &digest, size, &other).unwrap_err();
    assert!(matches!(err, Error::DiffIdMismatch { .. }), "{err:?}");
    assert!(!f.store.has_blob(&digest).unwrap());
}

#[test]
fn not_a_tar_is_a_read_error_naming_the_layer() {
    let f = fixture(Limits::default());
    let blob = gzip(b"this is not a tar archive, not at all, not even close.");
    let digest = sha(&blob);
    let err = ingest_raw(&f, &blob, &digest, blob.len() as u64, &sha(b"x")).unwrap_err();
    assert!(err.to_string().contains(&digest), "{err}");
}

#[test]
fn concurrent_ingests_of_one_layer_unpack_once() {
    let f = fixture(Limits::default());
    let tar = RawTar::new().file("f", b"shared").finish();
    let diff_id = sha(&tar);
    let unpacked = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let lock = f.store.lock_layer(&diff_id).unwrap();
                if f.store.layer_snapshot(&diff_id).unwrap().is_none() {
                    let blob = gzip(&tar);
                    let layer = LayerBlob {
                        digest: &sha(&blob),
                        size: blob.len() as u64,
                        diff_id: &diff_id,
                        compression: Compression::Gzip,
                    };
                    f.store
                        .ingest_layer(&lock, &layer, &blob[..], true)
                        .unwrap();
                    unpacked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(unpacked.into_inner(), 1);
}

#[test]
fn squashed_layers_are_other_snapshots_than_recorded_ones() {
    let f = fixture(Limits::default());
    let squashing = f.store.clone().with_owners(Owners::Squashed);
    let tar = RawTar::new().file("f", b"either way").finish();
    let diff_id = sha(&tar);
    let squashed = ingest(&squashing, &tar).unwrap().snapshot;
    assert!(squashed.id().ends_with("-squashed"), "{}", squashed.id());
    // The recorded store user does not take the squashed tree for its own…
    assert_eq!(f.store.layer_snapshot(&diff_id).unwrap(), None);
    let recorded = ingest(&f.store, &tar).unwrap().snapshot;
    assert_ne!(recorded.id(), squashed.id());
    assert_ne!(recorded.fs(), squashed.fs());
    // …and each finds its own from then on, in this store and on reopening.
    assert_eq!(f.store.layer_snapshot(&diff_id).unwrap(), Some(recorded));
    let reopened = Store::open(f.store.root(), Limits::default())
        .unwrap()
        .with_owners(Owners::Squashed);
    assert_eq!(reopened.layer_snapshot(&diff_id).unwrap(), Some(squashed));
}
