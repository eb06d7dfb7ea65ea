//! A directory export written straight from a chain's layer blobs: the
//! layers applied on one another as overlay would show them merged, written
//! as the user's files, only the exported subtree, and nothing put in place
//! unless every blob verifies. Where the stream cannot tell the merged view,
//! the export declines (`NotStreamable`) and leaves the destination alone.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use snapshotter::{export_streamed, Compression, Error, Limits, Store, StreamedLayer};

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A layer tar built entry by entry, in the order given.
struct Layer {
    builder: tar::Builder<Vec<u8>>,
}

impl Layer {
    fn new() -> Layer {
        Layer {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    fn entry(&mut self, path: &str, kind: tar::EntryType, mode: u32, data: &[u8]) -> &mut Self {
        self.linked(path, kind, mode, data, None)
    }

    fn linked(
        &mut self,
        path: &str,
        kind: tar::EntryType,
        mode: u32,
        data: &[u8],
        link: Option<&str>,
    ) -> &mut Self {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_size(data.len() as u64);
        if let Some(link) = link {
            header.set_link_name(link).unwrap();
        }
        self.builder.append_data(&mut header, path, data).unwrap();
        self
    }

    fn dir(&mut self, path: &str) -> &mut Self {
        self.entry(path, tar::EntryType::Directory, 0o755, b"")
    }

    fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.entry(path, tar::EntryType::Regular, 0o644, data)
    }

    fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.linked(path, tar::EntryType::Symlink, 0o777, b"", Some(target))
    }

    fn finish(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.builder, tar::Builder::new(Vec::new()))
            .into_inner()
            .unwrap()
    }
}

/// An uncompressed layer whose `open` yields `served` while its descriptor
/// describes `described`.
fn served_as(described: &[u8], served: Vec<u8>) -> StreamedLayer {
    StreamedLayer {
        digest: sha(described),
        size: described.len() as u64,
        diff_id: sha(described),
        compression: Compression::None,
        open: Box::new(move || Ok(Box::new(std::io::Cursor::new(served)) as Box<dyn Read>)),
    }
}

fn streamed(tar: &[u8]) -> StreamedLayer {
    served_as(tar, tar.to_vec())
}

/// A layer the export must not open.
fn never_opened(tar: &[u8]) -> StreamedLayer {
    StreamedLayer {
        open: Box::new(|| panic!("the blob was opened")),
        ..streamed(tar)
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    store: Store,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();
        let store = Store::open(dir.path().join("store"), Limits::default()).unwrap();
        Fixture { dir, store }
    }

    /// Where exports go: `out/dest`, in a directory of its own.
    fn dest(&self) -> PathBuf {
        self.dir.path().join("out/dest")
    }

    fn export(&self, layers: Vec<StreamedLayer>, src: &str, wipe: bool) -> Result<PathBuf, Error> {
        export_streamed(&self.store, layers, src, &self.dest(), wipe)
    }

    /// The export was left to the ordinary way, with nothing written.
    fn assert_declined(&self, result: Result<PathBuf, Error>) {
        assert!(
            matches!(result, Err(Error::NotStreamable { .. })),
            "{result:?}"
        );
        assert!(!exists(&self.dest()));
        self.assert_no_temp();
    }

    /// No temp sibling of the destination is left behind.
    fn assert_no_temp(&self) {
        let left: Vec<_> = std::fs::read_dir(self.dir.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".dest.tanto-tmp-"))
            .collect();
        assert!(left.is_empty(), "temp siblings left: {left:?}");
    }
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// The names in a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The base layer most tests apply others on.
fn base() -> Vec<u8> {
    Layer::new()
        .dir("etc/")
        .file("etc/a", b"a1")
        .file("etc/gone", b"going")
        .symlink("etc/link", "a")
        .dir("opt/")
        .dir("opt/x/")
        .file("opt/x/old", b"old")
        .dir("usr/")
        .dir("usr/bin/")
        .entry("usr/bin/su", tar::EntryType::Regular, 0o4755, b"su")
        .dir("run/")
        .entry("run/fifo", tar::EntryType::Fifo, 0o644, b"")
        .finish()
}

