//! The user's terminal, lent to an interactive step (`Container.terminal`,
//! `tanto call -i`): opened as `/dev/tty`, in raw mode while the step runs
//! so that every key (Ctrl-C too) goes to the step's shell, and given back
//! as it was when the lease drops, whatever became of the step.
//!
//! The helper gets it as [`TERMINAL_FD`]; the step's pid 1 relays between
//! it and the container's own pseudo-terminal (`console.rs`).

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use nix::sys::termios::{self, SetArg, Termios};

use crate::Error;

/// Where the helper finds the user's terminal.
pub(super) const TERMINAL_FD: RawFd = 3;

/// The terminal, raw until dropped.
pub(super) struct UserTerminal {
    file: File,
    saved: Termios,
}

impl UserTerminal {
    pub fn lend() -> Result<UserTerminal, Error> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .map_err(|source| Error::NoTerminal { source })?;
        let saved = termios::tcgetattr(file.as_fd()).map_err(|source| Error::RawMode { source })?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(file.as_fd(), SetArg::TCSADRAIN, &raw)
            .map_err(|source| Error::RawMode { source })?;
        Ok(UserTerminal { file, saved })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl Drop for UserTerminal {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.file.as_fd(), SetArg::TCSADRAIN, &self.saved);
    }
}
