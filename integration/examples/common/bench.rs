//! What the benchmark programs share: release builds copied where the test
//! user can run them, and reading the `steps` example's report.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Builds `cargo build --release ARGS` and copies `target/release/BUILT`
/// into a directory every user may read.
pub fn release_binary(cargo_args: &[&str], built: &str) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(workspace)
        .args(["build", "--quiet", "--release"])
        .args(cargo_args)
        .status()
        .unwrap();
    assert!(status.success());
    readable_copy(&workspace.join("target/release").join(built))
}

/// Builds the statically linked `tanto` the way a release is built
/// (`scripts/build-release`), and with it the `steps` example linked the
/// same way, so steps are measured as the shipped binary runs them; copies
/// both where every user may read them.
pub fn static_tanto_and_steps() -> (PathBuf, PathBuf) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    // Two builds: with `--example`, cargo builds that example and no binary.
    let build_release = |args: &[&str]| {
        let out = Command::new(workspace.join("scripts/build-release"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scripts/build-release: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        workspace.join(String::from_utf8_lossy(&out.stdout).trim())
    };
    let tanto = build_release(&[]);
    build_release(&["-p", "engine", "--example", "steps"]);
    let steps = tanto.with_file_name("examples").join("steps");
    (readable_copy(&tanto), readable_copy(&steps))
}

pub fn readable_copy(from: &Path) -> PathBuf {
    readable_copy_named(from, from.file_name().unwrap().to_str().unwrap())
}

/// A copy of `from` named `name` where every user may read it.
pub fn readable_copy_named(from: &Path, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tanto-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let copy = dir.join(name);
    std::fs::copy(from, &copy).unwrap();
    copy
}

/// `N steps in X (Y per step); …` → Y.
pub fn per_step(line: &str) -> Duration {
    let inner = line
        .split('(')
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap();
    let (value, unit) = inner.split_at(inner.find(|c: char| c.is_alphabetic()).unwrap());
    let value: f64 = value.parse().unwrap();
    match unit {
        "ms" => Duration::from_secs_f64(value / 1e3),
        "s" => Duration::from_secs_f64(value),
        "µs" => Duration::from_secs_f64(value / 1e6),
        other => panic!("unit {other} in {line}"),
    }
}

/// Rounds to run: `BENCH_ROUNDS`, or `default`.
pub fn rounds(default: usize) -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// The middle of `values`.
pub fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}
