//! The op DAG: what each lazy value is made of.
//!
//! A [`Node`] is an op with its inputs; values (`Container`, `Directory`,
//! `File`) point at nodes. Every node's output is a layer chain: the
//! directories an overlay mount would stack, top-most first. Building a node
//! does nothing; `solve` (in `solve.rs`) runs it.

use std::path::PathBuf;
use std::sync::Arc;

use crate::paths::ContainerPath;
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
    Image { address: String },
    /// A host directory (or, with `file`, a single host file), snapshotted.
    Host {
        path: PathBuf,
        include: Vec<String>,
        exclude: Vec<String>,
        file: bool,
    },
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
    },
    /// A value built from bad input; using it fails with this error.
    Failed(Arc<crate::Error>),
}

/// What building a container's image needs.
pub(crate) struct ImageSpec {
    pub rootfs: Arc<Node>,
    pub image: Option<Arc<Node>>,
    pub edits: Vec<ConfigEdit>,
    pub options: crate::image::ImageOptions,
}

pub(crate) enum ImportSource {
    File {
        node: Arc<Node>,
        path: ContainerPath,
    },
    Host(crate::image::ArchiveSource),
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
    NewFile {
        path: ContainerPath,
        contents: Vec<u8>,
        mode: u32,
    },
    NewDirectory {
        path: ContainerPath,
        mode: u32,
    },
    Remove {
        path: ContainerPath,
    },
}

/// Settings a container carries between steps, applied on top of the image
/// config (when there is one) at solve time: `from` is lazy, so the image's
/// own Env or WorkingDir are only known once it has been resolved.
#[derive(Clone, Debug)]
pub(crate) enum ConfigEdit {
    SetEnv {
        name: String,
        value: String,
        expand: bool,
    },
    UnsetEnv(String),
    Workdir(String),
    User(String),
    Entrypoint {
        args: Vec<String>,
        keep_default_args: bool,
    },
    DefaultArgs(Vec<String>),
    Label(String, String),
    WithoutLabel(String),
    /// `8080/tcp`.
    ExposedPort(String),
    WithoutExposedPort(String),
}

pub(crate) struct ExecOp {
    pub rootfs: Arc<Node>,
    /// The image whose config the edits apply to, if any.
    pub image: Option<Arc<Node>>,
    pub edits: Vec<ConfigEdit>,
    /// The command as given; `use_entrypoint` prepends the entrypoint.
    pub args: Vec<String>,
    pub use_entrypoint: bool,
    pub stdin: String,
    pub redirect_stdout: String,
    pub redirect_stderr: String,
    pub expect: Expect,
    pub mounts: Vec<MountSpec>,
    pub secret_env: Vec<(String, Secret)>,
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

/// How concurrent steps share a cache volume (Dagger's `CacheSharingMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sharing {
    /// Everyone uses the same directory at once.
    #[default]
    Shared,
    /// Each concurrent user gets a directory of its own.
    Private,
    /// One user at a time; others wait.
    Locked,
}

impl Sharing {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Sharing::Shared => "SHARED",
            Sharing::Private => "PRIVATE",
            Sharing::Locked => "LOCKED",
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
}
