//! Packing a layer directory back into an OCI layer tar: the reverse of
//! `unpack.rs`, for publishing and exporting images.
//!
//! - a whiteout becomes an empty `.wh.NAME` entry;
//! - an opaque directory gets a `.wh..wh..opq` entry (`overlay.rs` has both
//!   markers);
//! - ownership, modes, symlinks, hardlinks (within the layer), device nodes,
//!   fifos and xattrs (as PAX `SCHILY.xattr.*`) are kept; overlay's own
//!   xattrs are not, they describe this store, not the image.
//!
//! The tar is reproducible: entries in byte order of their paths, no atime or
//! ctime, no user or group names, and with `clamp_mtime` (what
//! `SOURCE_DATE_EPOCH` asks for) no mtime later than it. The same layer gives
//! the same bytes, so the same digest, and registries deduplicate it.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::{overlay, sys, Compression, Error, Store};

/// How a packed tar is written.
#[derive(Clone, Copy, Debug, Default)]
pub struct PackOptions {
    /// No entry's mtime is later than this (seconds since the epoch).
    pub clamp_mtime: Option<i64>,
}

/// Writes the layer directory `layer` as a tar to `out`.
pub fn pack_layer(layer: &Path, out: impl Write, options: PackOptions) -> Result<(), Error> {
    let mut packer = Packer {
        layer,
        builder: tar::Builder::new(out),
        options,
        links: HashMap::new(),
    };
    packer.dir_contents(Path::new(""))?;
    packer.builder.finish().map_err(|source| Error::LayerRead {
        layer: layer.to_owned(),
        path: "/".into(),
        source,
    })
}

