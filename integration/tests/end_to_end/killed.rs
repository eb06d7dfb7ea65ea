//! Killed at any instant: tanto gets SIGKILL at a random moment (uniform
//! over the operation's duration) of a cold pull, a run of uncached steps, a
//! publish and a prune, as a CI runner's timeout would. After each kill the
//! store must still be sound — every entry the metadata lists is there and
//! whole, nothing half-made is trusted, no process of the killed run is left
//! — and the same operation, run again, must succeed with the right result.
//! `TANTO_KILL_TRIALS` sets the trials per operation (20 by default).

#![allow(clippy::print_stderr)] // the seed of the kill instants, for a rerun

use crate::support;

use std::time::{Duration, Instant};

use support::fixtures;
use support::tanto::Tanto;

fn trials() -> usize {
    std::env::var("TANTO_KILL_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20)
}

/// A small xorshift: the instants need spreading, not cryptography.
struct Instants(u64);

impl Instants {
    fn new() -> Instants {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("kill instants seeded with {seed}");
        Instants(seed)
    }

    /// Uniform in `[0, within)`.
    fn next(&mut self, within: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        within.mul_f64((self.0 % 1_000_000) as f64 / 1_000_000.0)
    }
}

/// How long `args` takes when nobody kills it (it must succeed).
fn duration_of(tanto: &Tanto, args: &[&str]) -> Duration {
    let started = Instant::now();
    tanto.ok(args);
    started.elapsed()
}

/// Runs `args` and kills it with SIGKILL `after` it started, as a CI
/// runner's timeout would: the user's process, and through
/// PR_SET_PDEATHSIG everything it started.
fn kill_after(tanto: &Tanto, args: &[&str], after: Duration) {
    let mut child = tanto
        .command(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let _ = child.kill();
    child.wait().unwrap();
}

/// The store is sound after a kill: its processes are gone, every entry
/// the metadata lists is on disk and whole, and nothing half-made is left
/// once a new tanto has opened it.
fn assert_sound(tanto: &Tanto) {
    tanto.wait_until_gone(Duration::from_secs(10));
    let du: serde_json::Value =
        serde_json::from_str(&tanto.ok(&["du", "--json", "--verbose"]).stdout).unwrap();
    let store = tanto.store();
    for entry in du["list"].as_array().unwrap() {
        let path = store.join(entry["id"].as_str().unwrap());
        assert!(path.exists(), "listed but gone: {entry:#}");
        match entry["kind"].as_str().unwrap() {
            "blob" | "cache-volume" => {}
            kind => assert!(path.join("fs").is_dir(), "{kind} without fs: {entry:#}"),
        }
        if entry["kind"] == "step-result" {
            let record = std::fs::read(path.join("result.json")).unwrap();
            serde_json::from_slice::<serde_json::Value>(&record).unwrap();
        }
    }
    // `du` opened the store: what dead processes left is swept.
    for tmp in ["snapshots/tmp", "content/tmp"] {
        let left: Vec<_> = std::fs::read_dir(store.join(tmp))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{tmp} still holds {left:?}");
    }
}

fn query_ok(tanto: &Tanto, document: &str) -> serde_json::Value {
    let (ok, answer) = tanto.query(document);
    assert!(ok, "{answer:#}");
    answer
}

#[test]
fn killed_cold_pulls_leave_a_sound_store_and_the_next_pull_succeeds() {
    let reference = &fixtures::served_busybox().1;
    let mut instants = Instants::new();
    let window = duration_of(&Tanto::new(), &["pull", reference]);
    for _ in 0..trials() {
        let tanto = Tanto::new();
        kill_after(&tanto, &["pull", reference], instants.next(window));
        assert_sound(&tanto);
        let pulled = tanto.ok(&["pull", reference]);
        assert!(pulled.stdout.contains("@sha256:"), "{}", pulled.stdout);
        assert_sound(&tanto);
    }
}

#[test]
fn killed_runs_of_uncached_steps_leave_a_sound_store_and_rerun_right() {
    let tanto = Tanto::new();
    let steps = |nonce: usize| {
        let document = format!(
            r#"{{ container {{ from(address: "{}") {{
                withExec(args: ["sh", "-c", "sleep 0.1; echo {nonce} > /a"]) {{
                withExec(args: ["sh", "-c", "sleep 0.1; cat /a > /b"]) {{
                withExec(args: ["sh", "-c", "sleep 0.1; cat /b"]) {{ stdout }} }} }} }} }} }}"#,
            fixtures::served_busybox().1
        );
        tanto.write_home_file("steps.graphql", &document)
    };
    let mut instants = Instants::new();
    let first = steps(usize::MAX);
    let window = duration_of(&tanto, &["query", first.to_str().unwrap()]);
    for trial in 0..trials() {
        let document = steps(trial);
        kill_after(
            &tanto,
            &["query", document.to_str().unwrap()],
            instants.next(window),
        );
        assert_sound(&tanto);
        let answer: serde_json::Value =
            serde_json::from_str(&tanto.ok(&["query", document.to_str().unwrap()]).stdout).unwrap();
        let out = answer.to_string();
        assert!(out.contains(&format!("{trial}\\n")), "{answer:#}");
    }
    assert_sound(&tanto);
}

