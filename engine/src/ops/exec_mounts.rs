//! An exec's mounts, each with its target resolved and its input solved
//! for its key (perhaps still owed, see `pending.rs`: its layers are read
//! only once the step's inputs are on disk).

use std::path::PathBuf;
use std::sync::Arc;

use crate::cache_key::CacheKey;
use crate::cache_volume::Sharing;
use crate::context::Context;
use crate::error::Error;
use crate::node::{MountSource, MountSpec};
use crate::secret::Secret;
use crate::solved::Solved;

use super::keys::subdir_key;
use super::{resolve_path, solve_lazy};

/// A mount with its input solved.
pub(super) enum ReadyMount {
    /// Its input's chain is on disk once the step's inputs are settled
    /// ([`Prepared::owed`]); then [`ReadyMount::layers`] finds its layers.
    Directory {
        input: Solved,
        read_only: bool,
        subpath: String,
        key: CacheKey,
    },
    File {
        input: Solved,
        path: String,
        key: CacheKey,
    },
    Cache {
        name: String,
        sharing: Sharing,
    },
    Temp,
    Secret {
        secret: Secret,
        mode: u32,
    },
    /// A host Unix socket, checked to be one.
    Socket {
        host_path: PathBuf,
    },
}

impl ReadyMount {
    /// A directory mount's layers (top-most first) that hold its subpath:
    /// read once its input is on disk.
    pub(super) fn layers(&self) -> Vec<PathBuf> {
        let ReadyMount::Directory { input, subpath, .. } = self else {
            return Vec::new();
        };
        input
            .layers
            .iter()
            .map(|l| l.join(subpath.trim_start_matches('/')))
            .filter(|l| l.is_dir())
            .collect()
    }
}

/// A mount with its target resolved and its input solved.
pub(super) async fn ready_mount(
    ctx: &Arc<Context>,
    spec: &MountSpec,
) -> Result<(String, ReadyMount), Error> {
    let target = resolve_path(ctx, &spec.target).await?;
    let mount = match &spec.source {
        MountSource::Directory {
            node,
            subpath,
            read_only,
        } => {
            let input = solve_lazy(ctx, node).await?;
            let subpath = resolve_path(ctx, subpath).await?;
            ReadyMount::Directory {
                key: subdir_key(&input.key, &subpath),
                input,
                read_only: *read_only,
                subpath,
            }
        }
        MountSource::File { node, path } => {
            let input = solve_lazy(ctx, node).await?;
            let path = resolve_path(ctx, path).await?;
            ReadyMount::File {
                key: subdir_key(&input.key, &path),
                input,
                path,
            }
        }
        MountSource::Cache { name, sharing } => ReadyMount::Cache {
            name: name.clone(),
            sharing: *sharing,
        },
        MountSource::Temp => ReadyMount::Temp,
        MountSource::Secret { secret, mode } => ReadyMount::Secret {
            secret: secret.clone(),
            mode: *mode,
        },
        MountSource::Socket { host_path } => {
            use std::os::unix::fs::FileTypeExt;
            // Checked here, so the step fails with what is wrong rather
            // than with a bind mount's errno.
            let is_socket = std::fs::metadata(host_path).map(|m| m.file_type().is_socket());
            if !matches!(is_socket, Ok(true)) {
                return Err(Error::NotASocket {
                    path: host_path.clone(),
                    detail: match is_socket {
                        Err(e) => e.to_string(),
                        Ok(_) => "it is not a socket".to_owned(),
                    },
                });
            }
            ReadyMount::Socket {
                host_path: host_path.clone(),
            }
        }
    };
    Ok((target, mount))
}
