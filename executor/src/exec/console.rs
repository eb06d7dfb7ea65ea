//! An interactive step's pseudo-terminal, on the side of the step's pid 1.
//! libcontainer makes it in the container's own `/dev/pts`, makes it the
//! process's controlling terminal (so Ctrl-C and job control work inside)
//! and sends its master end through a console socket, as runc does; pid 1
//! relays between that and the user's terminal (`user_terminal.rs`) until
//! the process ends, and keeps the window size in step.

use std::io::Write as _;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::failure::{describe, Failure};

/// How long init gets to send the terminal once the container is created.
const HANDOVER: Duration = Duration::from_secs(10);
/// How often the window size is compared while nothing else happens.
const RESIZE_POLL: Duration = Duration::from_millis(100);

/// The socket libcontainer sends the terminal's master end through.
pub(super) struct ConsoleSocket {
    listener: UnixListener,
    pub path: PathBuf,
}

impl ConsoleSocket {
    /// Listens at `dir/console.sock`, bound from inside `dir`: the whole
    /// path may be longer than a socket address holds (libcontainer
    /// connects through a short symlink for the same reason).
    pub fn listen(dir: &Path) -> Result<ConsoleSocket, Failure> {
        let failed = |e: std::io::Error| Failure::Prepare {
            what: "the console socket of an interactive step".into(),
            detail: describe(e),
        };
        let previous = std::env::current_dir().map_err(failed)?;
        std::env::set_current_dir(dir).map_err(failed)?;
        let listener = UnixListener::bind("console.sock");
        std::env::set_current_dir(previous).map_err(failed)?;
        Ok(ConsoleSocket {
            listener: listener.map_err(failed)?,
            path: dir.join("console.sock"),
        })
    }

    /// The terminal's master end, sent by the container's init while it
    /// was created.
    pub fn master(&self) -> Result<OwnedFd, Failure> {
        let failed = |detail: String| Failure::Container {
            stage: "hand over the terminal".into(),
            detail,
        };
        let deadline = Instant::now() + HANDOVER;
        while !readable(self.listener.as_raw_fd(), RESIZE_POLL) {
            if Instant::now() > deadline {
                return Err(failed("the container never sent its terminal".into()));
            }
        }
        let (stream, _) = self.listener.accept().map_err(|e| failed(describe(e)))?;
        let mut name = [0u8; 256];
        let mut iov = [std::io::IoSliceMut::new(&mut name)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let message = nix::sys::socket::recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| failed(describe(e)))?;
        for control in message.cmsgs().map_err(|e| failed(describe(e)))? {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = control {
                if let Some(&fd) = fds.first() {
                    // SAFETY: the kernel just gave this process the fd.
                    return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        Err(failed("the console socket carried no terminal".into()))
    }
}

/// Copies keys from the user's terminal to `master` and what the step
/// shows back, until `init` ends; reaps every process meanwhile (this is
/// pid 1). Returns init's exit code (128+signal when killed).
pub(super) fn relay(master: OwnedFd, user: RawFd, init: Pid) -> Result<i32, Failure> {
    let master_fd = master.as_raw_fd();
    let mut size = copy_size(user, master_fd, None);
    let (mut user_open, mut master_open) = (true, true);
    let mut buffer = [0u8; 8192];
    loop {
        if let Some(code) = reap(init)? {
            // What the step wrote last is still in the terminal's buffer.
            while master_open && readable(master_fd, Duration::ZERO) {
                match read(master_fd, &mut buffer) {
                    Some(bytes) => write_all(user, bytes),
                    None => master_open = false,
                }
            }
            return Ok(code);
        }
        size = copy_size(user, master_fd, size);
        let mut fds = Vec::with_capacity(2);
        if user_open {
            fds.push(pollfd(user));
        }
        if master_open {
            fds.push(pollfd(master_fd));
        }
        // SAFETY: a valid pollfd array of this length.
        let ready = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as _,
                RESIZE_POLL.as_millis() as i32,
            )
        };
        if ready <= 0 {
            continue;
        }
        for fd in fds.iter().filter(|fd| fd.revents != 0) {
            if fd.fd == user {
                match read(user, &mut buffer) {
                    Some(bytes) => write_all(master_fd, bytes),
                    None => {
                        // The user's terminal hung up: so does the step's.
                        user_open = false;
                        let _ = kill(init, Signal::SIGHUP);
                    }
                }
            } else {
                match read(master_fd, &mut buffer) {
                    Some(bytes) => write_all(user, bytes),
                    // EIO: every process closed the terminal; wait for init.
                    None => master_open = false,
                }
            }
        }
    }
}

/// Reaps what has ended; init's exit code once it has.
fn reap(init: Pid) -> Result<Option<i32>, Failure> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == init => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == init => {
                return Ok(Some(128 + signal as i32))
            }
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(Failure::HelperCrashed {
                    detail: describe(e),
                })
            }
        }
    }
}

fn pollfd(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

fn readable(fd: RawFd, wait: Duration) -> bool {
    let mut poll = pollfd(fd);
    // SAFETY: one valid pollfd.
    let ready = unsafe { libc::poll(&mut poll, 1, wait.as_millis() as i32) };
    ready > 0
}

/// What one read gave; `None` at end of file or on an error.
fn read(fd: RawFd, buffer: &mut [u8]) -> Option<&[u8]> {
    loop {
        // SAFETY: reading into a buffer of this length.
        let n = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        return (n > 0).then(|| &buffer[..n as usize]);
    }
}

fn write_all(fd: RawFd, bytes: &[u8]) {
    // SAFETY: the fd stays open for this call; ManuallyDrop keeps it open after.
    let mut file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    let _ = file.write_all(bytes);
}

/// Gives `master` the user's window size when it changed since `last`.
fn copy_size(user: RawFd, master: RawFd, last: Option<(u16, u16)>) -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills a winsize; a failure leaves it zeroed.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(user, libc::TIOCGWINSZ, &mut size) } != 0 {
        return last;
    }
    let now = Some((size.ws_row, size.ws_col));
    if now != last {
        // SAFETY: TIOCSWINSZ reads the winsize given.
        unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &size) };
    }
    now
}
