//! The op DAG: what each lazy value is made of.
//!
//! A [`Node`] is an op with its inputs; values (`Container`, `Directory`,
//! `File`) point at nodes. Every node's output is a layer chain: the
//! directories an overlay mount would stack, top-most first. Building a node
//! does nothing; `ops::solve` runs it.

use std::path::PathBuf;
use std::sync::Arc;

use crate::cache_volume::Sharing;
use crate::config::{ConfigEdit, Settings};
use crate::error::Error;
use crate::paths::in_container;
use crate::secret::Secret;

pub(crate) struct Node {
    pub op: Op,
    /// How progress and errors name the step, e.g. `withExec sh -c "make"`.
    pub name: String,
}

impl Node {
    pub fn new(op: Op, name: impl Into<String>) -> Arc<Node> {
        Arc::new(Node {
            op,
            name: name.into(),
        })
    }

    pub fn scratch() -> Arc<Node> {
        Node::new(Op::Scratch, "scratch")
    }
}

pub(crate) enum Op {
    /// The empty chain.
    Scratch,
    /// An image from a registry; its output also carries the image config.
    Image {
        address: String,
        /// Which image of a multi-platform index.
        platform: registry::Platform,
    },
    /// A host directory (or, with `file`, a single host file), snapshotted.
    Host {
        path: PathBuf,
        include: Vec<String>,
        exclude: Vec<String>,
        file: bool,
    },
    /// A URL downloaded into a chain of one layer holding one file.
    Http(Box<HttpSpec>),
    /// A process run on top of `rootfs`; its output is the rootfs plus the
    /// changes the process made.
    Exec(Box<ExecOp>),
    /// One new layer on top of `base`.
    Layer { base: Arc<Node>, change: Change },
    /// What a writable directory mount holds after the exec `exec` ran: the
    /// mount's own changes (mount number `index`) on top of `source`.
    ExecMount {
        exec: Arc<Node>,
        index: usize,
        source: Arc<Node>,
    },
    /// The image of a container as an OCI tarball, `/image.tar` of its
    /// output (`asTarball`).
    Tarball(Box<ImageSpec>),
    /// An image read from an OCI tarball or layout, or a `docker save`
    /// archive: `path` of `source`'s chain, or a host path (`tanto pull
    /// oci-archive:…`). Its output carries the image config, like `Image`.
    Import {
        source: ImportSource,
        tag: Option<String>,
        /// Which image of a multi-platform index.
        platform: registry::Platform,
    },
    /// What the subtree `upper_path` of `upper` has that `lower_path` of
    /// `lower` lacks or has otherwise, as a chain of one layer
    /// (`Directory.diff`).
    Diff {
        lower: Arc<Node>,
        lower_path: ContainerPath,
        upper: Arc<Node>,
        upper_path: ContainerPath,
    },
    /// A changeset applied: what changed from `before` to `after` (two
    /// subtrees), removals included, as one more layer on `base`
    /// (`Directory.withChanges`).
    WithChanges(Box<ChangesOp>),
    /// A value built from bad input; using it fails with this error.
    Failed(Arc<Error>),
}

/// `Directory.withChanges`: the directory at `base_path` of `base`, and
/// the two trees whose differences it takes.
pub(crate) struct ChangesOp {
    pub base: Arc<Node>,
    pub base_path: ContainerPath,
    pub before: Arc<Node>,
    pub before_path: ContainerPath,
    pub after: Arc<Node>,
    pub after_path: ContainerPath,
}

/// What `Query.http` downloads, and the file it makes.
#[derive(Clone)]
pub(crate) struct HttpSpec {
    pub url: String,
    /// The file's name in the layer.
    pub name: String,
    pub mode: u32,
    /// `sha256:…` the content must have.
    pub checksum: Option<String>,
    /// The `Authorization` header's value.
    pub auth: Option<Secret>,
}

