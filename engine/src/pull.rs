//! Pulling an image: resolve its manifest (through an index, for the wanted
//! platform), store manifest and config, and ingest every layer — in parallel,
//! each straight from the network into its snapshot. What the store already
//! has is neither fetched nor unpacked again.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oci_spec::image::{Descriptor, ImageManifest};
use registry::manifest::{self, Manifest};
use registry::{Client, Platform, Reference};
use snapshotter::{Compression, LayerBlob, Snapshot, Store, UnpackStats};

use crate::error::Error;

/// Small blobs (configs) above this size are refused before download.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

#[derive(Clone)]
pub struct PullOptions {
    pub platform: Platform,
    /// Layers fetched and unpacked at once.
    pub parallel_layers: usize,
    /// Told how each fetched layer's download goes.
    pub progress: Option<PullProgress>,
    /// Only the manifest and config: the layers are left for later (lazy
    /// import), and the image's `layers` are empty.
    pub resolve_only: bool,
}

/// Told about layer downloads: often while bytes arrive, and once at the end.
pub type PullProgress = Arc<dyn Fn(&LayerProgress) + Send + Sync>;

/// How far one layer's download is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerProgress {
    pub digest: String,
    /// Bytes received so far.
    pub bytes: u64,
    /// The layer's compressed size.
    pub total: u64,
    /// Time since its download started.
    pub elapsed: Duration,
    pub done: bool,
}

/// How often a download in progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: Platform::host(),
            parallel_layers: 4,
            progress: None,
            resolve_only: false,
        }
    }
}

impl std::fmt::Debug for PullOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullOptions")
            .field("platform", &self.platform)
            .field("parallel_layers", &self.parallel_layers)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Counts the bytes read through it and reports them, and the end of the
/// blob as the layer done.
pub(crate) struct Counting<R> {
    inner: R,
    progress: LayerProgress,
    started: Instant,
    last_report: Instant,
    report: PullProgress,
}

impl<R> Counting<R> {
    pub(crate) fn new(inner: R, digest: &str, total: u64, report: PullProgress) -> Counting<R> {
        let now = Instant::now();
        let progress = LayerProgress {
            digest: digest.to_owned(),
            bytes: 0,
            total,
            elapsed: Duration::ZERO,
            done: false,
        };
        report(&progress);
        Counting {
            inner,
            progress,
            started: now,
            last_report: now,
            report,
        }
    }

    fn done(mut self) {
        self.report_done();
    }

    fn report_done(&mut self) {
        if !self.progress.done {
            self.progress.done = true;
            self.progress.elapsed = self.started.elapsed();
            (self.report)(&self.progress);
        }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.bytes += n as u64;
        if n == 0 && !buf.is_empty() {
            self.report_done();
        } else if self.last_report.elapsed() >= PROGRESS_EVERY {
            self.last_report = Instant::now();
            self.progress.elapsed = self.started.elapsed();
            (self.report)(&self.progress);
        }
        Ok(n)
    }
}

/// What became of one layer.
#[derive(Debug)]
pub enum LayerOutcome {
    /// Its snapshot was already in the store.
    Reused,
    /// Unpacked from a blob the store already had.
    UnpackedFromStore(UnpackStats),
    /// Fetched from the registry and unpacked as it arrived.
    Fetched { bytes: u64, stats: UnpackStats },
}

#[derive(Debug)]
pub struct LayerReport {
    pub digest: String,
    pub size: u64,
    pub snapshot: Snapshot,
    pub outcome: LayerOutcome,
}

/// A pulled image: the reference pinned to its manifest digest, and its
/// layers' snapshots, lowest first.
#[derive(Debug)]
pub struct PulledImage {
    pub reference: Reference,
    pub manifest_digest: String,
    pub config_digest: String,
    /// The layers' diff ids, lowest first.
    pub diff_ids: Vec<String>,
    pub layers: Vec<LayerReport>,
    /// The manifest's layer descriptors, lowest first: where each layer's
    /// blob is (with `resolve_only`, nothing else says).
    pub layer_blobs: Vec<Descriptor>,
}

/// Where an image's blobs come from: a registry, or (an imported archive)
/// the content store alone.
pub(crate) enum Source<'a> {
    Registry(&'a Reference),
    Archive(&'a str),
}

impl Source<'_> {
    fn name(&self) -> String {
        match self {
            Source::Registry(reference) => reference.to_string(),
            Source::Archive(name) => (*name).to_owned(),
        }
    }
}

/// Pulls images into a store.
pub struct Puller<'s> {
    store: &'s Store,
    client: Client,
}

