//! `Host.service` started: no process, a namespace of the session network
//! whose listeners (one per port, at the service's address) relay each
//! connection to the host's `host:backend`, dialled from tanto's own
//! network namespace. The only way a step reaches the host's loopback.
//!
//! Its key carries the engine's session: what the host answers is not
//! content tanto can know, so a step bound to it is never taken from the
//! cache of another run (Dagger keys it per session too).

use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use executor::session_network::in_namespace;

use crate::cache_key::{CacheKey, KeyBuilder};
use crate::context::Context;
use crate::error::Error;
use crate::node::{HostForwards, ServiceSpec};
use crate::services::{hostname_of, in_process, tunnel, Running};
use crate::solved::blocking;

/// How long dialling the host may take.
const DIAL: Duration = Duration::from_secs(10);

pub(super) fn key(forwards: &HostForwards, hostname: Option<&str>) -> CacheKey {
    let ports: Vec<String> = forwards
        .ports
        .iter()
        .map(|(frontend, backend)| format!("{frontend}:{backend}"))
        .collect();
    KeyBuilder::new("tanto.host-service.v1")
        .str("host", &forwards.host)
        .strs("ports", &ports)
        .str("session", &forwards.session)
        .str("hostname", hostname.unwrap_or(""))
        .finish()
}

/// Listens on every frontend port at a new address of the session
/// network, and relays until stopped.
pub(super) async fn start(
    ctx: &Arc<Context>,
    spec: &ServiceSpec,
    forwards: &HostForwards,
    key: CacheKey,
) -> Result<Arc<Running>, Error> {
    let hostname = spec.hostname.clone().unwrap_or_else(|| hostname_of(&key));
    let job = ctx
        .scheduler
        .side_job(key, format!("service {hostname}: {}", forwards.name()));
    let started = std::time::Instant::now();
    let running = listen(ctx, forwards, hostname).await;
    job.ended(running.as_ref().map(|_| started.elapsed()));
    running
}

async fn listen(
    ctx: &Arc<Context>,
    forwards: &HostForwards,
    hostname: String,
) -> Result<Arc<Running>, Error> {
    let attachment = blocking({
        let ctx = Arc::clone(ctx);
        move || ctx.services.attach()
    })
    .await?;
    // On the host's network, the host's own port is there already for a
    // step to reach; only a port moved elsewhere needs a listener, on
    // loopback (not to offer the host's port to the network).
    let on_host = ctx.services.on_host_network();
    let loopback = ["localhost", "127.0.0.1"].contains(&forwards.host.as_str());
    let ports: Vec<(u16, u16)> = forwards
        .ports
        .iter()
        .copied()
        .filter(|(frontend, backend)| !(on_host && loopback && frontend == backend))
        .collect();
    let listen_on = match on_host {
        true => Ipv4Addr::LOCALHOST,
        false => Ipv4Addr::UNSPECIFIED,
    };
    let frontends: Vec<u16> = ports.iter().map(|(frontend, _)| *frontend).collect();
    let bound = in_namespace(attachment.netns.as_fd(), move || {
        frontends
            .into_iter()
            .map(|port| {
                let listener = TcpListener::bind((listen_on, port))?;
                listener.set_nonblocking(true)?;
                Ok(listener)
            })
            .collect::<std::io::Result<Vec<TcpListener>>>()
    });
    let listeners =
        bound
            .and_then(|listeners| listeners)
            .map_err(|source| Error::ServiceStart {
                service: forwards.name(),
                source,
            })?;
    let mut relays = tokio::task::JoinSet::new();
    for (listener, (_, backend)) in listeners.into_iter().zip(&ports) {
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(|source| Error::ServiceStart {
                service: forwards.name(),
                source,
            })?;
        relays.spawn(relay_all(listener, forwards.host.clone(), *backend));
    }
    let (cancel, exited) = in_process(relays);
    let name = ctx.services.name(&hostname, attachment.address);
    Ok(Arc::new(Running::new(
        attachment.address,
        hostname,
        cancel,
        exited,
        vec![Box::new(attachment), Box::new(name)],
    )))
}

/// Relays every connection to `listener` to the host's `host:backend`.
async fn relay_all(listener: tokio::net::TcpListener, host: String, backend: u16) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            continue;
        };
        let host = host.clone();
        tokio::spawn(async move {
            let target = (host.as_str(), backend);
            tunnel::dial_and_copy(inbound, target, DIAL, "Host.service").await
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwards(session: &str) -> HostForwards {
        HostForwards {
            host: "localhost".into(),
            ports: vec![(8080, 80)],
            session: session.into(),
        }
    }

    #[test]
    fn a_host_service_is_keyed_by_its_session() {
        assert_eq!(key(&forwards("a"), None), key(&forwards("a"), None));
        assert_ne!(key(&forwards("a"), None), key(&forwards("b"), None));
    }
}
