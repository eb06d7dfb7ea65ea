//! Writing new layers on top of a chain: copies of subtrees, new files and
//! directories, and whiteouts, read back through the merged view; no write
//! leaves the layer.

mod support;

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use snapshotter::{
    copy_into_layer, make_dir, make_whiteout, write_new_file, ChainView, Error, FileKind, Filter,
};
use support::{
    filter, get_xattr, is_root, names, read, set_mtime, set_xattr, skip, stacked, DiffDir,
};

#[test]
fn copies_keep_attributes_and_take_parents_from_the_target() {
    if !is_root() {
        skip("chown to other owners needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = DiffDir::new(tmp.path(), "src");
    // chown clears set-id bits: chown first.
    src.file("app/run.sh", "#!/bin/sh")
        .chown("app/run.sh", 1000, 1001)
        .file_mode("app/run.sh", "#!/bin/sh", 0o4755)
        .file_mode("app/conf/secret", "s", 0o600)
        .dir("app/conf", 0o750)
        .chown("app/conf", 7, 8)
        .symlink("app/current", "run.sh")
        .file("app/notes.log", "log");
    set_xattr(&src.0.join("app/run.sh"), "user.test", b"kept");
    set_mtime(&src.0.join("app/run.sh"), 1_234_567);
    let source = ChainView::new(vec![src.path()]);

    let tgt = DiffDir::new(tmp.path(), "target");
    tgt.dir("usr", 0o750)
        .chown("usr", 5, 6)
        .file("usr/src/app/existing", "old");
    set_mtime(&tgt.0.join("usr"), 1_111_111);
    let target = ChainView::new(vec![tgt.path()]);

    let dest = DiffDir::new(tmp.path(), "dest");
    let stats = copy_into_layer(
        &source,
        "/app",
        &filter(&[], &["*.log"]),
        &target,
        &dest.path(),
        "/usr/src/app",
        None,
        None,
    )
    .unwrap();
    assert_eq!(stats.files, 2);
    assert_eq!(stats.symlinks, 1);

    let usr = std::fs::symlink_metadata(dest.0.join("usr")).unwrap();
    assert_eq!((usr.mode() & 0o7777, usr.uid(), usr.gid()), (0o750, 5, 6));
    assert_eq!(
        usr.mtime(),
        1_111_111,
        "the parent keeps the target's mtime"
    );
    let run = std::fs::symlink_metadata(dest.0.join("usr/src/app/run.sh")).unwrap();
    assert_eq!(
        (run.mode() & 0o7777, run.uid(), run.gid()),
        (0o4755, 1000, 1001)
    );
    assert_eq!(run.mtime(), 1_234_567);
    assert_eq!(
        get_xattr(&dest.0.join("usr/src/app/run.sh"), "user.test").unwrap(),
        b"kept"
    );
    let conf = std::fs::symlink_metadata(dest.0.join("usr/src/app/conf")).unwrap();
    assert_eq!(
        (conf.mode() & 0o7777, conf.uid(), conf.gid()),
        (0o750, 7, 8)
    );
    assert_eq!(
        std::fs::read_link(dest.0.join("usr/src/app/current")).unwrap(),
        Path::new("run.sh")
    );
    assert!(
        !dest.0.join("usr/src/app/notes.log").exists(),
        "filtered out"
    );
    assert!(get_xattr(&dest.0.join("usr/src/app"), "user.overlay.opaque").is_none());

    let merged = stacked(&dest, &target);
    assert_eq!(
        names(&merged.read_dir("/usr/src/app").unwrap()),
        ["conf", "current", "existing", "run.sh"],
        "directories merge (Docker COPY)"
    );
    assert_eq!(read(&merged, "/usr/src/app/current"), "#!/bin/sh");

    // An owner override applies to everything copied.
    let dest2 = DiffDir::new(tmp.path(), "dest2");
    copy_into_layer(
        &source,
        "/app",
        &Filter::everything(),
        &target,
        &dest2.path(),
        "/opt",
        Some((42, 43)),
        None,
    )
    .unwrap();
    for rel in [
        "opt",
        "opt/run.sh",
        "opt/conf",
        "opt/conf/secret",
        "opt/current",
    ] {
        let meta = std::fs::symlink_metadata(dest2.0.join(rel)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (42, 43), "{rel}");
    }
    let root = std::fs::symlink_metadata(dest2.0.join("opt")).unwrap();
    assert_eq!(
        root.mode() & 0o7777,
        0o755,
        "a new destination takes the source root's mode"
    );
}

#[test]
fn copies_replace_non_directories_and_files_replace_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let src = DiffDir::new(tmp.path(), "src");
    src.file("tree/a", "a").file("one", "1");
    let source = ChainView::new(vec![src.path()]);
    let tgt = DiffDir::new(tmp.path(), "target");
    tgt.file("dest", "i was a file")
        .file("somedir/inner", "x")
        .symlink("link", "/real")
        .dir("real", 0o755);
    let target = ChainView::new(vec![tgt.path()]);

    let d1 = DiffDir::new(tmp.path(), "d1");
    copy_into_layer(
        &source,
        "/tree",
        &Filter::everything(),
        &target,
        &d1.path(),
        "/dest",
        None,
        None,
    )
    .unwrap();
    let merged = stacked(&d1, &target);
    assert_eq!(names(&merged.read_dir("/dest").unwrap()), ["a"]);

    let d2 = DiffDir::new(tmp.path(), "d2");
    copy_into_layer(
        &source,
        "/one",
        &Filter::everything(),
        &target,
        &d2.path(),
        "/somedir",
        None,
        Some(0o600),
    )
    .unwrap();
    let merged = stacked(&d2, &target);
    let node = merged.lookup("/somedir", false).unwrap().unwrap();
    assert_eq!(node.kind(), FileKind::File);
    assert_eq!(node.metadata.mode() & 0o7777, 0o600, "mode_override");

    // Into a directory through a symlink of the target: lands at its target.
    let d3 = DiffDir::new(tmp.path(), "d3");
    copy_into_layer(
        &source,
        "/tree",
        &Filter::everything(),
        &target,
        &d3.path(),
        "/link/sub",
        None,
        None,
    )
    .unwrap();
    assert!(d3.0.join("real/sub/a").is_file());
    assert!(std::fs::symlink_metadata(d3.0.join("link")).is_err());
    assert_eq!(read(&stacked(&d3, &target), "/link/sub/a"), "a");

    let missing = copy_into_layer(
        &source,
        "/nope",
        &Filter::everything(),
        &target,
        &d3.path(),
        "/x",
        None,
        None,
    );
    assert!(matches!(missing, Err(Error::NotFound { .. })));
}

#[test]
fn writes_never_leave_the_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let tgt = DiffDir::new(tmp.path(), "target");
    // Symlinks that would lead out on the host resolve inside the chain.
    tgt.symlink("out", outside.to_str().unwrap())
        .symlink("up", "../../../../../..");
    let target = ChainView::new(vec![tgt.path()]);
    let dest = DiffDir::new(tmp.path(), "dest");
    write_new_file(&target, &dest.path(), "/out/x", b"1", 0o644, (0, 0)).unwrap();
    write_new_file(&target, &dest.path(), "/up/y", b"2", 0o644, (0, 0)).unwrap();
    write_new_file(&target, &dest.path(), "../../../z", b"3", 0o644, (0, 0)).unwrap();
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "something escaped"
    );
    let in_chain = outside.strip_prefix("/").unwrap();
    assert_eq!(
        std::fs::read(dest.0.join(in_chain).join("x")).unwrap(),
        b"1"
    );
    assert_eq!(std::fs::read(dest.0.join("y")).unwrap(), b"2");
    assert_eq!(std::fs::read(dest.0.join("z")).unwrap(), b"3");
    assert!(!tmp.path().join("z").exists() && !Path::new("/y").exists());
}

