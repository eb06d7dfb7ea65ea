//! Rootless operation: re-entering tanto in a user + mount namespace where it is
//! "root" over the caller's subordinate id range, the way podman's pause
//! process and rootlesskit do.
//!
//! ```text
//! tanto (the user)                      tanto (re-executed, same argv)
//!   spawn /proc/self/exe  ───────────►  unshare(USER|NS), write "ready"
//!   newuidmap/newgidmap <pid>           ...waits...
//!   write "go"            ───────────►  setresuid(0), private mounts, run
//!   wait, relay exit code ◄───────────  exit
//! ```
//!
//! Inside, unpacked files get their real owners (uid N of the image is
//! subordinate id N-1 on the host), overlay mounts with `userxattr`, and
//! whiteouts (char 0/0) can be created. Without subordinate ids the namespace
//! maps the user alone, and images that own files by other ids fail to unpack
//! unless the user asks for their owners to be squashed into that one id (the
//! engine's `TANTO_SINGLE_ID=squash`; [`maps_single_id`] tells the mode).
//!
//! [`enter`] must run before any thread starts: `unshare(CLONE_NEWUSER)` fails
//! in a multi-threaded process.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sched::{unshare, CloneFlags};
use nix::unistd::{getegid, geteuid, Gid, Uid, User};

use crate::capabilities;
use crate::Error;

/// Set in the re-executed child's environment to the mapping it got.
const CHILD_ENV: &str = "_TANTO_USERNS_CHILD";
const READY_FD: i32 = 3;
const GO_FD: i32 = 4;

/// A contiguous range of subordinate ids from /etc/subuid or /etc/subgid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdRange {
    pub start: u32,
    pub count: u32,
}

/// How ids are mapped in the namespace tanto runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mapping {
    /// Real root, no namespace needed.
    HostRoot,
    /// Root without the privileges tanto needs (a container's root, with
    /// no `CAP_SYS_ADMIN`): root of a user namespace of its own over every
    /// id it has, mapped to themselves.
    ContainerRoot,
    /// The user as root plus their subordinate ranges as ids 1 and up.
    Subordinate,
    /// The user as root and nothing else.
    SingleId,
}

impl Mapping {
    fn code(self) -> &'static str {
        match self {
            Mapping::HostRoot => "host",
            Mapping::ContainerRoot => "container",
            Mapping::Subordinate => "subordinate",
            Mapping::SingleId => "single",
        }
    }
}

/// The first range for `user` (by name or numeric uid) in a subid file.
pub fn subordinate_range(file: &Path, user: &str, uid: u32) -> Option<IdRange> {
    let text = std::fs::read_to_string(file).ok()?;
    parse_subordinate(&text, user, uid)
}

fn parse_subordinate(text: &str, user: &str, uid: u32) -> Option<IdRange> {
    text.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let (owner, start, count) = (fields.next()?, fields.next()?, fields.next()?);
        if owner != user && owner.parse() != Ok(uid) {
            return None;
        }
        Some(IdRange {
            start: start.parse().ok()?,
            count: count.parse().ok().filter(|&c| c > 0)?,
        })
    })
}

/// The calling user's subordinate uid and gid ranges, if both exist.
pub fn own_ranges() -> Option<(IdRange, IdRange)> {
    let uid = geteuid();
    let name = User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default();
    let uids = subordinate_range(Path::new("/etc/subuid"), &name, uid.as_raw())?;
    let gids = subordinate_range(Path::new("/etc/subgid"), &name, uid.as_raw())?;
    Some((uids, gids))
}

/// Makes sure the process runs as root of a user namespace (or as real
/// root), re-executing itself if needed. Returns in the process that should do
/// the work; in the original unprivileged process it never returns: that one
/// waits for the namespaced copy and exits with its status.
pub fn enter() -> Result<Mapping, Error> {
    if let Some(code) = std::env::var_os(CHILD_ENV) {
        return enter_as_child(code);
    }
    if geteuid().is_root() && capabilities::effective().has(capabilities::SYS_ADMIN) {
        return Ok(Mapping::HostRoot);
    }
    let status = spawn_namespaced_copy()?;
    std::process::exit(status);
}

