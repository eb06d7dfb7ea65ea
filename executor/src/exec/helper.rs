//! The exec helper: a single-threaded copy of tanto that runs one step.
//!
//! ```text
//! engine (threads)        helper (outer)                 step pid 1 (inner)
//!   run() ──request──►  read request, open output files
//!                       unshare(NEWPID), fork ──────────► new mount namespace: /proc,
//!                                                         cgroup2 view, tmpfs, overlay,
//!                       watch: request pipe EOF,          mount points, libcontainer
//!                       timeout, reports  ◄──"created"──  create + start, reap, delete
//!                       SIGKILL pid 1 if needed ◄─"exited"
//!                       remove mount points from upper
//!   ◄──result──────────
//! ```
//!
//! Cleanup is the kernel's: when pid 1 dies every process of the step dies,
//! and when the last of them is gone its mount namespace, with the overlay,
//! the tmpfs holding config.json and secrets, and every bind, goes too. pid 1
//! dies with the outer helper (PDEATHSIG, reliable: the outer helper has one
//! thread), which itself ends when the engine closes or loses the request
//! pipe.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use serde::{Deserialize, Serialize};

use super::failure::{describe, Failure};
use super::network;
use super::request::ExecRequest;
use super::rootfs::{self, Root};
use super::sandbox::{self, Sandbox};
use super::spec::{self, StepSpec};
use super::user_terminal::TERMINAL_FD;
use super::{console, hosts, process, signals, step_mounts, trust, user};

/// What pid 1 tells the outer helper, one JSON line each.
#[derive(Serialize, Deserialize, Debug)]
enum Report {
    /// Paths (relative to the root) created for mounts; sent before the step starts.
    Created(Vec<PathBuf>),
    /// What went into the trust store; sent before the step starts.
    Trusted(trust::Installed),
    /// The step runs as root instead of its user, whose id (`uid 1000`)
    /// the namespace does not map (squash mode); sent before it starts.
    AsRootInstead(String),
    Exited(i32),
    Failed(Failure),
}

/// What the outer helper answers [`super::run`] with.
pub type Reply = Result<Finished, Failure>;

/// A step that ran.
#[derive(Serialize, Deserialize, Debug)]
pub struct Finished {
    pub exit_code: i32,
    /// Where the extra CA certificates went for the run.
    pub trust: trust::Installed,
    /// The unmapped id (`uid 1000`) of the user the step asked for, when
    /// it ran as root instead (squash mode).
    #[serde(default)]
    pub as_root_instead: Option<String>,
}

/// The outer helper's whole life. Returns the process exit code.
pub fn main() -> i32 {
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut line = String::new();
    if input.read_line(&mut line).is_err() {
        return 2;
    }
    let request: ExecRequest = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => {
            // Never echo the request: it holds secrets.
            return reply(&Err(Failure::HelperCrashed {
                detail: format!("unreadable request ({})", e.classify() as u8),
            }));
        }
    };
    drop(line);
    let sandbox = match std::env::var(sandbox::SANDBOX_ENV) {
        Ok(value) => Sandbox::from_env(&value),
        Err(_) => Sandbox::FULL,
    };
    std::env::remove_var(sandbox::SANDBOX_ENV);
    let result = supervise(&request, sandbox);
    reply(&result)
}

fn reply(result: &Reply) -> i32 {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, result);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
    0
}

fn command_name(request: &ExecRequest) -> String {
    request.args.first().cloned().unwrap_or_default()
}

fn open_output(path: &Path) -> Result<File, Failure> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Failure::OutputFile {
            path: path.to_owned(),
            detail: describe(e),
        })
}

