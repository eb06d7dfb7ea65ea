//! The registry cache between runners: each `Tanto` here is a runner with
//! a store of its own, and they share results only through a real registry
//! (`--cache-to`, `--cache-from`). A step that runs notes it in a cache
//! volume, which lives in the runner's store on the host; a step served by
//! the registry cache leaves no note.

use crate::support;

use support::fixtures;
use support::registry::Registry;
use support::tanto::{Run, Tanto};

/// A runner with `src/a` holding `content`.
fn runner(content: &str) -> Tanto {
    let tanto = Tanto::new();
    tanto.write_home_file("src/a", content);
    tanto
}

/// Runs tests/python/cached_steps.py with `flags` before `run`.
fn run_steps(tanto: &Tanto, flags: &[&str], image: &str, extra: &[&str]) -> Run {
    let python = fixtures::python_sdk();
    let script = tanto.copy_test_program("python/cached_steps.py");
    let mut args: Vec<&str> = flags.to_vec();
    args.extend([
        "--progress",
        "plain",
        "run",
        "--",
        python.to_str().unwrap(),
        script.to_str().unwrap(),
        image,
        "src",
    ]);
    args.extend(extra);
    let run = tanto.run(&args);
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    run
}

/// The steps that ran in this runner, as their notes say.
fn steps_run(tanto: &Tanto) -> Vec<String> {
    let mut notes = Vec::new();
    let cache = tanto.store().join("cache");
    for volume in std::fs::read_dir(&cache).into_iter().flatten().flatten() {
        if let Ok(log) = std::fs::read_to_string(volume.path().join("data/log")) {
            notes.extend(log.lines().map(str::to_owned));
        }
    }
    notes
}

/// How many step lines of the plain progress end with `state`.
fn steps_with(run: &Run, state: &str) -> usize {
    run.stderr
        .lines()
        .filter(|l| l.contains("withExec") && l.ends_with(state))
        .count()
}

#[test]
fn a_second_runner_fetches_every_step_and_runs_only_what_a_change_needs() {
    let images = Registry::start();
    let image = fixtures::serve_debian(&images);
    // The cache sits behind a password, as teams' registries do.
    let cache = Registry::start_with_basic_auth("ci", "cache-pw");
    let auth = format!(
        r#"{{"auths":{{"{}":{{"username":"ci","password":"cache-pw"}}}}}}"#,
        cache.host()
    );
    let to = format!("--cache-to=type=registry,ref={}/team/cache", cache.host());
    let from = format!("--cache-from=type=registry,ref={}/team/cache", cache.host());

    let a = runner("source v1\n");
    a.write_home_file(".docker/config.json", &auth);
    let first = run_steps(&a, &[&to], &image, &["s3cret"]);
    assert_eq!(first.stdout, "one\nsource v1\n");
    assert_eq!(steps_run(&a), ["one", "two", "three", "secret"]);
    assert!(
        first.stderr.contains(&format!(
            "cache: 4 results pushed to {}/team/cache, 0 there already; 1 results of steps that read a secret left out",
            cache.host()
        )),
        "{}",
        first.stderr
    );

    // An empty store, the same pipeline: every step comes from the cache,
    // and since only the last step's output is asked for, no layer is
    // downloaded at all: not the image's, not the steps'.
    let b = runner("source v1\n");
    b.write_home_file(".docker/config.json", &auth);
    let (images_before, cache_before) = (images.log().lines().count(), cache.log().lines().count());
    let second = run_steps(&b, &[&from], &image, &[]);
    assert_eq!(second.stdout, "one\nsource v1\n");
    assert_eq!(layers_fetched(&images, images_before), Vec::<String>::new());
    assert_eq!(layers_fetched(&cache, cache_before), Vec::<String>::new());
    assert!(steps_run(&b).is_empty(), "{:?}", steps_run(&b));
    assert_eq!(
        steps_with(&second, "CACHED (registry)"),
        3,
        "{}",
        second.stderr
    );
    assert_eq!(steps_with(&second, "DONE"), 0, "{}", second.stderr);

    // A changed source file: the step on the image alone is still fetched,
    // the two on the source run.
    b.write_home_file("src/a", "source v2\n");
    let third = run_steps(&b, &[&from], &image, &[]);
    assert_eq!(third.stdout, "one\nsource v2\n");
    assert_eq!(steps_run(&b), ["two", "three"]);

    // Exporting again pushes only what is new.
    let again = run_steps(&a, &[&to], &image, &[]);
    assert!(
        again.stderr.contains("cache: 0 results pushed")
            && again.stderr.contains("4 there already"),
        "{}",
        again.stderr
    );
}

