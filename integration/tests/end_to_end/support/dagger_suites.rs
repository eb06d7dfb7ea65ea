//! Dagger's own engine-backed SDK test suites (Python, TypeScript and Rust
//! at [`DAGGER`]), fetched from the package registries the SDKs ship
//! through, never copied into this repository, and checked on the way:
//! the Python sdist against the hash pinned here (pip refuses another),
//! the Go module zip that carries the TypeScript SDK's sources against the
//! Go checksum database and the hash pinned here, the Rust crate against
//! crates.io's index and the hash pinned here. Made once per machine under
//! the fixtures directory (the Rust tests built there once, with their own
//! target directory); each run copies the tests into the test user's home.
//!
//! The suites' images are Docker Hub's `alpine` at the tags they name,
//! stood in for by images served from a local registry
//! ([`served_alpines`]) that a `registries.conf` in the test user's home
//! puts in Docker Hub's place ([`point_docker_hub_here`]), so the tests
//! run unmodified.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::fixtures::{debian, made_once};
use super::image::{
    index_of, push_blob, push_manifest, tar_directory, tiny_layer, Codec, Image, Layer,
};
use super::multi_platform::arm64_busybox;
use super::registry::Registry;
use super::tanto::{binary, Tanto};

/// The Dagger release whose SDK tests run.
pub const DAGGER: &str = "0.21.8";

/// `dagger_io-0.21.8.tar.gz` on PyPI.
const PYTHON_SDIST_SHA256: &str =
    "f0d2791b748d0157245d33ab30ad636918d7a619f064a08088a1cbeb7ff456e5";
/// What the Python suite runs with besides the SDK: its `dev` dependency
/// group, at the versions the suite was checked with.
const PYTHON_TEST_DEPS: &[&str] = &[
    "pytest==9.2.0",
    "pytest-httpx==0.36.2",
    "pytest-mock==3.17.0",
    "pytest-subprocess==1.6.0",
    "aiohttp==3.14.5",
];
/// The Go module `github.com/dagger/dagger@v0.21.8` (go.sum's `h1:` hash).
const DAGGER_MODULE_SUM: &str = "h1:2BQXPly/KRgbjMLNjbh2kz5+zVOlIaFAk9A8t1oGCFk=";
/// `dagger-sdk-0.21.8.crate` on crates.io.
const RUST_CRATE_SHA256: &str = "bf055227515c6343d67c00fb0f834f079a758675d3c45a90660d96112e51b282";

/// The alpine tags the suites pull, and the release each says it is.
const ALPINES: &[(&str, &str)] = &[
    ("3.20.2", "3.20.2"),
    ("3.16.2", "3.16.2"),
    ("3.14.0", "3.14.0"),
    ("latest", "3.20.2"),
];

/// One registry for the whole run serving `library/alpine` at each tag
/// the suites pull: an index of a linux/amd64 image (the Debian minbase
/// fixture, whose coreutils has the `printenv` Alpine's busybox has) and a
/// linux/arm64 one (the arm64 busybox; only `uname -m` runs there), both
/// with `/etc/alpine-release` saying the tag's release and a config whose
/// environment is `PATH` alone, as Alpine's.
pub fn served_alpines() -> &'static Registry {
    static SERVED: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    SERVED.get_or_init(|| {
        let registry = Registry::start();
        let amd64 = debian().layer;
        let arm64 = {
            let dir = tempfile::tempdir().unwrap();
            super::fixtures::busybox_tree_of(dir.path(), &arm64_busybox());
            Layer::new(&tar_directory(dir.path()), Codec::Gzip)
        };
        // The big layers once; each tag's own small layer and manifests.
        for base in [&amd64, &arm64] {
            push_blob(&registry, "library/alpine", &base.blob);
        }
        for (tag, release) in ALPINES {
            let release = tiny_layer("etc/alpine-release", &format!("{release}\n"));
            let images = [
                Image::for_architecture(vec![amd64.clone(), release.clone()], "amd64"),
                Image::for_architecture(vec![arm64.clone(), release.clone()], "arm64"),
            ];
            push_blob(&registry, "library/alpine", &release.blob);
            for image in &images {
                push_blob(&registry, "library/alpine", &image.config);
                push_manifest(
                    &registry,
                    "library/alpine",
                    &format!("{tag}-{}", image.architecture),
                    "application/vnd.oci.image.manifest.v1+json",
                    &image.manifest(),
                );
            }
            push_manifest(
                &registry,
                "library/alpine",
                tag,
                "application/vnd.oci.image.index.v1+json",
                &index_of(&images),
            );
        }
        registry
    })
}

