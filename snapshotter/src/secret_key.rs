//! The store's secret-hashing key (`secret.key`, mode 0600): the key of
//! the keyed hashes that stand for secrets in cache keys. Created once, by
//! whichever process gets there first; every process then uses that one.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use crate::store::Store;
use crate::temp::temp_name;
use crate::Error;

impl Store {
    /// The store's secret key; `fresh` (random bytes) becomes it when the
    /// store has none yet.
    pub fn secret_key(&self, fresh: [u8; 32]) -> Result<[u8; 32], Error> {
        let path = self.root().join("secret.key");
        let store_error = |source| Error::Store {
            path: path.clone(),
            source,
        };
        if let Ok(bytes) = std::fs::read(&path) {
            if let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) {
                return Ok(key);
            }
        }
        let temp = temp_name(self.root(), "secret.key");
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .and_then(|mut f| f.write_all(&fresh))
            .map_err(store_error)?;
        // Another process may have won the race: whichever key landed is used.
        let _ = std::fs::hard_link(&temp, &path);
        let _ = std::fs::remove_file(&temp);
        let bytes = std::fs::read(&path).map_err(store_error)?;
        <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
            store_error(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not 32 bytes; delete it and rerun (cached steps that use secrets will run again)",
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Limits, Store};

    #[test]
    fn the_first_key_stays_the_key() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path(), Limits::default()).unwrap();
        let key = store.secret_key([1; 32]).unwrap();
        assert_eq!(key, [1; 32]);
        assert_eq!(store.secret_key([2; 32]).unwrap(), [1; 32]);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(root.path().join("secret.key"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }
}
