//! The DNS wire format (RFC 1035 §4.1), only as much as the session's
//! server needs: a query's header and first question read, and the few
//! replies it makes itself written. Packets come from any process on the
//! session network, so every read is bounds-checked and anything
//! malformed comes back as `None`.

use std::net::Ipv4Addr;

pub(crate) const TYPE_A: u16 = 1;
pub(crate) const TYPE_ANY: u16 = 255;
pub(crate) const CLASS_IN: u16 = 1;

pub(crate) const FORMERR: u8 = 1;
pub(crate) const SERVFAIL: u8 = 2;

const HEADER: usize = 12;
const QR: u16 = 0x8000;
const OPCODE: u16 = 0x7800;
const AA: u16 = 0x0400;
const RD: u16 = 0x0100;
const RA: u16 = 0x0080;

/// The longest name on the wire (RFC 1035 §2.3.4).
const MAX_NAME: usize = 255;

/// A restarted service comes back at another address: nobody may keep
/// the old one.
const TTL: u32 = 0;

/// A query's header: what a reply copies from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub id: u16,
    pub flags: u16,
    pub questions: u16,
}

impl Header {
    /// `None` if `packet` is too short, or is itself a response: those
    /// are never answered, so that two servers cannot bounce replies.
    pub fn parse(packet: &[u8]) -> Option<Header> {
        let word = |at: usize| Some(u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]));
        let header = Header {
            id: word(0)?,
            flags: word(2)?,
            questions: word(4)?,
        };
        (packet.len() >= HEADER && header.flags & QR == 0).then_some(header)
    }

    /// 0 is a standard query.
    pub fn opcode(&self) -> u16 {
        (self.flags & OPCODE) >> 11
    }
}

/// A question: the name asked about, its type and class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Question {
    /// Lowercase, labels joined by dots, no trailing dot. Bytes no
    /// hostname holds (a dot inside a label, say) are written `\DDD`, so
    /// such a label cannot pass for two and match a session name.
    pub name: String,
    pub qtype: u16,
    pub class: u16,
    /// As it goes into a reply: the name uncompressed, in the asker's own
    /// case (resolvers that randomise case, "0x20", check the echo), then
    /// type and class.
    wire: Vec<u8>,
}

impl Question {
    /// The first question of the query `packet`. Queries do not compress
    /// names, but a pointer is followed if it points before everywhere
    /// this name has been read so far, which no loop can do.
    pub fn parse(packet: &[u8]) -> Option<Question> {
        let (mut wire, mut name) = (Vec::new(), String::new());
        let (mut at, mut floor, mut end) = (HEADER, HEADER, None);
        loop {
            let length = *packet.get(at)?;
            match length & 0xC0 {
                0xC0 => {
                    let target = u16::from_be_bytes([length & 0x3F, *packet.get(at + 1)?]);
                    let target = usize::from(target);
                    if target >= floor {
                        return None;
                    }
                    end.get_or_insert(at + 2);
                    (at, floor) = (target, target);
                }
                0 if length == 0 => {
                    wire.push(0);
                    end.get_or_insert(at + 1);
                    break;
                }
                0 => {
                    let label = packet.get(at + 1..at + 1 + usize::from(length))?;
                    wire.push(length);
                    wire.extend_from_slice(label);
                    // The root's zero still has to fit.
                    if wire.len() >= MAX_NAME {
                        return None;
                    }
                    if !name.is_empty() {
                        name.push('.');
                    }
                    for &byte in label {
                        match byte {
                            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => {
                                name.push(byte.to_ascii_lowercase().into())
                            }
                            _ => name.push_str(&format!("\\{byte:03}")),
                        }
                    }
                    at += 1 + usize::from(length);
                }
                // Extended label types (0x40, 0x80): retired, never in a query.
                _ => return None,
            }
        }
        let end = end?;
        let fixed = packet.get(end..end + 4)?;
        wire.extend_from_slice(fixed);
        Some(Question {
            name,
            qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
            class: u16::from_be_bytes([fixed[2], fixed[3]]),
            wire,
        })
    }
}

