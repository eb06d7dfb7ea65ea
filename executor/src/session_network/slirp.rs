//! The opt-in uplink (`TANTO_NET_UPLINK=slirp4netns`): slirp4netns gives
//! the session namespace a tap device with a default route out, a
//! user-mode TCP/IP stack of its own carrying UDP and ICMP too, which
//! tanto's relay (TCP and DNS only) does not. It needs `/dev/net/tun`
//! usable by the user, which some machines refuse (mode 0600), hence
//! opt-in. The session's traffic is masqueraded out of the tap device
//! (`nftables::masquerade_outbound`), forwarding turned on in the session
//! namespace. The host's loopback stays out of reach
//! (`--disable-host-loopback`).
//!
//! slirp4netns lives as long as the write end of its exit pipe, which only
//! this process holds: it goes with tanto, `kill -9` included.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The tap device slirp4netns makes in the session namespace.
pub const TAP: &str = "tap0";

/// A running slirp4netns; stopped when dropped.
pub struct Slirp {
    child: Child,
    /// Closing it tells slirp4netns to exit.
    _exit: OwnedFd,
}

impl Drop for Slirp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts slirp4netns on the namespace at `netns` (a path it can open)
/// and waits until it has configured the tap device.
pub fn start(netns: &Path) -> io::Result<Slirp> {
    // Close-on-exec: no other child may hold them (dup2 clears the flag
    // on the copies slirp4netns gets).
    let (exit_read, exit_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (ready_read, ready_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let mut command = Command::new("slirp4netns");
    command
        .args([
            "--configure",
            "--mtu=65520",
            "--disable-host-loopback",
            "--netns-type=path",
            "--exit-fd=3",
            "--ready-fd=4",
        ])
        .arg(netns)
        .arg(TAP)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let (exit_fd, ready_fd) = (exit_read.as_raw_fd(), ready_write.as_raw_fd());
    // SAFETY: only dup2, which is async-signal-safe, between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            if libc::dup2(exit_fd, 3) < 0 || libc::dup2(ready_fd, 4) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => io::Error::new(
            io::ErrorKind::NotFound,
            "TANTO_NET_UPLINK=slirp4netns needs the slirp4netns binary: install the slirp4netns package, or leave TANTO_NET_UPLINK unset for tanto's own TCP and DNS relay",
        ),
        _ => io::Error::new(e.kind(), format!("cannot start slirp4netns: {e}")),
    })?;
    drop((exit_read, ready_write));
    let mut ready = std::fs::File::from(ready_read);
    let mut said = [0u8; 1];
    if ready.read(&mut said)? == 1 && said[0] == b'1' {
        return Ok(Slirp {
            child,
            _exit: exit_write,
        });
    }
    let _ = child.kill();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let _ = child.wait();
    Err(io::Error::other(failure(stderr.trim())))
}

/// What to tell the user when slirp4netns gave up before it was ready.
fn failure(stderr: &str) -> String {
    let last = stderr.lines().last().unwrap_or("it said nothing");
    if stderr.contains("/dev/net/tun") {
        format!(
            "slirp4netns cannot use /dev/net/tun ({last}): make it usable by this user (mode 0666, as most distributions ship it), or leave TANTO_NET_UPLINK unset for tanto's own TCP and DNS relay"
        )
    } else {
        format!("slirp4netns gave up before it was ready: {last}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unusable_tun_device_is_named_with_what_to_do() {
        let said = "WARNING: Support for sandboxing is experimental\nopen(\"/dev/net/tun\"): Permission denied";
        let message = failure(said);
        assert!(message.contains("Permission denied"), "{message}");
        assert!(message.contains("mode 0666"), "{message}");
        assert!(message.contains("TANTO_NET_UPLINK"), "{message}");
    }
}
