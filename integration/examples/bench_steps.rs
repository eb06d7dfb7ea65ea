//! Per-step benchmarks of issue 3, run by `bench/steps`: the uncached cost of
//! a `true` step, and a whole `tanto` process re-running a fully cached
//! 20-step pipeline. Release builds, run rootless as the unprivileged test
//! user against the Debian fixture in a loopback registry. Prints medians.
#![allow(clippy::print_stdout)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
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
    let steps = release_example("steps");
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
        per_step.push(parse_per_step(&line));
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

/// `N steps in X (Y per step); …` → Y.
fn parse_per_step(line: &str) -> Duration {
    let inner = line
        .split('(')
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap();
    let (value, unit) = inner.split_at(inner.find(|c: char| c.is_alphabetic()).unwrap());
    let value: f64 = value.parse().unwrap();
    match unit {
        "ms" => Duration::from_secs_f64(value / 1e3),
        "s" => Duration::from_secs_f64(value),
        "µs" => Duration::from_secs_f64(value / 1e6),
        other => panic!("unit {other} in {line}"),
    }
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn release_example(name: &str) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(workspace)
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "engine",
            "--example",
            name,
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let dir = std::env::temp_dir().join(format!("tanto-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let copy = dir.join(name);
    std::fs::copy(workspace.join("target/release/examples").join(name), &copy).unwrap();
    copy
}
