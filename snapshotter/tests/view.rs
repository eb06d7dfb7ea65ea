//! Reading hand-built layer chains as overlay would merge them: lookups,
//! listings, symlinks, globs and tree digests.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use snapshotter::{ChainView, Error, FileKind, Filter};
use support::{filter, names, read, set_mtime, DiffDir};

/// Top: l0. l1 whites out /etc/b, makes /opq opaque, puts a file over the
/// directory /fileoverdir; l0 puts a directory over l1's file /d2.
fn three_layers(base: &Path) -> (ChainView, [DiffDir; 3]) {
    let l2 = DiffDir::new(base, "l2");
    l2.file("etc/a", "a2")
        .file("etc/b", "b2")
        .file("dir/sub/y", "y")
        .file("fileoverdir/inner", "inner")
        .file("opq/lower", "lower")
        .file("d2/old", "old");
    let l1 = DiffDir::new(base, "l1");
    l1.file("etc/a", "a1")
        .whiteout("etc/b")
        .opaque("opq")
        .file("opq/upper", "upper")
        .file("fileoverdir", "f")
        .file("d2", "file");
    let l0 = DiffDir::new(base, "l0");
    l0.file("etc/c", "c0").file("d2/new", "new");
    let view = ChainView::new(vec![l0.path(), l1.path(), l2.path()]);
    (view, [l0, l1, l2])
}

#[test]
fn merged_view_follows_overlay_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let (view, _layers) = three_layers(tmp.path());

    assert_eq!(read(&view, "/etc/a"), "a1", "the upper layer wins");
    assert!(
        view.lookup("/etc/b", false).unwrap().is_none(),
        "whiteout hides"
    );
    assert_eq!(names(&view.read_dir("/etc").unwrap()), ["a", "c"]);
    assert_eq!(
        names(&view.read_dir("/opq").unwrap()),
        ["upper"],
        "an opaque directory hides the lower one's contents"
    );
    let node = view.lookup("/fileoverdir", false).unwrap().unwrap();
    assert_eq!(node.kind(), FileKind::File);
    assert_eq!(node.layer, 1);
    assert!(view.lookup("/fileoverdir/inner", false).unwrap().is_none());
    assert_eq!(
        names(&view.read_dir("/d2").unwrap()),
        ["new"],
        "a directory over a file hides what was below the file"
    );
    assert_eq!(read(&view, "dir/sub/y"), "y", "lower-only content shows");
    let root = view.read_dir("/").unwrap();
    assert_eq!(names(&root), ["d2", "dir", "etc", "fileoverdir", "opq"]);
    assert_eq!(root[3].kind, FileKind::File);
    assert_eq!(root[0].kind, FileKind::Dir);

    assert!(matches!(
        view.read_dir("/etc/a"),
        Err(Error::NotADirectory { .. })
    ));
    assert!(matches!(
        view.read_file("/etc", 10),
        Err(Error::NotAFile { .. })
    ));
    assert!(matches!(
        view.read_file("/nope", 10),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        view.read_file("/etc/a", 1),
        Err(Error::FileTooLarge { .. })
    ));
}

#[test]
fn symlinks_resolve_inside_the_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, [l0, l1, l2]) = three_layers(tmp.path());
    l0.symlink("abs", "/etc")
        .symlink("deep/rel", "../../../../etc")
        .symlink("loop1", "loop2")
        .symlink("loop2", "loop1")
        .symlink("etc/link", "a")
        .symlink("escape", "/../../../../../tmp");
    let view = ChainView::new(vec![l0.path(), l1.path(), l2.path()]);

    let node = view.lookup("/abs/a", true).unwrap().unwrap();
    assert_eq!(node.container_path, "/etc/a");
    assert_eq!(node.host_path, l1.0.join("etc/a"));
    let node = view.lookup("deep/rel/c", false).unwrap().unwrap();
    assert_eq!(
        node.container_path, "/etc/c",
        ".. stops at the chain's root"
    );
    assert_eq!(
        view.lookup("/../../../etc/a", true)
            .unwrap()
            .unwrap()
            .container_path,
        "/etc/a"
    );
    assert_eq!(
        view.lookup("/abs", false).unwrap().unwrap().kind(),
        FileKind::Symlink
    );
    assert_eq!(
        view.lookup("/abs", true).unwrap().unwrap().kind(),
        FileKind::Dir
    );
    assert_eq!(read(&view, "/etc/link"), "a1");
    assert_eq!(read(&view, "/abs/link"), "a1");
    // The host's /tmp exists; the chain's does not.
    assert!(view.lookup("/escape", true).unwrap().is_none());
    assert!(view.lookup("/escape/x", false).unwrap().is_none());
    assert!(matches!(
        view.lookup("/loop1", true),
        Err(Error::SymlinkLoop { .. })
    ));
    assert!(matches!(
        view.lookup("/loop1/x", false),
        Err(Error::SymlinkLoop { .. })
    ));
    assert_eq!(
        view.lookup("/loop1", false).unwrap().unwrap().kind(),
        FileKind::Symlink
    );
    assert_eq!(names(&view.read_dir("/abs").unwrap()), ["a", "c", "link"]);
}

