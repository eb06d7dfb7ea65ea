//! Layers that rewrite or compare trees: `chown` and `withTimestamps`
//! (every entry of a subtree, its root included), `withSymlink`, and
//! `Directory.diff` (new and changed entries, never mtimes alone).

mod support;

use std::os::unix::fs::MetadataExt;

use snapshotter::{diff_into_layer, make_symlink, rewrite_tree, ChainView, Error};
use support::{is_root, read, set_mtime, skip, stacked, DiffDir};

fn meta(view: &ChainView, path: &str) -> std::fs::Metadata {
    view.lookup(path, false).unwrap().unwrap().metadata
}

#[test]
fn rewrites_reach_every_entry_and_the_subtree_root_only() {
    if !is_root() {
        skip("chown to other owners needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let base = DiffDir::new(tmp.path(), "base");
    base.file("out/f", "f")
        .file("out/sub/g", "g")
        .symlink("out/link", "f")
        .file("other", "o");
    set_mtime(&base.0.join("other"), 7);
    let target = ChainView::new(vec![base.path()]);

    let dest = DiffDir::new(tmp.path(), "stamped");
    rewrite_tree(&target, &dest.path(), "/out", None, Some(499_162_500)).unwrap();
    let view = stacked(&dest, &target);
    for path in ["/out", "/out/f", "/out/sub", "/out/sub/g", "/out/link"] {
        assert_eq!(meta(&view, path).mtime(), 499_162_500, "{path}");
    }
    assert_eq!(meta(&view, "/other").mtime(), 7, "outside the subtree");
    assert_eq!(read(&view, "/out/sub/g"), "g");

    let dest = DiffDir::new(tmp.path(), "owned");
    rewrite_tree(&target, &dest.path(), "/", Some((555, 556)), None).unwrap();
    let view = stacked(&dest, &target);
    for path in ["/", "/out", "/out/f", "/out/link", "/other"] {
        let m = meta(&view, path);
        assert_eq!((m.uid(), m.gid()), (555, 556), "{path}");
    }
    assert_eq!(meta(&view, "/other").mtime(), 7, "chown keeps mtimes");
}

#[test]
fn symlinks_keep_their_target_and_refuse_to_replace() {
    let tmp = tempfile::tempdir().unwrap();
    let base = DiffDir::new(tmp.path(), "base");
    base.file("quotes/descartes", "Cogito");
    let target = ChainView::new(vec![base.path()]);

    let dest = DiffDir::new(tmp.path(), "link");
    make_symlink(&target, &dest.path(), "/a/b/i-am", "../../quotes/descartes").unwrap();
    let view = stacked(&dest, &target);
    assert_eq!(read(&view, "/a/b/i-am"), "Cogito");
    assert_eq!(
        std::fs::read_link(dest.0.join("a/b/i-am")).unwrap(),
        std::path::Path::new("../../quotes/descartes")
    );

    let dest = DiffDir::new(tmp.path(), "again");
    let error = make_symlink(&target, &dest.path(), "/quotes/descartes", "x").unwrap_err();
    assert!(matches!(error, Error::AlreadyExists { .. }), "{error}");
}

#[test]
fn diffs_hold_new_and_changed_entries_and_nothing_for_the_same_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let lower = DiffDir::new(tmp.path(), "lower");
    lower
        .file("same", "s")
        .file("a/changed", "old")
        .file("a/kept", "k")
        .file("gone", "g");
    let upper = DiffDir::new(tmp.path(), "upper");
    upper
        .file("same", "s")
        .file("a/changed", "new")
        .file("a/kept", "k")
        .file("c/new", "n");
    // Only the mtime differs: not a change.
    set_mtime(&upper.0.join("same"), 1);
    let (lower, upper) = (
        ChainView::new(vec![lower.path()]),
        ChainView::new(vec![upper.path()]),
    );

    let dest = DiffDir::new(tmp.path(), "diff");
    diff_into_layer(&lower, "/", &upper, "/", &dest.path()).unwrap();
    let view = ChainView::new(vec![dest.path()]);
    assert_eq!(
        view.glob("/", "**").unwrap(),
        ["a", "a/changed", "c", "c/new"]
    );
    assert_eq!(read(&view, "/a/changed"), "new");

    let dest = DiffDir::new(tmp.path(), "self");
    diff_into_layer(&upper, "/", &upper, "/", &dest.path()).unwrap();
    assert!(ChainView::new(vec![dest.path()])
        .read_dir("/")
        .unwrap()
        .is_empty());

    // Subtrees compare from their own roots; a missing lower is empty.
    let dest = DiffDir::new(tmp.path(), "sub");
    diff_into_layer(&lower, "/nowhere", &upper, "/a", &dest.path()).unwrap();
    let view = ChainView::new(vec![dest.path()]);
    assert_eq!(view.glob("/", "*").unwrap(), ["changed", "kept"]);
}
