//! The session network's ways out, each one nf_tables rule in the session
//! namespace.
//!
//! The built-in uplink: TCP that leaves the bridge for an address outside
//! the subnet is redirected to tanto's relay listener in the session
//! namespace, which reads where it was going (`SO_ORIGINAL_DST`) and dials
//! that from the host's network namespace. So steps reach the outside
//! world with neither a route out of the session namespace nor a
//! privileged helper on the host:
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
//! The opt-in slirp4netns uplink routes out of its tap device instead;
//! what the subnet sends there is masqueraded to the tap's address, to
//! which slirp4netns answers:
//!
//! ```text
//! table ip tanto {
//!   chain post {
//!     type nat hook postrouting priority srcnat; policy accept;
//!     oifname "tap0" ip saddr 10.87.0.0/16 masquerade
//!   }
//! }
//! ```
//!
//! No crate here speaks nf_tables netlink (those that do wrap libnftnl,
//! which is GPL), and running `nft` would add a binary to depend on, so the
//! three messages of each (table, chain, rule) are built by hand: attribute
//! for attribute what `nft` 1.0 sends, so that `nft list ruleset` in the
//! namespace prints the rulesets above. The tests hold nft's own bytes.

use std::io;
use std::net::Ipv4Addr;

use libc::{
    c_int, NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NFNL_SUBSYS_NFTABLES, NFPROTO_IPV4,
    NFT_CMP_EQ, NFT_CMP_NEQ, NFT_META_IIFNAME, NFT_META_L4PROTO, NFT_META_OIFNAME,
    NFT_MSG_NEWCHAIN, NFT_MSG_NEWRULE, NFT_MSG_NEWTABLE, NFT_PAYLOAD_NETWORK_HEADER, NFT_REG_1,
    NF_ACCEPT, NF_INET_POST_ROUTING, NF_INET_PRE_ROUTING, NF_IP_PRI_NAT_DST, NF_IP_PRI_NAT_SRC,
};
use netlink_packet_core::{
    ErrorBuffer, NetlinkBuffer, NLA_F_NESTED, NLMSG_ERROR, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE,
    NLM_F_REQUEST,
};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket};

use super::context;

const TABLE: &str = "tanto";

/// How the table, chain and rule are sent: each acknowledged, so that an
/// error can say which failed. Without NLM_F_EXCL, a table or chain that
/// exists already is taken as it is.
const REQUEST: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE;
/// The source and destination addresses' offsets in the IPv4 header.
const IPV4_SADDR: c_int = 12;
const IPV4_DADDR: c_int = 16;
/// `redirect to :port` sets the port, not only the address.
const NF_NAT_RANGE_PROTO_SPECIFIED: c_int = 2;
/// The kernel's interface names, with the NUL: `iifname` and `oifname`
/// compare all of it.
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

/// A base chain of the table, and what adding its rule is called in
/// errors, with the likely reason when the kernel lacks the expression.
struct Chain {
    name: &'static str,
    hook: c_int,
    priority: c_int,
    rule: (&'static str, &'static str),
}

/// The redirect's chain: destination NAT, before routing.
const PRE: Chain = Chain {
    name: "pre",
    hook: NF_INET_PRE_ROUTING,
    priority: NF_IP_PRI_NAT_DST,
    rule: ("add the redirect rule", "is nft_redir in the kernel?"),
};

/// The masquerade's chain: source NAT, once the way out is known.
const POST: Chain = Chain {
    name: "post",
    hook: NF_INET_POST_ROUTING,
    priority: NF_IP_PRI_NAT_SRC,
    rule: ("add the masquerade rule", "is nft_masq in the kernel?"),
};

/// The batch's messages before the rule by sequence number, for errors:
/// what failed, and the likely reason when the kernel lacks something.
const STEPS: [(&str, &str); 3] = [
    ("begin an nf_tables batch", "is nf_tables in the kernel?"),
    ("add the nf_tables table", "is nf_tables in the kernel?"),
    ("add the nat chain", "is nf_tables with NAT in the kernel?"),
];

