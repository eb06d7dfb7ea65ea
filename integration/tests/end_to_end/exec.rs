//! Exec steps end to end: images pulled by `tanto pull` as the unprivileged
//! test user, steps run by `tanto __run-step` as that user, over the layer
//! snapshots of the store, checking what the process saw and what it left.

use crate::support;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::fixtures;
use support::image::{tar_directory, Codec, Image, Layer};
use support::registry::Registry;
use support::tanto::{Run, Tanto};

/// One store with both images, pulled once for every test here.
struct Images {
    tanto: Tanto,
    debian: PathBuf,
    busybox: PathBuf,
}

fn snapshot_dir(tanto: &Tanto, diff_id: &str) -> PathBuf {
    let hex = diff_id.strip_prefix("sha256:").unwrap();
    tanto
        .store()
        .join("snapshots")
        .join(format!("sha256-{hex}"))
        .join("fs")
}

fn images() -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let registry = Registry::start();
        let debian = fixtures::debian();
        Image::new(vec![debian.layer.clone()]).push(&registry, "fixtures/debian", "bookworm");
        let tree = tempfile::tempdir().unwrap();
        fixtures::busybox_tree(tree.path());
        let busybox = Layer::new(&tar_directory(tree.path()), Codec::Gzip);
        Image::new(vec![busybox.clone()]).push(&registry, "fixtures/busybox", "latest");
        let tanto = Tanto::new();
        for image in ["fixtures/debian:bookworm", "fixtures/busybox:latest"] {
            tanto.ok(&["pull", &format!("{}/{image}", registry.host())]);
        }
        Images {
            debian: snapshot_dir(&tanto, &debian.layer.diff_id),
            busybox: snapshot_dir(&tanto, &busybox.diff_id),
            tanto,
        }
    })
}

/// A directory in the test user's home, owned by them.
fn user_dir(name: &str) -> PathBuf {
    let images = images();
    let dir = images.tanto.home().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let run_as = &images.tanto.run_as;
    std::os::unix::fs::chown(&dir, Some(run_as.uid), Some(run_as.gid)).unwrap();
    dir
}

fn unique(prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("{prefix}-{n}")
}

/// One step: its directories and request, ready to adjust and run.
struct Step {
    dir: PathBuf,
    request: Value,
}

/// What a step run showed.
struct Ran {
    run: Run,
    exit_code: Option<i64>,
    stdout: String,
    stderr: String,
}

impl Step {
    fn new(lower: &Path, args: &[&str]) -> Step {
        let dir = user_dir(&unique("step"));
        for sub in ["upper", "work", "scratch"] {
            std::fs::create_dir(dir.join(sub)).unwrap();
        }
        chown_tree(&dir);
        let request = json!({
            "lower_dirs": [lower],
            "upper_dir": dir.join("upper"),
            "work_dir": dir.join("work"),
            "scratch_dir": dir.join("scratch"),
            "args": args,
            "env": [],
            "cwd": "/",
            "user": "",
            "mounts": [],
            "stdin": null,
            "stdout_path": dir.join("stdout"),
            "stderr_path": dir.join("stderr"),
            "hostname": "step",
            "extra_hosts": [],
            "timeout": null,
        });
        Step { dir, request }
    }

    fn set(mut self, field: &str, value: Value) -> Step {
        self.request[field] = value;
        self
    }

    fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    fn write_request(&self) -> PathBuf {
        let path = self.dir.join("request.json");
        std::fs::write(&path, serde_json::to_vec(&self.request).unwrap()).unwrap();
        chown_tree(&path);
        path
    }

    fn run(&self) -> Ran {
        let path = self.write_request();
        let out = images()
            .tanto
            .command(&["__run-step", path.to_str().unwrap()])
            .output()
            .unwrap();
        let run = Run {
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let exit_code = serde_json::from_str::<Value>(run.stdout.trim())
            .ok()
            .and_then(|v| v["exit_code"].as_i64());
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        Ran {
            exit_code,
            stdout: read("stdout"),
            stderr: read("stderr"),
            run,
        }
    }

    /// Runs and insists the step ran and exited 0.
    fn ok(&self) -> Ran {
        let ran = self.run();
        assert_eq!(
            ran.exit_code,
            Some(0),
            "step {}:\n{}\n{}\nstep stdout:\n{}\nstep stderr:\n{}",
            self.request["args"],
            ran.run.stdout,
            ran.run.stderr,
            ran.stdout,
            ran.stderr
        );
        ran
    }
}

fn chown_tree(path: &Path) {
    let run_as = &images().tanto.run_as;
    std::os::unix::fs::chown(path, Some(run_as.uid), Some(run_as.gid)).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path());
        }
    }
}

