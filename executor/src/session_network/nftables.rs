//! The session network's built-in uplink: TCP that leaves the bridge for an
//! address outside the subnet is redirected to tanto's relay listener in
//! the session namespace, which reads where it was going
//! (`SO_ORIGINAL_DST`) and dials that from the host's network namespace.
//! So steps reach the outside world with neither a route out of the
//! session namespace nor a privileged helper on the host.
//!
//! One nf_tables rule does it, the equivalent of
//!
//! ```text
//! table ip tanto {
//!   chain pre {
//!     type nat hook prerouting priority dstnat; policy accept;
//!     iifname "tanto0" ip daddr != 10.87.0.0/16 meta l4proto tcp redirect to :15001
//!   }
//! }
//! ```
//!
//! No crate here speaks nf_tables netlink (those that do wrap libnftnl,
//! which is GPL), and running `nft` would add a binary to depend on, so the
//! three messages are built by hand: attribute for attribute what `nft`
//! 1.0 sends, so that `nft list ruleset` in the namespace prints the ruleset
//! above. The tests hold nft's own bytes.

use std::io;
use std::net::Ipv4Addr;

use libc::{
    c_int, NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NFNL_SUBSYS_NFTABLES, NFPROTO_IPV4,
    NFT_CMP_EQ, NFT_CMP_NEQ, NFT_META_IIFNAME, NFT_META_L4PROTO, NFT_MSG_NEWCHAIN, NFT_MSG_NEWRULE,
    NFT_MSG_NEWTABLE, NFT_PAYLOAD_NETWORK_HEADER, NFT_REG_1, NF_ACCEPT, NF_INET_PRE_ROUTING,
    NF_IP_PRI_NAT_DST,
};
use netlink_packet_core::{
    ErrorBuffer, NetlinkBuffer, NLA_F_NESTED, NLMSG_ERROR, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE,
    NLM_F_REQUEST,
};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket};

use super::context;

const TABLE: &str = "tanto";
const CHAIN: &str = "pre";

/// How the table, chain and rule are sent: each acknowledged, so that an
/// error can say which failed.
const REQUEST: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE;
/// The destination address's offset in the IPv4 header.
const IPV4_DADDR: c_int = 16;
/// `redirect to :port` sets the port, not only the address.
const NF_NAT_RANGE_PROTO_SPECIFIED: c_int = 2;
/// The kernel's interface names, with the NUL: `iifname` compares all of it.
const IFNAMSIZ: usize = 16;

// Attribute numbers of <linux/netfilter/nf_tables.h>, which libc lacks.
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_FLAGS: u16 = 2;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
const NFTA_PAYLOAD_DREG: u16 = 1;
const NFTA_PAYLOAD_BASE: u16 = 2;
const NFTA_PAYLOAD_OFFSET: u16 = 3;
const NFTA_PAYLOAD_LEN: u16 = 4;
const NFTA_BITWISE_SREG: u16 = 1;
const NFTA_BITWISE_DREG: u16 = 2;
const NFTA_BITWISE_LEN: u16 = 3;
const NFTA_BITWISE_MASK: u16 = 4;
const NFTA_BITWISE_XOR: u16 = 5;
const NFTA_IMMEDIATE_DREG: u16 = 1;
const NFTA_IMMEDIATE_DATA: u16 = 2;
const NFTA_REDIR_REG_PROTO_MIN: u16 = 1;
const NFTA_REDIR_FLAGS: u16 = 3;

/// The batch's messages by sequence number, for errors: what failed, and
/// the likely reason when the kernel lacks something.
const STEPS: [(&str, &str); 4] = [
    ("begin an nf_tables batch", "is nf_tables in the kernel?"),
    ("add the nf_tables table", "is nf_tables in the kernel?"),
    ("add the nat chain", "is nf_tables with NAT in the kernel?"),
    ("add the redirect rule", "is nft_redir in the kernel?"),
];

/// Installs the rule above in the calling thread's network namespace: TCP
/// arriving on `bridge` for outside `network`/`prefix` goes to local
/// `port`. The namespace should be fresh: a second call adds a second rule.
pub(crate) fn redirect_outbound_tcp(
    bridge: &str,
    network: Ipv4Addr,
    prefix: u8,
    port: u16,
) -> io::Result<()> {
    let batch = batch(bridge, network, prefix, port)?;
    let mut socket =
        Socket::new(NETLINK_NETFILTER).map_err(context("open a netfilter netlink socket"))?;
    socket
        .bind_auto()
        .map_err(context("bind a netfilter netlink socket"))?;
    socket
        .send(&batch, 0)
        .map_err(context("send the nf_tables batch"))?;
    read_answers(&socket)
}

