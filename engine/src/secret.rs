//! Secrets: values that must never reach the disk, a log or a cache key.
//!
//! A secret's identity in cache keys is a blake3 *keyed* hash of its value,
//! with a random key kept in the store (`secret.key`, mode 0600): a changed
//! secret re-runs the steps that use it, yet the key reveals nothing about the
//! value, even to someone who can guess candidate values but cannot read the
//! store's key. A secret read from a URI with a `cacheKey` (Dagger's
//! `secret(uri, cacheKey)`) is identified by that key instead, so that
//! secrets the user declares equivalent share their steps' results.

use std::fmt;
use std::sync::Arc;

/// What a `cacheKey` is hashed under, apart from any value's hash.
const CACHE_KEY_DOMAIN: &[u8] = b"tanto.secret-cache-key.v1\0";

#[derive(Clone)]
pub struct Secret {
    name: String,
    keyed_hash: String,
    value: Arc<Vec<u8>>,
    /// Where the value was read from (`env://TOKEN`), for `Secret.uri`.
    uri: Option<String>,
}

impl Secret {
    pub(crate) fn new(name: &str, value: &[u8], store_key: &[u8; 32]) -> Secret {
        Secret {
            name: name.to_owned(),
            keyed_hash: blake3::keyed_hash(store_key, value).to_hex().to_string(),
            value: Arc::new(value.to_vec()),
            uri: None,
        }
    }

    /// A secret read from `uri`; named by it, as Dagger names them.
    pub(crate) fn from_uri(
        uri: &str,
        value: &[u8],
        cache_key: Option<&str>,
        store_key: &[u8; 32],
    ) -> Secret {
        let mut secret = Secret::new(uri, value, store_key);
        if let Some(cache_key) = cache_key {
            let keyed = [CACHE_KEY_DOMAIN, cache_key.as_bytes()].concat();
            secret.keyed_hash = blake3::keyed_hash(store_key, &keyed).to_hex().to_string();
        }
        secret.uri = Some(uri.to_owned());
        secret
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URI the value was read from; none for `setSecret`'s.
    pub fn uri(&self) -> Option<&str> {
        self.uri.as_deref()
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

/// What output masks for a secret value: the value, and the value without
/// its trailing line break or spaces, since a file's or a command's value
/// ends in one that a step rarely prints (`echo "token=$T!"` after
/// `T=$(cat …)`).
pub(crate) fn masked_forms(value: &[u8]) -> Vec<&[u8]> {
    let trimmed = value.trim_ascii_end();
    if trimmed.len() == value.len() || trimmed.is_empty() {
        vec![value]
    } else {
        vec![value, trimmed]
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

    #[test]
    fn values_ending_in_a_line_break_are_masked_without_it_too() {
        assert_eq!(masked_forms(b"tok\n"), [&b"tok\n"[..], b"tok"]);
        assert_eq!(masked_forms(b"tok"), [&b"tok"[..]]);
        assert_eq!(masked_forms(b"\n"), [&b"\n"[..]]);
    }

    #[test]
    fn a_uri_secret_is_keyed_by_its_value_or_its_cache_key() {
        let store = [7; 32];
        let by_value = Secret::from_uri("env://A", b"hunter2", None, &store);
        assert_eq!(
            by_value.keyed_hash(),
            Secret::new("x", b"hunter2", &store).keyed_hash()
        );
        assert_eq!(by_value.uri(), Some("env://A"));
        assert_eq!(by_value.name(), "env://A");
        let one = Secret::from_uri("env://A", b"hunter2", Some("k"), &store);
        let other = Secret::from_uri("file:///b", b"other", Some("k"), &store);
        assert_eq!(one.keyed_hash(), other.keyed_hash());
        assert_ne!(one.keyed_hash(), by_value.keyed_hash());
        assert!(!format!("{one:?}").contains("hunter2"));
    }
}
