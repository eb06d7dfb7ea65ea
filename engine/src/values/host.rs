//! What `Host` answers besides its directories and files: `findUp`, Unix
//! sockets (`Socket`), which steps reach through a bind mount, and the
//! images of the host's own container engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::node::{HostForwards, ServiceProcess, ServiceSpec, TunnelSpec};
use crate::values::{Container, Host, Service};

/// A Unix socket on the host (Dagger's `Socket`), named by its absolute
/// path. Nothing is checked until a step binds it.
#[derive(Clone, Debug)]
pub struct Socket {
    host_path: PathBuf,
}

impl Socket {
    pub fn host_path(&self) -> &Path {
        &self.host_path
    }
}

impl Host {
    /// The socket at `path`; relative paths start at the engine's working
    /// directory.
    pub fn unix_socket(&self, path: impl AsRef<Path>) -> Socket {
        Socket {
            host_path: self.ctx.workdir.join(path),
        }
    }

    /// The image `name` in the host's own container engine (podman, else
    /// docker: `Host.containerImage`), saved and imported when solved.
    pub fn container_image(&self, name: &str) -> Container {
        Container::new(Arc::clone(&self.ctx)).import_host_engine(name)
    }

    /// The host's `host` (`localhost` in Dagger) as a service
    /// (`Host.service`): steps bound to it reach each `(frontend, backend)`
    /// port pair at the service's `frontend`, relayed to `host:backend`.
    /// Started by the first step that runs bound to it; such a step is
    /// never taken from another run's cache.
    pub fn service(&self, ports: &[(u16, u16)], host: &str) -> Service {
        Service {
            ctx: Arc::clone(&self.ctx),
            spec: Arc::new(ServiceSpec {
                process: ServiceProcess::Host(HostForwards {
                    host: host.to_owned(),
                    ports: ports.to_vec(),
                    session: self.ctx.services.session().to_owned(),
                }),
                hostname: None,
            }),
        }
    }

    /// `service`'s ports on this machine's loopback (`Host.tunnel`), while
    /// it is started: `ports` as `(frontend, backend)` (a frontend of 0
    /// for a free port); with `native`, every exposed TCP port on its own
    /// number too; with neither, every exposed TCP port on a free one.
    /// `endpoint` says where.
    pub fn tunnel(&self, service: &Service, ports: &[(u16, u16)], native: bool) -> Service {
        Service {
            ctx: Arc::clone(&self.ctx),
            spec: Arc::new(ServiceSpec {
                process: ServiceProcess::Tunnel(TunnelSpec {
                    upstream: Arc::clone(&service.spec),
                    ports: ports.to_vec(),
                    native,
                    session: self.ctx.services.session().to_owned(),
                }),
                hostname: None,
            }),
        }
    }

    /// `name` in the working directory or the nearest directory above it,
    /// as a path relative to the working directory (`go.mod`,
    /// `../../go.mod`); `None` when no directory up to `/` has it.
    pub fn find_up(&self, name: &str) -> Option<String> {
        find_up(&self.ctx.workdir, name)
    }
}

fn find_up(start: &Path, name: &str) -> Option<String> {
    let mut up = String::new();
    for dir in start.ancestors() {
        if std::fs::symlink_metadata(dir.join(name)).is_ok() {
            return Some(format!("{up}{name}"));
        }
        up.push_str("../");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_up_answers_relative_to_where_it_starts() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(root.path().join("marker.toml"), "").unwrap();
        std::fs::write(deep.join("here"), "").unwrap();
        assert_eq!(find_up(&deep, "here").as_deref(), Some("here"));
        assert_eq!(
            find_up(&deep, "marker.toml").as_deref(),
            Some("../../marker.toml")
        );
        assert_eq!(find_up(&deep, "tanto-no-such-name-anywhere"), None);
    }
}
