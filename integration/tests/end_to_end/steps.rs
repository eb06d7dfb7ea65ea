//! What one step can do and how bad input fails, through the engine's Rust
//! API (`integration/examples/scenario.rs`), run rootless by an unprivileged
//! user against the Debian fixture in a real registry.

#![allow(clippy::print_stderr)] // errors shown with --nocapture

use crate::support;

use std::path::PathBuf;
use std::sync::OnceLock;

use support::fixtures;
use support::image::Image;
use support::registry::Registry;
use support::tanto::{example, Run, Tanto};

struct World {
    _registry: Registry,
    image: String,
    /// The same, with `WorkingDir: /app` in its config.
    image_with_workdir: String,
    scenario: PathBuf,
}

/// One registry and one build of the scenario program for the whole file.
fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let registry = Registry::start();
        let mut image = Image::new(vec![fixtures::debian().layer.clone()]);
        image.push(&registry, "fixtures/debian", "bookworm");
        let mut config: serde_json::Value = serde_json::from_slice(&image.config).unwrap();
        config["config"]["WorkingDir"] = "/app".into();
        image.config = serde_json::to_vec(&config).unwrap();
        image.push(&registry, "fixtures/debian", "workdir");
        World {
            image: format!("{}/fixtures/debian:bookworm", registry.host()),
            image_with_workdir: format!("{}/fixtures/debian:workdir", registry.host()),
            _registry: registry,
            scenario: example("integration", "scenario"),
        }
    })
}

fn scenario(tanto: &Tanto, name: &str) -> Run {
    scenario_on(tanto, name, &world().image)
}

fn scenario_on(tanto: &Tanto, name: &str, image: &str) -> Run {
    tanto.run_program(&world().scenario, &[name, image])
}

fn ok(tanto: &Tanto, name: &str) -> Run {
    let run = scenario(tanto, name);
    assert!(
        run.success,
        "scenario {name} failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    run
}

/// Runs a scenario that must fail; returns its error message.
fn fails(tanto: &Tanto, name: &str) -> String {
    let run = scenario(tanto, name);
    assert!(
        !run.success,
        "scenario {name} should fail:\n{}\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_store_consistent(tanto);
    // Shown with --nocapture: what a user reads.
    eprintln!("scenario {name}: {}", run.stderr.trim_end());
    run.stderr
}

/// The value printed after `key: `.
fn value<'r>(run: &'r Run, key: &str) -> &'r str {
    run.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key:?} in:\n{}\n{}", run.stdout, run.stderr))
}

/// Nothing half-built is trusted: no temps left, and every committed step
/// has its layer.
fn assert_store_consistent(tanto: &Tanto) {
    let tmp = tanto.store().join("snapshots/tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{} still holds {left:?}", tmp.display());
    for entry in std::fs::read_dir(tanto.store().join("snapshots"))
        .unwrap()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("exec-") {
            assert!(entry.path().join("fs").is_dir(), "{name} has no layer");
            assert!(
                entry.path().join("result.json").is_file(),
                "{name} has no result"
            );
        }
    }
}

#[test]
fn env_workdir_and_user_apply_to_the_process() {
    let tanto = Tanto::new();
    let run = ok(&tanto, "settings");
    assert_eq!(value(&run, "stdout"), "hello world|/work/dir|0|");
    assert!(
        value(&run, "nobody").starts_with("uid=65534(nobody) gid=65534(nogroup)"),
        "{}",
        run.stdout
    );
    assert_eq!(value(&run, "numeric"), "1000");
    assert_eq!(value(&run, "workdir"), "/work/dir");
    assert_eq!(value(&run, "env"), "hello world");
}

#[test]
fn directory_and_file_operations_compose_with_containers() {
    let tanto = Tanto::new();
    let run = ok(&tanto, "files");
    assert_eq!(value(&run, "entries"), "a.txt,empty,sub");
    assert_eq!(value(&run, "glob"), "a.txt,sub/b.txt");
    assert_eq!(value(&run, "listing"), "copied|empty|new|sub|640|");
    assert_eq!(value(&run, "after rm"), "copied,empty,sub");
    assert_eq!(value(&run, "contents"), "A");
    assert_eq!(value(&run, "without"), "empty,sub");
    assert_eq!(value(&run, "renamed"), "c.txt B");
    assert_eq!(value(&run, "query file"), "from query");
    assert_eq!(value(&run, "size"), "1");
}

