//! Work a chain still owes before its layers exist on disk: the lazy
//! import of `--cache-from`.
//!
//! With a registry cache to import from, a node is first solved for its
//! *key*: an image's manifest and config are fetched but not its layers,
//! and a step the cache has is not fetched, only named. Its `Solved`
//! names the directories its layers will have and carries, as [`Pending`],
//! the work that makes them: pulling the image's layers, fetching each
//! entry. Only what must run on a chain, or read its files, or export it,
//! does that work (`ops::solve`); a pipeline that asks for the last step's
//! output fetches that output and nothing below it.
//!
//! Each piece of work is a scheduler step of its own, so it runs once
//! however many chains share it, and shows in progress like any step.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::cache_key::CacheKey;
use crate::error::Error;

/// One piece of owed work; calling it again after it is done is cheap.
type Work = Arc<dyn Fn() -> BoxFuture<'static, Result<(), Error>> + Send + Sync>;

/// The work a chain owes, each piece named by its step's key (so a chain
/// that reaches one input twice owes it once); empty for a chain on disk.
#[derive(Clone, Default)]
pub(crate) struct Pending {
    work: Vec<(CacheKey, Work)>,
}

impl Pending {
    /// Owes `work`, the scheduler step `key` (it runs once per process).
    pub fn of(
        key: CacheKey,
        work: impl Fn() -> BoxFuture<'static, Result<(), Error>> + Send + Sync + 'static,
    ) -> Pending {
        Pending {
            work: vec![(key, Arc::new(work))],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.work.is_empty()
    }

    /// What this chain owes and `other` owes too.
    pub fn and(mut self, other: &Pending) -> Pending {
        for (key, work) in &other.work {
            if !self.work.iter().any(|(owed, _)| owed == key) {
                self.work.push((*key, Arc::clone(work)));
            }
        }
        self
    }

    /// Does the owed work, all of it at once.
    pub async fn settle(&self) -> Result<(), Error> {
        futures::future::try_join_all(self.work.iter().map(|(_, work)| work())).await?;
        Ok(())
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pending({} pieces of work)", self.work.len())
    }
}
