//! Per-step benchmarks of issue 3, run by `bench/steps`: the uncached cost of
//! a `true` step, and a whole `tanto` process re-running a fully cached
//! 20-step pipeline. Release builds, run rootless as the unprivileged test
//! user against the Debian fixture in a loopback registry. Prints medians.
//!
//! Each is also measured with the copying snapshotter
//! (`TANTO_SNAPSHOTTER=copy`), the fallback where overlay cannot mount.
//!
//! With `BENCH_BASELINE_STEPS=PATH` (a `steps` example built from another
//! commit), both are measured alternately in every round, each with a store
//! of its own, and printed side by side: how a change moved the numbers.
#![allow(clippy::print_stdout)]

// bench_compare shares this module and uses other parts of it.
#[allow(dead_code)]
#[path = "common/bench.rs"]
mod bench;
#[path = "../tests/end_to_end/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::image::Image;
use support::registry::Registry;
use support::tanto::Tanto;

/// Rounds unless `BENCH_ROUNDS` says otherwise (the copying snapshotter
/// makes a round long on a file system without reflinks).
const ROUNDS: usize = 11;

fn rounds() -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ROUNDS)
}

fn main() {
    let debian = support::fixtures::debian();
    let registry = Registry::start();
    let reference = format!("{}/bench/debian:bookworm", registry.host());
    Image::new(vec![debian.layer.clone()]).push(&registry, "bench/debian", "bookworm");
    let steps = bench::release_binary(&["-p", "engine", "--example", "steps"], "examples/steps");
    let mut contenders = vec![Contender::new("this tree", steps.clone())];
    // The copying snapshotter (issue 21), on the same binary.
    let mut copying = Contender::new("this tree, copying (TANTO_SNAPSHOTTER=copy)", steps);
    copying.store.env("TANTO_SNAPSHOTTER", "copy");
    contenders.push(copying);
    if let Ok(baseline) = std::env::var("BENCH_BASELINE_STEPS") {
        let copy = bench::readable_copy_named(Path::new(&baseline), "baseline-steps");
        contenders.push(Contender::new("baseline", copy));
    }
    for contender in &contenders {
        // Warm: the image pulled and the 20 cached steps committed.
        contender.run(&[&reference, "20", "cached"]);
    }
    let rounds = rounds();
    for round in 0..rounds {
        // Alternate the measurements, and the contenders, within each round.
        for contender in &mut contenders {
            let nonce = format!("fresh-{round}-{}", std::process::id());
            let (_, line) = contender.run(&[&reference, "10", &nonce]);
            contender.per_step.push(bench::per_step(&line));
            let (took, line) = contender.run(&[&reference, "20", "cached"]);
            assert!(line.contains("0 ran, 20 cached"), "{line}");
            contender.cached_process.push(took);
        }
    }
    let names: Vec<&str> = contenders.iter().map(|c| c.name).collect();
    println!(
        "| measurement (median of {rounds}) | {} |",
        names.join(" | ")
    );
    println!("|---|{}", "---|".repeat(names.len()));
    let row = |label: &str, cells: Vec<Duration>| {
        let cells: Vec<String> = cells.iter().map(|d| format!("{:.1} ms", ms(*d))).collect();
        println!("| {label} | {} |", cells.join(" | "));
    };
    row(
        "uncached `withExec([\"true\"])`, per step (chain of 10)",
        contenders
            .iter_mut()
            .map(|c| median(&mut c.per_step))
            .collect(),
    );
    row(
        "fully cached 20-step pipeline, whole process",
        contenders
            .iter_mut()
            .map(|c| median(&mut c.cached_process))
            .collect(),
    );
}

/// One `steps` binary, its own store, and what it measured.
struct Contender {
    name: &'static str,
    steps: PathBuf,
    store: Tanto,
    per_step: Vec<Duration>,
    cached_process: Vec<Duration>,
}

impl Contender {
    fn new(name: &'static str, steps: PathBuf) -> Contender {
        Contender {
            name,
            steps,
            store: Tanto::new(),
            per_step: Vec::new(),
            cached_process: Vec::new(),
        }
    }

    /// Runs the binary; how long the whole process took, and its stdout.
    fn run(&self, args: &[&str]) -> (Duration, String) {
        let started = Instant::now();
        let out = self.store.command_for(&self.steps, args).output().unwrap();
        let took = started.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (took, String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
