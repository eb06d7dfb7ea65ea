//! Registry credentials set from a pipeline (Dagger's `withRegistryAuth`):
//! the engine's for the rest of the session, pulls and publishes alike.

use registry::Reference;

use super::Container;
use crate::secret::Secret;

impl Container {
    /// Uses `username` and `secret` for `address`'s registry from now on,
    /// for pulls and publishes of this engine (Dagger's `withRegistryAuth`).
    pub fn with_registry_auth(&self, address: &str, username: &str, secret: &Secret) -> Container {
        let basic = registry::Basic {
            username: username.to_owned(),
            password: String::from_utf8_lossy(secret.plaintext()).into_owned(),
        };
        self.ctx
            .client
            .set_credentials(&registry_host(address), Some(basic));
        self.clone()
    }

    pub fn without_registry_auth(&self, address: &str) -> Container {
        self.ctx
            .client
            .set_credentials(&registry_host(address), None);
        self.clone()
    }
}

/// The registry an address names (`ghcr.io`, `127.0.0.1:5000`, or Docker
/// Hub for short names), as credentials are keyed.
fn registry_host(address: &str) -> String {
    let address = address
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let first = address.split('/').next().unwrap_or(address);
    // A bare registry (`ghcr.io`, `127.0.0.1:5000`, `localhost`) is not an
    // image reference: `127.0.0.1:5000` would read as a tag of Docker Hub.
    if !address.contains('/') && (first.contains(['.', ':']) || first == "localhost") {
        return first.to_owned();
    }
    match address.parse::<Reference>() {
        Ok(reference) => reference.registry().to_owned(),
        Err(_) => first.to_owned(),
    }
}

#[cfg(test)]
mod registry_host_tests {
    #[test]
    fn addresses_name_their_registry() {
        for (address, host) in [
            ("127.0.0.1:5000", "127.0.0.1:5000"),
            ("ghcr.io", "ghcr.io"),
            ("https://ghcr.io/", "ghcr.io"),
            ("ghcr.io/org/app:1", "ghcr.io"),
            ("localhost:5000/app", "localhost:5000"),
            ("org/app", "docker.io"),
        ] {
            assert_eq!(super::registry_host(address), host, "{address}");
        }
    }
}
