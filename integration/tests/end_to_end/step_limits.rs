//! Each step in a cgroup of its own with a pids limit, where the host
//! delegates cgroup2 to the user — and `tanto doctor` saying so, or why not.
//! Run rootless as the unprivileged test user.
//!
//! On a cgroup v1 or hybrid host (this project's CI) the doctor must say
//! that steps have no pids limit and why, and steps must run as before. On
//! a cgroup2 host whose root can give `pids` to children, the tests
//! delegate a cgroup to the test user as systemd's `Delegate=yes` does and
//! check that a step sees its own `pids.max` and cannot fork past it.

#![allow(clippy::print_stderr)] // skips are reported

use crate::support;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use support::fixtures;
use support::tanto::{Run, Tanto};

const CGROUP2: &str = "/sys/fs/cgroup";

fn is_cgroup2(path: &str) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// Whether we can delegate a cgroup with pids to the test user: root on a
/// cgroup2 host whose root cgroup has pids.
fn delegable() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root && is_cgroup2(CGROUP2)
        && std::fs::read_to_string(format!("{CGROUP2}/cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|w| w == "pids"))
}

/// The doctor's line (and fix) for one check.
fn doctor_check(run: &Run, name: &str) -> String {
    let mut lines = run.stdout.lines().skip_while(|l| !l.contains(name));
    let line = lines
        .next()
        .unwrap_or_else(|| panic!("no {name:?} check:\n{}", run.stdout));
    let fix = lines.next().filter(|l| l.contains("fix:")).unwrap_or("");
    format!("{line}\n{fix}")
}

#[test]
fn doctor_says_whether_steps_have_a_pids_limit() {
    if delegable() {
        let cgroup = Delegated::new();
        let tanto = Tanto::new();
        let run = cgroup.run(&tanto, &["doctor"]);
        let check = doctor_check(&run, "step limits");
        assert!(check.starts_with("ok"), "{check}");
        assert!(check.contains("pids.max 4096"), "{check}");
        assert!(
            check.contains(&cgroup.path.display().to_string()),
            "{check}"
        );
        return;
    }
    let tanto = Tanto::new();
    let run = tanto.ok(&["doctor"]);
    let check = doctor_check(&run, "step limits");
    if is_cgroup2(CGROUP2) {
        // Not root: what the doctor says depends on this user's session.
        assert!(
            check.starts_with("ok") || check.contains("Delegate=yes"),
            "{check}"
        );
        return;
    }
    assert!(check.starts_with("WARN"), "{check}");
    assert!(check.contains("steps have no pids limit"), "{check}");
    // Why: this host is v1 or hybrid.
    let why = if is_cgroup2("/sys/fs/cgroup/unified") {
        "cgroup v1 (hybrid"
    } else {
        "cgroup v1 only"
    };
    assert!(check.contains(why), "expected {why:?} in:\n{check}");
    assert!(
        check.contains("fix:") && check.contains("Delegate=yes"),
        "{check}"
    );
}

#[test]
fn doctor_names_a_pids_setting_it_cannot_use() {
    let mut tanto = Tanto::new();
    tanto.env("TANTO_STEP_PIDS_MAX", "lots");
    let run = if delegable() {
        Delegated::new().run(&tanto, &["doctor"])
    } else {
        tanto.ok(&["doctor"])
    };
    let check = doctor_check(&run, "step limits");
    if delegable() {
        assert!(check.contains("TANTO_STEP_PIDS_MAX"), "{check}");
    } else {
        // Without step cgroups the setting does not matter.
        assert!(check.contains("no pids limit"), "{check}");
    }
}

fn exec_query(image: &str, script: &str) -> String {
    format!(
        r#"{{ container {{ from(address: "{image}") {{ withExec(args: ["sh", "-c", {}], expect: ANY) {{ exitCode stdout stderr }} }} }} }}"#,
        serde_json::to_string(script).unwrap()
    )
}

/// The step's answer: exit code, stdout, stderr.
fn exec(run: &Run) -> (i64, String, String) {
    assert!(
        run.success,
        "tanto query failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let exec = &answer["data"]["container"]["from"]["withExec"];
    (
        exec["exitCode"].as_i64().unwrap(),
        exec["stdout"].as_str().unwrap().to_owned(),
        exec["stderr"].as_str().unwrap().to_owned(),
    )
}

/// Prints the step's cgroup2 path and the pids.max it sees there.
const SHOW_CGROUP: &str = r#"cg=$(sed -n 's/^0:://p' /proc/self/cgroup); echo "$cg"; cat "/sys/fs/cgroup$cg/pids.max" 2>/dev/null || echo none"#;

#[test]
fn a_step_runs_in_a_cgroup_of_its_own_where_one_is_delegated() {
    let image = fixtures::served_debian();
    let tanto = Tanto::new();
    let query = tanto.write_home_file("query.graphql", &exec_query(image, SHOW_CGROUP));
    let args = ["query", query.to_str().unwrap()];
    if !is_cgroup2(CGROUP2) {
        // Steps run as before, in no cgroup of their own.
        let (code, stdout, _) = exec(&tanto.run(&args));
        assert_eq!(code, 0, "{stdout}");
        assert!(!stdout.contains("tanto-step-"), "{stdout}");
        return;
    }
    if !delegable() {
        eprintln!("skipped: delegating a cgroup to the test user needs root");
        return;
    }
    let cgroup = Delegated::new();
    let (code, stdout, stderr) = exec(&cgroup.run(&tanto, &args));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let mut lines = stdout.lines();
    let path = lines.next().unwrap();
    assert!(
        path.starts_with(&format!("{}/tanto-step-", cgroup.name)),
        "{stdout}"
    );
    assert_eq!(lines.next(), Some("4096"), "{stdout}");
    cgroup.assert_steps_removed();
}

#[test]
fn a_step_cannot_fork_past_its_pids_limit() {
    if !delegable() {
        eprintln!("skipped: needs root and cgroup2 with pids to delegate to the test user");
        return;
    }
    let image = fixtures::served_debian();
    let mut tanto = Tanto::new();
    tanto.env("TANTO_STEP_PIDS_MAX", "32");
    // 64 sleepers would outlive the step if they were not killed with it.
    let script = "i=0; while [ $i -lt 64 ]; do sleep 300 & i=$((i+1)); done; echo all started";
    let query = tanto.write_home_file("query.graphql", &exec_query(image, script));
    let cgroup = Delegated::new();
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = exec(&cgroup.run(&tanto, &["query", query.to_str().unwrap()]));
    assert_ne!(code, 0, "{stdout}{stderr}");
    assert!(!stdout.contains("all started"), "{stdout}");
    assert!(stderr.to_lowercase().contains("fork"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
    cgroup.assert_steps_removed();
}

/// A cgroup delegated to the test user the way systemd's `Delegate=yes`
/// does: made by root below a parent that gives it `pids`, chowned to the
/// user. Removed on drop.
struct Delegated {
    /// As in /proc/self/cgroup.
    name: String,
    path: PathBuf,
}

impl Delegated {
    fn new() -> Delegated {
        let name = format!("/tanto-test-{}-{}", std::process::id(), next_id());
        let path = PathBuf::from(format!("{CGROUP2}{name}"));
        // The root cgroup may hold processes and give controllers; a
        // container's cgroup namespace root may not (move its processes to a
        // leaf first, as docker's dind does).
        std::fs::write(format!("{CGROUP2}/cgroup.subtree_control"), "+pids").unwrap_or_else(
            |e| panic!("cannot enable +pids in {CGROUP2}: {e}; this test needs a cgroup2 root that can give pids to children"),
        );
        std::fs::create_dir(&path).unwrap();
        let run_as = support::tanto::run_as();
        for file in [
            "",
            "cgroup.procs",
            "cgroup.subtree_control",
            "cgroup.threads",
        ] {
            std::os::unix::fs::chown(path.join(file), Some(run_as.uid), Some(run_as.gid)).unwrap();
        }
        Delegated { name, path }
    }

    /// `tanto ARGS` as the test user, started inside this cgroup.
    fn run(&self, tanto: &Tanto, args: &[&str]) -> Run {
        let mut command = tanto.command(args);
        let procs = std::ffi::CString::new(
            self.path
                .join("cgroup.procs")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap();
        // SAFETY: open, write and close are async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fd);
                Ok(())
            });
        }
        let out = command.output().unwrap();
        Run {
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn children(&self) -> Vec<String> {
        std::fs::read_dir(&self.path)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    fn assert_steps_removed(&self) {
        let left: Vec<_> = self
            .children()
            .into_iter()
            .filter(|c| c.starts_with("tanto-step-"))
            .collect();
        assert!(left.is_empty(), "step cgroups left behind: {left:?}");
    }
}

fn next_id() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Drop for Delegated {
    fn drop(&mut self) {
        // tanto has exited: its leaf and any step cgroup are empty.
        for child in self.children() {
            let _ = std::fs::remove_dir(self.path.join(child));
        }
        let _ = std::fs::remove_dir(&self.path);
    }
}
