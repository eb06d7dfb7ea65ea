//! `Container`: a lazy rootfs plus the settings and mounts its next step
//! runs with. Building one (here) runs nothing; reading it (`read.rs`) and
//! shipping it as an image (`image.rs`) run the pipeline.

use std::sync::Arc;

use registry::Platform;

use crate::cache_volume::Sharing;
use crate::config::ConfigEdit;
use crate::context::Context;
use crate::error::Error;
use crate::image::ArchiveSource;
use crate::node::{
    Change, ContainerPath, ExecOp, Expect, ImportSource, LazyConfig, MountSource, MountSpec, Node,
    Op, ServiceBinding,
};
use crate::paths::in_container;
use crate::secret::Secret;
use crate::values::command_line;
use crate::values::{CacheVolume, Directory, File, Socket};

mod files;
mod image;
mod read;
mod registry_auth;
mod services;
mod terminal;

pub use read::OutputFiles;

#[derive(Clone)]
pub struct Container {
    ctx: Arc<Context>,
    rootfs: Arc<Node>,
    /// The image config and the edits since: what the next step runs with.
    config: Arc<LazyConfig>,
    image_ref: Option<String>,
    mounts: Vec<MountSpec>,
    secret_env: Vec<(String, Secret)>,
    last_exec: Option<Arc<Node>>,
    /// Which image `from` picks from an index, and what its steps run as.
    platform: Platform,
    /// `withServiceBinding`: what its steps reach by alias.
    services: Vec<ServiceBinding>,
}

/// Options of [`Container::with_exec_opts`], named and defaulted as Dagger's.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub use_entrypoint: bool,
    pub stdin: String,
    pub redirect_stdout: String,
    pub redirect_stderr: String,
    pub expect: Expect,
    /// What progress calls the step (`call ci.test`); by default
    /// `withExec` and its command. Not part of its cache key.
    pub name: Option<String>,
    /// Runs the step again whatever is cached: a value in its key only.
    pub cache_buster: Option<String>,
    /// Runs the step without the host's network: in a network of its own
    /// with only loopback (a Dockerfile's `RUN --network=none`).
    pub no_network: bool,
}

impl Container {
    pub(crate) fn new(ctx: Arc<Context>) -> Container {
        Container {
            ctx,
            rootfs: Node::scratch(),
            config: LazyConfig::new(None),
            image_ref: None,
            mounts: Vec::new(),
            secret_env: Vec::new(),
            last_exec: None,
            platform: Platform::host(),
            services: Vec::new(),
        }
    }

    /// The same, empty container for `platform` (`container(platform:)`):
    /// its images are that platform's, its steps run as that architecture.
    pub fn for_platform(&self, platform: Platform) -> Container {
        Container {
            platform,
            ..self.clone()
        }
    }

    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    pub(in crate::values) fn edit(&self, edit: ConfigEdit) -> Container {
        let mut next = self.clone();
        next.config = self.config.with(edit);
        next
    }

    /// Starts from an image: its filesystem and its config (Env, WorkingDir,
    /// User, Entrypoint, Cmd). Resolved when first needed. Besides registry
    /// references, `oci-archive:PATH[:TAG]` and `oci:DIR[:TAG]` name images
    /// in files on the host, as for podman.
    pub fn from(&self, address: &str) -> Container {
        if let Some((archive, tag)) = ArchiveSource::parse(address) {
            let archive = archive.relative_to(&self.ctx.workdir);
            return self.import_host(archive, tag.as_deref());
        }
        let image = Node::new(
            Op::Image {
                address: address.to_owned(),
                platform: self.platform.clone(),
            },
            format!("from {address}"),
        );
        self.on_image(image, Some(address.to_owned()))
    }

    pub fn with_exec<S: Into<String>>(&self, args: impl IntoIterator<Item = S>) -> Container {
        self.with_exec_opts(args, ExecOptions::default())
    }

