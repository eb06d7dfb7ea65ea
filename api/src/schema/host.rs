//! `Host` and `Socket` in Dagger's schema: the machine tanto runs on, its
//! directories, files and Unix sockets, relative paths starting at the
//! session's working directory.

use async_graphql::{Context, Object, Result, ID};

use super::service::{port_forwards, PortForward, ServiceObj};
use super::{lookup, state, strs, ContainerObj, DirectoryObj, FileObj};
use crate::ids::Object as Value;

pub(crate) struct HostObj;
pub(crate) struct SocketObj(pub engine::Socket);

#[Object(name = "Host")]
impl HostObj {
    /// The host's ID: every one names the same host, this machine.
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::Host))
    }

    async fn directory(
        &self,
        ctx: &Context<'_>,
        path: String,
        #[graphql(default)] exclude: Vec<String>,
        #[graphql(default)] include: Vec<String>,
        #[graphql(default = false)] no_cache: bool,
        #[graphql(default = false)] gitignore: bool,
    ) -> Result<DirectoryObj> {
        // Host directories are always read afresh (by content).
        let _ = no_cache;
        if gitignore {
            return Err(async_graphql::Error::new(
                "Host.directory: tanto does not apply .gitignore rules yet; leave gitignore out and list the patterns in exclude",
            ));
        }
        Ok(DirectoryObj(state(ctx).engine.host().directory(
            &path,
            &strs(&include),
            &strs(&exclude),
        )))
    }

    async fn file(
        &self,
        ctx: &Context<'_>,
        path: String,
        #[graphql(default = false)] no_cache: bool,
    ) -> FileObj {
        let _ = no_cache;
        FileObj(state(ctx).engine.host().file(&path))
    }

    /// `name` in the working directory or above, relative to it
    /// (`../go.mod`); null when no directory up to `/` has it. Always
    /// looked up afresh, so `noCache` changes nothing.
    async fn find_up(
        &self,
        ctx: &Context<'_>,
        name: String,
        #[graphql(default = false)] no_cache: bool,
    ) -> Option<String> {
        let _ = no_cache;
        state(ctx).engine.host().find_up(&name)
    }

    /// The image `name` in the host's own container engine (podman, else
    /// docker), as a container.
    async fn container_image(&self, ctx: &Context<'_>, name: String) -> ContainerObj {
        ContainerObj::new(state(ctx).engine.host().container_image(&name))
    }

    /// The host's `host` as a service: steps bound to it reach each
    /// port's frontend (by default its backend's number) at the service,
    /// relayed to `host:backend` here. The only way a step reaches the
    /// host's loopback; a step bound to it is never cached across runs.
    async fn service(
        &self,
        ctx: &Context<'_>,
        ports: Vec<PortForward>,
        #[graphql(default_with = "String::from(\"localhost\")")] host: String,
    ) -> Result<ServiceObj> {
        if ports.is_empty() {
            return Err(async_graphql::Error::new(
                "Host.service: no ports given: name at least one, such as {backend: 5432}",
            ));
        }
        let forwards = port_forwards("Host.service", ports, |backend| backend)?;
        Ok(ServiceObj(
            state(ctx).engine.host().service(&forwards, &host),
        ))
    }

    /// `service`'s ports on this machine's 127.0.0.1 once started: `ports`
    /// (a frontend left out is a free port), with `native` every exposed
    /// port on its own number too, with neither every exposed port on a
    /// free one. `endpoint` says where; `stop` closes it.
    async fn tunnel(
        &self,
        ctx: &Context<'_>,
        service: ID,
        #[graphql(default)] ports: Vec<PortForward>,
        #[graphql(default = false)] native: bool,
    ) -> Result<ServiceObj> {
        let upstream = lookup!(ctx, service, Service, "Service")?;
        let forwards = port_forwards("Host.tunnel", ports, |_| 0)?;
        Ok(ServiceObj(
            state(ctx)
                .engine
                .host()
                .tunnel(&upstream, &forwards, native),
        ))
    }

    /// The host's Unix socket at `path`, for `Container.withUnixSocket`.
    async fn unix_socket(&self, ctx: &Context<'_>, path: String) -> SocketObj {
        SocketObj(state(ctx).engine.host().unix_socket(&path))
    }
}

#[Object(name = "Socket")]
impl SocketObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::Socket(self.0.clone())))
    }
}
