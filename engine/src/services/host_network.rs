//! The fallback where no session network can be made (a sandbox that
//! refuses `unshare(CLONE_NEWNET)`), or where the user asks for it
//! (`TANTO_SERVICE_NETWORK=host`): services and the steps bound to them
//! share the host's network, as every step does. A service is reached at
//! 127.0.0.1 by its alias and hostname; nothing isolates two services, so
//! two that expose one port, or a service whose port something on the
//! host already holds, are refused before they start, with both names.
//! Rootless, a service cannot listen below port 1024 there.

use std::collections::HashMap;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Arc, Mutex};

use crate::error::Error;

/// `host` puts services on the host's network instead of a session
/// network of their own.
pub const NETWORK_ENV: &str = "TANTO_SERVICE_NETWORK";

/// Whether the user asked for the host's network.
pub(super) fn asked() -> Result<bool, Error> {
    match std::env::var(NETWORK_ENV).as_deref() {
        Err(_) | Ok("" | "session") => Ok(false),
        Ok("host") => Ok(true),
        Ok(other) => Err(Error::ServiceNetworkChoice {
            value: other.to_owned(),
        }),
    }
}

/// Whether `error` (from making the session network) says namespaces
/// cannot be made here at all, rather than that something went wrong.
pub(super) fn refused(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::PermissionDenied
}

/// The host ports services hold: port → the service's name.
#[derive(Default, Clone)]
pub(super) struct Claims(Arc<Mutex<HashMap<u16, String>>>);

/// Ports claimed by one service, given back when it goes.
pub(crate) struct PortClaim {
    claims: Claims,
    ports: Vec<u16>,
}

impl Claims {
    /// Claims `ports` for `service`: refused if another service holds one,
    /// or something on the host listens there.
    pub fn claim(&self, service: &str, ports: &[u16]) -> Result<PortClaim, Error> {
        let mut held = self.0.lock().unwrap();
        for port in ports {
            if let Some(other) = held.get(port) {
                return Err(Error::PortClash {
                    port: *port,
                    service: service.to_owned(),
                    holder: format!("service `{other}`"),
                });
            }
            if TcpListener::bind((Ipv4Addr::UNSPECIFIED, *port)).is_err()
                && TcpListener::bind((Ipv4Addr::LOCALHOST, *port)).is_err()
            {
                return Err(Error::PortClash {
                    port: *port,
                    service: service.to_owned(),
                    holder: "something on this machine".to_owned(),
                });
            }
        }
        for port in ports {
            held.insert(*port, service.to_owned());
        }
        Ok(PortClaim {
            claims: self.clone(),
            ports: ports.to_vec(),
        })
    }
}

impl Drop for PortClaim {
    fn drop(&mut self) {
        let mut held = self.claims.0.lock().unwrap();
        for port in &self.ports {
            held.remove(port);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_services_cannot_hold_one_port_and_a_port_goes_back_with_its_service() {
        let claims = Claims::default();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let first = claims.claim("web", &[port]).unwrap();
        let error = claims.claim("api", &[port]).err().unwrap().to_string();
        assert!(
            error.contains("`api`") && error.contains("`web`"),
            "{error}"
        );
        drop(first);
        claims.claim("api", &[port]).unwrap();
    }

    #[test]
    fn a_port_the_host_holds_is_refused() {
        let holder = TcpListener::bind("0.0.0.0:0").unwrap();
        let port = holder.local_addr().unwrap().port();
        let error = Claims::default()
            .claim("web", &[port])
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("something on this machine"), "{error}");
    }
}
