//! The layer op: one file-system change (copy, new file, new directory,
//! removal, symlink, chown, timestamps) on top of a base chain, committed as a layer of its own and
//! keyed by content: the base's key, the source's key and the change.

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt};

use crate::cache_key::CacheKey;
use crate::context::Context;
use crate::error::Error;
use crate::memo::Kind;
use crate::node::{Change, Node};
use crate::scheduler::Outcome;
use crate::solved::{blocking, Solved};

use super::keys::layer_key;
use super::owner::resolve_owner;
use super::replace::{replace, Replace};

/// Largest file `withReplaced` reads into memory.
const MAX_REPLACED: u64 = 256 << 20;
use super::registry_hit::owed_fetch;
use super::{memo_layer, resolve_path, solve_lazy};

pub(super) async fn solve_layer(
    ctx: &Arc<Context>,
    node: &Arc<Node>,
    base: &Arc<Node>,
    change: &Change,
) -> Result<Solved, Error> {
    let source_node = match change {
        Change::Copy { source, .. } | Change::Add { source, .. } => Some(source),
        _ => None,
    };
    let source = async {
        match source_node {
            Some(node) => solve_lazy(ctx, node).await.map(Some),
            None => Ok(None),
        }
    };
    let (base, source, change) =
        futures::future::join3(solve_lazy(ctx, base), source, change_data(ctx, change)).await;
    let (base, source, change) = (base?, source?, change?);
    let key = layer_key(&base.key, source.as_ref().map(|s| &s.key), &change);
    let step = Arc::new(Step {
        key,
        name: node.name.clone(),
        base,
        source,
        change,
    });
    let step_ctx = Arc::clone(ctx);
    ctx.scheduler
        .solve(key, node.name.clone(), move |_| async move {
            let ctx = step_ctx;
            if ctx.registry_cache.imports_any() {
                // Lazily: found here or in a registry cache, the base
                // need not be on disk yet.
                if let Some(dir) = ctx.memo.lookup(Kind::Layer, &key)? {
                    return Ok(Outcome::Cached(step.on_base(&ctx, dir.join("fs"))));
                }
                if ctx.registry_cache.has(&key) {
                    let dir = ctx.store.result_dir(Kind::Layer, &key.to_hex());
                    let make = {
                        let step = Arc::clone(&step);
                        Arc::new(move |ctx, _job| fetch_or_make(ctx, Arc::clone(&step)))
                    };
                    let feeds = {
                        let (ctx, dir) = (Arc::downgrade(&ctx), dir.clone());
                        move || {
                            let ctx = ctx.upgrade().ok_or(Error::Abandoned)?;
                            Ok(ctx.registry_cache.layer_feeds(Kind::Layer, &key, &dir))
                        }
                    };
                    let owed = owed_fetch(&ctx, key, &step.name, make).feeding_when_asked(feeds);
                    let solved = step.on_base(&ctx, dir.join("fs"));
                    return Ok(Outcome::Fetched(Solved {
                        pending: owed.and(&solved.pending),
                        ..solved
                    }));
                }
            }
            make(ctx, step).await
        })
        .await
        .map_err(Error::Shared)
}

/// A layer op with its inputs solved (perhaps still owed) and its key.
struct Step {
    key: CacheKey,
    name: String,
    base: Solved,
    source: Option<Solved>,
    change: ChangeData,
}

impl Step {
    /// The entries the layer is made on top of: its base and its source.
    fn parents(&self) -> Vec<PathBuf> {
        let mut parents = self.base.layers.to_vec();
        parents.extend(self.source.iter().flat_map(|s| s.layers.iter().cloned()));
        parents
    }

    /// The chain of `layer` on the base, owing what the base owes.
    fn on_base(&self, ctx: &Context, layer: PathBuf) -> Solved {
        ctx.name_layer(layer.clone(), &self.name);
        let mut layers = vec![layer];
        layers.extend(self.base.layers.iter().cloned());
        Solved::chain(self.key, layers).owing(&self.base.pending)
    }
}