#[test]
fn stdin_streams_exit_codes_redirects_and_entrypoints() {
    let tanto = Tanto::new();
    let run = ok(&tanto, "exec");
    assert_eq!(value(&run, "stdin"), "fed in");
    assert_eq!(value(&run, "stderr"), "err");
    assert_eq!(value(&run, "combined"), "fed inerr|");
    assert_eq!(value(&run, "exit code"), "3");
    assert_eq!(value(&run, "redirected stdout"), "[]");
    assert_eq!(value(&run, "redirected file"), "to-file");
    assert_eq!(value(&run, "entrypoint"), "entry point");
}

#[test]
fn mounts_are_read_only_temporary_or_kept_as_asked() {
    let tanto = Tanto::new();
    let first = ok(&tanto, "mounts");
    assert_eq!(value(&first, "mounts"), "mountedmountedro-refused|tmpfs|1|");
    assert_eq!(value(&first, "rootfs has mnt"), "true");
    assert_eq!(value(&first, "rw next step"), "built|mounted");
    assert_eq!(value(&first, "rw entries"), "dist,m.txt");
    assert_eq!(value(&first, "rw dist"), "built");
    assert_eq!(value(&first, "source unchanged"), "m.txt");
}

#[test]
fn a_secret_reaches_the_step_and_nowhere_else() {
    let secret = "s3cr3t-Value-7f1c9e";
    let mut tanto = Tanto::new();
    tanto.env("SCENARIO_SECRET", secret);
    let run = ok(&tanto, "secret");
    assert_eq!(
        value(&run, "secret"),
        format!("secret-ok {} 400", secret.len())
    );
    assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
    // Debug logs too.
    tanto.env("RUST_LOG", "debug");
    let logged = ok(&tanto, "secret");
    assert!(!logged.stderr.contains(secret) && !logged.stdout.contains(secret));
    // Not in any file of the store, nor in any name (cache keys name snapshots).
    let hits = support::tree::grep(&tanto.store(), secret.as_bytes());
    assert!(hits.is_empty(), "the secret value is in {hits:?}");
}