#[test]
fn concurrent_exports_lose_nothing_and_tampered_entries_are_refused() {
    let images = Registry::start();
    let image = fixtures::serve_debian(&images);
    let cache = Registry::start();
    let to = format!("--cache-to=type=registry,ref={}/shared:ci", cache.host());
    let from = format!("--cache-from=type=registry,ref={}/shared:ci", cache.host());

    // Two runners push to one ref at once.
    let (a1, a2) = (runner("from runner 1\n"), runner("from runner 2\n"));
    std::thread::scope(|scope| {
        scope.spawn(|| run_steps(&a1, &[&to], &image, &[]));
        scope.spawn(|| run_steps(&a2, &[&to], &image, &[]));
    });

    // A third finds both runners' entries.
    let c = runner("from runner 1\n");
    assert_eq!(
        run_steps(&c, &[&from], &image, &[]).stdout,
        "one\nfrom runner 1\n"
    );
    c.write_home_file("src/a", "from runner 2\n");
    assert_eq!(
        run_steps(&c, &[&from], &image, &[]).stdout,
        "one\nfrom runner 2\n"
    );
    assert!(steps_run(&c).is_empty(), "{:?}", steps_run(&c));

    // A blob altered in the registry's storage: the last step's output.
    let mut tampered = None;
    for data in cache.blob_files() {
        if std::fs::read(&data).unwrap() == b"one\nfrom runner 1\n" {
            std::fs::write(&data, b"one\nfrom runner X\n").unwrap();
            let hex = data
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap();
            tampered = Some(format!("sha256:{hex}"));
        }
    }
    let tampered = tampered.expect("the last step's output is a blob of the cache");
    let d = runner("from runner 1\n");
    let refused = run_steps(&d, &[&from], &image, &[]);
    assert_eq!(refused.stdout, "one\nfrom runner 1\n");
    assert!(
        refused.stderr.contains(&tampered)
            && refused
                .stderr
                .contains(&format!("{}/shared:ci-", cache.host()))
            && refused.stderr.contains("refused"),
        "{}",
        refused.stderr
    );
    assert_eq!(steps_run(&d), ["three"]);
}

#[test]
fn mode_min_exports_what_the_answer_stands_on_and_no_side_step() {
    let images = Registry::start();
    let image = fixtures::serve_debian(&images);
    let cache = Registry::start();
    let spec = format!("type=registry,ref={}/min", cache.host());
    let side_steps = |tanto: &Tanto, flag: &str| {
        let python = fixtures::python_sdk();
        let script = tanto.copy_test_program("python/side_steps.py");
        let run = tanto.run(&[
            flag,
            "run",
            "--",
            python.to_str().unwrap(),
            script.to_str().unwrap(),
            &image,
        ]);
        assert!(run.success, "{}\n{}", run.stdout, run.stderr);
        run
    };

    let a = Tanto::new();
    let first = side_steps(&a, &format!("--cache-to={spec},mode=min"));
    assert_eq!(first.stdout, "built\n");
    assert_eq!(steps_run(&a), ["side", "final"]);
    // The final step and the file copied under it; not the side step.
    assert!(
        first.stderr.contains(&format!(
            "cache: 2 results pushed to {}/min, 0 there already; 1 results the run only worked with left out (mode=min)",
            cache.host()
        )),
        "{}",
        first.stderr
    );

    // Another runner answers from the cache, but must make the side step
    // again to know the key of what stands on it.
    let b = Tanto::new();
    let second = side_steps(&b, &format!("--cache-from={spec}"));
    assert_eq!(second.stdout, "built\n");
    assert_eq!(steps_run(&b), ["side"]);
}

#[test]
fn bad_cache_options_are_refused_by_name() {
    let tanto = Tanto::new();
    for (spec, said) in [
        ("type=local,dest=x", "type=registry"),
        ("type=registry,ref=reg.lan/c,mode=all", "mode is min or max"),
        ("type=registry,ref=reg.lan/c,colour=blue", "\"colour\""),
    ] {
        let run = tanto.fails(&["--cache-to", spec, "query", "-"]);
        assert!(run.stderr.contains(said), "{spec}: {}", run.stderr);
    }
}

/// The blobs `registry` served after its first `since` log lines that
/// are layers (gzip or zstd streams), by digest.
fn layers_fetched(registry: &Registry, since: usize) -> Vec<String> {
    let blobs = registry.data_dir().join("docker/registry/v2/blobs/sha256");
    let mut layers = Vec::new();
    for line in registry.log().lines().skip(since) {
        let Some(at) = line
            .find("/blobs/sha256:")
            .filter(|_| line.contains("\"GET /v2/"))
        else {
            continue;
        };
        let hex = &line[at + "/blobs/sha256:".len()..][..64];
        let data = std::fs::read(blobs.join(&hex[..2]).join(hex).join("data")).unwrap();
        let compressed_tar =
            data.starts_with(&[0x1f, 0x8b]) || data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
        if compressed_tar {
            layers.push(format!("sha256:{hex}"));
        }
    }
    layers
}

#[test]
fn a_module_call_on_a_second_runner_runs_nothing() {
    let cache = Registry::start();
    let spec = format!("type=registry,ref={}/modules", cache.host());
    let (to, from) = (format!("--cache-to={spec}"), format!("--cache-from={spec}"));
    let call = |tanto: &Tanto, flag: &str| {
        let run = tanto.run(&[
            flag,
            "--progress",
            "plain",
            "call",
            "-m",
            "tiny",
            "hello",
            "--name=cache",
        ]);
        assert!(run.success, "{}\n{}", run.stdout, run.stderr);
        run
    };
    let a = Tanto::new();
    crate::modules::tiny_module(&a);
    let first = call(&a, &to);
    assert!(first.stderr.contains(" DONE "), "{}", first.stderr);

    let b = Tanto::new();
    crate::modules::tiny_module(&b);
    let second = call(&b, &from);
    assert_eq!(second.stdout, first.stdout);
    // The module's registration and the call's answer, both kept by key,
    // come from the cache: nothing runs on the second runner, and the
    // runtime's image is not even pulled.
    let ran: Vec<&str> = second
        .stderr
        .lines()
        .filter(|l| l.contains(" DONE ") && !l.contains("host.directory"))
        .collect();
    assert!(
        ran.is_empty(),
        "ran on the second runner: {ran:#?}\n{}",
        second.stderr
    );
    let fetched = cache
        .log()
        .lines()
        .filter(|l| l.contains("\"GET /v2/modules/manifests/tanto-"))
        .count();
    assert!(fetched >= 2, "{}", cache.log());
}
