//! `--cache-from`: before a step runs, its key is looked up among the tags
//! of each cache (listed once per run); on a hit the entry is fetched into
//! the result being made, every blob verified by digest, and nothing runs.
//! An entry that cannot be fetched or does not verify is refused with a
//! warning naming it, and the step runs here instead.

use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest as _, Sha256};
use snapshotter::{Compression, LayerBlob};

use super::entry::{self, EntryConfig, Item};
use super::{RegistryCache, Source};
use crate::cache_key::CacheKey;
use crate::error::Error;
use crate::pending::LayerFeed;
use snapshotter::ResultKind as Kind;

/// Config blobs are small; a larger one is not an entry of ours.
const MAX_CONFIG_BYTES: u64 = 4 << 20;

impl RegistryCache {
    /// Fills `dir` (an empty result being made) with the entry for `key`
    /// from the first cache that has one, and names that cache; `None` when
    /// none does (or none could be used), and the step runs.
    pub(crate) fn fetch(&self, kind: Kind, key: &CacheKey, dir: &Path) -> Option<String> {
        self.fetch_items(kind, key, dir, Items::All)
            .map(|fetched| fetched.place)
    }

    /// Whether a cache to import from lists an entry for `key` that this
    /// run has not refused: the step need not run, and what it made can
    /// stay in the registry until something needs it (`pending.rs`).
    pub(crate) fn has(&self, key: &CacheKey) -> bool {
        let hex = key.to_hex();
        !self.refused.lock().unwrap().contains(&hex)
            && self
                .imports
                .iter()
                .any(|source| self.tags(source).contains(&source.place.tag(&hex)))
    }

    /// Fills `dir` with only the small files of the entry for `key` (its
    /// output, its record), not its layers: what the step's output is read
    /// from while the layers stay in the registry. Returns where each
    /// layer can be read, as the layer directory it would be under
    /// `result_dir`; `None` when no cache gave the files (the entry is then
    /// refused for the rest of the run).
    pub(crate) fn fetch_outputs(
        &self,
        kind: Kind,
        key: &CacheKey,
        dir: &Path,
        result_dir: &Path,
    ) -> Option<Vec<LayerFeed>> {
        let fetched = self.fetch_items(kind, key, dir, Items::Files)?;
        Some(self.feeds(fetched, result_dir))
    }

    /// Where each layer of the entry for `key` can be read, as the layer
    /// directory it would be under `result_dir`: its manifest and config
    /// fetched, nothing else. None when no cache has a usable entry.
    pub(crate) fn layer_feeds(
        &self,
        kind: Kind,
        key: &CacheKey,
        result_dir: &Path,
    ) -> Vec<LayerFeed> {
        match self.fetch_items(kind, key, result_dir, Items::Nothing) {
            Some(fetched) => self.feeds(fetched, result_dir),
            None => Vec::new(),
        }
    }

    fn feeds(&self, fetched: Fetched, result_dir: &Path) -> Vec<LayerFeed> {
        let feeds = fetched.left.into_iter().filter_map(|item| {
            let dir = entry::item_destination(result_dir, &item)?;
            Some(LayerFeed::in_registry(
                dir,
                self.client.clone(),
                fetched.reference.clone(),
                (item.digest, item.size),
                item.diff_id?,
                compression(item.compression.as_deref()),
            ))
        });
        feeds.collect()
    }

    fn fetch_items(&self, kind: Kind, key: &CacheKey, dir: &Path, items: Items) -> Option<Fetched> {
        let hex = key.to_hex();
        if self.refused.lock().unwrap().contains(&hex) {
            return None;
        }
        let mut listed = false;
        for source in &self.imports {
            if !self.tags(source).contains(&source.place.tag(&hex)) {
                continue;
            }
            listed = true;
            match self.fetch_entry(source, kind, &hex, dir, items) {
                Ok(left) => {
                    tracing::debug!("{hex}: fetched from the cache {}", source.place);
                    return Some(Fetched {
                        place: source.place.to_string(),
                        reference: source.place.entry(&hex),
                        left,
                    });
                }
                Err(error) => {
                    tracing::warn!("{error:#}; the step runs here instead");
                    if items != Items::Nothing {
                        // Nothing was written for `Nothing`: `dir` is only
                        // where the layers would go, perhaps another's.
                        empty(dir);
                    }
                }
            }
        }
        if listed {
            // Listed but unusable: no use asking again this run.
            self.refused.lock().unwrap().insert(hex);
        }
        None
    }

