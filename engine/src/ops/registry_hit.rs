//! Results a registry cache has, left in the registry until a chain on them
//! is needed on disk (lazy import, see `pending.rs`): a step's output is
//! fetched on its own, its layer is owed as a fetch of its own.

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt};

use crate::cache_key::{CacheKey, KeyBuilder};
use crate::context::Context;
use crate::error::Error;
use crate::memo::Kind;
use crate::pending::{LayerFeed, Pending};
use crate::scheduler::{Job, Outcome};
use crate::solved::{blocking, Solved};

/// The small files (output, record) of `key`'s entry, fetched from a
/// registry cache that has it, and where its layers can be read; `None`
/// when none has it, or what it has is refused (then the step runs here).
pub(super) async fn fetch_outputs(
    ctx: &Arc<Context>,
    kind: Kind,
    key: CacheKey,
) -> Result<Option<(PathBuf, Vec<LayerFeed>)>, Error> {
    if !ctx.registry_cache.has(&key) {
        return Ok(None);
    }
    let ctx = Arc::clone(ctx);
    blocking(move || {
        let dir = outputs_dir(&ctx)?.join(key.to_hex());
        std::fs::create_dir_all(&dir).map_err(|source| Error::Memo {
            path: dir.clone(),
            source,
        })?;
        let result_dir = ctx.store.result_dir(kind, &key.to_hex());
        Ok(ctx
            .registry_cache
            .fetch_outputs(kind, &key, &dir, &result_dir)
            .map(|feeds| (dir, feeds)))
    })
    .await
}

/// The engine's directory of fetched outputs, made on first use.
fn outputs_dir(ctx: &Context) -> Result<PathBuf, Error> {
    if ctx.fetched_outputs.get().is_none() {
        let made = ctx
            .store
            .throwaway("fetched-outputs")
            .map_err(|source| Error::Store {
                source: Box::new(source),
            })?;
        // Two at once: the loser's is removed as it drops.
        let _ = ctx.fetched_outputs.set(made);
    }
    Ok(ctx
        .fetched_outputs
        .get()
        .expect("set above")
        .dir()
        .to_owned())
}

/// A job that makes a chain real: it owes nothing itself.
pub(super) type Make =
    dyn Fn(Arc<Context>, Job) -> BoxFuture<'static, Result<Outcome<Solved>, Error>> + Send + Sync;

/// The fetch `key`'s result is owed: a step of its own, named after the
/// step (`name`), that `make`s the result, which fetches it whole (or, if
/// the cache's copy is refused, runs the step once its inputs are on disk).
pub(super) fn owed_fetch(
    ctx: &Arc<Context>,
    key: CacheKey,
    name: &str,
    make: Arc<Make>,
) -> Pending {
    let fetch = KeyBuilder::new("tanto.fetch.v1")
        .key("result", &key)
        .finish();
    owed_step(ctx, fetch, format!("fetch {name}"), make)
}

/// Owed work done by `make` as the scheduler step `step`, so it runs once
/// however many chains owe it.
pub(super) fn owed_step(
    ctx: &Arc<Context>,
    step: CacheKey,
    name: String,
    make: Arc<Make>,
) -> Pending {
    // Weak: the engine's scheduler keeps chains, which keep what they owe.
    let weak = Arc::downgrade(ctx);
    Pending::of(step, move || {
        let (weak, name, make) = (weak.clone(), name.clone(), Arc::clone(&make));
        async move {
            let ctx = weak.upgrade().ok_or(Error::Abandoned)?;
            let step_ctx = Arc::clone(&ctx);
            ctx.scheduler
                .solve(step, name, move |job| make(step_ctx, job))
                .await
                .map_err(Error::Shared)?;
            Ok(())
        }
        .boxed()
    })
}
