//! Containers started the way a CI runner or a Kubernetes node starts
//! them: podman from Debian with its default security (default
//! capabilities, default seccomp profile and AppArmor, masked `/proc`, no
//! `--privileged`), as root on the host. On this kind of machine podman
//! needs runc (crun refuses a cgroup v1 host), the cgroupfs manager (no
//! systemd), explicit ulimits (the defaults exceed the host's hard limits)
//! and the host's network (the test registry listens on 127.0.0.1).

use std::path::Path;
use std::process::{Command, Output};

/// What a container run printed and how it ended.
pub struct Ran {
    pub stdout: String,
    pub stderr: String,
    pub success: bool,
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

/// Pulls `image` from a plain-HTTP test registry.
pub fn pull(image: &str) {
    let out = podman(&["pull", "--quiet", "--tls-verify=false", image]);
    assert!(
        out.status.success(),
        "podman pull {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A container of `image` to run.
#[derive(Clone)]
pub struct Run {
    args: Vec<String>,
}

/// What every podman command that runs containers needs on this kind of
/// machine (`run`, `build`): runc, cgroupfs, the host's network, ulimits
/// within the host's hard limits.
pub fn runtime_options() -> Vec<String> {
    let limit = hard_nofile().to_string();
    let mut args: Vec<String> = [
        "--runtime",
        "runc",
        "--cgroup-manager",
        "cgroupfs",
        "--network",
        "host",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(["--ulimit".into(), format!("nofile={limit}:{limit}")]);
    args.extend(["--ulimit".into(), format!("nproc={limit}:{limit}")]);
    args
}

impl Run {
    pub fn new(image: &str) -> Run {
        let run = ["run".to_owned(), "--rm".to_owned()].to_vec();
        Run {
            args: [run, runtime_options(), vec![image.to_owned()]].concat(),
        }
    }

    /// An option before the image (`--user`, `--env`…).
    pub fn option(mut self, option: &str, value: &str) -> Run {
        let image = self.args.pop().unwrap();
        self.args
            .extend([option.to_owned(), value.to_owned(), image]);
        self
    }

    /// The host directory `dir` as a volume at `target`.
    pub fn volume(self, dir: &Path, target: &str) -> Run {
        self.option("--volume", &format!("{}:{target}", dir.display()))
    }

    /// Runs the image's entrypoint with `args`.
    pub fn run(&self, args: &[&str]) -> Ran {
        let mut all: Vec<&str> = self.args.iter().map(String::as_str).collect();
        all.extend(args);
        let out = podman(&all);
        Ran {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            success: out.status.success(),
        }
    }
}

fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(args)
        .output()
        .expect("podman must be installed (scripts/install-deps installs it)")
}

/// This process's hard limit on open files: a container may not ask for more.
fn hard_nofile() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(_, hard)| hard.min(1 << 20))
        .unwrap_or(4096)
}

/// podman's arguments for `command` (its words, `["build"]`, `["run",
/// "--rm"]`…) then `args`: a command that runs containers (`run`, `build`)
/// gets the `runtime_options` this machine needs between them.
pub fn command_line(command: &[&str], args: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = command.iter().map(|s| s.to_string()).collect();
    if matches!(command.first(), Some(&"run") | Some(&"build")) {
        all.extend(runtime_options());
    }
    all.extend(args.iter().map(|s| s.to_string()));
    all
}

/// What podman printed for `command` and `args` (see `command_line`), run as
/// `tanto`'s test user in that user's own podman store, as a rootless
/// podman user would; panics with its stderr when it fails.
pub fn as_user(tanto: &crate::support::tanto::Tanto, command: &[&str], args: &[&str]) -> String {
    let all = command_line(command, args);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = tanto
        .command_for(Path::new("podman"), &all)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "podman {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
