//! The store's metadata at scale (issue 15), run by `bench/store`: `tanto
//! du` and `tanto prune --all` as whole processes on a store of 10,000
//! entries, as the unprivileged test user, release build. The entries are
//! written as files (step results of 1 kB each) and found by the metadata's
//! repair on the first open, which is timed too. Prints medians.
#![allow(clippy::print_stdout)]

#[allow(dead_code)]
#[path = "common/bench.rs"]
mod bench;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::tanto::Tanto;

const ENTRIES: usize = 10_000;

fn main() {
    let rounds = bench::rounds(5);
    let (tanto_binary, _) = bench::static_tanto_and_steps();
    let mut first_open = Vec::new();
    let mut du = Vec::new();
    let mut prune = Vec::new();
    for round in 0..rounds {
        let tanto = Tanto::new();
        fill(&tanto, round);
        let run = |args: &[&str]| {
            let started = Instant::now();
            let out = tanto.command_for(&tanto_binary, args).output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            (
                started.elapsed(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        };
        let (took, _) = run(&["du"]);
        first_open.push(took);
        for _ in 0..3 {
            let (took, out) = run(&["du", "--json"]);
            let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(listed["entries"].as_u64().unwrap() as usize, ENTRIES);
            du.push(took);
        }
        let (took, out) = run(&["prune", "--all"]);
        assert!(out.contains(&format!("in {ENTRIES} entries")), "{out}");
        prune.push(took);
    }
    println!("| {ENTRIES} entries, whole process (median) | tanto |");
    println!("|---|---|");
    println!(
        "| first open: the metadata repaired from the files | {:.0} ms |",
        ms(median(first_open))
    );
    println!("| `tanto du` | {:.0} ms |", ms(median(du)));
    println!("| `tanto prune --all` | {:.0} ms |", ms(median(prune)));
}

/// `ENTRIES` step results of 1 kB, written as a committed store holds them,
/// owned by the test user (root in tanto's namespace).
fn fill(tanto: &Tanto, round: usize) {
    let snapshots = tanto.store().join("snapshots");
    for n in 0..ENTRIES {
        let dir = snapshots.join(format!("exec-{round:04}{n:060}"));
        std::fs::create_dir_all(dir.join("fs")).unwrap();
        std::fs::write(dir.join("fs/out"), vec![b'x'; 1000]).unwrap();
        std::fs::write(
            dir.join("result.json"),
            br#"{"exit_code":0,"args":["true"]}"#,
        )
        .unwrap();
        std::fs::write(dir.join("stdout"), b"").unwrap();
        std::fs::write(dir.join("stderr"), b"").unwrap();
    }
    let owner = format!("{}:{}", tanto.run_as.uid, tanto.run_as.gid);
    let status = std::process::Command::new("chown")
        .args(["-R", &owner])
        .arg(tanto.store())
        .status()
        .unwrap();
    assert!(status.success());
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
