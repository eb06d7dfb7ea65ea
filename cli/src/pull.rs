//! `tanto pull REF`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use engine::registry::{Client, ClientConfig, Credentials};
use engine::snapshotter::{Limits, Store};
use engine::{LayerOutcome, Platform, PullOptions, Puller, Reference};

use crate::output;
use crate::progress::{Failure, Progress, Update};

#[derive(clap::Args)]
pub struct Args {
    /// The image, as you would give it to docker or podman (`alpine`, `host:port/repo:tag`, `name@sha256:…`, `oci-archive:image.tar[:tag]`, `oci:layout-dir[:tag]`)
    reference: String,

    /// The platform to pick from a multi-platform image [default: this machine's]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
}

pub fn run(
    root: &Path,
    insecure_registries: Vec<String>,
    progress: &crate::progress::Options,
    args: Args,
) -> anyhow::Result<ExitCode> {
    let archive = engine::ArchiveSource::parse(&args.reference);
    let reference: Option<Reference> = match archive {
        Some(_) => None,
        None => Some(args.reference.parse()?),
    };
    let platform = match &args.platform {
        Some(p) => p.parse::<Platform>()?,
        None => Platform::host(),
    };
    let limits = Limits {
        max_layer_bytes: match std::env::var("TANTO_MAX_LAYER_BYTES") {
            Ok(v) => Some(
                v.parse()
                    .context("TANTO_MAX_LAYER_BYTES must be a number of bytes")?,
            ),
            Err(_) => None,
        },
    };
    let store = Store::open(root, limits).map_err(|source| engine::Error::Store {
        source: Box::new(source),
    })?;
    let client = Client::new(ClientConfig {
        credentials: Credentials::from_environment()?,
        insecure_registries,
    });
    let started = Instant::now();
    // One step, the pull, whose layers show their bytes as they arrive.
    let progress = Progress::start(progress);
    progress.send(Update::Started {
        step: 1,
        name: format!("pull {}", args.reference),
    });
    let sender = progress.observer_fn();
    let options = PullOptions {
        platform: platform.clone(),
        progress: Some(Arc::new(move |layer: &engine::LayerProgress| {
            sender(Update::Pull {
                step: 1,
                layer: layer.clone(),
            })
        })),
        ..PullOptions::default()
    };
    let pulled = match (&reference, archive) {
        (Some(reference), _) => Puller::new(&store, client)
            .pull(reference, &options)
            .map(|image| (image.layers, image.reference.to_string())),
        (None, Some((source, tag))) => {
            engine::import_archive(&store, &source, tag.as_deref()).map(|image| {
                let pinned = format!("{}@{}", source.name(), image.manifest_digest);
                (image.layers, pinned)
            })
        }
        (None, None) => unreachable!("a source is an archive or a reference"),
    };
    progress.send(match &pulled {
        Ok(_) => Update::Finished {
            step: 1,
            took: started.elapsed(),
        },
        Err(error) => Update::Failed {
            step: 1,
            failure: Failure::from_error(error),
        },
    });
    // No summary of one step; an error is the last thing tanto says.
    progress.finish(false, || {})?;
    let (layers, pinned) = pulled?;

    let (mut fetched, mut fetched_bytes, mut unpacked, mut reused) = (0, 0, 0, 0);
    let mut skipped_devices = Vec::new();
    for layer in &layers {
        let what = match &layer.outcome {
            LayerOutcome::Reused => {
                reused += 1;
                "already present".to_owned()
            }
            LayerOutcome::UnpackedFromStore(stats) => {
                unpacked += 1;
                skipped_devices.extend(stats.skipped_devices.iter().cloned());
                format!("unpacked {} entries from the store", stats.entries)
            }
            LayerOutcome::Fetched { bytes, stats } => {
                fetched += 1;
                unpacked += 1;
                fetched_bytes += bytes;
                skipped_devices.extend(stats.skipped_devices.iter().cloned());
                format!(
                    "fetched {}, unpacked {} entries",
                    output::bytes(*bytes),
                    stats.entries
                )
            }
        };
        output::status(&format!("layer {}: {what}", output::short(&layer.digest)));
    }
    if !skipped_devices.is_empty() {
        let shown: Vec<_> = skipped_devices.iter().take(5).map(String::as_str).collect();
        output::warning(&format!(
            "skipped {} device node(s) ({}{}): a user namespace cannot create them; steps get a minimal /dev of their own",
            skipped_devices.len(),
            shown.join(", "),
            if skipped_devices.len() > shown.len() { ", …" } else { "" }
        ));
    }
    output::status(&format!(
        "pulled {} for {platform} in {:.1}s: {} layer(s), {fetched} fetched ({}), {unpacked} unpacked, {reused} already present",
        args.reference,
        started.elapsed().as_secs_f64(),
        layers.len(),
        output::bytes(fetched_bytes),
    ));
    output::line(&pinned);
    Ok(ExitCode::SUCCESS)
}
