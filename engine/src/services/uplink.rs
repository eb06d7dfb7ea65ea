//! The session network's way out, built into tanto (no helper binary, no
//! `/dev/net/tun`): TCP that a step or service sends outside the session
//! subnet is redirected by one nf_tables rule to a listener of tanto's on
//! the gateway, which reads where it was going (`SO_ORIGINAL_DST`) and
//! dials that from tanto's own network namespace, the host's; DNS asked of
//! the gateway is answered for the session's services and forwarded to
//! the host's resolvers for everything else (`dns`). It carries TCP and
//! DNS only: no other UDP, no ICMP.
//!
//! The host's loopback stays out of reach: a step's `127.0.0.1` is its
//! own, and connections the relay would make to loopback or back into
//! the session are dropped (no way into tanto's own sockets).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use executor::session_network::{in_namespace, SessionNetwork, Subnet};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::dns;

/// Chooses the way out: unset or `relay` for tanto's own relay,
/// `slirp4netns` for slirp4netns's (UDP and ICMP too; needs the
/// slirp4netns package and a usable `/dev/net/tun`).
pub const UPLINK_ENV: &str = "TANTO_NET_UPLINK";

/// The way out the user chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    Relay,
    Slirp4netns,
}

impl Choice {
    /// [`UPLINK_ENV`]'s choice, or an error naming what it accepts.
    pub fn from_env() -> Result<Choice, crate::error::Error> {
        match std::env::var(UPLINK_ENV).as_deref() {
            Err(_) | Ok("" | "relay") => Ok(Choice::Relay),
            Ok("slirp4netns") => Ok(Choice::Slirp4netns),
            Ok(other) => Err(crate::error::Error::UplinkChoice {
                value: other.to_owned(),
            }),
        }
    }
}

/// How long dialling a destination outside may take.
const DIAL: Duration = Duration::from_secs(30);

/// The relay and the DNS server of one session network; they stop when
/// this goes.
pub(crate) struct Uplink {
    tasks: Vec<JoinHandle<()>>,
    /// The opt-in uplink's process, when chosen.
    _slirp: Option<executor::session_network::slirp::Slirp>,
    /// The session's own names, answered by its DNS server.
    pub names: dns::Names,
    /// The `/etc/resolv.conf` of every namespace on the session network.
    pub resolv_conf: String,
}

impl Uplink {
    /// Starts the way out `choice` names (the relay, or slirp4netns) and
    /// the DNS server on `network`'s gateway, on `runtime`. Blocking
    /// (netlink, namespace threads).
    pub fn start(
        network: &SessionNetwork,
        runtime: &Handle,
        choice: Choice,
    ) -> std::io::Result<Uplink> {
        let gateway = network.subnet.gateway();
        let (relay, slirp) = match choice {
            Choice::Relay => {
                let relay = in_namespace(network.namespace(), move || {
                    let listener = std::net::TcpListener::bind((gateway, 0))?;
                    listener.set_nonblocking(true)?;
                    Ok::<_, std::io::Error>(listener)
                })??;
                network.redirect_outbound_tcp(relay.local_addr()?.port())?;
                (Some(relay), None)
            }
            Choice::Slirp4netns => (None, Some(network.start_slirp()?)),
        };
        let dns_socket = in_namespace(network.namespace(), move || {
            let socket = std::net::UdpSocket::bind((gateway, 53))?;
            socket.set_nonblocking(true)?;
            Ok::<_, std::io::Error>(socket)
        })??;
        let host_resolv_conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let names = dns::Names::default();
        let _entered = runtime.enter();
        let dns_socket = UdpSocket::from_std(dns_socket)?;
        let mut tasks = vec![runtime.spawn(dns::serve(
            dns_socket,
            names.clone(),
            dns::upstreams(&host_resolv_conf),
        ))];
        if let Some(relay) = relay {
            let relay = TcpListener::from_std(relay)?;
            tasks.push(runtime.spawn(relay_all(relay, network.subnet)));
        }
        Ok(Uplink {
            tasks,
            _slirp: slirp,
            names,
            resolv_conf: session_resolv_conf(gateway, &host_resolv_conf),
        })
    }
}

impl Drop for Uplink {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The session network's resolv.conf: its own DNS server, and the host's
/// search domains, so short names resolve as they do on the host.
fn session_resolv_conf(gateway: Ipv4Addr, host: &str) -> String {
    let mut text = format!("nameserver {gateway}\n");
    for line in host.lines() {
        let first = line.split_whitespace().next();
        if matches!(first, Some("search" | "domain")) {
            text.push_str(line.trim());
            text.push('\n');
        }
    }
    text
}

/// Relays every connection the redirect sends to `listener` to where it
/// was going.
async fn relay_all(listener: TcpListener, subnet: Subnet) {
    loop {
        let Ok((inbound, from)) = listener.accept().await else {
            continue;
        };
        let destination = match original_destination(&inbound) {
            Ok(destination) => destination,
            Err(e) => {
                tracing::debug!("relay: no original destination for {from}: {e}");
                continue;
            }
        };
        if !allowed(destination, subnet) {
            tracing::debug!("relay: {from} may not reach {destination}");
            continue;
        }
        let host = destination.ip().to_string();
        tokio::spawn(async move {
            let target = (host.as_str(), destination.port());
            super::tunnel::dial_and_copy(inbound, target, DIAL, "relay").await
        });
    }
}

/// Whether the relay may dial `destination`: not loopback, not the
/// session network (reached directly, never through the relay), not an
/// address that means no one.
fn allowed(destination: SocketAddrV4, subnet: Subnet) -> bool {
    let ip = *destination.ip();
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_broadcast() || subnet.contains(ip))
}

/// Where a redirected connection was going, as netfilter recorded it.
fn original_destination(stream: &TcpStream) -> std::io::Result<SocketAddrV4> {
    const SO_ORIGINAL_DST: libc::c_int = 80;
    // SAFETY: a zeroed sockaddr_in is a valid value to be overwritten.
    let mut address: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: the fd is open for the call; the buffer and its length match.
    let done = unsafe {
        libc::getsockopt(
            stream.as_fd().as_raw_fd(),
            libc::SOL_IP,
            SO_ORIGINAL_DST,
            (&mut address as *mut libc::sockaddr_in).cast(),
            &mut length,
        )
    };
    if done != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(address.sin_addr.s_addr)),
        u16::from_be(address.sin_port),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_ask_the_gateway_and_keep_the_hosts_search_domains() {
        let host = "# comment\nnameserver 127.0.0.53\nsearch corp.example lab\noptions edns0\n";
        assert_eq!(
            session_resolv_conf(Ipv4Addr::new(10, 87, 0, 1), host),
            "nameserver 10.87.0.1\nsearch corp.example lab\n"
        );
    }

    #[test]
    fn the_relay_refuses_loopback_and_the_session_network() {
        let subnet = Subnet::parse("10.87.0.0/16").unwrap();
        let to = |a: [u8; 4]| SocketAddrV4::new(Ipv4Addr::from(a), 80);
        assert!(allowed(to([192, 0, 2, 7]), subnet));
        assert!(!allowed(to([127, 0, 0, 1]), subnet));
        assert!(!allowed(to([10, 87, 0, 1]), subnet));
        assert!(!allowed(to([10, 87, 3, 4]), subnet));
        assert!(!allowed(to([0, 0, 0, 0]), subnet));
    }
}
