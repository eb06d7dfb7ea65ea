//! Changesets: what changed between two trees, path by path, applied to a
//! third tree and exported to a host directory.

mod support;

use snapshotter::{export_changes, ChainView, ChangedPaths, Comparison};
use support::{read, set_mtime, stacked, DiffDir};

/// `before` and `after` of the tests: every kind of change once.
fn pair(tmp: &std::path::Path) -> (ChainView, ChainView) {
    let before = DiffDir::new(tmp, "before");
    before
        .file("same", "s")
        .file("mtime-only", "m")
        .file("edited", "one\ntwo\n")
        .file_mode("made-executable", "x", 0o644)
        .file_mode("chmod-only", "c", 0o644)
        .symlink("link", "same")
        .file("gone", "g")
        .file("old-dir/a", "a")
        .file("old-dir/deep/b", "b")
        .file("file-then-dir", "f")
        .file("dir-then-file/x", "x")
        .dir("kept-dir", 0o755);
    let after = DiffDir::new(tmp, "after");
    after
        .file("same", "s")
        .file("mtime-only", "m")
        .file("edited", "one\n2\n")
        .file_mode("made-executable", "x", 0o755)
        .file_mode("chmod-only", "c", 0o600)
        .symlink("link", "edited")
        .file("new-dir/sub/n", "n")
        .dir("empty-dir", 0o755)
        .file("file-then-dir/y", "y")
        .file("dir-then-file", "now a file")
        .file("kept-dir/added", "+");
    set_mtime(&after.0.join("mtime-only"), 1);
    (
        ChainView::new(vec![before.path()]),
        ChainView::new(vec![after.path()]),
    )
}

fn compare<'v>(before: &'v ChainView, after: &'v ChainView) -> Comparison<'v> {
    Comparison {
        before,
        before_path: "/",
        after,
        after_path: "/",
    }
}

#[test]
fn paths_are_listed_as_dagger_lists_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (before, after) = pair(tmp.path());
    let paths = compare(&before, &after).paths().unwrap();
    assert_eq!(
        paths.added,
        [
            "dir-then-file",
            "empty-dir/",
            "file-then-dir/",
            "file-then-dir/y",
            "kept-dir/added",
            "new-dir/",
            "new-dir/sub/",
            "new-dir/sub/n",
        ]
    );
    // Owners, permission bits other than x, and mtimes are no changes.
    assert_eq!(paths.modified, ["edited", "link", "made-executable"]);
    assert_eq!(
        paths.removed,
        ["dir-then-file/", "file-then-dir", "gone", "old-dir/"]
    );
    assert_eq!(
        paths.removed_files,
        [
            "dir-then-file/x",
            "file-then-dir",
            "gone",
            "old-dir/a",
            "old-dir/deep/b"
        ]
    );
    assert!(!paths.is_empty());

    assert_eq!(
        compare(&after, &after).paths().unwrap(),
        ChangedPaths::default()
    );
    // A new empty directory alone leaves a changeset empty, as in Dagger.
    let only_dir = DiffDir::new(tmp.path(), "only-dir");
    only_dir.file("same", "s").dir("d", 0o755);
    let base = DiffDir::new(tmp.path(), "base");
    base.file("same", "s");
    let (base, only_dir) = (
        ChainView::new(vec![base.path()]),
        ChainView::new(vec![only_dir.path()]),
    );
    let paths = compare(&base, &only_dir).paths().unwrap();
    assert_eq!(paths.added, ["d/"]);
    assert!(paths.is_empty());
}

#[test]
fn applied_changes_make_the_target_look_like_after() {
    let tmp = tempfile::tempdir().unwrap();
    let (before, after) = pair(tmp.path());
    let dest = DiffDir::new(tmp.path(), "applied");
    compare(&before, &after)
        .apply_into_layer(&before, "/", &dest.path())
        .unwrap();
    let applied = stacked(&dest, &before);
    assert_eq!(
        applied.glob("/", "**").unwrap(),
        after.glob("/", "**").unwrap()
    );
    assert_eq!(read(&applied, "/edited"), "one\n2\n");
    assert_eq!(read(&applied, "/dir-then-file"), "now a file");
    assert_eq!(read(&applied, "/file-then-dir/y"), "y");
    assert_eq!(
        compare(&applied, &after).paths().unwrap(),
        ChangedPaths::default()
    );

    // Onto another tree, below a path: its other entries stay.
    let other = DiffDir::new(tmp.path(), "other");
    other.file("sub/gone", "g").file("sub/mine", "m");
    let other = ChainView::new(vec![other.path()]);
    let dest = DiffDir::new(tmp.path(), "applied-sub");
    compare(&before, &after)
        .apply_into_layer(&other, "/sub", &dest.path())
        .unwrap();
    let applied = stacked(&dest, &other);
    assert!(applied.lookup("/sub/gone", false).unwrap().is_none());
    assert_eq!(read(&applied, "/sub/mine"), "m");
    assert_eq!(read(&applied, "/sub/new-dir/sub/n"), "n");
}

#[test]
fn exports_remove_what_was_removed_and_merge_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let (before, after) = pair(tmp.path());
    let paths = compare(&before, &after).paths().unwrap();
    let layer = DiffDir::new(tmp.path(), "layer");
    snapshotter::diff_into_layer(&before, "/", &after, "/", &layer.path()).unwrap();

    let host = tmp.path().join("host");
    std::fs::create_dir(&host).unwrap();
    for (path, data) in [
        ("gone", "g"),
        ("old-dir/a", "a"),
        ("file-then-dir", "f"),
        ("dir-then-file/x", "x"),
        ("edited", "one\ntwo\n"),
        ("untracked", "u"),
    ] {
        let path = host.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    export_changes(&ChainView::new(vec![layer.path()]), &paths, &host).unwrap();
    let read_host = |p: &str| std::fs::read_to_string(host.join(p)).unwrap();
    assert!(!host.join("gone").exists());
    assert!(!host.join("old-dir").exists());
    assert_eq!(read_host("edited"), "one\n2\n");
    assert_eq!(read_host("dir-then-file"), "now a file");
    assert_eq!(read_host("file-then-dir/y"), "y");
    assert_eq!(read_host("new-dir/sub/n"), "n");
    assert_eq!(
        read_host("untracked"),
        "u",
        "what the changeset does not name stays"
    );
}
