//! Directory and file operations against a real file system: merged views of
//! hand-built layer chains (whiteouts made with mknod, opaque directories
//! with xattrs), copies into new layers, host imports and exports.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use snapshotter::{
    copy_into_layer, export_dir, export_file, import_host_dir, import_host_file, make_dir,
    make_whiteout, write_new_file, ChainView, DirEntry, Error, FileKind, Filter, Limits, Store,
};

fn c(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

/// Reports a test that cannot run here. CI provides what tests need, so
/// there a skip is a failure.
#[allow(clippy::print_stderr)]
fn skip(reason: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "cannot run in CI: {reason}"
    );
    eprintln!("skipped: {reason}");
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// A diff directory being built by hand.
struct L(PathBuf);

impl L {
    fn new(base: &Path, name: &str) -> L {
        let path = base.join(name);
        std::fs::create_dir_all(&path).unwrap();
        L(path)
    }

    fn path(&self) -> PathBuf {
        self.0.clone()
    }

    fn at(&self, rel: &str) -> PathBuf {
        let path = self.0.join(rel.trim_start_matches('/'));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        path
    }

    fn file(&self, rel: &str, data: &str) -> &Self {
        self.file_mode(rel, data, 0o644)
    }

    fn file_mode(&self, rel: &str, data: &str, mode: u32) -> &Self {
        let path = self.at(rel);
        std::fs::write(&path, data).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    fn dir(&self, rel: &str, mode: u32) -> &Self {
        let path = self.at(rel);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    fn symlink(&self, rel: &str, target: &str) -> &Self {
        std::os::unix::fs::symlink(target, self.at(rel)).unwrap();
        self
    }

    fn whiteout(&self, rel: &str) -> &Self {
        let path = self.at(rel);
        let ret = unsafe { libc::mknod(c(&path).as_ptr(), libc::S_IFCHR, 0) };
        assert_eq!(
            ret,
            0,
            "mknod whiteout: {}",
            std::io::Error::last_os_error()
        );
        self
    }

    fn opaque(&self, rel: &str) -> &Self {
        let path = self.at(rel);
        std::fs::create_dir_all(&path).unwrap();
        set_xattr(&path, "user.overlay.opaque", b"y");
        self
    }

    fn chown(&self, rel: &str, uid: u32, gid: u32) -> &Self {
        std::os::unix::fs::lchown(self.at(rel), Some(uid), Some(gid)).unwrap();
        self
    }
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    let name = CString::new(name).unwrap();
    let ret = unsafe {
        libc::lsetxattr(
            c(path).as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(ret, 0, "setxattr: {}", std::io::Error::last_os_error());
}

fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let name = CString::new(name).unwrap();
    let mut buf = vec![0u8; 64];
    let n = unsafe {
        libc::lgetxattr(
            c(path).as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| {
        buf.truncate(n as usize);
        buf
    })
}

fn set_mtime(path: &Path, seconds: i64) {
    let t = libc::timespec {
        tv_sec: seconds,
        tv_nsec: 0,
    };
    let ret = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c(path).as_ptr(),
            [t, t].as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(ret, 0);
}

fn names(entries: &[DirEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.name.as_str()).collect()
}

fn read(view: &ChainView, path: &str) -> String {
    String::from_utf8(view.read_file(path, 1 << 20).unwrap()).unwrap()
}

fn filter(include: &[&str], exclude: &[&str]) -> Filter {
    let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Filter::new(&own(include), &own(exclude)).unwrap()
}

/// Top: l0. l1 whites out /etc/b, makes /opq opaque, puts a file over the
/// directory /fileoverdir; l0 puts a directory over l1's file /d2.
fn three_layers(base: &Path) -> (ChainView, [L; 3]) {
    let l2 = L::new(base, "l2");
    l2.file("etc/a", "a2")
        .file("etc/b", "b2")
        .file("dir/sub/y", "y")
        .file("fileoverdir/inner", "inner")
        .file("opq/lower", "lower")
        .file("d2/old", "old");
    let l1 = L::new(base, "l1");
    l1.file("etc/a", "a1")
        .whiteout("etc/b")
        .opaque("opq")
        .file("opq/upper", "upper")
        .file("fileoverdir", "f")
        .file("d2", "file");
    let l0 = L::new(base, "l0");
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
    let l0 = L::new(tmp.path(), "l0");
    l0.file("src/main.c", "")
        .file("src/lib/util.c", "")
        .file("src/lib/util.h", "")
        .file("README", "");
    let l1 = L::new(tmp.path(), "l1");
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
        let l = L::new(tmp.path(), name);
        l.file("a", "hello")
            .file_mode("bin/run", "#!/bin/sh", 0o755)
            .symlink("link", "a")
            .dir("empty", 0o700);
        l
    };
    let one = build("one");
    let two = build("two");
    set_mtime(&two.0.join("a"), 1_000_000);
    let digest = |l: &L, f: &Filter| ChainView::new(vec![l.path()]).digest("/", f).unwrap();
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

/// The merged view with the new layer on top of the target.
fn stacked(dest: &L, target: &ChainView) -> ChainView {
    let mut layers = vec![dest.path()];
    layers.extend(target.layers().iter().cloned());
    ChainView::new(layers)
}

#[test]
fn copies_keep_attributes_and_take_parents_from_the_target() {
    if !is_root() {
        skip("chown to other owners needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = L::new(tmp.path(), "src");
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

    let tgt = L::new(tmp.path(), "target");
    tgt.dir("usr", 0o750)
        .chown("usr", 5, 6)
        .file("usr/src/app/existing", "old");
    set_mtime(&tgt.0.join("usr"), 1_111_111);
    let target = ChainView::new(vec![tgt.path()]);

    let dest = L::new(tmp.path(), "dest");
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
    let dest2 = L::new(tmp.path(), "dest2");
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
    let src = L::new(tmp.path(), "src");
    src.file("tree/a", "a").file("one", "1");
    let source = ChainView::new(vec![src.path()]);
    let tgt = L::new(tmp.path(), "target");
    tgt.file("dest", "i was a file")
        .file("somedir/inner", "x")
        .symlink("link", "/real")
        .dir("real", 0o755);
    let target = ChainView::new(vec![tgt.path()]);

    let d1 = L::new(tmp.path(), "d1");
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

    let d2 = L::new(tmp.path(), "d2");
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
    let d3 = L::new(tmp.path(), "d3");
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
    let tgt = L::new(tmp.path(), "target");
    // Symlinks that would lead out on the host resolve inside the chain.
    tgt.symlink("out", outside.to_str().unwrap())
        .symlink("up", "../../../../../..");
    let target = ChainView::new(vec![tgt.path()]);
    let dest = L::new(tmp.path(), "dest");
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
    let tgt = L::new(tmp.path(), "target");
    tgt.file("etc/passwd", "root")
        .file("var/lib/x", "x")
        .dir("etc", 0o711);
    let target = ChainView::new(vec![tgt.path()]);
    let dest = L::new(tmp.path(), "dest");

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

fn host_tree(base: &Path) -> PathBuf {
    let root = base.join("host");
    let l = L(root.clone());
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
    let l = L::new(base, "exported");
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
    let l = L::new(tmp.path(), "src");
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
