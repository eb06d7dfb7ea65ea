//! Programs written with the official Dagger SDKs (Python, TypeScript, Go),
//! unmodified, run by `tanto run` as the unprivileged test user.

use crate::support;

use support::fixtures;
use support::registry::Registry;
use support::tanto::Tanto;

#[test]
fn a_python_pipeline_runs_unmodified_under_tanto_run() {
    let python = fixtures::python_sdk();
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    let script = tanto.copy_test_program("python/chain.py");

    let run = python_program(&tanto, &python, &script, &[&image]);
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
    let run = started_by_the_sdk(&tanto, &python, &[script.to_str().unwrap(), &image]);
    assert!(run.stdout.contains("stdout: b|root|"), "{}", run.stdout);

    // The program's exit status is tanto run's.
    let failing = tanto.run(&["run", "--", "sh", "-c", "exit 7"]);
    assert_eq!(failing.code, Some(7));
}

#[test]
fn host_directories_cache_volumes_secrets_and_concurrent_branches_through_the_python_sdk() {
    let python = fixtures::python_sdk();
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    let script = tanto.copy_test_program("python/features.py");
    features_twice(
        &tanto,
        &[python.to_str().unwrap(), script.to_str().unwrap()],
        &image,
    );
}

#[test]
fn directory_and_file_fields_behave_as_dagger_documents_through_the_python_sdk() {
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    support::sdk::python_groups(
        &tanto,
        "python/directories.py",
        &image,
        &[
            "exists",
            "name",
            "withSymlink",
            "withoutFiles",
            "withFiles",
            "withTimestamps",
            "chown",
            "stat",
            "filter",
            "diff",
            "findUp",
            "withError",
            "withReplaced",
            "search",
            "asJSON",
            "asEnvFile",
            "withPatch",
        ],
    );
}

/// `tanto run -- PYTHON SCRIPT ARGS…` as the test user, which must succeed.
fn python_program(
    tanto: &Tanto,
    python: &std::path::Path,
    script: &std::path::Path,
    args: &[&str],
) -> support::tanto::Run {
    let mut words = vec![
        "run",
        "--",
        python.to_str().unwrap(),
        script.to_str().unwrap(),
    ];
    words.extend(args);
    let run = tanto.run(&words);
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    run
}

/// Runs a program of the features (`features.py` or the Go program's
/// `features`) twice, given `PROGRAM… IMAGE RUN SECRET`, and checks what
/// each run did: the export, the cache volume, the secret kept out of
/// output and store, the branches overlapping in time.
fn features_twice(tanto: &Tanto, program: &[&str], image: &str) {
    let secret = "tok-9d2e7c41-secret";
    let run = |round: &str| {
        let mut args = vec!["run", "--"];
        args.extend(program);
        args.extend([image, round, secret]);
        let run = tanto.run(&args);
        assert!(run.success, "{}\n{}", run.stdout, run.stderr);
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
        run
    };

    tanto.write_home_file("src/in.txt", "hello\n");
    let first = run("1");
    let home = tanto.home().display().to_string();
    assert!(
        first
            .stdout
            .contains(&format!("exported to: {home}/exported")),
        "{}",
        first.stdout
    );
    assert_eq!(
        std::fs::read_to_string(tanto.home().join("exported/out.txt")).unwrap(),
        "HELLO\n"
    );
    assert!(first.stdout.contains("cache runs: 1"), "{}", first.stdout);
    assert!(
        first
            .stdout
            .contains(&format!("secret length: {}", secret.len())),
        "{}",
        first.stdout
    );

    // Branches overlap in time: each started before the other ended.
    let times: Vec<(f64, f64)> = first
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("branch "))
        .map(|l| {
            let t: Vec<f64> = l
                .split_whitespace()
                .skip(1)
                .map(|n| n.parse().unwrap())
                .collect();
            (t[0], t[1])
        })
        .collect();
    assert_eq!(times.len(), 2, "{}", first.stdout);
    assert!(
        times[0].0 < times[1].1 && times[1].0 < times[0].1,
        "the branches ran one after the other: {times:?}"
    );

    // A changed host file is picked up; the cache volume kept the first run.
    tanto.write_home_file("src/in.txt", "changed\n");
    let second = run("2");
    assert_eq!(
        std::fs::read_to_string(tanto.home().join("exported/out.txt")).unwrap(),
        "CHANGED\n"
    );
    assert!(second.stdout.contains("cache runs: 2"), "{}", second.stdout);

    let hits = support::tree::grep(&tanto.store(), secret.as_bytes());
    assert!(hits.is_empty(), "the secret is in {hits:?}");
}

