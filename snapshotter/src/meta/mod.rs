//! The store's metadata: every entry with its kind, size on disk, when it was
//! made and last used, what it is for people, and which running processes
//! use it now. Kept in SQLite (`meta.db`, WAL), which several tanto
//! processes share safely; `du` and garbage collection read it instead of
//! walking the tree.
//!
//! The files stay the source of truth for content. The database only says
//! what is there and how it is used, so when it is lost or behind (a crash
//! between a rename and its insert), `Meta::open` repairs it from the
//! directory listings (`repair.rs`): entries it does not know are added
//! with their size, rows whose files are gone are dropped.
//!
//! References: a step result or file operation is recorded with the
//! entries it is made on (its layers below, its mounts' inputs); no entry is
//! forgotten while something made on it is there.
//!
//! Leases (`lease.rs`): every process that uses an entry records it under
//! its own holder name, and holds `leases/<holder>.lock` for as long as it
//! runs. A collector removes nothing a live holder uses.

mod lease;
mod repair;
mod size;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

pub(crate) use lease::Holder;
pub use size::apparent_size;

use crate::Error;

/// The schema this tanto writes. A store with a newer one is refused.
const SCHEMA_VERSION: i64 = 1;

/// What an entry is, as `du` groups them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryKind {
    /// An image layer, unpacked (`snapshots/sha256-…`).
    ImageLayer,
    /// A step's result (`snapshots/exec-…`).
    StepResult,
    /// A file operation's layer (`snapshots/layer-…`).
    FileOperation,
    /// A host directory or file, imported (`snapshots/local-…`).
    HostDirectory,
    /// A blob: a compressed layer, a config or a manifest.
    Blob,
    /// A cache volume.
    CacheVolume,
}

impl EntryKind {
    pub const ALL: [EntryKind; 6] = [
        EntryKind::ImageLayer,
        EntryKind::StepResult,
        EntryKind::FileOperation,
        EntryKind::HostDirectory,
        EntryKind::Blob,
        EntryKind::CacheVolume,
    ];

    /// How the database and `du --json` spell it.
    pub fn code(self) -> &'static str {
        match self {
            EntryKind::ImageLayer => "image-layer",
            EntryKind::StepResult => "step-result",
            EntryKind::FileOperation => "file-operation",
            EntryKind::HostDirectory => "host-directory",
            EntryKind::Blob => "blob",
            EntryKind::CacheVolume => "cache-volume",
        }
    }

    fn from_code(code: &str) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// One entry as the metadata knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryInfo {
    /// Its path under the store root, e.g. `snapshots/exec-<key>`.
    pub id: String,
    pub kind: EntryKind,
    /// Bytes, as `du -sb` counts them.
    pub size: u64,
    /// Nanoseconds since the epoch.
    pub created: i64,
    pub last_used: i64,
    /// What it is for people: the step's command, the image, the path.
    pub description: String,
    /// Whether a running process uses it now.
    pub in_use: bool,
}

/// What became of an entry a collector asked to forget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Forget {
    Forgotten,
    /// A running process uses it.
    InUse,
    /// Something made on top of it is still there.
    DependedOn,
}

pub(crate) struct Meta {
    root: PathBuf,
    conn: Mutex<Connection>,
    holder: Holder,
}

