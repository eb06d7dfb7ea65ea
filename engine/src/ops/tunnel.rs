//! `Host.tunnel` started: its upstream service held, and listeners on this
//! machine's loopback (tanto's own network namespace, the host's), each
//! connection dialled to the upstream from the session namespace. Like
//! `Service.up`, but a service of its own: `start` opens it, `endpoint`
//! says where, `stop` closes it.

use std::net::Ipv4Addr;
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt};

use super::service::{bind, service_key, service_settings, tcp_ports};
use crate::cache_key::{CacheKey, KeyBuilder};
use crate::context::Context;
use crate::error::Error;
use crate::node::TunnelSpec;
use crate::services::{in_process, tunnel, Running};

/// Where a tunnel is reached: this machine's loopback.
pub(crate) const TUNNEL_HOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

pub(super) fn key<'a>(
    ctx: &'a Arc<Context>,
    spec: &'a TunnelSpec,
) -> BoxFuture<'a, Result<CacheKey, Error>> {
    async move {
        let upstream = service_key(ctx, &spec.upstream).await?;
        let ports: Vec<String> = spec
            .ports
            .iter()
            .map(|(frontend, backend)| format!("{frontend}:{backend}"))
            .collect();
        Ok(KeyBuilder::new("tanto.tunnel.v1")
            .key("upstream", &upstream)
            .strs("ports", &ports)
            .str("native", if spec.native { "yes" } else { "no" })
            .str("session", &spec.session)
            .finish())
    }
    .boxed()
}

/// Holds the upstream (started unless it runs) and listens for it.
pub(super) async fn start(
    ctx: &Arc<Context>,
    spec: &TunnelSpec,
    key: CacheKey,
) -> Result<Arc<Running>, Error> {
    let upstream_key = service_key(ctx, &spec.upstream).await?;
    let binding = bind(ctx, &spec.upstream, upstream_key).await?;
    let upstream = binding.running().address;
    let upstream_name = binding.running().hostname.clone();
    let mut forwards = spec.ports.clone();
    if spec.native || forwards.is_empty() {
        let settings = service_settings(ctx, &spec.upstream).await?;
        let random = !spec.native;
        forwards.extend(
            tcp_ports(&settings)
                .into_iter()
                .map(|port| (if random { 0 } else { port }, port)),
        );
    }
    if forwards.is_empty() {
        return Err(Error::NoPortsExposed {
            service: spec.upstream.name(),
        });
    }
    let session = Arc::new(ctx.services.session_namespace()?);
    let listen_on = tunnel::listen_address()?;
    let mut relays = tokio::task::JoinSet::new();
    let mut bound = Vec::new();
    for (frontend, backend) in forwards {
        let forward = tunnel::listen(listen_on, frontend, backend).await?;
        let at = forward.address;
        ctx.scheduler
            .side_job(key, format!("tunnel {at} → {upstream_name}:{backend}"))
            .ended(Ok(std::time::Duration::ZERO));
        bound.push(at.port());
        relays.spawn(tunnel::relay(forward, Arc::clone(&session), upstream));
    }
    let (cancel, exited) = in_process(relays);
    let mut running = Running::new(
        TUNNEL_HOST,
        TUNNEL_HOST.to_string(),
        cancel,
        exited,
        vec![Box::new(binding)],
    );
    running.ports = bound;
    Ok(Arc::new(running))
}
