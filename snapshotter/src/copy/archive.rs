//! A Dockerfile's `ADD` of a local archive: a tar, plain or compressed with
//! gzip, bzip2, xz or zstd, unpacked at a path of a layer, through the same unpacker
//! as image layers (nothing written outside the layer, owners as recorded
//! or squashed). What Docker decides is an archive it decides by content,
//! not by name: anything else is copied as a file by the caller.

use std::io::Read;
use std::path::Path;

use super::{resolve_dest, LayerWriter};
use crate::compression::Compression;
use crate::owners::Owners;
use crate::unpack::Unpacker;
use crate::view::ChainView;
use crate::Error;

/// How an archive is compressed: as a layer may be, or as only archives
/// are (bzip2 and xz, which Docker's `ADD` unpacks too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveCompression {
    Layer(Compression),
    Bzip2,
    Xz,
}

impl ArchiveCompression {
    /// A streaming decoder, memory bounded whatever the archive's size.
    fn decoder<'r>(self, compressed: impl Read + 'r) -> std::io::Result<Box<dyn Read + 'r>> {
        Ok(match self {
            ArchiveCompression::Layer(compression) => compression.decoder(compressed)?,
            // Several streams one after the other, as pbzip2 and pixz write.
            ArchiveCompression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(compressed)),
            ArchiveCompression::Xz => Box::new(lzma_rust2::XzReader::new(compressed, true)),
        })
    }
}

/// How the file at `path` is an archive tanto unpacks (its compression),
/// told by its content as Docker tells it, or `None` when it is no archive.
pub fn archive_compression(path: &Path) -> Result<Option<ArchiveCompression>, Error> {
    let io = |source| Error::Store {
        path: path.to_owned(),
        source,
    };
    let mut head = Vec::with_capacity(512);
    std::fs::File::open(path)
        .map_err(io)?
        .take(512)
        .read_to_end(&mut head)
        .map_err(io)?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Some(ArchiveCompression::Layer(Compression::Gzip))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(ArchiveCompression::Layer(Compression::Zstd))
    } else if head.starts_with(b"BZh") {
        Some(ArchiveCompression::Bzip2)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(ArchiveCompression::Xz)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some(ArchiveCompression::Layer(Compression::None))
    } else {
        None
    })
}

/// Unpacks the archive at `archive` into the directory `dest_path` of the
/// layer being written on `target`, made with its parents where missing.
pub fn extract_into_layer(
    target: &ChainView,
    dest_layer: &Path,
    dest_path: &str,
    archive: &Path,
    compression: ArchiveCompression,
    owners: Owners,
) -> Result<(), Error> {
    let mut writer = LayerWriter::open(target, dest_layer)?;
    let dest = resolve_dest(target, dest_path)?;
    if !dest.as_os_str().is_empty() {
        writer.ensure_dirs(&dest)?;
    }
    writer.finish()?;
    let file = std::fs::File::open(archive).map_err(|source| Error::Store {
        path: archive.to_owned(),
        source,
    })?;
    let name = archive.display().to_string();
    let reader = compression
        .decoder(std::io::BufReader::new(file))
        .map_err(|source| Error::Store {
            path: archive.to_owned(),
            source,
        })?;
    Unpacker::new(&dest_layer.join(&dest), &name, owners)?.unpack(reader)?;
    Ok(())
}
