//! Lease holders: one per process that opens the store. A holder is named
//! `<pid>-<nanos>` and holds `leases/<name>.lock` (flock) until the process
//! ends, however it ends: the kernel drops the lock with the process. So a
//! holder whose lock can be taken is gone, and its leases with it.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::results::open_lock;
use crate::{sys, Error};

pub(crate) struct Holder {
    name: String,
    dir: PathBuf,
    _lock: File,
}

impl Holder {
    /// This process's holder, its lock taken.
    pub fn take(root: &Path) -> Result<Holder, Error> {
        let dir = root.join("leases");
        std::fs::create_dir_all(&dir).map_err(|source| Error::Store {
            path: dir.clone(),
            source,
        })?;
        let name = format!("{}-{}", std::process::id(), super::now_nanos());
        let path = dir.join(format!("{name}.lock"));
        let lock = open_lock(&path)?;
        sys::lock_exclusive(&lock).map_err(|source| Error::Store { path, source })?;
        Ok(Holder {
            name,
            dir,
            _lock: lock,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the holder `name` is a running process (this one included).
    pub fn is_live(&self, name: &str) -> bool {
        if name == self.name {
            return true;
        }
        let path = self.dir.join(format!("{name}.lock"));
        let Ok(file) = File::open(&path) else {
            // No lock file: its process cleaned up, or never got that far.
            return false;
        };
        !sys::try_lock_exclusive(&file).unwrap_or(false)
    }

    /// The holders with leases whose processes still run. Those that ended
    /// lose their leases and lock files here.
    pub fn live_holders(&self, conn: &Connection) -> rusqlite::Result<HashSet<String>> {
        let names: Vec<String> = {
            let mut statement = conn.prepare("SELECT DISTINCT holder FROM leases")?;
            let rows = statement.query_map([], |row| row.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut live = HashSet::new();
        for name in names {
            if self.is_live(&name) {
                live.insert(name);
            } else {
                conn.execute("DELETE FROM leases WHERE holder = ?1", [&name])?;
                let _ = std::fs::remove_file(self.dir.join(format!("{name}.lock")));
            }
        }
        Ok(live)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        // The leases end with the holder; the lock itself goes with the fd.
        let _ = std::fs::remove_file(self.dir.join(format!("{}.lock", self.name)));
    }
}
