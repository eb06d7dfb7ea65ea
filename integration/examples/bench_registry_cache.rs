//! The registry cache between runners (issue 19), run by
//! `bench/registry-cache`: whole `tanto query` processes as the unprivileged
//! test user, the static release build (or `BENCH_TANTO=PATH`), medians.
//!
//! A 20-step chain on the Debian fixture, its last step's stdout asked for.
//! Runner A runs it once with `--cache-to`; then, each round:
//! - runner A exports again, every entry already in the registry;
//! - a fresh runner B runs it with `--cache-from`, once answering with the
//!   last step's stdout, once exporting the last step's root file system;
//! - beside them, a fresh runner pulls the same layers (the chain, which
//!   runner A published as an image once), and one runs the chain cold
//!   with no cache: the floor and the alternative; and runner A,
//!   whose store has everything, exports the last root file system again:
//!   what writing the export costs by itself.
#![allow(clippy::print_stdout)]

#[allow(dead_code)]
#[path = "common/bench.rs"]
mod bench;
#[path = "../tests/end_to_end/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::registry::Registry;
use support::tanto::Tanto;

const STEPS: usize = 20;

fn main() {
    let rounds = bench::rounds(3);
    let binary = match std::env::var_os("BENCH_TANTO") {
        Some(path) => bench::readable_copy(Path::new(&path)),
        None => bench::static_tanto_and_steps().0,
    };
    let registry = Registry::start();
    let image = support::fixtures::serve_debian(&registry);
    let spec = format!("type=registry,ref={}/bench/cache", registry.host());
    let (to, from) = (format!("--cache-to={spec}"), format!("--cache-from={spec}"));
    let stdout = chain(&image, "stdout");
    let export = chain(&image, "rootfs { export(path: \"out\") }");

    // The same layers as an image: what pulling them alone costs.
    let published = format!("{}/bench/final:latest", registry.host());
    let publish = chain(&image, &format!("publish(address: \"{published}\")"));

    let a = Tanto::new();
    run(&a, &binary, &[&to, "query"], &stdout);
    run(&a, &binary, &["query"], &publish);
    let mut timings: [Vec<Duration>; 6] = Default::default();
    let mut blob_bytes = Vec::new();
    // Nothing is deleted until the end: on ext4 without a journal (this
    // kind of machine), creating a file skips every inode freed in the
    // last 30 s, one lookup each, so a run just after a large delete pays
    // for it (measured: the same export 0.92 s quiet, 2.95 s right after
    // removing the previous one). The bench would measure its own cleanup.
    let mut runners: Vec<Tanto> = Vec::new();
    for round in 0..rounds {
        timings[0].push(run(&a, &binary, &[&to, "query"], &stdout));
        let before = served_blob_bytes(&registry);
        timings[1].push(run(
            fresh(&mut runners),
            &binary,
            &[&from, "query"],
            &stdout,
        ));
        blob_bytes.push(served_blob_bytes(&registry) - before);
        timings[2].push(run(
            fresh(&mut runners),
            &binary,
            &[&from, "query"],
            &export,
        ));
        timings[3].push(run(fresh(&mut runners), &binary, &["pull", &published], ""));
        timings[4].push(run(fresh(&mut runners), &binary, &["query"], &stdout));
        if round > 0 {
            let aside = a.home().join(format!("out-{round}"));
            std::fs::rename(a.home().join("out"), aside).unwrap();
        }
        timings[5].push(run(&a, &binary, &["query"], &export));
    }
    let [export_again, b_stdout, b_export, pull, cold, warm_export] = timings.map(bench::median);
    blob_bytes.sort();
    println!("| {STEPS}-step chain, whole `tanto query` (median of {rounds}) | time | target (issue 19) |");
    println!("|---|---|---|");
    println!(
        "| runner A: `--cache-to`, every entry in the registry already | {:.2} s | ≤ 1 s |",
        export_again.as_secs_f64()
    );
    println!(
        "| runner B: `--cache-from`, the last step's stdout | {:.2} s, {} MB of blobs fetched | ≤ 1 s above the round trips, no layer |",
        b_stdout.as_secs_f64(),
        blob_bytes[blob_bytes.len() / 2] / 1_000_000
    );
    println!(
        "| runner B: `--cache-from`, the last root file system exported | {:.2} s | ≤ 1.2 × the pull ({:.2} s) |",
        b_export.as_secs_f64(),
        pull.as_secs_f64() * 1.2
    );
    println!(
        "| `tanto pull` of the same layers (the chain published as an image) | {:.2} s | |",
        pull.as_secs_f64()
    );
    println!(
        "| the chain cold, no cache | {:.2} s | |",
        cold.as_secs_f64()
    );
    println!(
        "| runner A, everything in its store: the same export | {:.2} s | |",
        warm_export.as_secs_f64()
    );
}

/// A runner with an empty store, kept until the bench ends.
fn fresh(runners: &mut Vec<Tanto>) -> &Tanto {
    runners.push(Tanto::new());
    runners.last().unwrap()
}

/// The chain's document, asking the last step for `field`.
fn chain(image: &str, field: &str) -> String {
    let mut document = format!("{{ container {{ from(address: \"{image}\") {{ ");
    for n in 1..=STEPS {
        document.push_str(&format!(
            "withExec(args: [\"sh\", \"-c\", \"echo {n} > /step-{n}; head -c 100000 /dev/urandom > /noise-{n}\"]) {{ "
        ));
    }
    document.push_str(field);
    document.push_str(&" }".repeat(STEPS + 3));
    document
}

/// One whole tanto process as the test user; its wall time.
fn run(tanto: &Tanto, binary: &Path, args: &[&str], document: &str) -> Duration {
    let mut args = args.to_vec();
    let file;
    if !document.is_empty() {
        file = tanto.write_home_file("bench.graphql", document);
        args.push(file.to_str().unwrap());
    }
    let started = Instant::now();
    let out = tanto.command_for(binary, &args).output().unwrap();
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "tanto {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// Bytes of blobs the registry has served so far, from its access log.
fn served_blob_bytes(registry: &Registry) -> u64 {
    registry
        .log()
        .lines()
        .filter(|l| l.contains("\"GET /v2/") && l.contains("/blobs/sha256:"))
        .filter_map(|l| {
            // Combined log format: … "GET …" 200 BYTES "referer" …
            let after = l.split("\" ").nth(1)?;
            after.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}
