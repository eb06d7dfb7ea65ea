//! `Directory`, `File`, `Host` and `CacheVolume`: lazy file-system values.
//!
//! A directory is a node's layer chain seen from `subpath`; every change
//! (`with_new_file`, `without_file`…) stacks one more layer.

mod edit;
mod inspect;
mod search;

pub use inspect::Stat;
pub use search::{SearchOptions, SearchResult, Submatch};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::context::Context;
use crate::error::Error;
use crate::node::{in_directory, Change, ContainerPath, Node, Op};
use crate::ops::{resolve_path, solve, solve_lazy};
use crate::solved::{blocking, Solved};
use crate::streamed_export::export_streamed;

/// Largest file `contents` reads into memory.
const MAX_CONTENTS: u64 = 256 << 20;

#[derive(Clone)]
pub struct Directory {
    pub(in crate::values) ctx: Arc<Context>,
    pub(crate) node: Arc<Node>,
    /// Container path of this directory's root within the node's chain.
    pub(crate) subpath: ContainerPath,
}

#[derive(Clone)]
pub struct File {
    ctx: Arc<Context>,
    pub(crate) node: Arc<Node>,
    pub(crate) path: ContainerPath,
}

/// A snapshotter failure at `path`, as the engine's error.
pub(in crate::values) fn fs_error(path: &str) -> impl FnOnce(snapshotter::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::FileOp {
        path,
        source: Box::new(source),
    }
}

impl Directory {
    pub(crate) fn new(ctx: Arc<Context>, node: Arc<Node>, subpath: ContainerPath) -> Directory {
        Directory { ctx, node, subpath }
    }

    fn inside(&self, path: &str, operation: &str) -> Result<ContainerPath, Error> {
        in_directory(&self.subpath, path, operation)
    }

    fn with_change(&self, change: Change, name: String) -> Directory {
        Directory {
            node: Node::new(
                Op::Layer {
                    base: Arc::clone(&self.node),
                    change,
                },
                name,
            ),
            ..self.clone()
        }
    }

    pub fn with_new_file(
        &self,
        path: &str,
        contents: impl Into<Vec<u8>>,
        permissions: u32,
    ) -> Directory {
        self.try_with_new_file(path, contents, permissions)
            .unwrap_or_else(|error| self.poisoned(error))
    }

    fn try_with_new_file(
        &self,
        path: &str,
        contents: impl Into<Vec<u8>>,
        permissions: u32,
    ) -> Result<Directory, Error> {
        let dest = self.inside(path, "withNewFile")?;
        Ok(self.with_change(
            Change::NewFile {
                path: dest,
                contents: contents.into(),
                mode: permissions,
            },
            format!("withNewFile {path}"),
        ))
    }

    pub fn with_new_directory(&self, path: &str, permissions: u32) -> Directory {
        match self.inside(path, "withNewDirectory") {
            Ok(dest) => self.with_change(
                Change::NewDirectory {
                    path: dest,
                    mode: permissions,
                },
                format!("withNewDirectory {path}"),
            ),
            Err(error) => self.poisoned(error),
        }
    }

    pub fn with_file(&self, path: &str, source: &File, permissions: Option<u32>) -> Directory {
        match self.inside(path, "withFile") {
            Ok(dest) => self.with_change(
                Change::Copy {
                    source: Arc::clone(&source.node),
                    src_path: source.path.clone(),
                    include: Vec::new(),
                    exclude: Vec::new(),
                    dest,
                    mode: permissions,
                },
                format!("withFile {path}"),
            ),
            Err(error) => self.poisoned(error),
        }
    }

    pub fn with_directory(
        &self,
        path: &str,
        source: &Directory,
        include: &[&str],
        exclude: &[&str],
    ) -> Directory {
        match self.inside(path, "withDirectory") {
            Ok(dest) => self.with_change(
                Change::Copy {
                    source: Arc::clone(&source.node),
                    src_path: source.subpath.clone(),
                    include: include.iter().map(|s| s.to_string()).collect(),
                    exclude: exclude.iter().map(|s| s.to_string()).collect(),
                    dest,
                    mode: None,
                },
                format!("withDirectory {path}"),
            ),
            Err(error) => self.poisoned(error),
        }
    }

    pub fn without_file(&self, path: &str) -> Directory {
        self.without(path, "withoutFile")
    }

