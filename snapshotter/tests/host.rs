//! The host side: host directories and files imported into the store (once,
//! then re-hashed from the stat cache) and merged subtrees exported to host
//! paths (created, merged or wiped, never half-written).

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use snapshotter::{
    export_dir, export_file, import_host_dir, import_host_file, ChainView, Error, Filter, Limits,
    Store,
};
use support::{c, filter, is_root, names, set_mtime, skip, DiffDir};

fn host_tree(base: &Path) -> PathBuf {
    let root = base.join("host");
    let l = DiffDir(root.clone());
    l.file("a.txt", "alpha")
        .file_mode("bin/tool", "#!", 0o755)
        .file("logs/x.log", "log")
        .file("keep.log", "keep")
        .symlink("link", "/etc/passwd")
        .dir("empty", 0o700);
    let fifo = root.join("fifo");
    assert_eq!(unsafe { libc::mkfifo(c(&fifo).as_ptr(), 0o644) }, 0);
    root
}

#[test]
fn host_directories_import_once_and_rehash_from_the_stat_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store"), Limits::default()).unwrap();
    let host = host_tree(tmp.path());
    let all = Filter::everything();

    let first = import_host_dir(&store, &host, &all).unwrap();
    assert!(!first.reused);
    assert_eq!((first.files, first.hashed), (4, 4));
    assert_eq!(first.bytes, 5 + 2 + 3 + 4);
    let snap = &first.snapshot;
    assert!(snap.ends_with("fs") && snap.starts_with(store.root().join("snapshots")));
    assert!(!snap.join("fifo").exists(), "special files are skipped");
    assert_eq!(
        std::fs::read_link(snap.join("link")).unwrap(),
        Path::new("/etc/passwd")
    );
    let tool = std::fs::metadata(snap.join("bin/tool")).unwrap();
    assert_eq!(
        (tool.mode() & 0o7777, tool.uid(), tool.gid()),
        (0o755, 0, 0)
    );
    assert_eq!(
        std::fs::metadata(snap.join("empty")).unwrap().mode() & 0o7777,
        0o700
    );
    // The snapshot's own digest is the import's digest.
    assert_eq!(
        ChainView::new(vec![snap.clone()])
            .digest("/", &all)
            .unwrap(),
        first.digest
    );

    let second = import_host_dir(&store, &host, &all).unwrap();
    assert!(second.reused);
    assert_eq!(
        second.hashed, 0,
        "an unchanged tree is re-hashed from stat calls"
    );
    assert_eq!(second.digest, first.digest);

    // A changed file with a new mtime is read again and changes the digest.
    std::fs::write(host.join("a.txt"), "alphb").unwrap();
    let third = import_host_dir(&store, &host, &all).unwrap();
    assert_eq!(third.hashed, 1);
    assert!(!third.reused);
    assert_ne!(third.digest, first.digest);
    assert_eq!(
        std::fs::read(third.snapshot.join("a.txt")).unwrap(),
        b"alphb"
    );

    // Same size, mtime forced back: ctime (which nobody can set) still
    // changed, so the stat cache does not trust the old hash.
    let before = std::fs::metadata(host.join("a.txt")).unwrap();
    std::fs::write(host.join("a.txt"), "alpha").unwrap();
    let t = libc::timespec {
        tv_sec: before.mtime(),
        tv_nsec: before.mtime_nsec(),
    };
    let ret = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c(&host.join("a.txt")).as_ptr(),
            [t, t].as_ptr(),
            0,
        )
    };
    assert_eq!(ret, 0);
    let fourth = import_host_dir(&store, &host, &all).unwrap();
    assert_eq!(fourth.hashed, 1);
    assert_eq!(fourth.digest, first.digest, "back to the first content");
    assert!(fourth.reused);

    // Filtered imports are their own content.
    let f = filter(&[], &["*.log", "logs"]);
    let filtered = import_host_dir(&store, &host, &f).unwrap();
    assert_ne!(filtered.digest, first.digest);
    assert_eq!(filtered.files, 2);
    assert!(
        !filtered.snapshot.join("logs").exists() && !filtered.snapshot.join("keep.log").exists()
    );
    let f = filter(&["bin", "*.txt"], &[]);
    let included = import_host_dir(&store, &host, &f).unwrap();
    let view = ChainView::new(vec![included.snapshot.clone()]);
    assert_eq!(names(&view.read_dir("/").unwrap()), ["a.txt", "bin"]);

    // A file on its own.
    let file = import_host_file(&store, &host.join("bin/tool")).unwrap();
    let view = ChainView::new(vec![file.snapshot.clone()]);
    assert_eq!(names(&view.read_dir("/").unwrap()), ["tool"]);
    assert_eq!(view.digest("/", &all).unwrap(), file.digest);
    assert!(matches!(
        import_host_file(&store, &host.join("bin")),
        Err(Error::NotAFile { .. })
    ));
    assert!(matches!(
        import_host_dir(&store, &host.join("a.txt"), &all),
        Err(Error::NotADirectory { .. })
    ));
    assert!(matches!(
        import_host_dir(&store, &host.join("missing"), &all),
        Err(Error::HostRead { .. })
    ));
    assert_eq!(
        std::fs::read_dir(store.root().join("snapshots/tmp"))
            .unwrap()
            .count(),
        0
    );
}