impl<'s> Puller<'s> {
    pub fn new(store: &'s Store, client: Client) -> Puller<'s> {
        Puller { store, client }
    }

    /// Pulls the first of `candidates` (what a short name may mean) that a
    /// registry has; with one candidate, that one.
    pub fn pull_first(
        &self,
        address: &str,
        candidates: &[Reference],
        options: &PullOptions,
    ) -> Result<PulledImage, Error> {
        let mut tried = Vec::new();
        for (i, reference) in candidates.iter().enumerate() {
            match self.pull(reference, options) {
                Err(Error::Registry { source, .. })
                    if source.is_absent() && i + 1 < candidates.len() =>
                {
                    tracing::debug!("{reference}: {source}; trying the next search registry");
                    tried.push(format!("{reference}: {source}"));
                }
                Err(Error::Registry { image, source })
                    if !tried.is_empty() && source.is_absent() =>
                {
                    tried.push(format!("{image}: {source}"));
                    return Err(Error::NotInSearchRegistries {
                        address: address.to_owned(),
                        tried: tried.join("; "),
                    });
                }
                result => return result,
            }
        }
        Err(Error::NotInSearchRegistries {
            address: address.to_owned(),
            tried: "no search registries are configured".into(),
        })
    }

    pub fn pull(&self, reference: &Reference, options: &PullOptions) -> Result<PulledImage, Error> {
        let image = reference.to_string();
        let registry_error = |source| Error::Registry {
            image: image.clone(),
            source: Box::new(source),
        };
        let (manifest_digest, manifest) = self.resolve(reference, &options.platform)?;
        let pinned = reference.with_digest(&manifest_digest);

        let config = manifest.config();
        let config_digest = config.digest().to_string();
        if config.size() > MAX_CONFIG_BYTES {
            return Err(Error::Malformed {
                image,
                detail: format!(
                    "its config claims {} bytes, more than tanto accepts",
                    config.size()
                ),
            });
        }
        let config_bytes = self.blob(reference, config, "config")?;
        let config = manifest::parse_config(&image, &config_bytes).map_err(registry_error)?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            return Err(Error::LayerCount {
                image,
                layers: manifest.layers().len(),
                diff_ids: diff_ids.len(),
            });
        }

        let layers = if options.resolve_only {
            Vec::new()
        } else {
            self.ingest_layers(&Source::Registry(reference), &manifest, diff_ids, options)?
        };
        Ok(PulledImage {
            reference: pinned,
            manifest_digest,
            config_digest,
            diff_ids: diff_ids.to_vec(),
            layers,
            layer_blobs: manifest.layers().clone(),
        })
    }

    /// The image manifest for `platform`, from the store when the reference
    /// is pinned and known, else from the registry.
    fn resolve(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<(String, ImageManifest), Error> {
        let image = reference.to_string();
        let (digest, document) = self.manifest(reference)?;
        match document {
            Manifest::Image(manifest) => Ok((digest, *manifest)),
            Manifest::Index(index) => {
                let entry =
                    manifest::select_platform(&image, &index, platform).map_err(|source| {
                        Error::Registry {
                            image: image.clone(),
                            source: Box::new(source),
                        }
                    })?;
                let child = reference.with_digest(entry.digest().as_ref());
                match self.manifest(&child)? {
                    (digest, Manifest::Image(manifest)) => Ok((digest, *manifest)),
                    (_, Manifest::Index(_)) => Err(Error::Malformed {
                        image,
                        detail: format!(
                            "index entry {} for {platform} is another index",
                            entry.digest()
                        ),
                    }),
                }
            }
        }
    }

    fn manifest(&self, reference: &Reference) -> Result<(String, Manifest), Error> {
        let image = reference.to_string();
        let registry_error = |source| Error::Registry {
            image: image.clone(),
            source: Box::new(source),
        };
        if let Some(digest) = reference.digest() {
            if self.store.has_blob(digest).unwrap_or(false) {
                if let Ok(bytes) = self.store.read_blob(digest) {
                    tracing::debug!("manifest {digest} is in the store");
                    let parsed = Manifest::parse(&image, "", &bytes).map_err(registry_error)?;
                    return Ok((digest.to_owned(), parsed));
                }
            }
        }
        let fetched = self
            .client
            .fetch_manifest(reference)
            .map_err(registry_error)?;
        let parsed =
            Manifest::parse(&image, &fetched.media_type, &fetched.bytes).map_err(registry_error)?;
        self.store
            .write_blob(&fetched.digest, &fetched.bytes)
            .map_err(|source| Error::Save {
                image: image.clone(),
                what: format!("manifest {}", fetched.digest),
                source: Box::new(source),
            })?;
        Ok((fetched.digest, parsed))
    }

    /// A small blob, from the store or fetched and stored.
    fn blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        what: &str,
    ) -> Result<Vec<u8>, Error> {
        let image = reference.to_string();
        let digest = descriptor.digest().to_string();
        let save_error = |source| Error::Save {
            image: image.clone(),
            what: format!("{what} {digest}"),
            source: Box::new(source),
        };
        if self.store.has_blob(&digest).map_err(save_error)? {
            return self.store.read_blob(&digest).map_err(save_error);
        }
        let bytes = self
            .client
            .fetch_small_blob(reference, &digest, descriptor.size())
            .map_err(|source| Error::Registry {
                image: image.clone(),
                source: Box::new(source),
            })?;
        self.store.write_blob(&digest, &bytes).map_err(save_error)?;
        Ok(bytes)
    }

