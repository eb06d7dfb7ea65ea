//! `terminal`: an interactive shell in the container, or over a
//! directory, on the user's terminal (see `crate::terminal`), for looking
//! around a pipeline as it stands. What the shell changes is thrown away,
//! as with Dagger.

use std::sync::Arc;

use crate::error::Error;
use crate::ops::open_terminal;
use crate::values::Directory;

use super::Container;

/// What a terminal runs when it is not told: Dagger's fallback.
const DEFAULT_COMMAND: &str = "sh";

/// The image a directory's terminal opens in when it is given no
/// container: Dagger's (its `distconsts.AlpineImage` at 0.21).
const DEFAULT_DIRECTORY_TERMINAL_IMAGE: &str = "alpine:3.22.1";

/// Where a directory's terminal shows the directory, as Dagger mounts it.
const DIRECTORY_TERMINAL_PATH: &str = "/src";

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

impl Directory {
    /// Opens `command` (default `sh`) in `container` (default: Dagger's
    /// Alpine image) with this directory mounted read-only at `/src`, the
    /// shell's working directory; its exit code.
    pub async fn terminal(
        &self,
        container: Option<&Container>,
        command: &[String],
    ) -> Result<i32, Error> {
        let base = match container {
            Some(container) => container.clone(),
            None => Container::new(Arc::clone(&self.ctx)).from(DEFAULT_DIRECTORY_TERMINAL_IMAGE),
        };
        let command = match command {
            [] => vec![DEFAULT_COMMAND.to_owned()],
            given => given.to_vec(),
        };
        base.with_workdir(DIRECTORY_TERMINAL_PATH)
            .with_mounted_directory(DIRECTORY_TERMINAL_PATH, self, true)
            .terminal(&command)
            .await
    }
}
