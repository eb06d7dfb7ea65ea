//! The image op: an image pulled from a registry (or imported, see
//! `import.rs`) becomes the chain of its layers' snapshots, with its config.

use std::path::PathBuf;
use std::sync::Arc;

use futures::FutureExt;

use registry::{Platform, Reference};
use snapshotter::Compression;

use crate::base_image::BaseImage;
use crate::cache_key::KeyBuilder;
use crate::config::{Healthcheck, Settings};
use crate::context::Context;
use crate::error::Error;
use crate::node::Node;
use crate::pending::LayerFeed;
use crate::pull::{LayerOutcome, LayerProgress, LayerReport, PullOptions, PulledImage, Puller};
use crate::scheduler::Outcome;
use crate::solved::{blocking, PullReport, Solved};

use super::keys::image_key;
use super::registry_hit::owed_step;

pub(super) async fn solve_image(
    ctx: &Arc<Context>,
    node: &Arc<Node>,
    address: &str,
    platform: &Platform,
) -> Result<Solved, Error> {
    // With a registry cache to import from, the layers wait until a chain
    // on them is needed on disk: its steps may all be in the cache.
    let resolve_only = ctx.registry_cache.imports_any();
    image_step(ctx, &node.name, address, platform, resolve_only).await
}

/// `tanto pull`: the image's layers pulled now, and what became of each.
pub(crate) async fn pull_image(
    ctx: &Arc<Context>,
    name: &str,
    address: &str,
    platform: &Platform,
) -> Result<Arc<PullReport>, Error> {
    let solved = image_step(ctx, name, address, platform, false)
        .await
        .map_err(|error| crate::disk_full::explain(ctx.store.root(), error))?;
    Ok(solved
        .pulled
        .expect("an image pulled now reports its layers"))
}

async fn image_step(
    ctx: &Arc<Context>,
    name: &str,
    address: &str,
    platform: &Platform,
    resolve_only: bool,
) -> Result<Solved, Error> {
    // Keyed by the request: the content key is the manifest digest, known
    // once the reference is resolved.
    let mut request = KeyBuilder::new("tanto.image-request.v1")
        .str("address", address)
        .str("platform", &platform.to_string());
    if resolve_only {
        request = request.str("layers", "later");
    }
    let request = request.finish();
    let step_ctx = Arc::clone(ctx);
    let address = address.to_owned();
    let platform = platform.clone();
    ctx.scheduler
        .solve(request, name.to_owned(), move |job| {
            blocking(move || {
                let ctx = step_ctx;
                let candidates: Vec<Reference> =
                    ctx.client
                        .candidates(&address)
                        .map_err(|source| Error::Reference {
                            address: address.clone(),
                            source: Box::new(source),
                        })?;
                let puller = Puller::new(&ctx.store, ctx.client.clone());
                let options = PullOptions {
                    platform,
                    progress: Some(Arc::new(move |layer: &LayerProgress| job.pull(layer))),
                    resolve_only,
                    ..PullOptions::default()
                };
                let image = puller.pull_first(&address, &candidates, &options)?;
                let config_bytes = read_config(&ctx, &address, &image)?;
                if resolve_only {
                    return layers_owed(&ctx, &address, image, &config_bytes);
                }
                image_outcome(
                    &ctx.store,
                    &address,
                    Some(image.reference.clone()),
                    &image.manifest_digest,
                    image.layers,
                    &config_bytes,
                )
            })
        })
        .await
        .map_err(Error::Shared)
}

/// A resolved image whose layers are not pulled yet: its chain names the
/// snapshots they will have, and owes the pull, a step of its own.
fn layers_owed(
    ctx: &Arc<Context>,
    address: &str,
    image: PulledImage,
    config_bytes: &[u8],
) -> Result<Outcome<Solved>, Error> {
    let planned = |diff_id: &String| {
        ctx.store
            .planned_layer(diff_id)
            .map_err(|source| Error::Layer {
                image: address.to_owned(),
                layer: diff_id.clone(),
                source: Box::new(source),
            })
    };
    let dirs = image
        .diff_ids
        .iter()
        .map(planned)
        .collect::<Result<Vec<_>, _>>()?;
    let feeds = layer_feeds(ctx, &image, &dirs);
    let mut solved = image_solved(
        &ctx.store,
        address,
        Some(image.reference.clone()),
        &image.manifest_digest,
        dirs,
        config_bytes,
    )?;
    let pull = KeyBuilder::new("tanto.image-pull.v1")
        .str("manifest", &image.manifest_digest)
        .finish();
    let pinned = image.reference;
    let make = Arc::new(move |ctx: Arc<Context>, job: crate::scheduler::Job| {
        let pinned = pinned.clone();
        blocking(move || pull_pinned(&ctx, &pinned, job)).boxed()
    });
    solved.pending = owed_step(ctx, pull, format!("pull {address}"), make).feeding(feeds);
    Ok(Outcome::Cached(solved))
}

