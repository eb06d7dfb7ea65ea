//! Programs of the Dagger SDKs that check groups of fields: each prints
//! `GROUP: ok` once its asserts held, so a failure names the group.

use super::fixtures;
use super::tanto::{Run, Tanto};

/// `tanto run -- PYTHON SCRIPT IMAGE` as the test user, with the Python
/// SDK's virtualenv: it must succeed and report every group ok.
pub fn python_groups(tanto: &Tanto, program: &str, image: &str, groups: &[&str]) -> Run {
    python_groups_with(tanto, program, &[image], groups)
}

/// [`python_groups`] with the program's arguments given whole.
pub fn python_groups_with(tanto: &Tanto, program: &str, args: &[&str], groups: &[&str]) -> Run {
    let run = python_program(tanto, program, args);
    for group in groups {
        assert!(
            run.stdout.contains(&format!("{group}: ok\n")),
            "{group}:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    run
}

/// `tanto run -- PYTHON SCRIPT ARGS…` as the test user, with the Python
/// SDK's virtualenv and `program` (under `tests/`) copied to its home: it
/// must succeed.
pub fn python_program(tanto: &Tanto, program: &str, args: &[&str]) -> Run {
    let python = fixtures::python_sdk();
    let script = tanto.copy_test_program(program);
    let mut command = vec![
        "run",
        "--",
        python.to_str().unwrap(),
        script.to_str().unwrap(),
    ];
    command.extend_from_slice(args);
    let run = tanto.run(&command);
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    run
}
