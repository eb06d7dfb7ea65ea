//! A directory export written straight from a chain's layer blobs as they
//! stream in (`Directory.export` of a chain a registry cache left in the
//! registry): each layer's tar is applied on the ones below it in the
//! export's temp sibling (`unpack/applied.rs`), every blob verified as a
//! pull verifies it, and nothing is put in place unless all of them check
//! out. Against unpacking the layers into the store and copying the merged
//! tree out, every file is written once and nothing is kept.
//!
//! It takes what the ordinary export takes except a filter and a merge
//! into an existing directory; for those, and wherever the stream alone
//! cannot tell the merged tree ([`Error::NotStreamable`]), the caller
//! exports the ordinary way.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::compression::Compression;
use crate::export::DirDestination;
use crate::store::{LayerBlob, Store};
use crate::unpack::{normalize, Applied, Unpacker};
use crate::{sys, Error};

/// Opens a layer's blob, compressed as stored, when its turn comes.
pub type OpenBlob = Box<dyn FnOnce() -> std::io::Result<Box<dyn Read>> + Send>;

/// One layer of a chain, left in a registry: its blob's description and
/// how to open it.
pub struct StreamedLayer {
    pub digest: String,
    pub size: u64,
    /// Digest of the uncompressed tar.
    pub diff_id: String,
    pub compression: Compression,
    pub open: OpenBlob,
}

/// Exports the directory `src_path` of the chain `layers` (lowest first)
/// to `dest`, applying the layers as they stream in. A missing `dest` is
/// created; an existing one is replaced whole with `wipe`, and without it
/// is left to the ordinary export (`NotStreamable`). Returns the absolute
/// path written.
pub fn export_streamed(
    store: &Store,
    layers: Vec<StreamedLayer>,
    src_path: &str,
    dest: &Path,
    wipe: bool,
) -> Result<PathBuf, Error> {
    let not_streamable = |reason: &str| Error::NotStreamable {
        layer: String::new(),
        entry: src_path.to_owned(),
        reason: reason.to_owned(),
    };
    let prefix = normalize(Path::new(src_path.trim_start_matches('/'))).map_err(&not_streamable)?;
    let target = DirDestination::check(dest)?;
    if target.exists && !wipe {
        return Err(not_streamable("the destination exists and is merged into"));
    }
    let export_error = |source| Error::Export {
        path: target.dest.clone(),
        source,
    };
    let prefix_is_root = prefix.as_os_str().is_empty();
    target.write(
        wipe,
        |temp| {
            std::fs::create_dir(temp).map_err(export_error)?;
            let mut applied = Applied::new(prefix);
            for layer in layers {
                let blob = LayerBlob {
                    digest: &layer.digest,
                    size: layer.size,
                    diff_id: &layer.diff_id,
                    compression: layer.compression,
                };
                let compressed = (layer.open)().map_err(|source| Error::Read {
                    layer: layer.digest.clone(),
                    source,
                })?;
                let unpacker = Unpacker::applying(temp, &layer.digest, &mut applied)?;
                store.unpack_verified(unpacker, &blob, compressed, None)?;
            }
            if !applied.lists_root() && !prefix_is_root {
                // Whether it is a directory of the chain at all is the
                // ordinary export's to tell.
                return Err(not_streamable("no layer lists it as a directory"));
            }
            let root = sys::open_dir(temp).map_err(export_error)?;
            applied.finish(root.as_fd()).map_err(export_error)
        },
        |_, _| unreachable!("an existing destination is only replaced"),
    )
}
