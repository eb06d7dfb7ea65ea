//! Host → service forwarding (`Service.up`): listeners in tanto's own
//! network namespace (the host's), each connection dialled to the service
//! from the session namespace and relayed both ways. tanto lives on both
//! sides, so no helper process and no privilege is needed.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use executor::session_network::in_namespace;
use tokio::net::{TcpListener, TcpStream};

use crate::error::Error;

/// Where `Service.up` and `Host.tunnel` listen instead of 127.0.0.1:
/// `0.0.0.0` for every interface (a dev server others on the network
/// reach), or one address of this machine.
pub const ADDRESS_ENV: &str = "TANTO_UP_ADDRESS";

/// The address forwards listen on: [`ADDRESS_ENV`], else loopback.
pub(crate) fn listen_address() -> Result<Ipv4Addr, Error> {
    match std::env::var(ADDRESS_ENV) {
        Err(_) => Ok(Ipv4Addr::LOCALHOST),
        Ok(value) => value.trim().parse().map_err(|_| Error::UpAddress { value }),
    }
}

/// How long dialling the service may take before the connection is given up.
const DIAL: Duration = Duration::from_secs(5);

/// One forward: a listener on the host and the service port it reaches.
pub(crate) struct Forward {
    pub listener: TcpListener,
    /// Where it listens, a free port resolved.
    pub address: SocketAddr,
    pub backend: u16,
}

/// Listens on `host:frontend` (0: any free port) for `backend`. Ports
/// below 1024 need a privilege tanto does not have: say what to do.
pub(crate) async fn listen(host: Ipv4Addr, frontend: u16, backend: u16) -> Result<Forward, Error> {
    let address = SocketAddr::from((host, frontend));
    let listener = TcpListener::bind(address).await.map_err(|source| {
        let advice = match (source.kind(), frontend) {
            (std::io::ErrorKind::PermissionDenied, 1..=1023) => format!(
                "ports below 1024 need a privilege rootless tanto lacks: forward another, such as {}:{backend}, or take a random one",
                8000 + u32::from(frontend)
            ),
            _ => "choose another port, or take a random one".to_owned(),
        };
        Error::ServiceUp {
            address: address.to_string(),
            advice,
            source,
        }
    })?;
    let address = listener.local_addr().map_err(|source| Error::ServiceUp {
        address: address.to_string(),
        advice: "choose another port".to_owned(),
        source,
    })?;
    Ok(Forward {
        listener,
        address,
        backend,
    })
}

/// Relays every connection to `forward`'s listener to `service`'s backend
/// port, for as long as this future is polled.
pub(crate) async fn relay(forward: Forward, session: Arc<OwnedFd>, service: Ipv4Addr) {
    let target = SocketAddrV4::new(service, forward.backend);
    loop {
        let Ok((client, _)) = forward.listener.accept().await else {
            continue;
        };
        let session = Arc::clone(&session);
        tokio::spawn(async move {
            let dialled = tokio::task::spawn_blocking(move || {
                in_namespace(session.as_fd(), move || {
                    std::net::TcpStream::connect_timeout(&target.into(), DIAL)
                })
            })
            .await;
            let upstream = match dialled {
                Ok(Ok(Ok(stream))) => stream,
                Ok(Ok(Err(e))) => {
                    tracing::debug!("cannot reach the service at {target}: {e}");
                    return;
                }
                _ => return,
            };
            if upstream.set_nonblocking(true).is_err() {
                return;
            }
            let Ok(mut upstream) = TcpStream::from_std(upstream) else {
                return;
            };
            let mut client = client;
            copy_both_ways(&mut client, &mut upstream).await;
        });
    }
}

/// What one connection's relay reads at a time each way: tokio's 8 KiB
/// default costs a wakeup per 8 KiB, and a relay on a 2-core machine then
/// moves a fraction of what the link carries.
const RELAY_BUFFER: usize = 256 << 10;

/// Copies `a` to `b` and `b` to `a` until both are done (or one fails),
/// as every forward of tanto's does: `up`, tunnels, the relay out,
/// `Host.service`.
pub(crate) async fn copy_both_ways(a: &mut TcpStream, b: &mut TcpStream) {
    let _ = a.set_nodelay(true);
    let _ = b.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional_with_sizes(a, b, RELAY_BUFFER, RELAY_BUFFER).await;
}

/// Dials `host:port` from this process's network namespace (within
/// `timeout`) and relays `inbound` to it: the relay out and
/// `Host.service` alike. `why` names the forward in debug logs.
pub(crate) async fn dial_and_copy(
    mut inbound: TcpStream,
    (host, port): (&str, u16),
    timeout: Duration,
    why: &str,
) {
    match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Ok(Ok(mut outbound)) => copy_both_ways(&mut inbound, &mut outbound).await,
        Ok(Err(e)) => tracing::debug!("{why}: cannot reach {host}:{port}: {e}"),
        Err(_) => tracing::debug!("{why}: {host}:{port} did not answer in {timeout:?}"),
    }
}
