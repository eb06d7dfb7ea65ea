use std::net::{SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use super::*;
use crate::session_network::rtnetlink::Rtnetlink;
use crate::session_network::{in_namespace, new_namespace, SessionNetwork, BRIDGE};

// The attributes nft 1.0.6 sends for the rulesets of the module's doc
// (`strace -e sendmsg -xx nft -f …`), after each nfgenmsg.
const NFT_TABLE: &str = "0a00010074616e746f0000000800020000000000";
const NFT_CHAIN: &str = concat!(
    "0a00010074616e746f0000000800030070726500080007006e61740008000500000000011400048008000100",
    "0000000008000200ffffff9c",
);
const NFT_RULE_16: &str = concat!(
    "0a00010074616e746f00000008000200707265006001048024000180090001006d6574610000000014000280",
    "080002000000000608000100000000013800018008000100636d70002c000280080001000000000108000200",
    "00000000180003801400010074616e746f3000000000000000000000340001800c0001007061796c6f616400",
    "2400028008000100000000010800020000000001080003000000001008000400000000022c00018008000100",
    "636d700020000280080001000000000108000200000000010c000380060001000a5700002400018009000100",
    "6d6574610000000014000280080002000000001008000100000000012c00018008000100636d700020000280",
    "080001000000000108000200000000000c00038005000100060000002c0001800e000100696d6d6564696174",
    "650000001800028008000100000000010c000280060001003a990000240001800a0001007265646972000000",
    "1400028008000100000000010800030000000002",
);
/// For 10.87.16.0/20: a bitwise expression masks the loaded address.
const NFT_RULE_20: &str = concat!(
    "0a00010074616e746f0000000800020070726500a401048024000180090001006d6574610000000014000280",
    "080002000000000608000100000000013800018008000100636d70002c000280080001000000000108000200",
    "00000000180003801400010074616e746f3000000000000000000000340001800c0001007061796c6f616400",
    "240002800800010000000001080002000000000108000300000000100800040000000004440001800c000100",
    "6269747769736500340002800800010000000001080002000000000108000300000000040c00048008000100",
    "fffff0000c00058008000100000000002c00018008000100636d700020000280080001000000000108000200",
    "000000010c000380080001000a57100024000180090001006d65746100000000140002800800020000000010",
    "08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380",
    "05000100060000002c0001800e000100696d6d6564696174650000001800028008000100000000010c000280",
    "060001003a990000240001800a00010072656469720000001400028008000100000000010800030000000002",
);
const NFT_POST_CHAIN: &str = concat!(
    "0a00010074616e746f00000009000300706f737400000000080007006e617400080005000000000114000480",
    "08000100000000040800020000000064",
);
const NFT_MASQUERADE_16: &str = concat!(
    "0a00010074616e746f00000009000200706f737400000000d400048024000180090001006d65746100000000",
    "14000280080002000000000708000100000000013800018008000100636d70002c0002800800010000000001",
    "0800020000000000180003801400010074617030000000000000000000000000340001800c0001007061796c",
    "6f6164002400028008000100000000010800020000000001080003000000000c08000400000000022c000180",
    "08000100636d700020000280080001000000000108000200000000000c000380060001000a57000014000180",
    "090001006d6173710000000004000280",
);
/// For 10.87.16.0/20, masked as the redirect's address is.
const NFT_MASQUERADE_20: &str = concat!(
    "0a00010074616e746f00000009000200706f7374000000001801048024000180090001006d65746100000000",
    "14000280080002000000000708000100000000013800018008000100636d70002c0002800800010000000001",
    "0800020000000000180003801400010074617030000000000000000000000000340001800c0001007061796c",
    "6f6164002400028008000100000000010800020000000001080003000000000c080004000000000444000180",
    "0c0001006269747769736500340002800800010000000001080002000000000108000300000000040c000480",
    "08000100fffff0000c00058008000100000000002c00018008000100636d7000200002800800010000000001",
    "08000200000000000c000380080001000a57100014000180090001006d6173710000000004000280",
);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
#[cfg(target_endian = "little")]
fn the_messages_carry_what_nft_sends() {
    assert_eq!(hex(&table()), NFT_TABLE);
    assert_eq!(hex(&base_chain(&PRE)), NFT_CHAIN);
    let rule_16 = redirect("tanto0", Ipv4Addr::new(10, 87, 0, 0), 16, 15001);
    assert_eq!(hex(&rule_16), NFT_RULE_16);
    // The network's host bits are masked off, as nft does.
    let rule_20 = redirect("tanto0", Ipv4Addr::new(10, 87, 17, 1), 20, 15001);
    assert_eq!(hex(&rule_20), NFT_RULE_20);
}

#[test]
#[cfg(target_endian = "little")]
fn the_masquerade_carries_what_nft_sends() {
    assert_eq!(hex(&base_chain(&POST)), NFT_POST_CHAIN);
    let rule_16 = masquerade("tap0", Ipv4Addr::new(10, 87, 0, 0), 16);
    assert_eq!(hex(&rule_16), NFT_MASQUERADE_16);
    let rule_20 = masquerade("tap0", Ipv4Addr::new(10, 87, 17, 1), 20);
    assert_eq!(hex(&rule_20), NFT_MASQUERADE_20);
}

#[test]
fn the_batch_wraps_the_three_messages_and_asks_for_their_acks() {
    let batch = batch(
        &PRE,
        redirect("tanto0", Ipv4Addr::new(10, 87, 0, 0), 24, 15001),
    );
    let mut messages = Vec::new();
    let mut rest = &batch[..];
    while !rest.is_empty() {
        let message = NetlinkBuffer::new_checked(rest).unwrap();
        assert_eq!(message.length() % 4, 0);
        let acked = message.flags() & NLM_F_ACK != 0;
        let nfgenmsg = message.payload()[..4].to_vec();
        messages.push((
            message.sequence_number(),
            message.message_type(),
            acked,
            nfgenmsg,
        ));
        rest = &rest[message.length() as usize..];
    }
    let ipv4 = vec![2, 0, 0, 0];
    let nftables = vec![0, 0, 0, 10];
    assert_eq!(
        messages,
        [
            (0, 0x10, false, nftables.clone()),
            (1, 0xa00, true, ipv4.clone()),
            (2, 0xa03, true, ipv4.clone()),
            (3, 0xa06, true, ipv4),
            (4, 0x11, false, nftables),
        ]
    );
    // A /24 loads and compares three bytes of the address, unmasked.
    let text = hex(&batch);
    assert!(text.contains("0800040000000003") && text.contains("070001000a570000"));
    assert!(!text.contains(&hex(b"bitwise")));
}

#[test]
fn errors_say_which_message_failed_and_bad_input_is_refused() {
    let error = failed(&PRE, 2, -libc::EOPNOTSUPP).to_string();
    assert!(error.starts_with("cannot add the nat chain: Operation not supported"));
    assert!(
        error.ends_with("(is nf_tables with NAT in the kernel?)"),
        "{error}"
    );
    let error = failed(&PRE, 3, -libc::EPERM).to_string();
    assert!(error.starts_with("cannot add the redirect rule: Operation not permitted"));
    assert!(!error.contains("kernel?"), "{error}");
    let error = failed(&POST, 3, -libc::ENOENT).to_string();
    assert!(error.starts_with("cannot add the masquerade rule: No such file"));
    assert!(error.ends_with("(is nft_masq in the kernel?)"), "{error}");
    for (interface, prefix) in [("", 16), ("sixteen-bytes-xx", 16), ("b", 7), ("b", 31)] {
        let network = Ipv4Addr::new(10, 87, 0, 0);
        for refused in [
            redirect_outbound_tcp(interface, network, prefix, 1).unwrap_err(),
            masquerade_outbound(interface, network, prefix).unwrap_err(),
        ] {
            assert_eq!(
                refused.kind(),
                io::ErrorKind::InvalidInput,
                "{interface} /{prefix}"
            );
        }
    }
}

/// Skips a test, saying why, where there is no network namespace to be had.
#[allow(clippy::print_stderr)] // a skipped test says why
fn session_network() -> Option<SessionNetwork> {
    match SessionNetwork::create() {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            eprintln!("skipped: no network namespace of our own: {e}");
            None
        }
        network => Some(network.unwrap()),
    }
}

