//! What a person sees while a pipeline runs: the live view in a real
//! terminal (tmux), plain lines in a CI log, the summary, the failure tail,
//! `--timings`, pull progress, and secrets masked even when split across a
//! step's writes. Run rootless as the unprivileged test user.

use crate::support;

use std::time::{Duration, Instant};

use support::session::Session;
use support::tanto::Tanto;
use support::terminal::Tmux;
use support::{fixtures, tree};

/// A busybox image in a registry that lives as long as the tests.
fn exec_query(image: &str, script: &str) -> String {
    format!(
        r#"{{ container {{ from(address: "{image}") {{ withExec(args: ["sh", "-c", {}]) {{ stdout }} }} }} }}"#,
        serde_json::to_string(script).unwrap()
    )
}

/// The log with what changes from run to run made constant: the registry's
/// address, durations, and layer lines (digests and sizes).
fn normalized(log: &str, image: &str) -> String {
    let mut out = String::new();
    for line in log.lines() {
        if line.contains(" layer ") || line.starts_with("layer ") || line.starts_with("pulled ") {
            continue;
        }
        let line = line.replace(image, "IMAGE");
        // Sizes vary with the busybox binary.
        let line = match line.find(", fetched ") {
            Some(at) => line[..at].to_owned(),
            None => line,
        };
        let line = if line.starts_with("slowest: #") {
            "slowest: …".to_owned()
        } else {
            durations(&line)
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `12.3s` becomes `_s`.
fn durations(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        let number_end = from
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(from.len());
        let (number, after) = from.split_at(number_end);
        let follows_word = before.ends_with(|c: char| c.is_alphanumeric());
        if !follows_word && number.contains('.') && after.starts_with('s') {
            out.push_str("_s");
            rest = &after[1..];
        } else {
            out.push_str(number);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn plain_progress_is_one_line_per_event_with_output_prefixed_and_a_summary() {
    let (_registry, image) = fixtures::served_busybox();
    let mut tanto = Tanto::new();
    tanto.env("CI", "true");
    let query = tanto.write_home_file(
        "q.graphql",
        &exec_query(image, "echo one; sleep 0.3; echo two"),
    );
    let timings = tanto.home().join("timings.json");
    let query = query.to_str().unwrap();

    // CI is set and stderr is a pipe: plain, without being asked.
    let first = tanto.ok(&["query", "--timings", timings.to_str().unwrap(), query]);
    assert_eq!(
        normalized(&first.stderr, image),
        r#"#1 from IMAGE STARTED
#1 from IMAGE DONE _s
#2 withExec sh -c "echo one; sleep 0.3; echo two" STARTED
#2 | one
#2 | two
#2 withExec sh -c "echo one; sleep 0.3; echo two" DONE _s
2 steps: 2 ran, 0 cached, 0 failed, in _s
slowest: …
"#,
        "{}",
        first.stderr
    );
    let timings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&timings).unwrap()).unwrap();
    let steps = timings["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{timings:#}");
    assert_eq!(
        steps[1]["name"],
        r#"withExec sh -c "echo one; sleep 0.3; echo two""#
    );
    assert_eq!(steps[1]["state"], "done");
    assert!(steps[1]["seconds"].as_f64().unwrap() >= 0.3, "{timings:#}");
    assert!(timings["wall_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(
        (&timings["ran"], &timings["cached"]),
        (&2.into(), &0.into())
    );
    assert!(
        timings["fetched_bytes"].as_u64().unwrap() > 0,
        "{timings:#}"
    );

    let again = tanto.ok(&["--progress=plain", "query", query]);
    assert_eq!(
        normalized(&again.stderr, image),
        r#"#1 from IMAGE STARTED
#1 from IMAGE CACHED
#2 withExec sh -c "echo one; sleep 0.3; echo two" STARTED
#2 withExec sh -c "echo one; sleep 0.3; echo two" CACHED
2 steps: 0 ran, 2 cached, 0 failed, in _s
"#,
        "{}",
        again.stderr
    );

    let quiet = tanto.ok(&["--progress=quiet", "query", query]);
    assert_eq!(quiet.stderr, "");
}

#[test]
fn a_failure_is_last_in_the_log_with_command_exit_code_and_output() {
    let (_registry, image) = fixtures::served_busybox();
    let tanto = Tanto::new();
    let query = tanto.write_home_file(
        "q.graphql",
        &exec_query(
            image,
            "echo compiling >&2; echo 'error: no rule' >&2; exit 7",
        ),
    );
    let run = tanto.fails(&["--progress=plain", "query", query.to_str().unwrap()]);
    let log = normalized(&run.stderr, image);
    assert!(
        log.ends_with(
            r#"#2 withExec sh -c "echo compiling >&2; echo 'error: no rule' >&2; exit 7" FAILED _s: exit code 7
2 steps: 1 ran, 0 cached, 1 failed, in _s
slowest: …

step #2 withExec sh -c "echo compiling >&2; echo 'error: no rule' >&2; exit 7" failed
  command:   sh -c "echo compiling >&2; echo 'error: no rule' >&2; exit 7"
  exit code: 7
  output:
    compiling
    error: no rule
"#
        ),
        "{}",
        run.stderr
    );
    // The answer is unchanged: Dagger's EXEC_ERROR on stdout.
    assert!(run.stdout.contains("EXEC_ERROR"), "{}", run.stdout);
}

#[test]
fn pulls_show_each_layers_bytes_rate_and_totals() {
    let (_registry, image) = fixtures::served_busybox();
    let tanto = Tanto::new();
    let run = tanto.ok(&["--progress=plain", "pull", image]);
    let fetched = run
        .stderr
        .lines()
        .find(|l| l.starts_with("#1 layer ") && l.contains(" fetched "))
        .unwrap_or_else(|| panic!("no layer line:\n{}", run.stderr));
    assert!(fetched.ends_with("/s)"), "{fetched}");
    assert!(run.stderr.contains("#1 layer ") && run.stderr.contains(" fetching "));
    assert!(run.stderr.contains("1 fetched"), "{}", run.stderr);
}

#[test]
fn a_secret_split_across_writes_is_masked_in_stdout_progress_errors_and_store() {
    let (_registry, image) = fixtures::served_busybox();
    let tanto = Tanto::new();
    let secret = "sekrit-7c1d";
    let session = Session::start(&tanto);
    let id = session.ask(&format!(
        r#"{{ setSecret(name: "token", plaintext: "{secret}") {{ id }} }}"#
    ))["data"]["setSecret"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let with_secret = |script: &str| {
        session.ask(&format!(
            r#"{{ container {{ from(address: "{image}") {{ withSecretVariable(name: "TOKEN", secret: "{id}") {{ withExec(args: ["sh", "-c", {}]) {{ stdout }} }} }} }} }}"#,
            serde_json::to_string(script).unwrap()
        ))
    };
    // The value never in one write: split by a pause, and from the env.
    let printed = with_secret("printf 'sekr'; sleep 0.2; printf 'it-7c1d\\n'; echo \"$TOKEN\"");
    let failed = with_secret("printf 'sekr' >&2; sleep 0.2; printf 'it-7c1d' >&2; exit 1");
    let stderr = session.end();

    let stdout = &printed["data"]["container"]["from"]["withSecretVariable"]["withExec"]["stdout"];
    assert_eq!(stdout, "***\n***\n", "{printed:#}");
    let error = &failed["errors"][0];
    assert_eq!(error["extensions"]["stderr"], "***", "{failed:#}");
    assert!(
        stderr.contains("| ***") && stderr.contains("exit code: 1"),
        "{stderr}"
    );
    for (what, text) in [
        ("the answers", format!("{printed}{failed}")),
        ("the progress", stderr.clone()),
    ] {
        assert!(!text.contains(secret), "the secret is in {what}: {text}");
    }
    let hits = tree::grep(&tanto.store(), secret.as_bytes());
    assert!(hits.is_empty(), "the secret is in {hits:?}");
}

#[test]
fn a_session_whose_stderr_nobody_reads_still_answers_and_ends() {
    let (_registry, image) = fixtures::served_busybox();
    let tanto = Tanto::new();
    // As the Python SDK starts it: a pipe for stderr, read by no one.
    let mut session = Session::start_with(&tanto, &["session"]);
    let unread = session.child.stderr.take().unwrap();
    let chatty = "i=0; while [ $i -lt 30000 ]; do echo \"line $i, enough of them to fill a pipe\"; i=$((i+1)); done; echo end";
    for script in [chatty, "echo still-answering"] {
        let answer = session.ask(&exec_query(image, script));
        let stdout = answer["data"]["container"]["from"]["withExec"]["stdout"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer:#}"));
        assert!(stdout.ends_with("end\n") || stdout == "still-answering\n");
    }
    // The SDK closes its end of the pipes, then standard input.
    drop(unread);
    drop(session.child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(60);
    while session.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the session did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_live_view_in_a_terminal_shows_running_steps_cached_markers_and_the_failure_tail() {
    let (_registry, image) = fixtures::served_busybox();
    let tanto = Tanto::new();
    let slow = tanto.write_home_file(
        "slow.graphql",
        &exec_query(
            image,
            "echo warming-up; sleep 1; echo half-way; sleep 3; i=0; while [ $i -lt 100000 ]; do echo tick $i; i=$((i+1)); sleep 0.01; done; echo finished, with words enough to be cut",
        ),
    );
    let slow = slow.to_str().unwrap();

    // While it runs: a spinner line with elapsed time, and its last output.
    let tmux = Tmux::tanto(&tanto, &["query", slow]);
    let running = tmux.wait_for("the running step with its output", |s| {
        s.contains("│ warming-up") && s.contains("│ half-way")
    });
    let step_line = running
        .lines()
        .find(|l| l.contains(r#"#2 withExec sh -c "echo warming-up"#))
        .unwrap_or_else(|| panic!("no running step line:\n{running}"));
    assert!(
        step_line.trim_end().ends_with('s') && step_line.contains('…'),
        "the step line is cut to the terminal and ends with its elapsed time: {step_line:?}"
    );
    assert!(
        running.lines().all(|l| l.chars().count() <= 100),
        "{running}"
    );
    assert!(running.contains("✔ #1 from "), "{running}");

    // Narrower: redrawn to the new width, one live area, nothing left over.
    tmux.resize(60);
    let header = r#"#2 withExec sh -c "echo"#;
    let narrow = tmux.wait_for_visible("the live view redrawn 60 wide", |s| {
        s.lines()
            .any(|l| l.contains(header) && l.chars().count() < 60)
    });
    std::thread::sleep(Duration::from_millis(500));
    let narrow = format!("{narrow}{}", tmux.visible());
    let settled = tmux.visible();
    assert_eq!(
        settled.lines().filter(|l| l.contains(header)).count(),
        1,
        "{narrow}"
    );
    assert!(
        settled.lines().all(|l| l.chars().count() <= 60),
        "{settled}"
    );
    let everything = tmux.screen();
    assert_eq!(
        everything
            .lines()
            .filter(|l| l.contains("✔ #1 from "))
            .count(),
        1,
        "the scrollback keeps the ended step's line:\n{everything}"
    );

    // Output that never pauses: the view still moves on.
    let tick = |screen: &str| -> Option<u64> {
        screen
            .lines()
            .filter_map(|l| l.split("│ tick ").nth(1)?.trim().parse().ok())
            .max()
    };
    let first = tick(&tmux.wait_for_visible("a tick", |s| tick(s).is_some())).unwrap();
    tmux.wait_for_visible("later ticks", |s| tick(s).is_some_and(|t| t > first + 20));
    drop(tmux);

    // A quick pipeline, then again: CACHED markers and the summary.
    let quick = tanto.write_home_file("quick.graphql", &exec_query(image, "echo quick"));
    let quick = quick.to_str().unwrap();
    for (run, wanted) in [(1, "1 ran"), (2, "2 cached")] {
        let tmux = Tmux::tanto(&tanto, &["query", quick]);
        let done = tmux.wait_for("the end", |s| s.contains("EXIT="));
        assert!(done.contains("EXIT=0"), "run {run}:\n{done}");
        assert!(done.contains(wanted), "run {run}:\n{done}");
        if run == 2 {
            assert!(
                done.contains(r#"● #2 withExec sh -c "echo quick" CACHED"#)
                    && done.contains("● #1 from"),
                "{done}"
            );
        }
        // The live area is gone: no spinner left behind.
        assert!(
            !done.chars().any(|c| ('⠋'..='⠿').contains(&c)),
            "run {run}:\n{done}"
        );
    }

    // A failure: its command, exit code and output are the last thing shown.
    let failing = tanto.write_home_file(
        "failing.graphql",
        &exec_query(
            image,
            "echo compiling >&2; echo 'error: no rule' >&2; exit 7",
        ),
    );
    let tmux = Tmux::tanto(&tanto, &["query", failing.to_str().unwrap()]);
    let done = tmux.wait_for("the end", |s| s.contains("EXIT="));
    let lines: Vec<&str> = done.lines().filter(|l| !l.trim().is_empty()).collect();
    let end = lines.iter().position(|l| l.starts_with("EXIT=")).unwrap();
    assert_eq!(lines[end], "EXIT=1", "{done}");
    assert_eq!(
        lines[end - 6..end]
            .iter()
            .map(|l| l.trim_end())
            .collect::<Vec<_>>(),
        [
            r#"step #2 withExec sh -c "echo compiling >&2; echo 'error: no rule' >&2; exit 7" failed"#,
            r#"  command:   sh -c "echo compiling >&2; echo 'error: no rule' >&2; exit 7""#,
            "  exit code: 7",
            "  output:",
            "    compiling",
            "    error: no rule",
        ],
        "{done}"
    );
    assert!(done.contains("✘ #2 withExec"), "{done}");
}

/// A program that talks to its session the way an SDK does, with Python's
/// standard library only.
const PROGRAM: &str = r#"
import base64, json, os, sys, urllib.error, urllib.request
auth = base64.b64encode((os.environ["DAGGER_SESSION_TOKEN"] + ":").encode()).decode()
request = urllib.request.Request(
    "http://127.0.0.1:%s/query" % os.environ["DAGGER_SESSION_PORT"],
    data=json.dumps({"query": open(sys.argv[1]).read()}).encode(),
    headers={"Content-Type": "application/json", "Authorization": "Basic " + auth},
)
print("program: asking", "(a terminal)" if sys.stdout.isatty() else "(no terminal)")
try:
    answer = json.load(urllib.request.urlopen(request))
except urllib.error.HTTPError as error:
    answer = json.load(error)
print("program: answered", "with errors" if answer.get("errors") else "fine")
sys.exit(3)
"#;

#[test]
fn tanto_run_shows_the_live_view_and_keeps_the_programs_own_lines() {
    let (_registry, image) = fixtures::served_busybox();
    let tanto = Tanto::new();
    let program = tanto.write_home_file("program.py", PROGRAM);
    let query = tanto.write_home_file(
        "q.graphql",
        &exec_query(image, "echo step-says-hello; sleep 2; echo step-says-bye"),
    );
    let tmux = Tmux::tanto(
        &tanto,
        &[
            "run",
            "--",
            "python3",
            program.to_str().unwrap(),
            query.to_str().unwrap(),
        ],
    );
    let running = tmux.wait_for("the program's line and the running step", |s| {
        s.contains("program: asking") && s.contains("│ step-says-hello")
    });
    assert!(
        running.contains("program: asking (a terminal)"),
        "{running}"
    );
    let done = tmux.wait_for("the end", |s| s.contains("EXIT="));
    let lines: Vec<&str> = done.lines().filter(|l| !l.trim().is_empty()).collect();
    let at = |text: &str| {
        lines
            .iter()
            .position(|l| l.contains(text))
            .unwrap_or_else(|| panic!("no {text:?} on screen:\n{done}"))
    };
    // In order, nothing drawn over: the program's lines, the steps, the
    // summary, and the program's exit status, unchanged.
    assert!(at("program: asking") < at("✔ #2 withExec"), "{done}");
    assert!(at("✔ #2 withExec") < at("program: answered fine"), "{done}");
    assert!(
        at("program: answered fine") < at("2 steps: 2 ran"),
        "{done}"
    );
    assert_eq!(lines.last().copied(), Some("EXIT=3"), "{done}");
    assert!(!done.chars().any(|c| ('⠋'..='⠿').contains(&c)), "{done}");
}
