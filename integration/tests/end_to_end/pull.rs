//! `tanto pull` end to end: a real registry server, real images, the real
//! kernel overlay, and tanto running as an unprivileged user.

#![allow(clippy::print_stderr)] // tests report skips on stderr

use crate::support;

use std::path::{Path, PathBuf};

use support::fixtures;
use support::image::{push_index, tar_directory, tiny_layer, Codec, Image, Layer};
use support::registry::Registry;
use support::tanto::Tanto;
use support::tree::{describe, differences, OverlayView, Tree};

fn snapshot_dir(tanto: &Tanto, diff_id: &str) -> PathBuf {
    let hex = diff_id.strip_prefix("sha256:").unwrap();
    tanto
        .store()
        .join("snapshots")
        .join(format!("sha256-{hex}"))
        .join("fs")
}

/// What the source tree looks like once unpacked by the test user: owners
/// shifted into their subordinate range, device nodes gone (a user namespace
/// cannot create them).
fn as_unpacked_rootless(tanto: &Tanto, source: &Tree) -> Tree {
    source
        .iter()
        .filter(|(_, node)| node.kind != 'c' && node.kind != 'b')
        .map(|(path, node)| {
            let mut node = node.clone();
            node.uid = tanto.run_as.host_uid(node.uid);
            node.gid = tanto.run_as.host_gid(node.gid);
            (path.clone(), node)
        })
        .collect()
}

fn require_root_for_mounts() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("SKIP: checking the union needs root to mount overlay (CI runs as root)");
    }
    root
}

#[test]
fn debian_pull_reproduces_the_root_filesystem_and_a_second_pull_does_nothing() {
    let debian = fixtures::debian();
    let registry = Registry::start();
    let image = Image::new(vec![debian.layer.clone()]);
    image.push(&registry, "fixtures/debian", "bookworm");
    let reference = format!("{}/fixtures/debian:bookworm", registry.host());
    let tanto = Tanto::new();

    let first = tanto.ok(&["pull", &reference]);
    assert!(
        first
            .stdout
            .trim()
            .starts_with(&format!("{reference}@sha256:")),
        "{}",
        first.stdout
    );
    assert!(first.stderr.contains("1 fetched"), "{}", first.stderr);
    assert!(
        first.stderr.contains("skipped") && first.stderr.contains("dev/null"),
        "{}",
        first.stderr
    );
    tanto.assert_no_temp_leftovers();

    if require_root_for_mounts() {
        let view = OverlayView::mount(&[snapshot_dir(&tanto, &debian.layer.diff_id)]);
        let mut expected = as_unpacked_rootless(&tanto, &describe(&debian.rootfs));
        let mut actual = describe(&view.merged);
        // The mount point's own mtime is the overlay's, not the layer's.
        for tree in [&mut expected, &mut actual] {
            tree.get_mut(Path::new("")).unwrap().mtime = 0;
        }
        let differences = differences(&expected, &actual);
        assert!(
            differences.is_empty(),
            "{} differences, first ones:\n{}",
            differences.len(),
            differences[..differences.len().min(20)].join("\n")
        );
        assert!(
            expected.len() > 5000,
            "the fixture is suspiciously small: {}",
            expected.len()
        );
    }

    let blob_gets = registry.blob_gets();
    let second = tanto.ok(&["pull", &reference]);
    assert_eq!(second.stdout, first.stdout);
    assert!(
        second
            .stderr
            .contains("0 fetched (0 B), 0 unpacked, 1 already present"),
        "{}",
        second.stderr
    );
    assert_eq!(
        registry.blob_gets(),
        blob_gets,
        "a second pull fetched blobs"
    );
}

