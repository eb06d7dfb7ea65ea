//! Taking space back: entries removed least recently used first, never one a
//! running process uses (its lease), each under the lock its makers take,
//! so nobody finds half of it. What the metadata knows is all a collector
//! reads; no tree is walked to decide.
//!
//! Removing is: the entry's lock, the metadata forgets it (only if no live
//! process leases it), its directory is renamed into `snapshots/tmp/` and
//! deleted there. A collector killed half-way leaves a temp that the next
//! open sweeps, never a half-deleted entry under its real name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::meta::{now_nanos, EntryInfo, EntryKind, Forget};
use crate::store::Store;
use crate::temp::temp_name;
use crate::Error;

/// Entries removed in one metadata transaction.
const BATCH: usize = 256;

/// What to collect.
#[derive(Clone, Debug, Default)]
pub struct PruneRequest {
    /// Only entries unused for at least this long.
    pub unused_for: Option<Duration>,
    /// Stop once this many bytes are freed; `None`: every candidate.
    pub bytes_to_free: Option<u64>,
    /// Cache volumes too (always last).
    pub cache_volumes: bool,
    /// Say what would go; remove nothing.
    pub dry_run: bool,
}

/// What a prune did (or, dry, would do).
#[derive(Clone, Debug, Default)]
pub struct PruneReport {
    pub removed: Vec<EntryInfo>,
    pub freed: u64,
    /// Candidates a running process started using before they could go.
    pub skipped_in_use: usize,
}

/// The order entries go in: least recently used first; at the same instant,
/// what depends on a layer before the layer, cache volumes last.
fn rank(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::StepResult => 0,
        EntryKind::FileOperation => 1,
        EntryKind::HostDirectory => 2,
        EntryKind::ImageLayer => 3,
        EntryKind::Blob => 4,
        EntryKind::CacheVolume => 5,
    }
}

impl Store {
    /// Every entry the store has, least recently used first, each saying
    /// whether a running process uses it.
    pub fn entries(&self) -> Result<Vec<EntryInfo>, Error> {
        self.meta().entries()
    }

    /// Ends this process's leases, so that its own collection may take
    /// what it used: call when nothing of this store is in use any more.
    pub fn release_leases(&self) -> Result<(), Error> {
        self.meta().release_leases()
    }

    /// Removes what `request` selects, least recently used first.
    pub fn prune(&self, request: &PruneRequest) -> Result<PruneReport, Error> {
        let now = now_nanos();
        let mut candidates: Vec<EntryInfo> = self
            .entries()?
            .into_iter()
            .filter(|e| !e.in_use)
            .filter(|e| request.cache_volumes || e.kind != EntryKind::CacheVolume)
            .filter(|e| {
                request
                    .unused_for
                    .is_none_or(|age| now.saturating_sub(e.last_used) >= age.as_nanos() as i64)
            })
            .collect();
        candidates.sort_by_key(|e| (e.kind == EntryKind::CacheVolume, e.last_used, rank(e.kind)));
        let mut report = PruneReport::default();
        // What something still there is made on waits for a later pass.
        let mut pass = candidates;
        loop {
            let removed_before = report.removed.len();
            let deferred = self.prune_pass(request, pass, &mut report)?;
            let goal_met = request
                .bytes_to_free
                .is_some_and(|goal| report.freed >= goal);
            if deferred.is_empty() || goal_met || report.removed.len() == removed_before {
                report.skipped_in_use += deferred.len();
                return Ok(report);
            }
            pass = deferred;
        }
    }

    /// One pass over `candidates`, in order; returns those that something
    /// still there is made on.
    fn prune_pass(
        &self,
        request: &PruneRequest,
        candidates: Vec<EntryInfo>,
        report: &mut PruneReport,
    ) -> Result<Vec<EntryInfo>, Error> {
        let mut deferred = Vec::new();
        let mut candidates = candidates.into_iter().peekable();
        while candidates.peek().is_some() {
            // A batch: as many as the goal still wants, in one transaction.
            let mut batch = Vec::new();
            let mut expected = report.freed;
            while let Some(entry) = candidates.peek() {
                if batch.len() == BATCH
                    || request.bytes_to_free.is_some_and(|goal| expected >= goal)
                {
                    break;
                }
                expected += entry.size;
                batch.push(candidates.next().expect("peeked"));
            }
            if batch.is_empty() {
                break;
            }
            let outcomes = if request.dry_run {
                vec![Forget::Forgotten; batch.len()]
            } else {
                self.remove_entries(&batch)?
            };
            for (entry, outcome) in batch.into_iter().zip(outcomes) {
                match outcome {
                    Forget::Forgotten => {
                        report.freed += entry.size;
                        report.removed.push(entry);
                    }
                    Forget::InUse => report.skipped_in_use += 1,
                    Forget::DependedOn => deferred.push(entry),
                }
            }
        }
        Ok(deferred)
    }

