//! The mounts of a step's pid 1, in its own mount namespace: `/proc`, the
//! cgroup2 view libcontainer needs, the helper's tmpfs, the step's root
//! file system (overlay, or a copy the engine made), and what the request
//! mounts, made ready for the spec.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

use super::failure::Failure;
use super::helper::{io_error, mount_error};
use super::overlay_mount;
use super::request::{ExecRequest, MountKind};
use super::sandbox::Sandbox;
use super::spec::SpecMount;

/// A mount namespace of the step's own, private, with `/proc` for its pid
/// namespace and a cgroup2 hierarchy where the host shows v1.
pub(super) fn private_namespace(sandbox: &Sandbox) -> Result<(), Failure> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(mount_error("a private mount namespace"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(mount_error("/ as private"))?;
    // libcontainer reads /proc/<pid> of the processes it starts: it needs the
    // proc of this pid namespace (with shared pids, the one there is).
    if sandbox.pids {
        mount(
            Some("proc"),
            "/proc",
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .map_err(mount_error("/proc for the step's pid namespace"))?;
    }
    // On a hybrid cgroup host, show libcontainer the v2 hierarchy: its
    // rootless v2 manager tolerates the cgroups it may not create.
    if !is_cgroup2("/sys/fs/cgroup") && is_cgroup2("/sys/fs/cgroup/unified") {
        mount(
            Some("/sys/fs/cgroup/unified"),
            "/sys/fs/cgroup",
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(mount_error("the cgroup2 hierarchy over /sys/fs/cgroup"))?;
    } else if !is_cgroup2("/sys/fs/cgroup") {
        // A container on a cgroup v1 host shows only read-only v1
        // hierarchies, where libcontainer cannot make the step's cgroup:
        // in a cgroup namespace of our own, the v2 hierarchy can be
        // mounted, with the container's cgroup as its root. Where even
        // that is refused, libcontainer says what failed.
        if unshare(CloneFlags::CLONE_NEWCGROUP).is_ok() {
            let _ = mount(
                Some("cgroup2"),
                "/sys/fs/cgroup",
                Some("cgroup2"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                None::<&str>,
            );
        }
    }
    Ok(())
}

fn is_cgroup2(path: &str) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

/// Mounts the helper's tmpfs at `run` and the step's root file system at
/// `rootfs_dir`.
pub(super) fn root_file_system(
    request: &ExecRequest,
    rootfs_dir: &Path,
    run: &Path,
) -> Result<(), Failure> {
    // config.json holds the environment and secrets sit here: memory only.
    mount(
        Some("tmpfs"),
        run,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0700"),
    )
    .map_err(mount_error("the helper's tmpfs"))?;
    match &request.copied_root {
        Some(copy) => mount(
            Some(copy.as_path()),
            rootfs_dir,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(mount_error("the step's root file system (a copy)"))?,
        None => {
            let lowers = with_empty_lower(&request.lower_dirs, run)?;
            overlay_mount::mount_overlay(
                rootfs_dir,
                &lowers,
                Some((&request.upper_dir, &request.work_dir)),
                "the step's root file system (overlay)",
                run,
            )?;
        }
    }
    Ok(())
}

/// What the request mounts, ready for the spec.
pub(super) struct Requested {
    /// With host paths in this namespace.
    pub mounts: Vec<SpecMount>,
    /// Each destination, and whether it must be a file.
    pub wants_file: Vec<(String, bool)>,
}

/// What the request mounts, its overlays mounted and its secrets written
/// under `run`.
pub(super) fn requested(request: &ExecRequest, run: &Path) -> Result<Requested, Failure> {
    let mut extra = Vec::new();
    let mut wants_file = Vec::new();
    for (i, m) in request.mounts.iter().enumerate() {
        let (mount, file) = match &m.kind {
            MountKind::Bind { source, read_only } => (
                SpecMount::bind(&m.target, source.clone(), *read_only),
                !source.is_dir(),
            ),
            MountKind::Tmpfs => (SpecMount::tmpfs(&m.target), false),
            MountKind::Overlay { lower_dirs, upper } => {
                let dir = run.join(format!("mount-{i}"));
                std::fs::create_dir(&dir).map_err(io_error("an overlay mount point"))?;
                let read_only = upper.is_none();
                match (lower_dirs.as_slice(), upper) {
                    // An overlay without upper needs two lowers.
                    ([single], None) => (SpecMount::bind(&m.target, single.clone(), true), false),
                    _ => {
                        let lowers = with_empty_lower(lower_dirs, run)?;
                        let upper = upper.as_ref().map(|(u, w)| (u.as_path(), w.as_path()));
                        overlay_mount::mount_overlay(&dir, &lowers, upper, &m.target, run)?;
                        (SpecMount::bind(&m.target, dir, read_only), false)
                    }
                }
            }
            MountKind::Secret {
                contents,
                mode,
                uid,
                gid,
            } => {
                let path = run.join(format!("secret-{i}"));
                std::fs::write(&path, contents.expose()).map_err(io_error("a secret file"))?;
                std::os::unix::fs::chown(&path, Some(*uid), Some(*gid))
                    .map_err(io_error("a secret file's owner"))?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode))
                    .map_err(io_error("a secret file's mode"))?;
                (SpecMount::bind(&m.target, path, true), true)
            }
        };
        wants_file.push((mount.destination.clone(), file));
        extra.push(mount);
    }
    Ok(Requested {
        mounts: extra,
        wants_file,
    })
}

/// An overlay without upper needs two lowers; with one, any lower list works.
fn with_empty_lower(lowers: &[PathBuf], run: &Path) -> Result<Vec<PathBuf>, Failure> {
    if !lowers.is_empty() {
        return Ok(lowers.to_vec());
    }
    let empty = run.join("empty");
    if !empty.exists() {
        std::fs::create_dir(&empty).map_err(io_error("an empty layer"))?;
    }
    Ok(vec![empty])
}
