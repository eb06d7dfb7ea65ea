//! What the module tests share: the `tiny` module each SDK's test writes
//! in its own language, with the same functions (`hello` using a
//! `greeting` the constructor takes, `build` taking a Directory and
//! returning a Container, `copy` returning a Directory, `secret-length`,
//! `roll` (cached) and `roll-again` (never cached), `fail` raising "out of
//! tea", `failing-exec` whose step exits 7), driven through `tanto functions` and `tanto call`, and
//! in a terminal (tmux) for `terminal` and `-i`.

use std::sync::Mutex;

use super::registry::Registry;
use super::tanto::Tanto;
use super::terminal::Tmux;

/// A registry serving the runtime image that `serve` pushes, and the
/// busybox image the functions use: (registry, runtime image, busybox
/// image), made once per run for each `serve` (each SDK's tests serve
/// their own runtime image).
pub fn images(serve: fn(&Registry) -> String) -> &'static (Registry, String, String) {
    type Served = &'static (Registry, String, String);
    static IMAGES: Mutex<Vec<(usize, Served)>> = Mutex::new(Vec::new());
    // Held while an image is made: one SDK's image at a time, the other
    // SDK's tests waiting rather than building beside it.
    let mut images = IMAGES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = serve as usize;
    if let Some((_, served)) = images.iter().find(|(made_by, _)| *made_by == key) {
        return served;
    }
    let registry = Registry::start();
    let runtime = serve(&registry);
    let busybox = super::fixtures::served_busybox().1.clone();
    let served: Served = Box::leak(Box::new((registry, runtime, busybox)));
    images.push((key, served));
    served
}

/// `~/tiny/dagger.json` for the module `tiny` written with `sdk`.
pub fn tiny_dagger_json(tanto: &Tanto, sdk: &str) {
    tanto.write_home_file(
        "tiny/dagger.json",
        &format!(r#"{{"name": "tiny", "engineVersion": "v0.21.8", "sdk": {{"source": "{sdk}"}}}}"#),
    );
}

/// Checks `tanto functions -m tiny` lists `expected` (name, description)
/// and that the calls every SDK's `tiny` answers alike do.
pub fn check_tiny(tanto: &Tanto, expected: &[(&str, &str)]) {
    let functions = tanto.run(&["functions", "-m", "tiny"]);
    assert!(functions.success, "{}", functions.stderr);
    for (name, description) in expected {
        assert!(
            functions
                .stdout
                .lines()
                .any(|l| l.starts_with(name) && l.ends_with(description)),
            "{name}: {}",
            functions.stdout
        );
    }

    // Progress names what runs: the registration, then each call.
    assert!(
        functions.stderr.contains("register module tiny"),
        "{}",
        functions.stderr
    );
    let hello = tanto.run(&["call", "-m", "tiny", "hello", "--name=world"]);
    assert!(hello.success, "{}", hello.stderr);
    assert_eq!(hello.stdout, "Hello, world!\n");
    assert!(
        hello.stderr.contains("call tiny: Tiny.hello"),
        "{}",
        hello.stderr
    );

    // Constructor arguments before the first function; state carried.
    let hi = tanto.run(&[
        "call",
        "-m",
        "tiny",
        "--greeting",
        "Hi",
        "hello",
        "--name",
        "Bob",
    ]);
    assert_eq!(hi.stdout, "Hi, Bob!\n", "{}", hi.stderr);

    // A Directory from the host, a Container back, chained into core.
    let listed = tanto.run(&[
        "call",
        "-m",
        "tiny",
        "build",
        "--src",
        "tiny",
        "with-exec",
        "--args=cat,dagger.json",
        "stdout",
    ]);
    assert!(listed.stdout.contains("\"tiny\""), "{}", listed.stderr);

    // A raised exception: its message; a failed exec: its exit code.
    let failed = tanto.run(&["call", "-m", "tiny", "fail"]);
    assert!(!failed.success);
    assert!(failed.stderr.contains("out of tea"), "{}", failed.stderr);
    let exec = tanto.run(&["call", "-m", "tiny", "failing-exec"]);
    assert_eq!(exec.code, Some(7), "{}", exec.stderr);
    assert!(exec.stderr.contains("bad"), "{}", exec.stderr);

    // A Directory the function returned, exported to the host.
    let exported = tanto.run(&[
        "call",
        "-m",
        "tiny",
        "copy",
        "--src=tiny",
        "export",
        "--path=exported",
    ]);
    assert!(exported.success, "{}", exported.stderr);
    assert!(
        tanto.home().join("exported/copied/dagger.json").is_file(),
        "{}",
        exported.stderr
    );

    // Function results are reused as their cache policy says, across runs.
    let roll = |name: &str| tanto.ok(&["call", "-m", "tiny", name]).stdout;
    assert_eq!(roll("roll"), roll("roll"));
    assert_ne!(roll("roll-again"), roll("roll-again"));

    check_shells(tanto);
}

/// A secret from the environment (`TINY_TOKEN`, set by the caller): used,
/// never shown, never stored.
pub fn check_secret(tanto: &Tanto) {
    let secret = tanto.run(&[
        "call",
        "-m",
        "tiny",
        "secret-length",
        "--token=env:TINY_TOKEN",
    ]);
    assert_eq!(secret.stdout, "17\n", "{}", secret.stderr);
    assert!(!secret.stderr.contains(TINY_TOKEN));
    let hits = super::tree::grep(&tanto.store(), TINY_TOKEN.as_bytes());
    assert!(hits.is_empty(), "the secret is in {hits:?}");
}

/// What `TINY_TOKEN` holds in the module tests.
pub const TINY_TOKEN: &str = "s3cret-value-2f9c";

/// `terminal` on a returned container, and `-i` where a function's step
/// failed, in a real terminal.
fn check_shells(tanto: &Tanto) {
    let tmux = Tmux::tanto(
        tanto,
        &["call", "-m", "tiny", "build", "--src=tiny", "terminal"],
    );
    tmux.wait_for_shell("in-build");
    tmux.type_line("pwd; ls");
    tmux.wait_for("the mounted source", |s| {
        s.contains("\n/src\n") && s.contains("dagger.json")
    });
    tmux.type_line("exit");
    let done = tmux.wait_for_exit();
    assert!(done.contains("EXIT=0"), "{done}");

    let tmux = Tmux::tanto(tanto, &["call", "-m", "tiny", "-i", "failing-exec"]);
    tmux.wait_for("the banner", |s| s.contains("failed with exit code 7"));
    tmux.wait_for_shell("after-failure");
    tmux.type_line("exit");
    let done = tmux.wait_for_exit();
    assert!(done.contains("EXIT=7"), "{done}");
}
