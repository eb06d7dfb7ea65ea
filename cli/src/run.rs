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

use crate::progress::{Mode, Progress};
use crate::relay;

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
    registries: &crate::engine_start::Registries,
    progress: &crate::progress::Options,
    args: Args,
) -> anyhow::Result<ExitCode> {
    // A live view needs the screen to itself: see relay.rs. Otherwise the
    // session shows its progress on our stderr, which it inherits.
    let live = progress.mode.resolve(progress.verbose) == Mode::Tty;
    let tanto =
        std::env::current_exe().context("cannot find the tanto binary to start the session")?;
    let mut session = Command::new(tanto);
    session
        .arg("--root")
        .arg(store_root)
        .args(registries.args());
    session.arg("--progress");
    if live {
        session.arg(Mode::Events.as_arg()).stderr(Stdio::piped());
    } else {
        session.arg(progress.mode.as_arg());
        if let Some(timings) = &progress.timings {
            session.arg("--timings").arg(
                std::path::absolute(timings)
                    .with_context(|| format!("cannot resolve {}", timings.display()))?,
            );
        }
    }
    if progress.verbose {
        session.arg("--verbose");
    }
    let shown = live.then(|| {
        Progress::start(&crate::progress::Options {
            mode: Mode::Tty,
            ..progress.clone()
        })
    });
    session
        .arg("session")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // Its own process group: Ctrl-C goes to CMD, which decides; the
        // session ends when CMD has.
        .process_group(0);
    // Its standard input closing already ends it; SIGTERM (which it handles
    // the same way, cancelling steps) covers a copy of that pipe leaking.
    let us = std::process::id() as libc::pid_t;
    // SAFETY: as for CMD below.
    unsafe {
        session.pre_exec(move || {
            die_with_parent(us, libc::SIGTERM);
            Ok(())
        })
    };
    let mut session = session.spawn().context("cannot start the tanto session")?;
    let session_updates = match (&shown, session.stderr.take()) {
        (Some(shown), Some(stderr)) => Some(relay::session_updates(stderr, shown.observer_fn())),
        _ => None,
    };
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
        if let Some(updates) = session_updates {
            updates.drain();
        }
        drop(shown);
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
    let pty = match live {
        true => Some(relay::Pty::open()?),
        false => None,
    };
    if let Some(pty) = &pty {
        let (stdout, stderr) = pty.outputs()?;
        command.stdout(stdout).stderr(stderr);
    }
    // CMD dies with us, even by SIGKILL: it has nothing to talk to once the
    // session has gone. SIGKILL, not SIGTERM: nobody is left to escalate if
    // CMD handles SIGTERM and lingers. PDEATHSIG fires when the forking
    // *thread* exits: this is the main thread, which lives until we exit.
    let us = std::process::id() as libc::pid_t;
    // SAFETY: signal(2), prctl(2), getppid(2) and raise(3) are
    // async-signal-safe. An ignored signal stays ignored across exec: CMD
    // gets Ctrl-C back.
    unsafe {
        command.pre_exec(move || {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            die_with_parent(us, libc::SIGKILL);
            Ok(())
        })
    };
    let child = command.spawn();
    // The command holds copies of the terminal's program end: only the
    // program may keep it open, so that its end is our end of output.
    drop(command);
    let program_output = match (pty, &shown) {
        (Some(pty), Some(shown)) => Some(pty.forward(shown.observer_fn())),
        _ => None,
    };
    let status = child.and_then(|mut child| child.wait());
    if let Some(output) = program_output {
        output.drain();
    }
    // Closing its standard input ends the session, and cancels what runs.
    drop(session.stdin.take());
    let session_status = session
        .wait()
        .context("cannot wait for the tanto session")?;
    if let Some(updates) = session_updates {
        updates.drain();
    }
    if let Some(shown) = shown {
        // The summary and any failure: the last thing on screen.
        shown.finish(true, || {})?;
    }
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

/// In a child before exec: `signal` when `parent` exits, including if it
/// already has (between fork and here).
fn die_with_parent(parent: libc::pid_t, signal: libc::c_int) {
    // SAFETY: prctl, getppid and raise are async-signal-safe.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong);
        if libc::getppid() != parent {
            libc::raise(signal);
        }
    }
}
