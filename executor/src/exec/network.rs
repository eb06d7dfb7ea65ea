//! A step's own network: a fresh network namespace with only loopback, up
//! (`RUN --network=none`, as Docker's and BuildKit's `none`), or one on the
//! session network (`crate::session_network`) that the engine made. The
//! step's pid 1 enters it before it creates the container, which inherits
//! it: the spec names no network namespace, so libcontainer leaves it as it
//! finds it. tanto is root of its own user namespace, which owns them.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::sched::{unshare, CloneFlags};

use super::failure::{describe, Failure};

/// Moves this process into a new network namespace whose loopback is up.
pub fn loopback_only() -> Result<(), Failure> {
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| Failure::Prepare {
        what: "create a network namespace (--network=none)".into(),
        detail: describe(e),
    })?;
    loopback_up().map_err(|e| Failure::Prepare {
        what: "bring up loopback in the step's network namespace".into(),
        detail: describe(e),
    })
}

/// Moves this process into the network namespace at `path`.
pub fn join(path: &std::path::Path) -> Result<(), Failure> {
    let what = || format!("enter the network namespace {}", path.display());
    let namespace = std::fs::File::open(path).map_err(|e| Failure::Prepare {
        what: what(),
        detail: describe(e),
    })?;
    nix::sched::setns(namespace, CloneFlags::CLONE_NEWNET).map_err(|e| Failure::Prepare {
        what: what(),
        detail: describe(e),
    })
}

/// `ip link set lo up`, by the ioctl `ip` itself falls back to. Allocates
/// nothing, so doctor's probe may call it in a child forked from threads.
pub(super) fn loopback_up() -> std::io::Result<()> {
    // SAFETY: socket(2) with constant arguments; the fd is owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: the request is a valid ifreq naming an interface; the kernel
    // fills or reads only its flags.
    unsafe {
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
