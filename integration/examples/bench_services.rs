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

/// What the stream through the relay carries, MiB.
const STREAM_MIB: usize = 2048;

fn main() {
    let rounds = bench::rounds(5);
    let binary = match std::env::var_os("BENCH_TANTO") {
        Some(path) => bench::readable_copy(Path::new(&path)),
        None => bench::static_tanto_and_steps().0,
    };
    let sdk = support::fixtures::python_sdk();
    let (registry, image) = support::fixtures::served_busybox();
    // A reader that takes a MiB per call: busybox `nc` is slower than the
    // relay it would measure.
    let python = support::fixtures::serve_python_slim(registry);
    let (host, port) = stream_server();
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
                    sdk.to_str().unwrap(),
                    script.to_str().unwrap(),
                    image,
                    &python,
                    &STEPS.to_string(),
                    &host.to_string(),
                    &port.to_string(),
                    &STREAM_MIB.to_string(),
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
    // A step's own cost left out: what the stream took.
    let rate = |name: &str| STREAM_MIB as f64 / 1024.0 / ((median(name) - unbound) / 1000.0);
    let (direct, relayed) = (rate("direct stream"), rate("relayed stream"));
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
    println!(
        "| {STREAM_MIB} MiB from the host's address, read by a step: direct (host network) | {direct:.2} GiB/s | |"
    );
    println!(
        "| the same from a bound step, through tanto's relay | {relayed:.2} GiB/s ({:.0} % of direct) | ≥ 1 GB/s |",
        relayed / direct * 100.0
    );
}

/// A server on this machine's own address (not loopback, which bound
/// steps cannot reach) sending [`STREAM_MIB`] of zeros to each client.
fn stream_server() -> (std::net::Ipv4Addr, u16) {
    use std::io::Write;
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    probe.connect("203.0.113.1:9").unwrap();
    let std::net::IpAddr::V4(host) = probe.local_addr().unwrap().ip() else {
        panic!("no IPv4 address");
    };
    let listener = std::net::TcpListener::bind((host, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let chunk = vec![0u8; 1 << 20];
        for stream in listener.incoming().flatten() {
            std::thread::spawn({
                let chunk = chunk.clone();
                move || {
                    let mut stream = stream;
                    for _ in 0..STREAM_MIB {
                        if stream.write_all(&chunk).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (host, port)
}