/// Forks the step's pid 1 and watches it, the request pipe and the clock.
/// Without a pid namespace of its own (`sandbox.rs`) the step shares
/// tanto's, and this process kills whatever it leaves.
fn supervise(request: &ExecRequest, sandbox: Sandbox) -> Reply {
    let shared_pids = !sandbox.pids;
    let stdout = open_output(&request.stdout_path)?;
    let stderr = open_output(&request.stderr_path)?;
    let (report_read, report_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(crashed)?;
    if shared_pids {
        // Orphans of the step come back here, to be killed at the end.
        // SAFETY: prctl with these arguments has no memory effects.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    } else {
        unshare(CloneFlags::CLONE_NEWPID).map_err(|e| Failure::Prepare {
            what: "create a pid namespace".into(),
            detail: describe(e),
        })?;
    }
    // SAFETY: this process has one thread; the child only runs our code.
    let child = match unsafe { fork() }.map_err(crashed)? {
        ForkResult::Child => {
            drop(report_read);
            // SAFETY: prctl with these arguments has no memory effects.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
            }
            // getppid() is 0 here (the parent is outside the pid namespace):
            // check the parent is still there through the pipe it holds.
            if !reader_alive(&report_write) {
                // SAFETY: plain exit of a forked child.
                unsafe { libc::_exit(1) };
            }
            let mut reports = File::from(report_write);
            let report = match step(request, sandbox, &stdout, &stderr, &mut reports) {
                Ok(code) => Report::Exited(code),
                Err(failure) => Report::Failed(failure),
            };
            send(&mut reports, &report);
            // SAFETY: exit without running the parent's atexit handlers.
            unsafe { libc::_exit(0) };
        }
        ForkResult::Parent { child } => child,
    };
    drop(report_write);
    drop((stdout, stderr));

    let deadline = request.timeout.map(|t| Instant::now() + t);
    let mut reports = BufReader::new(File::from(report_read));
    let mut created = Vec::new();
    let mut trusted = trust::Installed::default();
    let mut as_root_instead = None;
    let mut outcome: Option<Result<i32, Failure>> = None;
    let mut killed_for: Option<Failure> = None;
    loop {
        let timeout_ms = match deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as i32,
            None => -1,
        };
        let mut fds = [
            libc::pollfd {
                fd: reports.get_ref().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: libc::STDIN_FILENO,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: valid pollfd array of this length.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as _, timeout_ms) };
        if ready < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        if ready == 0 {
            killed_for = Some(Failure::Timeout {
                command: command_name(request),
                timeout: request.timeout.unwrap_or_default(),
            });
            break;
        }
        if fds[1].revents != 0 {
            let mut byte = [0u8; 64];
            // SAFETY: reading into a local buffer.
            let n = unsafe { libc::read(libc::STDIN_FILENO, byte.as_mut_ptr().cast(), 64) };
            if n <= 0 {
                // The engine cancelled, or died.
                killed_for = Some(Failure::Cancelled {
                    command: command_name(request),
                });
                break;
            }
            if byte[..n as usize].contains(&TERMINATE) {
                // pid 1 passes it on to the step's process.
                let _ = kill(child, Signal::SIGTERM);
            }
        }
        if fds[0].revents != 0 {
            let mut line = String::new();
            match reports.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => match serde_json::from_str::<Report>(&line) {
                    Ok(Report::Created(paths)) => created.extend(paths),
                    Ok(Report::Trusted(installed)) => trusted = installed,
                    Ok(Report::AsRootInstead(id)) => as_root_instead = Some(id),
                    Ok(Report::Exited(code)) => outcome = Some(Ok(code)),
                    Ok(Report::Failed(failure)) => outcome = Some(Err(failure)),
                    Err(_) => break,
                },
            }
        }
    }
    if killed_for.is_some() || outcome.is_none() {
        let _ = kill(child, Signal::SIGKILL);
    }
    let status = waitpid(child, None);
    if shared_pids {
        // No pid 1 took the step's processes with it: whatever is left goes.
        sandbox::kill_descendants();
    }
    // pid 1 and with it the whole step are gone, and so is their mount
    // namespace: the upper dir can be tidied directly.
    let restore = match request.copied_root {
        Some(_) => trust::Restore::InCopy,
        None => trust::Restore::InUpper,
    };
    created.extend(trust::restore(
        request.changes_dir(),
        restore,
        &trusted,
        &request.ca_certificates,
    ));
    rootfs::remove_mount_points(
        request.changes_dir(),
        request.layers_below_changes(),
        &created,
    );
    for dir in ["rootfs", "run"] {
        let _ = std::fs::remove_dir(request.scratch_dir.join(dir));
    }
    if let Some(failure) = killed_for {
        return Err(failure);
    }
    let exit_code = outcome.unwrap_or_else(|| {
        Err(Failure::HelperCrashed {
            detail: format!("the step's pid 1 ended without a report ({status:?})"),
        })
    })?;
    Ok(Finished {
        exit_code,
        trust: trusted,
        as_root_instead,
    })
}

/// Whether the read end of a pipe is still open somewhere.
fn reader_alive(write_end: &OwnedFd) -> bool {
    let mut pollfd = libc::pollfd {
        fd: write_end.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pollfd, 1, 0) };
    pollfd.revents & libc::POLLERR == 0
}

fn crashed(e: nix::errno::Errno) -> Failure {
    Failure::HelperCrashed {
        detail: describe(e),
    }
}

fn send(reports: &mut File, report: &Report) {
    let mut line = serde_json::to_vec(report).expect("reports serialize");
    line.push(b'\n');
    let _ = reports.write_all(&line);
}

pub(super) fn mount_error(what: &str) -> impl Fn(nix::errno::Errno) -> Failure + '_ {
    move |e| Failure::Mount {
        what: what.to_owned(),
        detail: describe(e),
    }
}

pub(super) fn io_error(what: &str) -> impl Fn(std::io::Error) -> Failure + '_ {
    move |e| Failure::Prepare {
        what: what.to_owned(),
        detail: describe(e),
    }
}