/// Waits for the acknowledgement of each of the table, chain and rule.
/// A failure aborts the whole batch, but the kernel still answers every
/// message; the first error is the one that explains.
fn read_answers(socket: &Socket) -> io::Result<()> {
    let invalid = |e: netlink_packet_core::DecodeError| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("nf_tables answered: {e}"),
        )
    };
    let mut unanswered = STEPS.len() - 1;
    let mut failure = None;
    let mut buffer = vec![0u8; 64 << 10];
    while unanswered > 0 {
        // The kernel handles a netlink request within sendmsg, so every
        // answer is queued by now: a missing one is an error, not a wait.
        let received = socket
            .recv(&mut &mut buffer[..], libc::MSG_DONTWAIT)
            .map_err(|e| match e.kind() {
                io::ErrorKind::WouldBlock => {
                    io::Error::other("nf_tables left the batch unanswered")
                }
                _ => e,
            })?;
        let mut answers = &buffer[..received];
        while !answers.is_empty() {
            let answer = NetlinkBuffer::new_checked(answers).map_err(invalid)?;
            answers = &answers[aligned(answer.length() as usize).min(answers.len())..];
            if answer.message_type() != NLMSG_ERROR {
                continue;
            }
            let seq = answer.sequence_number();
            // Only a batch that could not start is answered for its beginning.
            unanswered = if seq == 0 {
                0
            } else {
                unanswered.saturating_sub(1)
            };
            let code = ErrorBuffer::new_checked(answer.payload())
                .map_err(invalid)?
                .code();
            if let (Some(code), None) = (code, &failure) {
                failure = Some(failed(seq, code.get()));
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

fn failed(seq: u32, code: i32) -> io::Error {
    let (what, hint) = STEPS
        .get(seq as usize)
        .copied()
        .unwrap_or(("apply the nf_tables batch", ""));
    let error = io::Error::from_raw_os_error(-code);
    // The kernel says ENOENT or EOPNOTSUPP for a table type, chain type or
    // expression it has no module for.
    let hint = match -code {
        libc::ENOENT | libc::EOPNOTSUPP if !hint.is_empty() => format!(" ({hint})"),
        _ => String::new(),
    };
    io::Error::new(error.kind(), format!("cannot {what}: {error}{hint}"))
}

/// The whole transaction: the kernel applies all of it or nothing.
fn batch(bridge: &str, network: Ipv4Addr, prefix: u8, port: u16) -> io::Result<Vec<u8>> {
    if bridge.is_empty() || bridge.len() >= IFNAMSIZ || bridge.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{bridge:?} is not an interface name"),
        ));
    }
    if !(8..=30).contains(&prefix) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the prefix /{prefix} is not from 8 to 30"),
        ));
    }
    // The batch's own messages name the subsystem it is for in their
    // resource id; the sequence number is the index, as in STEPS.
    let control = |kind| (kind, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES, vec![]);
    let nft = |kind, flags, attributes| {
        let (kind, flags) = ((NFNL_SUBSYS_NFTABLES << 8) | kind, REQUEST | flags);
        (kind, flags, NFPROTO_IPV4, 0, attributes)
    };
    let rule = rule(bridge, network, prefix, port);
    let messages = [
        control(NFNL_MSG_BATCH_BEGIN),
        nft(NFT_MSG_NEWTABLE, 0, table()),
        nft(NFT_MSG_NEWCHAIN, 0, chain()),
        nft(NFT_MSG_NEWRULE, NLM_F_APPEND, rule),
        control(NFNL_MSG_BATCH_END),
    ];
    let mut batch = Vec::new();
    for (seq, (kind, flags, family, res_id, attributes)) in (0..).zip(messages) {
        // nlmsghdr (length, type, flags, sequence number, port id), then
        // nfgenmsg (family, version 0, resource id in network order).
        let length = (16 + 4 + attributes.len()) as u32;
        batch.extend_from_slice(&length.to_ne_bytes());
        batch.extend_from_slice(&(kind as u16).to_ne_bytes());
        batch.extend_from_slice(&flags.to_ne_bytes());
        batch.extend_from_slice(&u32::to_ne_bytes(seq));
        batch.extend_from_slice(&0u32.to_ne_bytes());
        batch.extend_from_slice(&[family as u8, 0]);
        batch.extend_from_slice(&(res_id as u16).to_be_bytes());
        batch.extend_from_slice(&attributes);
    }
    Ok(batch)
}

