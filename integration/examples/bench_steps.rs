//! Per-step benchmarks of issue 3, run by `bench/steps`: the uncached cost of
//! a `true` step, and a whole `tanto` process re-running a fully cached
//! 20-step pipeline. Release builds, run rootless as the unprivileged test
//! user against the Debian fixture in a loopback registry. Prints medians.
#![allow(clippy::print_stdout)]

// bench_compare shares this module and uses other parts of it.
#[allow(dead_code)]
#[path = "common/bench.rs"]
mod bench;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::image::Image;
use support::registry::Registry;
use support::tanto::Tanto;

const ROUNDS: usize = 11;

fn main() {
    let debian = support::fixtures::debian();
    let registry = Registry::start();
    let reference = format!("{}/bench/debian:bookworm", registry.host());
    Image::new(vec![debian.layer.clone()]).push(&registry, "bench/debian", "bookworm");
    let steps = bench::release_binary(&["-p", "engine", "--example", "steps"], "examples/steps");
    let tanto = Tanto::new();
    let run = |args: &[&str]| -> (Duration, String) {
        let started = Instant::now();
        let out = tanto.command_for(&steps, args).output().unwrap();
        let took = started.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (took, String::from_utf8_lossy(&out.stdout).into_owned())
    };
    // Warm: the image pulled and the 20 cached steps committed.
    run(&[&reference, "20", "cached"]);

    let mut per_step = Vec::new();
    let mut cached_process = Vec::new();
    for round in 0..ROUNDS {
        // Alternate the two measurements within each round.
        let (_, line) = run(&[
            &reference,
            "10",
            &format!("fresh-{round}-{}", std::process::id()),
        ]);
        per_step.push(bench::per_step(&line));
        let (took, line) = run(&[&reference, "20", "cached"]);
        assert!(line.contains("0 ran, 20 cached"), "{line}");
        cached_process.push(took);
    }
    println!("| measurement | median of {ROUNDS} |");
    println!("|---|---|");
    println!(
        "| uncached `withExec([\"true\"])`, per step (chain of 10) | {:.1} ms |",
        ms(median(&mut per_step))
    );
    println!(
        "| fully cached 20-step pipeline, whole process | {:.1} ms |",
        ms(median(&mut cached_process))
    );
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