    pub fn without_directory(&self, path: &str) -> Directory {
        self.without(path, "withoutDirectory")
    }

    /// Removes `path`, or what it matches when it has a `*` (as Dagger's
    /// without* fields do); nothing there is no error.
    pub(super) fn without(&self, path: &str, operation: &str) -> Directory {
        match self.inside(path, operation) {
            Ok(dest) if path.contains('*') => self.with_change(
                Change::RemoveMatching { path: dest },
                format!("{operation} {path}"),
            ),
            Ok(dest) => {
                self.with_change(Change::Remove { path: dest }, format!("{operation} {path}"))
            }
            Err(error) => self.poisoned(error),
        }
    }

    /// A directory whose every use fails with `error`: the fluent API cannot
    /// return errors from builders, so a bad path surfaces when the value is
    /// used, naming the operation and the path.
    fn poisoned(&self, error: Error) -> Directory {
        Directory {
            node: Node::new(Op::Failed(Arc::new(error)), "invalid"),
            ..self.clone()
        }
    }

    pub fn directory(&self, path: &str) -> Directory {
        match self.inside(path, "directory") {
            Ok(subpath) => Directory {
                subpath,
                ..self.clone()
            },
            Err(error) => self.poisoned(error),
        }
    }

    pub fn file(&self, path: &str) -> File {
        match self.inside(path, "file") {
            Ok(path) => File::new(Arc::clone(&self.ctx), Arc::clone(&self.node), path),
            Err(error) => File::new(
                Arc::clone(&self.ctx),
                Node::new(Op::Failed(Arc::new(error)), "invalid"),
                ContainerPath::known("/"),
            ),
        }
    }

    pub(in crate::values) async fn solved(&self) -> Result<Solved, Error> {
        let solved = solve(&self.ctx, &self.node).await?;
        self.ctx
            .registry_cache
            .returned(solved.layers.iter().cloned());
        Ok(solved)
    }

    pub async fn sync(&self) -> Result<Directory, Error> {
        self.entries().await?;
        Ok(self.clone())
    }

    /// Names in this directory, sorted.
    pub async fn entries(&self) -> Result<Vec<String>, Error> {
        let view = self.solved().await?.view();
        let path = resolve_path(&self.ctx, &self.subpath).await?;
        blocking(move || {
            Ok(view
                .read_dir(&path)
                .map_err(fs_error(&path))?
                .into_iter()
                .map(|e| e.name)
                .collect())
        })
        .await
    }

    /// Paths below this directory matching `pattern` (e.g. `**/*.c`).
    pub async fn glob(&self, pattern: &str) -> Result<Vec<String>, Error> {
        let view = self.solved().await?.view();
        let path = resolve_path(&self.ctx, &self.subpath).await?;
        let pattern = pattern.to_owned();
        blocking(move || view.glob(&path, &pattern).map_err(fs_error(&path))).await
    }

    /// A digest of the contents (paths, modes, owners, file contents).
    pub async fn digest(&self) -> Result<String, Error> {
        let view = self.solved().await?.view();
        let path = resolve_path(&self.ctx, &self.subpath).await?;
        blocking(move || {
            view.digest(&path, &snapshotter::Filter::everything())
                .map_err(fs_error(&path))
        })
        .await
    }

    /// Writes the directory to `path` on the host, atomically. Relative
    /// paths start at the engine's working directory. Returns the path.
    pub async fn export(&self, path: impl AsRef<Path>, wipe: bool) -> Result<PathBuf, Error> {
        let dest = self.ctx.workdir.join(path.as_ref());
        let subpath = resolve_path(&self.ctx, &self.subpath).await?;
        // A chain left in a registry is written straight from its blobs.
        let lazy = solve_lazy(&self.ctx, &self.node).await?;
        self.ctx
            .registry_cache
            .returned(lazy.layers.iter().cloned());
        if let Some(exported) = export_streamed(&self.ctx, &lazy, &subpath, &dest, wipe).await {
            return exported;
        }
        lazy.pending.settle().await?;
        let view = lazy.view();
        blocking(move || {
            snapshotter::export_dir(
                &view,
                &subpath,
                &snapshotter::Filter::everything(),
                &dest,
                wipe,
            )
            .map_err(|source| Error::Export {
                path: dest.clone(),
                source: Box::new(source),
            })
        })
        .await
    }
}

