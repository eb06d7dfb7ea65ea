//! The import op: an image read from an OCI tarball or layout, or a
//! `docker save` archive. Keyed, like a pulled image, by its manifest
//! digest: an image imported and the same image pulled are one.

use std::sync::Arc;

use registry::Platform;

use crate::cache_key::KeyBuilder;
use crate::context::Context;
use crate::error::Error;
use crate::image::{import_archive, ArchiveSource};
use crate::node::{ImportSource, Node};
use crate::solved::{blocking, Solved};

use super::{image_outcome, resolve_path, solve};

pub(super) async fn solve_import(
    ctx: &Arc<Context>,
    node: &Arc<Node>,
    source: &ImportSource,
    tag: Option<&str>,
    platform: &Platform,
) -> Result<Solved, Error> {
    let request = KeyBuilder::new("tanto.import-request.v1")
        .str("tag", tag.unwrap_or(""))
        .str("platform", &platform.to_string());
    let (request, archive) = match source {
        ImportSource::File { node: file, path } => {
            let (solved, path) =
                futures::future::join(solve(ctx, file), resolve_path(ctx, path)).await;
            let (solved, path) = (solved?, path?);
            (
                request.key("file", &solved.key).str("path", &path).finish(),
                ArchiveSource::Tar(solved.host_file(&path)?),
            )
        }
        ImportSource::Host(archive) => (
            request.str("host", &archive.name()).finish(),
            archive.clone(),
        ),
    };
    let step_ctx = Arc::clone(ctx);
    let tag = tag.map(str::to_owned);
    let platform = platform.clone();
    ctx.scheduler
        .solve(request, node.name.clone(), move |_| {
            blocking(move || {
                let store = &step_ctx.store;
                let imported = import_archive(store, &archive, tag.as_deref(), &platform)?;
                image_outcome(
                    store,
                    &archive.name(),
                    None,
                    &imported.manifest_digest,
                    imported.layers,
                    &imported.config_bytes,
                )
            })
        })
        .await
        .map_err(Error::Shared)
}
