//! Ops: how each kind of node is solved, its key derived bottom-up and its
//! work memoized.
//!
//! Images and host directories are keyed by content, which is only known once
//! they are resolved (a manifest digest, a tree hash): they run as scheduler
//! steps keyed by their *request*, and produce the content key that keys
//! everything above them. Layers and execs are keyed by content directly, so
//! two different DAGs that reach the same work share it.
//!
//! An op solves its own inputs by calling [`solve`] back, so independent
//! inputs solve concurrently; that recursion between this dispatcher and the
//! op files is the one import cycle the engine keeps.

mod changes;
mod config;
mod copied;
mod diff;
mod exec;
mod exec_mounts;
mod exec_request;
mod host;
mod host_service;
mod http;
mod image;
mod import;
mod keys;
mod layer;
mod owner;
mod patch;
mod registry_hit;
mod replace;
mod service;
mod tarball;
mod tunnel;

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt};

use crate::context::Context;
use crate::disk_full;
use crate::error::Error;
use crate::node::{ContainerPath, Node, Op};
use crate::paths::in_container;
use crate::solved::Solved;

pub(crate) use config::resolve_config;
pub(crate) use exec::open_terminal;
pub(crate) use image::{image_outcome, pull_image};
pub(crate) use service::{bind, service_key, service_settings};
pub(crate) use tarball::build_container;
pub(crate) use tunnel::TUNNEL_HOST;

/// Solves `node`: its inputs first, then its own step, memoized; its
/// chain is on disk after (what an op that runs on it or reads it needs).
pub(crate) fn solve(
    ctx: &Arc<Context>,
    node: &Arc<Node>,
) -> BoxFuture<'static, Result<Solved, Error>> {
    let lazy = solve_lazy(ctx, node);
    async move {
        let solved = lazy.await?;
        if !solved.pending.is_empty() {
            solved.pending.settle().await?;
        }
        Ok(solved)
    }
    .boxed()
}

/// Solves `node` as far as its key and its own outputs: with a registry
/// cache to import from, its chain's layers may still be owed
/// (`Solved::pending`, see `pending.rs`).
pub(crate) fn solve_lazy(
    ctx: &Arc<Context>,
    node: &Arc<Node>,
) -> BoxFuture<'static, Result<Solved, Error>> {
    let ctx = Arc::clone(ctx);
    let node = Arc::clone(node);
    async move {
        let solved = match &node.op {
            Op::Scratch => Ok(Solved::chain(keys::scratch_key(), Vec::new())),
            Op::Image { address, platform } => {
                image::solve_image(&ctx, &node, address, platform).await
            }
            Op::Host { .. } => host::solve_host(&ctx, &node).await,
            Op::Http(spec) => http::solve_http(&ctx, &node, spec).await,
            Op::Layer { base, change } => layer::solve_layer(&ctx, &node, base, change).await,
            Op::Exec(_) => exec::solve_exec(&ctx, &node).await,
            Op::ExecMount {
                exec,
                index,
                source,
            } => solve_exec_mount(&ctx, exec, *index, source).await,
            Op::Diff {
                lower,
                lower_path,
                upper,
                upper_path,
            } => diff::solve_diff(&ctx, &node, (lower, lower_path), (upper, upper_path)).await,
            Op::WithChanges(spec) => changes::solve_with_changes(&ctx, &node, spec).await,
            Op::Tarball(spec) => tarball::solve_tarball(&ctx, &node, spec).await,
            Op::Import {
                source,
                tag,
                platform,
            } => import::solve_import(&ctx, &node, source, tag.as_deref(), platform).await,
            Op::Failed(error) => Err(Error::Shared(Arc::clone(error))),
        };
        solved.map_err(|error| disk_full::explain(ctx.store.root(), error))
    }
    .boxed()
}

/// Solves `node` when there is one.
pub(crate) async fn solve_optional(
    ctx: &Arc<Context>,
    node: Option<&Arc<Node>>,
) -> Result<Option<Solved>, Error> {
    match node {
        Some(node) => solve(ctx, node).await.map(Some),
        None => Ok(None),
    }
}

/// A writable directory mount after its exec: the mount's own changes on
/// top of its source.
async fn solve_exec_mount(
    ctx: &Arc<Context>,
    exec: &Arc<Node>,
    index: usize,
    source: &Arc<Node>,
) -> Result<Solved, Error> {
    let (exec, source) = futures::future::join(solve(ctx, exec), solve(ctx, source)).await;
    let (exec, source) = (exec?, source?);
    let changes = exec.exec.as_ref().and_then(|e| e.mount_changes(index));
    let mut layers: Vec<PathBuf> = changes.into_iter().collect();
    layers.extend(source.layers.iter().cloned());
    let key = keys::exec_mount_key(&exec.key, index, &source.key);
    Ok(Solved::chain(key, layers))
}

/// The absolute path `path` names, resolving the image's config when the
/// path is relative to a working directory only the image knows.
pub(crate) async fn resolve_path(
    ctx: &Arc<Context>,
    path: &ContainerPath,
) -> Result<String, Error> {
    match path {
        ContainerPath::Known(path) => Ok(path.clone()),
        ContainerPath::OnImage { config, path } => {
            let settings = resolve_config(ctx, config).await?;
            Ok(in_container(&settings.workdir_or_root(), path))
        }
    }
}

/// A file operation's layer, on top of `below`: made by `fill` in a fresh
/// directory unless the memo has it under `key`, and named for progress.
fn memo_layer(
    ctx: &Context,
    key: crate::cache_key::CacheKey,
    name: &str,
    parents: &[PathBuf],
    below: &[PathBuf],
    fill: impl FnOnce(&std::path::Path) -> Result<(), Error>,
) -> Result<crate::scheduler::Outcome<Solved>, Error> {
    let entry = ctx
        .memo
        .get_or_build(crate::memo::Kind::Layer, &key, name, parents, |temp| {
            let layer = temp.join("fs");
            std::fs::create_dir(&layer).map_err(|source| Error::Memo {
                path: layer.clone(),
                source,
            })?;
            fill(&layer)
        })?;
    let layer = entry.dir.join("fs");
    ctx.name_layer(layer.clone(), name);
    let mut layers = vec![layer];
    layers.extend(below.iter().cloned());
    Ok(memo_outcome(&entry, Solved::chain(key, layers)))
}

/// A memo entry as the scheduler reports it: ran now, or found cached.
fn memo_outcome(entry: &crate::memo::Entry, solved: Solved) -> crate::scheduler::Outcome<Solved> {
    if entry.built {
        crate::scheduler::Outcome::Ran(solved)
    } else if entry.fetched {
        crate::scheduler::Outcome::Fetched(solved)
    } else {
        crate::scheduler::Outcome::Cached(solved)
    }
}