    /// Removes the entries no running process uses; which went.
    fn remove_entries(&self, entries: &[EntryInfo]) -> Result<Vec<Forget>, Error> {
        let mut lock_names: Vec<String> = entries
            .iter()
            .map(|entry| {
                let name = entry.id.rsplit('/').next().unwrap_or_default();
                match entry.kind {
                    EntryKind::Blob => format!("blob-{name}"),
                    EntryKind::CacheVolume => format!("cache-{name}"),
                    _ => name.to_owned(),
                }
            })
            .collect();
        // Always in one order, so two collectors at once cannot deadlock.
        lock_names.sort();
        let locks = lock_names
            .iter()
            .map(|name| self.lock_entry(name))
            .collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        let forgotten = self.meta().forget_unless_used(&ids)?;
        let mut trash = Vec::new();
        for (entry, forgotten) in entries.iter().zip(&forgotten) {
            if *forgotten != Forget::Forgotten {
                continue;
            }
            let path = self.root().join(&entry.id);
            let name = entry.id.rsplit('/').next().unwrap_or_default();
            let renamed = temp_name(self.snapshots_tmp_dir(), &format!("removed-{name}"));
            match std::fs::rename(&path, &renamed) {
                Ok(()) => trash.push(renamed),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(Error::Store { path, source }),
            }
        }
        // Gone under their names: nobody waits for the deleting.
        drop(locks);
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let chunk = trash.len().div_ceil(workers).max(1);
        std::thread::scope(|scope| {
            for part in trash.chunks(chunk) {
                scope.spawn(move || part.iter().for_each(|path| remove_all(path)));
            }
        });
        Ok(forgotten)
    }
}

/// Deletes a renamed-away entry; what cannot be deleted now is swept from
/// `snapshots/tmp/` by a later open.
fn remove_all(path: &Path) {
    let removed = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    if let Err(e) = removed {
        tracing::warn!("cannot remove {} yet: {e}", path.display());
    }
}

