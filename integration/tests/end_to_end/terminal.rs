//! Interactive shells on the user's terminal, driven in tmux as a person
//! would: `terminal` at the end of a `tanto core` chain, and `-i`, a shell
//! where a step failed, in what it left. Run rootless as the unprivileged
//! test user.

use crate::support;

use support::fixtures;
use support::tanto::Tanto;
use support::terminal::Tmux;

#[test]
fn terminal_opens_a_shell_in_the_container_with_a_controlling_terminal() {
    let (_registry, image) = fixtures::served_busybox();
    let tanto = Tanto::new();
    let address = format!("--address={image}");
    let tmux = Tmux::tanto(
        &tanto,
        &[
            "core",
            "container",
            "from",
            &address,
            "with-env-variable",
            "--name=GREETING",
            "--value=from-the-pipeline",
            "with-exec",
            "--args=sh,-c,echo built > /made",
            "terminal",
        ],
    );
    tmux.wait_for_shell("ready");
    // The pipeline's state: its files and env.
    tmux.type_line("cat /made; echo $GREETING");
    tmux.wait_for("the container's file and env", |s| {
        s.contains("\nbuilt") && s.contains("\nfrom-the-pipeline")
    });
    // A terminal of its own, as big as the user's.
    tmux.type_line("stty size; tty");
    tmux.wait_for("the window size", |s| {
        s.contains("\n30 100") && s.contains("/dev/pts/")
    });
    // Ctrl-C reaches the shell's foreground job, not tanto.
    tmux.type_line("sleep 600");
    std::thread::sleep(std::time::Duration::from_millis(500));
    tmux.keys(&["C-c"]);
    tmux.wait_for_shell("interrupted");
    tmux.type_line("touch /from-the-shell; exit 3");
    let done = tmux.wait_for_exit();
    assert!(
        done.contains("EXIT=0"),
        "the chain goes on after the shell:\n{done}"
    );
    assert!(done.contains("Container@xxh3:"), "{done}");
    // What the shell changed was thrown away with it.
    tanto.assert_no_temp_leftovers();
    let run = tanto.ok(&[
        "core",
        "container",
        "from",
        &address,
        "with-exec",
        "--args=sh,-c,echo built > /made",
        "with-exec",
        "--args=ls,/",
        "stdout",
    ]);
    assert!(!run.stdout.contains("from-the-shell"), "{}", run.stdout);
}

#[test]
fn a_directory_terminal_shows_the_directory_read_only_at_src_in_the_given_container() {
    let (_registry, image) = fixtures::served_busybox();
    let tanto = Tanto::new();
    let tmux = Tmux::tanto(
        &tanto,
        &[
            "core",
            "directory",
            "with-new-file",
            "--path=notes/todo.txt",
            "--contents=write the tests",
            "terminal",
            &format!("--container={image}"),
        ],
    );
    tmux.wait_for_shell("ready");
    tmux.type_line("pwd; cat notes/todo.txt; echo; touch /src/new || echo read-only");
    tmux.wait_for("the directory at /src", |s| {
        s.contains("\n/src") && s.contains("\nwrite the tests") && s.contains("\nread-only")
    });
    tmux.type_line("exit");
    let done = tmux.wait_for_exit();
    assert!(done.contains("EXIT=0"), "{done}");
    assert!(done.contains("Directory@xxh3:"), "{done}");
}

#[test]
fn interactive_opens_a_shell_where_a_step_failed_then_reports_the_failure() {
    let (_registry, image) = fixtures::served_busybox();
    let tanto = Tanto::new();
    let address = format!("--address={image}");
    let tmux = Tmux::tanto(
        &tanto,
        &[
            "core",
            "-i",
            "container",
            "from",
            &address,
            "with-exec",
            "--args=sh,-c,echo half-done > /left-behind; echo giving up; exit 5",
            "stdout",
        ],
    );
    let screen = tmux.wait_for("the banner", |s| s.contains("failed with exit code 5"));
    assert!(screen.contains("a shell in its container"), "{screen}");
    tmux.wait_for_shell("debugging");
    // What the failed command left is there.
    tmux.type_line("cat /left-behind");
    tmux.wait_for("the failed step's file", |s| s.contains("\nhalf-done"));
    tmux.type_line("exit");
    let done = tmux.wait_for_exit();
    assert!(done.contains("EXIT=5"), "the step's exit code:\n{done}");
    assert!(done.contains("giving up"), "the failure's output:\n{done}");
    tanto.assert_no_temp_leftovers();
}

/// `tanto ARGS` with no terminal at all (a new session, stdin from
/// /dev/null), as in CI: its stderr, after it failed.
fn fails_without_terminal(tanto: &Tanto, args: &[&str]) -> String {
    use std::os::unix::process::CommandExt as _;
    let mut command = tanto.command(args);
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let out = command.stdin(std::process::Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    stderr
}

#[test]
fn terminal_and_interactive_without_a_terminal_say_what_is_missing() {
    let (_registry, image) = fixtures::served_busybox();
    let tanto = Tanto::new();
    let address = format!("--address={image}");
    let stderr =
        fails_without_terminal(&tanto, &["core", "container", "from", &address, "terminal"]);
    assert!(stderr.contains("needs a terminal"), "{stderr}");
    let stderr = fails_without_terminal(
        &tanto,
        &["core", "-i", "container", "from", &address, "sync"],
    );
    assert!(
        stderr.contains("-i/--interactive") && stderr.contains("needs a terminal"),
        "{stderr}"
    );
}