fn table() -> Vec<u8> {
    let mut table = Attributes::default();
    table
        .string(NFTA_TABLE_NAME, TABLE)
        .be32(NFTA_TABLE_FLAGS, 0);
    table.0
}

fn chain() -> Vec<u8> {
    let mut chain = Attributes::default();
    chain
        .string(NFTA_CHAIN_TABLE, TABLE)
        .string(NFTA_CHAIN_NAME, CHAIN)
        .string(NFTA_CHAIN_TYPE, "nat")
        .be32(NFTA_CHAIN_POLICY, NF_ACCEPT)
        .nest(NFTA_CHAIN_HOOK, |hook| {
            hook.be32(NFTA_HOOK_HOOKNUM, NF_INET_PRE_ROUTING)
                .be32(NFTA_HOOK_PRIORITY, NF_IP_PRI_NAT_DST);
        });
    chain.0
}

fn rule(bridge: &str, network: Ipv4Addr, prefix: u8, port: u16) -> Vec<u8> {
    let mut name = [0u8; IFNAMSIZ];
    name[..bridge.len()].copy_from_slice(bridge.as_bytes());
    let mask = u32::MAX << (32 - u32::from(prefix));
    let network = (u32::from(network) & mask).to_be_bytes();
    // A whole number of bytes is compared as is; otherwise nft loads the
    // whole address and masks it first.
    let length = if prefix.is_multiple_of(8) {
        prefix / 8
    } else {
        4
    };
    let mut rule = Attributes::default();
    rule.string(NFTA_RULE_TABLE, TABLE)
        .string(NFTA_RULE_CHAIN, CHAIN)
        .nest(NFTA_RULE_EXPRESSIONS, |list| {
            list.expression("meta", |e| {
                e.be32(NFTA_META_KEY, NFT_META_IIFNAME)
                    .be32(NFTA_META_DREG, NFT_REG_1);
            })
            .cmp(NFT_CMP_EQ, &name)
            .expression("payload", |e| {
                e.be32(NFTA_PAYLOAD_DREG, NFT_REG_1)
                    .be32(NFTA_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER)
                    .be32(NFTA_PAYLOAD_OFFSET, IPV4_DADDR)
                    .be32(NFTA_PAYLOAD_LEN, c_int::from(length));
            });
            if !prefix.is_multiple_of(8) {
                list.expression("bitwise", |e| {
                    e.be32(NFTA_BITWISE_SREG, NFT_REG_1)
                        .be32(NFTA_BITWISE_DREG, NFT_REG_1)
                        .be32(NFTA_BITWISE_LEN, 4)
                        .data(NFTA_BITWISE_MASK, &mask.to_be_bytes())
                        .data(NFTA_BITWISE_XOR, &[0; 4]);
                });
            }
            list.cmp(NFT_CMP_NEQ, &network[..usize::from(length)])
                .expression("meta", |e| {
                    e.be32(NFTA_META_KEY, NFT_META_L4PROTO)
                        .be32(NFTA_META_DREG, NFT_REG_1);
                })
                .cmp(NFT_CMP_EQ, &[libc::IPPROTO_TCP as u8])
                .expression("immediate", |e| {
                    e.be32(NFTA_IMMEDIATE_DREG, NFT_REG_1)
                        .data(NFTA_IMMEDIATE_DATA, &port.to_be_bytes());
                })
                .expression("redir", |e| {
                    e.be32(NFTA_REDIR_REG_PROTO_MIN, NFT_REG_1)
                        .be32(NFTA_REDIR_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
                });
        });
    rule.0
}

/// Netlink attributes: a header (length, type) in host order, the value,
/// padding to 4 bytes. nf_tables' own numbers are big-endian: libc's
/// `c_int` constants go in as they are.
#[derive(Default)]
struct Attributes(Vec<u8>);

impl Attributes {
    fn bytes(&mut self, kind: u16, value: &[u8]) -> &mut Self {
        self.header(kind, 4 + value.len());
        self.0.extend_from_slice(value);
        self.0.resize(aligned(self.0.len()), 0);
        self
    }

    fn be32(&mut self, kind: u16, value: c_int) -> &mut Self {
        self.bytes(kind, &value.to_be_bytes())
    }

    fn string(&mut self, kind: u16, value: &str) -> &mut Self {
        self.bytes(kind, &[value.as_bytes(), &[0]].concat())
    }

    /// An attribute of attributes; its length is known once they are in.
    fn nest(&mut self, kind: u16, build: impl FnOnce(&mut Self)) -> &mut Self {
        let start = self.0.len();
        self.header(NLA_F_NESTED | kind, 0);
        build(self);
        let length = (self.0.len() - start) as u16;
        self.0[start..start + 2].copy_from_slice(&length.to_ne_bytes());
        self
    }

    /// An nft_data value, which nf_tables wants nested.
    fn data(&mut self, kind: u16, value: &[u8]) -> &mut Self {
        self.nest(kind, |data| {
            data.bytes(NFTA_DATA_VALUE, value);
        })
    }

    fn expression(&mut self, name: &str, build: impl FnOnce(&mut Self)) -> &mut Self {
        self.nest(NFTA_LIST_ELEM, |element| {
            element
                .string(NFTA_EXPR_NAME, name)
                .nest(NFTA_EXPR_DATA, build);
        })
    }

    /// Compares register 1 with `value`.
    fn cmp(&mut self, op: c_int, value: &[u8]) -> &mut Self {
        self.expression("cmp", |e| {
            e.be32(NFTA_CMP_SREG, NFT_REG_1)
                .be32(NFTA_CMP_OP, op)
                .data(NFTA_CMP_DATA, value);
        })
    }

    fn header(&mut self, kind: u16, length: usize) {
        self.0.extend_from_slice(&(length as u16).to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
    }
}

fn aligned(length: usize) -> usize {
    (length + 3) & !3
}

#[cfg(test)]
mod tests {
    use std::net::{SocketAddrV4, TcpListener, TcpStream};
    use std::os::fd::{AsFd, AsRawFd};
    use std::time::Duration;

    use super::*;
    use crate::session_network::{in_namespace, SessionNetwork, BRIDGE};

    // The attributes nft 1.0.6 sends for the ruleset of the module's doc
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

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn the_messages_carry_what_nft_sends() {
        assert_eq!(hex(&table()), NFT_TABLE);
        assert_eq!(hex(&chain()), NFT_CHAIN);
        let rule_16 = rule("tanto0", Ipv4Addr::new(10, 87, 0, 0), 16, 15001);
        assert_eq!(hex(&rule_16), NFT_RULE_16);
        // The network's host bits are masked off, as nft does.
        let rule_20 = rule("tanto0", Ipv4Addr::new(10, 87, 17, 1), 20, 15001);
        assert_eq!(hex(&rule_20), NFT_RULE_20);
    }

    #[test]
    fn the_batch_wraps_the_three_messages_and_asks_for_their_acks() {
        let batch = batch("tanto0", Ipv4Addr::new(10, 87, 0, 0), 24, 15001).unwrap();
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
        let error = failed(2, -libc::EOPNOTSUPP).to_string();
        assert!(error.starts_with("cannot add the nat chain: Operation not supported"));
        assert!(
            error.ends_with("(is nf_tables with NAT in the kernel?)"),
            "{error}"
        );
        let error = failed(3, -libc::EPERM).to_string();
        assert!(error.starts_with("cannot add the redirect rule: Operation not permitted"));
        assert!(!error.contains("kernel?"), "{error}");
        for (bridge, prefix) in [("", 16), ("sixteen-bytes-xx", 16), ("b", 7), ("b", 31)] {
            let refused = batch(bridge, Ipv4Addr::new(10, 87, 0, 0), prefix, 1).unwrap_err();
            assert_eq!(
                refused.kind(),
                io::ErrorKind::InvalidInput,
                "{bridge} /{prefix}"
            );
        }
    }

    /// For real, in a session network: a step's connection to outside the
    /// subnet reaches the relay port, which can tell where it was going;
    /// one to inside the subnet goes where it was sent.
    #[test]
    #[allow(clippy::print_stderr)] // a skipped test says why
    fn tcp_for_outside_the_subnet_reaches_the_relay_port() {
        let mut network = match SessionNetwork::create() {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                eprintln!("skipped: no network namespace of our own: {e}");
                return;
            }
            network => network.unwrap(),
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
}
