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
mod subnet;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
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
    /// The host part of the next address handed out.
    next_host: u32,
}

/// A network namespace on the session network, and its address.
pub struct Attachment {
    pub netns: OwnedFd,
    pub address: Ipv4Addr,
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
        Ok(SessionNetwork {
            subnet,
            netns,
            netlink,
            bridge,
            next_host: u32::from(subnet.gateway()) + 1,
        })
    }

    /// A fresh network namespace wired to the bridge: `eth0` with the next
    /// address, loopback, a default route through the gateway.
    pub fn attach(&mut self) -> io::Result<Attachment> {
        let address = Ipv4Addr::from(self.next_host);
        // The last address is the subnet's broadcast.
        if !self.subnet.contains(Ipv4Addr::from(self.next_host + 1)) {
            return Err(io::Error::other(format!(
                "the session network {} has no address left",
                self.subnet
            )));
        }
        self.next_host += 1;
        let netns = new_namespace().map_err(context("create a network namespace"))?;
        let host_end = format!("veth{}", u32::from(address) & 0xffff);
        self.netlink
            .add_veth(&host_end, self.bridge, "eth0", netns.as_fd())
            .map_err(context("create a veth pair"))?;
        let index = self.netlink.index(&host_end)?;
        self.netlink
            .set_up(index)
            .map_err(context("bring up the bridge's end of a veth pair"))?;
        let mut inside = in_namespace(netns.as_fd(), Rtnetlink::open)?
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
        Ok(Attachment { netns, address })
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
        open_own_namespace()
    })?
}

fn open_own_namespace() -> io::Result<OwnedFd> {
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
        // SAFETY: setns affects only this throwaway thread.
        if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(work())
    })?
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
