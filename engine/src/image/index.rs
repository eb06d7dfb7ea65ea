//! Multi-platform images (`platformVariants`): the image of each container
//! under one image index, each manifest's entry saying the platform its
//! config says, as `docker buildx` and Dagger write them. A registry or a
//! tarball then serves every platform under one name, and a pull picks
//! its own.

use registry::Platform;
use serde_json::{json, Value};

use super::build::{store_blob, Blob, Built};
use super::{media, MediaTypes};
use crate::context::Context;
use crate::error::Error;

/// The index of `images` (one per platform, the first the default) in the
/// content store.
pub(crate) fn build_index(
    ctx: &Context,
    images: &[Built],
    types: MediaTypes,
) -> Result<Blob, Error> {
    for (i, image) in images.iter().enumerate() {
        if images[..i]
            .iter()
            .any(|other| other.platform == image.platform)
        {
            return Err(Error::DuplicatePlatform {
                platform: image.platform.to_string(),
            });
        }
    }
    let manifests: Vec<Value> = images
        .iter()
        .map(|image| {
            let mut entry = image.manifest.descriptor();
            entry["platform"] = platform_json(&image.platform);
            entry
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media::index(types),
        "manifests": manifests,
    });
    let bytes = serde_json::to_vec(&index).expect("a JSON value serializes");
    store_blob(ctx, &bytes, media::index(types))
}

fn platform_json(platform: &Platform) -> Value {
    let mut value = json!({"architecture": platform.architecture, "os": platform.os});
    if let Some(variant) = &platform.variant {
        value["variant"] = variant.clone().into();
    }
    value
}
