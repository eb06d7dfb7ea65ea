//! Building a container's image: its layers as blobs in the content store,
//! its config and manifest. Nothing is sent anywhere here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use registry::Platform;
use serde_json::{json, Map, Value};
use snapshotter::{Compression, PackOptions};

use super::{media, ImageOptions};
use crate::base_image::BaseImage;
use crate::config::{HistoryNote, Settings};
use crate::context::Context;
use crate::error::Error;
use crate::solved::Solved;

/// A blob of the built image: in the content store (`local`), or only in
/// `origin`'s repository (a base layer whose snapshot came from elsewhere).
#[derive(Clone, Debug)]
pub(crate) struct Blob {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    /// The base image's repository, which has the blob: a push to the same
    /// registry mounts it from there instead of uploading it.
    pub origin: Option<registry::Reference>,
    pub local: bool,
}

impl Blob {
    pub fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Built {
    pub manifest: Blob,
    pub config: Blob,
    /// Lowest first.
    pub layers: Vec<Blob>,
    /// What its config says it runs on: its entry in a multi-platform index.
    pub platform: Platform,
}

/// Builds the image of a container whose root file system is `rootfs`.
/// `remote_registry`: the registry it will be pushed to, where base layers
/// of images from that registry need not be here (they are mounted).
pub(crate) fn build(
    ctx: &Context,
    rootfs: &Solved,
    base: Option<&BaseImage>,
    settings: &Settings,
    platform: &Platform,
    options: ImageOptions,
    remote_registry: Option<&str>,
) -> Result<Built, Error> {
    let epoch = source_date_epoch()?;
    let pack = PackOptions { clamp_mtime: epoch };
    let chain: Vec<&PathBuf> = rootfs.layers.iter().rev().collect();
    // The base's history stays true only when its layers are the bottom of
    // the chain, as after `from`, and it has an entry for each of them (an
    // image without history gets one per layer here).
    let base_history = base.filter(|b| {
        let entries = b.config["history"].as_array().map_or(0, |history| {
            history.iter().filter(|h| h["empty_layer"] != true).count()
        });
        entries == b.layers.len()
            && b.layers.len() <= chain.len()
            && b.layers.iter().zip(&chain).all(|(l, d)| &l.dir == *d)
    });
    let mut history: Vec<Value> = base_history
        .and_then(|b| b.config["history"].as_array().cloned())
        .unwrap_or_default();
    let names = ctx.layer_names.lock().unwrap().clone();
    let mut notes = Notes::new(&settings.history, epoch);
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for (i, dir) in chain.iter().enumerate() {
        let from_base = base.and_then(|b| b.layers.iter().find(|l| &l.dir == *dir));
        let in_base_history = base_history.is_some_and(|b| i < b.layers.len());
        if let Some(layer) = from_base {
            let compression = options.forced_compression.unwrap_or(layer.compression);
            let local = ctx.store.has_blob(&layer.digest).unwrap_or(false);
            let origin = base.and_then(|b| b.reference.clone());
            let reachable = local
                || origin
                    .as_ref()
                    .is_some_and(|o| Some(o.registry()) == remote_registry);
            if compression == layer.compression && reachable {
                layers.push(Blob {
                    digest: layer.digest.clone(),
                    size: layer.size,
                    media_type: layer_media_type(options, compression)?.to_owned(),
                    origin,
                    local,
                });
                diff_ids.push(layer.diff_id.clone());
                if !in_base_history {
                    history.push(entry("from the base image", epoch, false));
                }
                continue;
            }
        } else if is_empty_dir(dir)? {
            // A step that changed nothing adds no layer, only history.
            history.extend(notes.before_layer());
            history.push(notes.layer(&names, dir, true));
            continue;
        }
        let compression = options.forced_compression.unwrap_or(Compression::Gzip);
        let media_type = layer_media_type(options, compression)?;
        let packed = ctx
            .store
            .pack_layer_once(dir, compression, pack)
            .map_err(|source| Error::Pack {
                layer: PathBuf::clone(dir),
                source: Box::new(source),
            })?;
        layers.push(Blob {
            digest: packed.digest,
            size: packed.size,
            media_type: media_type.to_owned(),
            origin: None,
            local: true,
        });
        diff_ids.push(packed.diff_id);
        if in_base_history {
            // The base's own history names it already.
        } else if from_base.is_some() {
            // A base layer packed anew: no instruction of ours made it.
            history.push(entry("from the base image", epoch, false));
        } else {
            history.extend(notes.before_layer());
            history.push(notes.layer(&names, dir, false));
        }
    }
    history.extend(notes.rest());

    let config_value = config_json(base, settings, platform, diff_ids, history, epoch);
    let config_platform = Platform {
        os: config_value["os"]
            .as_str()
            .unwrap_or(&platform.os)
            .to_owned(),
        architecture: config_value["architecture"]
            .as_str()
            .unwrap_or(&platform.architecture)
            .to_owned(),
        variant: config_value["variant"].as_str().map(str::to_owned),
    };
    let config_bytes = serde_json::to_vec(&config_value).expect("a JSON value serializes");
    let config = store_blob(ctx, &config_bytes, media::config(options.media_types))?;
    let mut manifest_json = json!({
        "schemaVersion": 2,
        "mediaType": media::manifest(options.media_types),
        "config": config.descriptor(),
        "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
    });
    if !settings.annotations.is_empty() {
        manifest_json["annotations"] = json!(settings.annotations);
    }
    let manifest_bytes = serde_json::to_vec(&manifest_json).expect("a JSON value serializes");
    let manifest = store_blob(ctx, &manifest_bytes, media::manifest(options.media_types))?;
    Ok(Built {
        manifest,
        config,
        layers,
        platform: config_platform,
    })
}

fn layer_media_type(
    options: ImageOptions,
    compression: Compression,
) -> Result<&'static str, Error> {
    media::layer(options.media_types, compression).ok_or(Error::ImageOptions {
        detail: "Docker media types have no zstd layers; use OCI media types (the default) or another compression",
    })
}

