//! Layers a step added, packed into blobs once: packing a large layer costs
//! a read and a compression of all of it, and publishing the same container
//! again (or exporting it after publishing) must give the same blob.
//!
//! Layer directories are committed and never change, so the packed blob of
//! one is remembered by the directory's path, the compression and the mtime
//! clamp, in `packed/<hash>.json` — a small record written temp-then-rename,
//! trusted only while its blob is in the content store.

use std::path::Path;

use snapshotter::{Compression, PackOptions, PackedLayer, Store};

use crate::error::Error;

pub(crate) fn packed_layer(
    store: &Store,
    dir: &Path,
    compression: Compression,
    options: PackOptions,
) -> Result<PackedLayer, Error> {
    let record = record_path(store, dir, compression, options);
    if let Some(packed) = read_record(store, &record) {
        tracing::debug!("{} is packed already: {}", dir.display(), packed.digest);
        return Ok(packed);
    }
    let packed = store
        .pack_layer(dir, compression, options)
        .map_err(|source| Error::Pack {
            layer: dir.to_owned(),
            source: Box::new(source),
        })?;
    write_record(&record, &packed);
    Ok(packed)
}

fn record_path(
    store: &Store,
    dir: &Path,
    compression: Compression,
    options: PackOptions,
) -> std::path::PathBuf {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"tanto.packed.v1\0");
    hasher.update(dir.as_os_str().as_encoded_bytes());
    hasher.update(format!("\0{compression:?}\0{:?}", options.clamp_mtime).as_bytes());
    let name = hasher.finalize().to_hex();
    store
        .root()
        .join("packed")
        .join(format!("{}.json", &name[..32]))
}

fn read_record(store: &Store, record: &Path) -> Option<PackedLayer> {
    let bytes = std::fs::read(record).ok()?;
    let packed: PackedLayer = serde_json::from_slice(&bytes).ok()?;
    store
        .has_blob(&packed.digest)
        .unwrap_or(false)
        .then_some(packed)
}

/// Best effort: without the record the layer is packed again next time.
fn write_record(record: &Path, packed: &PackedLayer) {
    let write = || -> std::io::Result<()> {
        let dir = record.parent().expect("records live in packed/");
        std::fs::create_dir_all(dir)?;
        let temp = dir.join(format!(
            ".{}.{}",
            record.file_name().unwrap().to_string_lossy(),
            std::process::id()
        ));
        std::fs::write(&temp, serde_json::to_vec(packed)?)?;
        std::fs::rename(&temp, record)
    };
    if let Err(e) = write() {
        tracing::warn!(
            "cannot remember the packed layer in {}: {e}",
            record.display()
        );
    }
}