    pub fn with_exec_opts<S: Into<String>>(
        &self,
        args: impl IntoIterator<Item = S>,
        options: ExecOptions,
    ) -> Container {
        let args: Vec<String> = args.into_iter().map(Into::into).collect();
        let node = Node::new(
            Op::Exec(Box::new(ExecOp {
                rootfs: Arc::clone(&self.rootfs),
                platform: self.platform.clone(),
                config: Arc::clone(&self.config),
                args: args.clone(),
                use_entrypoint: options.use_entrypoint,
                stdin: options.stdin,
                redirect_stdout: options.redirect_stdout,
                redirect_stderr: options.redirect_stderr,
                expect: options.expect,
                mounts: self.mounts.clone(),
                secret_env: self.secret_env.clone(),
                cache_buster: options.cache_buster,
                no_network: options.no_network,
                services: self.services.clone(),
            })),
            options
                .name
                .unwrap_or_else(|| format!("withExec {}", command_line::step_name(&args))),
        );
        // Writable directory mounts now hold what the step wrote into them.
        let mounts = self
            .mounts
            .iter()
            .enumerate()
            .map(|(index, mount)| match &mount.source {
                MountSource::Directory {
                    node: source,
                    subpath,
                    read_only: false,
                } => MountSpec {
                    target: mount.target.clone(),
                    source: MountSource::Directory {
                        node: Node::new(
                            Op::ExecMount {
                                exec: Arc::clone(&node),
                                index,
                                source: Arc::clone(source),
                            },
                            format!("mount {}", mount.target.raw()),
                        ),
                        subpath: subpath.clone(),
                        read_only: false,
                    },
                },
                _ => mount.clone(),
            })
            .collect();
        Container {
            rootfs: Arc::clone(&node),
            last_exec: Some(node),
            mounts,
            ..self.clone()
        }
    }

    pub fn with_env_variable(&self, name: &str, value: &str, expand: bool) -> Container {
        self.edit(ConfigEdit::SetEnv {
            name: name.into(),
            value: value.into(),
            expand,
        })
    }

    /// Refuses to `expand` a value that reads a secret or a volatile
    /// variable, as Dagger does: neither may end up in the image's config.
    pub fn check_expandable(&self, value: &str) -> Result<(), Error> {
        let volatile = crate::config::volatile_names_after(&self.config.edits);
        for name in crate::config::referenced_variables(value) {
            let kind = if self.secret_env.iter().any(|(n, _)| *n == name) {
                "secret"
            } else if volatile.contains(&name) {
                "volatile"
            } else {
                continue;
            };
            return Err(Error::Unexpandable { kind, name });
        }
        Ok(())
    }

    pub fn without_env_variable(&self, name: &str) -> Container {
        self.edit(ConfigEdit::UnsetEnv(name.into()))
    }

    pub fn with_workdir(&self, path: &str) -> Container {
        self.edit(ConfigEdit::Workdir(path.into()))
    }

    /// `name`, `uid`, `name:group` or `uid:gid`, resolved in the container.
    pub fn with_user(&self, user: &str) -> Container {
        self.edit(ConfigEdit::User(user.into()))
    }

    pub fn with_entrypoint<S: Into<String>>(
        &self,
        args: impl IntoIterator<Item = S>,
        keep_default_args: bool,
    ) -> Container {
        self.edit(ConfigEdit::Entrypoint {
            args: args.into_iter().map(Into::into).collect(),
            keep_default_args,
        })
    }

    pub fn with_default_args<S: Into<String>>(
        &self,
        args: impl IntoIterator<Item = S>,
    ) -> Container {
        self.edit(ConfigEdit::DefaultArgs(
            args.into_iter().map(Into::into).collect(),
        ))
    }

    pub fn with_label(&self, name: &str, value: &str) -> Container {
        self.edit(ConfigEdit::Label(name.into(), value.into()))
    }

