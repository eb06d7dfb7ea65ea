//! The OCI runtime spec of one step: Docker's defaults where they work in a
//! user namespace, the host's network, and nothing tanto does not need.

use std::path::PathBuf;

use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use super::user::Identity;

/// Docker's default capability set: enough for package managers (chown,
/// setuid/setgid, mknod of the few nodes a user namespace allows), without
/// CAP_SYS_ADMIN and friends.
pub const CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// System calls that fail with EPERM. The profile allows by default (unlike
/// Docker's allow-list) and denies what Docker denies to a container without
/// CAP_SYS_ADMIN that matters here: kernel modules and kexec, handle-based
/// opens (the shocker escape), BPF and perf, the kernel keyring (not
/// namespaced), clock and swap changes, and new namespaces (which would
/// sidestep the mount and pid isolation). Names the kernel lacks are skipped.
pub const DENIED_SYSCALLS: [&str; 26] = [
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "open_by_handle_at",
    "bpf",
    "perf_event_open",
    "add_key",
    "keyctl",
    "request_key",
    "acct",
    "swapon",
    "swapoff",
    "reboot",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "iopl",
    "ioperm",
    "lookup_dcookie",
    "userfaultfd",
    "syslog",
    "unshare",
    "setns",
];

/// Docker's masked and read-only /proc and /sys paths.
const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// A mount as the spec lists it; `source` is a host path (in the helper's
/// mount namespace) for binds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecMount {
    pub destination: String,
    pub kind: &'static str,
    pub source: PathBuf,
    pub options: Vec<String>,
}

impl SpecMount {
    pub fn bind(destination: &str, source: PathBuf, read_only: bool) -> SpecMount {
        let mut options = vec!["rbind".to_owned(), "nosuid".to_owned(), "nodev".to_owned()];
        if read_only {
            options.push("ro".to_owned());
        }
        SpecMount {
            destination: destination.to_owned(),
            kind: "bind",
            source,
            options,
        }
    }

    pub fn tmpfs(destination: &str) -> SpecMount {
        SpecMount {
            destination: destination.to_owned(),
            kind: "tmpfs",
            source: "tmpfs".into(),
            options: vec!["nosuid".into(), "nodev".into(), "mode=1777".into()],
        }
    }
}

/// Everything about a step the spec needs, already resolved in the helper.
pub struct StepSpec<'a> {
    pub rootfs: PathBuf,
    pub args: &'a [String],
    pub env: Vec<String>,
    pub cwd: &'a str,
    pub identity: &'a Identity,
    pub hostname: &'a str,
    /// The file bound over /etc/hosts.
    pub hosts_file: PathBuf,
    /// The host's resolv.conf, if it has one.
    pub resolv_conf: Option<PathBuf>,
    /// The request's mounts, after the standard ones.
    pub mounts: Vec<SpecMount>,
    /// RLIMIT_NOFILE for the process (Docker's 1048576, or the most allowed).
    pub nofile: u64,
    /// A pseudo-terminal for the process (made by libcontainer in the
    /// container's /dev/pts, handed over through a console socket).
    pub terminal: bool,
    /// A pid namespace and `/proc` of the step's own; without, it shares
    /// tanto's and binds its `/proc` (`pid_sandbox.rs`).
    pub own_pid_namespace: bool,
    /// The step runs in a network namespace of its own (`network.rs`) and
    /// a fresh sysfs can be mounted here (`Sandbox::sysfs`): it gets a
    /// `/sys` of its own, showing its interfaces, not the host's.
    pub own_sysfs: bool,
}

/// The environment a process sees: the request's, plus PATH and HOME when it
/// sets none (as Docker does).
pub fn environment(env: &[String], home: &str) -> Vec<String> {
    let mut env = env.to_vec();
    let has = |env: &[String], name: &str| env.iter().any(|e| e.split('=').next() == Some(name));
    if !has(&env, "PATH") {
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

fn standard_mounts(step: &StepSpec) -> Vec<SpecMount> {
    let mount = |destination: &str, kind: &'static str, source: &str, options: &[&str]| SpecMount {
        destination: destination.to_owned(),
        kind,
        source: source.into(),
        options: options.iter().map(|o| o.to_string()).collect(),
    };
    // sysfs may only be mounted by the owner of the network namespace it
    // shows: on the host's network, bind the host's.
    let sys = match step.own_sysfs {
        true => mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        false => mount(
            "/sys",
            "bind",
            "/sys",
            &["rbind", "nosuid", "noexec", "nodev", "ro"],
        ),
    };
    let proc = match step.own_pid_namespace {
        true => mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        false => mount(
            "/proc",
            "bind",
            "/proc",
            &["rbind", "nosuid", "noexec", "nodev"],
        ),
    };
    let mut mounts = vec![
        proc,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        // No gid=5: the tty group need not be mapped in tanto's namespace.
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
            ],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        sys,
    ];
    if let Some(resolv) = &step.resolv_conf {
        mounts.push(SpecMount::bind("/etc/resolv.conf", resolv.clone(), true));
    }
    mounts.push(SpecMount::bind(
        "/etc/hosts",
        step.hosts_file.clone(),
        false,
    ));
    mounts
}

