//! The session network (services, issue 18; see `services.md` in the
//! shared notes): a network namespace of tanto's own holding a bridge,
//! and one network namespace per service or binding step, joined to the
//! bridge by a veth pair, with an address and a default route through the
//! bridge. tanto is root of the user namespace that owns all of them, so
//! none of this needs a privilege or a helper binary.
//!
//! A thread that enters a network namespace can never go back to the
//! host's (EPERM), so namespaces are made, and their sockets opened, on
//! throwaway threads ([`in_namespace`]); a socket keeps the namespace it
//! was made in whichever thread uses it, and an fd of the namespace keeps
//! it alive. Nothing is written to disk: everything goes with the process.
//!
//! The engine builds one per session when a service first starts (its
//! `services` module); a step joins a namespace of it by path
//! (`ExecRequest::network_namespace`); `tanto doctor` builds one to see
//! that it can ([`probe`]).

mod nftables;
mod rtnetlink;
pub mod slirp;
mod subnet;

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtnetlink::Rtnetlink;
pub use subnet::{Subnet, CIDR_ENV};

/// The bridge in the session namespace; its address is the subnet's first.
const BRIDGE: &str = "tanto0";

/// A session network: its namespace, a netlink socket there, the bridge.
pub struct SessionNetwork {
    pub subnet: Subnet,
    netns: OwnedFd,
    netlink: Rtnetlink,
    bridge: u32,
    addresses: Arc<Mutex<Addresses>>,
    /// Names veth pairs: a namespace's end may outlive it for a moment
    /// (the kernel frees namespaces asynchronously), so names are never
    /// reused even when addresses are.
    veths: u32,
}

/// The subnet's addresses: each handed out once in order, then those
/// given back, oldest first, so an address is reused as late as can be
/// (neighbours' ARP caches forget the old owner meanwhile).
struct Addresses {
    next: u32,
    /// The subnet's broadcast address: never handed out.
    end: u32,
    returned: VecDeque<u32>,
}

impl Addresses {
    fn take(&mut self) -> Option<u32> {
        if self.next < self.end {
            self.next += 1;
            return Some(self.next - 1);
        }
        self.returned.pop_front()
    }
}

/// A network namespace on the session network, and its address, which
/// goes back to the network when this is dropped.
pub struct Attachment {
    pub netns: OwnedFd,
    pub address: Ipv4Addr,
    addresses: Option<Arc<Mutex<Addresses>>>,
}

impl Attachment {
    /// A namespace and an address no session network handed out (tests).
    pub fn unmanaged(netns: OwnedFd, address: Ipv4Addr) -> Attachment {
        Attachment {
            netns,
            address,
            addresses: None,
        }
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        if let Some(addresses) = &self.addresses {
            let mut addresses = addresses.lock().unwrap_or_else(|e| e.into_inner());
            addresses.returned.push_back(u32::from(self.address));
        }
    }
}

impl SessionNetwork {
    /// A new session namespace with the bridge up at the gateway address,
    /// on the subnet `subnet::choose` picks.
    pub fn create() -> io::Result<SessionNetwork> {
        let subnet = subnet::choose()?;
        let netns = new_namespace().map_err(context("create the session network namespace"))?;
        let mut netlink = in_namespace(netns.as_fd(), Rtnetlink::open)?
            .map_err(context("open netlink in the session namespace"))?;
        let lo = netlink.index("lo")?;
        netlink.set_up(lo).map_err(context("bring up loopback"))?;
        netlink
            .add_bridge(BRIDGE)
            .map_err(context("create the bridge"))?;
        let bridge = netlink.index(BRIDGE)?;
        netlink
            .add_address(bridge, subnet.gateway(), subnet.prefix)
            .map_err(context("address the bridge"))?;
        netlink
            .set_up(bridge)
            .map_err(context("bring up the bridge"))?;
        let broadcast = u32::from(subnet.network) | !Subnet::mask(subnet.prefix);
        Ok(SessionNetwork {
            subnet,
            netns,
            netlink,
            bridge,
            addresses: Arc::new(Mutex::new(Addresses {
                next: u32::from(subnet.gateway()) + 1,
                end: broadcast,
                returned: VecDeque::new(),
            })),
            veths: 0,
        })
    }

