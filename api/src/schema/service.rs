//! `Service` in Dagger's schema: a container's command run beside the
//! steps that bind it (`Container.asService`, `withServiceBinding`).
//! `up`, `terminal` and the host's tunnels are not here yet: Dagger's
//! schema list makes them "not supported yet".

use async_graphql::{Context, Object, Result, ID};

use super::container_info::PortObj;
use super::{fail, state};
use crate::ids::Object as Value;

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

    /// The same service, answering to `hostname`.
    async fn with_hostname(&self, hostname: String) -> ServiceObj {
        ServiceObj(self.0.with_hostname(&hostname))
    }
}

/// An ID for `service`: cheap, starts nothing.
fn register(ctx: &Context<'_>, service: &engine::Service) -> ID {
    ID(state(ctx).ids.register(Value::Service(service.clone())))
}