struct Packer<'a, W: Write> {
    layer: &'a Path,
    builder: tar::Builder<W>,
    options: PackOptions,
    /// The first path packed of each inode with several links.
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> Packer<'_, W> {
    fn dir_contents(&mut self, dir: &Path) -> Result<(), Error> {
        let host = self.layer.join(dir);
        let mut names: Vec<OsString> = std::fs::read_dir(&host)
            .and_then(|entries| {
                entries
                    .map(|e| e.map(|e| e.file_name()))
                    .collect::<io::Result<_>>()
            })
            .map_err(read_error(self.layer, dir))?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            self.entry(&dir.join(name))?;
        }
        Ok(())
    }

    fn entry(&mut self, path: &Path) -> Result<(), Error> {
        let host = self.layer.join(path);
        let meta = std::fs::symlink_metadata(&host).map_err(read_error(self.layer, path))?;
        let kind = meta.file_type();
        if overlay::is_whiteout(meta.mode(), meta.rdev()) {
            let mut name = OsString::from(".wh.");
            name.push(path.file_name().expect("entries have names"));
            let mut header = self.header(&meta, tar::EntryType::Regular);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            return self.append(&mut header, &path.with_file_name(name), io::empty());
        }
        if kind.is_dir() {
            let fd = sys::open_dir(&host).map_err(read_error(self.layer, path))?;
            let xattrs = sys::xattrs_fd(fd.as_fd()).map_err(read_error(self.layer, path))?;
            let opaque = overlay_markers(&xattrs, path)?;
            let mut header = self.header(&meta, tar::EntryType::Directory);
            self.append_xattrs(&xattrs, path)?;
            self.append(&mut header, path, io::empty())?;
            if opaque {
                let mut marker = self.header(&meta, tar::EntryType::Regular);
                marker.set_mode(0o644);
                marker.set_uid(0);
                marker.set_gid(0);
                self.append(&mut marker, &path.join(".wh..wh..opq"), io::empty())?;
            }
            return self.dir_contents(path);
        }
        if meta.nlink() > 1 {
            let inode = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&inode).cloned() {
                let mut header = self.header(&meta, tar::EntryType::Link);
                header.set_size(0);
                return self
                    .builder
                    .append_link(&mut header, path, &first)
                    .map_err(read_error(self.layer, path));
            }
            self.links.insert(inode, path.to_owned());
        }
        if kind.is_file() {
            let file = sys::open_nofollow(&host).map_err(read_error(self.layer, path))?;
            let xattrs = sys::xattrs_fd(file.as_fd()).map_err(read_error(self.layer, path))?;
            overlay_markers(&xattrs, path)?;
            let mut header = self.header(&meta, tar::EntryType::Regular);
            header.set_size(meta.len());
            self.append_xattrs(&xattrs, path)?;
            // A file that changes while it is packed would make a corrupt
            // tar; layers are committed snapshots, so this only guards.
            let reader = io::Read::take(file, meta.len());
            return self.append(&mut header, path, reader);
        }
        if kind.is_symlink() {
            let target = std::fs::read_link(&host).map_err(read_error(self.layer, path))?;
            let mut header = self.header(&meta, tar::EntryType::Symlink);
            return self
                .builder
                .append_link(&mut header, path, &target)
                .map_err(read_error(self.layer, path));
        }
        let entry_type = if kind.is_char_device() {
            tar::EntryType::Char
        } else if kind.is_block_device() {
            tar::EntryType::Block
        } else if kind.is_fifo() {
            tar::EntryType::Fifo
        } else {
            tracing::warn!(
                "{}: /{} is a socket; sockets cannot be stored in an image and are left out",
                self.layer.display(),
                path.display()
            );
            return Ok(());
        };
        let mut header = self.header(&meta, entry_type);
        let rdev = meta.rdev();
        header
            .set_device_major(libc::major(rdev))
            .and_then(|()| header.set_device_minor(libc::minor(rdev)))
            .map_err(read_error(self.layer, path))?;
        self.append(&mut header, path, io::empty())
    }

    fn header(&self, meta: &std::fs::Metadata, entry_type: tar::EntryType) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(entry_type);
        header.set_mode(meta.mode() & 0o7777);
        header.set_uid(u64::from(meta.uid()));
        header.set_gid(u64::from(meta.gid()));
        let mtime = match self.options.clamp_mtime {
            Some(clamp) => meta.mtime().min(clamp),
            None => meta.mtime(),
        };
        header.set_mtime(mtime.max(0) as u64);
        header.set_size(0);
        header
    }

    fn append(
        &mut self,
        header: &mut tar::Header,
        path: &Path,
        data: impl io::Read,
    ) -> Result<(), Error> {
        let error = read_error(self.layer, path);
        let name = if header.entry_type() == tar::EntryType::Directory {
            let mut name = path.as_os_str().to_owned();
            name.push("/");
            PathBuf::from(name)
        } else {
            path.to_owned()
        };
        self.builder.append_data(header, name, data).map_err(error)
    }

    /// The xattrs an image carries (`security.capability`, `user.*`…), as a
    /// PAX header for the entry that follows, in name order.
    fn append_xattrs(
        &mut self,
        xattrs: &[(std::ffi::CString, Vec<u8>)],
        path: &Path,
    ) -> Result<(), Error> {
        let mut kept: Vec<(String, &[u8])> = xattrs
            .iter()
            .filter(|(name, _)| !overlay::is_overlay_xattr(name.as_bytes()))
            .map(|(name, value)| {
                (
                    format!("SCHILY.xattr.{}", String::from_utf8_lossy(name.as_bytes())),
                    value.as_slice(),
                )
            })
            .collect();
        if kept.is_empty() {
            return Ok(());
        }
        kept.sort();
        let error = read_error(self.layer, path);
        self.builder
            .append_pax_extensions(kept.iter().map(|(k, v)| (k.as_str(), *v)))
            .map_err(error)
    }
}

fn read_error(layer: &Path, path: &Path) -> impl Fn(io::Error) -> Error {
    let layer = layer.to_owned();
    let path = format!("/{}", path.display());
    move |source| Error::LayerRead {
        layer: layer.clone(),
        path: path.clone(),
        source,
    }
}

