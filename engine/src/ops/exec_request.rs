//! The request for one run of a step: its upper, work and scratch
//! directories, its root file system (overlay, or a copy), its mounts,
//! its environment with secrets, as the executor takes it.

use std::path::{Path, PathBuf};

use executor::{ExecRequest, Mount, MountKind};
use snapshotter::Owners;

use super::copied::Copies;
use super::exec::{memo_error, Prepared};
use super::exec_mounts::ReadyMount;
use crate::cache_key::CacheKey;
use crate::context::Context;
use crate::error::Error;
use crate::snapshotter_choice::Snapshotter;
use crate::solved::mount_dir;

/// The request for one run of `step` in `dir`: its upper, work and
/// scratch directories and its mounts' changes go there, and `on_top` (a
/// failed run's changes) lies above its root file system. The cache
/// volumes it holds while it runs come with it. Its output goes to
/// `dir/stdout` and `dir/stderr` unless the caller says otherwise. Where
/// overlay cannot be mounted, the root and the directory mounts are
/// copies, whose changes are written once the step is gone
/// ([`Copies::write_changes`]).
pub(super) fn request(
    ctx: &Context,
    step: &Prepared,
    key: &CacheKey,
    dir: &Path,
    on_top: Option<PathBuf>,
) -> Result<(ExecRequest, Vec<snapshotter::VolumeInUse>, Copies), Error> {
    let copying = ctx.snapshotter == Snapshotter::Copy;
    let mut copies = Copies::default();
    for sub in ["fs", "work", "scratch"] {
        std::fs::create_dir(dir.join(sub)).map_err(memo_error(&dir.join(sub)))?;
    }
    let mut lower_dirs: Vec<PathBuf> = on_top.into_iter().collect();
    lower_dirs.extend(step.rootfs.layers.iter().cloned());
    if lower_dirs.is_empty() {
        // overlay needs a lower layer: scratch is an empty one.
        let empty_root = dir.join("empty");
        std::fs::create_dir(&empty_root).map_err(memo_error(&empty_root))?;
        lower_dirs.push(empty_root);
    }
    let mut volumes_in_use = Vec::new();
    let mut mounts = Vec::new();
    for (index, (target, mount)) in step.mounts.iter().enumerate() {
        let target = target.clone();
        let kind = match mount {
            ReadyMount::Directory {
                read_only, subpath, ..
            } => {
                let layers = &mount.layers();
                let dir = mount_dir(dir, index);
                match copying {
                    true => {
                        let upper = (!*read_only)
                            .then(|| dir.join("fs").join(subpath.trim_start_matches('/')));
                        if let Some(upper) = &upper {
                            std::fs::create_dir_all(upper).map_err(memo_error(upper))?;
                        }
                        copies.mount(layers, &dir, upper)?
                    }
                    false => directory_mount(layers, *read_only, subpath, &dir)?,
                }
            }
            ReadyMount::File { input, path, .. } => MountKind::Bind {
                source: input.host_file(path)?,
                read_only: true,
            },
            ReadyMount::Cache { name, sharing } => {
                let volume =
                    ctx.store
                        .cache_volume(name, sharing.in_store())
                        .map_err(|source| Error::CacheVolume {
                            name: name.clone(),
                            source: Box::new(source),
                        })?;
                let source = volume.dir().to_owned();
                volumes_in_use.push(volume);
                MountKind::Bind {
                    source,
                    read_only: false,
                }
            }
            ReadyMount::Temp => MountKind::Tmpfs,
            ReadyMount::Socket { host_path } => MountKind::Bind {
                source: host_path.clone(),
                read_only: false,
            },
            ReadyMount::Secret { secret, mode } => MountKind::Secret {
                contents: executor::Secret::new(secret.plaintext().to_vec()),
                mode: *mode,
                uid: 0,
                gid: 0,
            },
        };
        mounts.push(Mount { target, kind });
    }
    let mut env = step.settings.step_env();
    for (name, secret) in &step.secret_env {
        env.retain(|kv| !kv.starts_with(&format!("{name}=")));
        env.push(format!(
            "{name}={}",
            String::from_utf8_lossy(secret.plaintext())
        ));
    }
    let copied_root = match copying {
        true => Some(copies.root(&lower_dirs, dir, &dir.join("fs"), &ctx.spare_copies)?),
        false => None,
    };
    let request = ExecRequest {
        lower_dirs,
        copied_root,
        upper_dir: dir.join("fs"),
        work_dir: dir.join("work"),
        scratch_dir: dir.join("scratch"),
        args: step.args.clone(),
        env,
        cwd: step.settings.workdir_or_root(),
        user: step.settings.user.clone(),
        mounts,
        stdin: (!step.stdin.is_empty()).then(|| step.stdin.as_bytes().to_vec()),
        stdout_path: dir.join("stdout"),
        stderr_path: dir.join("stderr"),
        hostname: format!("tanto-{}", &key.to_hex()[..12]),
        extra_hosts: Vec::new(),
        timeout: None,
        ca_certificates: ctx.ca_certificates.clone(),
        terminal: false,
        unmapped_user_as_root: ctx.store.owners() == Owners::Squashed,
        no_network: step.no_network,
        // Steps bound to services will run on the session network.
        network_namespace: None,
        resolv_conf: None,
    };
    Ok((request, volumes_in_use, copies))
}

/// A Directory value mounted: bound directly when it is one read-only
/// layer, else an overlay of its layers. A writable mount's changes go to
/// `<dir>/fs/<subpath>`, kept with the step's result: the container's next
/// steps and `directory(path)` see them (see `Op::ExecMount`).
fn directory_mount(
    layers: &[PathBuf],
    read_only: bool,
    subpath: &str,
    dir: &Path,
) -> Result<MountKind, Error> {
    let create = |path: &Path| {
        std::fs::create_dir_all(path).map_err(|source| Error::Memo {
            path: path.to_owned(),
            source,
        })
    };
    if read_only && layers.len() == 1 {
        return Ok(MountKind::Bind {
            source: layers[0].clone(),
            read_only: true,
        });
    }
    let mut lower_dirs = layers.to_vec();
    if lower_dirs.is_empty() || (read_only && lower_dirs.len() < 2) {
        // overlay needs a lower layer (two without an upper): an empty one.
        let empty = dir.join("empty");
        create(&empty)?;
        lower_dirs.push(empty);
    }
    let upper = if read_only {
        None
    } else {
        let (upper, work) = (
            dir.join("fs").join(subpath.trim_start_matches('/')),
            dir.join("work"),
        );
        create(&upper)?;
        create(&work)?;
        Some((upper, work))
    };
    Ok(MountKind::Overlay { lower_dirs, upper })
}
