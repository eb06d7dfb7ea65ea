//! `tanto pull REF`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use engine::{LayerOutcome, Platform};

use crate::output;
use crate::progress::Progress;

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
    registries: crate::engine_start::Registries,
    progress: &crate::progress::Options,
    args: Args,
) -> anyhow::Result<ExitCode> {
    let platform = match &args.platform {
        Some(p) => p.parse::<Platform>()?,
        None => Platform::host(),
    };
    let started = Instant::now();
    let runtime = tokio::runtime::Runtime::new().context("cannot start tanto's async runtime")?;
    // One step, the pull, whose layers show their bytes as they arrive.
    let progress = Progress::start(progress);
    let observer = progress.observer();
    let pulled = runtime.block_on(async {
        let engine = crate::engine_start::engine(root, &registries, observer)?;
        engine.pull(&args.reference, Some(platform.clone())).await
    });
    drop(runtime);
    // No summary of one step; an error is the last thing tanto says.
    progress.finish(false, || {})?;
    let pulled = pulled?;
    let layers = &pulled.layers;

    let (mut fetched, mut fetched_bytes, mut unpacked, mut reused) = (0, 0, 0, 0);
    let mut skipped_devices = Vec::new();
    for layer in layers {
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
    output::line(&pulled.pinned);
    Ok(ExitCode::SUCCESS)
}
