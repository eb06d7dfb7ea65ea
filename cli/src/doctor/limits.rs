//! What bounds a step: cgroups, its pids limit, seccomp.

use std::path::Path;

use engine::isolation;

use super::{bad, ok, Check, Verdict};

pub(super) fn cgroups() -> Check {
    let name = "cgroups";
    let fs_type = |p: &str| {
        nix::sys::statfs::statfs(p)
            .ok()
            .map(|s| s.filesystem_type())
    };
    match fs_type("/sys/fs/cgroup") {
        Some(t) if t == nix::sys::statfs::CGROUP2_SUPER_MAGIC => ok(name, "v2 (unified)".into()),
        Some(_)
            if fs_type("/sys/fs/cgroup/unified") == Some(nix::sys::statfs::CGROUP2_SUPER_MAGIC) =>
        {
            bad(
                name,
                Verdict::Warn,
                "v1 with a v2 hierarchy at /sys/fs/cgroup/unified (hybrid)".into(),
                "works; boot with systemd.unified_cgroup_hierarchy=1 for resource limits on steps"
                    .into(),
            )
        }
        Some(_) => bad(
            name,
            Verdict::Warn,
            "v1 only".into(),
            "works without per-step resource limits; boot with systemd.unified_cgroup_hierarchy=1"
                .into(),
        ),
        None => bad(
            name,
            Verdict::Warn,
            "/sys/fs/cgroup is not mounted".into(),
            "mount cgroup2 on /sys/fs/cgroup".into(),
        ),
    }
}

/// Whether steps get a cgroup of their own with a pids limit. Asked as the
/// user, outside tanto's namespace: the same files are theirs either way.
pub(super) fn step_limits() -> Check {
    let name = "step limits";
    let (pids_max, setting) = match isolation::pids_max_setting() {
        Ok(p) => (p, String::new()),
        Err(p) => (
            p,
            format!(
                " ({} is not a positive number or `max`: ignored)",
                isolation::PIDS_MAX_ENV
            ),
        ),
    };
    match isolation::step_cgroup_availability() {
        Ok(plan) => {
            let first = if plan.move_processes {
                format!(
                    "; tanto first moves the processes of that cgroup into {}/{}",
                    plan.host_path.display(),
                    isolation::CGROUP_LEAF
                )
            } else {
                String::new()
            };
            let found = format!(
                "each step in a cgroup of its own under {}, pids.max {}{setting}{first}",
                plan.host_path.display(),
                pids_max.value()
            );
            if setting.is_empty() {
                ok(name, found)
            } else {
                bad(
                    name,
                    Verdict::Warn,
                    found,
                    format!("set {} to a number such as 4096", isolation::PIDS_MAX_ENV),
                )
            }
        }
        Err(why) => bad(
            name,
            Verdict::Warn,
            format!("steps have no pids limit (a fork bomb is not stopped): {why}"),
            why.fix(),
        ),
    }
}

pub(super) fn seccomp() -> Check {
    let name = "seccomp";
    let kernel = Path::new("/proc/sys/kernel/seccomp/actions_avail").exists();
    let own = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Seccomp:").map(|v| v.trim().to_owned()))
        });
    let confined = match own.as_deref() {
        Some("2") => ", and tanto itself runs under a seccomp filter (a container?)",
        _ => "",
    };
    if kernel {
        ok(
            name,
            format!("supported by the kernel; steps get a default profile{confined}"),
        )
    } else {
        bad(
            name,
            Verdict::Warn,
            "the kernel does not offer seccomp filters".into(),
            "steps run without a syscall filter; use a kernel built with CONFIG_SECCOMP_FILTER"
                .into(),
        )
    }
}
