//! A build context given as a tarball (`tanto build -`, as `docker build -`
//! takes one on standard input): plain tar, gzip or zstd, unpacked into a
//! temporary directory that goes away with the value. Entries that would
//! land outside it (`..`, absolute paths) are refused by the tar reader.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// An unpacked build context, removed when dropped.
pub struct BuildContext {
    dir: PathBuf,
}

impl BuildContext {
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for BuildContext {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(
                "cannot remove the build context {}: {e}",
                self.dir.display()
            );
        }
    }
}

/// Unpacks the tarball `reader` gives into a new temporary directory.
pub fn unpack_build_context(reader: impl Read) -> Result<BuildContext, Error> {
    let failed = |source| Error::BuildContext { source };
    let name: String = crate::random::random_bytes::<8>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = std::env::temp_dir().join(format!("tanto-context-{name}"));
    std::fs::create_dir(&dir).map_err(failed)?;
    // Removed, whatever happens next.
    let context = BuildContext { dir };
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let head = reader.fill_buf().map_err(failed)?.to_vec();
    let stream: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::new(reader).map_err(failed)?)
    } else {
        Box::new(reader)
    };
    let mut archive = tar::Archive::new(stream);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    archive.unpack(context.path()).map_err(failed)?;
    Ok(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tarball_becomes_a_directory_that_goes_away() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, "Dockerfile", &b"FROM\n"[..])
            .unwrap();
        let tar = builder.into_inner().unwrap();
        let context = unpack_build_context(&tar[..]).unwrap();
        let path = context.path().to_owned();
        assert_eq!(std::fs::read(path.join("Dockerfile")).unwrap(), b"FROM\n");
        drop(context);
        assert!(!path.exists());
        assert!(unpack_build_context(&b"not a tarball at all"[..]).is_err());
    }
}