/// An owed fetch: the layer fetched whole without waiting for the chain
/// below it (it is a diff), so a chain's fetches run side by side; if the
/// cache's copy is refused, it is made once its inputs are on disk.
fn fetch_or_make(
    ctx: Arc<Context>,
    step: Arc<Step>,
) -> BoxFuture<'static, Result<Outcome<Solved>, Error>> {
    async move {
        let fetched = blocking({
            let (ctx, step) = (Arc::clone(&ctx), Arc::clone(&step));
            move || {
                let found = ctx
                    .memo
                    .fetch(Kind::Layer, &step.key, &step.name, &step.parents())?;
                Ok(found.map(|dir| step.on_base(&ctx, dir.join("fs"))))
            }
        })
        .await?;
        match fetched {
            Some(solved) => Ok(Outcome::Fetched(solved)),
            None => make(ctx, step).await,
        }
    }
    .boxed()
}

/// The layer, made once its inputs are on disk (or fetched whole from a
/// registry cache that has it).
fn make(ctx: Arc<Context>, step: Arc<Step>) -> BoxFuture<'static, Result<Outcome<Solved>, Error>> {
    async move {
        let owed = match &step.source {
            Some(source) => step.base.pending.clone().and(&source.pending),
            None => step.base.pending.clone(),
        };
        owed.settle().await?;
        blocking(move || {
            memo_layer(
                &ctx,
                step.key,
                &step.name,
                &step.parents(),
                &step.base.layers,
                |layer| build_layer(layer, &step.base, step.source.as_ref(), &step.change),
            )
        })
        .await
    }
    .boxed()
}

/// A [`Change`] with its paths resolved, and no nodes: what keys it and
/// what a blocking thread needs.
pub(super) enum ChangeData {
    Copy {
        src_path: String,
        include: Vec<String>,
        exclude: Vec<String>,
        dest: String,
        mode: Option<u32>,
    },
    Add {
        src_path: String,
        dest: String,
        into: bool,
        mode: Option<u32>,
        owners: snapshotter::Owners,
    },
    NewFile {
        path: String,
        contents: Vec<u8>,
        mode: u32,
    },
    NewDirectory {
        path: String,
        mode: u32,
    },
    EnsureDirectory {
        path: String,
    },
    Remove {
        path: String,
    },
    RemoveMatching {
        path: String,
    },
    Symlink {
        target: String,
        link: String,
    },
    Chown {
        path: String,
        owner: String,
    },
    Timestamps {
        path: String,
        seconds: i64,
    },
    Patch {
        root: String,
        patch: String,
    },
    Replace {
        path: String,
        search: String,
        replacement: String,
        all: bool,
        first_from: Option<u32>,
    },
}

async fn change_data(ctx: &Arc<Context>, change: &Change) -> Result<ChangeData, Error> {
    Ok(match change {
        Change::Copy {
            src_path,
            include,
            exclude,
            dest,
            mode,
            ..
        } => ChangeData::Copy {
            src_path: resolve_path(ctx, src_path).await?,
            include: include.clone(),
            exclude: exclude.clone(),
            dest: resolve_path(ctx, dest).await?,
            mode: *mode,
        },
        Change::Add {
            src_path,
            dest,
            into,
            mode,
            ..
        } => ChangeData::Add {
            src_path: resolve_path(ctx, src_path).await?,
            dest: resolve_path(ctx, dest).await?,
            into: *into,
            mode: *mode,
            owners: ctx.store.owners(),
        },
        Change::NewFile {
            path,
            contents,
            mode,
        } => ChangeData::NewFile {
            path: resolve_path(ctx, path).await?,
            contents: contents.clone(),
            mode: *mode,
        },
        Change::NewDirectory { path, mode } => ChangeData::NewDirectory {
            path: resolve_path(ctx, path).await?,
            mode: *mode,
        },
        Change::EnsureDirectory { path } => ChangeData::EnsureDirectory {
            path: resolve_path(ctx, path).await?,
        },
        Change::Remove { path } => ChangeData::Remove {
            path: resolve_path(ctx, path).await?,
        },
        Change::RemoveMatching { path } => ChangeData::RemoveMatching {
            path: resolve_path(ctx, path).await?,
        },
        Change::Symlink { target, link } => ChangeData::Symlink {
            target: target.clone(),
            link: resolve_path(ctx, link).await?,
        },
        Change::Chown { path, owner } => ChangeData::Chown {
            path: resolve_path(ctx, path).await?,
            owner: owner.clone(),
        },
        Change::Timestamps { path, seconds } => ChangeData::Timestamps {
            path: resolve_path(ctx, path).await?,
            seconds: *seconds,
        },
        Change::Patch { root, patch } => ChangeData::Patch {
            root: resolve_path(ctx, root).await?,
            patch: patch.clone(),
        },
        Change::Replace {
            path,
            search,
            replacement,
            all,
            first_from,
        } => ChangeData::Replace {
            path: resolve_path(ctx, path).await?,
            search: search.clone(),
            replacement: replacement.clone(),
            all: *all,
            first_from: *first_from,
        },
    })
}

