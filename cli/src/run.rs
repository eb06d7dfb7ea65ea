//! `tanto run [--] CMD ARGS…`: runs a program that uses a Dagger SDK against
//! a tanto session. The session runs as `tanto session` (in tanto's user
//! namespace); CMD runs as the user, outside it, with
//! `DAGGER_SESSION_PORT` and `DAGGER_SESSION_TOKEN` set. tanto exits with
//! CMD's status once the session has shut down.

use std::io::BufRead as _;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context as _};

#[derive(clap::Args)]
pub struct Args {
    /// The program and its arguments
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    command: Vec<String>,
}

pub fn run(
    store_root: &Path,
    progress: &crate::progress::Options,
    args: Args,
) -> anyhow::Result<ExitCode> {
    let tanto =
        std::env::current_exe().context("cannot find the tanto binary to start the session")?;
    let mut session = Command::new(tanto);
    session
        .arg("--root")
        .arg(store_root)
        // The session shows the progress: its stderr is ours.
        .arg("--progress")
        .arg(progress.mode.as_arg());
    if let Some(timings) = &progress.timings {
        session.arg("--timings").arg(
            std::path::absolute(timings)
                .with_context(|| format!("cannot resolve {}", timings.display()))?,
        );
    }
    if progress.verbose {
        session.arg("--verbose");
    }
    let mut session = session
        .arg("session")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // Its own process group: Ctrl-C goes to CMD, which decides; the
        // session ends when CMD has.
        .process_group(0)
        .spawn()
        .context("cannot start the tanto session")?;
    let mut line = String::new();
    std::io::BufReader::new(session.stdout.take().expect("piped"))
        .read_line(&mut line)
        .context("cannot read the session's address")?;
    let (port, token) = match serde_json::from_str::<serde_json::Value>(&line) {
        Ok(v) => (
            v["port"].as_u64(),
            v["session_token"].as_str().map(str::to_owned),
        ),
        Err(_) => (None, None),
    };
    let (Some(port), Some(token)) = (port, token) else {
        let status = session.wait()?;
        bail!("the tanto session did not start ({status}); see the messages above");
    };
    // Ctrl-C reaches CMD (same process group as us), which decides what to
    // do; we stay to shut the session down after it.
    // SAFETY: setting SIGINT to ignored has no preconditions.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    let mut command = Command::new(&args.command[0]);
    command
        .args(&args.command[1..])
        .env("DAGGER_SESSION_PORT", port.to_string())
        .env("DAGGER_SESSION_TOKEN", &token);
    // SAFETY: signal(2) is async-signal-safe. An ignored signal stays
    // ignored across exec: CMD gets Ctrl-C back.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        })
    };
    let status = command.status();
    // Closing its standard input ends the session, and cancels what runs.
    drop(session.stdin.take());
    let session_status = session
        .wait()
        .context("cannot wait for the tanto session")?;
    let status = status.with_context(|| format!("cannot run {:?}", args.command[0]))?;
    if !session_status.success() {
        tracing::warn!("the tanto session ended with {session_status}");
    }
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code as u8),
        (None, Some(signal)) => ExitCode::from(128 + signal as u8),
        _ => ExitCode::FAILURE,
    })
}