/// The child's half: unshare, let the parent map ids, become root.
fn enter_as_child(code: OsString) -> Result<Mapping, Error> {
    // SAFETY: the parent passed these two pipe ends at these numbers; we take
    // ownership once.
    let (mut ready, mut go) = unsafe { (File::from_raw_fd(READY_FD), File::from_raw_fd(GO_FD)) };
    // Children of this process (helpers, steps) must not take this path.
    std::env::remove_var(CHILD_ENV);
    let mapping = match code.to_str() {
        Some("subordinate") => Mapping::Subordinate,
        Some("container") => Mapping::ContainerRoot,
        _ => Mapping::SingleId,
    };
    // Die with the parent: it is the one the user's Ctrl-C and kill reach.
    // SAFETY: prctl with these arguments has no memory effects.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS)
        .map_err(|e| Error::Unshare { source: e.into() })?;
    ready
        .write_all(b"r")
        .map_err(|source| Error::Handshake { source })?;
    let mut answer = [0u8; 1];
    ready.flush().ok();
    go.read_exact(&mut answer)
        .map_err(|source| Error::Handshake { source })?;
    if answer[0] != b'g' {
        return Err(Error::Handshake {
            source: std::io::Error::other("the parent could not map ids"),
        });
    }
    let root = (Uid::from_raw(0), Gid::from_raw(0));
    nix::unistd::setresgid(root.1, root.1, root.1)
        .map_err(|e| Error::BecomeRoot { source: e.into() })?;
    if mapping != Mapping::SingleId {
        // Drop supplementary groups: they would show up as nogroup inside.
        nix::unistd::setgroups(&[]).map_err(|e| Error::BecomeRoot { source: e.into() })?;
    }
    nix::unistd::setresuid(root.0, root.0, root.0)
        .map_err(|e| Error::BecomeRoot { source: e.into() })?;
    // Mounts made from here on stay in this namespace.
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| Error::BecomeRoot { source: e.into() })?;
    Ok(mapping)
}

static CHILD_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward_signal(signal: libc::c_int) {
    let pid = CHILD_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, signal) };
    }
}