/// The history entries a Dockerfile build noted (`Settings::history`),
/// handed out as the chain's layers above the base come: an instruction
/// that only edited the config before the next layer, one that made layers
/// for those layers. Layers no instruction made (steps after the build)
/// are named after their step.
struct Notes<'n> {
    notes: std::slice::Iter<'n, HistoryNote>,
    /// Layers the current note still has to name.
    pending: Option<(&'n HistoryNote, usize)>,
    epoch: Option<i64>,
}

impl<'n> Notes<'n> {
    fn new(notes: &'n [HistoryNote], epoch: Option<i64>) -> Notes<'n> {
        Notes {
            notes: notes.iter(),
            pending: None,
            epoch,
        }
    }

    /// The entries of the config-only instructions before the next layer.
    fn before_layer(&mut self) -> Vec<Value> {
        let mut entries = Vec::new();
        if self.pending.is_some() {
            return entries;
        }
        let epoch = self.epoch;
        for note in self.notes.by_ref() {
            if note.layers > 0 {
                self.pending = Some((note, note.layers));
                break;
            }
            entries.push(note_entry(note, epoch, true));
        }
        entries
    }

    /// The entry of the next layer (at `dir`; `empty` when it holds nothing).
    fn layer(&mut self, names: &HashMap<PathBuf, String>, dir: &Path, empty: bool) -> Value {
        match self.pending.take() {
            Some((note, left)) => {
                if left > 1 {
                    self.pending = Some((note, left - 1));
                }
                self.entry(note, empty)
            }
            None => {
                let name = names
                    .get(dir)
                    .cloned()
                    .unwrap_or_else(|| "a tanto layer".to_owned());
                entry(name, self.epoch, empty)
            }
        }
    }

    /// The entries of the instructions after the last layer.
    fn rest(&mut self) -> Vec<Value> {
        let epoch = self.epoch;
        self.notes
            .by_ref()
            .filter(|note| note.layers == 0)
            .map(|note| note_entry(note, epoch, true))
            .collect()
    }

    fn entry(&self, note: &HistoryNote, empty: bool) -> Value {
        note_entry(note, self.epoch, empty)
    }
}

fn note_entry(note: &HistoryNote, epoch: Option<i64>, empty: bool) -> Value {
    let mut value = entry(note.created_by.clone(), epoch, empty);
    value["comment"] = HistoryNote::COMMENT.into();
    value
}

fn is_empty_dir(dir: &PathBuf) -> Result<bool, Error> {
    let mut entries = std::fs::read_dir(dir).map_err(|source| Error::Memo {
        path: dir.clone(),
        source,
    })?;
    Ok(entries.next().is_none())
}

fn entry(created_by: impl Into<String>, epoch: Option<i64>, empty: bool) -> Value {
    let mut entry = Map::new();
    if let Some(epoch) = epoch {
        entry.insert("created".into(), rfc3339(epoch).into());
    }
    entry.insert("created_by".into(), created_by.into().into());
    entry.insert("comment".into(), "tanto".into());
    if empty {
        entry.insert("empty_layer".into(), true.into());
    }
    Value::Object(entry)
}

/// The config: the base image's, with the container's settings, the new
/// diff ids and history. No `created` unless `SOURCE_DATE_EPOCH` gives one:
/// a clock in the config would make every publish a new image. An image
/// on no base is the container's platform's (`container(platform:)`).
fn config_json(
    base: Option<&BaseImage>,
    settings: &Settings,
    platform: &Platform,
    diff_ids: Vec<String>,
    history: Vec<Value>,
    epoch: Option<i64>,
) -> Value {
    let mut config = match base.map(|b| &b.config) {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    if !config.contains_key("architecture") {
        config.insert("architecture".into(), platform.architecture.clone().into());
        if let Some(variant) = &platform.variant {
            config.insert("variant".into(), variant.clone().into());
        }
    }
    config
        .entry("os")
        .or_insert_with(|| platform.os.clone().into());
    match epoch {
        Some(epoch) => config.insert("created".into(), rfc3339(epoch).into()),
        None => config.remove("created"),
    };
    // Docker's record of the base's own build, stale for this image.
    for stale in ["container", "container_config", "docker_version"] {
        config.remove(stale);
    }
    let mut run = match config.remove("config") {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let mut set = |key: &str, value: Option<Value>| match value {
        Some(value) => run.insert(key.to_owned(), value),
        None => run.remove(key),
    };
    let env: Vec<String> = settings
        .env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    set("Env", (!env.is_empty()).then(|| json!(env)));
    let entrypoint = &settings.entrypoint;
    set(
        "Entrypoint",
        (!entrypoint.is_empty()).then(|| json!(entrypoint)),
    );
    let cmd = &settings.default_args;
    set("Cmd", (!cmd.is_empty()).then(|| json!(cmd)));
    let workdir = &settings.workdir;
    set("WorkingDir", (!workdir.is_empty()).then(|| json!(workdir)));
    let user = &settings.user;
    set("User", (!user.is_empty()).then(|| json!(user)));
    let labels = &settings.labels;
    set("Labels", (!labels.is_empty()).then(|| json!(labels)));
    let ports: Map<String, Value> = settings
        .exposed_ports
        .iter()
        .map(|port| (port.clone(), json!({})))
        .collect();
    set(
        "ExposedPorts",
        (!ports.is_empty()).then_some(Value::Object(ports)),
    );
    set(
        "Healthcheck",
        settings.healthcheck.as_ref().map(|h| h.to_json()),
    );
    let volumes: Map<String, Value> = settings
        .volumes
        .iter()
        .map(|path| (path.clone(), json!({})))
        .collect();
    set(
        "Volumes",
        (!volumes.is_empty()).then_some(Value::Object(volumes)),
    );
    let signal = &settings.stop_signal;
    set("StopSignal", (!signal.is_empty()).then(|| json!(signal)));
    let triggers = &settings.on_build;
    set("OnBuild", (!triggers.is_empty()).then(|| json!(triggers)));
    config.insert("config".into(), Value::Object(run));
    match settings.author.as_str() {
        "" => config.remove("author"),
        author => config.insert("author".into(), author.into()),
    };
    config.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": diff_ids}),
    );
    config.insert("history".into(), Value::Array(history));
    Value::Object(config)
}

pub(super) fn store_blob(ctx: &Context, bytes: &[u8], media_type: &str) -> Result<Blob, Error> {
    use sha2::Digest as _;
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
    ctx.store
        .write_blob(&digest, bytes)
        .map_err(|source| Error::Store {
            source: Box::new(source),
        })?;
    Ok(Blob {
        digest,
        size: bytes.len() as u64,
        media_type: media_type.to_owned(),
        origin: None,
        local: true,
    })
}

/// `SOURCE_DATE_EPOCH`, the reproducible-builds convention: no timestamp in
/// the image is later than it.
fn source_date_epoch() -> Result<Option<i64>, Error> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|t| *t >= 0)
            .map(Some)
            .ok_or(Error::SourceDateEpoch { value }),
        _ => Ok(None),
    }
}