/// True when `path` is the root of a cgroup2 file system.
/// pid 1 of the step: sets up the private mounts, runs the container,
/// returns its exit code.
fn step(
    request: &ExecRequest,
    sandbox: Sandbox,
    stdout: &File,
    stderr: &File,
    reports: &mut File,
) -> Result<i32, Failure> {
    // Before the private namespace mounts a /proc of the step's own, where
    // the engine's /proc/PID/fd/N path names nothing.
    if let Some(namespace) = &request.network_namespace {
        network::join(namespace)?;
    }
    step_mounts::private_namespace(&sandbox)?;
    if request.no_network {
        network::loopback_only()?;
    }

    let scratch = &request.scratch_dir;
    let (rootfs_dir, run) = (scratch.join("rootfs"), scratch.join("run"));
    for dir in [&rootfs_dir, &run] {
        std::fs::create_dir_all(dir).map_err(io_error("the helper's scratch directories"))?;
    }
    step_mounts::root_file_system(request, &rootfs_dir, &run)?;
    let root = Root::open(&rootfs_dir)?;
    let unmapped = match request.unmapped_user_as_root {
        true => user::Unmapped::RunAsRoot,
        false => user::Unmapped::Refuse,
    };
    let resolved = user::resolve(
        &request.user,
        &root.read_text("/etc/passwd"),
        &root.read_text("/etc/group"),
        &user::Mapped::own(),
        unmapped,
    )?;
    if let Some(id) = &resolved.instead {
        send(reports, &Report::AsRootInstead(id.clone()));
    }
    let identity = resolved.identity;

    let step_mounts::Requested {
        mounts: extra,
        wants_file,
    } = step_mounts::requested(request, &run)?;

    let hosts_file = run.join("hosts");
    std::fs::write(
        &hosts_file,
        hosts::generate(&request.hostname, &request.extra_hosts),
    )
    .map_err(io_error("/etc/hosts"))?;
    std::fs::set_permissions(&hosts_file, std::fs::Permissions::from_mode(0o644))
        .map_err(io_error("/etc/hosts"))?;
    let resolv_conf = match &request.resolv_conf {
        Some(text) => {
            let path = run.join("resolv.conf");
            std::fs::write(&path, text).map_err(io_error("/etc/resolv.conf"))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
                .map_err(io_error("/etc/resolv.conf"))?;
            Some(path)
        }
        None => std::fs::canonicalize("/etc/resolv.conf").ok(),
    };
    let nofile = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(_, hard)| hard.min(1_048_576))
        .unwrap_or(1024);
    let env = spec::environment(&request.env, &identity.home);
    process::check(
        &request.args,
        process::split_env(&env),
        &request.cwd,
        &request.user,
    )
    .map_err(Failure::BadProcess)?;
    let step_spec = StepSpec {
        rootfs: rootfs_dir.clone(),
        args: &request.args,
        env,
        cwd: &request.cwd,
        identity: &identity,
        hostname: if sandbox.hostname {
            &request.hostname
        } else {
            ""
        },
        hosts_file,
        resolv_conf,
        mounts: extra,
        nofile,
        terminal: request.terminal,
        own_pid_namespace: sandbox.pids,
        own_sysfs: (request.no_network || request.network_namespace.is_some()) && sandbox.sysfs,
    };

    // Create mount points now, so the outer helper knows what to remove;
    // /dev is a tmpfs of the container's own, anything under it lives there.
    let mut created = Vec::new();
    for m in spec::all_mounts(&step_spec) {
        if m.destination.starts_with("/dev/") {
            continue;
        }
        let file = m.kind == "bind"
            && (wants_file
                .iter()
                .any(|(d, file)| *d == m.destination && *file)
                || ["/etc/hosts", "/etc/resolv.conf"].contains(&m.destination.as_str()));
        created.extend(root.ensure(&m.destination, !file)?);
    }
    send(reports, &Report::Created(created));
    // The working directory is the step's own: created, and kept.
    root.ensure(&request.cwd, true)?;
    if request.args.is_empty() {
        return Err(Failure::Prepare {
            what: "the step's command".into(),
            detail: "no command given".into(),
        });
    }
    // Told before the step starts; a failure before that fails the step,
    // whose upper dir is then thrown away.
    let trusted =
        trust::plan(&root, &request.ca_certificates)?.apply(&root, request.changes_dir())?;
    send(reports, &Report::Trusted(trusted));

    let bundle = run.join("bundle");
    let state = run.join("state");
    std::fs::create_dir(&bundle).map_err(io_error("the bundle directory"))?;
    std::fs::create_dir(&state).map_err(io_error("the state directory"))?;
    spec::build(&step_spec)
        .save(bundle.join("config.json"))
        .map_err(|e| Failure::Prepare {
            what: "write config.json".into(),
            detail: describe(e),
        })?;
    drop(root);
    let console = match request.terminal {
        true => Some(console::ConsoleSocket::listen(&run)?),
        false => None,
    };
    run_container(request, &bundle, &state, stdout, stderr, console.as_ref())
}