/// Three layers, three compressions: whiteouts and opaque directories hide
/// what lower layers had, through the kernel's overlay.
#[test]
fn whiteouts_and_opaque_directories_hide_lower_layers() {
    let registry = Registry::start();
    let base = tempfile::tempdir().unwrap();
    fixtures::busybox_tree(base.path());
    for (path, content) in [
        ("data/a/1", "a1"),
        ("data/a/2", "a2"),
        ("data/b/1", "b1"),
        ("data/c", "c"),
    ] {
        let path = base.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let changes = tempfile::tempdir().unwrap();
    for dir in ["data/a", "data/b"] {
        std::fs::create_dir_all(changes.path().join(dir)).unwrap();
    }
    std::fs::write(changes.path().join("data/.wh.c"), "").unwrap();
    std::fs::write(changes.path().join("data/a/.wh.1"), "").unwrap();
    std::fs::write(changes.path().join("data/b/.wh..wh..opq"), "").unwrap();
    std::fs::write(changes.path().join("data/b/new"), "new").unwrap();
    let owned = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(owned.path().join("home/app")).unwrap();
    std::fs::write(owned.path().join("home/app/secret"), "mine").unwrap();
    std::fs::hard_link(
        owned.path().join("home/app/secret"),
        owned.path().join("home/app/link"),
    )
    .unwrap();
    for path in ["home/app", "home/app/secret"] {
        std::os::unix::fs::chown(owned.path().join(path), Some(1000), Some(1000)).unwrap();
    }
    std::fs::set_permissions(
        owned.path().join("home/app/secret"),
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .unwrap();

    let layers = vec![
        Layer::new(&tar_directory(base.path()), Codec::Gzip),
        Layer::new(&tar_directory(changes.path()), Codec::None),
        Layer::new(&tar_directory(owned.path()), Codec::Zstd),
    ];
    let diff_ids: Vec<_> = layers.iter().map(|l| l.diff_id.clone()).collect();
    Image::new(layers).push(&registry, "fixtures/busybox", "layered");
    let tanto = Tanto::new();
    tanto.ok(&[
        "pull",
        &format!("{}/fixtures/busybox:layered", registry.host()),
    ]);

    if !require_root_for_mounts() {
        return;
    }
    let lowers: Vec<_> = diff_ids
        .iter()
        .rev()
        .map(|d| snapshot_dir(&tanto, d))
        .collect();
    let view = OverlayView::mount(&lowers);
    let m = &view.merged;
    assert_eq!(std::fs::read_to_string(m.join("data/a/2")).unwrap(), "a2");
    assert!(!m.join("data/a/1").exists(), "whiteout ignored");
    assert!(!m.join("data/c").exists(), "whiteout ignored");
    assert!(!m.join("data/b/1").exists(), "opaque directory ignored");
    assert_eq!(
        std::fs::read_to_string(m.join("data/b/new")).unwrap(),
        "new"
    );
    assert!(!m.join("data/b/.wh..wh..opq").exists());
    let tree = describe(m);
    let secret = &tree[Path::new("home/app/secret")];
    assert_eq!(
        (secret.uid, secret.gid, secret.mode),
        (
            tanto.run_as.host_uid(1000),
            tanto.run_as.host_gid(1000),
            0o640
        )
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(m.join("home/app/link")).unwrap().ino(),
        std::fs::metadata(m.join("home/app/secret")).unwrap().ino(),
        "hardlink lost"
    );
    let shell = std::process::Command::new(m.join("bin/busybox"))
        .args(["echo", "runs"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&shell.stdout), "runs\n");
}

#[test]
fn indexes_pick_the_platform_and_shared_layers_are_reused() {
    let registry = Registry::start();
    let shared = tiny_layer("shared", "both images have me");
    let amd64 = Image::for_architecture(vec![shared.clone(), tiny_layer("arch", "amd64")], "amd64");
    let arm64 = Image::for_architecture(vec![shared.clone(), tiny_layer("arch", "arm64")], "arm64");
    let arm64_arch_diff = arm64.layers[1].diff_id.clone();
    let amd64_arch_diff = amd64.layers[1].diff_id.clone();
    push_index(&registry, "multi/app", "1.0", &[amd64, arm64]);
    let reference = format!("{}/multi/app:1.0", registry.host());
    let tanto = Tanto::new();

    let host = tanto.ok(&["pull", &reference]);
    assert!(host.stderr.contains("2 fetched"), "{}", host.stderr);
    assert!(snapshot_dir(&tanto, &amd64_arch_diff).is_dir());
    assert!(!snapshot_dir(&tanto, &arm64_arch_diff).exists());

    let gets = registry.blob_gets();
    let arm = tanto.ok(&["pull", "--platform", "linux/arm64", &reference]);
    assert!(
        arm.stderr.contains("1 fetched") && arm.stderr.contains("1 already present"),
        "{}",
        arm.stderr
    );
    assert_eq!(
        registry.blob_gets(),
        gets + 2,
        "only the new layer and the config should be fetched"
    );
    assert!(snapshot_dir(&tanto, &arm64_arch_diff).is_dir());

    let none = tanto.fails(&["pull", "--platform", "linux/s390x", &reference]);
    assert!(
        none.stderr.contains("no image for platform linux/s390x"),
        "{}",
        none.stderr
    );
    assert!(
        none.stderr.contains("linux/amd64, linux/arm64"),
        "{}",
        none.stderr
    );

    // Pinned by digest, known to the store: no network needed at all.
    let pinned = host.stdout.trim().to_owned();
    let log_lines = registry.log().lines().count();
    tanto.ok(&["pull", &pinned]);
    assert_eq!(
        registry.log().lines().count(),
        log_lines,
        "pull by known digest talked to the registry"
    );
}

#[test]
fn basic_auth_comes_from_the_auth_file() {
    let registry = Registry::start_with_basic_auth("ci", "s3cret");
    Image::new(vec![tiny_layer("f", "private")]).push(&registry, "private/app", "v1");
    let reference = format!("{}/private/app:v1", registry.host());
    let mut tanto = Tanto::new();

    let anonymous = tanto.fails(&["pull", &reference]);
    assert!(
        anonymous.stderr.contains("requires authentication"),
        "{}",
        anonymous.stderr
    );
    assert!(
        anonymous.stderr.contains("docker login"),
        "{}",
        anonymous.stderr
    );

    use base64::Engine as _;
    let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let wrong = tanto.write_home_file(
        "wrong.json",
        &format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            registry.host(),
            encode("ci:nope")
        ),
    );
    tanto.env("REGISTRY_AUTH_FILE", wrong.to_str().unwrap());
    let refused = tanto.fails(&["pull", &reference]);
    assert!(
        refused.stderr.contains("refused the credentials"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("nope"),
        "the password leaked into the error"
    );

    let tanto = Tanto::new();
    tanto.write_home_file(
        ".docker/config.json",
        &format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            registry.host(),
            encode("ci:s3cret")
        ),
    );
    let pulled = tanto.ok(&["pull", &reference]);
    assert!(pulled.stderr.contains("1 fetched"), "{}", pulled.stderr);
}

#[test]
fn concurrent_pulls_share_one_download_and_killed_pulls_leave_nothing_trusted() {
    let debian = fixtures::debian();
    let registry = Registry::start();
    Image::new(vec![debian.layer.clone()]).push(&registry, "fixtures/debian", "bookworm");
    let reference = format!("{}/fixtures/debian:bookworm", registry.host());

    // Killed mid-pull: the next pull starts over and succeeds.
    let tanto = Tanto::new();
    let mut child = tanto.command(&["pull", &reference]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    // SIGKILL to the whole tree as a CI runner timeout would: the user's
    // process, and through PR_SET_PDEATHSIG its namespaced copy.
    let _ = child.kill();
    child.wait().unwrap();
    // The next pull sweeps what dead processes left, and only theirs: a
    // namespaced copy still dying would keep its temp dirs.
    tanto.wait_until_gone(std::time::Duration::from_secs(10));
    assert!(
        !snapshot_dir(&tanto, &debian.layer.diff_id).exists(),
        "the pull finished within 700 ms; the kill tested nothing"
    );
    let after_kill = tanto.ok(&["pull", &reference]);
    assert!(
        after_kill.stderr.contains("1 unpacked") || after_kill.stderr.contains("1 already present"),
        "{}",
        after_kill.stderr
    );
    tanto.assert_no_temp_leftovers();

    // Two processes at once on one empty store: one unpacks, one waits and reuses.
    let tanto = Tanto::new();
    let spawn = || {
        tanto
            .command(&["pull", &reference])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        a.status.success() && b.status.success(),
        "{}\n{}",
        stderr(&a),
        stderr(&b)
    );
    let unpacked = [&a, &b]
        .iter()
        .filter(|o| stderr(o).contains("1 unpacked"))
        .count();
    assert_eq!(
        unpacked,
        1,
        "the layer was unpacked twice:\n{}\n{}",
        stderr(&a),
        stderr(&b)
    );
    tanto.assert_no_temp_leftovers();
}

#[test]
fn doctor_reports_a_working_rootless_setup() {
    let tanto = Tanto::new();
    let run = tanto.ok(&["doctor"]);
    for line in [
        "subordinate ids",
        "newuidmap",
        "user namespaces",
        "snapshotter",
        "process namespaces",
        "network namespaces",
        "session network",
    ] {
        let reported = run
            .stdout
            .lines()
            .find(|l| l.contains(line))
            .unwrap_or_else(|| panic!("{line} missing:\n{}", run.stdout));
        assert!(reported.starts_with("ok"), "{reported}\n{}", run.stdout);
    }
    assert!(
        run.stdout.contains("overlay: mounts in tanto's namespace"),
        "steps get overlay here:\n{}",
        run.stdout
    );
    // Its way out, proven by the probe's redirected connection.
    assert!(
        run.stdout
            .contains("outbound through tanto's own TCP and DNS relay"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("tanto can run here"), "{}", run.stdout);
}

#[test]
fn without_subordinate_ids_tanto_maps_one_id_and_says_so() {
    let Some(user) = support::tanto::user_without_subordinate_ids() else {
        eprintln!("SKIP: creating a second test user needs root (CI runs as root)");
        return;
    };
    let registry = Registry::start();
    let root_owned = tiny_layer("file", "owned by root");
    let diff_id = root_owned.diff_id.clone();
    Image::new(vec![root_owned]).push(&registry, "single/ok", "v1");
    let tanto = Tanto::as_user(user.clone());
    let run = tanto.ok(&["pull", &format!("{}/single/ok:v1", registry.host())]);
    assert!(
        run.stderr.contains("no subordinate ids") && run.stderr.contains("single-id"),
        "{}",
        run.stderr
    );
    use std::os::unix::fs::MetadataExt;
    let file = std::fs::metadata(snapshot_dir(&tanto, &diff_id).join("file")).unwrap();
    assert_eq!(
        (file.uid(), file.gid()),
        (user.uid, user.gid),
        "root in the namespace must be the user"
    );

    let owned = tempfile::tempdir().unwrap();
    std::fs::write(owned.path().join("app-file"), "x").unwrap();
    std::os::unix::fs::chown(owned.path().join("app-file"), Some(1000), Some(1000)).unwrap();
    Image::new(vec![Layer::new(&tar_directory(owned.path()), Codec::Gzip)]).push(
        &registry,
        "single/other-ids",
        "v1",
    );
    let run = tanto.fails(&["pull", &format!("{}/single/other-ids:v1", registry.host())]);
    assert!(
        run.stderr.contains("1000:1000") && run.stderr.contains("subordinate id range"),
        "{}",
        run.stderr
    );
    tanto.assert_no_temp_leftovers();
}