#[test]
fn layers_are_applied_in_order_as_the_users_files() {
    let f = Fixture::new();
    let upper = Layer::new()
        .dir("etc/")
        .file("etc/a", b"a2")
        .file("etc/.wh.gone", b"")
        .dir("opt/x/")
        .file("opt/x/.wh..wh..opq", b"")
        .file("opt/x/new", b"new")
        .finish();

    let written = f
        .export(vec![streamed(&base()), streamed(&upper)], "/", false)
        .unwrap();

    let dest = f.dest();
    assert_eq!(written, dest);
    assert_eq!(read(&dest.join("etc/a")), "a2", "the upper file replaces");
    assert!(!exists(&dest.join("etc/gone")), "the whiteout deletes");
    assert!(
        !exists(&dest.join("etc/.wh.gone")),
        "whiteouts are not files"
    );
    let link = dest.join("etc/link");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("a"));
    assert_eq!(
        names(&dest.join("opt/x")),
        ["new"],
        "the opaque dir hides old"
    );
    assert_eq!(read(&dest.join("opt/x/new")), "new");
    let su = std::fs::metadata(dest.join("usr/bin/su")).unwrap();
    assert_eq!(su.permissions().mode() & 0o7777, 0o755, "no set-id bits");
    assert_eq!(read(&dest.join("usr/bin/su")), "su");
    assert!(!exists(&dest.join("run/fifo")), "FIFOs are not exported");
    f.assert_no_temp();
}

#[test]
fn an_opaque_marker_after_a_sibling_keeps_what_its_layer_wrote() {
    let f = Fixture::new();
    let upper = Layer::new()
        .dir("opt/x/")
        .file("opt/x/mine", b"mine")
        .file("opt/x/.wh..wh..opq", b"")
        .finish();

    f.export(vec![streamed(&base()), streamed(&upper)], "/", false)
        .unwrap();

    let x = f.dest().join("opt/x");
    assert_eq!(names(&x), ["mine"]);
    assert_eq!(read(&x.join("mine")), "mine");
}

#[test]
fn a_whiteout_of_a_lower_directory_removes_it_whole() {
    let f = Fixture::new();
    let upper = Layer::new().file(".wh.opt", b"").finish();

    f.export(vec![streamed(&base()), streamed(&upper)], "/", false)
        .unwrap();

    let dest = f.dest();
    assert!(!exists(&dest.join("opt")));
    assert_eq!(read(&dest.join("etc/a")), "a1", "the rest stays");
}

#[test]
fn only_the_exported_subtree_is_written_relative_to_it() {
    let f = Fixture::new();
    let lower = Layer::new()
        .dir("etc/")
        .file("etc/passwd", b"root")
        .dir("usr/")
        .dir("usr/bin/")
        .file("usr/bin/tool", b"tool")
        .dir("usr/share/")
        .dir("usr/share/doc/")
        .file("usr/share/doc/f", b"doc")
        .file("usr/share/doc/old", b"old")
        .dir("usr/sharedlib/")
        .file("usr/sharedlib/g", b"not under usr/share")
        .finish();
    let upper = Layer::new()
        .file("usr/share/doc/.wh.old", b"")
        .file("usr/share/readme", b"hi")
        .file("usr/bin/other", b"outside")
        .finish();

    let written = f
        .export(
            vec![streamed(&lower), streamed(&upper)],
            "/usr/share",
            false,
        )
        .unwrap();

    let dest = f.dest();
    assert_eq!(written, dest);
    assert_eq!(names(&dest), ["doc", "readme"]);
    assert_eq!(names(&dest.join("doc")), ["f"]);
    assert_eq!(read(&dest.join("doc/f")), "doc");
    assert_eq!(read(&dest.join("readme")), "hi");
    f.assert_no_temp();
}