/// Where each layer of a resolved image (to be made at `dirs`) can be
/// read in its registry; a layer of a compression tanto cannot read has
/// none (the pull reports it).
fn layer_feeds(ctx: &Context, image: &PulledImage, dirs: &[PathBuf]) -> Vec<LayerFeed> {
    let layers = image.layer_blobs.iter().zip(&image.diff_ids).zip(dirs);
    layers
        .filter_map(|((blob, diff_id), dir)| {
            let compression = Compression::from_media_type(blob.media_type().as_ref())?;
            Some(LayerFeed::in_registry(
                dir.clone(),
                ctx.client.clone(),
                image.reference.clone(),
                (blob.digest().to_string(), blob.size()),
                diff_id.clone(),
                compression,
            ))
        })
        .collect()
}

/// Pulls the layers of an image resolved before (`pinned` to its
/// manifest, which the store has, as it has the config).
fn pull_pinned(
    ctx: &Context,
    pinned: &Reference,
    job: crate::scheduler::Job,
) -> Result<Outcome<Solved>, Error> {
    let puller = Puller::new(&ctx.store, ctx.client.clone());
    let options = PullOptions {
        progress: Some(Arc::new(move |layer: &LayerProgress| job.pull(layer))),
        ..PullOptions::default()
    };
    let image = puller.pull(pinned, &options)?;
    let name = pinned.to_string();
    let config_bytes = read_config(ctx, &name, &image)?;
    image_outcome(
        &ctx.store,
        &name,
        Some(pinned.clone()),
        &image.manifest_digest,
        image.layers,
        &config_bytes,
    )
}

/// The config of `image` (`name`), which the store has once it is pulled
/// or resolved.
fn read_config(ctx: &Context, name: &str, image: &PulledImage) -> Result<Vec<u8>, Error> {
    ctx.store
        .read_blob(&image.config_digest)
        .map_err(|source| Error::Save {
            image: name.to_owned(),
            what: "its config".into(),
            source: Box::new(source),
        })
}

/// An image step's output (pulled or imported): its layers, settings and
/// what publishing on top of it reuses; cached when no layer was new.
pub(crate) fn image_outcome(
    store: &snapshotter::Store,
    name: &str,
    reference: Option<Reference>,
    manifest_digest: &str,
    layers: Vec<LayerReport>,
    config_bytes: &[u8],
) -> Result<Outcome<Solved>, Error> {
    let dirs: Vec<PathBuf> = layers.iter().map(|l| l.snapshot.fs()).collect();
    let pinned = match &reference {
        Some(reference) => reference.to_string(),
        None => format!("{name}@{manifest_digest}"),
    };
    let mut solved = image_solved(store, name, reference, manifest_digest, dirs, config_bytes)?;
    let all_present = layers
        .iter()
        .all(|l| matches!(l.outcome, LayerOutcome::Reused));
    solved.pulled = Some(Arc::new(PullReport { pinned, layers }));
    Ok(if all_present {
        Outcome::Cached(solved)
    } else {
        Outcome::Ran(solved)
    })
}

/// An image's chain (`dirs`: its layers' snapshots, lowest first), config
/// and what publishing on top of it reuses.
fn image_solved(
    store: &snapshotter::Store,
    name: &str,
    reference: Option<Reference>,
    manifest_digest: &str,
    dirs: Vec<PathBuf>,
    config_bytes: &[u8],
) -> Result<Solved, Error> {
    let config =
        registry::manifest::parse_config(name, config_bytes).map_err(|source| Error::Registry {
            image: name.to_owned(),
            source: Box::new(source),
        })?;
    let base = BaseImage::load(
        store,
        name,
        reference,
        manifest_digest,
        dirs.clone(),
        config_bytes,
    )?;
    let key = image_key(manifest_digest, store.owners());
    let mut solved = Solved::chain(key, dirs.into_iter().rev().collect());
    let mut settings = Settings::from_image(&config);
    // Docker's extension, which the OCI config type does not model.
    settings.healthcheck = base.config.get("config").and_then(Healthcheck::from_config);
    settings.on_build = base
        .config
        .pointer("/config/OnBuild")
        .and_then(|triggers| serde_json::from_value(triggers.clone()).ok())
        .unwrap_or_default();
    solved.settings = Some(Arc::new(settings));
    solved.base = Some(Arc::new(base));
    Ok(solved)
}