#[test]
fn a_typescript_pipeline_runs_unmodified_under_tanto_run() {
    let sdk = fixtures::node_sdk();
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    let script = tanto.copy_test_program("node/chain.mjs");
    // Node resolves the SDK from node_modules beside the script.
    std::os::unix::fs::symlink(sdk.join("node_modules"), tanto.home().join("node_modules"))
        .unwrap();

    let run = tanto.run(&["run", "--", "node", script.to_str().unwrap(), &image]);
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("stdout: b"), "{}", run.stdout);
    assert!(run.stdout.contains("exit code: 3"), "{}", run.stdout);
    assert!(
        run.stdout.contains("exec error: ExecError 5 out"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("synced file: hi"), "{}", run.stdout);
    let times: Vec<Vec<f64>> = run
        .stdout
        .lines()
        .filter_map(|l| l.split_once(": ").filter(|(k, _)| k.starts_with("branch ")))
        .map(|(_, v)| v.split_whitespace().map(|n| n.parse().unwrap()).collect())
        .collect();
    assert_eq!(times.len(), 2, "{}", run.stdout);
    assert!(
        times[0][0] < times[1][1] && times[1][0] < times[0][1],
        "Promise.all branches ran one after the other: {times:?}"
    );

    // Started by the SDK itself, which ends the session with SIGTERM and
    // fails if it does not exit cleanly.
    let run = started_by_the_sdk(
        &tanto,
        std::path::Path::new("/usr/bin/env"),
        &["node", script.to_str().unwrap(), &image],
    );
    assert!(run.stdout.contains("stdout: b"), "{}", run.stdout);
}

/// `program ARGS` run as the test user with tanto as the SDK's engine CLI
/// (`_EXPERIMENTAL_DAGGER_CLI_BIN`), which must succeed.
fn started_by_the_sdk(
    tanto: &Tanto,
    program: &std::path::Path,
    args: &[&str],
) -> support::tanto::Run {
    let out = tanto
        .command_for(program, args)
        .env("_EXPERIMENTAL_DAGGER_CLI_BIN", support::tanto::binary())
        .output()
        .unwrap();
    let run = support::tanto::Run {
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    run
}

#[test]
fn a_go_pipeline_runs_unmodified_under_tanto_run() {
    let client = fixtures::go_client();
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let mut tanto = Tanto::new();
    let client = client.to_str().unwrap();
    let check = |stdout: &str, stderr: &str| {
        for line in [
            "stdout: b|root|\n",
            "workdir and user: /srv/app|nobody|\n",
            "exit code: 3\n",
            "exec error: 5 [sh -c echo out; echo err >&2; exit 5] out err\n",
            "synced file: hi there\n",
            "loaded file: hi there\n",
            "legacy loaded file: hi there\n",
            "env variable: A=b\n",
        ] {
            assert!(
                stdout.contains(line),
                "{line:?} missing:\n{stdout}\n{stderr}"
            );
        }
    };

    let run = tanto.run(&["run", "--", client, "chain", &image]);
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    check(&run.stdout, &run.stderr);

    // Started by the SDK itself, which ends the session by closing its
    // standard input and fails if it does not exit cleanly.
    let run = started_by_the_sdk(&tanto, std::path::Path::new(client), &["chain", &image]);
    check(&run.stdout, &run.stderr);

    // `go run .` as the test user: the modules from the machine's module
    // cache, no network; its build cache kept between runs.
    for file in fixtures::go_files(&fixtures::go_client_source()) {
        let text = std::fs::read_to_string(fixtures::go_client_source().join(&file)).unwrap();
        tanto.write_home_file(&format!("goclient/{file}"), &text);
    }
    let build_cache = fixtures::go_build_cache(&tanto.run_as);
    tanto
        .env("GOMODCACHE", fixtures::go_module_cache().to_str().unwrap())
        .env("GOCACHE", build_cache.to_str().unwrap())
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local");
    let go = fixtures::go();
    let run = tanto.run(&[
        "run",
        "--",
        go.to_str().unwrap(),
        "-C",
        "goclient",
        "run",
        ".",
        "chain",
        &image,
    ]);
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    check(&run.stdout, &run.stderr);
}

#[test]
fn host_directories_cache_volumes_secrets_and_concurrent_branches_through_the_go_sdk() {
    let client = fixtures::go_client();
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    features_twice(&tanto, &[client.to_str().unwrap(), "features"], &image);
}

#[test]
fn ctrl_c_under_tanto_run_reaches_the_program_and_leaves_nothing_behind() {
    let python = fixtures::python_sdk();
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    let script = tanto.write_home_file(
        "hang.py",
        "import sys, anyio, dagger\nfrom dagger import dag\n\nasync def main(image):\n    async with dagger.connection():\n        await dag.container().from_(image).with_exec(['sh', '-c', 'sleep 1005 & sleep 1005']).sync()\n\nanyio.run(main, sys.argv[1])\n",
    );
    let mut command = tanto.command(&[
        "run",
        "--",
        python.to_str().unwrap(),
        script.to_str().unwrap(),
        &image,
    ]);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    // The interrupted program's traceback is expected noise.
    command.stderr(std::process::Stdio::null());
    let child = command.spawn().unwrap();
    let status = support::interrupt::ctrl_c_leaves_nothing(&tanto, child, "sleep 1005", 2);
    assert!(
        !status.success(),
        "the interrupted program's failure is tanto run's"
    );
}

/// The project of `engine/examples/project` in the test user's home.
fn project_in_home(tanto: &Tanto) {
    let project =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/examples/project");
    for file in ["bin/sum", "test/run.sh"] {
        let text = std::fs::read_to_string(project.join(file)).unwrap();
        tanto.write_home_file(&format!("project/{file}"), &text);
    }
    tanto.write_home_file("out/.keep", "");
}

fn example(path: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path),
    )
    .unwrap()
}

