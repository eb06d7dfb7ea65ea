//! Layers packed into blobs once: packing a large layer costs a read and a
//! compression of all of it, and publishing the same container again (or
//! exporting it after publishing) must give the same blob.
//!
//! Layer directories are committed and never change, so the packed blob of
//! one is remembered by the directory's path, the compression and the mtime
//! clamp, in `packed/<hash>.json` — a small record written temp-then-rename,
//! trusted only while its blob is in the content store.

use std::path::{Path, PathBuf};

use crate::compression::Compression;
use crate::pack::{PackOptions, PackedLayer};
use crate::store::Store;
use crate::temp::temp_name;
use crate::Error;

impl Store {
    /// [`Store::pack_layer`], remembered: a layer packed before with the same
    /// compression and options gives the blob it gave then.
    pub fn pack_layer_once(
        &self,
        dir: &Path,
        compression: Compression,
        options: PackOptions,
    ) -> Result<PackedLayer, Error> {
        let record = self.packed_record(dir, compression, options);
        if let Some(packed) = self.read_packed(&record) {
            tracing::debug!("{} is packed already: {}", dir.display(), packed.digest);
            return Ok(packed);
        }
        let packed = self.pack_layer(dir, compression, options)?;
        write_record(&record, &packed);
        Ok(packed)
    }

    fn packed_record(&self, dir: &Path, compression: Compression, options: PackOptions) -> PathBuf {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"tanto.packed.v1\0");
        hasher.update(dir.as_os_str().as_encoded_bytes());
        hasher.update(format!("\0{compression:?}\0{:?}", options.clamp_mtime).as_bytes());
        let name = hasher.finalize().to_hex();
        self.root()
            .join("packed")
            .join(format!("{}.json", &name[..32]))
    }

    fn read_packed(&self, record: &Path) -> Option<PackedLayer> {
        let bytes = std::fs::read(record).ok()?;
        let packed: PackedLayer = serde_json::from_slice(&bytes).ok()?;
        self.has_blob(&packed.digest)
            .unwrap_or(false)
            .then_some(packed)
    }
}

/// Best effort: without the record the layer is packed again next time.
fn write_record(record: &Path, packed: &PackedLayer) {
    let write = || -> std::io::Result<()> {
        let dir = record.parent().expect("records live in packed/");
        std::fs::create_dir_all(dir)?;
        let name = record.file_name().unwrap().to_string_lossy();
        let temp = temp_name(dir, &format!(".{name}"));
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