/// For real, in a session network: a step's connection to outside the
/// subnet reaches the relay port, which can tell where it was going;
/// one to inside the subnet goes where it was sent.
#[test]
fn tcp_for_outside_the_subnet_reaches_the_relay_port() {
    let Some(mut network) = session_network() else {
        return;
    };
    let subnet = network.subnet;
    let relay = in_namespace(network.namespace(), move || {
        redirect_outbound_tcp(BRIDGE, subnet.network, subnet.prefix, 15001)?;
        TcpListener::bind((Ipv4Addr::UNSPECIFIED, 15001))
    })
    .unwrap()
    .unwrap();
    let step = network.attach().unwrap();
    let connect = |to: SocketAddrV4| {
        in_namespace(step.netns.as_fd(), move || {
            TcpStream::connect_timeout(&to.into(), Duration::from_secs(2))
        })
        .unwrap()
    };
    let outside = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 443);
    let _step_end = connect(outside).unwrap();
    let (relayed, _) = relay.accept().unwrap();
    assert_eq!(original_destination(&relayed), outside);
    let inside = SocketAddrV4::new(subnet.gateway(), 443);
    let refused = connect(inside).unwrap_err();
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
}

fn original_destination(stream: &TcpStream) -> SocketAddrV4 {
    // SAFETY: all zeroes is a valid sockaddr_in.
    let mut address: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `address` and `length` outlive the call and match.
    let result = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_IP,
            libc::SO_ORIGINAL_DST,
            (&mut address as *mut libc::sockaddr_in).cast(),
            &mut length,
        )
    };
    assert_eq!(result, 0, "{}", io::Error::last_os_error());
    SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(address.sin_addr.s_addr)),
        u16::from_be(address.sin_port),
    )
}

