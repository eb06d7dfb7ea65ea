//! Fixture images from Debian packages: a busybox-static tree, a Debian
//! bookworm minbase root file system and trixie ones with Python and with
//! Node.js (for module runtimes), made by debootstrap — built once per
//! machine and reused (set TANTO_FIXTURES to move the cache).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::image::{sha256, Image, Layer};

pub const MIRROR: &str = "http://deb.debian.org/debian";

fn cache_dir() -> PathBuf {
    std::env::var_os("TANTO_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/tanto-fixtures"))
}

/// A cached debootstrapped tree and its gzip layer.
pub struct Debian {
    pub rootfs: PathBuf,
    pub layer: Layer,
}

/// Builds (first time on a machine) or reuses the Debian fixture.
pub fn debian() -> Debian {
    debootstrapped("debian-bookworm-minbase-v1", "bookworm", &[])
}

/// Debian trixie with Python 3.13, venv, pip and CA certificates: what
/// Docker's `python:3.13-slim` gives a Dagger Python module runtime.
pub fn python_slim() -> Debian {
    debootstrapped(
        "python-trixie-v1",
        "trixie",
        &["python3", "python3-venv", "python3-pip", "ca-certificates"],
    )
}

/// Debian bookworm with Redis (server and `redis-cli`): a real database
/// for services.
pub fn redis() -> Debian {
    debootstrapped(
        "redis-bookworm-v1",
        "bookworm",
        &["redis-server", "redis-tools"],
    )
}

/// Debian trixie with Node.js 20, CA certificates and npm: what Docker's
/// `node:X-slim` gives a Dagger TypeScript module runtime. npm is the npm
/// registry's package (which bundles its dependencies), put where Node.js
/// images have it: Debian's `npm` depends on virtual packages debootstrap
/// cannot resolve.
pub fn node_slim() -> Debian {
    debootstrapped_then(
        "node-trixie-v1",
        "trixie",
        &["nodejs", "ca-certificates"],
        |rootfs| {
            let packed = tempfile::tempdir().unwrap();
            let pack = Command::new("npm")
                .args(["pack", "--quiet", NPM, "--pack-destination"])
                .arg(packed.path())
                .output()
                .expect("npm (with Node.js 18 or later) must be installed");
            assert!(
                pack.status.success(),
                "npm pack {NPM} failed: {}",
                String::from_utf8_lossy(&pack.stderr)
            );
            let tarball = std::fs::read_dir(packed.path())
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "tgz"))
                .expect("npm pack wrote a tarball");
            let npm = rootfs.join("usr/lib/node_modules/npm");
            std::fs::create_dir_all(&npm).unwrap();
            let untar = Command::new("tar")
                .args(["-xzf"])
                .arg(&tarball)
                .args(["--strip-components=1", "--no-same-owner", "-C"])
                .arg(&npm)
                .status()
                .unwrap();
            assert!(untar.success());
            for tool in ["npm", "npx"] {
                std::os::unix::fs::symlink(
                    format!("../lib/node_modules/npm/bin/{tool}-cli.js"),
                    rootfs.join("usr/bin").join(tool),
                )
                .unwrap();
            }
        },
    )
}

/// The npm in the Node.js fixture (10.x runs on Node.js 20).
const NPM: &str = "npm@10.9.4";

/// A minbase root file system of `suite` with `packages`, cached under
/// `name`, and its gzip layer.
fn debootstrapped(name: &str, suite: &str, packages: &[&str]) -> Debian {
    debootstrapped_then(name, suite, packages, |_| {})
}

/// The same, with `then` run on the root file system before it is packed.
fn debootstrapped_then(
    name: &str,
    suite: &str,
    packages: &[&str],
    then: impl FnOnce(&Path),
) -> Debian {
    let dir = cache_dir().join(name);
    let rootfs = dir.join("rootfs");
    let (blob_path, diff_id_path) = (dir.join("layer.tar.gz"), dir.join("diff_id"));
    std::fs::create_dir_all(cache_dir()).unwrap();
    let lock = std::fs::File::create(cache_dir().join(format!("{name}.lock"))).unwrap();
    // SAFETY: valid fd; serialises builders across test binaries.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    if !dir.join("complete").exists() {
        build(&dir, suite, packages, then);
    }
    let blob = std::fs::read(&blob_path).unwrap();
    let diff_id = std::fs::read_to_string(&diff_id_path).unwrap();
    Debian {
        rootfs,
        layer: Layer::from_blob("application/vnd.oci.image.layer.v1.tar+gzip", blob, diff_id),
    }
}