/// Everything under `dir`, relative, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.symlink_metadata().unwrap().is_dir() {
                walk(root, &path, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn output_streams_and_exit_code() {
    let ran = Step::new(
        &images().busybox,
        &["sh", "-c", "echo out; echo err >&2; exit 3"],
    )
    .run();
    assert!(ran.run.success, "{}", ran.run.stderr);
    assert_eq!(ran.exit_code, Some(3));
    assert_eq!(ran.stdout, "out\n");
    assert_eq!(ran.stderr, "err\n");
}

#[test]
fn stdin_env_and_working_directory() {
    let step = Step::new(
        &images().busybox,
        &["sh", "-c", "cat; echo \"$GREETING\"; pwd"],
    )
    .set("stdin", json!(b"from stdin\n".to_vec()))
    .set("env", json!(["GREETING=hello there"]))
    .set("cwd", json!("/work/deep"));
    let ran = step.ok();
    assert_eq!(ran.stdout, "from stdin\nhello there\n/work/deep\n");
    // The working directory is the step's own change; it stays.
    assert!(step.upper().join("work/deep").is_dir());
}

#[test]
fn users_by_name_and_by_ids() {
    let debian = &images().debian;
    let ran = Step::new(debian, &["id"]).set("user", json!("nobody")).ok();
    assert_eq!(
        ran.stdout.trim(),
        "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"
    );
    let ran = Step::new(debian, &["id"])
        .set("user", json!("1000:1000"))
        .ok();
    assert!(
        ran.stdout.starts_with("uid=1000 gid=1000 groups=1000"),
        "{}",
        ran.stdout
    );
    let ran = Step::new(debian, &["id", "-u"]).ok();
    assert_eq!(ran.stdout, "0\n");
}

#[test]
fn an_unknown_user_is_a_clear_error() {
    let ran = Step::new(&images().debian, &["id"])
        .set("user", json!("ghost"))
        .run();
    assert!(!ran.run.success, "{}", ran.run.stdout);
    assert!(
        ran.run.stderr.contains("unknown user \"ghost\"") && ran.run.stderr.contains("/etc/passwd"),
        "{}",
        ran.run.stderr
    );
}

#[test]
fn a_missing_command_exits_127_with_the_reason_on_stderr() {
    let ran = Step::new(&images().busybox, &["nosuchcmd", "arg"]).run();
    assert!(ran.run.success, "{}", ran.run.stderr);
    assert_eq!(ran.exit_code, Some(127));
    assert!(
        ran.stderr
            .contains("exec: \"nosuchcmd\": executable file not found in $PATH"),
        "{}",
        ran.stderr
    );
}

#[test]
fn changes_land_in_the_upper_dir_as_overlay_diffs_without_mount_points() {
    let step = Step::new(
        &images().debian,
        &[
            "sh",
            "-c",
            "echo new > /root/new && rm /etc/issue && mkdir /opt/made",
        ],
    );
    step.ok();
    let upper = step.upper();
    assert_eq!(
        std::fs::read_to_string(upper.join("root/new")).unwrap(),
        "new\n"
    );
    let whiteout = upper.join("etc/issue").symlink_metadata().unwrap();
    assert!(whiteout.file_type().is_char_device(), "{whiteout:?}");
    assert_eq!(whiteout.rdev(), 0);
    assert!(upper.join("opt/made").is_dir());
    let listing = listing(&upper);
    for junk in ["etc/hosts", "etc/resolv.conf", "proc", "dev", "sys"] {
        assert!(!listing.contains(&junk.to_owned()), "{junk} in {listing:?}");
    }
}

#[test]
fn a_step_that_changes_nothing_leaves_an_empty_upper_dir() {
    // busybox has no /proc, /dev, /sys, /etc/hosts: all made to mount on.
    let step = Step::new(&images().busybox, &["true"])
        .set("mounts", json!([{"target": "/cache/a", "kind": "Tmpfs"}]));
    step.ok();
    assert_eq!(listing(&step.upper()), Vec::<String>::new());
    assert!(!images().busybox.join("proc").exists());
}

#[test]
fn binds_are_read_only_or_writable_as_asked() {
    let ro = user_dir(&unique("ro"));
    let rw = user_dir(&unique("rw"));
    std::fs::write(ro.join("in"), "input\n").unwrap();
    chown_tree(&ro);
    let step = Step::new(
        &images().busybox,
        &[
            "sh",
            "-c",
            "cat /ro/in; echo x > /ro/out || echo refused; echo written > /rw/out",
        ],
    )
    .set(
        "mounts",
        json!([
            {"target": "/ro", "kind": {"Bind": {"source": ro, "read_only": true}}},
            {"target": "/rw", "kind": {"Bind": {"source": rw, "read_only": false}}},
        ]),
    );
    let ran = step.ok();
    assert_eq!(ran.stdout, "input\nrefused\n");
    assert!(
        ran.stderr.contains("Read-only file system"),
        "{}",
        ran.stderr
    );
    assert!(!ro.join("out").exists());
    assert_eq!(
        std::fs::read_to_string(rw.join("out")).unwrap(),
        "written\n"
    );
    assert_eq!(listing(&step.upper()), Vec::<String>::new());
}

#[test]
fn a_mount_on_a_file_that_needs_a_directory_is_an_error_naming_it() {
    let ran = Step::new(&images().debian, &["true"])
        .set(
            "mounts",
            json!([{"target": "/etc/passwd", "kind": "Tmpfs"}]),
        )
        .run();
    assert!(!ran.run.success);
    assert!(
        ran.run.stderr.contains("/etc/passwd") && ran.run.stderr.contains("needs a directory"),
        "{}",
        ran.run.stderr
    );
}

#[test]
fn secrets_are_readable_at_their_mode_and_never_written_to_disk() {
    const VALUE: &str = "s3cr3t-only-in-memory-4d2f";
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(VALUE);
    let step = Step::new(
        &images().debian,
        &[
            "sh",
            "-c",
            "stat -c '%a %u %g' /run/secrets/token; test \"$(cat /run/secrets/token)\" = \"$EXPECTED\" && echo match; setpriv --reuid=1000 cat /run/secrets/token >/dev/null 2>&1 || echo denied",
        ],
    )
    .set("env", json!([format!("EXPECTED={VALUE}")]))
    .set(
        "mounts",
        json!([{"target": "/run/secrets/token", "kind": {"Secret": {"contents": encoded, "mode": 0o400, "uid": 0, "gid": 0}}}]),
    );
    let ran = step.ok();
    assert_eq!(ran.stdout, "400 0 0\nmatch\ndenied\n");
    std::fs::remove_file(step.dir.join("request.json")).unwrap();
    for dir in [images().tanto.store(), step.dir.clone()] {
        for relative in listing(&dir) {
            let path = dir.join(&relative);
            if path.symlink_metadata().unwrap().is_file() {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()),
                    "the secret is in {}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn chown_setgroups_and_switching_users_work() {
    let ran = Step::new(
        &images().debian,
        &[
            "sh",
            "-c",
            "touch /tmp/x && chown 1000:1000 /tmp/x && stat -c %u:%g /tmp/x && setpriv --reuid=nobody --regid=nogroup --init-groups id -u",
        ],
    )
    .ok();
    assert_eq!(ran.stdout, "1000:1000\n65534\n");
}

#[test]
fn the_process_gets_dockers_capabilities_seccomp_and_devices() {
    let ran = Step::new(
        &images().debian,
        &[
            "sh",
            "-c",
            "grep -E '^(CapEff|CapBnd|CapAmb|Seccomp|NoNewPrivs):' /proc/self/status; test -c /dev/null && test -d /dev/pts && test -d /dev/shm && echo devices; echo x > /dev/null && echo null-ok; hostname",
        ],
    )
    .ok();
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "CapEff:\t00000000a80425fb",
            "CapBnd:\t00000000a80425fb",
            "CapAmb:\t0000000000000000",
            "NoNewPrivs:\t1",
            "Seccomp:\t2",
            "devices",
            "null-ok",
            "step"
        ],
        "{}",
        ran.stdout
    );
    // Denied by the seccomp profile (and no CAP_SYS_ADMIN): a new namespace.
    let ran = Step::new(&images().debian, &["unshare", "--user", "true"]).run();
    assert_ne!(ran.exit_code, Some(0), "{}", ran.stderr);
}

#[test]
fn hosts_are_generated_with_extra_hosts() {
    let ran = Step::new(
        &images().debian,
        &[
            "sh",
            "-c",
            "getent hosts localhost db; cat /etc/resolv.conf >/dev/null && echo resolv",
        ],
    )
    .set("extra_hosts", json!([["db", "127.0.0.2"]]))
    .ok();
    let lines: Vec<Vec<&str>> = ran
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(lines[0].contains(&"localhost"), "{}", ran.stdout);
    assert_eq!(lines[1], ["127.0.0.2", "db"], "{}", ran.stdout);
    assert_eq!(lines[2], ["resolv"]);
}

/// The steps below look for leftover processes of the test user: one at a time.
static KILLING: Mutex<()> = Mutex::new(());

/// Processes of the test user whose command line contains `needle`.
fn user_processes(needle: &str) -> Vec<String> {
    let uid = images().tanto.run_as.uid;
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let path = entry.path();
        let Ok(meta) = path.metadata() else { continue };
        if meta.uid() != uid {
            continue;
        }
        let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(format!("{}: {cmdline}", path.display()));
        }
    }
    found
}