/// Entries of `dir` that look like export temps.
fn temps(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tanto-tmp-"))
        .collect()
}

fn export_source(base: &Path) -> ChainView {
    let l = DiffDir::new(base, "exported");
    l.file("a", "new a")
        .file_mode("bin/suid", "x", 0o4755)
        .symlink("link", "a")
        .file("sub/b", "b");
    ChainView::new(vec![l.path()])
}

#[test]
fn exports_create_merge_and_wipe() {
    let tmp = tempfile::tempdir().unwrap();
    let view = export_source(tmp.path());
    let all = Filter::everything();
    let out = tmp.path().join("out");

    let written = export_dir(&view, "/", &all, &out, false).unwrap();
    assert_eq!(written, out);
    assert_eq!(std::fs::read(out.join("a")).unwrap(), b"new a");
    assert_eq!(
        std::fs::metadata(out.join("bin/suid")).unwrap().mode() & 0o7777,
        0o755,
        "set-id bits dropped"
    );
    assert_eq!(
        std::fs::read_link(out.join("link")).unwrap(),
        Path::new("a")
    );

    // Merge: what the export does not have stays; what it has is replaced.
    std::fs::write(out.join("extra"), "mine").unwrap();
    std::fs::write(out.join("a"), "old a").unwrap();
    export_dir(&view, "/", &all, &out, false).unwrap();
    assert_eq!(std::fs::read(out.join("extra")).unwrap(), b"mine");
    assert_eq!(std::fs::read(out.join("a")).unwrap(), b"new a");

    // A file where the destination has a directory is refused up front.
    std::fs::remove_file(out.join("a")).unwrap();
    std::fs::create_dir(out.join("a")).unwrap();
    std::fs::write(out.join("a/inside"), "x").unwrap();
    let conflict = export_dir(&view, "/", &all, &out, false);
    assert!(
        matches!(conflict, Err(Error::ExportConflict { .. })),
        "{conflict:?}"
    );
    assert!(out.join("a/inside").exists());

    // Wipe replaces the whole directory.
    export_dir(&view, "/sub", &all, &out, true).unwrap();
    assert_eq!(names_of(&out), ["b"]);
    assert!(temps(tmp.path()).is_empty());

    // Filtered, and relative paths resolve against the working directory.
    let only_sub = filter(&["sub"], &[]);
    let out2 = tmp.path().join("out2");
    export_dir(&view, "/", &only_sub, &out2, false).unwrap();
    assert_eq!(names_of(&out2), ["sub"]);
}