#[test]
fn the_sdk_examples_build_test_and_export_the_project() {
    let (python, node_sdk) = (fixtures::python_sdk(), fixtures::node_sdk());
    let go_ci = fixtures::go_program(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/go"),
    );
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    project_in_home(&tanto);
    let python_ci = tanto.write_home_file("ci.py", &example("examples/python/ci.py"));
    let node_ci = tanto.write_home_file("ci.mjs", &example("examples/typescript/ci.mjs"));
    std::os::unix::fs::symlink(
        node_sdk.join("node_modules"),
        tanto.home().join("node_modules"),
    )
    .unwrap();

    let (python_ci, node_ci) = (python_ci.to_str().unwrap(), node_ci.to_str().unwrap());
    for program in [
        &[python.to_str().unwrap(), python_ci][..],
        &["node", node_ci],
        &[go_ci.to_str().unwrap()],
    ] {
        let _ = std::fs::remove_file(tanto.home().join("out/sum"));
        let mut args = vec!["run", "--"];
        args.extend(program);
        args.extend([image.as_str(), "project", "out"]);
        let run = tanto.run(&args);
        assert!(run.success, "{program:?}: {}\n{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("all tests passed"), "{}", run.stdout);
        assert_eq!(
            std::fs::read(tanto.home().join("out/sum")).unwrap(),
            example("engine/examples/project/bin/sum").into_bytes()
        );
    }
}

#[test]
fn images_are_published_exported_and_imported_through_the_python_sdk() {
    let python = fixtures::python_sdk();
    let open = Registry::start();
    let image = fixtures::serve_debian(&open);
    let password = "pw-5be1c0de-registry";
    let guarded = Registry::start_with_basic_auth("ci", password);
    let tanto = Tanto::new();
    let script = tanto.copy_test_program("python/ship.py");
    let run = tanto.run(&[
        "run",
        "--",
        python.to_str().unwrap(),
        script.to_str().unwrap(),
        &image,
        &open.host(),
        &guarded.host(),
        password,
    ]);
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    let out = &run.stdout;
    let published = format!("published: {}/sdk/app:v1@sha256:", open.host());
    assert!(out.contains(&published), "{out}");
    assert!(out.contains("pulled: shipped\n"), "{out}");
    assert!(out.contains("imported: shipped ship\n"), "{out}");
    let exported = tanto.home().join("image.tar");
    assert!(
        out.contains(&format!("exported: {}\n", exported.display())),
        "{out}"
    );
    assert!(exported.metadata().unwrap().len() > 1_000_000);
    assert!(out.contains("refused: "), "{out}");
    assert!(out.contains("refused the credentials"), "{out}");
    let authorized = format!("authorized: {}/sdk/app:v1@sha256:", guarded.host());
    assert!(out.contains(&authorized), "{out}");

    // The password is nowhere: not in output, not in the store.
    assert!(!out.contains(password) && !run.stderr.contains(password));
    let found = support::tree::grep(&tanto.store(), password.as_bytes());
    assert!(found.is_empty(), "the password is in {found:?}");
}
