//! Pipelines through the engine's Rust API, end to end: the Debian fixture
//! from a real registry, steps run by libcontainer, rootless, as an
//! unprivileged user; memoized across runs (separate processes).

use crate::support;

use std::path::Path;

use support::fixtures;
use support::registry::Registry;
use support::tanto::{example, Run, Tanto};

fn run_example(tanto: &Tanto, program: &Path, args: &[&str]) -> Run {
    let run = tanto.run_program(program, args);
    assert!(
        run.success,
        "{program:?} {args:?} failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    run
}

/// The names of the steps a run reported with `fate` (RAN or CACHED).
fn steps(run: &Run, fate: &str) -> Vec<String> {
    let mut names: Vec<String> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{fate} ")))
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    names.sort();
    names
}

#[test]
fn a_second_run_executes_nothing_and_a_changed_file_reruns_exactly_its_downstream() {
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    tanto.write_home_file("src/a.txt", "alpha\n");
    tanto.write_home_file("src/b.txt", "beta\n");
    let pipeline = example("engine", "pipeline");
    let exec_prepare = r#"withExec sh -c "echo prepared > /prepared""#;
    let exec_cat = r#"withExec sh -c "cat /prepared /src/*""#;
    let from = format!("from {image}");

    let first = run_example(&tanto, &pipeline, &[&image, "src"]);
    assert_eq!(first.stdout, "prepared\nalpha\nbeta\n");
    assert_eq!(
        steps(&first, "RAN"),
        sorted(&[
            exec_cat,
            exec_prepare,
            &from,
            "host.directory src",
            "withDirectory /src"
        ])
    );

    let second = run_example(&tanto, &pipeline, &[&image, "src"]);
    assert_eq!(second.stdout, first.stdout);
    assert!(steps(&second, "RAN").is_empty(), "{}", second.stderr);
    assert_eq!(steps(&second, "CACHED").len(), 5, "{}", second.stderr);
    assert!(
        second.stderr.contains("steps: 0 ran, 5 cached"),
        "{}",
        second.stderr
    );

    tanto.write_home_file("src/b.txt", "BETA\n");
    let third = run_example(&tanto, &pipeline, &[&image, "src"]);
    assert_eq!(third.stdout, "prepared\nalpha\nBETA\n");
    assert_eq!(
        steps(&third, "RAN"),
        sorted(&[exec_cat, "host.directory src", "withDirectory /src"]),
        "only what depends on the changed file runs again"
    );
    assert_eq!(steps(&third, "CACHED"), sorted(&[exec_prepare, &from]));
    assert_store_is_clean(&tanto);
}

#[test]
fn the_build_and_test_example_builds_tests_and_exports_its_tool() {
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/examples/project");
    for file in ["bin/sum", "test/run.sh"] {
        let text = std::fs::read_to_string(project.join(file)).unwrap();
        tanto.write_home_file(&format!("project/{file}"), &text);
    }
    tanto.write_home_file("out/.keep", "");
    let program = example("engine", "build_and_test");

    let first = run_example(&tanto, &program, &[&image, "project", "out"]);
    assert!(
        first.stdout.contains("all tests passed"),
        "{}",
        first.stdout
    );
    assert!(
        first.stdout.contains("ok   sum 1 2 3 = 6"),
        "{}",
        first.stdout
    );
    assert!(
        first
            .stdout
            .contains("builds recorded in the cache volume: 1"),
        "{}",
        first.stdout
    );
    let exported = tanto.home().join("out/sum");
    assert_eq!(
        std::fs::read(&exported).unwrap(),
        std::fs::read(project.join("bin/sum")).unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&exported).unwrap().permissions().mode() & 0o777,
        0o755
    );

    let second = run_example(&tanto, &program, &[&image, "project", "out"]);
    assert!(second.stderr.contains(" 0 ran,"), "{}", second.stderr);
    assert!(second.stdout.contains("all tests passed"));
    assert_store_is_clean(&tanto);
}

/// No temp directory, mount or process is left behind by a finished run.
fn assert_store_is_clean(tanto: &Tanto) {
    let tmp = tanto.store().join("snapshots/tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{} still holds {left:?}", tmp.display());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let store = tanto.store();
    assert!(
        !mounts.contains(store.to_str().unwrap()),
        "a mount under the store is left:\n{mounts}"
    );
}

#[test]
fn a_chain_of_a_hundred_steps_runs_past_the_overlay_option_limit() {
    // 100 layers of `exec-<64 hex>/fs` do not fit in overlay's one-page
    // option string even as relative paths: tanto links them short.
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    let steps = example("engine", "steps");
    let run = run_example(&tanto, &steps, &[&image, "100", "long"]);
    assert!(run.stdout.contains("100 ran, 0 cached"), "{}", run.stdout);
    let again = run_example(&tanto, &steps, &[&image, "100", "long"]);
    assert!(
        again.stdout.contains("0 ran, 100 cached"),
        "{}",
        again.stdout
    );
}