    pub fn without_label(&self, name: &str) -> Container {
        self.edit(ConfigEdit::WithoutLabel(name.into()))
    }

    /// A variable the next steps see, whose value is in no cache key: a
    /// step that differs only by it is a cache hit (Dagger's
    /// `withVolatileVariable`). Not in `envVariables`, nor in the image.
    pub fn with_volatile_variable(&self, name: &str, value: &str) -> Container {
        self.edit(ConfigEdit::SetVolatile {
            name: name.into(),
            value: value.into(),
        })
    }

    pub fn without_volatile_variable(&self, name: &str) -> Container {
        self.edit(ConfigEdit::UnsetVolatile(name.into()))
    }

    /// An annotation of the image's manifest, published and exported.
    pub fn with_annotation(&self, name: &str, value: &str) -> Container {
        self.edit(ConfigEdit::Annotation(name.into(), value.into()))
    }

    pub fn without_annotation(&self, name: &str) -> Container {
        self.edit(ConfigEdit::WithoutAnnotation(name.into()))
    }

    /// What [`Container::terminal`] runs when it is given no command.
    pub fn with_default_terminal_cmd(&self, args: Vec<String>) -> Container {
        self.edit(ConfigEdit::TerminalCmd(args))
    }

    /// The image config's `Healthcheck`, or none (`withoutDockerHealthcheck`).
    pub fn with_healthcheck(&self, healthcheck: Option<crate::config::Healthcheck>) -> Container {
        self.edit(ConfigEdit::Healthcheck(healthcheck))
    }

    /// Records a port the image listens on (`protocol`: `tcp` or `udp`), as
    /// the published image's `ExposedPorts`.
    pub fn with_exposed_port(&self, port: u16, protocol: &str) -> Container {
        self.edit(ConfigEdit::ExposedPort(format!(
            "{port}/{}",
            protocol.to_ascii_lowercase()
        )))
    }

    /// An exposed port a service made of this container is not waited
    /// for on (Dagger's `experimentalSkipHealthcheck`): one it may never
    /// listen on, or not at first.
    pub fn without_healthcheck_on(&self, port: u16, protocol: &str) -> Container {
        self.edit(ConfigEdit::UncheckedPort(format!(
            "{port}/{}",
            protocol.to_ascii_lowercase()
        )))
    }

    pub fn without_exposed_port(&self, port: u16, protocol: &str) -> Container {
        self.edit(ConfigEdit::WithoutExposedPort(format!(
            "{port}/{}",
            protocol.to_ascii_lowercase()
        )))
    }

    /// A container whose root file system and settings are the image in the
    /// tarball `source` (an OCI layout or a `docker save` archive); `tag`
    /// picks one when it holds several.
    pub fn import(&self, source: &File, tag: Option<&str>) -> Container {
        let node = Node::new(
            Op::Import {
                source: ImportSource::File {
                    node: Arc::clone(&source.node),
                    path: source.path.clone(),
                },
                tag: tag.map(str::to_owned),
                platform: self.platform.clone(),
            },
            "import",
        );
        self.on_image(node, None)
    }

    /// A container on the image in an archive on the host (`tanto pull
    /// oci-archive:…`).
    pub(crate) fn import_host(&self, archive: ArchiveSource, tag: Option<&str>) -> Container {
        let name = format!("import {}", archive.name());
        let node = Node::new(
            Op::Import {
                source: ImportSource::Host(archive),
                tag: tag.map(str::to_owned),
                platform: self.platform.clone(),
            },
            name,
        );
        self.on_image(node, None)
    }

    /// A container on the image `name` of the host's own container engine
    /// (`Host.containerImage`): saved by podman or docker when solved.
    pub(crate) fn import_host_engine(&self, name: &str) -> Container {
        let node = Node::new(
            Op::Import {
                source: ImportSource::HostEngine(name.to_owned()),
                tag: None,
                platform: self.platform.clone(),
            },
            format!("host containerImage {name}"),
        );
        self.on_image(node, None)
    }