#[test]
fn a_symlink_at_the_exported_path_is_left_to_the_ordinary_export() {
    let f = Fixture::new();
    let lower = Layer::new()
        .dir("opt/")
        .dir("opt/app/")
        .file("opt/app/f", b"f")
        .symlink("app", "opt/app")
        .finish();

    let result = f.export(vec![streamed(&lower)], "/app", false);

    f.assert_declined(result);
}

#[test]
fn an_existing_destination_is_replaced_only_with_wipe() {
    let f = Fixture::new();
    let dest = f.dest();
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("before"), "kept").unwrap();
    let layer = Layer::new().dir("etc/").file("etc/a", b"a1").finish();

    let merged = f.export(vec![never_opened(&layer)], "/", false);
    assert!(
        matches!(merged, Err(Error::NotStreamable { .. })),
        "{merged:?}"
    );
    assert_eq!(names(&dest), ["before"]);
    assert_eq!(read(&dest.join("before")), "kept");

    f.export(vec![streamed(&layer)], "/", true).unwrap();
    assert_eq!(names(&dest), ["etc"], "the old content is gone");
    assert_eq!(read(&dest.join("etc/a")), "a1");
    f.assert_no_temp();
}

#[test]
fn a_tampered_blob_puts_nothing_in_place() {
    let f = Fixture::new();
    let upper = Layer::new().file("etc/a", b"a2").finish();
    // The same length, so the blob reads as a well-formed tar of the
    // described size: only its digest tells it apart.
    // The file's data follows its 512-byte header.
    assert_eq!(&upper[512..514], b"a2");
    let mut tampered = upper.clone();
    tampered[513] = b'X';

    let result = f.export(
        vec![streamed(&base()), served_as(&upper, tampered.clone())],
        "/",
        false,
    );
    assert!(
        matches!(result, Err(Error::DigestMismatch { .. })),
        "{result:?}"
    );
    assert!(!exists(&f.dest()));
    f.assert_no_temp();

    // Replacing an existing destination: it stays as it was.
    let dest = f.dest();
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("before"), "kept").unwrap();
    let result = f.export(
        vec![streamed(&base()), served_as(&upper, tampered)],
        "/",
        true,
    );
    assert!(
        matches!(result, Err(Error::DigestMismatch { .. })),
        "{result:?}"
    );
    assert_eq!(names(&dest), ["before"]);
    assert_eq!(read(&dest.join("before")), "kept");
    f.assert_no_temp();
}

#[test]
fn an_exported_path_a_later_layer_deleted_is_left_to_the_ordinary_export() {
    let lower = Layer::new()
        .dir("usr/")
        .dir("usr/share/")
        .file("usr/share/f", b"f")
        .finish();
    let deleted = Layer::new().dir("usr/").file("usr/.wh.share", b"").finish();
    let hidden = Layer::new()
        .dir("usr/")
        .file("usr/.wh..wh..opq", b"")
        .file("usr/other", b"o")
        .finish();
    for upper in [deleted, hidden] {
        let f = Fixture::new();

        let result = f.export(
            vec![streamed(&lower), streamed(&upper)],
            "/usr/share",
            false,
        );

        f.assert_declined(result);
    }
}

#[test]
fn a_read_only_directory_gets_its_mode_once_every_layer_is_in() {
    let f = Fixture::new();
    let lower = Layer::new()
        .entry("ro/", tar::EntryType::Directory, 0o555, b"")
        .file("ro/f", b"f")
        .finish();
    let upper = Layer::new()
        .entry("ro/", tar::EntryType::Directory, 0o555, b"")
        .file("ro/g", b"g")
        .finish();

    f.export(vec![streamed(&lower), streamed(&upper)], "/", false)
        .unwrap();

    let ro = f.dest().join("ro");
    assert_eq!(names(&ro), ["f", "g"]);
    let mode = std::fs::metadata(&ro).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o555);
}
