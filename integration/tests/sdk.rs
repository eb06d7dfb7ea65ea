//! Programs written with the official Dagger Python SDK, unmodified, run by
//! `tanto run` as the unprivileged test user.

mod support;

use support::fixtures;
use support::image::Image;
use support::registry::Registry;
use support::tanto::Tanto;

#[test]
fn a_python_pipeline_runs_unmodified_under_tanto_run() {
    let python = fixtures::python_sdk();
    let registry = Registry::start();
    Image::new(vec![fixtures::debian().layer.clone()]).push(
        &registry,
        "fixtures/debian",
        "bookworm",
    );
    let image = format!("{}/fixtures/debian:bookworm", registry.host());
    let tanto = Tanto::new();
    let script = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/chain.py"
    ))
    .unwrap();
    let script = tanto.write_home_file("chain.py", &script);

    let run = tanto.run(&[
        "run",
        "--",
        python.to_str().unwrap(),
        script.to_str().unwrap(),
        &image,
    ]);
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("stdout: b|root|"), "{}", run.stdout);
    assert!(run.stdout.contains("exit code: 3"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("exec error: 5 ['sh', '-c', 'echo out; echo err >&2; exit 5'] out err"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout.contains("synced file: hi there"),
        "{}",
        run.stdout
    );

    // Started by the SDK itself: `python chain.py` with tanto as Dagger's CLI.
    let out = tanto
        .command_for(&python, &[script.to_str().unwrap(), &image])
        .env("_EXPERIMENTAL_DAGGER_CLI_BIN", support::tanto::binary())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("stdout: b|root|"), "{stdout}");

    // The program's exit status is tanto run's.
    let failing = tanto.run(&["run", "--", "sh", "-c", "exit 7"]);
    assert_eq!(failing.code, Some(7));
}