/// The file system's size and free space where `path` is: (total, free)
/// bytes, as an unprivileged user may use them.
pub fn disk_space(path: &Path) -> Result<(u64, u64), Error> {
    let stat = nix::sys::statvfs::statvfs(path).map_err(|errno| Error::Store {
        path: PathBuf::from(path),
        source: std::io::Error::from(errno),
    })?;
    let fragment = stat.fragment_size() as u64;
    Ok((
        stat.blocks() as u64 * fragment,
        stat.blocks_available() as u64 * fragment,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Prepared, ResultKind};

    fn make(store: &Store, key: &str, bytes: usize) -> PathBuf {
        let Prepared::Active(entry) = store.prepare(ResultKind::Exec, key).unwrap() else {
            panic!("{key} exists");
        };
        std::fs::create_dir(entry.dir().join("fs")).unwrap();
        std::fs::write(entry.dir().join("fs/data"), vec![1u8; bytes]).unwrap();
        entry.commit(&format!("withExec make {key}"), &[]).unwrap()
    }

    #[test]
    fn least_recently_used_go_first_and_what_a_running_process_uses_stays() {
        let root = tempfile::tempdir().unwrap();
        let maker = Store::open(root.path(), Limits::default()).unwrap();
        let old = make(&maker, "01", 1000);
        let used = make(&maker, "02", 1000);
        let new = make(&maker, "03", 1000);
        drop(maker);
        // Another process (a store of its own) uses 02 now.
        let runner = Store::open(root.path(), Limits::default()).unwrap();
        assert_eq!(
            runner.result(ResultKind::Exec, "02").unwrap(),
            Some(used.clone())
        );
        let collector = Store::open(root.path(), Limits::default()).unwrap();
        let entries = collector.entries().unwrap();
        assert_eq!(entries.len(), 3);
        assert!(
            entries
                .iter()
                .find(|e| e.id == "snapshots/exec-02")
                .unwrap()
                .in_use
        );
        assert_eq!(
            entries
                .iter()
                .find(|e| e.id == "snapshots/exec-01")
                .unwrap()
                .description,
            "withExec make 01"
        );

        // A dry run removes nothing.
        let dry = collector
            .prune(&PruneRequest {
                dry_run: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(dry.removed.len(), 2);
        assert!(old.exists() && new.exists());

        // Freeing a little takes the oldest only.
        let some = collector
            .prune(&PruneRequest {
                bytes_to_free: Some(1),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(some.removed.len(), 1);
        assert_eq!(some.removed[0].id, "snapshots/exec-01");
        assert!(!old.exists() && used.exists() && new.exists());
        assert!(some.freed >= 1000);

        // Everything else that nobody uses.
        let rest = collector.prune(&PruneRequest::default()).unwrap();
        assert_eq!(rest.removed.len(), 1);
        assert!(!new.exists() && used.exists());

        // Once the runner is gone, its lease is too.
        drop(runner);
        let last = collector.prune(&PruneRequest::default()).unwrap();
        assert_eq!(last.removed.len(), 1);
        assert!(!used.exists());
        assert!(collector.entries().unwrap().is_empty());
        // Nothing half-removed is left under a real name or in tmp.
        let left: Vec<_> = std::fs::read_dir(root.path().join("snapshots/tmp"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_removed_result_is_made_anew_by_whoever_wants_it_next() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path(), Limits::default()).unwrap();
        make(&store, "0a", 10);
        drop(store);
        let collector = Store::open(root.path(), Limits::default()).unwrap();
        collector.prune(&PruneRequest::default()).unwrap();
        let user = Store::open(root.path(), Limits::default()).unwrap();
        assert_eq!(user.result(ResultKind::Exec, "0a").unwrap(), None);
        make(&user, "0a", 10);
        assert!(user.result(ResultKind::Exec, "0a").unwrap().is_some());
    }

    #[test]
    fn metadata_lost_is_rebuilt_from_the_files() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path(), Limits::default()).unwrap();
        let dir = make(&store, "0b", 5000);
        drop(store);
        for file in ["meta.db", "meta.db-wal", "meta.db-shm"] {
            let _ = std::fs::remove_file(root.path().join(file));
        }
        let reopened = Store::open(root.path(), Limits::default()).unwrap();
        let entries = reopened.entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].kind, EntryKind::StepResult);
        assert_eq!(entries[0].size, crate::apparent_size(&dir));
        assert!(entries[0].size > 5000);
        // And files removed behind its back are forgotten.
        std::fs::remove_dir_all(&dir).unwrap();
        drop(reopened);
        let again = Store::open(root.path(), Limits::default()).unwrap();
        assert!(again.entries().unwrap().is_empty());
    }

    #[test]
    fn what_a_result_is_made_on_goes_only_after_it() {
        let root = tempfile::tempdir().unwrap();
        let maker = Store::open(root.path(), Limits::default()).unwrap();
        let parent = make(&maker, "0e", 10);
        let Prepared::Active(child) = maker.prepare(ResultKind::Exec, "0f").unwrap() else {
            panic!("0f exists");
        };
        std::fs::create_dir(child.dir().join("fs")).unwrap();
        let child = child.commit("child", &[parent.join("fs")]).unwrap();
        drop(maker);

        // The child is in use: neither goes, the parent kept for it.
        let runner = Store::open(root.path(), Limits::default()).unwrap();
        assert!(runner.result(ResultKind::Exec, "0f").unwrap().is_some());
        let collector = Store::open(root.path(), Limits::default()).unwrap();
        let kept = collector.prune(&PruneRequest::default()).unwrap();
        assert!(kept.removed.is_empty(), "{:?}", kept.removed);
        assert!(parent.exists() && child.exists());

        // Once it is not, the child goes first, then the parent, in one prune.
        drop(runner);
        let both = collector.prune(&PruneRequest::default()).unwrap();
        let order: Vec<&str> = both.removed.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(order, ["snapshots/exec-0f", "snapshots/exec-0e"]);
        assert!(!parent.exists() && !child.exists());
    }
}