/// Installs the first rule above in the calling thread's network
/// namespace: TCP arriving on `bridge` for outside `network`/`prefix` goes
/// to local `port`. The namespace should be fresh: a second call adds a
/// second rule.
pub(crate) fn redirect_outbound_tcp(
    bridge: &str,
    network: Ipv4Addr,
    prefix: u8,
    port: u16,
) -> io::Result<()> {
    check(bridge, prefix)?;
    install(&PRE, redirect(bridge, network, prefix, port))
}

/// Masquerades what the session network sends out of `uplink` (the
/// opt-in slirp4netns uplink's tap device): the second rule above, from
/// `network`/`prefix`, in the calling thread's network namespace. The
/// table may hold the redirect already; a second call adds a second rule.
pub(crate) fn masquerade_outbound(uplink: &str, network: Ipv4Addr, prefix: u8) -> io::Result<()> {
    check(uplink, prefix)?;
    install(&POST, masquerade(uplink, network, prefix))
}

/// Refuses what the rules cannot say: an interface name the kernel would
/// not have, or a subnet that is not one tanto would choose.
fn check(interface: &str, prefix: u8) -> io::Result<()> {
    if interface.is_empty() || interface.len() >= IFNAMSIZ || interface.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{interface:?} is not an interface name"),
        ));
    }
    if !(8..=30).contains(&prefix) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the prefix /{prefix} is not from 8 to 30"),
        ));
    }
    Ok(())
}

/// Sends the table, `chain` and `rule` (its attributes) in one batch.
fn install(chain: &Chain, rule: Vec<u8>) -> io::Result<()> {
    let batch = batch(chain, rule);
    let mut socket =
        Socket::new(NETLINK_NETFILTER).map_err(context("open a netfilter netlink socket"))?;
    socket
        .bind_auto()
        .map_err(context("bind a netfilter netlink socket"))?;
    socket
        .send(&batch, 0)
        .map_err(context("send the nf_tables batch"))?;
    read_answers(&socket, chain)
}

/// Waits for the acknowledgement of each of the table, chain and rule.
/// A failure aborts the whole batch, but the kernel still answers every
/// message; the first error is the one that explains.
fn read_answers(socket: &Socket, chain: &Chain) -> io::Result<()> {
    let invalid = |e: netlink_packet_core::DecodeError| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("nf_tables answered: {e}"),
        )
    };
    // Every message but the batch's beginning: STEPS's others and the rule.
    let mut unanswered = STEPS.len();
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
                failure = Some(failed(chain, seq, code.get()));
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