/// What building a container's image needs.
pub(crate) struct ImageSpec {
    pub rootfs: Arc<Node>,
    pub config: Arc<LazyConfig>,
    /// What the image's config says it is when it has no base image.
    pub platform: registry::Platform,
    pub options: crate::image::ImageOptions,
    /// Other platforms' containers (`platformVariants`): with any, the
    /// tarball holds a multi-platform image.
    pub variants: Vec<ImageSpec>,
}

pub(crate) enum ImportSource {
    File {
        node: Arc<Node>,
        path: ContainerPath,
    },
    Host(crate::image::ArchiveSource),
    /// An image in the host's own container engine (`Host.containerImage`).
    HostEngine(String),
}

/// A file-system change that becomes one layer.
pub(crate) enum Change {
    /// Copy `src_path` of `source`'s chain to `dest` (withDirectory, withFile).
    Copy {
        source: Arc<Node>,
        src_path: ContainerPath,
        include: Vec<String>,
        exclude: Vec<String>,
        dest: ContainerPath,
        mode: Option<u32>,
    },
    /// Dockerfile `ADD` of a local file: unpacked at `dest` when it is a
    /// tar archive (plain, gzip or zstd, told by content), else copied as a
    /// file, into the directory `dest` when `into`.
    Add {
        source: Arc<Node>,
        src_path: ContainerPath,
        dest: ContainerPath,
        into: bool,
        mode: Option<u32>,
    },
    NewFile {
        path: ContainerPath,
        contents: Vec<u8>,
        mode: u32,
    },
    NewDirectory {
        path: ContainerPath,
        mode: u32,
    },
    /// A directory made when missing, left as it is when there
    /// (Dockerfile `WORKDIR`).
    EnsureDirectory {
        path: ContainerPath,
    },
    Remove {
        path: ContainerPath,
    },
    /// Every path matching `path`, a pattern with `*` (Dagger's
    /// `withoutFile("b/*.txt")`): none matching is no error.
    RemoveMatching {
        path: ContainerPath,
    },
    /// A symlink at `link` pointing to `target`, as given (withSymlink).
    Symlink {
        target: String,
        link: ContainerPath,
    },
    /// Every entry of the subtree at `path` owned by `owner`, `user[:group]`
    /// as ids or names of the chain's `/etc/passwd` and `/etc/group`.
    Chown {
        path: ContainerPath,
        owner: String,
    },
    /// A unified diff applied to the directory at `root` (`withPatch`).
    Patch {
        root: ContainerPath,
        patch: String,
    },
    /// The file at `path` with literal text replaced (`File.withReplaced`).
    Replace {
        path: ContainerPath,
        search: String,
        replacement: String,
        all: bool,
        first_from: Option<u32>,
    },
    /// Every entry of the subtree at `path` with this mtime (withTimestamps).
    Timestamps {
        path: ContainerPath,
        seconds: i64,
    },
}

pub(crate) struct ExecOp {
    pub rootfs: Arc<Node>,
    /// The container's platform: another architecture than the host's
    /// runs through an emulator (`foreign_platform/`).
    pub platform: registry::Platform,
    pub config: Arc<LazyConfig>,
    /// The command as given; `use_entrypoint` prepends the entrypoint.
    pub args: Vec<String>,
    pub use_entrypoint: bool,
    pub stdin: String,
    pub redirect_stdout: String,
    pub redirect_stderr: String,
    pub expect: Expect,
    pub mounts: Vec<MountSpec>,
    pub secret_env: Vec<(String, Secret)>,
    /// A value only in the step's key, to run it again whatever is cached.
    pub cache_buster: Option<String>,
    /// A network of its own with only loopback, not the host's.
    pub no_network: bool,
    /// The services it reaches by alias (`withServiceBinding`), started
    /// when it runs; they put it on the session network.
    pub services: Vec<ServiceBinding>,
}

