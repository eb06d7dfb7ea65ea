//! What a container built on an image keeps of it: the pinned reference,
//! the config as the registry served it, and each layer's blob descriptor
//! next to the directory it was unpacked into.

use std::path::PathBuf;

use registry::manifest::Manifest;
use registry::Reference;
use snapshotter::{Compression, Store};

use crate::error::Error;

#[derive(Debug)]
pub(crate) struct BaseImage {
    /// Pinned to the manifest digest; `None` for an imported image.
    pub reference: Option<Reference>,
    /// The config, whole: publishing keeps what tanto does not model.
    pub config: serde_json::Value,
    /// Lowest first.
    pub layers: Vec<BaseLayer>,
}

#[derive(Clone, Debug)]
pub(crate) struct BaseLayer {
    pub dir: PathBuf,
    pub digest: String,
    pub size: u64,
    pub compression: Compression,
    pub diff_id: String,
}

impl BaseImage {
    /// `layer_dirs`: the snapshots of the manifest's layers, lowest first.
    pub(crate) fn load(
        store: &Store,
        address: &str,
        reference: Option<Reference>,
        manifest_digest: &str,
        layer_dirs: Vec<PathBuf>,
        config_bytes: &[u8],
    ) -> Result<BaseImage, Error> {
        let malformed = |detail: String| Error::Malformed {
            image: address.to_owned(),
            detail,
        };
        let manifest_bytes = store
            .read_blob(manifest_digest)
            .map_err(|source| Error::Save {
                image: address.to_owned(),
                what: "its manifest".into(),
                source: Box::new(source),
            })?;
        let Manifest::Image(manifest) =
            Manifest::parse(address, "", &manifest_bytes).map_err(|source| Error::Registry {
                image: address.to_owned(),
                source: Box::new(source),
            })?
        else {
            return Err(malformed("its pinned manifest is an index".into()));
        };
        let config: serde_json::Value = serde_json::from_slice(config_bytes)
            .map_err(|e| malformed(format!("its config is not JSON ({e})")))?;
        let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| id.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let layers = manifest
            .layers()
            .iter()
            .zip(layer_dirs)
            .zip(diff_ids)
            .map(|((descriptor, dir), diff_id)| BaseLayer {
                dir,
                digest: descriptor.digest().to_string(),
                size: descriptor.size(),
                compression: Compression::from_media_type(descriptor.media_type().as_ref())
                    .unwrap_or(Compression::Gzip),
                diff_id,
            })
            .collect();
        Ok(BaseImage {
            reference,
            config,
            layers,
        })
    }
}