/// Mounts any process still sees under `dir`.
fn mounts_under(dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path().join("mountinfo")).unwrap_or_default();
        found.extend(
            text.lines()
                .filter(|l| l.contains(&needle))
                .map(|l| format!("{}: {l}", entry.path().display())),
        );
    }
    found
}

/// Every process below `pid`, from /proc's parent links.
fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // The field after the command, which may hold spaces and ')'.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![pid];
    let mut at = 0;
    while at < found.len() {
        let parent = found[at];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        at += 1;
    }
    found.remove(0);
    found
}

fn wait_until_gone(needle: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let left = user_processes(needle);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_timeout_kills_the_step_and_its_background_processes() {
    let _one = KILLING.lock().unwrap_or_else(|e| e.into_inner());
    let step = Step::new(&images().busybox, &["sh", "-c", "sleep 1001 & sleep 1001"])
        .set("timeout", json!({"secs": 1, "nanos": 0}));
    let started = Instant::now();
    let ran = step.run();
    assert!(!ran.run.success, "{}", ran.run.stdout);
    assert!(ran.run.stderr.contains("timed out"), "{}", ran.run.stderr);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(user_processes("sleep 1001"), Vec::<String>::new());
    assert_eq!(mounts_under(&step.dir), Vec::<String>::new());
}

#[test]
fn cancelling_kills_the_step_and_says_so() {
    let _one = KILLING.lock().unwrap_or_else(|e| e.into_inner());
    let step = Step::new(&images().busybox, &["sh", "-c", "sleep 1003 & sleep 1003"]);
    let path = step.write_request();
    let started = Instant::now();
    let run = images().tanto.run(&[
        "__run-step",
        "--cancel-after",
        "500",
        path.to_str().unwrap(),
    ]);
    assert!(!run.success, "{}", run.stdout);
    assert!(run.stderr.contains("`sh` was cancelled"), "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(user_processes("sleep 1003"), Vec::<String>::new());
    assert_eq!(mounts_under(&step.dir), Vec::<String>::new());
}

#[test]
fn killing_tanto_mid_step_leaves_nothing_running_or_mounted() {
    let _one = KILLING.lock().unwrap_or_else(|e| e.into_inner());
    let step = Step::new(
        &images().busybox,
        &["sh", "-c", "echo started; sleep 1002 & sleep 1002"],
    );
    let path = step.write_request();
    let mut child = images()
        .tanto
        .command(&["__run-step", path.to_str().unwrap()])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(step.dir.join("stdout")).unwrap_or_default() != "started\n" {
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(user_processes("sleep 1002").len(), 2);
    // This run's own processes (its namespace re-exec, the exec helper):
    // other tests' helpers run meanwhile and look the same.
    let ours = descendants(child.id());
    assert!(!ours.is_empty());
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let left = wait_until_gone("sleep 1002", Duration::from_secs(5));
    assert_eq!(left, Vec::<String>::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alive: Vec<&u32> = ours
            .iter()
            .filter(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
            .collect();
        if alive.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still running: {alive:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(mounts_under(&step.dir), Vec::<String>::new());
    // The scratch dir must be usable again: nothing holds it.
    assert!(
        std::fs::metadata(step.dir.join("scratch"))
            .unwrap()
            .permissions()
            .mode()
            & 0o700
            != 0
    );
}