/// Whether a directory is opaque. Overlay's other markers describe an upper
/// directory that a tar cannot express (a renamed directory, metadata whose
/// data lives below): refuse rather than publish a wrong image.
fn overlay_markers(xattrs: &[(std::ffi::CString, Vec<u8>)], path: &Path) -> Result<bool, Error> {
    let mut opaque = false;
    for (name, value) in xattrs {
        let name = name.as_bytes();
        let Some(marker) = overlay::marker_name(name) else {
            continue;
        };
        match marker {
            b"opaque" => opaque = value.as_slice() == overlay::OPAQUE_VALUE,
            b"redirect" | b"metacopy" => {
                return Err(Error::UnpackableLayerEntry {
                    path: format!("/{}", path.display()),
                    marker: String::from_utf8_lossy(marker).into_owned(),
                })
            }
            _ => {}
        }
    }
    Ok(opaque)
}

/// A layer packed into the content store.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackedLayer {
    /// Of the compressed blob.
    pub digest: String,
    pub size: u64,
    /// Of the uncompressed tar.
    pub diff_id: String,
}

/// Writes what passes through to `inner`, hashing (sha256) and counting it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Hashing<W> {
        Hashing {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    fn finish(self) -> (W, String, u64) {
        let digest = format!("sha256:{}", hex::encode(self.hasher.finalize()));
        (self.inner, digest, self.count)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Store {
    /// Packs the layer directory `layer` into a compressed blob in the content
    /// store. The blob appears only once complete and flushed.
    pub fn pack_layer(
        &self,
        layer: &Path,
        compression: Compression,
        options: PackOptions,
    ) -> Result<PackedLayer, Error> {
        let (file, temp) = self.content().temp_file_unnamed()?;
        let result = self.pack_into(layer, file, compression, options);
        let packed = match result {
            Ok(packed) => packed,
            Err(error) => {
                let _ = std::fs::remove_file(&temp);
                return Err(error);
            }
        };
        if let Err(error) = self.commit_blob(&temp, &packed.digest) {
            let _ = std::fs::remove_file(&temp);
            return Err(error);
        }
        Ok(packed)
    }

    fn pack_into(
        &self,
        layer: &Path,
        file: std::fs::File,
        compression: Compression,
        options: PackOptions,
    ) -> Result<PackedLayer, Error> {
        let write_error = |source| Error::LayerRead {
            layer: layer.to_owned(),
            path: "/".into(),
            source,
        };
        let blob = Hashing::new(io::BufWriter::with_capacity(1 << 20, file));
        let (blob, diff_id) = match compression {
            Compression::None => {
                let mut tar = Hashing::new(blob);
                pack_layer(layer, &mut tar, options)?;
                let (blob, diff_id, _) = tar.finish();
                (blob, diff_id)
            }
            Compression::Gzip => {
                let mut tar = Hashing::new(flate2::write::GzEncoder::new(
                    blob,
                    flate2::Compression::default(),
                ));
                pack_layer(layer, &mut tar, options)?;
                let (encoder, diff_id, _) = tar.finish();
                (encoder.finish().map_err(write_error)?, diff_id)
            }
            Compression::Zstd => {
                let encoder = zstd::stream::write::Encoder::new(blob, 3).map_err(write_error)?;
                let mut tar = Hashing::new(encoder);
                pack_layer(layer, &mut tar, options)?;
                let (encoder, diff_id, _) = tar.finish();
                (encoder.finish().map_err(write_error)?, diff_id)
            }
        };
        let (writer, digest, size) = blob.finish();
        let file = writer
            .into_inner()
            .map_err(|e| write_error(e.into_error()))?;
        file.sync_all().map_err(write_error)?;
        Ok(PackedLayer {
            digest,
            size,
            diff_id,
        })
    }
}