    /// A fresh network namespace wired to the bridge: `eth0` with the next
    /// address, loopback, a default route through the gateway.
    pub fn attach(&mut self) -> io::Result<Attachment> {
        let taken = self
            .addresses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let address = Ipv4Addr::from(taken.ok_or_else(|| {
            io::Error::other(format!(
                "the session network {} has no address left: every one is in use by a service or a step bound to one",
                self.subnet
            ))
        })?);
        // Given back if anything below fails.
        let attachment = Attachment {
            netns: new_namespace().map_err(context("create a network namespace"))?,
            address,
            addresses: Some(Arc::clone(&self.addresses)),
        };
        self.veths += 1;
        let host_end = format!("vt{}", self.veths);
        self.netlink
            .add_veth(&host_end, self.bridge, "eth0", attachment.netns.as_fd())
            .map_err(context("create a veth pair"))?;
        let index = self.netlink.index(&host_end)?;
        self.netlink
            .set_up(index)
            .map_err(context("bring up the bridge's end of a veth pair"))?;
        let mut inside = in_namespace(attachment.netns.as_fd(), Rtnetlink::open)?
            .map_err(context("open netlink in a step's namespace"))?;
        let wire = |inside: &mut Rtnetlink| -> io::Result<()> {
            let lo = inside.index("lo")?;
            inside.set_up(lo)?;
            let eth0 = inside.index("eth0")?;
            inside.add_address(eth0, address, self.subnet.prefix)?;
            inside.set_up(eth0)?;
            inside.add_default_route(self.subnet.gateway())
        };
        wire(&mut inside).map_err(context("address a step's namespace"))?;
        Ok(attachment)
    }

    /// Sends TCP from the session network to anywhere outside it to
    /// `port` on the gateway, where tanto's relay listens (the built-in
    /// uplink: the session namespace has no route out of its own).
    pub fn redirect_outbound_tcp(&self, port: u16) -> io::Result<()> {
        let subnet = self.subnet;
        in_namespace(self.netns.as_fd(), move || {
            nftables::redirect_outbound_tcp(BRIDGE, subnet.network, subnet.prefix, port)
        })?
        .map_err(context("redirect outbound TCP to the relay"))
    }

    /// Gives the session namespace slirp4netns's way out instead of the
    /// relay's (`slirp`): what the session sends out is masqueraded
    /// through its tap device.
    pub fn start_slirp(&self) -> io::Result<slirp::Slirp> {
        let path = format!("/proc/{}/fd/{}", std::process::id(), self.netns.as_raw_fd());
        let running = slirp::start(std::path::Path::new(&path))?;
        let subnet = self.subnet;
        in_namespace(self.netns.as_fd(), move || {
            std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
                .map_err(context("turn on forwarding in the session namespace"))?;
            nftables::masquerade_outbound(slirp::TAP, subnet.network, subnet.prefix).map_err(
                context("masquerade the session network through slirp4netns"),
            )
        })??;
        Ok(running)
    }

    /// The session namespace, to open sockets in (relays, health checks).
    pub fn namespace(&self) -> BorrowedFd<'_> {
        self.netns.as_fd()
    }
}

