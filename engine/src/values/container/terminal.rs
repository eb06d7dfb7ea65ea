//! `terminal`: an interactive shell in the container, on the user's
//! terminal (see `crate::terminal`), for looking around a pipeline as it
//! stands. What the shell changes is thrown away, as with Dagger.

use crate::error::Error;
use crate::ops::open_terminal;

use super::Container;

/// What a terminal runs when it is not told: Dagger's fallback.
const DEFAULT_COMMAND: &str = "sh";

impl Container {
    /// Opens `command` (default: `withDefaultTerminalCmd`'s, else `sh`) in this container — its file system,
    /// mounts, env, workdir and user — on the user's terminal, and waits
    /// until it ends; its exit code. Fails with [`Error::NoTerminal`] when
    /// the engine was given no terminal.
    pub async fn terminal(&self, command: &[String]) -> Result<i32, Error> {
        let command = match command {
            [] => match self.settings().await?.terminal_cmd.clone() {
                set if !set.is_empty() => set,
                _ => vec![DEFAULT_COMMAND.to_owned()],
            },
            given => given.to_vec(),
        };
        let shell = self.with_exec(command);
        let node = shell
            .last_exec
            .as_ref()
            .expect("withExec sets the last exec");
        open_terminal(&self.ctx, node).await
    }
}