#[test]
fn exported_directories_keep_their_modes_and_times_however_deep() {
    let tmp = tempfile::tempdir().unwrap();
    let l = DiffDir::new(tmp.path(), "deep");
    l.file("a/b/c/file", "deep")
        .file("a/b/after", "back up two levels")
        .file("z", "back at the root")
        .dir("a/b/c", 0o555)
        .dir("a", 0o750);
    for (rel, seconds) in [("a/b/c", 1_000_000), ("a/b", 2_000_000), ("a", 3_000_000)] {
        set_mtime(&l.at(rel), seconds);
    }
    let out = tmp.path().join("out");
    export_dir(
        &ChainView::new(vec![l.path()]),
        "/",
        &Filter::everything(),
        &out,
        false,
    )
    .unwrap();

    assert_eq!(std::fs::read(out.join("a/b/c/file")).unwrap(), b"deep");
    assert_eq!(
        std::fs::read(out.join("a/b/after")).unwrap(),
        b"back up two levels"
    );
    assert_eq!(std::fs::read(out.join("z")).unwrap(), b"back at the root");
    let mode = |rel: &str| std::fs::metadata(out.join(rel)).unwrap().mode() & 0o7777;
    assert_eq!((mode("a/b/c"), mode("a")), (0o555, 0o750));
    for (rel, seconds) in [("a/b/c", 1_000_000), ("a/b", 2_000_000), ("a", 3_000_000)] {
        let mtime = std::fs::metadata(out.join(rel)).unwrap().mtime();
        assert_eq!(mtime, seconds, "{rel}'s mtime, set after what is in it");
    }
    std::fs::set_permissions(out.join("a/b/c"), std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn names_of(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn export_errors_leave_the_destination_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let view = export_source(tmp.path());
    let all = Filter::everything();

    let missing_parent = tmp.path().join("no/such/out");
    let err = export_dir(&view, "/", &all, &missing_parent, false).unwrap_err();
    assert!(matches!(err, Error::ExportParentMissing { .. }));
    assert!(err.to_string().contains("mkdir -p"), "{err}");
    assert!(!tmp.path().join("no").exists());

    let file = tmp.path().join("a-file");
    std::fs::write(&file, "keep").unwrap();
    let err = export_dir(&view, "/", &all, &file, false).unwrap_err();
    assert!(
        err.to_string().contains("exists and is not a directory"),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"keep");

    // Files: into a directory is refused, a file is replaced atomically.
    let err = export_file(&view, "/a", tmp.path()).unwrap_err();
    assert!(matches!(err, Error::ExportIsADirectory { .. }));
    assert_eq!(export_file(&view, "/link", &file).unwrap(), file);
    assert_eq!(std::fs::read(&file).unwrap(), b"new a");
    assert!(matches!(
        export_file(&view, "/sub", &file),
        Err(Error::NotAFile { .. })
    ));
    assert!(matches!(
        export_file(&view, "/a", &tmp.path().join("no/file")),
        Err(Error::ExportParentMissing { .. })
    ));
    assert!(matches!(
        export_dir(&view, "/a", &all, &tmp.path().join("x"), false),
        Err(Error::NotADirectory { .. })
    ));
    assert!(temps(tmp.path()).is_empty());
}

/// A source file the exporting user cannot read fails the export halfway
/// through building it: nothing is left behind and the old tree stays.
#[test]
fn a_failing_export_leaves_no_temp_and_the_old_tree() {
    if !is_root() {
        skip("needs root to switch the file system user of one thread");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let l = DiffDir::new(tmp.path(), "src");
    l.file("0-first", "readable")
        .file_mode("z-secret", "no", 0o600);
    let view = ChainView::new(vec![l.path()]);
    let parent = tmp.path().join("exports");
    std::fs::create_dir(&parent).unwrap();
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o777)).unwrap();
    let dest = parent.join("out");
    std::fs::create_dir(&dest).unwrap();
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(dest.join("old"), "old").unwrap();

    for wipe in [false, true] {
        let (view, target) = (view.clone(), dest.clone());
        let result = std::thread::spawn(move || {
            // setfsuid is per thread: only this one loses root's file access.
            unsafe {
                libc::syscall(libc::SYS_setfsgid, 65534);
                libc::syscall(libc::SYS_setfsuid, 65534);
            }
            export_dir(&view, "/", &Filter::everything(), &target, wipe)
        })
        .join()
        .unwrap();
        let err = result.unwrap_err();
        assert!(err.to_string().contains("cannot export"), "{err}");
        assert!(format!("{:?}", err).contains("z-secret"), "{err:?}");
        assert!(temps(&parent).is_empty(), "temp left: {:?}", temps(&parent));
        assert_eq!(names_of(&dest), ["old"], "wipe={wipe}");
        assert_eq!(std::fs::read(dest.join("old")).unwrap(), b"old");
    }
}

/// Not an assertion on time: prints how long a 100k-file tree takes to
/// import and to re-hash; asserts only that the re-hash reads no file.
#[test]
#[allow(clippy::print_stderr)]
fn rehash_timing_of_a_large_tree() {
    let files: usize = std::env::var("TANTO_TIMING_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store"), Limits::default()).unwrap();
    let host = tmp.path().join("tree");
    let per_dir = 1000;
    for d in 0..files.div_ceil(per_dir) {
        let dir = host.join(format!("d{d:04}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..per_dir.min(files - d * per_dir) {
            std::fs::write(dir.join(format!("f{f:04}")), format!("{d}/{f}")).unwrap();
        }
    }
    let all = Filter::everything();
    let start = std::time::Instant::now();
    let first = import_host_dir(&store, &host, &all).unwrap();
    let first_time = start.elapsed();
    let start = std::time::Instant::now();
    let again = import_host_dir(&store, &host, &all).unwrap();
    let again_time = start.elapsed();
    assert_eq!(first.files, files as u64);
    assert!(again.reused);
    assert_eq!(again.hashed, 0);
    eprintln!("{files} files: first import {first_time:?}, re-hash (stat cache) {again_time:?}");
}
