//! The capabilities this process holds, from `/proc/self/status`: what
//! decides how tanto isolates steps, rather than the uid (root in a
//! container usually lacks `CAP_SYS_ADMIN`).

/// Capability numbers tanto asks about (linux/capability.h).
pub const SETGID: u32 = 6;
pub const SETUID: u32 = 7;
pub const SYS_ADMIN: u32 = 21;

/// A capability set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities(u64);

impl Capabilities {
    pub fn has(self, capability: u32) -> bool {
        self.0 & (1 << capability) != 0
    }
}

/// The effective set; empty when it cannot be read.
pub fn effective() -> Capabilities {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    parse_effective(&status).unwrap_or(Capabilities(0))
}

fn parse_effective(status: &str) -> Option<Capabilities> {
    let line = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(line.trim(), 16).ok().map(Capabilities)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_containers_root_lacks_sys_admin_and_the_hosts_has_it() {
        // podman's default set, then a host root's.
        let container = parse_effective("Name:\tsh\nCapEff:\t00000000800405fb\n").unwrap();
        assert!(!container.has(SYS_ADMIN));
        assert!(container.has(SETUID) && container.has(SETGID));
        let host = parse_effective("CapEff:\t000001ffffffffff\n").unwrap();
        assert!(host.has(SYS_ADMIN));
        assert_eq!(parse_effective("Name:\tsh\n"), None);
    }
}
