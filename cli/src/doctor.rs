//! `tanto doctor`: each check says what it found, whether that is fine, and
//! what to do when it is not.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use engine::single_id::{Mode, SingleId, SINGLE_ID_ENV};
use engine::snapshotter_choice::{Setting, SNAPSHOTTER_ENV};
use engine::{foreign_platform, isolation};
use nix::unistd::{geteuid, User};

use crate::output;

#[derive(PartialEq)]
enum Verdict {
    Ok,
    Warn,
    Fail,
}

struct Check {
    name: &'static str,
    verdict: Verdict,
    found: String,
    fix: Option<String>,
}

fn ok(name: &'static str, found: String) -> Check {
    Check {
        name,
        verdict: Verdict::Ok,
        found,
        fix: None,
    }
}

fn bad(name: &'static str, verdict: Verdict, found: String, fix: String) -> Check {
    Check {
        name,
        verdict,
        found,
        fix: Some(fix),
    }
}

pub fn run(root: &Path) -> anyhow::Result<ExitCode> {
    let uid = geteuid();
    let user = User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string());
    let rootless = !uid.is_root();
    let host_root = !rootless && isolation::has_sys_admin();
    let mode = if rootless {
        ", rootless mode"
    } else if host_root {
        ", real root: no user namespace needed"
    } else {
        ", root without CAP_SYS_ADMIN (a container's root): steps run in a user namespace over this container's ids"
    };
    let mut checks = vec![ok("user", format!("{user} (uid {uid}){mode}"))];
    // Whether tanto's namespace will map one id alone.
    let single = if rootless {
        let (ids, has_ranges) = subordinate_ids(&user, uid.as_raw());
        checks.push(ids);
        checks.extend(["newuidmap", "newgidmap"].map(|tool| id_map_tool(tool, has_ranges)));
        Some(!has_ranges)
    } else if !host_root {
        // A container's root maps the container's own ids: one, in a
        // container that was given one.
        Some(isolation::maps_single_id())
    } else {
        None
    };
    if !host_root {
        checks.push(user_namespaces());
    }
    checks.extend(single.and_then(single_id));
    checks.push(overlay(root));
    checks.push(pid_namespaces());
    checks.push(cgroups());
    checks.push(step_limits());
    checks.push(seccomp());
    checks.push(platforms());
    checks.push(registries());
    checks.push(store(root));

    let mut failed = false;
    for check in &checks {
        let mark = match check.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        };
        failed |= check.verdict == Verdict::Fail;
        output::line(&format!("{mark} {:<22} {}", check.name, check.found));
        if let Some(fix) = &check.fix {
            output::line(&format!("     {:<22} fix: {fix}", ""));
        }
    }
    output::line(if failed {
        "tanto cannot run rootless here until the FAIL lines are fixed"
    } else {
        "tanto can run here"
    });
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The check, and whether the user has both ranges (else tanto runs in
/// single-id mode).
fn subordinate_ids(user: &str, uid: u32) -> (Check, bool) {
    let name = "subordinate ids";
    let uids = isolation::subordinate_range(Path::new("/etc/subuid"), user, uid);
    let gids = isolation::subordinate_range(Path::new("/etc/subgid"), user, uid);
    let fix = format!(
        "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user} (as root); without them tanto maps only your own id and images that own files by other ids fail to unpack (unless squashed: see single-id mode)"
    );
    let has_ranges = uids.is_some() && gids.is_some();
    let check = match (uids, gids) {
        (Some(u), Some(g)) if u.count >= 65536 && g.count >= 65536 => ok(
            name,
            format!("uids {}+{}, gids {}+{}", u.start, u.count, g.start, g.count),
        ),
        (Some(u), Some(g)) => bad(
            name,
            Verdict::Warn,
            format!(
                "uids {}+{}, gids {}+{}: fewer than 65536",
                u.start, u.count, g.start, g.count
            ),
            fix,
        ),
        _ => bad(
            name,
            Verdict::Warn,
            format!("none for {user} in /etc/subuid and /etc/subgid"),
            fix,
        ),
    };
    (check, has_ranges)
}

/// Without subordinate ids tanto writes its one-id map itself: a missing
/// or broken tool is then no failure, only what adding ids will need.
fn id_map_tool(tool: &'static str, needed: bool) -> Check {
    let mut check = id_map_tool_found(tool);
    if !needed && check.verdict == Verdict::Fail {
        check.verdict = Verdict::Warn;
        check
            .found
            .push_str("; not used without subordinate ids, needed once you add them");
    }
    check
}

fn id_map_tool_found(tool: &'static str) -> Check {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file());
    let fix =
        "apt-get install uidmap (or your distribution's shadow-utils/uidmap package)".to_owned();
    match found {
        None => bad(tool, Verdict::Fail, "not found on PATH".into(), fix),
        Some(path) => {
            let setuid = std::fs::metadata(&path)
                .is_ok_and(|m| m.permissions().mode() & 0o4000 != 0 && m.uid() == 0);
            let file_caps = has_xattr(&path, "security.capability");
            if setuid || file_caps {
                ok(
                    tool,
                    format!(
                        "{} ({})",
                        path.display(),
                        if setuid {
                            "setuid root"
                        } else {
                            "file capabilities"
                        }
                    ),
                )
            } else {
                bad(
                    tool,
                    Verdict::Fail,
                    format!(
                        "{} is neither setuid root nor has file capabilities",
                        path.display()
                    ),
                    "reinstall the uidmap package".into(),
                )
            }
        }
    }
}

fn has_xattr(path: &Path, name: &str) -> bool {
    let (Ok(path), Ok(name)) = (
        std::ffi::CString::new(path.as_os_str().as_encoded_bytes()),
        std::ffi::CString::new(name),
    ) else {
        return false;
    };
    // SAFETY: valid C strings; a null buffer with size 0 asks for the size.
    unsafe { libc::getxattr(path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) >= 0 }
}

fn user_namespaces() -> Check {
    let name = "user namespaces";
    let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return bad(
            name,
            Verdict::Fail,
            "disabled: user.max_user_namespaces = 0".into(),
            "sysctl -w user.max_user_namespaces=15000 (as root; persist it in /etc/sysctl.d)"
                .into(),
        );
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return bad(
            name,
            Verdict::Fail,
            "disabled: kernel.unprivileged_userns_clone = 0".into(),
            "sysctl -w kernel.unprivileged_userns_clone=1 (as root)".into(),
        );
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1")
        && !isolation::can_create_user_namespace()
    {
        return bad(
            name,
            Verdict::Fail,
            "blocked by AppArmor (kernel.apparmor_restrict_unprivileged_userns = 1)".into(),
            "allow tanto in an AppArmor profile with `userns,`, or set the sysctl to 0".into(),
        );
    }
    if isolation::can_create_user_namespace() {
        ok(name, "can be created".into())
    } else {
        bad(
            name,
            Verdict::Fail,
            "unshare(CLONE_NEWUSER) is refused".into(),
            "in a container or Kubernetes pod, the seccomp profile likely blocks it: run the pod with `hostUsers: false` or a seccomp profile that allows unshare/clone with CLONE_NEWUSER".into(),
        )
    }
}

/// Whether steps get a process namespace of their own (`/proc` unmasked).
fn pid_namespaces() -> Check {
    let name = "process namespaces";
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    // Asked in tanto's own namespace, where the steps run.
    let own = Command::new(exe)
        .arg("__probe-pid-namespace")
        .env("RUST_LOG", "off")
        .output()
        .is_ok_and(|out| out.status.success());
    if own {
        ok(name, "each step has its own, with its own /proc".into())
    } else {
        bad(
            name,
            Verdict::Warn,
            "steps share this container's: parts of /proc are masked, so no fresh /proc can be mounted; a step sees the container's other processes".into(),
            "in Kubernetes, `procMount: Unmasked` (it needs `hostUsers: false`); with podman, `--security-opt unmask=/proc/*`".into(),
        )
    }
}

/// What tanto does with images and users when its namespace maps one id
/// (`single`): said then, and when a setting for it is ignored.
fn single_id(single: bool) -> Option<Check> {
    let name = "single-id mode";
    let setting = match SingleId::load() {
        Ok(setting) => setting,
        Err(error) => {
            return Some(bad(
                name,
                Verdict::Fail,
                engine::report(&error),
                format!("correct the setting named above ({SINGLE_ID_ENV} or [single-id] in the config file), or remove it"),
            ))
        }
    };
    match (single, setting.mode) {
        (false, Mode::Off) => None,
        (false, Mode::Squash) => Some(ok(
            name,
            format!(
                "not used: tanto's namespace maps more than one id, so {} = squash is ignored",
                setting.origin
            ),
        )),
        (true, Mode::Squash) => Some(ok(
            name,
            format!(
                "squash ({}): every file of every image is owned by your user (root inside), \
                 setuid and setgid bits of files that belonged to another user or group are \
                 dropped, and steps that ask for another user run as root",
                setting.origin
            ),
        )),
        (true, Mode::Off) => Some(bad(
            name,
            Verdict::Warn,
            "tanto maps one id, and squash is off: images that own files by other ids (most \
             distributions' images) fail to unpack, and steps that ask for another user fail"
                .into(),
            format!(
                "set {SINGLE_ID_ENV}=squash (or mode = \"squash\" under [single-id] in \
                 ~/.config/tanto/config.toml) to unpack every file as owned by your user and run \
                 such steps as root, so images pull and steps run; what steps see differently is \
                 said in a warning. A full id range (subordinate ids) runs images as they are"
            ),
        )),
    }
}

fn overlay(root: &Path) -> Check {
    let name = "snapshotter";
    let setting = match Setting::load() {
        Ok(setting) => setting,
        Err(e) => {
            return bad(
                name,
                Verdict::Fail,
                format!("{e:#}"),
                format!("set {SNAPSHOTTER_ENV} to auto, overlay or copy"),
            )
        }
    };
    if setting == Setting::Copy {
        return ok(
            name,
            format!("copy ({SNAPSHOTTER_ENV}=copy): steps run on copies of their layers"),
        );
    }
    // Probe in the store's own directory (or the nearest one that exists):
    // the file system under test is the store's.
    let dir = root
        .ancestors()
        .find(|p| p.is_dir())
        .unwrap_or(Path::new("/tmp"));
    let refused = match store_on_overlay(dir) {
        Some(why) => why,
        None => match probe_overlay(dir) {
            Ok(()) => {
                return ok(
                    name,
                    format!(
                    "overlay: mounts in tanto's namespace on {}; whiteouts and opaque dirs work",
                    dir.display()
                ),
                )
            }
            Err(why) => why,
        },
    };
    let volume = "put the store on a volume: mount one (a Kubernetes `emptyDir`, `podman run -v`; ext4, xfs or btrfs) and set TANTO_ROOT to a directory in it";
    match setting {
        Setting::Overlay => bad(
            name,
            Verdict::Fail,
            format!("{SNAPSHOTTER_ENV} is overlay, but {refused}"),
            format!("{volume}, or unset {SNAPSHOTTER_ENV} to copy layers instead"),
        ),
        _ => bad(
            name,
            Verdict::Warn,
            format!("copy: {refused}, so steps run on copies of their layers (slower, more disk)"),
            format!("{volume}; overlay needs Linux 5.11 or later and user xattrs"),
        ),
    }
}

/// Runs the overlay probe in tanto's namespace; what it said when it fails.
fn probe_overlay(dir: &Path) -> Result<(), String> {
    let scratch = dir.join(format!(".tanto-doctor-{}", std::process::id()));
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let outcome = Command::new(exe)
        .arg("__probe-overlay")
        .arg(&scratch)
        // Its own warnings (a single-id mapping, say) are other checks' business.
        .env("RUST_LOG", "off")
        .output();
    match outcome {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => {
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            Err(format!(
                "overlay cannot be mounted on {}: {}",
                dir.display(),
                said.trim().replace('\n', "; ")
            ))
        }
        Err(e) => Err(format!("cannot run the overlay probe: {e}")),
    }
}

/// The store on an overlay file system (a container's own root): overlay
/// cannot be mounted on top of it.
fn store_on_overlay(dir: &Path) -> Option<String> {
    let stat = nix::sys::statfs::statfs(dir).ok()?;
    (stat.filesystem_type() == nix::sys::statfs::OVERLAYFS_SUPER_MAGIC).then(|| {
        format!(
            "{} is on an overlay file system (a container's root file system), where overlay cannot be mounted",
            dir.display()
        )
    })
}

fn cgroups() -> Check {
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
fn step_limits() -> Check {
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

/// The platforms steps can run: this machine's, and those an emulator
/// registered with binfmt_misc's F flag takes (`container(platform:)`).
fn platforms() -> Check {
    let name = "platforms";
    let (runnable, without_f) = foreign_platform::runnable_platforms();
    let listed: Vec<String> = runnable.iter().map(ToString::to_string).collect();
    let found = listed.join(", ");
    if !without_f.is_empty() {
        return bad(
            name,
            Verdict::Warn,
            format!(
                "{found}; {} registered without the F flag, unusable in steps",
                without_f.join(", ")
            ),
            "register them again with F (apt-get install qemu-user-static does, as root)".into(),
        );
    }
    if runnable.len() == 1 {
        return bad(
            name,
            Verdict::Warn,
            format!("{found} only: steps of other architectures fail"),
            "apt-get install qemu-user-static binfmt-support (as root) to run them through qemu"
                .into(),
        );
    }
    ok(name, found)
}

/// Where pulls go: the registries.conf files read and the mirrors and
/// rewrites they set, as podman would apply them.
fn registries() -> Check {
    let name = "registries";
    match engine::RegistriesConf::from_environment() {
        Err(e) => bad(
            name,
            Verdict::Fail,
            format!("{e:#}"),
            "fix the file, or point CONTAINERS_REGISTRIES_CONF at another".into(),
        ),
        Ok(conf) if conf.files().is_empty() => ok(
            name,
            "no registries.conf: images are pulled from where they name, short names from docker.io"
                .into(),
        ),
        Ok(conf) => {
            let files: Vec<String> = conf.files().iter().map(|f| f.display().to_string()).collect();
            let mut found = format!(
                "from {}; short names from {}",
                files.join(", "),
                conf.search_registries().join(", then ")
            );
            let rules = conf.describe();
            if rules.is_empty() {
                found.push_str("; no mirrors or rewrites");
            } else {
                found.push_str("; ");
                found.push_str(&rules.join("; "));
            }
            ok(name, found)
        }
    }
}

fn seccomp() -> Check {
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

fn store(root: &Path) -> Check {
    let name = "store";
    let existing = root
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    match nix::sys::statvfs::statvfs(existing) {
        Ok(stat) => {
            let free = stat.blocks_available() * stat.fragment_size();
            let found = format!("{} ({} free)", root.display(), output::bytes(free));
            if free < 2_000_000_000 {
                bad(
                    name,
                    Verdict::Warn,
                    found,
                    "free some space or point TANTO_ROOT elsewhere: images need room to unpack"
                        .into(),
                )
            } else {
                ok(name, found)
            }
        }
        Err(e) => bad(
            name,
            Verdict::Fail,
            format!("{}: {e}", root.display()),
            "set TANTO_ROOT to a writable directory".into(),
        ),
    }
}
