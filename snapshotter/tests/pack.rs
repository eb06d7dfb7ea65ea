//! Packing layer directories into OCI layer tars: overlay's whiteouts and
//! opaque directories become `.wh.` entries, everything else is kept, the
//! bytes are reproducible, and a packed layer unpacks to what it was made of.

use std::io::Read;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use snapshotter::{Compression, LayerBlob, Limits, PackOptions, Store};

/// Makes a layer as an overlay upper dir looks after a step: a new file, a
/// deleted one (whiteout), a directory replaced whole (opaque), a symlink
/// and a hardlink.
fn make_layer(dir: &Path) {
    std::fs::create_dir_all(dir.join("etc/conf.d")).unwrap();
    std::fs::write(dir.join("etc/conf.d/app.conf"), b"port=80\n").unwrap();
    std::fs::set_permissions(
        dir.join("etc/conf.d/app.conf"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::fs::hard_link(dir.join("etc/conf.d/app.conf"), dir.join("etc/app.link")).unwrap();
    symlink("conf.d/app.conf", dir.join("etc/app.conf")).unwrap();
    nix::sys::stat::mknod(
        &dir.join("etc/removed"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .expect("mknod of a whiteout (run the tests as root, as CI does)");
    std::fs::create_dir(dir.join("var")).unwrap();
    xattr_set(&dir.join("var"), "user.overlay.opaque", b"y");
    std::fs::write(dir.join("var/fresh"), b"new").unwrap();
    std::fs::write(dir.join("bin"), vec![7u8; 100_000]).unwrap();
    std::os::unix::fs::chown(dir.join("bin"), Some(1000), Some(1000)).unwrap();
    std::fs::set_permissions(dir.join("bin"), std::fs::Permissions::from_mode(0o4755)).unwrap();
}

fn xattr_set(path: &Path, name: &str, value: &[u8]) {
    let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    // SAFETY: valid C strings and buffer.
    let ret = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(ret, 0, "setxattr: {}", std::io::Error::last_os_error());
}

fn entries(tar_bytes: &[u8]) -> Vec<(String, tar::EntryType, u32, u64, String)> {
    let mut archive = tar::Archive::new(tar_bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let header = e.header();
            (
                e.path().unwrap().display().to_string(),
                header.entry_type(),
                header.mode().unwrap(),
                header.uid().unwrap(),
                e.link_name()
                    .unwrap()
                    .map(|l| l.display().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn whiteouts_and_opaque_dirs_become_oci_markers() {
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("layer");
    make_layer(&layer);
    let mut tar = Vec::new();
    snapshotter::pack_layer(&layer, &mut tar, PackOptions::default()).unwrap();
    let names: Vec<_> = entries(&tar)
        .into_iter()
        .map(|(path, kind, mode, uid, link)| format!("{path} {kind:?} {mode:o} {uid} {link}"))
        .collect();
    assert_eq!(
        names,
        [
            "bin Regular 4755 1000 ",
            "etc/ Directory 755 0 ",
            "etc/app.conf Symlink 777 0 conf.d/app.conf",
            "etc/app.link Regular 640 0 ",
            "etc/conf.d/ Directory 755 0 ",
            "etc/conf.d/app.conf Link 640 0 etc/app.link",
            "etc/.wh.removed Regular 644 0 ",
            "var/ Directory 755 0 ",
            "var/.wh..wh..opq Regular 644 0 ",
            "var/fresh Regular 644 0 ",
        ]
    );
}

#[test]
fn packing_is_reproducible_and_clamps_mtimes() {
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("layer");
    make_layer(&layer);
    let pack = |options| {
        let mut tar = Vec::new();
        snapshotter::pack_layer(&layer, &mut tar, options).unwrap();
        tar
    };
    assert_eq!(pack(PackOptions::default()), pack(PackOptions::default()));
    let clamped = pack(PackOptions {
        clamp_mtime: Some(1_000),
    });
    let mut archive = tar::Archive::new(&clamped[..]);
    for entry in archive.entries().unwrap() {
        assert_eq!(entry.unwrap().header().mtime().unwrap(), 1_000);
    }
}

#[test]
fn a_packed_layer_unpacks_to_what_it_was_made_of() {
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("layer");
    make_layer(&layer);
    let store = Store::open(dir.path().join("store"), Limits::default()).unwrap();
    for compression in [Compression::Gzip, Compression::Zstd, Compression::None] {
        let packed = store
            .pack_layer(&layer, compression, PackOptions::default())
            .unwrap();
        let blob = std::fs::read(store.blob_path(&packed.digest).unwrap()).unwrap();
        assert_eq!(blob.len() as u64, packed.size);
        // Packing again gives the same blob.
        assert_eq!(
            store
                .pack_layer(&layer, compression, PackOptions::default())
                .unwrap(),
            packed
        );
        let lock = store.lock_layer(&packed.diff_id).unwrap();
        if store.layer_snapshot(&packed.diff_id).unwrap().is_some() {
            continue;
        }
        let ingested = store
            .ingest_layer(
                &lock,
                &LayerBlob {
                    digest: &packed.digest,
                    size: packed.size,
                    diff_id: &packed.diff_id,
                    compression,
                },
                &blob[..],
                false,
            )
            .expect("the packed layer unpacks, its diff id checked");
        let fs = ingested.snapshot.fs();
        let removed = std::fs::symlink_metadata(fs.join("etc/removed")).unwrap();
        assert_eq!(
            (removed.mode() & libc::S_IFMT, removed.rdev()),
            (libc::S_IFCHR, 0)
        );
        let conf = std::fs::metadata(fs.join("etc/conf.d/app.conf")).unwrap();
        assert_eq!(conf.nlink(), 2);
        assert_eq!(conf.mode() & 0o7777, 0o640);
        let bin = std::fs::metadata(fs.join("bin")).unwrap();
        assert_eq!((bin.uid(), bin.mode() & 0o7777), (1000, 0o4755));
        let mut contents = String::new();
        std::fs::File::open(fs.join("var/fresh"))
            .unwrap()
            .read_to_string(&mut contents)
            .unwrap();
        assert_eq!(contents, "new");
    }
    let leftovers = std::fs::read_dir(dir.path().join("store/content/tmp"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "no temp blob is left behind");
}
