//! Masking secret values in a step's output, as it streams.
//!
//! Output arrives in chunks cut wherever the kernel pleases, so a secret may
//! be split across two of them. The stream holds back the longest end of what
//! it has seen that could still grow into a secret, and releases it once the
//! next chunk (or the end of the stream) decides.

use std::sync::Arc;

/// What a masked secret reads as.
pub const MASK: &[u8] = b"***";

/// The secret values to mask, longest first so that a secret containing
/// another is masked whole.
#[derive(Clone, Default)]
pub(crate) struct Masker {
    secrets: Arc<Vec<Vec<u8>>>,
}

impl Masker {
    pub fn new<I, S>(secrets: I) -> Masker
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let mut secrets: Vec<Vec<u8>> = secrets
            .into_iter()
            .map(|s| s.as_ref().to_vec())
            .filter(|s| !s.is_empty())
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Masker {
            secrets: Arc::new(secrets),
        }
    }

    /// A fresh stream over these secrets.
    pub fn stream(&self) -> MaskStream {
        MaskStream {
            masker: self.clone(),
            held: Vec::new(),
        }
    }

    /// `bytes` with every secret masked, in one piece.
    #[cfg(test)]
    pub fn mask(&self, bytes: &[u8]) -> Vec<u8> {
        let mut stream = self.stream();
        let mut out = stream.push(bytes);
        out.extend(stream.finish());
        out
    }
}

/// One output stream being masked.
pub(crate) struct MaskStream {
    masker: Masker,
    /// Bytes not yet released: the start of what could be a secret.
    held: Vec<u8>,
}

impl MaskStream {
    /// Takes the next chunk; returns what can be released now, masked.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.masker.secrets.is_empty() {
            return chunk.to_vec();
        }
        self.held.extend_from_slice(chunk);
        self.release(false)
    }

    /// The end of the stream: releases everything held.
    pub fn finish(&mut self) -> Vec<u8> {
        self.release(true)
    }

    fn release(&mut self, at_end: bool) -> Vec<u8> {
        let secrets = &self.masker.secrets;
        let buffer = &self.held;
        let mut out = Vec::with_capacity(buffer.len());
        let mut at = 0;
        while at < buffer.len() {
            let rest = &buffer[at..];
            // A longer secret may still match once more bytes arrive.
            if !at_end
                && secrets
                    .iter()
                    .any(|s| s.len() > rest.len() && s.starts_with(rest))
            {
                break;
            }
            match secrets.iter().find(|s| rest.starts_with(s)) {
                Some(secret) => {
                    out.extend_from_slice(MASK);
                    at += secret.len();
                }
                None => {
                    out.push(rest[0]);
                    at += 1;
                }
            }
        }
        self.held.drain(..at);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(masker: &Masker, parts: &[&str]) -> (Vec<String>, String) {
        let mut stream = masker.stream();
        let mut released = Vec::new();
        for part in parts {
            released.push(String::from_utf8(stream.push(part.as_bytes())).unwrap());
        }
        released.push(String::from_utf8(stream.finish()).unwrap());
        let whole = released.concat();
        (released, whole)
    }

    #[test]
    fn a_secret_in_one_chunk_is_masked_wherever_it_is() {
        let masker = Masker::new(["secret"]);
        assert_eq!(masker.mask(b"secret"), b"***");
        assert_eq!(masker.mask(b"a secret, two secrets."), b"a ***, two ***s.");
        assert_eq!(masker.mask(b"nothing here"), b"nothing here");
    }

    #[test]
    fn a_secret_split_across_chunks_is_masked() {
        let masker = Masker::new(["secret"]);
        let (released, whole) = chunks(&masker, &["my se", "cret\n"]);
        assert_eq!(whole, "my ***\n");
        // The possible start is held back, not released in clear.
        assert_eq!(released[0], "my ");
        let (_, whole) = chunks(&masker, &["s", "e", "c", "r", "e", "t", "!"]);
        assert_eq!(whole, "***!");
    }

    #[test]
    fn what_only_looks_like_a_start_is_released_at_the_end() {
        let masker = Masker::new(["secret"]);
        let (released, whole) = chunks(&masker, &["a sec"]);
        assert_eq!(released, ["a ", "sec"]);
        assert_eq!(whole, "a sec");
        let (_, whole) = chunks(&masker, &["sesecret"]);
        assert_eq!(whole, "se***");
    }

    #[test]
    fn the_longest_secret_wins_and_empty_ones_are_ignored() {
        let masker = Masker::new(["abc", "abcdef", ""]);
        let (_, whole) = chunks(&masker, &["xabcd", "ef abc abcd"]);
        assert_eq!(whole, "x*** *** ***d");
        assert_eq!(Masker::new([""]).mask(b"text"), b"text");
    }

    #[test]
    fn without_secrets_chunks_pass_through() {
        let masker = Masker::default();
        let (released, _) = chunks(&masker, &["se", "cret"]);
        assert_eq!(released, ["se", "cret", ""]);
    }
}