/// This server's own answer to `question`: NOERROR, authoritative, with
/// an A record if `address` is given, and none otherwise (the name
/// exists, but has no record of that type).
pub(crate) fn answer(header: &Header, question: &Question, address: Option<Ipv4Addr>) -> Vec<u8> {
    let mut reply = start(header, Some(question), AA, 0, u16::from(address.is_some()));
    if let Some(address) = address {
        // A pointer to the question's name, which starts right after the
        // header.
        reply.extend_from_slice(&[0xC0, HEADER as u8]);
        reply.extend_from_slice(&TYPE_A.to_be_bytes());
        reply.extend_from_slice(&CLASS_IN.to_be_bytes());
        reply.extend_from_slice(&TTL.to_be_bytes());
        reply.extend_from_slice(&4u16.to_be_bytes());
        reply.extend_from_slice(&address.octets());
    }
    reply
}

/// A failure (`rcode`: [`FORMERR`], [`SERVFAIL`]) for `header`'s query,
/// echoing its question when it could be read.
pub(crate) fn failure(header: &Header, question: Option<&Question>, rcode: u8) -> Vec<u8> {
    start(header, question, 0, rcode, 0)
}

/// A reply's header and question section.
fn start(
    header: &Header,
    question: Option<&Question>,
    aa: u16,
    rcode: u8,
    answers: u16,
) -> Vec<u8> {
    let flags = QR | header.flags & (OPCODE | RD) | aa | RA | u16::from(rcode & 0x0F);
    let mut reply = Vec::with_capacity(HEADER + 300);
    reply.extend_from_slice(&header.id.to_be_bytes());
    reply.extend_from_slice(&flags.to_be_bytes());
    reply.extend_from_slice(&u16::from(question.is_some()).to_be_bytes());
    reply.extend_from_slice(&answers.to_be_bytes());
    reply.extend_from_slice(&[0, 0, 0, 0]);
    if let Some(question) = question {
        reply.extend_from_slice(&question.wire);
    }
    reply
}