impl File {
    pub(crate) fn new(ctx: Arc<Context>, node: Arc<Node>, path: ContainerPath) -> File {
        File { ctx, node, path }
    }

    async fn solved(&self) -> Result<Solved, Error> {
        let solved = solve(&self.ctx, &self.node).await?;
        self.ctx
            .registry_cache
            .returned(solved.layers.iter().cloned());
        Ok(solved)
    }

    pub fn name(&self) -> String {
        self.path
            .raw()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn sync(&self) -> Result<File, Error> {
        self.size().await?;
        Ok(self.clone())
    }

    pub async fn contents(&self) -> Result<String, Error> {
        let view = self.solved().await?.view();
        let path = resolve_path(&self.ctx, &self.path).await?;
        let bytes =
            blocking(move || view.read_file(&path, MAX_CONTENTS).map_err(fs_error(&path))).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn size(&self) -> Result<u64, Error> {
        let view = self.solved().await?.view();
        let path = resolve_path(&self.ctx, &self.path).await?;
        blocking(move || {
            let node = view
                .lookup(&path, true)
                .map_err(fs_error(&path))?
                .ok_or(Error::NotFound { path: path.clone() })?;
            Ok(node.metadata.len())
        })
        .await
    }

    pub async fn digest(&self) -> Result<String, Error> {
        let contents = self.contents().await?;
        Ok(format!("sha256:{}", sha256_hex(contents.as_bytes())))
    }

    /// The same contents under another name.
    pub fn with_name(&self, name: &str) -> File {
        let node = Node::new(
            Op::Layer {
                base: Node::scratch(),
                change: Change::Copy {
                    source: Arc::clone(&self.node),
                    src_path: self.path.clone(),
                    include: Vec::new(),
                    exclude: Vec::new(),
                    dest: ContainerPath::known(&format!("/{name}")),
                    mode: None,
                },
            },
            format!("withName {name}"),
        );
        File::new(
            Arc::clone(&self.ctx),
            node,
            ContainerPath::known(&format!("/{name}")),
        )
    }

    /// Writes the file to `path` on the host, atomically; returns the path.
    pub async fn export(&self, path: impl AsRef<Path>) -> Result<PathBuf, Error> {
        let dest = self.ctx.workdir.join(path.as_ref());
        let view = self.solved().await?.view();
        let src = resolve_path(&self.ctx, &self.path).await?;
        blocking(move || {
            snapshotter::export_file(&view, &src, &dest).map_err(|source| Error::Export {
                path: dest.clone(),
                source: Box::new(source),
            })
        })
        .await
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The machine tanto runs on.
#[derive(Clone)]
pub struct Host {
    pub(in crate::values) ctx: Arc<Context>,
}

impl Host {
    pub(crate) fn new(ctx: Arc<Context>) -> Host {
        Host { ctx }
    }

    /// A host directory, snapshotted by content when used. Relative paths
    /// start at the engine's working directory.
    pub fn directory(
        &self,
        path: impl AsRef<Path>,
        include: &[&str],
        exclude: &[&str],
    ) -> Directory {
        let path = path.as_ref();
        Directory::new(
            Arc::clone(&self.ctx),
            Node::new(
                Op::Host {
                    path: path.to_owned(),
                    include: include.iter().map(|s| s.to_string()).collect(),
                    exclude: exclude.iter().map(|s| s.to_string()).collect(),
                    file: false,
                },
                format!("host.directory {}", path.display()),
            ),
            ContainerPath::known("/"),
        )
    }

    pub fn file(&self, path: impl AsRef<Path>) -> File {
        let path = path.as_ref();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        File::new(
            Arc::clone(&self.ctx),
            Node::new(
                Op::Host {
                    path: path.to_owned(),
                    include: Vec::new(),
                    exclude: Vec::new(),
                    file: true,
                },
                format!("host.file {}", path.display()),
            ),
            ContainerPath::known(&format!("/{name}")),
        )
    }
}

/// A named cache directory kept between runs.
#[derive(Clone, Debug)]
pub struct CacheVolume {
    name: String,
}

impl CacheVolume {
    pub(crate) fn new(name: &str) -> CacheVolume {
        CacheVolume {
            name: name.to_owned(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}
