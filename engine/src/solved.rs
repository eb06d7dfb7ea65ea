//! What solving a node gives: [`Solved`], the node's layer chain with its
//! cache key, and for execs their [`ExecResult`]; and [`blocking`], how ops
//! run store and registry code, which is synchronous.

use std::path::PathBuf;
use std::sync::Arc;

use crate::base_image::BaseImage;
use crate::cache_key::CacheKey;
use crate::config::Settings;
use crate::error::Error;
use crate::pending::Pending;

/// A node's output.
#[derive(Clone, Debug)]
pub(crate) struct Solved {
    pub key: CacheKey,
    /// Layer directories, top-most first.
    pub layers: Arc<Vec<PathBuf>>,
    /// Set for images: their config.
    pub settings: Option<Arc<Settings>>,
    /// Set for execs.
    pub exec: Option<Arc<ExecResult>>,
    /// Set for images: what publishing on top of them reuses.
    pub base: Option<Arc<BaseImage>>,
    /// Set for images: what became of each layer, for `tanto pull`.
    pub pulled: Option<Arc<PullReport>>,
    /// What must still be done before `layers` exist (lazy import): empty
    /// unless a registry cache is imported from.
    pub pending: Pending,
}

/// An image in the store: its reference pinned to the manifest digest
/// (`name@sha256:…`), and what became of each layer, lowest first.
#[derive(Debug)]
pub struct PullReport {
    pub pinned: String,
    pub layers: Vec<crate::pull::LayerReport>,
}

/// What a finished exec left: its exit code and where its output is.
#[derive(Debug)]
pub(crate) struct ExecResult {
    /// The committed result: `fs`, `stdout`, `stderr`, `mounts/<n>/fs`.
    pub dir: PathBuf,
    pub exit_code: i32,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl ExecResult {
    /// Where the changes a writable directory mount (number `index`) made
    /// are kept, if it made any.
    pub fn mount_changes(&self, index: usize) -> Option<PathBuf> {
        Some(mount_changes_dir(&self.dir, index)).filter(|dir| dir.is_dir())
    }
}

/// `<exec result>/mounts/<index>`: the directory of a writable mount's
/// upper (`fs/`, kept) and overlay work dirs (removed on commit).
pub(crate) fn mount_dir(exec_dir: &std::path::Path, index: usize) -> PathBuf {
    exec_dir.join(format!("mounts/{index}"))
}

fn mount_changes_dir(exec_dir: &std::path::Path, index: usize) -> PathBuf {
    mount_dir(exec_dir, index).join("fs")
}

impl Solved {
    /// A plain chain of layers: no image config, no exec result.
    pub fn chain(key: CacheKey, layers: Vec<PathBuf>) -> Solved {
        Solved {
            key,
            layers: Arc::new(layers),
            settings: None,
            exec: None,
            base: None,
            pulled: None,
            pending: Pending::default(),
        }
    }

    /// This chain, owing also what `inputs` owe.
    pub fn owing(mut self, inputs: &Pending) -> Solved {
        self.pending = self.pending.and(inputs);
        self
    }

    pub fn view(&self) -> snapshotter::ChainView {
        snapshotter::ChainView::new(self.layers.to_vec())
    }

    /// Where on the host the file at `path` of this chain lives (symlinks
    /// followed within the chain).
    pub fn host_file(&self, path: &str) -> Result<PathBuf, Error> {
        let found = self
            .view()
            .lookup(path, true)
            .map_err(|source| Error::FileOp {
                path: path.to_owned(),
                source: Box::new(source),
            })?;
        Ok(found
            .ok_or_else(|| Error::NotFound {
                path: path.to_owned(),
            })?
            .host_path)
    }
}

/// Runs `work` on a blocking thread: store and registry code is synchronous.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|source| Error::StepPanicked { source })?
}
