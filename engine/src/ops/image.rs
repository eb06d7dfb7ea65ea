//! The image op: an image pulled from a registry (or imported, see
//! `import.rs`) becomes the chain of its layers' snapshots, with its config.

use std::path::PathBuf;
use std::sync::Arc;

use registry::{Platform, Reference};

use crate::base_image::BaseImage;
use crate::cache_key::KeyBuilder;
use crate::config::{Healthcheck, Settings};
use crate::context::Context;
use crate::error::Error;
use crate::node::Node;
use crate::pull::{LayerOutcome, LayerProgress, LayerReport, PullOptions, Puller};
use crate::scheduler::Outcome;
use crate::solved::{blocking, PullReport, Solved};

use super::keys::image_key;

pub(super) async fn solve_image(
    ctx: &Arc<Context>,
    node: &Arc<Node>,
    address: &str,
    platform: &Platform,
) -> Result<Solved, Error> {
    // Keyed by the request: the content key is the manifest digest, known
    // once the reference is resolved.
    let request = KeyBuilder::new("tanto.image-request.v1")
        .str("address", address)
        .str("platform", &platform.to_string())
        .finish();
    let step_ctx = Arc::clone(ctx);
    let address = address.to_owned();
    let platform = platform.clone();
    ctx.scheduler
        .solve(request, node.name.clone(), move |job| {
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
                    ..PullOptions::default()
                };
                let image = puller.pull_first(&address, &candidates, &options)?;
                let config_bytes = ctx
                    .store
                    .read_blob(&image.config_digest)
                    .map_err(|source| Error::Save {
                        image: address.clone(),
                        what: "its config".into(),
                        source: Box::new(source),
                    })?;
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
    let config =
        registry::manifest::parse_config(name, config_bytes).map_err(|source| Error::Registry {
            image: name.to_owned(),
            source: Box::new(source),
        })?;
    let dirs: Vec<PathBuf> = layers.iter().map(|l| l.snapshot.fs()).collect();
    let pinned = match &reference {
        Some(reference) => reference.to_string(),
        None => format!("{name}@{manifest_digest}"),
    };
    let base = BaseImage::load(
        store,
        name,
        reference,
        manifest_digest,
        dirs.clone(),
        config_bytes,
    )?;
    let all_present = layers
        .iter()
        .all(|l| matches!(l.outcome, LayerOutcome::Reused));
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
    solved.pulled = Some(Arc::new(PullReport { pinned, layers }));
    Ok(if all_present {
        Outcome::Cached(solved)
    } else {
        Outcome::Ran(solved)
    })
}