#[test]
fn glob_matches_merged_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let l0 = DiffDir::new(tmp.path(), "l0");
    l0.file("src/main.c", "")
        .file("src/lib/util.c", "")
        .file("src/lib/util.h", "")
        .file("README", "");
    let l1 = DiffDir::new(tmp.path(), "l1");
    l1.file("src/old.c", "").file("gone.c", "");
    l0.whiteout("gone.c");
    let view = ChainView::new(vec![l0.path(), l1.path()]);
    assert_eq!(
        view.glob("/", "**/*.c").unwrap(),
        ["src/lib/util.c", "src/main.c", "src/old.c"]
    );
    assert_eq!(view.glob("/src", "*.c").unwrap(), ["main.c", "old.c"]);
    assert_eq!(
        view.glob("/", "src/*").unwrap(),
        ["src/lib", "src/main.c", "src/old.c"]
    );
    assert!(view.glob("/", "[").is_err());
}

#[test]
fn digests_cover_content_and_modes_but_not_mtimes() {
    let tmp = tempfile::tempdir().unwrap();
    let build = |name: &str| {
        let l = DiffDir::new(tmp.path(), name);
        l.file("a", "hello")
            .file_mode("bin/run", "#!/bin/sh", 0o755)
            .symlink("link", "a")
            .dir("empty", 0o700);
        l
    };
    let one = build("one");
    let two = build("two");
    set_mtime(&two.0.join("a"), 1_000_000);
    let digest = |l: &DiffDir, f: &Filter| ChainView::new(vec![l.path()]).digest("/", f).unwrap();
    let all = Filter::everything();
    let base = digest(&one, &all);
    assert!(base.starts_with("blake3:"), "{base}");
    assert_eq!(base, digest(&one, &all), "stable");
    assert_eq!(
        base,
        digest(&two, &all),
        "mtimes and locations do not count"
    );

    std::fs::write(two.0.join("a"), "hellp").unwrap();
    let changed_byte = digest(&two, &all);
    assert_ne!(base, changed_byte);
    std::fs::write(two.0.join("a"), "hello").unwrap();
    assert_eq!(base, digest(&two, &all));
    std::fs::set_permissions(
        two.0.join("bin/run"),
        std::fs::Permissions::from_mode(0o744),
    )
    .unwrap();
    assert_ne!(base, digest(&two, &all), "a mode change counts");
    std::fs::set_permissions(
        two.0.join("bin/run"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::remove_file(two.0.join("link")).unwrap();
    two.symlink("link", "b");
    assert_ne!(base, digest(&two, &all), "a symlink target counts");

    // Filtered: only what is taken counts.
    let only_bin = filter(&["bin"], &[]);
    assert_eq!(digest(&one, &only_bin), digest(&two, &only_bin));
    assert_ne!(digest(&one, &only_bin), base);
    // A subtree digest and a file digest.
    let view = ChainView::new(vec![one.path()]);
    assert_eq!(
        view.digest("/bin", &all).unwrap(),
        view.digest("bin/", &all).unwrap()
    );
    assert_ne!(
        view.digest("/a", &all).unwrap(),
        view.digest("/bin/run", &all).unwrap()
    );
    assert!(matches!(
        view.digest("/missing", &all),
        Err(Error::NotFound { .. })
    ));
}
