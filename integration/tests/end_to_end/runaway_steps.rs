//! Steps that misbehave in ordinary ways — printing a gigabyte, printing
//! megabytes without a newline, running on after their caller has gone —
//! must cost the session bounded memory and time, and must not outlive
//! whoever wanted them. Run rootless as the unprivileged test user.

use crate::support;

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::fixtures;
use support::session::Session;
use support::tanto::Tanto;

fn exec_query(image: &str, script: &str, field: &str) -> String {
    format!(
        r#"{{ container {{ from(address: "{image}") {{ withExec(args: ["sh", "-c", {}]) {{ {field} }} }} }} }}"#,
        serde_json::to_string(script).unwrap()
    )
}

/// What a finished tanto printed, and its peak memory (KiB).
struct Measured {
    stdout: String,
    stderr: String,
    success: bool,
    max_rss_kib: u64,
}

/// Runs `tanto ARGS` to its end as the test user, reading both streams
/// (keeping at most the last `keep_stderr` bytes of stderr), under GNU
/// time: the peak RSS of tanto and the processes it waited for. Not wait4
/// from here: a child's peak includes the RSS of the process it was forked
/// from, this test process, which holds other tests' output.
fn measure(tanto: &Tanto, args: &[&str], keep_stderr: usize) -> Measured {
    let report = tanto.home().join(format!("rss-{}", args.len()));
    let binary = support::tanto::binary().to_str().unwrap();
    let mut timed = vec!["-f", "%M", "-o", report.to_str().unwrap(), binary];
    timed.extend(args);
    let mut child = tanto
        .command_for(Path::new("/usr/bin/time"), &timed)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/time (Debian package time) must be installed");
    let mut stdout_pipe = child.stdout.take().unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut kept = std::collections::VecDeque::new();
        let mut buffer = vec![0; 1 << 16];
        loop {
            let n = stderr_pipe.read(&mut buffer).unwrap();
            if n == 0 {
                break;
            }
            kept.extend(&buffer[..n]);
            let excess = kept.len().saturating_sub(keep_stderr);
            kept.drain(..excess);
        }
        Vec::from(kept)
    });
    let mut stdout = Vec::new();
    stdout_pipe.read_to_end(&mut stdout).unwrap();
    let stderr = stderr_reader.join().unwrap();
    let status = child.wait().unwrap();
    // "Command exited with non-zero status N" may come first.
    let report = std::fs::read_to_string(&report).unwrap();
    let max_rss_kib = report.lines().last().unwrap().trim().parse().unwrap();
    Measured {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        success: status.success(),
        max_rss_kib,
    }
}

/// The end of a long text, for a failure message.
fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(4000);
    let start = (start..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    &text[start..]
}

#[test]
fn a_step_printing_half_a_gigabyte_costs_the_session_bounded_memory() {
    let image = fixtures::served_debian();
    let tanto = Tanto::new();
    const PRINTED: u64 = 512 << 20;
    let document = exec_query(
        image,
        &format!("yes 'a line of output, as a build prints' | head -c {PRINTED}"),
        "exitCode",
    );
    let path = tanto.write_home_file("query.graphql", &document);
    // Plain progress shows every line, as in a CI log.
    let run = measure(
        &tanto,
        &["--progress=plain", "query", path.to_str().unwrap()],
        1 << 20,
    );
    assert!(run.success, "{}", tail(&run.stderr));
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        answer["data"]["container"]["from"]["withExec"]["exitCode"],
        0
    );
    assert!(run.stderr.contains("| a line of output, as a build prints"));
    // The output streams through; the session holds a bounded window of it.
    let limit_kib = 160 << 10;
    assert!(
        run.max_rss_kib < limit_kib,
        "peak RSS {} MiB for {} MiB printed",
        run.max_rss_kib >> 10,
        PRINTED >> 20
    );
}

#[test]
fn output_without_newlines_is_shown_in_bounded_lines() {
    let image = fixtures::served_debian();
    let tanto = Tanto::new();
    const PRINTED: u64 = 64 << 20;
    let document = exec_query(
        image,
        &format!("head -c {PRINTED} /dev/zero | tr '\\0' x"),
        "exitCode",
    );
    let path = tanto.write_home_file("query.graphql", &document);
    let run = measure(
        &tanto,
        &["--progress=plain", "query", path.to_str().unwrap()],
        usize::MAX,
    );
    assert!(run.success, "{}", tail(&run.stderr));
    let shown: Vec<&str> = run
        .stderr
        .lines()
        // `#2 | text`; not the step's name, which has a ` | ` of its own.
        .filter_map(|l| l.split_once(' ')?.1.strip_prefix("| "))
        .collect();
    // Every byte shown, in lines a log viewer can take.
    assert_eq!(
        shown.iter().map(|l| l.len() as u64).sum::<u64>(),
        PRINTED,
        "{} lines",
        shown.len()
    );
    assert!(shown.iter().all(|l| l.len() <= 16 << 10));
    assert!(shown.iter().all(|l| l.bytes().all(|b| b == b'x')));
}

/// How many processes run `command` (their full command line).
fn count(command: &str) -> usize {
    let out = Command::new("pgrep")
        .args(["-f", "-x", command])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn wait_until(what: &str, deadline: Duration, condition: impl Fn() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_step_whose_caller_hangs_up_is_killed_and_reported_cancelled() {
    let image = fixtures::served_debian();
    let tanto = Tanto::new();
    let session = Session::start(&tanto);
    // Unique, so no other test's process can be mistaken for it.
    let command = format!("sleep {}", 100_000 + std::process::id());
    // A runaway: twenty processes in the background, and one in front.
    let document = exec_query(
        image,
        &format!("for i in $(seq 20); do {command} & done; exec {command}"),
        "exitCode",
    );

    // A client asks, then goes away without waiting for the answer.
    let address = session.url.trim_start_matches("http://");
    let (host, _) = address.split_once('/').unwrap();
    let mut client = std::net::TcpStream::connect(host).unwrap();
    let body = serde_json::json!({ "query": document }).to_string();
    write!(
        client,
        "POST /query HTTP/1.1\r\nHost: {host}\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        session.auth,
        body.len()
    )
    .unwrap();
    wait_until("the step starts", Duration::from_secs(120), || {
        count(&command) == 21
    });
    drop(client);
    wait_until(
        "the step's processes are killed once nobody waits for it",
        Duration::from_secs(30),
        || count(&command) == 0,
    );

    // The session goes on serving, and the same step starts afresh.
    let quick = exec_query(image, "echo still here", "stdout");
    let answer = session.ask(&quick);
    assert_eq!(
        answer["data"]["container"]["from"]["withExec"]["stdout"], "still here\n",
        "{answer:#}"
    );
    let stderr = session.end();
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(&command) && l.contains(" CANCELED ")),
        "{stderr}"
    );
}
