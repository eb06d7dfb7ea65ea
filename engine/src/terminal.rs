//! Interactive shells on the user's terminal: `Container::terminal` (Dagger's
//! `terminal`), and a shell in what a failed step left when the embedder
//! asks for it (`tanto call -i`). The engine lends the terminal only
//! through [`TerminalAccess`], given by whoever owns the screen (the
//! `cli`, whose progress display stops drawing meanwhile); one shell at a
//! time, however many steps fail at once.

use std::sync::{Arc, Mutex};

use executor::{Cancel, ExecRequest};

use crate::error::Error;

/// What the embedder is told around a shell.
#[derive(Debug)]
pub enum Shell<'a> {
    /// A shell is about to take the terminal; why, in a sentence.
    Opening(&'a str),
    /// It is gone and the terminal is back as it was.
    Closed,
}

/// The user's terminal, lent to the engine for interactive shells.
#[derive(Clone)]
pub struct TerminalAccess {
    /// Called around each shell: a display that draws on the terminal
    /// must stop before it returns from `Opening`.
    pub hand_over: Arc<dyn Fn(Shell<'_>) + Send + Sync>,
    /// Opens a shell where an exec step failed, in the file system it
    /// left, before the failure is reported (`dagger call -i`).
    pub debug_failures: bool,
}

/// The terminal an engine was given, and the one shell at a time.
#[derive(Default)]
pub(crate) struct Terminal {
    access: Option<TerminalAccess>,
    one_at_a_time: Mutex<()>,
}

impl Terminal {
    pub fn new(access: Option<TerminalAccess>) -> Terminal {
        Terminal {
            access,
            one_at_a_time: Mutex::new(()),
        }
    }

    pub fn debugs_failures(&self) -> bool {
        self.access.as_ref().is_some_and(|a| a.debug_failures)
    }

    /// Runs `request` as an interactive shell on the terminal (blocking);
    /// its exit code.
    pub fn open(&self, mut request: ExecRequest, why: &str) -> Result<i32, Error> {
        let access = self.access.as_ref().ok_or(Error::NoTerminal)?;
        let _turn = self.one_at_a_time.lock().unwrap_or_else(|e| e.into_inner());
        request.terminal = true;
        request.stdin = None;
        if !request.env.iter().any(|kv| kv.starts_with("TERM=")) {
            let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
            request.env.push(format!("TERM={term}"));
        }
        (access.hand_over)(Shell::Opening(why));
        let outcome = executor::run(&request, &Cancel::default());
        (access.hand_over)(Shell::Closed);
        let command = request.args.join(" ");
        outcome
            .map(|o| o.exit_code)
            .map_err(|source| Error::Terminal {
                command,
                source: Box::new(source),
            })
    }
}