/// Seconds since the epoch as `1970-01-01T00:00:00Z`.
fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_notes_name_the_layers_their_instructions_made() {
        let note = |created_by: &str, layers| HistoryNote {
            created_by: created_by.into(),
            layers,
        };
        let notes = [
            note("ARG V=1", 0),
            note("COPY a b /d/ # buildkit", 2),
            note("ENV A=1", 0),
            note("RUN make # buildkit", 1),
            note("CMD [\"x\"]", 0),
        ];
        let names: HashMap<PathBuf, String> =
            [(PathBuf::from("/l/4"), "withExec later".to_owned())].into();
        let mut paired = Notes::new(&notes, None);
        let mut history = Vec::new();
        for (layer, empty) in [
            ("/l/1", false),
            ("/l/2", false),
            ("/l/3", true),
            ("/l/4", false),
        ] {
            history.extend(paired.before_layer());
            history.push(paired.layer(&names, Path::new(layer), empty));
        }
        history.extend(paired.rest());
        let said: Vec<(&str, &str, bool)> = history
            .iter()
            .map(|h| {
                (
                    h["created_by"].as_str().unwrap(),
                    h["comment"].as_str().unwrap(),
                    h["empty_layer"] == true,
                )
            })
            .collect();
        let buildkit = HistoryNote::COMMENT;
        assert_eq!(
            said,
            [
                ("ARG V=1", buildkit, true),
                ("COPY a b /d/ # buildkit", buildkit, false),
                ("COPY a b /d/ # buildkit", buildkit, false),
                ("ENV A=1", buildkit, true),
                ("RUN make # buildkit", buildkit, true),
                ("CMD [\"x\"]", buildkit, true),
                // A step after the build: named after itself.
                ("withExec later", "tanto", false),
            ]
        );
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn the_config_carries_the_settings() {
        let settings = Settings {
            env: vec![("PATH".into(), "/bin".into())],
            workdir: "/src".into(),
            user: "1000:1000".into(),
            entrypoint: vec!["/app".into()],
            default_args: vec!["serve".into()],
            labels: [(
                "org.opencontainers.image.title".to_owned(),
                "app".to_owned(),
            )]
            .into_iter()
            .collect(),
            exposed_ports: ["8080/tcp".to_owned()].into_iter().collect(),
            volatile_env: vec![("RUN_ID".into(), "1".into())],
            healthcheck: Some(crate::config::Healthcheck {
                test: vec!["CMD-SHELL".into(), "true".into()],
                retries: 2,
                ..Default::default()
            }),
            ..Settings::default()
        };
        let config = config_json(
            None,
            &settings,
            &Platform::host(),
            vec!["sha256:a".into()],
            vec![],
            None,
        );
        let run = &config["config"];
        assert_eq!(run["Env"], json!(["PATH=/bin"]));
        assert_eq!(run["WorkingDir"], "/src");
        assert_eq!(run["User"], "1000:1000");
        assert_eq!(run["Entrypoint"], json!(["/app"]));
        assert_eq!(run["Cmd"], json!(["serve"]));
        assert_eq!(run["Labels"]["org.opencontainers.image.title"], "app");
        assert_eq!(run["ExposedPorts"], json!({"8080/tcp": {}}));
        assert_eq!(run["Env"], json!(["PATH=/bin"]), "no volatile variable");
        assert_eq!(
            run["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "true"], "Retries": 2})
        );
        assert_eq!(config["rootfs"]["diff_ids"], json!(["sha256:a"]));
        assert_eq!(config["os"], "linux");
        assert!(config.get("created").is_none(), "no clock in the config");
    }
}
