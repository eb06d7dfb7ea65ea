//! The import op: an image read from an OCI tarball or layout, or a
//! `docker save` archive. Keyed, like a pulled image, by its manifest
//! digest: an image imported and the same image pulled are one.

use std::sync::Arc;

use registry::Platform;
use snapshotter::Store;

use crate::cache_key::KeyBuilder;
use crate::context::Context;
use crate::error::Error;
use crate::host_image;
use crate::image::{import_archive, ArchiveSource, Imported};
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
    let (request, source) = match source {
        ImportSource::File { node: file, path } => {
            let (solved, path) =
                futures::future::join(solve(ctx, file), resolve_path(ctx, path)).await;
            let (solved, path) = (solved?, path?);
            (
                request.key("file", &solved.key).str("path", &path).finish(),
                Readable::Archive(ArchiveSource::Tar(solved.host_file(&path)?)),
            )
        }
        ImportSource::Host(archive) => (
            request.str("host", &archive.name()).finish(),
            Readable::Archive(archive.clone()),
        ),
        ImportSource::HostEngine(name) => (
            request.str("host-engine", name).finish(),
            Readable::HostEngine(name.clone()),
        ),
    };
    let step_ctx = Arc::clone(ctx);
    let tag = tag.map(str::to_owned);
    let platform = platform.clone();
    ctx.scheduler
        .solve(request, node.name.clone(), move |_| {
            blocking(move || {
                let store = &step_ctx.store;
                let (imported, name) = source.import(store, tag.as_deref(), &platform)?;
                image_outcome(
                    store,
                    &name,
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

/// Where an import reads its image from.
enum Readable {
    Archive(ArchiveSource),
    /// `Host.containerImage`: saved by the host's container engine into a
    /// throwaway archive first, gone again once imported.
    HostEngine(String),
}

impl Readable {
    /// The image imported into `store`, and the name progress shows.
    fn import(
        &self,
        store: &Store,
        tag: Option<&str>,
        platform: &Platform,
    ) -> Result<(Imported, String), Error> {
        match self {
            Readable::Archive(archive) => Ok((
                import_archive(store, archive, tag, platform)?,
                archive.name(),
            )),
            Readable::HostEngine(name) => {
                let scratch = store
                    .throwaway("host-image")
                    .map_err(|source| Error::Store {
                        source: Box::new(source),
                    })?;
                let archive = scratch.dir().join("image.tar");
                host_image::save(name, &archive)?;
                let imported = import_archive(store, &ArchiveSource::Tar(archive), None, platform)?;
                Ok((imported, name.clone()))
            }
        }
    }
}