pub(crate) fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Meta {
    /// Opens (creating) the metadata of the store at `root`, refuses a newer
    /// schema, and repairs what the files say and the database does not.
    pub fn open(root: &Path) -> Result<Meta, Error> {
        let path = root.join("meta.db");
        let db_error = |source| Error::Metadata {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(db_error)?;
        conn.busy_timeout(std::time::Duration::from_secs(60))
            .map_err(db_error)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS store (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS entries (
                 id TEXT PRIMARY KEY,
                 kind TEXT NOT NULL,
                 size INTEGER NOT NULL,
                 created INTEGER NOT NULL,
                 last_used INTEGER NOT NULL,
                 description TEXT NOT NULL DEFAULT ''
             );
             CREATE TABLE IF NOT EXISTS leases (
                 holder TEXT NOT NULL,
                 entry TEXT NOT NULL,
                 PRIMARY KEY (holder, entry)
             );
             CREATE INDEX IF NOT EXISTS leases_by_entry ON leases (entry);
             CREATE TABLE IF NOT EXISTS refs (
                 parent TEXT NOT NULL,
                 child TEXT NOT NULL,
                 PRIMARY KEY (parent, child)
             );
             CREATE INDEX IF NOT EXISTS refs_by_child ON refs (child);",
        )
        .map_err(db_error)?;
        let version: Option<i64> = conn
            .query_row("SELECT value FROM store WHERE name = 'schema'", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(db_error)?;
        match version {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(Error::NewerStore {
                    path: root.to_owned(),
                    found: v,
                    known: SCHEMA_VERSION,
                })
            }
            Some(_) => {}
            None => {
                conn.execute(
                    "INSERT OR IGNORE INTO store (name, value) VALUES ('schema', ?1)",
                    params![SCHEMA_VERSION],
                )
                .map_err(db_error)?;
            }
        }
        let holder = Holder::take(root)?;
        let meta = Meta {
            root: root.to_owned(),
            conn: Mutex::new(conn),
            holder,
        };
        meta.repair()?;
        Ok(meta)
    }

    fn error(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |source| Error::Metadata {
            path: self.root.join("meta.db"),
            source,
        }
    }

    /// Records a new entry (or its new size), used now by this process.
    pub fn record(
        &self,
        id: &str,
        kind: EntryKind,
        size: u64,
        description: &str,
    ) -> Result<(), Error> {
        let now = now_nanos();
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(self.error())?;
        tx.execute(
            "INSERT INTO entries (id, kind, size, created, last_used, description)
             VALUES (?1, ?2, ?3, ?4, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET size = ?3, last_used = ?4,
                 description = CASE WHEN ?5 = '' THEN description ELSE ?5 END",
            params![id, kind.code(), size as i64, now, description],
        )
        .map_err(self.error())?;
        tx.execute(
            "INSERT OR IGNORE INTO leases (holder, entry) VALUES (?1, ?2)",
            params![self.holder.name(), id],
        )
        .map_err(self.error())?;
        tx.commit().map_err(self.error())
    }

    /// Records that `child` is made on top of `parents` (a step result on
    /// its root file system's layers and its mounts' inputs): no parent is
    /// collected while the child is there.
    pub fn record_parents(&self, child: &str, parents: &[String]) -> Result<(), Error> {
        if parents.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(self.error())?;
        {
            let mut insert = tx
                .prepare_cached("INSERT OR IGNORE INTO refs (parent, child) VALUES (?1, ?2)")
                .map_err(self.error())?;
            for parent in parents {
                insert
                    .execute(params![parent, child])
                    .map_err(self.error())?;
            }
        }
        tx.commit().map_err(self.error())
    }

    /// How the metadata names what `path` (anything inside an entry) is in:
    /// `snapshots/<name>`, `content/blobs/sha256/<hex>` or `cache/<hash>`.
    pub fn entry_of(&self, path: &Path) -> Option<String> {
        let relative = path.strip_prefix(&self.root).ok()?;
        let parts: Vec<&str> = relative.iter().filter_map(|p| p.to_str()).collect();
        match parts.as_slice() {
            ["snapshots", "tmp", ..] => None,
            ["snapshots", name, ..] | ["cache", name, ..] => Some(format!("{}/{name}", parts[0])),
            ["content", "blobs", "sha256", hex, ..] => Some(format!("content/blobs/sha256/{hex}")),
            _ => None,
        }
    }

    /// Marks a known entry used now by this process. Returns false when
    /// the metadata does not have it (a collector removed it): the caller
    /// treats it as missing.
    pub fn touch(&self, id: &str) -> Result<bool, Error> {
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(self.error())?;
        let known = tx
            .execute(
                "UPDATE entries SET last_used = ?2 WHERE id = ?1",
                params![id, now_nanos()],
            )
            .map_err(self.error())?
            > 0;
        if known {
            tx.execute(
                "INSERT OR IGNORE INTO leases (holder, entry) VALUES (?1, ?2)",
                params![self.holder.name(), id],
            )
            .map_err(self.error())?;
        }
        tx.commit().map_err(self.error())?;
        Ok(known)
    }

    /// Ends this process's leases: it uses nothing from now on (a session
    /// that ended, before its own collection).
    pub fn release_leases(&self) -> Result<(), Error> {
        let conn = self.conn.lock().unwrap();
        conn.execute(
            "DELETE FROM leases WHERE holder = ?1",
            params![self.holder.name()],
        )
        .map_err(self.error())?;
        Ok(())
    }

    /// Every entry, least recently used first.
    pub fn entries(&self) -> Result<Vec<EntryInfo>, Error> {
        let conn = self.conn.lock().unwrap();
        let live = self.holder.live_holders(&conn).map_err(self.error())?;
        let mut statement = conn
            .prepare(
                "SELECT id, kind, size, created, last_used, description,
                        (SELECT group_concat(holder, ' ') FROM leases WHERE entry = id)
                 FROM entries ORDER BY last_used, id",
            )
            .map_err(self.error())?;
        let rows = statement
            .query_map([], |row| {
                let kind: String = row.get(1)?;
                let holders: Option<String> = row.get(6)?;
                Ok(EntryInfo {
                    id: row.get(0)?,
                    kind: EntryKind::from_code(&kind).unwrap_or(EntryKind::Blob),
                    size: row.get::<_, i64>(2)? as u64,
                    created: row.get(3)?,
                    last_used: row.get(4)?,
                    description: row.get(5)?,
                    in_use: holders.is_some_and(|h| h.split(' ').any(|h| live.contains(h))),
                })
            })
            .map_err(self.error())?;
        rows.collect::<Result<_, _>>().map_err(self.error())
    }

    /// Forgets each of `ids` that no live process uses; says which it
    /// forgot (their files may then be removed). The lease checks and the
    /// removals are one write transaction, so no process can start using an
    /// entry in between: one that touches it afterwards finds it unknown and
    /// makes it anew.
    pub fn forget_unless_used(&self, ids: &[&str]) -> Result<Vec<Forget>, Error> {
        let mut conn = self.conn.lock().unwrap();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(self.error())?;
        // Asked inside the transaction: a holder that leased an entry before
        // we began is seen here, and one that comes later waits for us.
        let mut live: std::collections::HashMap<String, bool> = Default::default();
        let mut forgotten = Vec::with_capacity(ids.len());
        {
            let mut holders_of = tx
                .prepare_cached("SELECT holder FROM leases WHERE entry = ?1")
                .map_err(self.error())?;
            let mut drop_leases = tx
                .prepare_cached("DELETE FROM leases WHERE entry = ?1")
                .map_err(self.error())?;
            let mut drop_entry = tx
                .prepare_cached("DELETE FROM entries WHERE id = ?1")
                .map_err(self.error())?;
            // What depends on it goes first.
            let mut has_children = tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM refs JOIN entries ON entries.id = refs.child
                                    WHERE refs.parent = ?1)",
                )
                .map_err(self.error())?;
            let mut drop_refs = tx
                .prepare_cached("DELETE FROM refs WHERE child = ?1 OR parent = ?1")
                .map_err(self.error())?;
            for id in ids {
                let holders: Vec<String> = holders_of
                    .query_map(params![id], |row| row.get(0))
                    .map_err(self.error())?
                    .collect::<Result<_, _>>()
                    .map_err(self.error())?;
                let used = holders.into_iter().any(|holder| {
                    *live
                        .entry(holder.clone())
                        .or_insert_with(|| self.holder.is_live(&holder))
                });
                let outcome = if used {
                    Forget::InUse
                } else if has_children
                    .query_row(params![id], |row| row.get::<_, bool>(0))
                    .map_err(self.error())?
                {
                    Forget::DependedOn
                } else {
                    drop_leases.execute(params![id]).map_err(self.error())?;
                    drop_entry.execute(params![id]).map_err(self.error())?;
                    drop_refs.execute(params![id]).map_err(self.error())?;
                    Forget::Forgotten
                };
                forgotten.push(outcome);
            }
        }
        tx.commit().map_err(self.error())?;
        Ok(forgotten)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Limits, Store};

    #[test]
    fn a_store_from_a_newer_tanto_is_refused_and_left_alone() {
        let root = tempfile::tempdir().unwrap();
        drop(Store::open(root.path(), Limits::default()).unwrap());
        let db = rusqlite::Connection::open(root.path().join("meta.db")).unwrap();
        db.execute("UPDATE store SET value = 99 WHERE name = 'schema'", [])
            .unwrap();
        drop(db);
        let error = Store::open(root.path(), Limits::default())
            .err()
            .expect("refused");
        let message = error.to_string();
        assert!(
            message.contains("newer tanto") && message.contains("99"),
            "{message}"
        );
        let db = rusqlite::Connection::open(root.path().join("meta.db")).unwrap();
        let version: i64 = db
            .query_row("SELECT value FROM store WHERE name = 'schema'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(version, 99);
    }
}
