//! Dagger modules on tanto (issue 16), run by `bench/modules`: whole
//! `tanto call` processes as the unprivileged test user, the static
//! release build, medians. Dagger's published figures for a warm call are
//! 1.5 s and more; its engine is not on this machine to run beside.
#![allow(clippy::print_stdout)]

#[allow(dead_code)]
#[path = "common/bench.rs"]
mod bench;
#[path = "../tests/end_to_end/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::tanto::Tanto;

fn main() {
    let rounds = bench::rounds(5);
    let (tanto_binary, _) = bench::static_tanto_and_steps();
    let registry = support::registry::Registry::start();
    let python = support::fixtures::serve_python_slim(&registry);
    let mut tanto = Tanto::new();
    tanto.env("TANTO_PYTHON_IMAGE", &python);
    module(&tanto, 0);
    let call = |args: &[&str]| {
        let started = Instant::now();
        let out = tanto.command_for(&tanto_binary, args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    };
    // The runtime built and the types registered once, untimed.
    call(&["call", "-m", "bench", "hello", "--name=warm"]);
    let (mut warm, mut uncached, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        // A changed source file: uploaded, installed and registered again
        // (uv's cache and the base image are there), then called.
        module(&tanto, round);
        changed.push(call(&["call", "-m", "bench", "hello", "--name=warm"]));
        // The same call again: this version's types and result are kept.
        warm.push(call(&["call", "-m", "bench", "hello", "--name=warm"]));
        uncached.push(call(&["call", "-m", "bench", "fresh"]));
    }
    println!(
        "| Python module, whole `tanto call` (median of {rounds}) | tanto | target (issue 16) |"
    );
    println!("|---|---|---|");
    println!(
        "| warm `hello --name=x` (registration and result kept) | {:.0} ms | ≤ 150 ms |",
        ms(bench::median(warm))
    );
    println!("| uncached call of a built runtime (`cache=\"never\"`, no work) | {:.0} ms | ≤ 1 s above the work |", ms(bench::median(uncached)));
    println!(
        "| first call after a source change (image and uv cache present) | {:.1} s | ≤ 10 s |",
        bench::median(changed).as_secs_f64()
    );
}

/// The module `bench` in the test user's home; `version` changes a file.
fn module(tanto: &Tanto, version: usize) {
    tanto.write_home_file(
        "bench/dagger.json",
        r#"{"name": "bench", "sdk": {"source": "python"}}"#,
    );
    tanto.write_home_file(
        "bench/pyproject.toml",
        "[project]\nname = \"bench\"\nversion = \"0.1.0\"\nrequires-python = \">=3.11\"\ndependencies = [\"dagger-io\"]\n\n[build-system]\nrequires = [\"uv_build>=0.8.4,<0.9.0\"]\nbuild-backend = \"uv_build\"\n",
    );
    tanto.write_home_file(
        "bench/src/bench/__init__.py",
        "from .main import Bench as Bench\n",
    );
    tanto.write_home_file(
        "bench/src/bench/main.py",
        &format!(
            "# version {version}\nfrom dagger import function, object_type\n\n\n@object_type\nclass Bench:\n    @function\n    def hello(self, name: str) -> str:\n        return f\"Hello, {{name}}!\"\n\n    @function(cache=\"never\")\n    def fresh(self) -> str:\n        return \"fresh\"\n"
        ),
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
