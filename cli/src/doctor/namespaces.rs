//! What steps get of their own: user, process and network namespaces.

use std::path::PathBuf;
use std::process::Command;

use engine::isolation;

use super::{bad, ok, Check, Verdict};

pub(super) fn user_namespaces() -> Check {
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

/// What steps get of their own (`pids`, `hostname`, `network`), asked
/// in tanto's own namespace, where the steps run.
pub(super) fn sandbox() -> Vec<String> {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    Command::new(exe)
        .arg("__probe-sandbox")
        .env("RUST_LOG", "off")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .split(',')
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether steps get a process namespace of their own (`/proc` unmasked).
pub(super) fn pid_namespaces(sandbox: &[String]) -> Check {
    let name = "process namespaces";
    if sandbox.iter().any(|s| s == "pids") {
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

/// Whether a step that asks for no network (`RUN --network=none`) can have
/// a network namespace of its own.
pub(super) fn network_namespaces(sandbox: &[String]) -> Check {
    let name = "network namespaces";
    if sandbox.iter().any(|s| s == "network") {
        ok(
            name,
            "a step without network (RUN --network=none) gets its own, with loopback".into(),
        )
    } else {
        bad(
            name,
            Verdict::Warn,
            "none can be made in tanto's user namespace here: RUN --network=none fails".into(),
            "allow unshare(CLONE_NEWNET) to unprivileged user namespaces (a seccomp profile or LSM policy refuses it here)".into(),
        )
    }
}

/// Whether the session network services will run on can be built here: a
/// bridge in a namespace of tanto's own, and namespaces wired to it
/// (`executor::session_network`), proven by a connection across it.
pub(super) fn session_network() -> Check {
    let name = "session network";
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let probe = Command::new(exe)
        .arg("__probe-session-network")
        .env("RUST_LOG", "off")
        .output();
    let said = |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match probe {
        Ok(out) if out.status.success() => {
            let said = said(&out);
            let (subnet, micros) = said.split_once(' ').unwrap_or((&said, "0"));
            let micros: u64 = micros.parse().unwrap_or_default();
            let wired = format!(
                "can be built on {subnet}: a bridge, a network namespace per service wired in {:.1} ms",
                micros as f64 / 1000.0
            );
            match uplink() {
                Ok(uplink) => ok(name, format!("{wired}; {uplink}")),
                Err((problem, fix)) => {
                    bad(name, Verdict::Warn, format!("{wired}, but {problem}"), fix)
                }
            }
        }
        Ok(out) => {
            let said = said(&out);
            let fix = if said.contains("TANTO_NETWORK_CIDR") {
                "set TANTO_NETWORK_CIDR to a free subnet, such as 10.87.0.0/16"
            } else if said.contains("nf_tables") {
                "use a kernel with nf_tables and its NAT (CONFIG_NF_TABLES, CONFIG_NFT_NAT, CONFIG_NFT_REDIR): services and the steps bound to them have no way out without it"
            } else {
                "allow unshare(CLONE_NEWNET) and rtnetlink (bridges, veth pairs) in unprivileged user namespaces"
            };
            bad(
                name,
                Verdict::Warn,
                format!("cannot be built here: {said}; services will share the host's network (reached at 127.0.0.1, one per port, none below 1024)"),
                fix.into(),
            )
        }
        Err(error) => bad(
            name,
            Verdict::Warn,
            format!("cannot probe it: {error}"),
            "run tanto doctor again; report it if it persists".into(),
        ),
    }
}

/// The way out of the session network the user chose
/// (`TANTO_NET_UPLINK`), or what stands in its way.
fn uplink() -> Result<String, (String, String)> {
    let relay = "outbound through tanto's own TCP and DNS relay (no other UDP, no ICMP)";
    match std::env::var(engine::UPLINK_ENV).as_deref() {
        Ok("slirp4netns") => {}
        Err(_) | Ok("" | "relay") => return Ok(relay.to_owned()),
        Ok(other) => {
            return Err((
                format!("{}={other:?} is not a choice", engine::UPLINK_ENV),
                "use relay (the default) or slirp4netns".to_owned(),
            ))
        }
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join("slirp4netns").is_file()))
        .unwrap_or(false);
    if !on_path {
        return Err((
            "TANTO_NET_UPLINK=slirp4netns and no slirp4netns is on PATH".to_owned(),
            "install the slirp4netns package, or leave TANTO_NET_UPLINK unset".to_owned(),
        ));
    }
    match std::fs::OpenOptions::new().read(true).write(true).open("/dev/net/tun") {
        Ok(_) => Ok("outbound through slirp4netns (TANTO_NET_UPLINK): TCP, UDP and ICMP".to_owned()),
        Err(e) => Err((
            format!("TANTO_NET_UPLINK=slirp4netns and /dev/net/tun is not usable: {e}"),
            "make /dev/net/tun usable by this user (mode 0666), or leave TANTO_NET_UPLINK unset for tanto's own relay".to_owned(),
        )),
    }
}
