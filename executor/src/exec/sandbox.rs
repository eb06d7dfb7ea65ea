//! What a step can have of its own here, found once per process.
//!
//! A step normally runs in a new pid namespace with its own `/proc`: it
//! sees only its processes, and when its pid 1 dies the kernel kills every
//! one of them. A fresh `/proc` cannot be mounted, though, where the
//! `/proc` tanto sees has parts masked by other mounts (a container
//! started by podman, Docker or Kubernetes with default security): the
//! kernel refuses to reveal from a user namespace what the mounts hide.
//! There steps share the container's process namespace and its `/proc` (as
//! BuildKit's "no process sandbox" does), and the helper kills whatever a
//! step left itself (`kill_descendants`).
//!
//! The same masking refuses a fresh `sysfs` to a step with a network
//! namespace of its own (`RUN --network=none`, the session network):
//! there it gets the container's `/sys`, bound read-only, as steps on the
//! host's network always do.
//!
//! Likewise a step normally gets a hostname of its own; the default
//! seccomp profiles of container engines refuse `sethostname` to a
//! container without `CAP_SYS_ADMIN`, even in a UTS namespace it owns, and
//! there the step keeps the container's hostname.

use std::sync::OnceLock;

use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

/// Set in the helper's environment: what the step can have (`pids`,
/// `hostname`, comma-separated).
pub(super) const SANDBOX_ENV: &str = "_TANTO_SANDBOX";

/// What a step can have of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sandbox {
    /// A pid namespace and `/proc`.
    pub pids: bool,
    /// A hostname.
    pub hostname: bool,
    /// A fresh `sysfs`, for a step in a network namespace of its own.
    pub sysfs: bool,
}

impl Sandbox {
    /// Everything: what a host gives.
    pub const FULL: Sandbox = Sandbox {
        pids: true,
        hostname: true,
        sysfs: true,
    };

    pub(super) fn to_env(self) -> String {
        let mut parts = Vec::new();
        if self.pids {
            parts.push("pids");
        }
        if self.hostname {
            parts.push("hostname");
        }
        if self.sysfs {
            parts.push("sysfs");
        }
        parts.join(",")
    }

    pub(super) fn from_env(value: &str) -> Sandbox {
        let has = |part: &str| value.split(',').any(|p| p == part);
        Sandbox {
            pids: has("pids"),
            hostname: has("hostname"),
            sysfs: has("sysfs"),
        }
    }
}

/// What steps can have here: tried once per process, in throwaway
/// children, with a warning for what they cannot.
pub fn available() -> Sandbox {
    static AVAILABLE: OnceLock<Sandbox> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let sandbox = Sandbox {
            pids: in_child(|| match unshare(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS) {
                Ok(()) => mount_proc_in_child(),
                Err(_) => 1,
            }),
            hostname: in_child(|| {
                let ok = unshare(CloneFlags::CLONE_NEWUTS).is_ok()
                    && nix::unistd::sethostname("tanto-probe").is_ok();
                i32::from(!ok)
            }),
            sysfs: in_child(mount_sysfs_in_child),
        };
        if !sandbox.pids {
            tracing::warn!(
                "steps share this container's process namespace: a fresh /proc cannot be mounted here \
                 (parts of /proc are masked); a step can see the other processes of the container. \
                 In Kubernetes, `procMount: Unmasked` (with `hostUsers: false`) gives steps their own"
            );
        }
        if !sandbox.hostname {
            tracing::debug!("steps keep the container's hostname: sethostname is refused here");
        }
        sandbox
    })
}

/// Whether a step that asks for no network (`RUN --network=none`) can
/// have a network namespace of its own here. Asked by `doctor` only, not
/// by every run: a step that asks finds out when it runs.
pub fn network_namespace_available() -> bool {
    // Nothing here allocates: the caller may have other threads.
    in_child(|| {
        let ok = unshare(CloneFlags::CLONE_NEWNET).is_ok() && super::network::loopback_up().is_ok();
        i32::from(!ok)
    })
}

/// Runs `probe` in a forked child: whether it exited 0.
fn in_child(probe: impl FnOnce() -> i32) -> bool {
    // SAFETY: the children only make system calls and _exit.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let code = probe();
            // SAFETY: _exit is always safe in a forked child.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => exited_zero(child),
        Err(_) => false,
    }
}

/// In new network and mount namespaces, mounts a fresh `sysfs` over
/// `/sys` (gone with the child's mount namespace).
fn mount_sysfs_in_child() -> i32 {
    use nix::mount::{mount, MsFlags};
    if unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS).is_err() {
        return 1;
    }
    let private = mounts_private();
    let sysfs = mount(
        Some("sysfs"),
        "/sys",
        Some("sysfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY,
        None::<&str>,
    );
    i32::from(private.is_err() || sysfs.is_err())
}

/// Makes every mount of this (new) mount namespace private, so what the
/// probe mounts next stays in it.
fn mounts_private() -> nix::Result<()> {
    use nix::mount::{mount, MsFlags};
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
}

/// In a new pid namespace, its first child mounts a private `/proc`.
fn mount_proc_in_child() -> i32 {
    use nix::mount::{mount, MsFlags};
    // SAFETY: as above.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let private = mounts_private();
            let proc = mount(
                Some("proc"),
                "/proc",
                Some("proc"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                None::<&str>,
            );
            // SAFETY: _exit is always safe in a forked child.
            unsafe { libc::_exit(i32::from(private.is_err() || proc.is_err())) }
        }
        Ok(ForkResult::Parent { child }) => i32::from(!exited_zero(child)),
        Err(_) => 1,
    }
}

fn exited_zero(child: Pid) -> bool {
    matches!(waitpid(child, None), Ok(WaitStatus::Exited(_, 0)))
}

/// Kills every descendant of this process (a child subreaper: orphans of
/// the step come back to it), until none is left.
pub(super) fn kill_descendants() {
    let me = std::process::id() as i32;
    // A step may fork while it is being killed: go round until none is left.
    for _ in 0..100 {
        let descendants = descendants_of(me);
        if descendants.is_empty() {
            return;
        }
        for pid in descendants {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        // Reap what died, so it stops showing as a child.
        while let Ok(status) = waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            if status == WaitStatus::StillAlive {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The pids below `root`, from each process's parent in `/proc/<pid>/stat`.
fn descendants_of(root: i32) -> Vec<i32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if let Some(parent) = parent_in_stat(&stat) {
            parents.push((pid, parent));
        }
    }
    let mut found = vec![root];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(pid, _)| *pid),
        );
        index += 1;
    }
    found.remove(0);
    found
}

/// The parent pid in a `/proc/<pid>/stat` line: the second field after the
/// command name, which may itself hold spaces and parentheses.
fn parent_in_stat(stat: &str) -> Option<i32> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_step_can_have_crosses_to_the_helper() {
        for sandbox in [
            Sandbox::FULL,
            Sandbox {
                pids: false,
                hostname: true,
                sysfs: true,
            },
            Sandbox {
                pids: false,
                hostname: false,
                sysfs: false,
            },
        ] {
            assert_eq!(Sandbox::from_env(&sandbox.to_env()), sandbox);
        }
    }

    #[test]
    fn the_parent_follows_the_command_name_whatever_it_holds() {
        assert_eq!(parent_in_stat("42 (sh) S 7 42 42 0"), Some(7));
        assert_eq!(parent_in_stat("43 (a) b) (c) R 9 43"), Some(9));
        assert_eq!(parent_in_stat("garbage"), None);
    }
}