fn build(dir: &Path, suite: &str, packages: &[&str], then: impl FnOnce(&Path)) {
    // SAFETY: geteuid has no preconditions.
    assert!(
        unsafe { libc::geteuid() } == 0,
        "the {suite} fixture is not cached at {} and debootstrap needs root: run the tests as root once (CI does)",
        dir.display()
    );
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let rootfs = dir.join("rootfs");
    let mut debootstrap = Command::new("debootstrap");
    debootstrap.arg("--variant=minbase");
    if !packages.is_empty() {
        debootstrap.arg(format!("--include={}", packages.join(",")));
    }
    let out = debootstrap
        .arg(suite)
        .arg(&rootfs)
        .arg(MIRROR)
        .output()
        .expect("debootstrap (Debian package debootstrap) must be installed");
    assert!(
        out.status.success(),
        "debootstrap failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    then(&rootfs);
    // What an image build would drop: apt's downloaded packages and logs.
    for junk in [
        "var/cache/apt/archives",
        "var/log/bootstrap.log",
        "debootstrap",
    ] {
        let path = rootfs.join(junk);
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap().flatten() {
                if entry.path().extension().is_some_and(|e| e == "deb") {
                    std::fs::remove_file(entry.path()).unwrap();
                }
            }
        } else if path.exists() {
            std::fs::remove_file(&path).unwrap();
        }
    }
    let tar = super::image::tar_directory(&rootfs);
    let layer = Layer::new(&tar, super::image::Codec::Gzip);
    std::fs::write(dir.join("layer.tar.gz"), &layer.blob).unwrap();
    std::fs::write(dir.join("diff_id"), sha256(&tar)).unwrap();
    std::fs::write(dir.join("complete"), "").unwrap();
}

/// A minimal busybox root file system in `dir`: the static busybox, applet
/// links, /etc/passwd and /etc/group.
pub fn busybox_tree(dir: &Path) {
    assert!(
        Path::new("/bin/busybox").exists(),
        "/bin/busybox (Debian package busybox-static) must be installed"
    );
    busybox_tree_of(dir, Path::new("/bin/busybox"));
}

/// The same tree around the static `busybox` binary given (another
/// architecture's, for multi-platform images).
pub fn busybox_tree_of(dir: &Path, busybox: &Path) {
    for sub in ["bin", "etc", "tmp", "root"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::copy(busybox, dir.join("bin/busybox")).unwrap();
    for applet in [
        "sh", "ls", "cat", "echo", "id", "true", "false", "sleep", "env", "uname",
    ] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
    std::fs::set_permissions(
        dir.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
}

/// The Dagger Python SDK version tanto is checked against (dagger-compat.md).
pub const PYTHON_SDK: &str = "dagger-io==0.21.11";

/// A virtualenv with the Dagger Python SDK, from PyPI, built once per
/// machine (Debian's python3 so that the unprivileged test user can run it).
pub fn python_sdk() -> PathBuf {
    let dir = cache_dir().join(format!("python-{}", PYTHON_SDK.replace("==", "-")));
    std::fs::create_dir_all(cache_dir()).unwrap();
    let lock = std::fs::File::create(cache_dir().join("python.lock")).unwrap();
    // SAFETY: valid fd; serialises builders across test binaries.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    let python = dir.join("bin/python");
    if !dir.join("complete").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let venv = Command::new("/usr/bin/python3")
            .args(["-m", "venv"])
            .arg(&dir)
            .status()
            .expect("Debian's python3 with python3-venv must be installed");
        assert!(venv.success());
        let pip = Command::new(dir.join("bin/pip"))
            .args(["install", "--quiet", PYTHON_SDK])
            .status()
            .unwrap();
        assert!(pip.success(), "pip install {PYTHON_SDK} failed");
        std::fs::write(dir.join("complete"), "").unwrap();
    }
    python
}

/// The Dagger TypeScript SDK version tanto is checked against.
pub const NODE_SDK: &str = "@dagger.io/dagger@0.21.9";

/// A directory whose `node_modules` holds the Dagger TypeScript SDK, from
/// npm, installed once per machine.
pub fn node_sdk() -> PathBuf {
    let name = format!("node-{}", NODE_SDK.replace(['@', '/'], "-"));
    made_once(&name, "node.lock", |dir| {
        let npm = Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(dir)
            .arg(NODE_SDK)
            .status()
            .expect("npm (with Node.js 18 or later) must be installed");
        assert!(npm.success(), "npm install {NODE_SDK} failed");
    })
}

/// The cache directory `name`, filled by `make` the first time on a
/// machine (under the flock `lock`, so test binaries make it once); a
/// directory `make` did not finish is made again.
pub fn made_once(name: &str, lock: &str, make: impl FnOnce(&Path)) -> PathBuf {
    let dir = cache_dir().join(name);
    std::fs::create_dir_all(cache_dir()).unwrap();
    let lock = std::fs::File::create(cache_dir().join(lock)).unwrap();
    // SAFETY: valid fd; serialises builders across test binaries.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    if !dir.join("complete").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        make(&dir);
        std::fs::write(dir.join("complete"), "").unwrap();
    }
    dir
}

/// The Dagger Go SDK version tanto is checked against: the newest 0.21
/// release the Go module proxy serves here (0.21.10 and 0.21.11 it refuses).
pub const GO_SDK: &str = "dagger.io/dagger@v0.21.9";

/// The Go module cache the Go SDK's programs build from, filled once per
/// machine through the Go module proxy and readable by every user, so that
/// the test user's `go run` needs no network (`GOPROXY=off`).
pub fn go_module_cache() -> PathBuf {
    cache_dir().join("go-modules")
}

