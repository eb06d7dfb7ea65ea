//! X.509 certificates in PEM form, as trust stores hold them: the extra
//! certificate authorities a step trusts (`exec/trust.rs` puts them into
//! the step's trust store and takes them out again).
//!
//! Only `-----BEGIN CERTIFICATE-----` blocks count; a bundle's comments,
//! `TRUSTED CERTIFICATE` blocks and other text are kept as they are. Two
//! certificates are the same when their DER bytes are, however the PEM
//! text wraps or indents them.

use std::ops::Range;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::Error;

const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
const END: &[u8] = b"-----END CERTIFICATE-----";

/// One certificate, kept as its DER bytes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Certificate {
    der: Vec<u8>,
}

impl Certificate {
    /// Every certificate in PEM text, in order. A `CERTIFICATE` block that
    /// does not end or whose body is not base64 of a DER sequence is
    /// refused, with its number (from 1).
    pub fn all_in(text: &[u8]) -> Result<Vec<Certificate>, Error> {
        blocks(text)
            .into_iter()
            .enumerate()
            .map(|(i, block)| {
                block
                    .certificate
                    .ok_or(Error::BadCertificate { block: i + 1 })
            })
            .collect()
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM text: base64 in lines of 64, ending in a newline, as
    /// `update-ca-certificates` and OpenSSL write it.
    pub fn pem(&self) -> String {
        let body = base64::engine::general_purpose::STANDARD.encode(&self.der);
        let mut pem = String::with_capacity(body.len() + body.len() / 64 + 64);
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem
    }
}

impl Serialize for Certificate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.pem())
    }
}

impl<'de> Deserialize<'de> for Certificate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Certificate, D::Error> {
        let text = String::deserialize(deserializer)?;
        match Certificate::all_in(text.as_bytes()) {
            Ok(mut certificates) if certificates.len() == 1 => Ok(certificates.remove(0)),
            _ => Err(serde::de::Error::custom("one PEM certificate")),
        }
    }
}

/// A `CERTIFICATE` block found in a text: where it stands (from its BEGIN
/// line to the end of its END line, newline included) and the certificate,
/// when it decodes.
pub(crate) struct Block {
    pub range: Range<usize>,
    pub certificate: Option<Certificate>,
}

/// Every `CERTIFICATE` block of `text`; an unterminated one runs to the end.
pub(crate) fn blocks(text: &[u8]) -> Vec<Block> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(begin) = find(&text[from..], BEGIN).map(|i| i + from) {
        let body_start = begin + BEGIN.len();
        let Some(end) = find(&text[body_start..], END).map(|i| i + body_start) else {
            found.push(Block {
                range: begin..text.len(),
                certificate: None,
            });
            break;
        };
        let mut stop = end + END.len();
        if text[stop..].starts_with(b"\r\n") {
            stop += 2;
        } else if text[stop..].starts_with(b"\n") {
            stop += 1;
        }
        found.push(Block {
            range: begin..stop,
            certificate: decode(&text[body_start..end]),
        });
        from = stop;
    }
    found
}

/// The DER of a block's body; `None` unless it is base64 of a DER sequence
/// (a certificate starts with the SEQUENCE tag 0x30).
fn decode(body: &[u8]) -> Option<Certificate> {
    let compact: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    (der.first() == Some(&0x30)).then_some(Certificate { der })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `text` without the blocks holding any of `certificates`.
pub(crate) fn without(text: &[u8], certificates: &[Certificate]) -> Vec<u8> {
    let mut kept = Vec::with_capacity(text.len());
    let mut from = 0;
    for block in blocks(text) {
        let ours = block
            .certificate
            .as_ref()
            .is_some_and(|c| certificates.contains(c));
        if ours {
            kept.extend_from_slice(&text[from..block.range.start]);
            from = block.range.end;
        }
    }
    kept.extend_from_slice(&text[from..]);
    kept
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A stand-in certificate: any DER sequence passes for one here.
    pub(crate) fn fake(seed: u8) -> Certificate {
        let mut der = vec![0x30, 0x81, 0x90];
        der.extend((0..0x90u16).map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed)));
        Certificate { der }
    }

    #[test]
    fn pem_round_trips_and_wraps_at_64() {
        let cert = fake(7);
        let pem = cert.pem();
        assert!(pem.lines().all(|l| l.len() <= 64), "{pem}");
        assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
        assert_eq!(
            Certificate::all_in(pem.as_bytes()).unwrap(),
            std::slice::from_ref(&cert)
        );
        let json = serde_json::to_string(&cert).unwrap();
        assert_eq!(serde_json::from_str::<Certificate>(&json).unwrap(), cert);
    }

    #[test]
    fn bundles_with_comments_crlf_and_odd_wrapping_are_read() {
        let (a, b) = (fake(1), fake(2));
        let b_crlf = b.pem().replace('\n', "\r\n");
        let a_one_line = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----",
            base64::engine::general_purpose::STANDARD.encode(a.der())
        );
        let text = format!("# Label A\n{a_one_line}\n\n# B\n{b_crlf}trailing text\n");
        assert_eq!(Certificate::all_in(text.as_bytes()).unwrap(), [a, b]);
        assert!(Certificate::all_in(b"no certificate here")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn broken_blocks_are_refused_with_their_number() {
        let good = fake(3).pem();
        for bad in [
            format!("{good}-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"),
            format!("{good}-----BEGIN CERTIFICATE-----\nAAAA\n"),
            // Base64, but not a DER sequence.
            format!("{good}-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n"),
        ] {
            assert!(matches!(
                Certificate::all_in(bad.as_bytes()),
                Err(Error::BadCertificate { block: 2 })
            ));
        }
    }

    #[test]
    fn without_takes_out_only_the_given_certificates() {
        let (a, b, c) = (fake(1), fake(2), fake(3));
        let text = format!("# a\n{}# b\n{}{}# end\n", a.pem(), b.pem(), c.pem());
        let kept = without(text.as_bytes(), &[b.clone(), c]);
        assert_eq!(
            String::from_utf8(kept).unwrap(),
            format!("# a\n{}# b\n# end\n", a.pem())
        );
        assert_eq!(without(text.as_bytes(), &[]), text.as_bytes());
    }
}