fn failed(chain: &Chain, seq: u32, code: i32) -> io::Error {
    let (what, hint) = STEPS
        .into_iter()
        .chain([chain.rule])
        .nth(seq as usize)
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
fn batch(chain: &Chain, rule: Vec<u8>) -> Vec<u8> {
    // The batch's own messages name the subsystem it is for in their
    // resource id; the sequence number is the index, as in STEPS.
    let control = |kind| (kind, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES, vec![]);
    let nft = |kind, flags, attributes| {
        let (kind, flags) = ((NFNL_SUBSYS_NFTABLES << 8) | kind, REQUEST | flags);
        (kind, flags, NFPROTO_IPV4, 0, attributes)
    };
    let messages = [
        control(NFNL_MSG_BATCH_BEGIN),
        nft(NFT_MSG_NEWTABLE, 0, table()),
        nft(NFT_MSG_NEWCHAIN, 0, base_chain(chain)),
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
    batch
}

fn table() -> Vec<u8> {
    let mut table = Attributes::default();
    table
        .string(NFTA_TABLE_NAME, TABLE)
        .be32(NFTA_TABLE_FLAGS, 0);
    table.0
}

fn base_chain(chain: &Chain) -> Vec<u8> {
    let mut attributes = Attributes::default();
    attributes
        .string(NFTA_CHAIN_TABLE, TABLE)
        .string(NFTA_CHAIN_NAME, chain.name)
        .string(NFTA_CHAIN_TYPE, "nat")
        .be32(NFTA_CHAIN_POLICY, NF_ACCEPT)
        .nest(NFTA_CHAIN_HOOK, |hook| {
            hook.be32(NFTA_HOOK_HOOKNUM, chain.hook)
                .be32(NFTA_HOOK_PRIORITY, chain.priority);
        });
    attributes.0
}

/// A rule of `chain`: its expressions, which `build` lists.
fn rule(chain: &Chain, build: impl FnOnce(&mut Attributes)) -> Vec<u8> {
    let mut rule = Attributes::default();
    rule.string(NFTA_RULE_TABLE, TABLE)
        .string(NFTA_RULE_CHAIN, chain.name)
        .nest(NFTA_RULE_EXPRESSIONS, build);
    rule.0
}

fn redirect(bridge: &str, network: Ipv4Addr, prefix: u8, port: u16) -> Vec<u8> {
    rule(&PRE, |list| {
        list.interface(NFT_META_IIFNAME, bridge)
            .address(IPV4_DADDR, NFT_CMP_NEQ, network, prefix)
            .meta(NFT_META_L4PROTO)
            .cmp(NFT_CMP_EQ, &[libc::IPPROTO_TCP as u8])
            .expression("immediate", |e| {
                e.be32(NFTA_IMMEDIATE_DREG, NFT_REG_1)
                    .data(NFTA_IMMEDIATE_DATA, &port.to_be_bytes());
            })
            .expression("redir", |e| {
                e.be32(NFTA_REDIR_REG_PROTO_MIN, NFT_REG_1)
                    .be32(NFTA_REDIR_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
            });
    })
}

fn masquerade(uplink: &str, network: Ipv4Addr, prefix: u8) -> Vec<u8> {
    rule(&POST, |list| {
        list.interface(NFT_META_OIFNAME, uplink)
            .address(IPV4_SADDR, NFT_CMP_EQ, network, prefix)
            // To the outgoing interface's address, any port: no attributes.
            .expression("masq", |_| {});
    })
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

    /// Loads the packet's meta `key` into register 1.
    fn meta(&mut self, key: c_int) -> &mut Self {
        self.expression("meta", |e| {
            e.be32(NFTA_META_KEY, key).be32(NFTA_META_DREG, NFT_REG_1);
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

    /// Matches the interface that the meta `key` names (`iifname`,
    /// `oifname`) against `name`.
    fn interface(&mut self, key: c_int, name: &str) -> &mut Self {
        let mut padded = [0u8; IFNAMSIZ];
        padded[..name.len()].copy_from_slice(name.as_bytes());
        self.meta(key).cmp(NFT_CMP_EQ, &padded)
    }

    /// Compares the IPv4 address at `offset` in the network header with
    /// `network`/`prefix` (`op`: in it or not).
    fn address(&mut self, offset: c_int, op: c_int, network: Ipv4Addr, prefix: u8) -> &mut Self {
        let mask = u32::MAX << (32 - u32::from(prefix));
        let network = (u32::from(network) & mask).to_be_bytes();
        // A whole number of bytes is compared as is; otherwise nft loads the
        // whole address and masks it first.
        let whole_bytes = prefix.is_multiple_of(8);
        let length = if whole_bytes { prefix / 8 } else { 4 };
        self.expression("payload", |e| {
            e.be32(NFTA_PAYLOAD_DREG, NFT_REG_1)
                .be32(NFTA_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER)
                .be32(NFTA_PAYLOAD_OFFSET, offset)
                .be32(NFTA_PAYLOAD_LEN, c_int::from(length));
        });
        if !whole_bytes {
            self.expression("bitwise", |e| {
                e.be32(NFTA_BITWISE_SREG, NFT_REG_1)
                    .be32(NFTA_BITWISE_DREG, NFT_REG_1)
                    .be32(NFTA_BITWISE_LEN, 4)
                    .data(NFTA_BITWISE_MASK, &mask.to_be_bytes())
                    .data(NFTA_BITWISE_XOR, &[0; 4]);
            });
        }
        self.cmp(op, &network[..usize::from(length)])
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
mod tests;
