//! Secrets: values that must never reach the disk, a log or a cache key.
//!
//! A secret's identity in cache keys is a blake3 *keyed* hash of its value,
//! with a random key kept in the store (`secret.key`, mode 0600): a changed
//! secret re-runs the steps that use it, yet the key reveals nothing about the
//! value, even to someone who can guess candidate values but cannot read the
//! store's key.

use std::fmt;
use std::sync::Arc;

#[derive(Clone)]
pub struct Secret {
    name: String,
    keyed_hash: String,
    value: Arc<Vec<u8>>,
}

impl Secret {
    pub(crate) fn new(name: &str, value: &[u8], store_key: &[u8; 32]) -> Secret {
        Secret {
            name: name.to_owned(),
            keyed_hash: blake3::keyed_hash(store_key, value).to_hex().to_string(),
            value: Arc::new(value.to_vec()),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value itself; only for the step that uses it (and `plaintext`).
    pub fn plaintext(&self) -> &[u8] {
        &self.value
    }

    /// What cache keys hold instead of the value.
    pub(crate) fn keyed_hash(&self) -> &str {
        &self.keyed_hash
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({:?}, ***)", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_keys_never_show_the_value() {
        let secret = Secret::new("token", b"hunter2", &[7; 32]);
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert_ne!(
            secret.keyed_hash(),
            blake3::hash(b"hunter2").to_hex().as_str()
        );
        let other_store = Secret::new("token", b"hunter2", &[8; 32]);
        assert_ne!(secret.keyed_hash(), other_store.keyed_hash());
        let changed = Secret::new("token", b"hunter3", &[7; 32]);
        assert_ne!(secret.keyed_hash(), changed.keyed_hash());
    }
}
