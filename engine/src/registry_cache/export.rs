//! `--cache-to`: after a run, every result it made or used is pushed as an
//! entry (see `entry.rs`) unless the cache has it already. Blobs go first,
//! each skipped when the registry has it (`HEAD`), the manifest last, so an
//! entry is never visible half pushed; several entries go up at once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::Deserialize;
use snapshotter::{Compression, PackOptions};

use super::entry::{self, EntryConfig, Item};
use super::import::sha256;
use super::{CacheExport, ExportMode, RegistryCache, Touched};
use crate::error::Error;
use snapshotter::ResultKind as Kind;

/// Entries pushed at once.
const PARALLEL_ENTRIES: usize = 4;

/// What one `--cache-to` did.
#[derive(Debug)]
pub struct ExportReport {
    pub place: String,
    /// Entries pushed now.
    pub pushed: usize,
    /// Entries the cache had already.
    pub present: usize,
    /// Results of steps that read a secret, left out.
    pub secret_steps: usize,
    /// With `mode=min`: results the run only worked with, left out.
    pub not_returned: usize,
}

/// The part of an exec's `result.json` export cares about.
#[derive(Deserialize)]
struct Record {
    #[serde(default)]
    reads_secrets: bool,
}

impl RegistryCache {
    /// Pushes the run's results to every `--cache-to`.
    pub(crate) fn export(&self) -> Result<Vec<ExportReport>, Error> {
        let mut touched = self.touched.lock().unwrap().clone();
        let mut seen = HashSet::new();
        touched.retain(|t| seen.insert((entry::kind_name(t.kind), t.key)));
        let mut reports = Vec::new();
        for export in &self.exports {
            match self.export_to(export, &touched) {
                Ok(report) => reports.push(report),
                Err(error) if export.ignore_error => {
                    tracing::warn!("{error:#} (ignored: ignore-error=true)")
                }
                Err(error) => return Err(error),
            }
        }
        Ok(reports)
    }

    fn export_to(&self, export: &CacheExport, touched: &[Touched]) -> Result<ExportReport, Error> {
        let place = &export.place;
        let push_error = |source| Error::CachePush {
            place: place.to_string(),
            source: Box::new(source),
        };
        let present: HashSet<String> = self
            .client
            .list_tags(&place.reference)
            .map_err(push_error)?
            .into_iter()
            .collect();
        let mut report = ExportReport {
            place: place.to_string(),
            pushed: 0,
            present: 0,
            secret_steps: 0,
            not_returned: 0,
        };
        let mut todo = Vec::new();
        for result in touched {
            if export.mode == ExportMode::Min && !self.was_returned(&result.dir) {
                report.not_returned += 1;
            } else if present.contains(&place.tag(&result.key.to_hex())) {
                report.present += 1;
            } else if !export.secret_steps && reads_secrets(result) {
                report.secret_steps += 1;
            } else {
                todo.push(result);
            }
        }
        let next = AtomicUsize::new(0);
        let failure: Mutex<Option<Error>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..PARALLEL_ENTRIES.min(todo.len()) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(result) = todo.get(i) else { break };
                    if let Err(error) = self.push_entry(export, result) {
                        failure.lock().unwrap().get_or_insert(error);
                        next.store(todo.len(), Ordering::SeqCst);
                    }
                });
            }
        });
        if let Some(error) = failure.into_inner().unwrap() {
            return Err(error);
        }
        report.pushed = todo.len();
        Ok(report)
    }

    fn push_entry(&self, export: &CacheExport, result: &Touched) -> Result<(), Error> {
        let place = &export.place;
        let hex = result.key.to_hex();
        let reference = place.entry(&hex);
        let push_error = |source| Error::CachePush {
            place: place.to_string(),
            source: Box::new(source),
        };
        let store_error = |source| Error::Store {
            source: Box::new(source),
        };
        let read_error = |source| Error::Memo {
            path: result.dir.clone(),
            source,
        };
        let (layers, files) = entry::contents(&result.dir).map_err(read_error)?;
        let mut items = Vec::new();
        for path in layers {
            let packed = self
                .store
                .pack_layer_once(
                    &result.dir.join(&path),
                    export.compression,
                    PackOptions::default(),
                )
                .map_err(store_error)?;
            items.push(Item {
                path,
                digest: packed.digest,
                size: packed.size,
                diff_id: Some(packed.diff_id),
                compression: Some(
                    match export.compression {
                        Compression::Gzip => "gzip",
                        _ => "zstd",
                    }
                    .to_owned(),
                ),
            });
        }
        for path in files {
            let file = std::fs::File::open(result.dir.join(&path)).map_err(read_error)?;
            let (digest, size) = self.store.write_blob_unnamed(file).map_err(store_error)?;
            items.push(Item {
                path,
                digest,
                size,
                diff_id: None,
                compression: None,
            });
        }
        for item in &items {
            let blob = self.store.blob_path(&item.digest).map_err(store_error)?;
            self.client
                .push_blob(&reference, &item.digest, item.size, &blob, None)
                .map_err(push_error)?;
        }
        let config = serde_json::to_vec(&EntryConfig {
            kind: entry::kind_name(result.kind).to_owned(),
            key: hex.clone(),
            description: result.description.clone(),
            items: items.clone(),
        })
        .expect("the config serializes");
        let config_digest = sha256(&config);
        self.store
            .write_blob(&config_digest, &config)
            .map_err(store_error)?;
        let config_path = self.store.blob_path(&config_digest).map_err(store_error)?;
        self.client
            .push_blob(
                &reference,
                &config_digest,
                config.len() as u64,
                &config_path,
                None,
            )
            .map_err(push_error)?;
        let manifest = entry::manifest((&config_digest, config.len() as u64), &hex, &items);
        self.client
            .push_manifest(&reference, entry::MANIFEST_TYPE, &manifest)
            .map_err(push_error)
    }
}

/// Whether an exec result came from a step that read a secret.
fn reads_secrets(result: &Touched) -> bool {
    if result.kind != Kind::Exec {
        return false;
    }
    std::fs::read(result.dir.join("result.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok())
        // An unreadable record: keep it home, to be safe.
        .is_none_or(|record| record.reads_secrets)
}
