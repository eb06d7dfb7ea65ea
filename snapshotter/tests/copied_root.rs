//! The copying snapshotter: a chain copied for a step, the step's changes
//! written back as a layer in whiteout-file form, and that layer on the
//! chain reading exactly as the copy the step left.
//!
//! Its own test binary: whiteout files are a choice for the whole process.

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use snapshotter::{copy_chain, overlay, write_changes, ChainView, Filter};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A two-layer chain: the lower as an image has it, the upper removing
/// `d/gone` with a whiteout file and adding `a/new`.
fn chain(base: &Path) -> ChainView {
    let lower = base.join("lower");
    write(&lower.join("a/x"), "1");
    write(&lower.join("a/y"), "2");
    write(&lower.join("d/keep"), "k");
    write(&lower.join("d/gone"), "g");
    write(&lower.join("m"), "m");
    write(&lower.join("c/deep/file"), "c");
    symlink("a", lower.join("link")).unwrap();
    let upper = base.join("upper");
    write(&upper.join("a/new"), "n");
    write(&upper.join("d/.wh.gone"), "");
    ChainView::new(vec![upper, lower])
}

fn names(view: &ChainView, path: &str) -> Vec<String> {
    view.read_dir(path)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect()
}

#[test]
fn a_step_s_changes_become_a_layer_that_reads_as_the_copy() {
    overlay::use_whiteout_files();
    let base = tempfile::tempdir().unwrap();
    let chain = chain(base.path());
    assert_eq!(names(&chain, "/d"), ["keep"], "a whiteout file hides");

    let copied = copy_chain(&chain, &base.path().join("root")).unwrap();
    let root = copied.dir().to_owned();
    assert_eq!(std::fs::read_to_string(root.join("a/new")).unwrap(), "n");
    assert!(!root.join("d/gone").exists());
    assert!(!root.join("d/.wh.gone").exists(), "markers are not copied");
    assert_eq!(
        std::fs::read_link(root.join("link")).unwrap(),
        Path::new("a")
    );

    // What a step does.
    std::fs::write(root.join("a/x"), "changed").unwrap();
    std::fs::remove_file(root.join("a/y")).unwrap();
    std::fs::set_permissions(root.join("m"), std::fs::Permissions::from_mode(0o600)).unwrap();
    write(&root.join("e/f"), "new dir");
    std::fs::remove_file(root.join("link")).unwrap();
    write(&root.join("link/inside"), "a dir where a link was");
    std::fs::remove_dir_all(root.join("c")).unwrap();
    // Rewritten as it was, times too: no change.
    let keep = root.join("d/keep");
    let mtime = std::fs::metadata(&keep).unwrap().modified().unwrap();
    std::fs::write(&keep, "k").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&keep)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    // Made and removed again: no change either.
    write(&root.join("d/tmp"), "t");
    std::fs::remove_file(root.join("d/tmp")).unwrap();

    let upper = base.path().join("changes");
    std::fs::create_dir(&upper).unwrap();
    let changes = write_changes(&chain, &copied, &upper).unwrap();
    assert_eq!(changes.removed, 2, "a/y and c: {changes:?}");

    let mut layers = vec![upper.clone()];
    layers.extend(chain.layers().iter().cloned());
    let result = ChainView::new(layers);
    let from_copy = ChainView::new(vec![root.clone()]);
    let everything = Filter::everything();
    assert_eq!(
        result.digest("/", &everything).unwrap(),
        from_copy.digest("/", &everything).unwrap(),
        "the chain with the changes on top reads as the copy"
    );
    assert_eq!(names(&result, "/a"), ["new", "x"]);
    assert_eq!(result.read_file("/a/x", 100).unwrap(), b"changed");
    assert_eq!(names(&result, "/link"), ["inside"]);
    assert!(result.lookup("/c", false).unwrap().is_none());

    // Only what changed is in the layer.
    assert!(
        !upper.join("d/keep").exists(),
        "an unchanged file is left out"
    );
    assert!(!upper.join("a/new").exists());
    assert!(upper.join("a/.wh.y").exists());
    assert!(upper.join(".wh.c").exists());
    assert_eq!(
        std::fs::symlink_metadata(upper.join("m")).unwrap().mode() & 0o7777,
        0o600
    );
}

#[test]
fn an_untouched_copy_has_no_changes() {
    overlay::use_whiteout_files();
    let base = tempfile::tempdir().unwrap();
    let chain = chain(base.path());
    let copied = copy_chain(&chain, &base.path().join("root")).unwrap();
    let upper = base.path().join("changes");
    std::fs::create_dir(&upper).unwrap();
    let changes = write_changes(&chain, &copied, &upper).unwrap();
    assert_eq!(changes.written + changes.removed, 0, "{changes:?}");
    assert_eq!(std::fs::read_dir(&upper).unwrap().count(), 0);
}

#[test]
fn a_copy_taken_over_by_the_next_step_counts_only_that_step_s_changes() {
    overlay::use_whiteout_files();
    let base = tempfile::tempdir().unwrap();
    let chain = chain(base.path());
    let copied = copy_chain(&chain, &base.path().join("root")).unwrap();
    write(&copied.dir().join("first/file"), "the first step's");
    std::fs::remove_file(copied.dir().join("m")).unwrap();
    let first = base.path().join("first");
    std::fs::create_dir(&first).unwrap();
    write_changes(&chain, &copied, &first).unwrap();

    // The next step, on the first one's result, takes its copy over.
    let mut layers = vec![first];
    layers.extend(chain.layers().iter().cloned());
    let next_chain = ChainView::new(layers);
    let next = snapshotter::take_over_copy(copied.dir(), &base.path().join("next")).unwrap();
    assert!(!copied.dir().exists(), "moved, not copied");
    write(&next.dir().join("second"), "the second step's");
    let second = base.path().join("second");
    std::fs::create_dir(&second).unwrap();
    let changes = write_changes(&next_chain, &next, &second).unwrap();
    assert_eq!((changes.written, changes.removed), (1, 0), "{changes:?}");
    assert_eq!(
        std::fs::read_dir(&second).unwrap().count(),
        1,
        "the first step's changes are not the second's"
    );

    let mut layers = vec![second];
    layers.extend(next_chain.layers().iter().cloned());
    let everything = Filter::everything();
    assert_eq!(
        ChainView::new(layers).digest("/", &everything).unwrap(),
        ChainView::new(vec![next.dir().to_owned()])
            .digest("/", &everything)
            .unwrap(),
        "both steps' layers on the chain read as the copy"
    );
}
