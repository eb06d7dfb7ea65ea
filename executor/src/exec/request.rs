//! What the engine asks for when it runs one step, and what it gets back.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Certificate;

/// One exec step: the root file system as overlay layers, the process, its
/// mounts and where its output goes.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ExecRequest {
    /// Read-only layers of the root filesystem, top-most first (overlay lowerdir order). Each is a
    /// directory in overlay diff format (whiteouts = char 0/0, opaque dirs = xattr user.overlay.opaque=y).
    pub lower_dirs: Vec<PathBuf>,
    /// Empty directory that receives the step's changes (overlay upperdir).
    pub upper_dir: PathBuf,
    /// The copying snapshotter's root file system, where overlay cannot be
    /// mounted: a copy of the chain (`snapshotter::copy_chain`), bound as
    /// the root instead of an overlay of `lower_dirs`. The step changes it
    /// in place; the engine writes the changes to `upper_dir` afterwards,
    /// and `work_dir` is unused.
    #[serde(default)]
    pub copied_root: Option<PathBuf>,
    /// Empty overlay work dir on the same file system as `upper_dir`.
    pub work_dir: PathBuf,
    /// Empty private directory for the helper (rootfs mount point, tmpfs for bundle/state/secrets).
    pub scratch_dir: PathBuf,
    pub args: Vec<String>,
    /// `K=V` entries.
    pub env: Vec<String>,
    /// Absolute path in the container; created if missing (like runc/Docker).
    pub cwd: String,
    /// "" (= root), "name", "uid", "name:group", "uid:gid"; resolved via the rootfs's /etc/passwd
    /// and /etc/group (supplementary groups too).
    pub user: String,
    pub mounts: Vec<Mount>,
    /// Fed to the process, then EOF; `None` = /dev/null.
    pub stdin: Option<Vec<u8>>,
    /// Host files the helper creates (truncating) and fills with the full output.
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
    pub hostname: String,
    /// (name, ip) lines added to the generated /etc/hosts: the services a
    /// step binds, by alias and hostname.
    pub extra_hosts: Vec<(String, String)>,
    // For services (not yet built): the engine always sends `None`, so
    // `Error::Timeout` comes only from `tanto __run-step`.
    pub timeout: Option<Duration>,
    /// Extra certificate authorities the step trusts while it runs: added
    /// to its image's trust store and taken out of its result
    /// (`trust.rs`).
    #[serde(default)]
    pub ca_certificates: Vec<Certificate>,
    /// Runs the process on a pseudo-terminal of its own, relayed to the
    /// user's terminal (`/dev/tty`), instead of `stdin` and the output
    /// files: an interactive shell (`Container.terminal`). The output
    /// files stay empty.
    #[serde(default)]
    pub terminal: bool,
    /// A user whose ids tanto's namespace does not map runs as root (0:0)
    /// instead of being refused: single-id squash mode
    /// (`TANTO_SINGLE_ID=squash`), where the one mapped id owns every file
    /// anyway. Said once per user in a warning.
    #[serde(default)]
    pub unmapped_user_as_root: bool,
    /// A network of the step's own with only loopback, instead of the
    /// host's (`RUN --network=none`).
    #[serde(default)]
    pub no_network: bool,
    /// A network namespace on the session network (`session_network`) to
    /// run in instead of the host's: a path the helper can open, such as
    /// `/proc/PID/fd/N` of the process that holds it.
    #[serde(default)]
    pub network_namespace: Option<PathBuf>,
    /// The text of the step's `/etc/resolv.conf`, instead of the host's:
    /// on the session network, its DNS server.
    #[serde(default)]
    pub resolv_conf: Option<String>,
}

/// A mount into the step's container.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Mount {
    /// Absolute path in the container.
    pub target: String,
    pub kind: MountKind,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub enum MountKind {
    /// A host file or directory.
    Bind {
        source: PathBuf,
        read_only: bool,
    },
    /// A layered directory (e.g. a Directory value): lowers top-first; with `upper` (upper, work)
    /// it is writable.
    Overlay {
        lower_dirs: Vec<PathBuf>,
        upper: Option<(PathBuf, PathBuf)>,
    },
    Tmpfs,
    /// A secret file: its contents only ever live in a tmpfs of the helper's private mount
    /// namespace.
    Secret {
        contents: Secret,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

/// Bytes that never show in logs: `Debug` prints `***`. Serialized as base64
/// (only ever over the pipe to the helper).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    /// The value itself; the caller takes care where it goes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        use base64::Engine as _;
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Secret)
            .map_err(|_| serde::de::Error::custom("a secret must be base64"))
    }
}

impl ExecRequest {
    /// Where the step's changes land as the helper sees them: the copied
    /// root, else the overlay's upper dir.
    pub fn changes_dir(&self) -> &std::path::Path {
        self.copied_root.as_deref().unwrap_or(&self.upper_dir)
    }

    /// The layers whose content the changes dir hides: none for a copy,
    /// which holds everything itself.
    pub fn layers_below_changes(&self) -> &[PathBuf] {
        match self.copied_root {
            Some(_) => &[],
            None => &self.lower_dirs,
        }
    }
}

/// How a step ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecOutcome {
    /// The process's exit code, or 128+signal if a signal killed it.
    pub exit_code: i32,
    pub duration: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let mount = MountKind::Secret {
            contents: Secret::new("hunter2"),
            mode: 0o400,
            uid: 0,
            gid: 0,
        };
        let shown = format!("{mount:?}");
        assert!(shown.contains("***"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn secrets_survive_the_pipe_to_the_helper() {
        let secret = Secret::new(vec![0u8, 1, 255, b'x']);
        let json = serde_json::to_string(&secret).unwrap();
        assert_eq!(serde_json::from_str::<Secret>(&json).unwrap(), secret);
    }
}