/// A service: what answers (never memoized), and how it is reached.
pub(crate) struct ServiceSpec {
    pub process: ServiceProcess,
    /// `withHostname`: the name it answers to instead of the one its key
    /// gives it.
    pub hostname: Option<String>,
}

impl ServiceSpec {
    /// What it runs, for progress and errors.
    pub fn name(&self) -> String {
        match &self.process {
            ServiceProcess::Exec(exec) => exec.name.clone(),
            ServiceProcess::Host(forwards) => forwards.name(),
            ServiceProcess::Tunnel(tunnel) => format!("Host.tunnel to {}", tunnel.upstream.name()),
        }
    }
}

impl HostForwards {
    pub fn name(&self) -> String {
        let ports: Vec<String> = self
            .ports
            .iter()
            .map(|(frontend, backend)| format!("{frontend}→{}:{backend}", self.host))
            .collect();
        format!("Host.service {}", ports.join(" "))
    }
}

/// What answers a service's ports.
#[derive(Clone)]
pub(crate) enum ServiceProcess {
    /// `Container.asService`: an exec node on the container, whose process
    /// is the service's.
    Exec(Arc<Node>),
    /// `Host.service`: ports on the session network relayed to the host.
    Host(HostForwards),
    /// `Host.tunnel`: ports on the host's loopback relayed to a service.
    Tunnel(TunnelSpec),
}

/// `Host.tunnel`'s forwards to `upstream`: `ports` as `(frontend,
/// backend)`, a frontend of 0 for any free port; with `native` (or no
/// ports at all), every exposed TCP port too, on its own number (on a free
/// one without `native`).
#[derive(Clone)]
pub(crate) struct TunnelSpec {
    pub upstream: Arc<ServiceSpec>,
    pub ports: Vec<(u16, u16)>,
    pub native: bool,
    /// The engine's own: listeners on this machine belong to one run.
    pub session: String,
}

#[derive(Clone)]
/// `Host.service`'s ports: each `(frontend, backend)` listened on at the
/// service's address, relayed to `host:backend` from the host.
pub(crate) struct HostForwards {
    pub host: String,
    pub ports: Vec<(u16, u16)>,
    /// The engine's own: a step bound to the host's ports must never be
    /// taken from another run's cache, whatever they answer now.
    pub session: String,
}

/// One `withServiceBinding`: a service, reached by `alias`.
#[derive(Clone)]
pub(crate) struct ServiceBinding {
    pub alias: String,
    pub service: Arc<ServiceSpec>,
}

/// Which exit codes count as success (Dagger's `ReturnType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Expect {
    #[default]
    Success,
    /// Exit codes 1–127 and 192–255.
    Failure,
    Any,
}

impl Expect {
    pub fn accepts(self, exit_code: i32) -> bool {
        match self {
            Expect::Success => exit_code == 0,
            Expect::Failure => matches!(exit_code, 1..=127 | 192..=255),
            Expect::Any => true,
        }
    }

    pub(crate) fn code(self) -> &'static str {
        match self {
            Expect::Success => "SUCCESS",
            Expect::Failure => "FAILURE",
            Expect::Any => "ANY",
        }
    }
}

#[derive(Clone)]
pub(crate) struct MountSpec {
    pub target: ContainerPath,
    pub source: MountSource,
}

#[derive(Clone)]
pub(crate) enum MountSource {
    Directory {
        node: Arc<Node>,
        subpath: ContainerPath,
        read_only: bool,
    },
    File {
        node: Arc<Node>,
        path: ContainerPath,
    },
    Cache {
        name: String,
        sharing: Sharing,
    },
    Temp,
    Secret {
        secret: Secret,
        mode: u32,
    },
    /// A host Unix socket, bound in as it is (`withUnixSocket`).
    Socket {
        host_path: PathBuf,
    },
}

