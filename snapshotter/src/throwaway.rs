//! Throwaway directories: work that is never kept (an interactive
//! shell's changes), under a temp name so that the sweep clears what a
//! dead process left.

use std::path::{Path, PathBuf};

use crate::store::Store;
use crate::temp::temp_name;
use crate::Error;

/// A directory for work that is never kept (an interactive shell's
/// changes): under a temp name, so it is swept if this process dies, and
/// removed on drop.
pub struct Throwaway {
    dir: PathBuf,
}

impl Throwaway {
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("cannot remove {}: {e}", self.dir.display());
            }
        }
    }
}

impl Store {
    /// A fresh, empty [`Throwaway`] directory named after `stem`.
    pub fn throwaway(&self, stem: &str) -> Result<Throwaway, Error> {
        let dir = temp_name(self.snapshots_tmp_dir(), stem);
        std::fs::create_dir_all(&dir).map_err(|source| Error::Store {
            path: dir.clone(),
            source,
        })?;
        Ok(Throwaway { dir })
    }
}
