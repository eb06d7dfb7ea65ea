//! Careless and hostile steps, through `tanto query` as a user writes them,
//! rootless as the unprivileged test user: the signal state a step starts
//! with, users the namespace does not map, strings execve cannot take,
//! links that dangle in the image, and `tanto run` killed outright.

use crate::support;

use std::time::{Duration, Instant};

use support::fixtures;
use support::registry::Registry;
use support::tanto::Tanto;

/// One user's tanto with the Debian image served to it.
struct Debian {
    _registry: Registry,
    image: String,
    tanto: Tanto,
}

impl Debian {
    fn new() -> Debian {
        let registry = Registry::start();
        let image = fixtures::serve_debian(&registry);
        Debian {
            _registry: registry,
            image,
            tanto: Tanto::new(),
        }
    }

    /// `{ container { from(image) { CHAIN } } }`: whether it answered, and
    /// the JSON answer.
    fn query(&self, chain: &str) -> (bool, serde_json::Value) {
        self.tanto.query(&format!(
            r#"{{ container {{ from(address: "{}") {{ {chain} }} }} }}"#,
            self.image
        ))
    }

    /// The first error's message of a failed answer.
    fn error_of(&self, chain: &str) -> String {
        let (ok, answer) = self.query(chain);
        assert!(!ok, "should have failed: {answer:#}");
        answer["errors"][0]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message: {answer:#}"))
            .to_owned()
    }
}

/// A GraphQL string literal.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

#[test]
fn steps_start_with_default_signals_so_pipes_end() {
    let debian = Debian::new();
    // The step's process reads its own state, exec'd as the step: a shell
    // cannot be asked. dash blocks every signal around each vfork and clears
    // its mask after, so a child reading /proc/<shell>/status sees either
    // that passing mask (under load) or an empty one, never what the shell
    // was started with. `timeout` guards against the hang this test is about.
    let (ok, answer) = debian.query(
        r#"signals: withExec(args: ["grep", "-E", "^Sig(Ign|Blk):", "/proc/self/status"]) {
             stdout stderr exitCode }
           pipes: withExec(args: ["sh", "-c",
             "timeout 60 sh -c 'yes | head -n 2; seq 1 100000 | head -1'"],
             expect: ANY) { stdout stderr exitCode }"#,
    );
    assert!(ok, "{answer:#}");
    let from = &answer["data"]["container"]["from"];
    for (name, stdout) in [
        (
            "signals",
            "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
        ),
        ("pipes", "y\ny\n1\n"),
    ] {
        let exec = &from[name];
        assert_eq!(exec["stdout"], stdout, "{name}: {answer:#}");
        assert_eq!(exec["stderr"], "", "{name}: {answer:#}");
        assert_eq!(exec["exitCode"], 0, "{name}: {answer:#}");
    }
}

#[test]
fn a_user_the_namespace_does_not_map_is_refused_never_run_as_root() {
    let debian = Debian::new();
    // The test user's namespace maps itself as 0 and 65536 subordinate ids.
    for (user, kind, id) in [
        ("4294967295", "uid", "4294967295"),
        ("1000:4294967295", "gid", "4294967295"),
        ("70000", "uid", "70000"),
        ("1000:99999999999", "gid", "99999999999"),
    ] {
        let message = debian.error_of(&format!(
            r#"withUser(name: "{user}") {{ withExec(args: ["id"]) {{ stdout }} }}"#
        ));
        for needle in [
            &format!("{kind} {id} is not mapped"),
            "0-65536",
            &format!("/etc/sub{kind}"),
        ] {
            assert!(message.contains(needle), "{user}: {message}");
        }
    }
    let (ok, answer) = debian.query(
        r#"withUser(name: "65536:65535") { withExec(args: ["sh", "-c", "id -u; id -g"]) { stdout } }"#,
    );
    assert!(ok, "{answer:#}");
    assert_eq!(
        answer["data"]["container"]["from"]["withUser"]["withExec"]["stdout"],
        "65536\n65535\n"
    );
}