    /// The cache's tags, listed on first use; none if it cannot be listed.
    fn tags<'s>(&self, source: &'s Source) -> &'s std::collections::HashSet<String> {
        source.tags.get_or_init(|| {
            let prefix = format!("{}-", source.place.prefix);
            match self.client.list_tags(&source.place.reference) {
                Ok(tags) => tags
                    .into_iter()
                    .filter(|t| t.starts_with(&prefix))
                    .collect(),
                Err(error) => {
                    tracing::warn!(
                        "cannot list the cache {}: {error}; it is not used this run",
                        source.place
                    );
                    Default::default()
                }
            }
        })
    }

    fn fetch_entry(
        &self,
        source: &Source,
        kind: Kind,
        hex: &str,
        dir: &Path,
        items: Items,
    ) -> Result<Vec<Item>, Error> {
        let reference = source.place.entry(hex);
        let name = reference.to_string();
        let unusable = |reason: String| Error::CacheEntry {
            entry: name.clone(),
            reason,
        };
        let fetch_error = |what: &str| {
            let name = name.clone();
            let what = what.to_owned();
            move |source| Error::CacheFetch {
                entry: name,
                what,
                source: Box::new(source),
            }
        };
        let manifest = self
            .client
            .fetch_manifest(&reference)
            .map_err(fetch_error("its manifest"))?;
        let (config_digest, config_size) = entry::config_of(&manifest.bytes)
            .ok_or_else(|| unusable("it is not a tanto cache entry (v1)".into()))?;
        if config_size > MAX_CONFIG_BYTES {
            return Err(unusable(format!("its config claims {config_size} bytes")));
        }
        let config_bytes = self
            .client
            .fetch_small_blob(&reference, &config_digest, config_size)
            .map_err(fetch_error("its config"))?;
        if sha256(&config_bytes) != config_digest {
            return Err(Error::CacheTampered {
                entry: name.clone(),
                digest: config_digest,
            });
        }
        let config: EntryConfig = serde_json::from_slice(&config_bytes)
            .map_err(|e| unusable(format!("its config is not what tanto writes ({e})")))?;
        if config.kind != entry::kind_name(kind) || config.key != hex {
            return Err(unusable(format!(
                "it holds the {} result {}, not the {} result {hex}",
                config.kind,
                config.key,
                entry::kind_name(kind)
            )));
        }
        let mut left = Vec::new();
        for item in config.items {
            let destination = entry::item_destination(dir, &item)
                .ok_or_else(|| unusable(format!("it names the item {:?}", item.path)))?;
            if items == Items::Nothing || (items == Items::Files && item.diff_id.is_some()) {
                left.push(item);
                continue;
            }
            self.fetch_item(&reference, &name, &item, &destination)?;
        }
        Ok(left)
    }

    fn fetch_item(
        &self,
        reference: &registry::Reference,
        name: &str,
        item: &Item,
        destination: &Path,
    ) -> Result<(), Error> {
        let what = format!("{} ({})", item.path, item.digest);
        let blob = self
            .client
            .fetch_blob(reference, &item.digest, item.size)
            .map_err(|source| Error::CacheFetch {
                entry: name.to_owned(),
                what: what.clone(),
                source: Box::new(source),
            })?;
        let write_error = |source| Error::Memo {
            path: destination.to_owned(),
            source,
        };
        if let Some(diff_id) = &item.diff_id {
            let compression = compression(item.compression.as_deref());
            std::fs::create_dir_all(destination).map_err(write_error)?;
            let layer = LayerBlob {
                digest: &item.digest,
                size: item.size,
                diff_id,
                compression,
            };
            self.store
                .unpack_layer_into(destination, &layer, blob)
                .map_err(|source| Error::CacheUnpack {
                    entry: name.to_owned(),
                    what,
                    source: Box::new(source),
                })?;
            return Ok(());
        }
        let mut file = std::fs::File::create(destination).map_err(write_error)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut reader = blob;
        let mut buffer = vec![0u8; 64 << 10];
        loop {
            let n = reader.read(&mut buffer).map_err(write_error)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            file.write_all(&buffer[..n]).map_err(write_error)?;
            size += n as u64;
        }
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        if digest != item.digest || size != item.size {
            return Err(Error::CacheTampered {
                entry: name.to_owned(),
                digest: item.digest.clone(),
            });
        }
        Ok(())
    }
}

/// An entry fetched (whole, or its files only).
struct Fetched {
    /// The cache it came from.
    place: String,
    reference: registry::Reference,
    /// Its layers, when only its files were fetched.
    left: Vec<Item>,
}

/// A layer item's compression, as its entry's config names it.
fn compression(name: Option<&str>) -> Compression {
    match name {
        Some("gzip") => Compression::Gzip,
        Some("zstd") => Compression::Zstd,
        _ => Compression::None,
    }
}

/// Which of an entry's items to fetch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Items {
    All,
    /// The small files only, not the layers.
    Files,
    /// Only the manifest and config, saying where the items are.
    Nothing,
}

pub(super) fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Empties a result directory a failed fetch half filled, for the step.
fn empty(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if let Err(e) = removed {
            tracing::warn!("cannot remove {}: {e}", path.display());
        }
    }
}