/// A standard query with RD, as glibc sends it: `name` (dotted) of type
/// `qtype`, class IN.
#[cfg(test)]
pub(crate) fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut packet = id.to_be_bytes().to_vec();
    packet.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|label| !label.is_empty()) {
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    packet.extend_from_slice(&qtype.to_be_bytes());
    packet.extend_from_slice(&CLASS_IN.to_be_bytes());
    packet
}

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc's `getent hosts redis`: id 0x1234, RD, one question.
    const REDIS: &[u8] =
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05redis\x00\x00\x01\x00\x01";

    #[test]
    fn a_glibc_query_is_read() {
        let header = Header::parse(REDIS).unwrap();
        assert_eq!(
            (header.id, header.flags, header.questions),
            (0x1234, 0x0100, 1)
        );
        assert_eq!(header.opcode(), 0);
        let question = Question::parse(REDIS).unwrap();
        assert_eq!(
            (question.name.as_str(), question.qtype, question.class),
            ("redis", 1, 1)
        );
        assert_eq!(query(0x1234, "redis", TYPE_A), REDIS);
    }

    #[test]
    fn a_mixed_case_name_is_matched_lowercase_and_echoed_as_asked() {
        // dig's: RD and AD, and an OPT record (EDNS, a cookie) after the
        // question, which the reply does not carry.
        let mut packet = b"\xbe\xef\x01\x20\x00\x01\x00\x00\x00\x00\x00\x01".to_vec();
        packet.extend_from_slice(b"\x0dAbCdEfGhIjKlM\x00\x00\x01\x00\x01");
        packet.extend_from_slice(b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x0c\x00\x0a\x00\x08");
        packet.extend_from_slice(b"\x01\x02\x03\x04\x05\x06\x07\x08");
        let (header, question) = (
            Header::parse(&packet).unwrap(),
            Question::parse(&packet).unwrap(),
        );
        assert_eq!(question.name, "abcdefghijklm");
        let reply = answer(&header, &question, Some(Ipv4Addr::new(10, 87, 0, 5)));
        assert_eq!(
            &reply[..12],
            b"\xbe\xef\x85\x80\x00\x01\x00\x01\x00\x00\x00\x00"
        );
        assert_eq!(&reply[12..31], &packet[12..31]);
    }

    #[test]
    fn an_a_answer_is_laid_out_as_rfc_1035_says() {
        let (header, question) = (
            Header::parse(REDIS).unwrap(),
            Question::parse(REDIS).unwrap(),
        );
        let reply = answer(&header, &question, Some(Ipv4Addr::new(10, 87, 0, 2)));
        let mut expected = b"\x12\x34\x85\x80\x00\x01\x00\x01\x00\x00\x00\x00".to_vec();
        expected.extend_from_slice(&REDIS[12..]);
        // Name (a pointer to offset 12), A, IN, TTL 0, 4 bytes of address.
        expected
            .extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04\x0a\x57\x00\x02");
        assert_eq!(reply, expected);
        assert_eq!(
            Question::parse(&reply).unwrap().name,
            "redis",
            "what the pointer names"
        );
    }

    #[test]
    fn no_data_and_failures_carry_no_records() {
        let (header, question) = (
            Header::parse(REDIS).unwrap(),
            Question::parse(REDIS).unwrap(),
        );
        let empty = answer(&header, &question, None);
        assert_eq!(
            &empty[..12],
            b"\x12\x34\x85\x80\x00\x01\x00\x00\x00\x00\x00\x00"
        );
        assert_eq!(empty.len(), REDIS.len());
        let failed = failure(&header, Some(&question), SERVFAIL);
        assert_eq!(
            &failed[..12],
            b"\x12\x34\x81\x82\x00\x01\x00\x00\x00\x00\x00\x00"
        );
        assert_eq!(&failed[12..], &REDIS[12..]);
        let unread = failure(&header, None, FORMERR);
        assert_eq!(unread, b"\x12\x34\x81\x81\x00\x00\x00\x00\x00\x00\x00\x00");
    }

    #[test]
    fn malformed_packets_are_refused() {
        assert_eq!(Header::parse(&REDIS[..11]), None);
        let mut response = REDIS.to_vec();
        response[2] |= 0x80;
        assert_eq!(Header::parse(&response), None);
        for cut in 12..REDIS.len() {
            assert_eq!(Question::parse(&REDIS[..cut]), None, "cut at {cut}");
        }
        let with = |name: &[u8]| [&REDIS[..12], name, b"\x00\x01\x00\x01"].concat();
        assert_eq!(
            Question::parse(&with(b"\xc0\x0c")),
            None,
            "a pointer to itself"
        );
        assert_eq!(
            Question::parse(&with(b"\x01a\xc0\x0c")),
            None,
            "a loop through a label"
        );
        assert_eq!(
            Question::parse(&with(b"\xc0\x20")),
            None,
            "a pointer forwards"
        );
        assert_eq!(
            Question::parse(&with(b"\x41a\x00")),
            None,
            "an extended label"
        );
    }

    #[test]
    fn a_name_is_at_most_255_bytes() {
        let label = |length: usize| [&[length as u8][..], &b"a".repeat(length)].concat();
        let name = |last: usize| [label(63).repeat(3), label(last), vec![0]].concat();
        let packet = |last| [&REDIS[..12], &name(last), b"\x00\x01\x00\x01"].concat();
        assert_eq!(name(61).len(), 255);
        assert!(Question::parse(&packet(61)).is_some());
        assert_eq!(Question::parse(&packet(62)), None);
    }

    #[test]
    fn a_pointer_backwards_is_followed_and_odd_bytes_are_escaped() {
        // The header's last four bytes read as the name `a`, and the
        // question's name ends with a pointer to them.
        let mut packet = REDIS[..8].to_vec();
        packet.extend_from_slice(b"\x01a\x00\x00");
        packet.extend_from_slice(b"\x03a.b\xc0\x08\x00\x1c\x00\x01");
        let question = Question::parse(&packet).unwrap();
        assert_eq!((question.name.as_str(), question.qtype), ("a\\046b.a", 28));
        assert_eq!(question.wire, b"\x03a.b\x01a\x00\x00\x1c\x00\x01");
    }
}