/// Writes `~/.config/containers/registries.conf` for the test user, where
/// podman's tools and tanto look by default: Docker Hub's `alpine` (what
/// `alpine:3.16.2` and a bare `alpine` mean) is `registry`'s.
pub fn point_docker_hub_here(tanto: &Tanto, registry: &Registry) {
    tanto.write_home_file(
        ".config/containers/registries.conf",
        &format!(
            "[[registry]]\nprefix = \"docker.io/library/alpine\"\nlocation = \"{}/library/alpine\"\n",
            registry.host()
        ),
    );
}

/// How a suite's run ended: its runner's exit status and output, and the
/// counts its summary gave.
#[derive(Debug)]
pub struct Outcome {
    pub success: bool,
    pub passed: usize,
    pub failed: usize,
    pub output: String,
}

/// Runs `command` (as the test user, built by [`Tanto::command_for`]) with
/// tanto as Dagger's CLI: each connection of the suite starts its own
/// `tanto session`, as Dagger's CI runs these suites. `count` reads the
/// passed and failed counts from the output.
pub fn run_suite(mut command: Command, count: impl Fn(&str) -> (usize, usize)) -> Outcome {
    command.env("_EXPERIMENTAL_DAGGER_CLI_BIN", binary());
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let output = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (passed, failed) = count(&output);
    Outcome {
        success: out.status.success(),
        passed,
        failed,
        output,
    }
}

/// The number before `word` in `line` (`"94 passing (34s)"`, `"3 passed,"`).
pub fn count_before(line: &str, word: &str) -> Option<usize> {
    let words: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .find(|pair| pair[1] == word)
        .and_then(|pair| pair[0].parse().ok())
}

