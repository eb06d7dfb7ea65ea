//! The session network's DNS server. Steps and services on the session
//! network resolve through the gateway (`nameserver <gateway>` in their
//! resolv.conf); this is what listens there. It owns two things: the
//! names of the session's own services, answered here from [`Names`],
//! and the way out for every other query, forwarded unchanged to the
//! host's resolvers and relayed back. Forwarding happens from tanto's
//! own network namespace, the host's, so a resolver only the host can
//! reach, such as systemd-resolved's stub on 127.0.0.53, keeps working.
//!
//! UDP only: an upstream answer too big for UDP reaches the asker
//! truncated (TC set) as the upstream sent it, and its retry over TCP
//! finds nobody listening.

mod message;

use std::collections::HashMap;
use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinSet;

use message::{Header, Question};

/// The session's names: service hostname (lowercase, no trailing dot) →
/// address.
pub(crate) type Names = Arc<Mutex<HashMap<String, Ipv4Addr>>>;

/// How long one upstream has to answer before the next is asked: glibc's
/// default is 5 s, but the asker's own resolver is waiting on this one and
/// would give up first.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// Forwarded queries waiting at once; more are dropped (the asker
/// retries), so that a flood towards a silent upstream cannot use up the
/// engine's file descriptors.
const IN_FLIGHT: usize = 256;

/// glibc reads no more `nameserver` lines than this (MAXNS): the host
/// itself never asks the ones after.
const MAXNS: usize = 3;

/// The largest UDP payload.
const MAX_PACKET: usize = 65535;

/// The host's resolvers, from its resolv.conf's text: each `nameserver`
/// line's address, port 53; if there is none, 127.0.0.1:53, as glibc does.
pub(crate) fn upstreams(resolv_conf: &str) -> Vec<SocketAddr> {
    let found: Vec<SocketAddr> = resolv_conf
        .lines()
        .filter_map(
            |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                ["nameserver", address, ..] => nameserver(address),
                _ => None,
            },
        )
        .take(MAXNS)
        .collect();
    match found.is_empty() {
        true => vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 53))],
        false => found,
    }
}

/// One `nameserver` address; a link-local IPv6 one is only reachable
/// through the interface its zone names (`fe80::1%eth0`).
fn nameserver(address: &str) -> Option<SocketAddr> {
    if let Ok(address) = address.parse::<IpAddr>() {
        return Some(SocketAddr::from((address, 53)));
    }
    let (address, zone) = address.split_once('%')?;
    let address: Ipv6Addr = address.parse().ok()?;
    let scope = match zone.parse::<u32>() {
        Ok(index) => index,
        Err(_) => {
            let zone = CString::new(zone).ok()?;
            // SAFETY: a NUL-terminated string that outlives the call.
            let index = unsafe { libc::if_nametoindex(zone.as_ptr()) };
            (index != 0).then_some(index)?
        }
    };
    Some(SocketAddrV6::new(address, 53, 0, scope).into())
}

/// Answers the queries arriving on `socket` (the gateway's port 53, in
/// the session namespace) for as long as this future is polled: a
/// session name here, anything else by `upstreams`, tried in order. A
/// forwarded query waits on its own task, so that a slow upstream holds
/// up nobody else; those tasks end with this future.
pub(crate) async fn serve(socket: UdpSocket, names: Names, upstreams: Vec<SocketAddr>) {
    let socket = Arc::new(socket);
    let upstreams: Arc<[SocketAddr]> = upstreams.into();
    let mut forwarding = JoinSet::new();
    let mut buffer = vec![0; MAX_PACKET];
    loop {
        let (length, asker) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(e) => {
                tracing::debug!("session DNS: {e}");
                // A socket that keeps failing must not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let query = &buffer[..length];
        let (header, question) = match decide(query, &names) {
            Decision::Drop => continue,
            Decision::Reply(reply) => {
                if let Err(e) = socket.send_to(&reply, asker).await {
                    tracing::debug!("session DNS: cannot answer {asker}: {e}");
                }
                continue;
            }
            Decision::Forward(header, question) => (header, question),
        };
        while forwarding.try_join_next().is_some() {}
        if forwarding.len() >= IN_FLIGHT {
            tracing::debug!("session DNS: too many queries waiting, {asker}'s dropped");
            continue;
        }
        let (query, socket, upstreams) =
            (query.to_vec(), Arc::clone(&socket), Arc::clone(&upstreams));
        forwarding.spawn(async move {
            let reply = match forward(&query, &upstreams).await {
                Some(reply) => reply,
                None => message::failure(&header, Some(&question), message::SERVFAIL),
            };
            if let Err(e) = socket.send_to(&reply, asker).await {
                tracing::debug!("session DNS: cannot answer {asker}: {e}");
            }
        });
    }
}

/// What becomes of one packet from the session network.
#[derive(Debug, PartialEq)]
enum Decision {
    /// Not a query, or not even a header to reply to.
    Drop,
    /// Answered here.
    Reply(Vec<u8>),
    /// For the upstreams.
    Forward(Header, Question),
}

fn decide(packet: &[u8], names: &Names) -> Decision {
    let Some(header) = Header::parse(packet) else {
        tracing::debug!("session DNS: a packet that is no query dropped");
        return Decision::Drop;
    };
    let Some(question) = Question::parse(packet) else {
        tracing::debug!("session DNS: a query whose question cannot be read");
        return Decision::Reply(message::failure(&header, None, message::FORMERR));
    };
    if header.opcode() != 0 || header.questions != 1 || question.class != message::CLASS_IN {
        return Decision::Forward(header, question);
    }
    let names = names.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(&address) = names.get(&question.name) else {
        return Decision::Forward(header, question);
    };
    // A session name has an A record and nothing else, but it exists
    // under every type: an NXDOMAIN from upstream for its AAAA (or HTTPS)
    // would make musl, which asks both at once, fail the whole lookup.
    let address = matches!(question.qtype, message::TYPE_A | message::TYPE_ANY).then_some(address);
    Decision::Reply(message::answer(&header, &question, address))
}

/// The first upstream's answer to `query`, or `None` if none answers.
async fn forward(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for &upstream in upstreams {
        match tokio::time::timeout(UPSTREAM_TIMEOUT, ask(query, upstream)).await {
            Ok(Ok(reply)) => return Some(reply),
            Ok(Err(e)) => tracing::debug!("session DNS: upstream {upstream}: {e}"),
            Err(_) => tracing::debug!("session DNS: upstream {upstream} did not answer"),
        }
    }
    None
}

/// `upstream`'s reply to `query`, asked from a socket of its own: a fresh
/// random port per query is what keeps forged replies out, and a
/// connected socket takes only the upstream's, and learns at once that
/// nothing listens there.
async fn ask(query: &[u8], upstream: SocketAddr) -> std::io::Result<Vec<u8>> {
    let any: IpAddr = match upstream {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind((any, 0)).await?;
    socket.connect(upstream).await?;
    socket.send(query).await?;
    let mut reply = vec![0; MAX_PACKET];
    loop {
        let length = socket.recv(&mut reply).await?;
        // A late reply to someone else's query is no answer to this one.
        if length >= 3 && reply[..2] == query[..2] && reply[2] & 0x80 != 0 {
            reply.truncate(length);
            return Ok(reply);
        }
    }
}

#[cfg(test)]
mod tests;
