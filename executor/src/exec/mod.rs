//! Running one exec step: an overlay root file system, a process, its mounts,
//! through youki's libcontainer in a single-threaded helper process (see
//! `helper` for the process tree and why cleanup cannot be skipped), in a
//! cgroup of its own where the host delegates one (`crate::cgroup`).

mod console;
mod failure;
mod helper;
mod hosts;
mod network;
mod overlay_mount;
mod process;
mod request;
mod rootfs;
mod sandbox;
mod signals;
mod spec;
mod step_mounts;
mod trust;
mod user;
mod user_terminal;

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use overlay_mount::absolute_overlay_options;
pub use process::{check as check_process, BadProcess};
pub use request::{ExecOutcome, ExecRequest, Mount, MountKind, Secret};
pub use sandbox::{available as sandbox, network_namespace_available, Sandbox};

use crate::Error;
use failure::Failure;

/// Set in the helper's environment; its value is irrelevant.
const HELPER_ENV: &str = "_TANTO_EXEC_HELPER";

/// Cancels a running step from another thread: kills it, or first asks
/// it to stop (a service's graceful stop).
#[derive(Clone, Default, Debug)]
pub struct Cancel {
    cancelled: Arc<AtomicBool>,
    terminate: Arc<AtomicBool>,
}

impl Cancel {
    /// Kills the step.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Sends the step's process SIGTERM (once); it may end as it likes.
    pub fn terminate(&self) {
        self.terminate.store(true, Ordering::SeqCst);
    }

    /// Whether [`Cancel::terminate`] was asked.
    pub fn terminate_asked(&self) -> bool {
        self.terminate.load(Ordering::SeqCst)
    }
}

/// Call first thing in `main` of every binary that uses [`run`] (before
/// argument parsing, before any thread, before `userns::enter`): if this
/// process was spawned as the exec helper, runs it and exits; otherwise
/// returns.
pub fn dispatch_helper() {
    if std::env::var_os(HELPER_ENV).is_some() {
        std::env::remove_var(HELPER_ENV);
        std::process::exit(helper::main());
    }
}

/// How often a waiting [`run`] looks at its [`Cancel`].
const CANCEL_POLL: Duration = Duration::from_millis(50);
/// How long the helper gets beyond the step's timeout to report it.
const GRACE: Duration = Duration::from_secs(10);

/// Runs one step and waits for it. Blocking: call it from a dedicated
/// thread. The calling process must be root of tanto's user namespace
/// (`userns::enter`) and must call [`dispatch_helper`] at the start of main.
///
/// A step that runs and fails is `Ok` with its exit code; a command that
/// cannot be executed is exit code 127 (126 if not executable) with the
/// reason in the step's stderr file, as with Docker.
pub fn run(request: &ExecRequest, cancel: &Cancel) -> Result<ExecOutcome, Error> {
    let started = Instant::now();
    let command = request.args.first().cloned().unwrap_or_default();
    // Lent before the helper starts and given back once it is reaped
    // (locals drop in reverse order).
    let terminal = match request.terminal {
        true => Some(user_terminal::UserTerminal::lend()?),
        false => None,
    };
    let terminal_fd = terminal.as_ref().map(|t| t.raw_fd());
    let mut helper = Command::new("/proc/self/exe");
    helper
        .arg0("tanto-exec-helper")
        .env(HELPER_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    helper.env(sandbox::SANDBOX_ENV, sandbox::available().to_env());
    // SAFETY: prctl is async-signal-safe. A second line of defence only: the
    // helper dies with this thread, but it watches its stdin for the engine.
    unsafe {
        helper.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if let Some(fd) = terminal_fd {
                // Out of the way first: the terminal may sit on TERMINAL_FD
                // already, and dup2 onto itself would keep close-on-exec.
                let moved = libc::fcntl(fd, libc::F_DUPFD, 10);
                if moved < 0 || libc::dup2(moved, user_terminal::TERMINAL_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    // Made before the helper so that it is removed after the helper is
    // reaped (locals drop in reverse order).
    let cgroup = crate::cgroup::for_step();
    let mut child = helper
        .spawn()
        .map_err(|source| Error::HelperSpawn { source })?;
    // Before it has its request the helper forks nothing: its pid 1 and
    // the container start in the step's cgroup.
    if let Some(Err(e)) = cgroup.as_ref().map(|c| c.enter(child.id())) {
        crate::cgroup::warn_once(&e);
    }
    let mut to_helper = child.stdin.take();
    let from_helper = child.stdout.take().expect("piped stdout");
    let mut line = serde_json::to_vec(request).expect("requests serialize");
    line.push(b'\n');
    let sent = to_helper.as_mut().map(|pipe| pipe.write_all(&line));
    // The serialized request holds secret values: do not keep it around.
    line.fill(0);
    drop(line);
    if let Some(Err(source)) = sent {
        let _ = child.kill();
        let _ = child.wait();
        return Err(Error::HelperRequest { source });
    }

    let deadline = request.timeout.map(|t| started + t + GRACE);
    let fd = from_helper.as_raw_fd();
    let mut terminated = false;
    loop {
        if cancel.is_cancelled() && to_helper.is_some() {
            // EOF on its request pipe: the helper kills the step and tidies up.
            to_helper = None;
        }
        if cancel.terminate_asked() && !terminated {
            terminated = true;
            if let Some(pipe) = to_helper.as_mut() {
                let _ = pipe.write_all(&[helper::TERMINATE]);
            }
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            let _ = child.kill();
            break;
        }
        let mut pollfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pollfd, 1, CANCEL_POLL.as_millis() as i32) };
        if ready > 0 {
            break;
        }
    }
    let mut answer = String::new();
    let _ = BufReader::new(from_helper).read_line(&mut answer);
    drop(to_helper);
    let status = child.wait();
    let reply: helper::Reply = serde_json::from_str(&answer).unwrap_or_else(|_| {
        Err(Failure::HelperCrashed {
            detail: format!("it ended ({status:?}) without an answer"),
        })
    });
    match reply {
        Ok(finished) => {
            if let Some(id) = &finished.as_root_instead {
                user::warn_as_root_once(&request.user, id, &command);
            }
            if !request.ca_certificates.is_empty() {
                log_trust(&command, &finished.trust);
            }
            Ok(ExecOutcome {
                exit_code: finished.exit_code,
                duration: started.elapsed(),
            })
        }
        // Whatever went wrong after a cancel, the caller asked for it.
        Err(_) if cancel.is_cancelled() => Err(Error::Cancelled { command }),
        Err(failure) => Err(failure.into()),
    }
}

/// Says at debug level where the extra CA certificates went for a step.
fn log_trust(command: &str, trust: &trust::Installed) {
    let shown = |paths: &mut dyn Iterator<Item = &std::path::PathBuf>| {
        paths
            .map(|p| format!("/{}", p.display()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if trust.found.is_empty() {
        tracing::debug!(
            "{command}: the image has no trust store (none of {}), so it gets no extra CA certificates",
            trust::BUNDLES.join(", ")
        );
    } else if trust.bundles.is_empty() {
        tracing::debug!(
            "{command}: the image's trust store ({}) already holds every extra CA certificate",
            shown(&mut trust.found.iter())
        );
    } else {
        tracing::debug!(
            "{command}: extra CA certificates added to {} for the step's run",
            shown(&mut trust.bundles.iter().map(|b| &b.path))
        );
    }
}
