//! Which subnet the session network takes: Dagger's 10.87.0.0/16 unless the
//! host already routes part of it (a VPN, a corporate LAN), then the next
//! free /16 of 10.87–10.99; `TANTO_NETWORK_CIDR` chooses one outright.
//! Addresses the host routes elsewhere would be unreachable from steps.

use std::io;
use std::net::Ipv4Addr;

/// Overrides the choice: `A.B.C.D/N`.
pub const CIDR_ENV: &str = "TANTO_NETWORK_CIDR";

/// An IPv4 subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub(super) fn mask(prefix: u8) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
    }

    pub fn parse(text: &str) -> Option<Subnet> {
        let (address, prefix) = text.trim().split_once('/')?;
        let address: Ipv4Addr = address.parse().ok()?;
        let prefix: u8 = prefix.parse().ok().filter(|p| (8..=30).contains(p))?;
        let network = Ipv4Addr::from(u32::from(address) & Subnet::mask(prefix));
        Some(Subnet { network, prefix })
    }

    /// Its first address: the bridge, the steps' gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// Whether `address` is in it.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & Subnet::mask(self.prefix) == u32::from(self.network)
    }

    fn overlaps(&self, other: &Subnet) -> bool {
        let shorter = Subnet::mask(self.prefix.min(other.prefix));
        u32::from(self.network) & shorter == u32::from(other.network) & shorter
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The subnet to use: `TANTO_NETWORK_CIDR`, else the first candidate no
/// route of the host's network namespace reaches into.
pub fn choose() -> io::Result<Subnet> {
    if let Ok(value) = std::env::var(CIDR_ENV) {
        return Subnet::parse(&value).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{CIDR_ENV}={value:?} is not a subnet such as 10.87.0.0/16 (prefix 8 to 30)"
                ),
            )
        });
    }
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    free_candidate(&host_routes(&routes)).ok_or_else(|| {
        io::Error::other(format!(
            "every subnet from 10.87.0.0/16 to 10.99.0.0/16 is routed by the host; choose one with {CIDR_ENV}"
        ))
    })
}

/// The first of 10.87.0.0/16 … 10.99.0.0/16 that none of `routes` overlaps.
fn free_candidate(routes: &[Subnet]) -> Option<Subnet> {
    (87..=99)
        .map(|b| Subnet {
            network: Ipv4Addr::new(10, b, 0, 0),
            prefix: 16,
        })
        .find(|candidate| !routes.iter().any(|route| route.overlaps(candidate)))
}

/// The destinations of `/proc/net/route`, leaving out the default route
/// (which goes everywhere, and is what steps leave by).
fn host_routes(table: &str) -> Vec<Subnet> {
    // Each word is the kernel's network-order bytes printed as a number
    // of this machine's byte order.
    let address = |field: &str| {
        u32::from_str_radix(field, 16)
            .ok()
            .map(|word| Ipv4Addr::from(word.to_ne_bytes()))
    };
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let destination = address(fields.get(1)?)?;
            let prefix = u32::from(address(fields.get(7)?)?).count_ones() as u8;
            (prefix > 0).then_some(Subnet {
                network: destination,
                prefix,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
tun0\t0000570A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
";

    #[test]
    #[cfg(target_endian = "little")]
    fn the_hosts_routes_are_read_as_subnets_without_the_default() {
        assert_eq!(
            host_routes(TABLE),
            [
                Subnet::parse("192.0.2.0/24").unwrap(),
                Subnet::parse("10.87.0.0/16").unwrap()
            ]
        );
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn a_subnet_the_host_routes_is_skipped() {
        assert_eq!(
            free_candidate(&host_routes(TABLE)),
            Subnet::parse("10.88.0.0/16")
        );
        assert_eq!(free_candidate(&[]), Subnet::parse("10.87.0.0/16"));
        // A wide route covers every candidate.
        assert_eq!(
            free_candidate(&[Subnet::parse("10.0.0.0/8").unwrap()]),
            None
        );
    }

    #[test]
    fn subnets_parse_as_users_write_them() {
        let subnet = Subnet::parse("172.30.5.9/16").unwrap();
        assert_eq!(subnet.to_string(), "172.30.0.0/16");
        assert_eq!(subnet.gateway(), Ipv4Addr::new(172, 30, 0, 1));
        assert!(subnet.contains(Ipv4Addr::new(172, 30, 255, 1)));
        assert!(!subnet.contains(Ipv4Addr::new(172, 31, 0, 1)));
        for bad in ["10.87.0.0", "10.87.0.0/33", "10.87.0.0/4", "nonsense/16"] {
            assert_eq!(Subnet::parse(bad), None, "{bad}");
        }
    }
}
