//! Large step output (issue 13, points 2 and 3), run by `bench/output`: a
//! session's peak memory and the time it adds when a step prints a lot —
//! 1 GiB of lines with only `exitCode` asked, 256 MiB of lines read back as
//! `stdout`, 64 MiB without a newline — beside the same command under
//! `podman run` and on the host (the floor), all as the unprivileged test
//! user, release builds, alternated within each round. Prints medians as a
//! Markdown table.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[allow(dead_code)]
#[path = "common/bench.rs"]
mod bench;
#[path = "../tests/end_to_end/support/mod.rs"]
mod support;

use std::io::Read as _;
use std::path::Path;
use std::time::{Duration, Instant};

use support::image::Image;
use support::registry::Registry;
use support::session::Session;
use support::tanto::Tanto;

struct Case {
    name: &'static str,
    script: &'static str,
    field: &'static str,
    printed: u64,
}

const CASES: [Case; 3] = [
    Case {
        name: "1 GiB of lines, `exitCode` asked",
        script: "yes 'a line of build output, forty bytes.' | head -c 1073741824",
        field: "exitCode",
        printed: 1 << 30,
    },
    Case {
        name: "256 MiB of lines, `stdout` asked",
        script: "yes 'a line of build output, forty bytes.' | head -c 268435456",
        field: "stdout",
        printed: 256 << 20,
    },
    Case {
        name: "64 MiB without a newline, `exitCode` asked",
        script: "head -c 67108864 /dev/zero | tr '\\0' x",
        field: "exitCode",
        printed: 64 << 20,
    },
];

/// One session's run of a case.
struct Sample {
    /// From sending the query to the last byte of the answer.
    answer: Duration,
    /// From closing the session's standard input to its exit.
    exit: Duration,
    /// Peak RSS of the session and everything it waited for.
    rss_bytes: u64,
    answer_bytes: u64,
}

fn session_sample(user: &Tanto, tanto: &Path, image: &str, case: &Case, nonce: &str) -> Sample {
    // As an SDK starts it: plain progress to a pipe nobody reads. Under
    // GNU time, for the peak RSS of the session alone: a child's own peak
    // (wait4) includes the process it was forked from, this one, which
    // holds the fixture image.
    let report = user.home().join(format!("rss-{nonce}"));
    let mut session = Session::start_program(
        user,
        Path::new("/usr/bin/time"),
        &[
            "-f",
            "%M",
            "-o",
            report.to_str().unwrap(),
            tanto.to_str().unwrap(),
            "session",
        ],
    );
    let script = format!(": {nonce}; {}", case.script);
    let query = format!(
        r#"{{ container {{ from(address: "{image}") {{ withExec(args: ["sh", "-c", {}]) {{ {} }} }} }} }}"#,
        serde_json::to_string(&script).unwrap(),
        case.field
    );
    let body = serde_json::json!({ "query": query }).to_string();
    let started = Instant::now();
    let response = ureq::post(&session.url)
        .set("Authorization", &session.auth)
        .set("Content-Type", "application/json")
        .send_string(&body)
        .unwrap();
    let mut reader = response.into_reader();
    let mut head = vec![0u8; 256];
    let mut answer_bytes = 0u64;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        if answer_bytes < head.len() as u64 {
            let at = answer_bytes as usize;
            let take = (head.len() - at).min(n);
            head[at..at + take].copy_from_slice(&buffer[..take]);
        }
        answer_bytes += n as u64;
    }
    let answer = started.elapsed();
    let head = String::from_utf8_lossy(&head);
    assert!(
        head.starts_with(r#"{"data":{"container""#),
        "unexpected answer: {head}"
    );
    let ending = Instant::now();
    drop(session.child.stdin.take());
    assert!(session.child.wait().unwrap().success());
    let exit = ending.elapsed();
    let rss_kib: u64 = std::fs::read_to_string(&report)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Sample {
        answer,
        exit,
        rss_bytes: rss_kib * 1024,
        answer_bytes,
    }
}

fn median<T: Copy + Ord>(values: &[T]) -> T {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn main() {
    let debian = support::fixtures::debian();
    let registry = Registry::start();
    let image = format!("{}/bench/debian:bookworm", registry.host());
    Image::new(vec![debian.layer.clone()]).push(&registry, "bench/debian", "bookworm");
    let (tanto, _steps) = bench::static_tanto_and_steps();
    let user = Tanto::new();
    let home = user.home().to_owned();
    let sh = |script: &str| -> Duration {
        let started = Instant::now();
        let out = user
            .command_for(Path::new("/bin/sh"), &["-c", script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    };
    let podman = format!(
        "XDG_RUNTIME_DIR={h}/podman/xdg podman --root {h}/podman/root --runroot {h}/podman/run \
         --storage-driver overlay --cgroup-manager cgroupfs --events-backend file",
        h = home.display()
    );
    sh(&format!(
        "mkdir -p {h}/podman/xdg && {podman} pull -q --tls-verify=false {image}",
        h = home.display()
    ));
    // Warm: the image in tanto's store.
    let warm = Case {
        name: "warm",
        script: "true",
        field: "exitCode",
        printed: 0,
    };
    session_sample(&user, &tanto, &image, &warm, "warm");

    println!("| step prints | tanto: answer | session exit | session peak RSS | podman run > /dev/null | on the host > /dev/null (floor) |");
    println!("|---|---|---|---|---|---|");
    for (index, case) in CASES.iter().enumerate() {
        let mut samples = Vec::new();
        let (mut podman_times, mut floor_times) = (Vec::new(), Vec::new());
        for round in 0..bench::rounds(3) {
            let nonce = format!("{}-{index}-{round}", std::process::id());
            samples.push(session_sample(&user, &tanto, &image, case, &nonce));
            podman_times.push(sh(&format!(
                "{podman} --runtime runc run --rm --network host {image} sh -c {} > /dev/null",
                shell_quote(case.script)
            )));
            floor_times.push(sh(&format!("{} > /dev/null", case.script)));
        }
        let answer = median(&samples.iter().map(|s| s.answer).collect::<Vec<_>>());
        let exit = median(&samples.iter().map(|s| s.exit).collect::<Vec<_>>());
        let rss = median(&samples.iter().map(|s| s.rss_bytes).collect::<Vec<_>>());
        let answered = median(&samples.iter().map(|s| s.answer_bytes).collect::<Vec<_>>());
        println!(
            "| {} ({}; answer {}) | {} | {} | {} ({:.2}× the output) | {} | {} |",
            case.name,
            mb(case.printed),
            mb(answered),
            secs(answer),
            secs(exit),
            mb(rss),
            rss as f64 / case.printed as f64,
            secs(median(&podman_times)),
            secs(median(&floor_times)),
        );
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