/// The parent's half: spawn, map, release, wait. Returns the exit status to
/// exit with.
fn spawn_namespaced_copy() -> Result<i32, Error> {
    let ranges = own_ranges();
    let mapping = if geteuid().is_root() {
        tracing::debug!(
            "root without CAP_SYS_ADMIN (in a container): entering a user namespace over this one's ids"
        );
        Mapping::ContainerRoot
    } else if ranges.is_some() {
        Mapping::Subordinate
    } else {
        let user = User::from_uid(geteuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_default();
        tracing::warn!(
            "user {user} has no subordinate ids in /etc/subuid and /etc/subgid: running with a single-id \
             mapping, so images whose files belong to other users will fail to unpack \
             (unless TANTO_SINGLE_ID=squash gives every file to you). \
             Add a range (e.g. `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}`); \
             `tanto doctor` checks the setup"
        );
        Mapping::SingleId
    };
    let (ready_read, ready_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(pipe_error)?;
    let (go_read, go_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(pipe_error)?;

    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "tanto".into());
    let mut command = Command::new("/proc/self/exe");
    command
        .arg0(argv0)
        .args(args)
        .env(CHILD_ENV, mapping.code());
    let (child_ready, child_go) = (ready_write.as_raw_fd(), go_read.as_raw_fd());
    // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            // Move out of the way first: the pipes may already sit on 3 or 4.
            let ready = libc::fcntl(child_ready, libc::F_DUPFD, 10);
            let go = libc::fcntl(child_go, libc::F_DUPFD, 10);
            if ready < 0 || go < 0 || libc::dup2(ready, READY_FD) < 0 || libc::dup2(go, GO_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|source| Error::Spawn { source })?;
    drop((ready_write, go_read));
    let pid = child.id() as i32;
    CHILD_PID.store(pid, Ordering::SeqCst);
    // A terminal's Ctrl-C reaches both processes; the child decides what it
    // means. Signals sent to this process alone are passed on.
    // SAFETY: installing handlers that only call kill(2).
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
        for signal in [libc::SIGTERM, libc::SIGHUP] {
            libc::signal(
                signal,
                forward_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }

    let mut ready = File::from(ready_read);
    let mut byte = [0u8; 1];
    if ready.read_exact(&mut byte).is_ok() {
        let mapped = match (mapping, ranges) {
            (Mapping::ContainerRoot, _) => map_own_ids(pid),
            (Mapping::Subordinate, Some((uids, gids))) => map_subordinate(pid, uids, gids),
            _ => map_single(pid),
        };
        let mut go = File::from(go_write);
        match mapped {
            Ok(()) => go
                .write_all(b"g")
                .map_err(|source| Error::Handshake { source })?,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        }
    }
    let status = child.wait().map_err(|source| Error::Spawn { source })?;
    Ok(
        match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(code), _) => code,
            (None, Some(signal)) => 128 + signal,
            (None, None) => 1,
        },
    )
}

fn pipe_error(e: nix::errno::Errno) -> Error {
    Error::Spawn { source: e.into() }
}

fn map_subordinate(pid: i32, uids: IdRange, gids: IdRange) -> Result<(), Error> {
    let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
    for (tool, own, range) in [("newuidmap", uid, uids), ("newgidmap", gid, gids)] {
        let output = Command::new(tool)
            .args([pid.to_string(), "0".into(), own.to_string(), "1".into()])
            .args(["1".into(), range.start.to_string(), range.count.to_string()])
            .output()
            .map_err(|source| Error::IdMapTool { tool, source })?;
        if !output.status.success() {
            return Err(Error::IdMapFailed {
                tool,
                detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
    }
    Ok(())
}

/// Every id this process's namespace has, to itself: root here holds
/// `CAP_SETUID` and `CAP_SETGID` over them, so no helper is needed.
fn map_own_ids(pid: i32) -> Result<(), Error> {
    for (file, own) in [
        ("uid_map", "/proc/self/uid_map"),
        ("gid_map", "/proc/self/gid_map"),
    ] {
        let ranges =
            std::fs::read_to_string(own).map_err(|source| Error::WriteIdMap { file, source })?;
        std::fs::write(format!("/proc/{pid}/{file}"), identity_map(&ranges))
            .map_err(|source| Error::WriteIdMap { file, source })?;
    }
    Ok(())
}

/// `inside outside count` lines of a map, as the ids `inside` mapped to
/// themselves. All 2³² ids are one short: libcontainer takes a map of
/// the whole range for the host's own (`is_in_new_userns`) and would make
/// device nodes and cgroups as real root, which a container's root cannot.
/// The id left out, 4294967294, is the one below the invalid -1.
fn identity_map(own: &str) -> String {
    own.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (inside, _, count) = (fields.next()?, fields.next()?, fields.next()?);
            let count = match count {
                "4294967295" => "4294967294",
                count => count,
            };
            Some(format!("{inside} {inside} {count}\n"))
        })
        .collect()
}

fn map_single(pid: i32) -> Result<(), Error> {
    let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
    let proc = format!("/proc/{pid}");
    for (file, content) in [
        ("setgroups", "deny".to_owned()),
        ("uid_map", format!("0 {uid} 1")),
        ("gid_map", format!("0 {gid} 1")),
    ] {
        std::fs::write(format!("{proc}/{file}"), content)
            .map_err(|source| Error::WriteIdMap { file, source })?;
    }
    Ok(())
}

/// Whether this process's user namespace maps a single uid or gid (tanto's
/// single-id fallback, or any namespace set up that way): then files and
/// steps can only ever be owned by, and run as, that one id.
pub fn maps_single_id() -> bool {
    ["uid_map", "gid_map"].iter().any(|file| {
        std::fs::read_to_string(format!("/proc/self/{file}"))
            .is_ok_and(|map| mapped_count(&map) == 1)
    })
}

/// How many ids a `/proc/<pid>/[ug]id_map` maps.
fn mapped_count(map: &str) -> u64 {
    map.lines()
        .filter_map(|line| line.split_whitespace().nth(2)?.parse::<u64>().ok())
        .sum()
}

/// Whether this process may create a user namespace at all, tried in a
/// throwaway child so the caller stays as it is.
pub fn can_create_user_namespace() -> bool {
    // SAFETY: the child only calls unshare and _exit.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            let ok = unshare(CloneFlags::CLONE_NEWUSER).is_ok();
            // SAFETY: _exit is always safe in a forked child.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => matches!(
            nix::sys::wait::waitpid(child, None),
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0))
        ),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_containers_ids_map_to_themselves() {
        assert_eq!(
            identity_map("         0          0 4294967295\n"),
            "0 0 4294967294\n"
        );
        assert_eq!(
            identity_map("0 100000 65536\n65536 300000 1000\n"),
            "0 0 65536\n65536 65536 1000\n"
        );
    }

    #[test]
    fn counts_mapped_ids() {
        assert_eq!(mapped_count("         0       1001          1\n"), 1);
        assert_eq!(
            mapped_count("         0       1001          1\n         1     200000      65536\n"),
            65537
        );
        assert_eq!(
            mapped_count("         0          0 4294967295\n"),
            4294967295
        );
        assert_eq!(mapped_count(""), 0);
    }

    #[test]
    fn finds_ranges_by_name_or_uid() {
        let text = "alice:100000:65536\n1001:200000:1000\nbob:300000:0\n";
        assert_eq!(
            parse_subordinate(text, "alice", 1000),
            Some(IdRange {
                start: 100000,
                count: 65536
            })
        );
        assert_eq!(
            parse_subordinate(text, "carol", 1001).map(|r| r.start),
            Some(200000)
        );
        assert_eq!(parse_subordinate(text, "bob", 1002), None);
        assert_eq!(parse_subordinate(text, "dave", 1003), None);
    }
}