    fn on_image(&self, image: Arc<Node>, image_ref: Option<String>) -> Container {
        // The container's own edits (volatile variables, annotations, the
        // terminal's command) outlive the image's config.
        let mut config = LazyConfig::new(Some(image.clone()));
        for edit in self.config.edits.iter().filter(|e| e.outlives_from()) {
            config = config.with(edit.clone());
        }
        Container {
            rootfs: Arc::clone(&image),
            config,
            image_ref,
            last_exec: None,
            ..self.clone()
        }
    }

    /// Paths in the container are relative to the working directory, which
    /// may be the image's: then the path is resolved when solved.
    fn abs(&self, path: &str) -> ContainerPath {
        if path.starts_with('/') {
            return ContainerPath::known(path);
        }
        // The workdir as far as this container's own edits settle it.
        let mut workdir = self.config.image.is_none().then(|| "/".to_owned());
        for edit in &self.config.edits {
            match edit {
                ConfigEdit::Workdir(dir) => {
                    workdir = if dir.starts_with('/') {
                        Some(in_container("/", dir))
                    } else {
                        workdir.map(|base| in_container(&base, dir))
                    };
                }
                ConfigEdit::ClearWorkdir => workdir = Some("/".to_owned()),
                _ => {}
            }
        }
        match workdir {
            Some(workdir) => ContainerPath::Known(in_container(&workdir, path)),
            None => ContainerPath::OnImage {
                config: Arc::clone(&self.config),
                path: path.to_owned(),
            },
        }
    }

    /// Dockerfile `ADD` of a local file: unpacked at `path` when it is a
    /// tar archive, else copied (into the directory `path` when `into`).
    pub(in crate::values) fn with_added_file(
        &self,
        path: &str,
        source: &File,
        into: bool,
        mode: Option<u32>,
    ) -> Container {
        self.with_layer(
            Change::Add {
                source: Arc::clone(&source.node),
                src_path: source.path.clone(),
                dest: self.abs(path),
                into,
                mode,
            },
            format!("ADD {path}"),
        )
    }

    /// A directory made at `path` unless one is there (Dockerfile `WORKDIR`).
    pub(in crate::values) fn with_ensured_directory(&self, path: &str) -> Container {
        self.with_layer(
            Change::EnsureDirectory {
                path: self.abs(path),
            },
            format!("WORKDIR {path}"),
        )
    }

    fn with_layer(&self, change: Change, name: String) -> Container {
        let node = Node::new(
            Op::Layer {
                base: Arc::clone(&self.rootfs),
                change,
            },
            name,
        );
        Container {
            rootfs: node,
            ..self.clone()
        }
    }

    pub fn with_new_file(
        &self,
        path: &str,
        contents: impl Into<Vec<u8>>,
        permissions: u32,
    ) -> Container {
        self.with_layer(
            Change::NewFile {
                path: self.abs(path),
                contents: contents.into(),
                mode: permissions,
            },
            format!("withNewFile {path}"),
        )
    }

    pub fn with_file(&self, path: &str, source: &File, permissions: Option<u32>) -> Container {
        self.with_layer(
            Change::Copy {
                source: Arc::clone(&source.node),
                src_path: source.path.clone(),
                include: Vec::new(),
                exclude: Vec::new(),
                dest: self.abs(path),
                mode: permissions,
            },
            format!("withFile {path}"),
        )
    }

    pub fn with_directory(
        &self,
        path: &str,
        source: &Directory,
        include: &[&str],
        exclude: &[&str],
    ) -> Container {
        self.copy_directory(path, source, include, exclude, None)
    }

