//! What careless and hostile clients do to a session, run as the
//! unprivileged test user: chains hundreds of calls long, documents
//! 10,000 deep, contents of many MB each way, oversized requests, and
//! thousands of idle connections from a local process without the token.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine as _;
use support::fixtures;
use support::registry::Registry;
use support::session::Session;
use support::tanto::Tanto;

fn run_python(tanto: &Tanto, image: &str, mode: &str, arg: &str) -> String {
    let python = fixtures::python_sdk();
    let script = tanto.copy_test_program("python/hostile.py");
    let run = tanto.run(&[
        "run",
        "--",
        python.to_str().unwrap(),
        script.to_str().unwrap(),
        image,
        mode,
        arg,
    ]);
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    run.stdout
}

#[test]
fn python_chains_of_hundreds_of_calls_run() {
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    // 40 was refused by async-graphql's default depth of 32.
    for calls in ["40", "300"] {
        let out = run_python(&tanto, &image, "chain", calls);
        assert!(
            out.contains(&format!("chain {calls}: {calls} variables")),
            "{out}"
        );
    }
}

#[test]
fn a_ten_thousand_deep_document_is_refused_quickly_with_a_clear_error() {
    let tanto = Tanto::new();
    let session = Session::start_with(&tanto, &["session"]);
    let document = format!("{}{}", "{ a ".repeat(10_000), "}".repeat(10_000));
    let started = Instant::now();
    let (status, answer) = session.post(&serde_json::json!({ "query": document }).to_string());
    // A hang guard, not a benchmark: it is refused before any parsing.
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(status, 200);
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("more than 500 selection sets deep") && message.contains("split"),
        "{message}"
    );
    // The session is still there for everyone else.
    let (_, answer) = session.post(r#"{"query": "{ version }"}"#);
    assert!(answer["data"]["version"].is_string(), "{answer}");
}

#[test]
fn python_writes_and_reads_back_20_mb_of_multibyte_text() {
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    // 3 MB was refused with HTTP 413 (a plain-text body: RetryError).
    let out = run_python(&tanto, &image, "big", "20");
    assert!(out.contains("file contents same: True"), "{out}");
    assert!(out.contains("stdout same: True"), "{out}");
    assert!(out.contains("combined output same: True"), "{out}");
}

#[test]
fn a_large_output_is_answered_whole_by_tanto_query() {
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    // 3 MB of multi-byte text plus an invalid byte and a cut character at
    // the end, which become U+FFFD as in Dagger.
    let script = r#"yes 'é → 世界 🦀 "q" \ tab	x' | head -c 3000000; printf '\377 end \360\237'"#;
    let (ok, answer) = tanto.query(&format!(
        r#"{{ container {{ from(address: "{image}") {{ withExec(args: ["sh", "-c", {script:?}]) {{ stdout }} }} }} }}"#
    ));
    assert!(ok, "{answer:#}");
    let stdout = answer["data"]["container"]["from"]["withExec"]["stdout"]
        .as_str()
        .unwrap();
    let line = "é → 世界 🦀 \"q\" \\ tab\tx\n";
    let whole = line.repeat(3_000_000 / line.len() + 1);
    let mut cut = 3_000_000;
    while !whole.is_char_boundary(cut) {
        cut -= 1;
    }
    assert!(stdout.starts_with(&whole[..cut]));
    assert!(
        stdout.ends_with("\u{FFFD} end \u{FFFD}"),
        "{}",
        &stdout[cut - 10..]
    );
}

#[test]
fn an_oversized_request_is_refused_with_json() {
    let tanto = Tanto::new();
    let session = Session::start_with(&tanto, &["session"]);
    // Refused on its declared length, before the body is sent: raw HTTP,
    // since a client still sending would not read the answer. The scheme
    // in lower case, as RFC 7235 allows: the token is accepted, the size is not.
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:", session.token));
    let mut stream = TcpStream::connect(("127.0.0.1", session.port)).unwrap();
    write!(
        stream,
        "POST /query HTTP/1.1\r\nHost: x\r\nAuthorization: basic {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"query\": \"",
        (64 << 20) + 1
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let answer: serde_json::Value = serde_json::from_str(body).unwrap();
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("64 MiB"), "{message}");

    // A request just within the limit is answered.
    let padding = "#".repeat(20 << 20);
    let (status, answer) = session
        .post(&serde_json::json!({ "query": format!("{{ version }}\n{padding}") }).to_string());
    assert_eq!(status, 200, "{answer}");
    assert!(answer["data"]["version"].is_string(), "{answer}");
}

#[test]
fn thousands_of_idle_connections_without_the_token_do_not_starve_the_sdk() {
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    let session = Session::start_with(&tanto, &["session"]);
    let address = format!("127.0.0.1:{}", session.port);

    let mut idle = Vec::new();
    for i in 0..3000 {
        let mut stream = TcpStream::connect(&address).unwrap();
        if i % 10 == 0 {
            // A slow client: headers begun, never finished.
            stream
                .write_all(b"POST /query HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
        }
        idle.push(stream);
    }

    // A real SDK program still gets every answer.
    let out = run_python_through_session(&tanto, &image, &session);
    assert!(out.contains("chain 40: 40 variables"), "{out}");

    // And every idle connection is closed by the session: the oldest when
    // newer ones came, the rest when their headers did not arrive in time.
    let deadline = Instant::now() + Duration::from_secs(60);
    for (i, stream) in idle.iter_mut().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let mut buffer = [0u8; 1024];
        let closed = loop {
            match stream.read(&mut buffer) {
                Ok(0) => break true,
                // A 408 or 400 answer may come first; the close follows.
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
        };
        assert!(closed, "idle connection {i} is still open after a minute");
    }
}

/// The Python chain program, connected to an already running session the
/// way `tanto run` connects it.
fn run_python_through_session(tanto: &Tanto, image: &str, session: &Session) -> String {
    let python = fixtures::python_sdk();
    let script = tanto.copy_test_program("python/hostile.py");
    let out = tanto
        .command_for(&python, &[script.to_str().unwrap(), image, "chain", "40"])
        .env("DAGGER_SESSION_PORT", session.port.to_string())
        .env("DAGGER_SESSION_TOKEN", &session.token)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    stdout.into_owned()
}