#[test]
fn new_files_directories_and_whiteouts() {
    let tmp = tempfile::tempdir().unwrap();
    let tgt = DiffDir::new(tmp.path(), "target");
    tgt.file("etc/passwd", "root")
        .file("var/lib/x", "x")
        .dir("etc", 0o711);
    let target = ChainView::new(vec![tgt.path()]);
    let dest = DiffDir::new(tmp.path(), "dest");

    write_new_file(&target, &dest.path(), "/etc/motd", b"hi", 0o640, (3, 4)).unwrap();
    let motd = std::fs::metadata(dest.0.join("etc/motd")).unwrap();
    assert_eq!(motd.mode() & 0o7777, 0o640);
    assert_eq!((motd.uid(), motd.gid()), (3, 4));
    assert_eq!(
        std::fs::metadata(dest.0.join("etc")).unwrap().mode() & 0o7777,
        0o711
    );

    make_dir(&target, &dest.path(), "/new/deep", 0o700).unwrap();
    assert_eq!(
        std::fs::metadata(dest.0.join("new/deep")).unwrap().mode() & 0o7777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(dest.0.join("new")).unwrap().mode() & 0o7777,
        0o755
    );

    make_whiteout(&target, &dest.path(), "/var/lib").unwrap();
    let wh = std::fs::symlink_metadata(dest.0.join("var/lib")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    make_whiteout(&target, &dest.path(), "/not/there").unwrap();
    assert!(
        !dest.0.join("not").exists(),
        "removing a missing path adds nothing"
    );
    make_whiteout(&target, &dest.path(), "/etc/motd").unwrap();
    assert!(
        !dest.0.join("etc/motd").exists(),
        "the layer's own file is just removed"
    );
    make_whiteout(&target, &dest.path(), "/etc/passwd/x").unwrap();

    let merged = stacked(&dest, &target);
    assert!(merged.lookup("/var/lib/x", false).unwrap().is_none());
    assert_eq!(names(&merged.read_dir("/var").unwrap()), Vec::<&str>::new());
    assert_eq!(names(&merged.read_dir("/etc").unwrap()), ["passwd"]);

    // A directory made where the layer has a whiteout hides what is below.
    make_dir(&target, &dest.path(), "/var/lib", 0o755).unwrap();
    assert_eq!(
        get_xattr(&dest.0.join("var/lib"), "user.overlay.opaque").unwrap(),
        b"y"
    );
    let merged = stacked(&dest, &target);
    assert_eq!(
        names(&merged.read_dir("/var/lib").unwrap()),
        Vec::<&str>::new()
    );
}

#[test]
fn a_mode_given_for_a_directory_is_every_entrys_below_it() {
    let tmp = tempfile::tempdir().unwrap();
    let src = DiffDir::new(tmp.path(), "src");
    src.file_mode("app/run.sh", "#!/bin/sh", 0o644)
        .dir("app/conf", 0o700)
        .file_mode("app/conf/settings", "s", 0o600)
        .dir("app", 0o710);
    let source = ChainView::new(vec![src.path()]);
    let tgt = DiffDir::new(tmp.path(), "target");
    tgt.dir("srv", 0o755);
    let target = ChainView::new(vec![tgt.path()]);
    let dest = DiffDir::new(tmp.path(), "dest");
    copy_into_layer(
        &source,
        "/app",
        &Filter::everything(),
        &target,
        &dest.path(),
        "/srv/app",
        None,
        Some(0o751),
    )
    .unwrap();
    for path in ["srv/app/run.sh", "srv/app/conf", "srv/app/conf/settings"] {
        let meta = std::fs::symlink_metadata(dest.0.join(path)).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o751, "{path}");
    }
    // The copied directory itself keeps its own, as buildah keeps it.
    let app = std::fs::symlink_metadata(dest.0.join("srv/app")).unwrap();
    assert_eq!(app.mode() & 0o7777, 0o710);
    // The target's own directory above keeps its mode.
    let srv = std::fs::symlink_metadata(dest.0.join("srv")).unwrap();
    assert_eq!(srv.mode() & 0o7777, 0o755);
}