/// The mount destinations the spec will need, in mount order, standard ones
/// first; the helper creates the missing ones itself so it can clean up.
pub fn all_mounts(step: &StepSpec) -> Vec<SpecMount> {
    let mut mounts = standard_mounts(step);
    mounts.extend(step.mounts.iter().cloned());
    mounts
}

pub fn build(step: &StepSpec) -> Spec {
    let capabilities: Vec<&str> = CAPABILITIES.to_vec();
    let mounts: Vec<Value> = all_mounts(step)
        .iter()
        .map(|m| {
            json!({"destination": m.destination, "type": m.kind, "source": m.source, "options": m.options})
        })
        .collect();
    let mut namespaces = vec![
        json!({"type": "mount"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
    ];
    if step.own_pid_namespace {
        namespaces.insert(1, json!({"type": "pid"}));
    }
    let mut config = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": step.terminal,
            "user": {
                "uid": step.identity.uid,
                "gid": step.identity.gid,
                "additionalGids": step.identity.additional_gids,
            },
            "args": step.args,
            "env": step.env,
            "cwd": step.cwd,
            "capabilities": {
                "bounding": capabilities,
                "effective": capabilities,
                "permitted": capabilities,
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": step.nofile, "soft": step.nofile}],
            "noNewPrivileges": true,
        },
        "root": {"path": step.rootfs, "readonly": false},
        "mounts": mounts,
        "linux": {
            // Network and user namespaces are the host's and tanto's own.
            "namespaces": namespaces,
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
            "seccomp": {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{
                    "names": DENIED_SYSCALLS,
                    "action": "SCMP_ACT_ERRNO",
                    "errnoRet": libc::EPERM,
                }],
            },
        },
    });
    if !step.hostname.is_empty() {
        config["hostname"] = json!(step.hostname);
    }
    serde_json::from_value(config).expect("the step's spec is a valid OCI runtime spec")
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::{Capability, LinuxNamespaceType, LinuxSeccompAction};

    use super::*;

    fn identity() -> Identity {
        Identity {
            uid: 1000,
            gid: 1001,
            additional_gids: vec![4],
            home: "/home/app".into(),
        }
    }

    fn spec(identity: &Identity) -> Spec {
        spec_with(identity, true)
    }

    fn spec_with(identity: &Identity, own_pid_namespace: bool) -> Spec {
        let args = vec!["sh".to_owned(), "-c".to_owned(), "true".to_owned()];
        build(&StepSpec {
            rootfs: "/scratch/rootfs".into(),
            args: &args,
            env: environment(&["A=1".to_owned()], &identity.home),
            cwd: "/work",
            identity,
            hostname: "step",
            hosts_file: "/scratch/run/hosts".into(),
            resolv_conf: Some("/etc/resolv.conf".into()),
            mounts: vec![SpecMount::bind("/src", "/host/src".into(), true)],
            nofile: 4096,
            terminal: false,
            own_pid_namespace,
            own_sysfs: false,
        })
    }

    #[test]
    fn without_a_pid_namespace_the_step_binds_tantos_proc() {
        let identity = identity();
        let spec = spec_with(&identity, false);
        let namespaces = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        assert!(namespaces
            .iter()
            .all(|n| n.typ() != LinuxNamespaceType::Pid));
        let mounts = spec.mounts().as_ref().unwrap();
        let proc = mounts
            .iter()
            .find(|m| m.destination() == std::path::Path::new("/proc"))
            .unwrap();
        assert_eq!(proc.typ().as_deref(), Some("bind"));
        assert_eq!(
            proc.source().as_deref(),
            Some(std::path::Path::new("/proc"))
        );
        assert!(proc
            .options()
            .as_ref()
            .unwrap()
            .contains(&"rbind".to_owned()));
    }

    #[test]
    fn namespaces_leave_network_and_user_to_the_host_and_tanto() {
        let identity = identity();
        let spec = spec(&identity);
        let kinds: Vec<LinuxNamespaceType> = spec
            .linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect();
        assert_eq!(
            kinds,
            [
                LinuxNamespaceType::Mount,
                LinuxNamespaceType::Pid,
                LinuxNamespaceType::Ipc,
                LinuxNamespaceType::Uts
            ]
        );
        assert_eq!(spec.hostname().as_deref(), Some("step"));
    }

    #[test]
    fn process_gets_dockers_capabilities_and_no_new_privileges() {
        let identity = identity();
        let spec = spec(&identity);
        let process = spec.process().as_ref().unwrap();
        let caps = process.capabilities().as_ref().unwrap();
        let effective = caps.effective().as_ref().unwrap();
        assert_eq!(effective.len(), 14);
        assert!(effective.contains(&Capability::Chown));
        assert!(effective.contains(&Capability::Setgid));
        assert!(!effective.contains(&Capability::SysAdmin));
        assert_eq!(caps.bounding(), caps.effective());
        assert_eq!(caps.permitted(), caps.effective());
        assert!(caps.ambient().is_none());
        assert_eq!(process.no_new_privileges(), Some(true));
        assert_eq!(process.user().uid(), 1000);
        assert_eq!(process.user().gid(), 1001);
        assert_eq!(process.user().additional_gids().as_deref(), Some(&[4][..]));
        let env = process.env().as_ref().unwrap();
        assert!(env.contains(&"A=1".to_owned()));
        assert!(env.contains(&"HOME=/home/app".to_owned()));
        assert!(env.iter().any(|e| e.starts_with("PATH=")));
        assert_eq!(process.rlimits().as_ref().unwrap()[0].hard(), 4096);
    }

    #[test]
    fn seccomp_allows_by_default_and_denies_the_dangerous_calls() {
        let identity = identity();
        let spec = spec(&identity);
        let seccomp = spec.linux().as_ref().unwrap().seccomp().as_ref().unwrap();
        assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActAllow);
        let rule = &seccomp.syscalls().as_ref().unwrap()[0];
        assert_eq!(rule.action(), LinuxSeccompAction::ScmpActErrno);
        for name in [
            "kexec_load",
            "init_module",
            "bpf",
            "keyctl",
            "open_by_handle_at",
        ] {
            assert!(rule.names().iter().any(|n| n == name), "{name}");
        }
        for allowed in ["mount", "ptrace", "chown", "setgroups"] {
            assert!(!rule.names().iter().any(|n| n == allowed), "{allowed}");
        }
    }

    #[test]
    fn mounts_give_proc_dev_sys_and_network_files_then_the_requests() {
        let identity = identity();
        let spec = spec(&identity);
        let mounts = spec.mounts().as_ref().unwrap();
        let destinations: Vec<String> = mounts
            .iter()
            .map(|m| m.destination().display().to_string())
            .collect();
        assert_eq!(
            destinations,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys",
                "/etc/resolv.conf",
                "/etc/hosts",
                "/src"
            ]
        );
        let sys = &mounts[5];
        assert_eq!(sys.typ().as_deref(), Some("bind"));
        assert!(sys.options().as_ref().unwrap().contains(&"ro".to_owned()));
        let src = &mounts[8];
        assert_eq!(
            src.source().as_deref(),
            Some(std::path::Path::new("/host/src"))
        );
        assert!(src.options().as_ref().unwrap().contains(&"ro".to_owned()));
        assert!(spec.linux().as_ref().unwrap().masked_paths().is_some());
    }

    #[test]
    fn a_step_with_a_network_of_its_own_gets_a_sysfs_of_its_own() {
        let identity = identity();
        let args = vec!["true".to_owned()];
        let spec = build(&StepSpec {
            rootfs: "/scratch/rootfs".into(),
            args: &args,
            env: Vec::new(),
            cwd: "/",
            identity: &identity,
            hostname: "step",
            hosts_file: "/scratch/run/hosts".into(),
            resolv_conf: None,
            mounts: Vec::new(),
            nofile: 4096,
            terminal: false,
            own_pid_namespace: true,
            own_sysfs: true,
        });
        let mounts = spec.mounts().as_ref().unwrap();
        let sys = mounts
            .iter()
            .find(|m| m.destination() == std::path::Path::new("/sys"))
            .unwrap();
        assert_eq!(sys.typ().as_deref(), Some("sysfs"));
        assert!(sys.options().as_ref().unwrap().contains(&"ro".to_owned()));
    }

    #[test]
    fn environment_keeps_the_steps_path_and_home() {
        let env = environment(&["PATH=/x".into(), "HOME=/h".into()], "/root");
        assert_eq!(env, ["PATH=/x", "HOME=/h"]);
    }
}