fn stdin_fd(request: &ExecRequest) -> Result<OwnedFd, Failure> {
    match &request.stdin {
        None => File::open("/dev/null")
            .map(OwnedFd::from)
            .map_err(io_error("/dev/null")),
        Some(bytes) => {
            // A memfd: memory, not disk, and no writer thread needed.
            let fd = nix::sys::memfd::memfd_create(
                c"tanto-stdin",
                nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
            )
            .map_err(|e| Failure::Prepare {
                what: "the step's stdin".into(),
                detail: describe(e),
            })?;
            let mut file = File::from(fd);
            file.write_all(bytes)
                .map_err(io_error("the step's stdin"))?;
            std::io::Seek::rewind(&mut file).map_err(io_error("the step's stdin"))?;
            Ok(file.into())
        }
    }
}

fn run_container(
    request: &ExecRequest,
    bundle: &Path,
    state: &Path,
    stdout: &File,
    stderr: &File,
    console: Option<&console::ConsoleSocket>,
) -> Result<i32, Failure> {
    let container_error = |stage: &str| {
        let stage = stage.to_owned();
        move |e: libcontainer::error::LibcontainerError| Failure::Container {
            stage: stage.clone(),
            detail: error_chain(&e),
        }
    };
    let dup = |f: &File| f.try_clone().map(OwnedFd::from).map_err(io_error("dup"));
    let id = format!("tanto-{}", std::process::id());
    let builder = ContainerBuilder::new(id, SyscallType::default())
        .with_root_path(state)
        .map_err(container_error("configure"))?;
    let builder = match console {
        Some(console) => builder.with_console_socket(Some(&console.path)),
        None => builder
            .with_stdin(stdin_fd(request)?)
            .with_stdout(dup(stdout)?)
            .with_stderr(dup(stderr)?),
    };
    let mut container = builder
        .with_executor(signals::ResetThenExec)
        .as_init(bundle)
        .with_systemd(false)
        .with_detach(true)
        .build();
    let mut container = match container.as_mut() {
        Ok(c) => c.clone(),
        Err(e) => {
            let detail = error_chain(e);
            if let Some(code) = exec_failure(&detail, request, stderr) {
                return Ok(code);
            }
            return Err(Failure::Container {
                stage: "create".into(),
                detail,
            });
        }
    };
    container.start().map_err(container_error("start"))?;
    let init = Pid::from_raw(container.pid().map_or(-1, |p| p.as_raw()));
    forward_sigterm_to(init);
    if let Some(console) = console {
        let code = console
            .master()
            .and_then(|master| console::relay(master, TERMINAL_FD, init));
        let _ = container.delete(true);
        return code;
    }
    // Reap everything (this is pid 1) until the step's process is gone.
    let code = loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == init => break code,
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == init => break 128 + signal as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(crashed(e)),
        }
    };
    let _ = container.delete(true);
    Ok(code)
}

/// The byte on the request pipe that asks for a graceful stop: SIGTERM to
/// the step's process (`Cancel::terminate`).
pub(super) const TERMINATE: u8 = b'T';

/// The step's process, for [`pass_on_sigterm`].
static STEP_PROCESS: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Makes this pid 1 pass SIGTERM on to `init`, the step's process: as
/// pid 1 of its namespace it would not even get the signal without a
/// handler, and the step's process is what must stop.
fn forward_sigterm_to(init: Pid) {
    STEP_PROCESS.store(init.as_raw(), std::sync::atomic::Ordering::SeqCst);
    // SAFETY: the handler only calls kill(2), which is async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGTERM,
            pass_on_sigterm as *const () as libc::sighandler_t,
        );
    }
}

extern "C" fn pass_on_sigterm(_: libc::c_int) {
    let pid = STEP_PROCESS.load(std::sync::atomic::Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
}

/// The error and its causes, as one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text += &format!(": {cause}");
        source = cause.source();
    }
    text
}

/// A command that could not be executed is the step's failure, not tanto's:
/// like Docker, exit 127 (not found) or 126 (not executable) with the reason
/// on the step's stderr.
fn exec_failure(detail: &str, request: &ExecRequest, mut stderr: &File) -> Option<i32> {
    let command = command_name(request);
    let (code, message) = if detail.contains("not found in $PATH") {
        (127, "executable file not found in $PATH")
    } else if detail.contains("does not have correct permissions") {
        (126, "permission denied")
    } else {
        return None;
    };
    let _ = writeln!(stderr, "exec: {command:?}: {message}");
    Some(code)
}
