//! `Changeset`: a directory and an older one (Dagger's `after` and
//! `before`), and what changed between them path by path: the lists
//! (`snapshotter::Comparison` says what counts), the changes as a layer
//! (`Directory.diff`), as a unified diff (`patch.rs`), counted (`stats.rs`), applied to another
//! directory (`withChanges`, an op of its own) or written to the host.

mod merge;
mod patch;
mod stats;
mod three_way;

pub use merge::MergeConflict;
pub use stats::{DiffStat, DiffStatKind};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use snapshotter::{ChangedPaths, Comparison};
use tokio::sync::OnceCell;

use super::directory::fs_error;
use super::{Directory, File};
use crate::error::Error;
use crate::node::{ChangesOp, ContainerPath, Node, Op};
use crate::ops::resolve_path;
use crate::solved::blocking;

/// Dagger's name for the patch file `asPatch` makes.
const PATCH_NAME: &str = "diff.patch";

#[derive(Clone)]
pub struct Changeset {
    before: Directory,
    after: Directory,
    /// Worked out once per value, however many fields ask.
    paths: Arc<OnceCell<Arc<ChangedPaths>>>,
}

impl Directory {
    /// What changed from `from` to this directory (Dagger's
    /// `changes(from:)`): `from` is the changeset's `before`.
    pub fn changes(&self, from: &Directory) -> Changeset {
        Changeset {
            before: from.clone(),
            after: self.clone(),
            paths: Arc::new(OnceCell::new()),
        }
    }

    /// This directory with `changes` applied: what they removed removed
    /// (if here), what they added or modified copied in.
    pub fn with_changes(&self, changes: &Changeset) -> Directory {
        let op = ChangesOp {
            base: Arc::clone(&self.node),
            base_path: self.subpath.clone(),
            before: Arc::clone(&changes.before.node),
            before_path: changes.before.subpath.clone(),
            after: Arc::clone(&changes.after.node),
            after_path: changes.after.subpath.clone(),
        };
        Directory {
            node: Node::new(Op::WithChanges(Box::new(op)), "withChanges"),
            ..self.clone()
        }
    }
}

impl Changeset {
    /// The older directory.
    pub fn before(&self) -> Directory {
        self.before.clone()
    }

    /// The newer directory.
    pub fn after(&self) -> Directory {
        self.after.clone()
    }

    /// New and changed entries, with the directories that lead to them;
    /// removals cannot show in a directory (`before.diff(after)`).
    pub fn layer(&self) -> Directory {
        self.before.diff(&self.after)
    }

    /// Both trees solved, with where each is seen from.
    async fn trees(&self) -> Result<Trees, Error> {
        let (before, after) =
            futures::future::join(self.before.solved(), self.after.solved()).await;
        Ok(Trees {
            before: before?.view(),
            before_path: resolve_path(&self.before.ctx, &self.before.subpath).await?,
            after: after?.view(),
            after_path: resolve_path(&self.after.ctx, &self.after.subpath).await?,
        })
    }

    /// What was added, modified and removed (see `snapshotter::ChangedPaths`).
    pub async fn paths(&self) -> Result<Arc<ChangedPaths>, Error> {
        self.paths
            .get_or_try_init(|| async {
                let trees = self.trees().await?;
                let paths = blocking(move || {
                    trees
                        .comparison()
                        .paths()
                        .map_err(fs_error(&trees.after_path))
                })
                .await?;
                Ok(Arc::new(paths))
            })
            .await
            .cloned()
    }

    /// Whether no file changed (directories alone do not count, as in Dagger).
    pub async fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.paths().await?.is_empty())
    }

    /// Both directories solved.
    pub async fn sync(&self) -> Result<Changeset, Error> {
        let (before, after) = futures::future::join(self.before.sync(), self.after.sync()).await;
        before?;
        after?;
        Ok(self.clone())
    }

    /// Per path, what happened to it and how many lines were added and
    /// removed (Dagger's `diffStats`; see `stats.rs`).
    pub async fn diff_stats(&self) -> Result<Vec<DiffStat>, Error> {
        let paths = self.paths().await?;
        let trees = self.trees().await?;
        blocking(move || {
            stats::diff_stats(&trees.comparison(), &paths).map_err(fs_error(&trees.after_path))
        })
        .await
    }

    /// The changes as a unified diff, `diff.patch`, the way `git diff`
    /// writes them (`withPatch` applies it back).
    pub async fn as_patch(&self) -> Result<File, Error> {
        let paths = self.paths().await?;
        let trees = self.trees().await?;
        let text = blocking(move || {
            patch::write(&trees.comparison(), &paths).map_err(fs_error(&trees.after_path))
        })
        .await?;
        let scratch = Directory::new(
            Arc::clone(&self.after.ctx),
            Node::scratch(),
            ContainerPath::known("/"),
        );
        Ok(scratch
            .with_new_file(PATCH_NAME, text, 0o644)
            .file(PATCH_NAME))
    }

    /// Writes the changes into the host directory `path` (relative to the
    /// engine's working directory): removed paths removed there, new and
    /// changed entries merged in, everything else left as it is. Returns
    /// the absolute path.
    pub async fn export(&self, path: impl AsRef<Path>) -> Result<PathBuf, Error> {
        let dest = self.after.ctx.workdir.join(path.as_ref());
        let paths = self.paths().await?;
        let layer = self.layer().solved().await?.view();
        blocking(move || {
            snapshotter::export_changes(&layer, &paths, &dest).map_err(|source| Error::Export {
                path: dest.clone(),
                source: Box::new(source),
            })
        })
        .await
    }
}

/// The two trees of a changeset, ready to compare on a blocking thread.
struct Trees {
    before: snapshotter::ChainView,
    before_path: String,
    after: snapshotter::ChainView,
    after_path: String,
}

impl Trees {
    fn comparison(&self) -> Comparison<'_> {
        Comparison {
            before: &self.before,
            before_path: &self.before_path,
            after: &self.after,
            after_path: &self.after_path,
        }
    }
}
