//! Services (issue 18), run by `bench/services`: what binding a running
//! service adds to a step, and how long a busybox httpd takes from `start`
//! until its port answers, beside an unbound step (the process's own
//! start-up in a container). Whole `tanto run` sessions of the Python SDK
//! as the unprivileged test user, the static release build (or
//! `BENCH_TANTO=PATH`); medians over rounds, each a fresh store.
#![allow(clippy::print_stdout)]

#[allow(dead_code)]
#[path = "common/bench.rs"]
mod bench;
#[path = "../tests/end_to_end/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use support::tanto::Tanto;

/// Steps of each kind per round.
const STEPS: usize = 20;

fn main() {
    let rounds = bench::rounds(5);
    let binary = match std::env::var_os("BENCH_TANTO") {
        Some(path) => bench::readable_copy(Path::new(&path)),
        None => bench::static_tanto_and_steps().0,
    };
    let python = support::fixtures::python_sdk();
    let (_registry, image) = support::fixtures::served_busybox();
    let mut timings: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for _ in 0..rounds {
        let tanto = Tanto::new();
        let script = tanto.write_home_file("bench_services.py", include_str!("bench_services.py"));
        let out = tanto
            .command_for(
                &binary,
                &[
                    "run",
                    "--",
                    python.to_str().unwrap(),
                    script.to_str().unwrap(),
                    image,
                    &STEPS.to_string(),
                ],
            )
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in stdout.lines() {
            let Some((name, ms)) = line.split_once(": ") else {
                continue;
            };
            let ms: f64 = ms.trim().parse().unwrap();
            timings
                .entry(name.to_owned())
                .or_default()
                .push(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let median = |name: &str| bench::median(timings[name].clone()).as_secs_f64() * 1000.0;
    let (unbound, bound, start) = (
        median("unbound step"),
        median("bound step"),
        median("start until healthy"),
    );
    println!(
        "| services, `tanto run` + Python SDK (median of {rounds}) | time | target (issue 18) |"
    );
    println!("|---|---|---|");
    println!("| an uncached `true` step, no binding | {unbound:.1} ms | |");
    println!(
        "| the same step bound to a running service | {bound:.1} ms (+{:.1} ms) | ≤ +5 ms |",
        bound - unbound
    );
    println!(
        "| busybox httpd: `start` until its port answers | {start:.1} ms (+{:.1} ms over a step) | ≤ +50 ms over the process's start-up |",
        start - unbound
    );
}