#[test]
fn nul_bytes_and_bad_variable_names_are_refused_naming_them() {
    let debian = Debian::new();
    for (chain, needles) in [
        (
            r#"withExec(args: ["echo", "a\u0000b"]) { stdout }"#,
            &["argument 1", "NUL byte"][..],
        ),
        (
            r#"withEnvVariable(name: "K", value: "x\u0000y") { withExec(args: ["true"]) { stdout } }"#,
            &["environment variable \"K\"", "NUL byte"],
        ),
        (
            r#"withEnvVariable(name: "", value: "v") { withExec(args: ["true"]) { stdout } }"#,
            &["environment variable name \"\"", "it is empty"],
        ),
        (
            r#"withEnvVariable(name: "A=B", value: "v") { withExec(args: ["true"]) { stdout } }"#,
            &["environment variable name \"A=B\"", "contains `=`"],
        ),
        (
            r#"withWorkdir(path: "/w\u0000x") { withExec(args: ["true"]) { stdout } }"#,
            &["working directory", "NUL byte"],
        ),
        (
            r#"withUser(name: "ro\u0000ot") { withExec(args: ["true"]) { stdout } }"#,
            &["user", "NUL byte"],
        ),
    ] {
        let message = debian.error_of(chain);
        for needle in needles {
            assert!(message.contains(needle), "{chain}: {message}");
        }
    }
}

#[test]
fn a_variable_or_argument_too_large_for_execve_says_which_and_what_to_do() {
    let debian = Debian::new();
    let big = "x".repeat(200 * 1024);
    let message = debian.error_of(&format!(
        r#"withEnvVariable(name: "BIG", value: {}) {{ withExec(args: ["true"]) {{ stdout }} }}"#,
        quoted(&big)
    ));
    for needle in [
        "environment variable \"BIG\"",
        "204804 bytes",
        "withNewFile",
    ] {
        assert!(message.contains(needle), "{message}");
    }
    assert!(message.len() < 2000, "the value is not repeated: {message}");
    let message = debian.error_of(&format!(
        r#"withExec(args: ["echo", {}]) {{ stdout }}"#,
        quoted(&big)
    ));
    assert!(message.contains("argument 1"), "{message}");
    assert!(message.contains("withNewFile"), "{message}");
    // The step is named by the start of its command, not all 200 KB of it.
    assert!(message.len() < 2000, "{message}");
}

#[test]
fn workdirs_and_mounts_below_a_dangling_link_are_made_at_its_target() {
    let debian = Debian::new();
    // As images have them: /work -> /data/work with no /data; a relative
    // link that climbs above the root stays inside it.
    let (ok, answer) = debian.query(
        r#"withExec(args: ["sh", "-c", "ln -s /data/work /work && ln -s ../../../../up/deep /climb"]) {
             withWorkdir(path: "/work/x") { withMountedTemp(path: "/work/tmp") {
             withExec(args: ["sh", "-c", "pwd -P; touch /work/tmp/t && echo mounted"]) {
             withWorkdir(path: "/climb/y") { withExec(args: ["pwd", "-P"]) { stdout } } } } } }"#,
    );
    assert!(ok, "{answer:#}");
    let first = &answer["data"]["container"]["from"]["withExec"]["withWorkdir"]["withMountedTemp"]
        ["withExec"];
    assert_eq!(first["withWorkdir"]["withExec"]["stdout"], "/up/deep/y\n");
    let (ok, answer) = debian.query(
        r#"withExec(args: ["sh", "-c", "ln -s /data/work /work"]) {
             withWorkdir(path: "/work/x") { withMountedTemp(path: "/work/tmp") {
             withExec(args: ["sh", "-c", "pwd -P; touch /work/tmp/t && echo mounted"]) { stdout } } } }"#,
    );
    assert!(ok, "{answer:#}");
    assert_eq!(
        answer["data"]["container"]["from"]["withExec"]["withWorkdir"]["withMountedTemp"]
            ["withExec"]["stdout"],
        "/data/work/x\nmounted\n"
    );
}

#[test]
fn killing_tanto_run_takes_the_program_and_the_session_with_it() {
    let tanto = Tanto::new();
    // A program that never talks to the session: only its parent tells it
    // to stop.
    let mut child = tanto
        .command(&["run", "--", "sleep", "3141.5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let user = tanto.run_as.uid.to_string();
    let running = |pattern: &str| {
        let out = std::process::Command::new("pgrep")
            .args(["-U", &user, "-f", pattern])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while running("^sleep 3141.5").is_empty() {
        assert!(Instant::now() < deadline, "the program never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let session = running(tanto.home().to_str().unwrap());
    assert!(!session.is_empty(), "no session found");
    child.kill().unwrap();
    child.wait().unwrap();
    // Generous: a hang guard, not a timing claim.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = (
            running("^sleep 3141.5"),
            running(tanto.home().to_str().unwrap()),
        );
        if left.0.is_empty() && left.1.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            for pid in left.0.lines() {
                // SAFETY: kill(2) of the program this test started.
                unsafe { libc::kill(pid.parse().unwrap(), libc::SIGKILL) };
            }
            panic!(
                "outlived a SIGKILLed tanto run: program {:?}, session {:?}",
                left.0, left.1
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