    /// Replaces the root filesystem; the settings stay.
    pub fn with_rootfs(&self, directory: &Directory) -> Container {
        let rootfs = if directory.subpath.as_known() == Some("/") {
            Arc::clone(&directory.node)
        } else {
            Node::new(
                Op::Layer {
                    base: Node::scratch(),
                    change: Change::Copy {
                        source: Arc::clone(&directory.node),
                        src_path: directory.subpath.clone(),
                        include: Vec::new(),
                        exclude: Vec::new(),
                        dest: ContainerPath::known("/"),
                        mode: None,
                    },
                },
                "withRootfs",
            )
        };
        Container {
            rootfs,
            ..self.clone()
        }
    }

    fn with_mount(&self, target: &str, source: MountSource) -> Container {
        let target = self.abs(target);
        let mut next = self.clone();
        next.mounts.retain(|m| !m.target.same_as(&target));
        next.mounts.push(MountSpec { target, source });
        next
    }

    pub fn with_mounted_directory(
        &self,
        path: &str,
        source: &Directory,
        read_only: bool,
    ) -> Container {
        self.with_mount(
            path,
            MountSource::Directory {
                node: Arc::clone(&source.node),
                subpath: source.subpath.clone(),
                read_only,
            },
        )
    }

    pub fn with_mounted_file(&self, path: &str, source: &File) -> Container {
        self.with_mount(
            path,
            MountSource::File {
                node: Arc::clone(&source.node),
                path: source.path.clone(),
            },
        )
    }

    pub fn with_mounted_cache(
        &self,
        path: &str,
        cache: &CacheVolume,
        sharing: Sharing,
    ) -> Container {
        self.with_mount(
            path,
            MountSource::Cache {
                name: cache.name().to_owned(),
                sharing,
            },
        )
    }

    pub fn with_mounted_temp(&self, path: &str) -> Container {
        self.with_mount(path, MountSource::Temp)
    }

    /// The secret as a file (mode 0o400 is Dagger's default: 256).
    pub fn with_mounted_secret(&self, path: &str, secret: &Secret, mode: u32) -> Container {
        self.with_mount(
            path,
            MountSource::Secret {
                secret: secret.clone(),
                mode,
            },
        )
    }

    pub fn without_mount(&self, path: &str) -> Container {
        let target = self.abs(path);
        let mut next = self.clone();
        next.mounts.retain(|m| !m.target.same_as(&target));
        next
    }

    /// The host socket `socket` at `path` in the steps from now on: bound
    /// in, so the step talks to the host's server (an SSH agent, Docker).
    pub fn with_unix_socket(&self, path: &str, socket: &Socket) -> Container {
        self.with_mount(
            path,
            MountSource::Socket {
                host_path: socket.host_path().to_owned(),
            },
        )
    }

    /// No socket at `path` any more; other mounts there stay.
    pub fn without_unix_socket(&self, path: &str) -> Container {
        let target = self.abs(path);
        let mut next = self.clone();
        next.mounts.retain(|m| {
            !(m.target.same_as(&target) && matches!(m.source, MountSource::Socket { .. }))
        });
        next
    }

    pub fn without_secret_variable(&self, name: &str) -> Container {
        let mut next = self.clone();
        next.secret_env.retain(|(n, _)| n != name);
        next
    }

    /// No entrypoint; the default args go too unless `keep_default_args`.
    pub fn without_entrypoint(&self, keep_default_args: bool) -> Container {
        self.with_entrypoint(Vec::<String>::new(), keep_default_args)
    }

    pub fn without_default_args(&self) -> Container {
        self.with_default_args(Vec::<String>::new())
    }

    /// The image's default user again: root.
    pub fn without_user(&self) -> Container {
        self.with_user("")
    }

    /// No working directory: steps start in `/`.
    pub fn without_workdir(&self) -> Container {
        self.edit(ConfigEdit::ClearWorkdir)
    }

    pub fn with_secret_variable(&self, name: &str, secret: &Secret) -> Container {
        let mut next = self.clone();
        next.secret_env.retain(|(n, _)| n != name);
        next.secret_env.push((name.to_owned(), secret.clone()));
        next
    }
}