    /// Ingests every layer of `manifest`, several at once.
    pub(crate) fn ingest_layers(
        &self,
        source: &Source,
        manifest: &ImageManifest,
        diff_ids: &[String],
        options: &PullOptions,
    ) -> Result<Vec<LayerReport>, Error> {
        let parallel = options.parallel_layers.max(1);
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<LayerReport, Error>>>> =
            Mutex::new((0..diff_ids.len()).map(|_| None).collect());
        std::thread::scope(|scope| {
            for _ in 0..parallel.min(diff_ids.len()) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= diff_ids.len() {
                        break;
                    }
                    let result = self.ingest_layer(
                        source,
                        &manifest.layers()[i],
                        &diff_ids[i],
                        options.progress.as_ref(),
                    );
                    let failed = result.is_err();
                    results.lock().unwrap()[i] = Some(result);
                    if failed {
                        // Let the others finish what they hold, start nothing new.
                        next.store(diff_ids.len(), Ordering::SeqCst);
                    }
                });
            }
        });
        let mut reports = Vec::with_capacity(diff_ids.len());
        let mut first_error = None;
        for result in results.into_inner().unwrap() {
            match result {
                Some(Ok(report)) => reports.push(report),
                Some(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                None => {}
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(reports),
        }
    }

    fn ingest_layer(
        &self,
        source: &Source,
        descriptor: &Descriptor,
        diff_id: &str,
        progress: Option<&PullProgress>,
    ) -> Result<LayerReport, Error> {
        let image = source.name();
        let digest = descriptor.digest().to_string();
        let media_type = descriptor.media_type().to_string();
        let layer_error = |source| Error::Layer {
            image: image.clone(),
            layer: digest.clone(),
            source: Box::new(source),
        };
        let compression =
            Compression::from_media_type(&media_type).ok_or_else(|| Error::UnsupportedLayer {
                image: image.clone(),
                layer: digest.clone(),
                media_type: media_type.clone(),
            })?;
        let report = |snapshot, outcome| LayerReport {
            digest: digest.clone(),
            size: descriptor.size(),
            snapshot,
            outcome,
        };
        if let Some(snapshot) = self.store.layer_snapshot(diff_id).map_err(layer_error)? {
            return Ok(report(snapshot, LayerOutcome::Reused));
        }
        let lock = self.store.lock_layer(diff_id).map_err(layer_error)?;
        // Another process may have made it while we waited for the lock.
        if let Some(snapshot) = self.store.layer_snapshot(diff_id).map_err(layer_error)? {
            return Ok(report(snapshot, LayerOutcome::Reused));
        }
        let layer = LayerBlob {
            digest: &digest,
            size: descriptor.size(),
            diff_id,
            compression,
        };
        if self.store.has_blob(&digest).map_err(layer_error)? {
            let path = self.store.blob_path(&digest).map_err(layer_error)?;
            let file = std::fs::File::open(&path).map_err(|source| {
                layer_error(snapshotter::Error::Store {
                    path: path.clone(),
                    source,
                })
            })?;
            let ingested = self
                .store
                .ingest_layer(&lock, &layer, std::io::BufReader::new(file), false)
                .map_err(layer_error)?;
            return Ok(report(
                ingested.snapshot,
                LayerOutcome::UnpackedFromStore(ingested.stats),
            ));
        }
        let Source::Registry(reference) = source else {
            return Err(Error::Malformed {
                image,
                detail: format!("layer {digest} is missing from it"),
            });
        };
        let blob = self
            .client
            .fetch_blob(reference, &digest, descriptor.size())
            .map_err(|source| Error::Registry {
                image: image.clone(),
                source: Box::new(source),
            })?;
        let ingested = match progress {
            Some(progress) => {
                let mut counting =
                    Counting::new(blob, &digest, descriptor.size(), progress.clone());
                let ingested = self
                    .store
                    .ingest_layer(&lock, &layer, &mut counting, true)
                    .map_err(layer_error)?;
                counting.done();
                ingested
            }
            None => self
                .store
                .ingest_layer(&lock, &layer, blob, true)
                .map_err(layer_error)?,
        };
        Ok(report(
            ingested.snapshot,
            LayerOutcome::Fetched {
                bytes: descriptor.size(),
                stats: ingested.stats,
            },
        ))
    }
}