#[test]
fn a_missing_command_exits_127_with_the_runtime_message() {
    let tanto = Tanto::new();
    let run = ok(&tanto, "missing-command");
    assert_eq!(value(&run, "exit code"), "127");
    assert!(
        value(&run, "stderr").contains("nosuchcmd"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_failing_step_names_its_command_exit_code_and_output_and_is_not_memoized() {
    let tanto = Tanto::new();
    let error = fails(&tanto, "exit-nonzero");
    assert!(
        error.contains(r#"withExec sh -c "echo some output; echo oops >&2; exit 3""#),
        "{error}"
    );
    assert!(error.contains("exit code: 3"), "{error}");
    assert!(
        error.contains("oops") && error.contains("some output"),
        "{error}"
    );
    // Not memoized: the second run fails the same way, by running again.
    let again = fails(&tanto, "exit-nonzero");
    assert!(again.contains("exit code: 3"), "{again}");
}

#[test]
fn bad_input_gets_a_clear_error_and_leaves_the_store_consistent() {
    let tanto = Tanto::new();
    let error = fails(&tanto, "bad-user");
    assert!(error.contains("nosuchuser"), "{error}");

    let error = fails(&tanto, "escape");
    assert!(
        error.contains("../../etc/evil") && error.contains("leaves the directory"),
        "{error}"
    );

    let error = fails(&tanto, "cache-over-file");
    assert!(error.contains("/etc/passwd"), "{error}");
}

#[test]
fn exports_are_atomic_and_refuse_to_clobber_or_guess() {
    let tanto = Tanto::new();
    let run = ok(&tanto, "export");
    let home = tanto.home();
    assert_eq!(
        value(&run, "exported dir"),
        home.join("exported").to_str().unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(home.join("exported/sub/b.txt")).unwrap(),
        "B"
    );
    assert_eq!(
        std::fs::read_to_string(home.join("single.txt")).unwrap(),
        "A"
    );
    assert!(
        value(&run, "dir over file").contains("error"),
        "{}",
        run.stdout
    );
    assert!(
        value(&run, "dir into missing parent").contains("missing"),
        "{}",
        run.stdout
    );
    assert!(
        value(&run, "file into missing parent").contains("missing"),
        "{}",
        run.stdout
    );
    // Nothing half-written: the file is intact, no temp files beside it.
    assert_eq!(
        std::fs::read_to_string(home.join("single.txt")).unwrap(),
        "A"
    );
    let leftovers: Vec<_> = std::fs::read_dir(home)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("tanto-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(!home.join("missing").exists());
}

#[test]
fn a_cancelled_step_leaves_no_process_or_mount_behind() {
    let tanto = Tanto::new();
    let error = fails(&tanto, "cancel");
    assert!(error.contains("cancel"), "{error}");
    let uid = tanto.run_as.uid.to_string();
    let sleeping = std::process::Command::new("pgrep")
        .args([
            "-U",
            &tanto.run_as.host_uid(0).to_string(),
            "-f",
            "sleep 1000",
        ])
        .output()
        .unwrap();
    assert!(
        sleeping.stdout.is_empty(),
        "left running: {}",
        String::from_utf8_lossy(&sleeping.stdout)
    );
    let by_user = std::process::Command::new("pgrep")
        .args(["-U", &uid, "-f", "sleep 1000"])
        .output()
        .unwrap();
    assert!(by_user.stdout.is_empty());
}

#[test]
fn two_processes_asking_for_the_same_step_run_it_once() {
    let tanto = Tanto::new();
    ok(&tanto, "settings"); // the image in the store: both start at the step
    let world = world();
    let spawn = || {
        tanto
            .command_for(&world.scenario, &["slow", &world.image])
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap(), b.join().unwrap())
    });
    let step = r#"withExec sh -c "sleep 2; echo slow-done""#;
    let mut fates = Vec::new();
    for out in [&a, &b] {
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("slow: slow-done"), "{stdout}");
        fates.extend(
            stderr
                .lines()
                .filter(|l| l.ends_with(step))
                .map(|l| l.split(' ').next().unwrap().to_owned()),
        );
    }
    fates.sort();
    assert_eq!(
        fates,
        ["CACHED", "RAN"],
        "one process ran the step, the other waited and reused it"
    );
}

#[test]
fn ctrl_c_mid_step_leaves_no_process_or_mount_behind() {
    let tanto = Tanto::new();
    let world = world();
    let mut command = tanto.command_for(&world.scenario, &["hang", &world.image]);
    // Its own process group, as a shell gives a foreground job.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().unwrap();
    let host_root = tanto.run_as.host_uid(0).to_string();
    let sleeping = || {
        let out = std::process::Command::new("pgrep")
            .args(["-U", &host_root, "-f", "^sleep 1000"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while sleeping() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the step never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // What the terminal does on Ctrl-C: SIGINT to the whole foreground group.
    // SAFETY: kill(2) with a negative pid signals that process group.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(!status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sleeping() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the step's processes outlived tanto"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(tanto.store().to_str().unwrap()),
        "{mounts}"
    );
    assert_store_consistent_after_crash(&tanto);
}

/// After an interrupted run, the next run clears what it left and works.
fn assert_store_consistent_after_crash(tanto: &Tanto) {
    ok(tanto, "settings");
    assert_store_consistent(tanto);
}

#[test]
fn relative_paths_start_at_the_images_working_directory() {
    let tanto = Tanto::new();
    let run = scenario_on(&tanto, "image-workdir", &world().image_with_workdir);
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(value(&run, "workdir run"), "/app|RDD");
    assert_eq!(value(&run, "relative read"), "D");
    // A mount is not part of the container's file system, nor its mount point.
    assert_eq!(value(&run, "dot entries"), "rel.txt,sub");
    assert_eq!(value(&run, "nested"), "X");
}