fn build_layer(
    layer: &std::path::Path,
    base: &Solved,
    source: Option<&Solved>,
    change: &ChangeData,
) -> Result<(), Error> {
    let target = base.view();
    let fs_error = |path: &str| {
        let path = path.to_owned();
        move |source| Error::FileOp {
            path,
            source: Box::new(source),
        }
    };
    match change {
        ChangeData::Copy {
            src_path,
            include,
            exclude,
            dest,
            mode,
        } => {
            let source = source.expect("a copy has a source").view();
            let filter = snapshotter::Filter::new(include, exclude).map_err(fs_error(src_path))?;
            if source
                .lookup(src_path, true)
                .map_err(fs_error(src_path))?
                .is_none()
            {
                return Err(Error::NotFound {
                    path: src_path.clone(),
                });
            }
            snapshotter::copy_into_layer(
                &source, src_path, &filter, &target, layer, dest, None, *mode,
            )
            .map_err(fs_error(dest))?;
        }
        ChangeData::Add {
            src_path,
            dest,
            into,
            mode,
            owners,
        } => {
            let source = source.expect("an add has a source").view();
            let Some(found) = source.lookup(src_path, true).map_err(fs_error(src_path))? else {
                return Err(Error::NotFound {
                    path: src_path.clone(),
                });
            };
            match snapshotter::archive_compression(&found.host_path).map_err(fs_error(src_path))? {
                Some(compression) => snapshotter::extract_into_layer(
                    &target,
                    layer,
                    dest,
                    &found.host_path,
                    compression,
                    *owners,
                )
                .map_err(fs_error(dest))?,
                None => {
                    let name = src_path.rsplit('/').next().unwrap_or(src_path);
                    let dest = match into {
                        true => format!("{}/{name}", dest.trim_end_matches('/')),
                        false => dest.clone(),
                    };
                    let everything =
                        snapshotter::Filter::new(&[], &[]).map_err(fs_error(src_path))?;
                    snapshotter::copy_into_layer(
                        &source,
                        src_path,
                        &everything,
                        &target,
                        layer,
                        &dest,
                        None,
                        *mode,
                    )
                    .map_err(fs_error(&dest))?;
                }
            }
        }
        ChangeData::NewFile {
            path,
            contents,
            mode,
        } => snapshotter::write_new_file(&target, layer, path, contents, *mode, (0, 0))
            .map_err(fs_error(path))?,
        ChangeData::NewDirectory { path, mode } => {
            snapshotter::make_dir(&target, layer, path, *mode).map_err(fs_error(path))?
        }
        ChangeData::EnsureDirectory { path } => {
            snapshotter::ensure_dir(&target, layer, path).map_err(fs_error(path))?
        }
        ChangeData::Remove { path } => {
            snapshotter::make_whiteout(&target, layer, path).map_err(fs_error(path))?
        }
        ChangeData::RemoveMatching { path } => {
            for found in matching(&target, path)? {
                snapshotter::make_whiteout(&target, layer, &found).map_err(fs_error(&found))?;
            }
        }
        ChangeData::Symlink { target: to, link } => {
            snapshotter::make_symlink(&target, layer, link, to).map_err(fs_error(link))?
        }
        ChangeData::Chown { path, owner } => {
            let ids = resolve_owner(&target, owner)?;
            snapshotter::rewrite_tree(&target, layer, path, Some(ids), None)
                .map_err(fs_error(path))?
        }
        ChangeData::Timestamps { path, seconds } => {
            snapshotter::rewrite_tree(&target, layer, path, None, Some(*seconds))
                .map_err(fs_error(path))?
        }
        ChangeData::Patch { root, patch } => apply_patch(&target, layer, root, patch)?,
        ChangeData::Replace {
            path,
            search,
            replacement,
            all,
            first_from,
        } => {
            use std::os::unix::fs::MetadataExt;
            let old = target
                .lookup(path, true)
                .map_err(fs_error(path))?
                .ok_or_else(|| Error::NotFound { path: path.clone() })?;
            let contents = target
                .read_file(path, MAX_REPLACED)
                .map_err(fs_error(path))?;
            let how = Replace {
                search,
                replacement,
                all: *all,
                first_from: *first_from,
            };
            let new = replace(path, &contents, &how)?;
            // As Dagger rewrites the file in place: its mode and owner kept.
            let (mode, owner) = (
                old.metadata.mode(),
                (old.metadata.uid(), old.metadata.gid()),
            );
            snapshotter::write_new_file(&target, layer, &old.container_path, &new, mode, owner)
                .map_err(fs_error(path))?
        }
    }
    Ok(())
}

