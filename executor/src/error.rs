//! What can go wrong isolating tanto: entering the user namespace (and
//! mapping ids into it), running an exec step, a step's cgroup, and mounting
//! or checking overlay outside a step.
//!
//! Most exec-step variants are made in the helper process and cross the pipe
//! back to `run` as `exec::failure::Failure`. A kernel or io error has no
//! typed form across a process boundary, so those variants carry it as
//! `detail: String`; so does `IdMapFailed`, whose detail is what another
//! program (newuidmap/newgidmap) printed. Errors made in this process keep
//! their cause in `#[source]`.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create a user namespace; unprivileged user namespaces may be disabled (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone) or blocked by a seccomp profile; run `tanto doctor`")]
    Unshare {
        #[source]
        source: io::Error,
    },

    #[error("cannot start tanto again inside a user namespace")]
    Spawn {
        #[source]
        source: io::Error,
    },

    #[error("lost contact with the namespaced tanto process while setting it up")]
    Handshake {
        #[source]
        source: io::Error,
    },

    #[error("cannot run {tool}; install the uidmap package (it provides newuidmap and newgidmap)")]
    IdMapTool {
        tool: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("{tool} refused to map the subordinate ids: {detail}; check /etc/subuid and /etc/subgid (`tanto doctor`)")]
    IdMapFailed { tool: &'static str, detail: String },

    #[error("cannot write the user namespace's {file}")]
    WriteIdMap {
        file: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("cannot become root inside the user namespace")]
    BecomeRoot {
        #[source]
        source: io::Error,
    },

    // Running exec steps. A step that ran and failed is not an error: it is an
    // `ExecOutcome` with its exit code (127 when the command is not found).
    #[error("unknown user {user:?}: the image's /etc/passwd has no such entry; use a user the image defines or a numeric uid")]
    UnknownUser { user: String },

    #[error("unknown group {group:?}: the image's /etc/group has no such entry; use a group the image defines or a numeric gid")]
    UnknownGroup { group: String },

    #[error("user {user:?}: {kind} {id} is not mapped into tanto's user namespace (it maps {kind}s {mapped}), so the step cannot run as it; use a {kind} in that range, or give your user a larger subordinate range in /etc/sub{kind} (e.g. `usermod --add-sub{kind}s 100000-1165535 $USER`, then restart tanto); where that cannot be done (tanto then maps your user alone), TANTO_SINGLE_ID=squash runs such steps as root")]
    IdNotMapped {
        user: String,
        kind: String,
        id: String,
        mapped: String,
    },

    #[error(transparent)]
    BadProcess(#[from] crate::BadProcess),

    #[error("cannot mount on {target}: it is a file in the container, and this mount needs a directory; choose another mount path")]
    MountTargetNotDirectory { target: String },

    #[error("cannot mount a file on {target}: it is a directory in the container; choose another mount path")]
    MountTargetIsDirectory { target: String },

    #[error("the root file system has too many layers for one overlay mount ({count} layers, {length} bytes of options, at most one page); squash some layers")]
    LowerDirsTooLong { count: usize, length: usize },

    #[error("cannot mount {what}: {detail}")]
    Mount { what: String, detail: String },

    #[error("cannot mount {what}: the store ({}) is on an overlay file system (a container's own root file system?), where overlay cannot be mounted; put the store on a volume (a Kubernetes emptyDir, `podman run -v`) and set TANTO_ROOT to a directory in it", upper.display())]
    StoreOnOverlay { what: String, upper: PathBuf },

    #[error("cannot prepare the step's root file system ({what}): {detail}")]
    PrepareRootfs { what: String, detail: String },

    #[error("the container runtime (libcontainer) failed to {stage} the step: {detail}")]
    Container { stage: String, detail: String },

    #[error("cannot create the step's output file {path}: {detail}")]
    OutputFile { path: PathBuf, detail: String },

    #[error("step `{command}` timed out after {timeout:?} and was killed")]
    Timeout { command: String, timeout: Duration },

    #[error("step `{command}` was cancelled")]
    Cancelled { command: String },

    // Step cgroups: logged (once) by the engine, which runs the step anyway.
    #[error("step cgroups: cannot {action} {path}")]
    StepCgroup {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("an interactive step needs a terminal, and tanto has none (cannot open /dev/tty); run the command from a terminal, not from a pipe or a CI job")]
    NoTerminal {
        #[source]
        source: io::Error,
    },

    #[error("cannot put the terminal in raw mode for an interactive step")]
    RawMode {
        #[source]
        source: nix::errno::Errno,
    },

    #[error("cannot start the exec helper (tanto re-executed from /proc/self/exe)")]
    HelperSpawn {
        #[source]
        source: io::Error,
    },

    #[error(
        "the exec helper failed: cannot send the request; this is a bug in tanto, please report it"
    )]
    HelperRequest {
        #[source]
        source: io::Error,
    },

    #[error("the exec helper failed: {detail}; this is a bug in tanto, please report it")]
    HelperCrashed { detail: String },

    // Overlay outside a step (`mount_overlay`, `unmount`).
    #[error("cannot mount an overlay on {target}")]
    OverlayMount {
        target: PathBuf,
        #[source]
        source: nix::Error,
    },

    #[error("cannot unmount {target}")]
    Unmount {
        target: PathBuf,
        #[source]
        source: nix::Error,
    },

    // Certificates (`Certificate::all_in`).
    #[error("its certificate number {block} (counting the -----BEGIN CERTIFICATE----- blocks from 1) is not a certificate: the block does not end or its body is not base64 of DER")]
    BadCertificate { block: usize },
}
