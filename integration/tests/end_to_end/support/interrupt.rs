//! Ctrl-C as a terminal sends it (SIGINT to the foreground process group)
//! to a tanto command whose step runs, and the checks that it leaves
//! nothing behind: the step's processes, tanto's own, and mounts.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use super::tanto::Tanto;

/// Waits until `count` processes of the step (owned by the namespace's
/// root, their command lines starting with `step`) run, interrupts
/// `child` (spawned in a process group of its own), and checks that it
/// ends within 30 s, that the step's processes go within 20 s, and that no
/// process naming the test user's home and no mount under the store is
/// left. Returns how `child` ended.
pub fn ctrl_c_leaves_nothing(
    tanto: &Tanto,
    mut child: Child,
    step: &str,
    count: usize,
) -> ExitStatus {
    let host_root = tanto.run_as.host_uid(0).to_string();
    let running = || {
        let out = std::process::Command::new("pgrep")
            .args(["-U", &host_root, "-f", &format!("^{step}")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while running() < count {
        assert!(Instant::now() < deadline, "the step never started");
        assert!(child.try_wait().unwrap().is_none(), "tanto ended early");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: kill(2) with a negative pid signals that process group.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            // SAFETY: as above; the test fails without leaving a hang.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            panic!("tanto did not end after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while running() > 0 {
        assert!(Instant::now() < deadline, "the step outlived tanto");
        std::thread::sleep(Duration::from_millis(100));
    }
    // This test's tanto names its home in its arguments; other tests'
    // tanto processes (same user, running in parallel) do not.
    let leftovers = std::process::Command::new("pgrep")
        .args(["-f", tanto.home().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        leftovers.stdout.is_empty(),
        "left running: {}",
        String::from_utf8_lossy(&leftovers.stdout)
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(tanto.store().to_str().unwrap()),
        "{mounts}"
    );
    status
}