/// The paths of `target` that `pattern` (absolute, with `*` in some
/// component) matches: the components before the first with a wildcard
/// name where to look, the rest is globbed there.
fn matching(target: &snapshotter::ChainView, pattern: &str) -> Result<Vec<String>, Error> {
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    let wild = parts
        .iter()
        .position(|p| p.contains(['*', '?', '[']))
        .unwrap_or(parts.len());
    let dir = format!("/{}", parts[..wild].join("/"));
    let rest = parts[wild..].join("/");
    if rest.is_empty() {
        return Ok(vec![dir]);
    }
    let found = match target.glob(&dir, &rest) {
        Ok(found) => found,
        // Nothing there to match.
        Err(snapshotter::Error::NotFound { .. } | snapshotter::Error::NotADirectory { .. }) => {
            Vec::new()
        }
        Err(source) => {
            return Err(Error::FileOp {
                path: pattern.to_owned(),
                source: Box::new(source),
            })
        }
    };
    // Sorted, parents come first: what is below a removed match goes with
    // it, and a whiteout below one would bring its directory back.
    let base = dir.trim_end_matches('/');
    let mut kept: Vec<String> = Vec::new();
    for rel in found {
        if !kept.iter().any(|k| rel.starts_with(&format!("{k}/"))) {
            kept.push(rel);
        }
    }
    Ok(kept
        .into_iter()
        .map(|rel| format!("{base}/{rel}"))
        .collect())
}

/// Applies every file of `patch` below `root`, or nothing: each result is
/// worked out before the first is written.
fn apply_patch(
    target: &snapshotter::ChainView,
    layer: &std::path::Path,
    root: &str,
    patch: &str,
) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let under = |rel: &str| {
        crate::node::in_directory(&crate::node::ContainerPath::known(root), rel, "withPatch")
            .map(|p| p.raw().to_owned())
    };
    let fs_error = |path: &str| {
        let path = path.to_owned();
        move |source| Error::FileOp {
            path,
            source: Box::new(source),
        }
    };
    let mut writes = Vec::new();
    let mut removals = Vec::new();
    for file in super::patch::parse(patch)? {
        let old = match &file.old {
            Some(rel) => {
                let path = under(rel)?;
                let entry = target
                    .lookup(&path, true)
                    .map_err(fs_error(&path))?
                    .ok_or_else(|| Error::NotFound { path: rel.clone() })?;
                let bytes = target
                    .read_file(&path, MAX_REPLACED)
                    .map_err(fs_error(&path))?;
                Some((
                    path,
                    entry.metadata,
                    String::from_utf8_lossy(&bytes).into_owned(),
                ))
            }
            None => None,
        };
        let contents = super::patch::apply(&file, old.as_ref().map_or("", |(_, _, text)| text))?;
        let new = file.new.as_deref().map(under).transpose()?;
        if let Some((path, _, _)) = &old {
            if new.as_ref() != Some(path) {
                removals.push(path.clone());
            }
        }
        if let Some(path) = new {
            let (mode, owner) = match &old {
                Some((_, meta, _)) => (meta.mode(), (meta.uid(), meta.gid())),
                None => (0o644, (0, 0)),
            };
            writes.push((path, contents, file.mode.unwrap_or(mode), owner));
        }
    }
    for path in removals {
        snapshotter::make_whiteout(target, layer, &path).map_err(fs_error(&path))?;
    }
    for (path, contents, mode, owner) in writes {
        snapshotter::write_new_file(target, layer, &path, contents.as_bytes(), mode, owner)
            .map_err(fs_error(&path))?;
    }
    Ok(())
}
