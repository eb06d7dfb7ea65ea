//! Pushing a built image: layers (several at once), then the config, then
//! the manifest under the tag — last, so that a failure part way leaves the
//! tag where it was, never pointing at an image with missing blobs. A
//! multi-platform image: each platform's image by its digest, the index
//! under the tag last.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use registry::Reference;

use super::build::{Blob, Built};
use crate::context::Context;
use crate::error::Error;

/// Blobs uploaded at once.
const PARALLEL_UPLOADS: usize = 4;

/// Pushes `built` as `reference`; returns the reference pinned to the
/// manifest's digest (`registry/repo:tag@sha256:…`), as Dagger does.
pub(crate) fn publish(
    ctx: &Context,
    built: &Built,
    reference: &Reference,
) -> Result<String, Error> {
    push_image(ctx, built, reference, reference)?;
    Ok(pinned(reference, &built.manifest.digest))
}

/// Pushes every image of `images` by its digest, then `index` under
/// `reference`: a multi-platform image, which appears whole or not at all.
pub(crate) fn publish_index(
    ctx: &Context,
    images: &[Built],
    index: &Blob,
    reference: &Reference,
) -> Result<String, Error> {
    for built in images {
        push_image(
            ctx,
            built,
            reference,
            &reference.with_digest(&built.manifest.digest),
        )?;
    }
    push_manifest(ctx, reference, index)?;
    Ok(pinned(reference, &index.digest))
}

/// `registry/repo:tag@digest`.
fn pinned(reference: &Reference, digest: &str) -> String {
    let tag = reference.tag().map(|t| format!(":{t}")).unwrap_or_default();
    format!(
        "{}/{}{tag}@{digest}",
        reference.registry(),
        reference.repository()
    )
}

/// Layers (several at once), the config, then the manifest as
/// `manifest_ref` (the tag, or the image's own digest).
fn push_image(
    ctx: &Context,
    built: &Built,
    reference: &Reference,
    manifest_ref: &Reference,
) -> Result<(), Error> {
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_UPLOADS.min(built.layers.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(layer) = built.layers.get(i) else {
                    break;
                };
                if let Err(error) = push_blob(ctx, reference, layer) {
                    failure.lock().unwrap().get_or_insert(error);
                    next.store(built.layers.len(), Ordering::SeqCst);
                }
            });
        }
    });
    if let Some(error) = failure.into_inner().unwrap() {
        return Err(error);
    }
    push_blob(ctx, reference, &built.config)?;
    push_manifest(ctx, manifest_ref, &built.manifest)
}

fn push_manifest(ctx: &Context, reference: &Reference, manifest: &Blob) -> Result<(), Error> {
    let bytes = ctx
        .store
        .read_blob(&manifest.digest)
        .map_err(|source| Error::Store {
            source: Box::new(source),
        })?;
    ctx.client
        .push_manifest(reference, &manifest.media_type, &bytes)
        .map_err(|source| Error::Publish {
            address: reference.to_string(),
            source: Box::new(source),
        })
}

fn push_blob(ctx: &Context, reference: &Reference, blob: &Blob) -> Result<(), Error> {
    let publish_error = |source| Error::Publish {
        address: reference.to_string(),
        source: Box::new(source),
    };
    let mount_from = blob
        .origin
        .as_ref()
        .filter(|origin| origin.registry() == reference.registry())
        .map(|origin| origin.repository());
    let path = ctx
        .store
        .blob_path(&blob.digest)
        .map_err(|source| Error::Store {
            source: Box::new(source),
        })?;
    if !blob.local {
        // Not here: the registry must have it, or mount it.
        let has = ctx
            .client
            .has_blob(reference, &blob.digest)
            .map_err(publish_error)?;
        if has {
            return Ok(());
        }
        return match ctx
            .client
            .mount_blob(reference, &blob.digest, mount_from.unwrap_or_default())
            .map_err(publish_error)?
        {
            true => Ok(()),
            false => Err(Error::BaseLayerMissing {
                address: reference.to_string(),
                layer: blob.digest.clone(),
            }),
        };
    }
    let outcome = ctx
        .client
        .push_blob(reference, &blob.digest, blob.size, &path, mount_from)
        .map_err(publish_error)?;
    tracing::debug!("{}: {outcome:?}", blob.digest);
    Ok(())
}