#[test]
fn killed_publishes_leave_a_sound_store_and_the_next_publish_pulls_back_whole() {
    let (registry, image) = fixtures::served_busybox();
    let tanto = Tanto::new();
    let publish = |n: usize| {
        let document = format!(
            r#"{{ container {{ from(address: "{image}") {{ withNewFile(path: "/n", contents: "{n}") {{ publish(address: "{}/killed/app:{n}") }} }} }} }}"#,
            registry.host()
        );
        tanto.write_home_file("publish.graphql", &document)
    };
    let mut instants = Instants::new();
    let first = publish(usize::MAX);
    let window = duration_of(&tanto, &["query", first.to_str().unwrap()]);
    for trial in 0..trials() {
        let document = publish(trial);
        kill_after(
            &tanto,
            &["query", document.to_str().unwrap()],
            instants.next(window),
        );
        assert_sound(&tanto);
        let answer = query_ok(&tanto, &std::fs::read_to_string(&document).unwrap());
        let pinned = answer["data"]["container"]["from"]["withNewFile"]["publish"]
            .as_str()
            .unwrap()
            .to_owned();
        // What was published pulls back whole.
        let check = format!(
            r#"{{ container {{ from(address: "{pinned}") {{ file(path: "/n") {{ contents }} }} }} }}"#
        );
        let back = query_ok(&Tanto::new(), &check);
        assert_eq!(
            back["data"]["container"]["from"]["file"]["contents"],
            trial.to_string()
        );
    }
}

#[test]
fn killed_prunes_leave_a_sound_store_and_the_next_prune_finishes() {
    let image = &fixtures::served_busybox().1;
    let tanto = Tanto::new();
    let mut instants = Instants::new();
    // Fill the store (an image, four file operations, four steps), then
    // kill `prune --all` part way.
    let fill = |n: usize| {
        query_ok(
            &tanto,
            &format!(
                r#"{{ container {{ from(address: "{image}") {{
                withNewFile(path: "/a", contents: "{n}") {{ withExec(args: ["sh", "-c", "cat /a > /b"]) {{
                withNewFile(path: "/c", contents: "{n}") {{ withExec(args: ["sh", "-c", "cat /c > /d"]) {{
                withNewFile(path: "/e", contents: "{n}") {{ withExec(args: ["sh", "-c", "cat /e > /f"]) {{
                withNewFile(path: "/g", contents: "{n}") {{ withExec(args: ["cat", "/g"]) {{ stdout }} }} }} }} }} }} }} }} }} }} }}"#
            ),
        );
    };
    fill(usize::MAX);
    let window = duration_of(&tanto, &["prune", "--all"]);
    for trial in 0..trials() {
        fill(trial);
        kill_after(&tanto, &["prune", "--all"], instants.next(window));
        assert_sound(&tanto);
        tanto.ok(&["prune", "--all"]);
        let du: serde_json::Value =
            serde_json::from_str(&tanto.ok(&["du", "--json"]).stdout).unwrap();
        assert_eq!(du["entries"], 0, "{du:#}");
    }
}
