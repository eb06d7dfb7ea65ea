//! Dagger's own engine-backed SDK tests (Python, TypeScript and Rust, at
//! Dagger 0.21.8), fetched from PyPI, the Go module proxy and crates.io
//! (`support::dagger_suites`), run unmodified against tanto as the
//! unprivileged test user, each connection starting its own `tanto
//! session` through `_EXPERIMENTAL_DAGGER_CLI_BIN`. Their images are
//! Docker Hub's `alpine`, served from a local registry that the user's
//! `registries.conf` puts in Docker Hub's place.
//!
//! Only tests that need what tanto leaves to others (services, git) or the
//! internet are left out, each named below with why;
//! every other test of each suite must pass, and at least as many as the
//! suite has, so that one that collects nothing fails.

use crate::support;

use support::dagger_suites::{
    copy_into_home, count_before, point_docker_hub_here, python_suite, run_suite, rust_suite,
    served_alpines, typescript_suite, Outcome, DAGGER,
};
use support::multi_platform::assert_emulator_registered;
use support::tanto::Tanto;

/// The test user's tanto, with Docker Hub's `alpine` served locally.
fn tanto() -> Tanto {
    let tanto = Tanto::new();
    point_docker_hub_here(&tanto, served_alpines());
    tanto
}

#[allow(clippy::print_stderr)] // the counts, seen with --nocapture
fn assert_all_passed(suite: &str, outcome: &Outcome, at_least: usize) {
    eprintln!("Dagger's {suite} SDK suite: {} passed", outcome.passed);
    assert!(
        outcome.success && outcome.failed == 0 && outcome.passed >= at_least,
        "{suite}: {} passed (at least {at_least} expected), {} failed:\n{}",
        outcome.passed,
        outcome.failed,
        outcome.output
    );
}

/// `tests/` of the `dagger-io` sdist, run with pytest as Dagger's CI does.
const PYTHON_LEFT_OUT: &[(&str, &str)] = &[
    (
        "tests/codegen",
        "cannot be collected: imports `codegen`, a uv workspace member that \
         neither the sdist nor PyPI has (a unit test of the code generator, no engine)",
    ),
    (
        "tests/client/test_integration.py::test_git_repository",
        "git, from github.com",
    ),
    (
        "tests/client/test_integration.py::test_container_build",
        "git, from github.com (then a Dockerfile build of it)",
    ),
    (
        "tests/client/test_integration.py::test_service_start_stop",
        "a service (built from a Dockerfile the sdist does not ship)",
    ),
];

/// Every test of the sdist but those left out.
const PYTHON_PASSING: usize = 199;

#[test]
fn dagger_python_sdk_suite() {
    // `test_object_sequence` runs `uname -m` on linux/arm64.
    assert_emulator_registered();
    let suite = python_suite();
    let tanto = tanto();
    // Run in the unpacked sdist: `test_host_directory` reads its README.md.
    let sdist = copy_into_home(&tanto, &suite.join(format!("dagger_io-{DAGGER}")), None);
    let python = suite.join("venv/bin/python");
    let mut args = vec![
        "-m",
        "pytest",
        "tests",
        "-p",
        "no:cacheprovider",
        "-q",
        "-rfE",
    ];
    for (test, _why) in PYTHON_LEFT_OUT {
        if test.contains("::") {
            args.extend(["--deselect", test]);
        } else {
            args.extend(["--ignore", test]);
        }
    }
    let mut command = tanto.command_for(&python, &args);
    command
        .current_dir(&sdist)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("TMPDIR", tanto.home());
    let outcome = run_suite(command, |output| {
        let summary = output
            .lines()
            .rev()
            .find(|l| l.contains(" passed") || l.contains(" failed"))
            .unwrap_or_default();
        let count = |word| count_before(summary, word).unwrap_or(0);
        let errors = count("errors") + count("error");
        (count("passed"), count("failed") + errors)
    });
    assert_all_passed("Python", &outcome, PYTHON_PASSING);
}

/// The specs of `sdk/typescript` from the Go module, run with mocha as its
/// `.mocharc.json` says (ts-node). Two are `it.skip` upstream (a local
/// engine fetching from dagger.io) and stay pending.
const TYPESCRIPT_LEFT_OUT: &[(&str, &str)] = &[
    (
        "Pass a cache volume with an implicit ID as a parameter",
        "`apk add yarn`: the internet",
    ),
    (
        "Should correctly transfer state",
        "`apk add jq`: the internet",
    ),
];

const TYPESCRIPT_PASSING: usize = 95;

#[test]
fn dagger_typescript_sdk_suite() {
    // "Compute nested array of arguments" runs `uname -m` on linux/arm64.
    assert_emulator_registered();
    let sdk = typescript_suite();
    let tanto = tanto();
    let copy = copy_into_home(&tanto, &sdk, Some("node_modules"));
    let left_out = TYPESCRIPT_LEFT_OUT
        .iter()
        .map(|(title, _why)| regex_escape(title))
        .collect::<Vec<_>>()
        .join("|");
    let mocha = copy.join("node_modules/mocha/bin/mocha.js");
    let mut command = tanto.command_for(
        std::path::Path::new("/usr/bin/env"),
        &[
            "node",
            mocha.to_str().unwrap(),
            "--grep",
            &left_out,
            "--invert",
        ],
    );
    command.current_dir(&copy).env("TMPDIR", tanto.home());
    let outcome = run_suite(command, |output| {
        let count = |word| {
            output
                .lines()
                .find_map(|l| count_before(l, word))
                .unwrap_or(0)
        };
        (count("passing"), count("failing"))
    });
    assert_all_passed("TypeScript", &outcome, TYPESCRIPT_PASSING);
}

/// `tests/mod.rs` of the `dagger-sdk` crate.
const RUST_LEFT_OUT: &[(&str, &str)] = &[("test_git", "git, from github.com")];

const RUST_PASSING: usize = 11;

#[test]
fn dagger_rust_sdk_suite() {
    let program = rust_suite();
    let tanto = tanto();
    // Names are whole names (`--exact`): `--skip test_git` alone would
    // also skip any test whose name contains it.
    let mut args = vec!["--exact"];
    for (test, _why) in RUST_LEFT_OUT {
        args.extend(["--skip", test]);
    }
    let command = tanto.command_for(&program, &args);
    let outcome = run_suite(command, |output| {
        let summary = output
            .lines()
            .find(|l| l.starts_with("test result:"))
            .unwrap_or_default();
        (
            count_before(summary, "passed").unwrap_or(0),
            count_before(summary, "failed").unwrap_or(0),
        )
    });
    assert_all_passed("Rust", &outcome, RUST_PASSING);
}

/// `text` matched literally in a JavaScript regular expression.
fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\^$.|?*+()[]{}/".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}
