//! Secrets: values that must never reach the disk, a log or a cache key.
//!
//! A secret's identity in cache keys is a blake3 *keyed* hash of its value,
//! with a random key kept in the store (`secret.key`, mode 0600): a changed
//! secret re-runs the steps that use it, yet the key reveals nothing about the
//! value, even to someone who can guess candidate values but cannot read the
//! store's key.

use std::fmt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use crate::error::Error;

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

/// The store's secret-hashing key, created on first use.
pub(crate) fn store_key(store_root: &Path) -> Result<[u8; 32], Error> {
    let path = store_root.join("secret.key");
    let io_error = |source| Error::SecretKey {
        path: path.clone(),
        source,
    };
    if let Ok(bytes) = std::fs::read(&path) {
        if let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) {
            return Ok(key);
        }
    }
    let key = crate::random::random_bytes::<32>()?;
    let temp = store_root.join(format!("secret.key.{}.tmp", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &key))
        .map_err(io_error)?;
    // Another process may have won the race: whichever key landed is used.
    match std::fs::hard_link(&temp, &path) {
        Ok(()) | Err(_) => {
            let _ = std::fs::remove_file(&temp);
        }
    }
    let bytes = std::fs::read(&path).map_err(io_error)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        io_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not 32 bytes; delete it and rerun (cached steps that use secrets will run again)",
        ))
    })
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
    fn the_store_key_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = store_key(dir.path()).unwrap();
        assert_eq!(first, store_key(dir.path()).unwrap());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
