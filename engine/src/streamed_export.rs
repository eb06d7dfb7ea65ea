//! `Directory.export` of a chain a registry cache left in the registry
//! (lazy import, `pending.rs`), written straight from the layers' blobs as
//! they stream in (`snapshotter::export_streamed`) instead of pulling them
//! into the store and copying the merged tree out: each file is written
//! once, and nothing is kept. Taken only when every layer of the chain is
//! owed and its blob can be named; otherwise, or when the stream cannot
//! tell the merged tree or a blob does not verify, the export is made the
//! ordinary way (which reports anything wrong, or refuses a tampered
//! entry and runs its step, as any use of the chain would).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use snapshotter::StreamedLayer;

use crate::cache_key::KeyBuilder;
use crate::context::Context;
use crate::error::Error;
use crate::pending::LayerFeed;
use crate::pull::Counting;
use crate::scheduler::{Job, Stream};
use crate::solved::{blocking, Solved};

/// Exports `subpath` of `solved` to `dest` from the registry, if it can
/// be; `None` when the ordinary export must make it.
pub(crate) async fn export_streamed(
    ctx: &Arc<Context>,
    solved: &Solved,
    subpath: &str,
    dest: &Path,
    wipe: bool,
) -> Option<Result<PathBuf, Error>> {
    if solved.pending.is_empty() {
        return None;
    }
    let (ctx, solved) = (Arc::clone(ctx), solved.clone());
    let (subpath, dest) = (subpath.to_owned(), dest.to_owned());
    blocking(move || Ok(export_blocking(&ctx, &solved, &subpath, &dest, wipe)))
        .await
        .unwrap_or_else(|e| Some(Err(e)))
}

fn export_blocking(
    ctx: &Context,
    solved: &Solved,
    subpath: &str,
    dest: &Path,
    wipe: bool,
) -> Option<Result<PathBuf, Error>> {
    let feeds = match solved.pending.feeds() {
        Ok(Some(feeds)) => feeds,
        Ok(None) => return None,
        Err(error) => {
            tracing::debug!("{error:#}; exporting from the store");
            return None;
        }
    };
    // Lowest first, every one still owed: a layer another process made
    // meanwhile, or any the chain has on disk, means the ordinary way.
    let mut layers = Vec::new();
    for dir in solved.layers.iter().rev() {
        let feed = feeds.iter().find(|feed| &feed.dir == dir)?;
        if dir.exists() {
            return None;
        }
        layers.push(feed.clone());
    }
    let key = KeyBuilder::new("tanto.streamed-export.v1")
        .key("chain", &solved.key)
        .str("path", subpath)
        .str("destination", &dest.to_string_lossy())
        .finish();
    let job = ctx.scheduler.side_job(
        key,
        format!("export {subpath} to {} from the registry", dest.display()),
    );
    let started = Instant::now();
    let streamed = layers
        .into_iter()
        .map(|feed| counted(feed, job.clone()))
        .collect();
    match snapshotter::export_streamed(&ctx.store, streamed, subpath, dest, wipe) {
        Ok(path) => {
            job.ended(Ok(started.elapsed()));
            Some(Ok(path))
        }
        Err(source) if is_about_destination(&source) => {
            let error = Error::Export {
                path: dest.to_owned(),
                source: Box::new(source),
            };
            job.ended(Err(&error));
            Some(Err(error))
        }
        Err(source) => {
            let why = format!(
                "not exported straight from the registry: {source}; exporting from the store instead\n"
            );
            job.output(Stream::Stderr, why.as_bytes());
            job.ended(Ok(started.elapsed()));
            None
        }
    }
}

/// `feed` as the export reads it, its download shown as `job`'s.
fn counted(feed: LayerFeed, job: Job) -> StreamedLayer {
    let LayerFeed {
        digest,
        size,
        diff_id,
        compression,
        open,
        ..
    } = feed;
    let shown = digest.clone();
    StreamedLayer {
        digest,
        size,
        diff_id,
        compression,
        open: Box::new(move || {
            let report = Arc::new(move |layer: &crate::pull::LayerProgress| job.pull(layer));
            let blob = open()?;
            Ok(Box::new(Counting::new(blob, &shown, size, report)) as Box<dyn Read>)
        }),
    }
}

/// Whether the export failed for its destination (reported as is), not
/// for its source (then the ordinary export is tried).
fn is_about_destination(error: &snapshotter::Error) -> bool {
    matches!(
        error,
        snapshotter::Error::Export { .. }
            | snapshotter::Error::ExportParentMissing { .. }
            | snapshotter::Error::ExportNotADirectory { .. }
    )
}
