//! Cache keys: what a step's output depends on, and nothing else.
//!
//! A key is blake3 over a canonical encoding: a versioned tag naming the op
//! (`"tanto.exec.v1"`), then named fields, each length-prefixed so that no two
//! different field lists encode alike. Keys are stored on disk (they name
//! snapshots), so a change to what a key covers must bump the op's tag: a key
//! bug, once published, otherwise lives forever in every store.
//! `std::hash::Hash` is never used: it is neither stable nor canonical.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex digits, for logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", self.short())
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Builds a [`CacheKey`] field by field.
pub struct KeyBuilder {
    hasher: blake3::Hasher,
}

// One byte per value kind, so a string can never encode like a key or a list.
const STR: u8 = 1;
const U64: u8 = 2;
const KEY: u8 = 3;
const LIST: u8 = 4;
const BYTES: u8 = 5;
const NONE: u8 = 6;

impl KeyBuilder {
    /// `tag` names the op and its encoding version, e.g. `"tanto.exec.v1"`.
    pub fn new(tag: &str) -> KeyBuilder {
        let mut builder = KeyBuilder {
            hasher: blake3::Hasher::new(),
        };
        builder.raw(STR, tag.as_bytes());
        builder
    }

    fn raw(&mut self, kind: u8, bytes: &[u8]) {
        self.hasher.update(&[kind]);
        self.hasher.update(&(bytes.len() as u64).to_le_bytes());
        self.hasher.update(bytes);
    }

    fn name(&mut self, field: &str) {
        self.raw(STR, field.as_bytes());
    }

    pub fn str(mut self, field: &str, value: &str) -> KeyBuilder {
        self.name(field);
        self.raw(STR, value.as_bytes());
        self
    }

    pub fn bytes(mut self, field: &str, value: &[u8]) -> KeyBuilder {
        self.name(field);
        self.raw(BYTES, value);
        self
    }

    pub fn u64(mut self, field: &str, value: u64) -> KeyBuilder {
        self.name(field);
        self.raw(U64, &value.to_le_bytes());
        self
    }

    pub fn bool(self, field: &str, value: bool) -> KeyBuilder {
        self.u64(field, value as u64)
    }

    pub fn key(mut self, field: &str, value: &CacheKey) -> KeyBuilder {
        self.name(field);
        self.raw(KEY, &value.0);
        self
    }

    pub fn opt_key(mut self, field: &str, value: Option<&CacheKey>) -> KeyBuilder {
        match value {
            Some(key) => self.key(field, key),
            None => {
                self.name(field);
                self.raw(NONE, &[]);
                self
            }
        }
    }

    pub fn strs<S: AsRef<str>>(mut self, field: &str, values: &[S]) -> KeyBuilder {
        self.name(field);
        self.raw(LIST, &(values.len() as u64).to_le_bytes());
        for value in values {
            self.raw(STR, value.as_ref().as_bytes());
        }
        self
    }

    pub fn finish(self) -> CacheKey {
        CacheKey(*self.hasher.finalize().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_cannot_run_into_each_other() {
        let a = KeyBuilder::new("t").str("a", "bc").finish();
        let b = KeyBuilder::new("t").str("ab", "c").finish();
        let c = KeyBuilder::new("t").strs("a", &["b", "c"]).finish();
        let d = KeyBuilder::new("t").strs("a", &["bc"]).finish();
        assert_ne!(a, b);
        assert_ne!(c, d);
        assert_ne!(a, d);
    }

    #[test]
    fn the_tag_versions_the_key() {
        let v1 = KeyBuilder::new("tanto.exec.v1").str("arg", "x").finish();
        let v2 = KeyBuilder::new("tanto.exec.v2").str("arg", "x").finish();
        assert_ne!(v1, v2);
        assert_eq!(
            v1,
            KeyBuilder::new("tanto.exec.v1").str("arg", "x").finish()
        );
    }

    #[test]
    fn the_encoding_is_stable() {
        // Keys name snapshots on disk: this value must never change silently.
        let key = KeyBuilder::new("tanto.test.v1")
            .str("s", "x")
            .u64("n", 7)
            .finish();
        assert_eq!(
            key.to_hex(),
            "f833ec1c1a05355bb723b30537b302ba8b9385bcc26bbbe690dc98c99ffb0dc9"
        );
    }
}
