//! `Host.containerImage`: an image out of the host's own container engine.
//!
//! Dagger reads the Docker daemon's or containerd's image store. tanto has
//! neither, so it asks the engine CLI the user already has — podman, else
//! docker — to save the image as an archive, and imports that archive as
//! `tanto pull oci-archive:…` does. Read afresh on every solve: a tag on
//! the host moves.
//!
//! tanto runs as root of its own user namespace, where podman would take
//! itself for real root and look in root's storage. The same mapping
//! podman makes for a rootless user (the user as 0, the subordinate ids
//! above) is already in place, so podman is told so
//! (`_CONTAINERS_USERNS_CONFIGURED`) and uses the user's own storage.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::Error;

/// The engine CLIs asked, in order, and how each saves an image.
const ENGINES: [(&str, &[&str]); 2] = [
    (
        "podman",
        &["image", "save", "--format", "oci-archive", "-o"],
    ),
    ("docker", &["image", "save", "-o"]),
];

/// How much of a failed save's stderr an error shows.
const ERROR_TAIL: usize = 2000;

/// Saves `name` from the host's container engine into the archive `dest`.
pub(crate) fn save(name: &str, dest: &Path) -> Result<(), Error> {
    let Some((engine, path, args)) = ENGINES
        .iter()
        .find_map(|(engine, args)| find_on_path(engine).map(|path| (*engine, path, *args)))
    else {
        return Err(Error::HostImageNoEngine {
            name: name.to_owned(),
        });
    };
    let mut command = Command::new(&path);
    command.args(args).arg(dest).arg(name);
    if let Some((uid, gid)) = outer_ids() {
        command
            .env("_CONTAINERS_USERNS_CONFIGURED", "1")
            .env("_CONTAINERS_ROOTLESS_UID", uid.to_string())
            .env("_CONTAINERS_ROOTLESS_GID", gid.to_string());
    }
    let output = command.output().map_err(|source| Error::HostImageRun {
        name: name.to_owned(),
        engine,
        source,
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = stderr.trim();
        let mut start = stderr.len().saturating_sub(ERROR_TAIL);
        while !stderr.is_char_boundary(start) {
            start += 1;
        }
        return Err(Error::HostImageSave {
            name: name.to_owned(),
            engine,
            detail: stderr[start..].to_owned(),
        });
    }
    Ok(())
}

/// `program` in a directory of `PATH`, as a shell finds it.
fn find_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs)
        .map(|dir| dir.join(program))
        .find(|path| {
            path.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The user and group this process's root stands for outside its user
/// namespace, when it is root of one over another user (rootless tanto).
fn outer_ids() -> Option<(u32, u32)> {
    let outer = |file: &str| -> Option<u32> {
        let map = std::fs::read_to_string(file).ok()?;
        map.lines().find_map(|line| {
            let mut fields = line.split_whitespace();
            let inside: u32 = fields.next()?.parse().ok()?;
            let outside: u32 = fields.next()?.parse().ok()?;
            (inside == 0 && outside != 0).then_some(outside)
        })
    };
    Some((outer("/proc/self/uid_map")?, outer("/proc/self/gid_map")?))
}