/// A container's config before it is known: the image it starts from (if
/// any) and the edits made since. `from` is lazy, so the image's own Env or
/// WorkingDir are only known once it is solved; `ops::resolve_config` works
/// the settings out once per value and keeps them here.
pub(crate) struct LazyConfig {
    pub image: Option<Arc<Node>>,
    pub edits: Vec<ConfigEdit>,
    pub resolved: tokio::sync::OnceCell<Arc<Settings>>,
}

impl LazyConfig {
    pub fn new(image: Option<Arc<Node>>) -> Arc<LazyConfig> {
        Arc::new(LazyConfig {
            image,
            edits: Vec::new(),
            resolved: tokio::sync::OnceCell::new(),
        })
    }

    /// This config with one more edit.
    pub fn with(&self, edit: ConfigEdit) -> Arc<LazyConfig> {
        let mut edits = self.edits.clone();
        edits.push(edit);
        Arc::new(LazyConfig {
            image: self.image.clone(),
            edits,
            resolved: tokio::sync::OnceCell::new(),
        })
    }
}

/// A path in a container as the user gave it. A relative path is relative to
/// the working directory, which may come from the image's config: `from` is
/// lazy, so such a path is only resolved when the DAG is solved
/// (`ops::resolve_path`).
#[derive(Clone)]
pub(crate) enum ContainerPath {
    Known(String),
    OnImage {
        config: Arc<LazyConfig>,
        path: String,
    },
}

impl ContainerPath {
    pub fn known(path: &str) -> ContainerPath {
        ContainerPath::Known(in_container("/", path))
    }

    /// `path` under this one; `path` is relative (checked by the caller).
    pub fn join(&self, path: &str) -> ContainerPath {
        match self {
            ContainerPath::Known(base) => ContainerPath::Known(in_container(base, path)),
            ContainerPath::OnImage { config, path: base } => ContainerPath::OnImage {
                config: Arc::clone(config),
                path: format!("{base}/{path}"),
            },
        }
    }

    /// Whether both name the same path for sure, or as given.
    pub fn same_as(&self, other: &ContainerPath) -> bool {
        match (self, other) {
            (ContainerPath::Known(a), ContainerPath::Known(b)) => a == b,
            (ContainerPath::OnImage { path: a, .. }, ContainerPath::OnImage { path: b, .. }) => {
                in_container("/", a) == in_container("/", b)
            }
            _ => false,
        }
    }

    /// The path as given (absolute once known).
    pub fn raw(&self) -> &str {
        match self {
            ContainerPath::Known(path) | ContainerPath::OnImage { path, .. } => path,
        }
    }

    pub fn as_known(&self) -> Option<&str> {
        match self {
            ContainerPath::Known(path) => Some(path),
            ContainerPath::OnImage { .. } => None,
        }
    }
}

/// `path` inside the directory rooted at `root`: relative (a leading `/` means
/// the directory's root), and never above it.
pub(crate) fn in_directory(
    root: &ContainerPath,
    path: &str,
    operation: &str,
) -> Result<ContainerPath, Error> {
    let mut depth = 0usize;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if depth == 0 => {
                return Err(Error::PathEscapes {
                    operation: operation.to_owned(),
                    path: path.to_owned(),
                })
            }
            ".." => depth -= 1,
            _ => depth += 1,
        }
    }
    Ok(root.join(path.trim_start_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_paths_may_not_escape() {
        let out = ContainerPath::known("/out");
        let inside =
            |path| in_directory(&out, path, "withFile").map(|p| p.as_known().unwrap().to_owned());
        assert_eq!(inside("a/./b").unwrap(), "/out/a/b");
        assert_eq!(inside("a/../b").unwrap(), "/out/b");
        assert_eq!(inside("/a").unwrap(), "/out/a");
        let error = inside("../etc/passwd").unwrap_err();
        assert!(error.to_string().contains("../etc/passwd"), "{error}");
        assert!(inside("a/../../b").is_err());
    }
}
