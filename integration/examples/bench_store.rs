//! The store's metadata at scale (issue 15), run by `bench/store`: `tanto
//! du` and `tanto prune --all` as whole processes on a store of 10,000
//! entries, as the unprivileged test user, release build. The entries are
//! written as files (step results of 1 kB each) and found by the metadata's
//! repair on the first open, which is timed too. Then side by side with
//! podman on the same data: busybox and `SIDE_BY_SIDE` step results of 1 kB
//! each (podman: as many containers run without `--rm`), `tanto du` against
//! `podman system df` and `tanto prune --all` against `podman system prune
//! --all --force`. Prints medians.
#![allow(clippy::print_stdout)]

#[allow(dead_code)]
#[path = "common/bench.rs"]
mod bench;
#[path = "../tests/end_to_end/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::tanto::Tanto;

const ENTRIES: usize = 10_000;

fn main() {
    let rounds = bench::rounds(5);
    let (tanto_binary, _) = bench::static_tanto_and_steps();
    let mut first_open = Vec::new();
    let mut du = Vec::new();
    let mut prune = Vec::new();
    let mut rm_rf = Vec::new();
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
        // The floor: the same files removed by `rm -rf`, as their owner.
        fill(&tanto, round);
        let snapshots = tanto.store().join("snapshots");
        let started = Instant::now();
        let out = tanto
            .command_for(Path::new("rm"), &["-rf", snapshots.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success());
        rm_rf.push(started.elapsed());
    }
    println!("| {ENTRIES} entries, whole process (median) | tanto |");
    println!("|---|---|");
    println!(
        "| first open: the metadata repaired from the files | {:.0} ms |",
        ms(median(first_open))
    );
    println!("| `tanto du` | {:.0} ms |", ms(median(du)));
    println!("| `tanto prune --all` | {:.0} ms |", ms(median(prune)));
    println!(
        "| the floor: `rm -rf` of the same files | {:.0} ms |",
        ms(median(rm_rf))
    );
    side_by_side_with_podman(&tanto_binary, rounds);
}

const SIDE_BY_SIDE: usize = 100;

/// `du` and `prune` of tanto and podman on the same data, whole processes.
fn side_by_side_with_podman(tanto_binary: &Path, rounds: usize) {
    let image = &support::fixtures::served_busybox().1;
    let script = |n: usize| format!("head -c 1000 /dev/zero > /out; echo {n}");
    let mut times = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for round in 0..rounds {
        let tanto = Tanto::new();
        let home = tanto.home().display().to_string();
        let timed = |program: &Path, args: &[&str]| {
            let started = Instant::now();
            let out = tanto.command_for(program, args).output().unwrap();
            assert!(
                out.status.success(),
                "{} {args:?}: {}",
                program.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            started.elapsed()
        };
        let podman = format!(
            "XDG_RUNTIME_DIR={home}/podman/xdg podman --root {home}/podman/root \
             --runroot {home}/podman/run --storage-driver overlay --cgroup-manager cgroupfs \
             --events-backend file"
        );
        let sh = |script: &str| timed(Path::new("/bin/sh"), &["-c", script]);
        // The same data in both: the image and SIDE_BY_SIDE results.
        let steps: String = (0..SIDE_BY_SIDE)
            .map(|n| {
                format!(
                    r#"s{n}: container {{ from(address: "{image}") {{ withExec(args: ["sh", "-c", {}]) {{ stdout }} }} }} "#,
                    serde_json::to_string(&format!("{} {round}", script(n))).unwrap()
                )
            })
            .collect();
        let document = tanto.write_home_file("fill.graphql", &format!("{{ {steps} }}"));
        timed(tanto_binary, &["query", document.to_str().unwrap()]);
        sh(&format!(
            "mkdir -p {home}/podman/xdg && {podman} pull -q --tls-verify=false {image} >/dev/null \
             && for n in $(seq {SIDE_BY_SIDE}); do \
                  {podman} --runtime runc run --network host {image} sh -c 'head -c 1000 /dev/zero > /out' >/dev/null || exit 1; \
                done"
        ));
        times[0].push(timed(tanto_binary, &["du"]));
        times[1].push(sh(&format!("{podman} system df >/dev/null")));
        times[2].push(timed(tanto_binary, &["prune", "--all"]));
        times[3].push(sh(&format!(
            "{podman} system prune --all --force >/dev/null"
        )));
    }
    let [tanto_du, podman_df, tanto_prune, podman_prune] = times.map(median);
    println!();
    println!("| busybox and {SIDE_BY_SIDE} step results (median) | tanto | podman |");
    println!("|---|---|---|");
    println!(
        "| `tanto du` / `podman system df` | {:.0} ms | {:.0} ms |",
        ms(tanto_du),
        ms(podman_df)
    );
    println!(
        "| `tanto prune --all` / `podman system prune --all --force` | {:.0} ms | {:.0} ms |",
        ms(tanto_prune),
        ms(podman_prune)
    );
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
