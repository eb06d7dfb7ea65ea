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
//! A piece also says where in a registry each layer it would make can be
//! read ([`LayerFeed`]), so that an export can be written straight from
//! the blobs without making the layers at all (`streamed_export.rs`).

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use snapshotter::Compression;

use crate::cache_key::CacheKey;
use crate::error::Error;

/// One piece of owed work; calling it again after it is done is cheap.
type Work = Arc<dyn Fn() -> BoxFuture<'static, Result<(), Error>> + Send + Sync>;

/// Opens a layer's blob in its registry, compressed as stored.
pub(crate) type OpenLayer = Arc<dyn Fn() -> std::io::Result<Box<dyn Read>> + Send + Sync>;

/// A layer owed work would make, as its blob in a registry.
#[derive(Clone)]
pub(crate) struct LayerFeed {
    /// The layer directory the work would make.
    pub dir: PathBuf,
    pub digest: String,
    pub size: u64,
    /// Digest of the uncompressed tar.
    pub diff_id: String,
    pub compression: Compression,
    pub open: OpenLayer,
}

impl LayerFeed {
    /// The layer to be made at `dir`, whose blob `digest` (`size` bytes)
    /// is in `reference`'s repository.
    pub fn in_registry(
        dir: PathBuf,
        client: registry::Client,
        reference: registry::Reference,
        (digest, size): (String, u64),
        diff_id: String,
        compression: Compression,
    ) -> LayerFeed {
        let wanted = digest.clone();
        LayerFeed {
            dir,
            digest,
            size,
            diff_id,
            compression,
            open: Arc::new(move || {
                let blob = client
                    .fetch_blob(&reference, &wanted, size)
                    .map_err(std::io::Error::other)?;
                Ok(Box::new(blob) as Box<dyn Read>)
            }),
        }
    }
}

/// Finds where the layers a piece of work makes can be read: at once, or
/// (an entry whose config is not fetched yet) with a round trip.
type Feeds = Arc<dyn Fn() -> Result<Vec<LayerFeed>, Error> + Send + Sync>;

#[derive(Clone)]
struct Piece {
    key: CacheKey,
    work: Work,
    feeds: Option<Feeds>,
}

/// The work a chain owes, each piece named by its step's key (so a chain
/// that reaches one input twice owes it once); empty for a chain on disk.
#[derive(Clone, Default)]
pub(crate) struct Pending {
    pieces: Vec<Piece>,
}

impl Pending {
    /// Owes `work`, the scheduler step `key` (it runs once per process).
    pub fn of(
        key: CacheKey,
        work: impl Fn() -> BoxFuture<'static, Result<(), Error>> + Send + Sync + 'static,
    ) -> Pending {
        Pending {
            pieces: vec![Piece {
                key,
                work: Arc::new(work),
                feeds: None,
            }],
        }
    }

    /// This work, saying where the layers it makes can be read.
    pub fn feeding(self, feeds: Vec<LayerFeed>) -> Pending {
        self.feeding_when_asked(move || Ok(feeds.clone()))
    }

    /// This work, with how to find where the layers it makes can be read.
    pub fn feeding_when_asked(
        mut self,
        find: impl Fn() -> Result<Vec<LayerFeed>, Error> + Send + Sync + 'static,
    ) -> Pending {
        let find: Feeds = Arc::new(find);
        for piece in &mut self.pieces {
            piece.feeds = Some(Arc::clone(&find));
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// What this chain owes and `other` owes too.
    pub fn and(mut self, other: &Pending) -> Pending {
        for piece in &other.pieces {
            if !self.pieces.iter().any(|owed| owed.key == piece.key) {
                self.pieces.push(piece.clone());
            }
        }
        self
    }

    /// Where each layer owed work would make can be read, if every piece
    /// says; `None` when one cannot. Blocks for any round trips.
    pub fn feeds(&self) -> Result<Option<Vec<LayerFeed>>, Error> {
        let mut feeds = Vec::new();
        for piece in &self.pieces {
            let Some(find) = &piece.feeds else {
                return Ok(None);
            };
            feeds.extend(find()?);
        }
        Ok(Some(feeds))
    }

    /// Does the owed work, all of it at once.
    pub async fn settle(&self) -> Result<(), Error> {
        futures::future::try_join_all(self.pieces.iter().map(|piece| (piece.work)())).await?;
        Ok(())
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pending({} pieces of work)", self.pieces.len())
    }
}