/// A copy of the directory `source` in the test user's home, theirs, for
/// a suite to run in (and write into) without touching the shared cache;
/// `except` (e.g. `node_modules`) is linked rather than copied.
pub fn copy_into_home(tanto: &Tanto, source: &Path, except: Option<&str>) -> PathBuf {
    let dest = tanto.home().join(source.file_name().unwrap());
    std::fs::create_dir_all(&dest).unwrap();
    let mut tar = Command::new("tar");
    tar.arg("-C").arg(source);
    if let Some(except) = except {
        tar.arg(format!("--exclude=./{except}"));
    }
    let pack = tar.args(["-cf", "-", "."]).output().unwrap();
    assert!(pack.status.success(), "tar of {}", source.display());
    let mut unpack = Command::new("tar")
        .arg("-C")
        .arg(&dest)
        .args(["-xf", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(unpack.stdin.as_mut().unwrap(), &pack.stdout).unwrap();
    drop(unpack.stdin.take());
    assert!(unpack.wait().unwrap().success());
    if let Some(except) = except {
        std::os::unix::fs::symlink(source.join(except), dest.join(except)).unwrap();
    }
    tanto.give(&dest);
    dest
}

fn run_checked(what: &str, command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The Python suite, made once per machine: `venv/` (Debian's python3,
/// which the test user may run) with `dagger-io` and the suite's test
/// dependencies from PyPI, and `dagger_io-0.21.8/`, the sdist that carries
/// `tests/`, checked against [`PYTHON_SDIST_SHA256`].
pub fn python_suite() -> PathBuf {
    made_once(
        &format!("dagger-suite-python-{DAGGER}"),
        "dagger-suite-python.lock",
        |dir| {
            let venv = dir.join("venv");
            run_checked(
                "python3 -m venv",
                Command::new("/usr/bin/python3")
                    .args(["-m", "venv"])
                    .arg(&venv),
            );
            let pip = venv.join("bin/pip");
            run_checked(
                "pip install",
                Command::new(&pip)
                    .args(["install", "--quiet", &format!("dagger-io=={DAGGER}")])
                    .args(PYTHON_TEST_DEPS),
            );
            let requirement = dir.join("sdist.txt");
            std::fs::write(
                &requirement,
                format!("dagger-io=={DAGGER} --hash=sha256:{PYTHON_SDIST_SHA256}\n"),
            )
            .unwrap();
            // Only the sdist: `--no-binary :all:` would build uv_build too.
            run_checked(
                "pip download of the sdist",
                Command::new(&pip)
                    .args([
                        "download",
                        "--quiet",
                        "--no-deps",
                        "--no-binary",
                        "dagger-io",
                    ])
                    .args(["--require-hashes", "-r"])
                    .arg(&requirement)
                    .arg("-d")
                    .arg(dir),
            );
            let sdist = dir.join(format!("dagger_io-{DAGGER}.tar.gz"));
            run_checked(
                "unpacking the sdist",
                Command::new("tar")
                    .arg("-xzf")
                    .arg(&sdist)
                    .arg("-C")
                    .arg(dir),
            );
            std::fs::remove_file(sdist).unwrap();
        },
    )
}

/// The TypeScript suite, made once per machine: the SDK's `sdk/typescript`
/// (sources, specs, test data, yarn.lock; npm's package has only `dist/`)
/// from the Go module proxy's `github.com/dagger/dagger@v0.21.8`, whose hash
/// `go mod download` checks against the Go checksum database and we against
/// [`DAGGER_MODULE_SUM`]; then its dependencies as its yarn.lock pins them
/// (with their integrity hashes), scripts not run.
pub fn typescript_suite() -> PathBuf {
    made_once(
        &format!("dagger-suite-typescript-{DAGGER}"),
        "dagger-suite-typescript.lock",
        |dir| {
            let modules = tempfile::tempdir().unwrap();
            let outside_a_module = tempfile::tempdir().unwrap();
            let json = run_checked(
                "go mod download",
                Command::new(super::fixtures::go())
                    .args(["mod", "download", "-json"])
                    .arg(format!("github.com/dagger/dagger@v{DAGGER}"))
                    .current_dir(outside_a_module.path())
                    .env("GOMODCACHE", modules.path())
                    .env("GOFLAGS", "-modcacherw"),
            );
            let info: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(info["Sum"], DAGGER_MODULE_SUM, "{info:#}");
            let sdk = Path::new(info["Dir"].as_str().unwrap()).join("sdk/typescript");
            let typescript = dir.join("typescript");
            run_checked(
                "copying sdk/typescript",
                Command::new("cp").arg("-r").arg(&sdk).arg(&typescript),
            );
            let yarn_cache = tempfile::tempdir().unwrap();
            run_checked(
                "yarn install",
                Command::new("npx")
                    .args(["--yes", "yarn@1.22.22", "install", "--frozen-lockfile"])
                    .args(["--ignore-scripts", "--non-interactive", "--silent"])
                    .current_dir(&typescript)
                    .env("YARN_CACHE_FOLDER", yarn_cache.path()),
            );
        },
    )
    .join("typescript")
}

/// The Rust suite's test program (`tests/mod.rs` of the `dagger-sdk`
/// crate), built once per machine: the crate from crates.io, checked
/// against the index's checksum and [`RUST_CRATE_SHA256`], its tests built
/// with `--locked` (its Cargo.lock) into a target directory of its own,
/// without debug info (it is only run).
pub fn rust_suite() -> PathBuf {
    let dir = made_once(
        &format!("dagger-suite-rust-{DAGGER}"),
        "dagger-suite-rust.lock",
        |dir| {
            let index = get_text("https://index.crates.io/da/gg/dagger-sdk");
            let entry: serde_json::Value = index
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .find(|v| v["vers"] == DAGGER)
                .unwrap_or_else(|| panic!("crates.io's index has no dagger-sdk {DAGGER}"));
            assert_eq!(entry["cksum"], RUST_CRATE_SHA256, "{entry}");
            let url =
                format!("https://static.crates.io/crates/dagger-sdk/dagger-sdk-{DAGGER}.crate");
            let mut crate_file = Vec::new();
            std::io::Read::read_to_end(
                &mut ureq::get(&url)
                    .call()
                    .unwrap_or_else(|e| panic!("downloading {url}: {e}"))
                    .into_reader(),
                &mut crate_file,
            )
            .unwrap();
            assert_eq!(
                super::image::sha256(&crate_file),
                format!("sha256:{RUST_CRATE_SHA256}"),
                "{url} is not the crate crates.io's index names"
            );
            let packed = dir.join("dagger-sdk.crate");
            std::fs::write(&packed, &crate_file).unwrap();
            run_checked(
                "unpacking the crate",
                Command::new("tar")
                    .arg("-xzf")
                    .arg(&packed)
                    .arg("-C")
                    .arg(dir),
            );
            std::fs::remove_file(packed).unwrap();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let json = run_checked(
                "cargo test --no-run",
                Command::new(cargo)
                    .args(["test", "--locked", "--no-run", "--test", "mod"])
                    .args(["--message-format=json-render-diagnostics"])
                    .current_dir(dir.join(format!("dagger-sdk-{DAGGER}")))
                    .env("CARGO_TARGET_DIR", dir.join("target"))
                    .env("CARGO_INCREMENTAL", "0")
                    .env("CARGO_PROFILE_DEV_DEBUG", "false")
                    .env("CARGO_PROFILE_TEST_DEBUG", "false"),
            );
            let program = json
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "mod")
                .and_then(|v| v["executable"].as_str().map(str::to_owned))
                .expect("cargo built the test program of tests/mod.rs");
            std::fs::write(dir.join("program"), program).unwrap();
            // Only the program is run: the intermediate objects can go.
            let _ = std::fs::remove_dir_all(dir.join("target/debug/incremental"));
        },
    );
    PathBuf::from(std::fs::read_to_string(dir.join("program")).unwrap())
}

fn get_text(url: &str) -> String {
    ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("downloading {url}: {e}"))
        .into_string()
        .unwrap()
}
