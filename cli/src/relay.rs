//! The live view of `tanto run`, which shares the terminal with the
//! program it runs.
//!
//! A live view redraws its area of the screen, so anything else printed
//! there would be drawn over. So in that mode `tanto run` owns the screen:
//! the session sends its updates as JSON lines on its stderr
//! (`--progress=events`), and the program writes to a pseudo-terminal of
//! ours, so it still sees a terminal (line-buffered, with colors) while
//! its lines reach the scrollback above the live view, in order.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read};
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::process::{ChildStderr, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;

use crate::progress::lines::Lines;
use crate::progress::{Update, EVENT_MARK};

/// How long the end of the program's or session's output is waited for,
/// when something they started still holds it open.
const DRAIN: Duration = Duration::from_secs(2);

/// A thread forwarding lines to the progress, and how to know it is done.
pub struct Forwarding {
    done: mpsc::Receiver<()>,
    _thread: JoinHandle<()>,
}

impl Forwarding {
    /// Waits (a little) for the rest of what it forwards.
    pub fn drain(self) {
        let _ = self.done.recv_timeout(DRAIN);
    }
}

fn forward(
    send: impl Fn(Update) + Send + 'static,
    work: impl FnOnce(&dyn Fn(Update)) + Send + 'static,
) -> Forwarding {
    let (done_tx, done) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        work(&send);
        let _ = done_tx.send(());
    });
    Forwarding {
        done,
        _thread: thread,
    }
}

/// The session's stderr: its updates, and any other line as it is.
pub fn session_updates(stderr: ChildStderr, send: impl Fn(Update) + Send + 'static) -> Forwarding {
    forward(send, move |send| {
        for line in BufReader::new(stderr).split(b'\n') {
            let Ok(line) = line else { break };
            let text = String::from_utf8_lossy(&line);
            let update = text
                .strip_prefix(EVENT_MARK)
                .and_then(|json| serde_json::from_str(json).ok())
                .and_then(|value| Update::from_json(&value));
            send(update.unwrap_or_else(|| Update::Say {
                text: text.into_owned(),
            }));
        }
    })
}

/// A pseudo-terminal for the program's stdout and stderr.
pub struct Pty {
    master: OwnedFd,
    slave: OwnedFd,
}

impl Pty {
    /// Sized like our own terminal.
    pub fn open() -> anyhow::Result<Pty> {
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: TIOCGWINSZ fills a winsize; zeroed is a valid fallback.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) };
        // SAFETY: openpty writes two fds; no name buffer, default termios.
        let opened = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        if opened != 0 {
            return Err(std::io::Error::last_os_error())
                .context("cannot open a pseudo-terminal for the program's output");
        }
        // SAFETY: both fds were just opened and are ours alone.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        // The program must not inherit our end.
        // SAFETY: fcntl on an fd we own.
        unsafe {
            libc::fcntl(
                std::os::fd::AsRawFd::as_raw_fd(&master),
                libc::F_SETFD,
                libc::FD_CLOEXEC,
            )
        };
        Ok(Pty { master, slave })
    }

    /// The program's stdout and stderr.
    pub fn outputs(&self) -> anyhow::Result<(Stdio, Stdio)> {
        let out = self
            .slave
            .try_clone()
            .context("cannot share the pseudo-terminal")?;
        let err = self
            .slave
            .try_clone()
            .context("cannot share the pseudo-terminal")?;
        Ok((Stdio::from(out), Stdio::from(err)))
    }

    /// Forwards what the program writes, line by line, until it and
    /// everything it started have closed the terminal.
    pub fn forward(self, send: impl Fn(Update) + Send + 'static) -> Forwarding {
        // Only the program holds the terminal now: its end is our EOF.
        drop(self.slave);
        let mut master = File::from(self.master);
        forward(send, move |send| {
            let mut lines = Lines::default();
            let mut buffer = [0u8; 8192];
            loop {
                // EIO is how a pseudo-terminal says every writer is gone.
                let n = match master.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                for line in lines.push(&buffer[..n]) {
                    send(said(&line));
                }
            }
            if let Some(line) = lines.finish() {
                send(said(&line));
            }
        })
    }
}

/// A line of the program's as it would have shown: colors kept, the
/// terminal's carriage return gone.
fn said(line: &[u8]) -> Update {
    let text = String::from_utf8_lossy(line);
    Update::Say {
        text: text.strip_suffix('\r').unwrap_or(&text).to_owned(),
    }
}
