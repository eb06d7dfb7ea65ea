//! `Service` in Dagger's schema: a container's command run beside the
//! steps that bind it (`Container.asService`, `withServiceBinding`).
//! `terminal` is not here yet: Dagger's schema
//! list makes it "not supported yet".

use async_graphql::{Context, InputObject, Object, Result, ID};

use super::container_info::PortObj;
use super::{fail, state, NetworkProtocol};
use crate::ids::Object as Value;
use crate::scalars::Void;

pub(crate) struct ServiceObj(pub engine::Service);

#[Object(name = "Service")]
impl ServiceObj {
    /// This service's ID: cheap, starts nothing.
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        register(ctx, &self.0)
    }

    /// Its ID, as `id`: a service is evaluated by starting it (`start`).
    async fn sync(&self, ctx: &Context<'_>) -> ID {
        register(ctx, &self.0)
    }

    /// The name other containers reach it by, besides their alias.
    async fn hostname(&self) -> Result<String> {
        self.0.hostname().await.map_err(fail)
    }

    /// `hostname:port` (`scheme://hostname:port` with a scheme); the port
    /// defaults to the first one exposed.
    async fn endpoint(
        &self,
        port: Option<i32>,
        #[graphql(default)] scheme: String,
    ) -> Result<String> {
        let port = match port {
            Some(port) => Some(u16::try_from(port).map_err(|_| {
                async_graphql::Error::new(format!(
                    "endpoint: port {port} is not a port number (1 to 65535)"
                ))
            })?),
            None => None,
        };
        self.0.endpoint(port, &scheme).await.map_err(fail)
    }

    /// The ports it exposes.
    async fn ports(&self) -> Result<Vec<PortObj>> {
        Ok(self
            .0
            .ports()
            .await
            .map_err(fail)?
            .into_iter()
            .map(PortObj)
            .collect())
    }

    /// Starts it, unless it runs already; it runs until `stop` or the end
    /// of the session.
    async fn start(&self, ctx: &Context<'_>) -> Result<ID> {
        self.0.start().await.map_err(fail)?;
        Ok(register(ctx, &self.0))
    }

    /// Stops it now and waits until it has: SIGTERM, then SIGKILL after
    /// 10 s; SIGKILL at once with `kill`.
    async fn stop(&self, ctx: &Context<'_>, #[graphql(default = false)] kill: bool) -> Result<ID> {
        self.0.stop(kill).await.map_err(fail)?;
        Ok(register(ctx, &self.0))
    }

    /// Makes its ports reachable on this machine's 127.0.0.1 until the
    /// client gives up the request (`dagger call … up`): `ports` as
    /// given (a frontend left out is the backend's number), else every
    /// exposed TCP port on its own number, or on a free one with `random`.
    /// Progress says where each is.
    async fn up(
        &self,
        #[graphql(default)] ports: Vec<PortForward>,
        #[graphql(default = false)] random: bool,
    ) -> Result<Option<Void>> {
        let forwards = port_forwards("up", ports, |backend| if random { 0 } else { backend })?;
        self.0.up(&forwards, random).await.map_err(fail)?;
        Ok(None)
    }

    /// The same service, answering to `hostname`.
    async fn with_hostname(&self, hostname: String) -> ServiceObj {
        ServiceObj(self.0.with_hostname(&hostname))
    }
}

/// Dagger's `PortForward`: a port of this machine and the service's.
#[derive(InputObject)]
pub(crate) struct PortForward {
    /// The port on this machine; by default the backend's number.
    pub(crate) frontend: Option<i32>,
    /// The service's port.
    pub(crate) backend: i32,
    #[graphql(default)]
    pub(crate) protocol: NetworkProtocol,
}

/// `(frontend, backend)` pairs of `ports`; a frontend left out is
/// `unset(backend)`. TCP only so far.
pub(crate) fn port_forwards(
    call: &str,
    ports: Vec<PortForward>,
    unset: impl Fn(u16) -> u16,
) -> Result<Vec<(u16, u16)>> {
    let mut forwards = Vec::new();
    for port in ports {
        if port.protocol == NetworkProtocol::Udp {
            return Err(async_graphql::Error::new(format!(
                "{call}: tanto forwards TCP ports only so far; leave the UDP port out"
            )));
        }
        let backend = port_number(call, "backend", port.backend)?;
        let frontend = match port.frontend {
            Some(frontend) => port_number(call, "frontend", frontend)?,
            None => unset(backend),
        };
        forwards.push((frontend, backend));
    }
    Ok(forwards)
}

/// `port` as a port number, or an error naming the field and the call.
fn port_number(call: &str, which: &str, port: i32) -> Result<u16> {
    u16::try_from(port)
        .ok()
        .filter(|port| *port > 0)
        .ok_or_else(|| {
            async_graphql::Error::new(format!(
                "{call}: {which} port {port} is not a port number (1 to 65535)"
            ))
        })
}

/// An ID for `service`: cheap, starts nothing.
pub(crate) fn register(ctx: &Context<'_>, service: &engine::Service) -> ID {
    ID(state(ctx).ids.register(Value::Service(service.clone())))
}