/// Builds a session network with two namespaces on it, connects one to
/// a listener in the other across the bridge, then to an address outside
/// through the built-in uplink's redirect: what services need. The subnet
/// and the time one namespace took to wire, on success.
pub fn probe() -> io::Result<(Subnet, Duration)> {
    let mut network = SessionNetwork::create()?;
    let server = network.attach()?;
    let started = Instant::now();
    let client = network.attach()?;
    let wired = started.elapsed();
    let listener = in_namespace(server.netns.as_fd(), move || {
        TcpListener::bind((server.address, 0))
    })?
    .map_err(context("listen in a namespace"))?;
    let target: SocketAddr = listener.local_addr()?;
    let connected = in_namespace(client.netns.as_fd(), move || {
        TcpStream::connect_timeout(&target, Duration::from_secs(2))
    })?
    .map_err(context("connect across the bridge"))?;
    let (_, from) = listener.accept()?;
    if from.ip() != std::net::IpAddr::V4(client.address) {
        return Err(io::Error::other(format!(
            "a connection from {} arrived as from {from}",
            client.address
        )));
    }
    drop(connected);

    let gateway = network.subnet.gateway();
    let relay = in_namespace(network.namespace(), move || TcpListener::bind((gateway, 0)))?
        .map_err(context("listen on the gateway"))?;
    network.redirect_outbound_tcp(relay.local_addr()?.port())?;
    // TEST-NET-1: never routed anywhere, so only the redirect can answer.
    let outside = SocketAddr::from(([192, 0, 2, 1], 9));
    in_namespace(client.netns.as_fd(), move || {
        TcpStream::connect_timeout(&outside, Duration::from_secs(2))
    })?
    .map_err(context(
        "reach the relay through the redirect (nf_tables NAT)",
    ))?;
    Ok((network.subnet, wired))
}

/// A new network namespace, kept alive by the returned fd.
fn new_namespace() -> io::Result<OwnedFd> {
    run_on_thread(|| {
        // SAFETY: unshare affects only this throwaway thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        own_namespace()
    })?
}

/// The calling thread's network namespace, held by the returned fd.
pub fn own_namespace() -> io::Result<OwnedFd> {
    // SAFETY: a constant, NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c"/proc/thread-self/ns/net".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Runs `work` on a throwaway thread inside the network namespace `netns`.
pub fn in_namespace<T: Send + 'static>(
    netns: BorrowedFd,
    work: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let fd = netns.try_clone_to_owned()?;
    run_on_thread(move || {
        // Joining the namespace one is in already needs a privilege over
        // it (the host's, when services share it): nothing to join then.
        if !is_own_namespace(fd.as_fd())?
            // SAFETY: setns affects only this throwaway thread.
            && unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(work())
    })?
}

/// Whether `netns` is the calling thread's network namespace.
fn is_own_namespace(netns: BorrowedFd) -> io::Result<bool> {
    let theirs = nix::sys::stat::fstat(netns.as_raw_fd())?;
    let own = nix::sys::stat::stat("/proc/thread-self/ns/net")?;
    Ok((theirs.st_dev, theirs.st_ino) == (own.st_dev, own.st_ino))
}

fn run_on_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    std::thread::Builder::new()
        .name("tanto-netns".into())
        .spawn(work)?
        .join()
        .map_err(|_| io::Error::other("a network namespace thread panicked"))
}

/// Says which step failed, keeping the kernel's reason.
fn context(what: &'static str) -> impl Fn(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("cannot {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_handed_out_in_order_then_reused_oldest_first() {
        // 10.0.0.0/29: .1 is the gateway, .7 the broadcast.
        let mut addresses = Addresses {
            next: 2,
            end: 7,
            returned: VecDeque::new(),
        };
        let taken: Vec<u32> = std::iter::from_fn(|| addresses.take()).collect();
        assert_eq!(taken, [2, 3, 4, 5, 6]);
        addresses.returned.extend([4, 2]);
        assert_eq!(addresses.take(), Some(4));
        assert_eq!(addresses.take(), Some(2));
        assert_eq!(addresses.take(), None);
    }

    #[test]
    fn a_dropped_attachment_gives_its_address_back() {
        let addresses = Arc::new(Mutex::new(Addresses {
            next: 7,
            end: 7,
            returned: VecDeque::new(),
        }));
        let netns = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        drop(Attachment {
            netns,
            address: Ipv4Addr::new(10, 0, 0, 3),
            addresses: Some(Arc::clone(&addresses)),
        });
        assert_eq!(addresses.lock().unwrap().take(), Some(0x0a00_0003));
    }
}
