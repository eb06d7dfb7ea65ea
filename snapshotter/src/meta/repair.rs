//! Bringing the metadata in line with the files, on open: what a crash left
//! between a rename and its insert is added, what was removed behind the
//! database's back is dropped. Reads directory listings only; a tree is
//! walked only for an entry the database did not know.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rusqlite::params;

use super::{apparent_size, EntryKind, Meta};
use crate::owners::Owners;
use crate::Error;

/// What the files say is in the store: id, kind.
fn on_disk(root: &Path) -> Vec<(String, EntryKind)> {
    let mut found = Vec::new();
    let names = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    for name in names(&root.join("snapshots")) {
        let kind = match name.split_once('-').map(|(prefix, _)| prefix) {
            Some("sha256") => EntryKind::ImageLayer,
            Some("exec") => EntryKind::StepResult,
            Some("layer") => EntryKind::FileOperation,
            Some("local") => EntryKind::HostDirectory,
            _ => continue,
        };
        if root.join("snapshots").join(&name).join("fs").is_dir() {
            found.push((format!("snapshots/{name}"), kind));
        }
    }
    for name in names(&root.join("content/blobs/sha256")) {
        found.push((format!("content/blobs/sha256/{name}"), EntryKind::Blob));
    }
    for name in names(&root.join("cache")) {
        found.push((format!("cache/{name}"), EntryKind::CacheVolume));
    }
    found
}

/// What people are told an entry found on disk is.
fn describe(root: &Path, id: &str, kind: EntryKind) -> String {
    let path = root.join(id);
    match kind {
        EntryKind::StepResult => std::fs::read(path.join("result.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|record| {
                let args: Vec<String> = record["args"]
                    .as_array()?
                    .iter()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect();
                Some(format!("withExec {}", args.join(" ")))
            })
            .unwrap_or_default(),
        EntryKind::CacheVolume => std::fs::read_to_string(path.join("name"))
            .map(|name| format!("cache volume {name}"))
            .unwrap_or_default(),
        EntryKind::ImageLayer => {
            let (hex, owners) = Owners::of_id_tail(id.trim_start_matches("snapshots/sha256-"));
            format!("layer sha256:{hex}{}", owners.note())
        }
        EntryKind::Blob => format!("blob sha256:{}", id.rsplit('/').next().unwrap_or("")),
        _ => String::new(),
    }
}

impl Meta {
    pub(super) fn repair(&self) -> Result<(), Error> {
        let found = on_disk(&self.root);
        let mut conn = self.conn.lock().unwrap();
        let known: HashSet<String> = {
            let mut statement = conn
                .prepare("SELECT id FROM entries")
                .map_err(self.error())?;
            let rows = statement
                .query_map([], |row| row.get(0))
                .map_err(self.error())?;
            rows.collect::<Result<_, _>>().map_err(self.error())?
        };
        let on_disk: HashSet<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
        let missing: Vec<&(String, EntryKind)> =
            found.iter().filter(|(id, _)| !known.contains(id)).collect();
        let gone: Vec<&String> = known
            .iter()
            .filter(|id| !on_disk.contains(id.as_str()))
            .collect();
        if missing.is_empty() && gone.is_empty() {
            return Ok(());
        }
        // Sized outside the transaction: walking may take a while.
        let sized: Vec<(&str, EntryKind, u64, i64, String)> = missing
            .iter()
            .map(|(id, kind)| {
                let path = self.root.join(id);
                let made = path
                    .symlink_metadata()
                    .map(|m| m.mtime() * 1_000_000_000 + m.mtime_nsec())
                    .unwrap_or(0);
                (
                    id.as_str(),
                    *kind,
                    apparent_size(&path),
                    made,
                    describe(&self.root, id, *kind),
                )
            })
            .collect();
        let tx = conn.transaction().map_err(self.error())?;
        for (id, kind, size, made, description) in sized {
            tx.execute(
                "INSERT OR IGNORE INTO entries (id, kind, size, created, last_used, description)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
                params![id, kind.code(), size as i64, made, description],
            )
            .map_err(self.error())?;
        }
        for id in gone {
            tx.execute("DELETE FROM entries WHERE id = ?1", params![id])
                .map_err(self.error())?;
            tx.execute("DELETE FROM leases WHERE entry = ?1", params![id])
                .map_err(self.error())?;
        }
        tx.commit().map_err(self.error())?;
        Ok(())
    }
}
