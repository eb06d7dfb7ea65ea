//! Functions called from the command line as `dagger call` calls them, as
//! the unprivileged test user: `tanto core` chains Dagger's core API.

use crate::support;

use support::fixtures;
use support::tanto::Tanto;

#[test]
fn core_functions_chain_from_the_command_line_and_a_failed_exec_exits_with_its_code() {
    let tanto = Tanto::new();
    let image = &fixtures::served_busybox().1;
    let from = ["core", "container", "from", "--address", image];
    let with =
        |tail: &[&str]| -> Vec<String> { from.iter().chain(tail).map(|s| s.to_string()).collect() };
    let run = |args: Vec<String>| tanto.run(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let said = run(with(&[
        "with-env-variable",
        "--name=GREETING",
        "--value",
        "hello there",
        "with-exec",
        "--args",
        "sh,-c,echo $GREETING",
        "stdout",
    ]));
    assert!(said.success, "{}", said.stderr);
    assert_eq!(said.stdout, "hello there\n");

    // Lists from repeated flags; a boolean flag takes no value.
    let listed = run(with(&[
        "with-exec",
        "--args=ls",
        "--args=/",
        "--use-entrypoint",
        "stdout",
    ]));
    assert!(listed.success, "{}", listed.stderr);
    assert!(
        listed.stdout.lines().any(|l| l == "bin"),
        "{}",
        listed.stdout
    );

    // An object at the end is synced and printed by type.
    let object = run(with(&["with-exec", "--args", "true"]));
    assert!(object.success, "{}", object.stderr);
    assert!(
        object.stdout.starts_with("Container@xxh3:"),
        "{}",
        object.stdout
    );

    let failed = run(with(&[
        "with-exec",
        "--args",
        "sh,-c,echo oops >&2; exit 3",
        "stdout",
    ]));
    assert_eq!(failed.code, Some(3), "{}", failed.stderr);
    assert!(failed.stderr.contains("oops"), "{}", failed.stderr);

    // A directory saved with -o.
    let saved = run(with(&[
        "with-new-file",
        "--path=/out/greeting.txt",
        "--contents=hi",
        "directory",
        "--path=/out",
        "-o",
        "exported",
    ]));
    assert!(saved.success, "{}", saved.stderr);
    assert!(saved.stderr.contains("Saved to"), "{}", saved.stderr);
    assert_eq!(
        std::fs::read_to_string(tanto.home().join("exported/greeting.txt")).unwrap(),
        "hi"
    );

    // Unknown functions and flags list the valid ones.
    let unknown = run(with(&["with-exek"]));
    assert!(!unknown.success);
    assert!(unknown.stderr.contains("with-exec"), "{}", unknown.stderr);
    let bad_flag = run(with(&["with-exec", "--argz", "x"]));
    assert!(bad_flag.stderr.contains("--args"), "{}", bad_flag.stderr);
    let missing = run(with(&["with-exec", "stdout"]));
    assert!(
        missing.stderr.contains("needs --args"),
        "{}",
        missing.stderr
    );
}