/// For real, with the redirect in the table already: the session
/// namespace, forwarding, gets an uplink "tap0" to a namespace outside
/// (a bridge with a veth to it, as the bridge makes veths); a step's
/// datagram for outside arrives from the uplink's address.
#[test]
fn what_leaves_through_the_uplink_is_masqueraded() {
    let Some(mut network) = session_network() else {
        return;
    };
    let subnet = network.subnet;
    let (uplink, outside) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
    let world = new_namespace().unwrap();
    let world_fd = world.try_clone().unwrap();
    in_namespace(network.namespace(), move || -> io::Result<()> {
        redirect_outbound_tcp(BRIDGE, subnet.network, subnet.prefix, 15001)?;
        let mut netlink = Rtnetlink::open()?;
        netlink.add_bridge("tap0")?;
        let tap = netlink.index("tap0")?;
        netlink.add_address(tap, uplink, 24)?;
        netlink.set_up(tap)?;
        netlink.add_veth("tap0p", tap, "eth0", world_fd.as_fd())?;
        let port = netlink.index("tap0p")?;
        netlink.set_up(port)?;
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")?;
        masquerade_outbound("tap0", subnet.network, subnet.prefix)
    })
    .unwrap()
    .unwrap();
    let listener = in_namespace(world.as_fd(), move || -> io::Result<UdpSocket> {
        let mut netlink = Rtnetlink::open()?;
        let eth0 = netlink.index("eth0")?;
        netlink.add_address(eth0, outside, 24)?;
        netlink.set_up(eth0)?;
        UdpSocket::bind((outside, 5353))
    })
    .unwrap()
    .unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let step = network.attach().unwrap();
    in_namespace(step.netns.as_fd(), move || {
        UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?.send_to(b"out", (outside, 5353))
    })
    .unwrap()
    .unwrap();
    let mut buffer = [0u8; 16];
    let (received, from) = listener.recv_from(&mut buffer).unwrap();
    assert_eq!(&buffer[..received], b"out");
    assert_eq!(from.ip(), uplink);
}