/// The Go toolchain's `go`, found on our PATH; the test user's PATH may
/// lack its directory.
pub fn go() -> PathBuf {
    let out = Command::new("go")
        .args(["env", "GOROOT"])
        .output()
        .expect("Go (1.26 or later) must be installed");
    assert!(out.status.success(), "go env GOROOT failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("bin/go")
}

/// The Go program of `integration/tests/go` built with the Dagger Go SDK
/// (see [`go_program`]).
pub fn go_client() -> PathBuf {
    go_program(&go_client_source())
}

/// The Go program in the directory `source`, built once per
/// machine and version of its sources, where every user may run it.
pub fn go_program(source: &Path) -> PathBuf {
    // Keyed by the files alone: the same sources build the same program.
    let mut sources = Vec::new();
    for file in go_files(source) {
        let text = std::fs::read(source.join(&file)).unwrap();
        sources.extend(format!("{file} {}\n", text.len()).into_bytes());
        sources.extend(text);
    }
    let hash = sha256(&sources);
    let dir = cache_dir().join(format!("go-program-{}", &hash["sha256:".len()..][..16]));
    std::fs::create_dir_all(cache_dir()).unwrap();
    let lock = std::fs::File::create(cache_dir().join("go.lock")).unwrap();
    // SAFETY: valid fd; serialises builders across test binaries.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    let program = dir.join("program");
    if !dir.join("complete").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for step in [
            &["mod", "download"][..],
            &[
                "build",
                "-buildvcs=false",
                "-o",
                program.to_str().unwrap(),
                ".",
            ],
        ] {
            let out = Command::new(go())
                .args(step)
                .current_dir(source)
                .env("GOMODCACHE", go_module_cache())
                // Module directories anyone may clean up later.
                .env("GOFLAGS", "-modcacherw")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "go {step:?} in {} ({GO_SDK}) failed:\n{}",
                source.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::write(dir.join("complete"), "").unwrap();
    }
    program
}

/// A Go build cache for `user`, kept between runs (a cold build of the
/// SDK takes most of a minute).
pub fn go_build_cache(user: &super::tanto::RunAs) -> PathBuf {
    let dir = cache_dir().join(format!("go-build-{}", user.uid));
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(user.uid), Some(user.gid)).unwrap();
    dir
}

/// Where the Go program's sources are.
pub fn go_client_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go")
}

/// The files of the Go program in `source`: go.mod, go.sum and its `.go`
/// files.
pub fn go_files(source: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(source)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".go") || name == "go.mod" || name == "go.sum")
        .collect();
    files.sort();
    files
}

/// Pushes the Debian fixture to `registry` as `fixtures/debian:bookworm`;
/// returns that reference.
pub fn serve_debian(registry: &super::registry::Registry) -> String {
    Image::new(vec![debian().layer.clone()]).push(registry, "fixtures/debian", "bookworm");
    format!("{}/fixtures/debian:bookworm", registry.host())
}

/// Pushes the Redis fixture to `registry` as `fixtures/redis:bookworm`;
/// returns that reference.
pub fn serve_redis(registry: &super::registry::Registry) -> String {
    Image::new(vec![redis().layer.clone()]).push(registry, "fixtures/redis", "bookworm");
    format!("{}/fixtures/redis:bookworm", registry.host())
}

/// Pushes the Python fixture to `registry` as `fixtures/python:3.13-slim`;
/// returns that reference.
pub fn serve_python_slim(registry: &super::registry::Registry) -> String {
    Image::new(vec![python_slim().layer.clone()]).push(registry, "fixtures/python", "3.13-slim");
    format!("{}/fixtures/python:3.13-slim", registry.host())
}

/// Pushes the Node.js fixture to `registry` as `fixtures/node:20-slim`;
/// returns that reference.
pub fn serve_node_slim(registry: &super::registry::Registry) -> String {
    Image::new(vec![node_slim().layer.clone()]).push(registry, "fixtures/node", "20-slim");
    format!("{}/fixtures/node:20-slim", registry.host())
}

/// One registry serving the Debian fixture for a whole test file; its
/// reference.
pub fn served_debian() -> &'static str {
    static SERVED: std::sync::OnceLock<(super::registry::Registry, String)> =
        std::sync::OnceLock::new();
    let (_registry, image) = SERVED.get_or_init(|| {
        let registry = super::registry::Registry::start();
        let image = serve_debian(&registry);
        (registry, image)
    });
    image
}

/// One registry serving the busybox-static image for a whole test file,
/// and its reference (`fixtures/busybox:latest`).
pub fn served_busybox() -> &'static (super::registry::Registry, String) {
    static SERVED: std::sync::OnceLock<(super::registry::Registry, String)> =
        std::sync::OnceLock::new();
    SERVED.get_or_init(|| {
        let registry = super::registry::Registry::start();
        let dir = tempfile::tempdir().unwrap();
        busybox_tree(dir.path());
        let layer = Layer::new(
            &super::image::tar_directory(dir.path()),
            super::image::Codec::Gzip,
        );
        Image::new(vec![layer]).push(&registry, "fixtures/busybox", "latest");
        let image = format!("{}/fixtures/busybox:latest", registry.host());
        (registry, image)
    })
}
