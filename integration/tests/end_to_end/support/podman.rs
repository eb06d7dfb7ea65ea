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

impl Run {
    pub fn new(image: &str) -> Run {
        let limit = hard_nofile().to_string();
        let mut args: Vec<String> = [
            "run",
            "--rm",
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
        Run {
            args: [args, vec![image.to_owned()]].concat(),
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
