//! Solving a node: keys derived bottom-up, each step memoized.
//!
//! Images and host directories are keyed by content, which is only known once
//! they are resolved (a manifest digest, a tree hash): they run as solver
//! steps keyed by their *request*, and produce the content key that keys
//! everything above them. Layers and execs are keyed by content directly, so
//! two different DAGs that reach the same work share it.

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt};

use crate::cache_key::{CacheKey, KeyBuilder};
use crate::config::Settings;
use crate::memo::Kind;
use crate::node::{Change, Node, Op};
use crate::session::Inner;
use crate::solver::Outcome;
use crate::{exec_step, Error, PullOptions, Puller, Reference};

/// A node's output.
#[derive(Clone, Debug)]
pub(crate) struct Solved {
    pub key: CacheKey,
    /// Layer directories, top-most first.
    pub layers: Arc<Vec<PathBuf>>,
    /// Set for images: their config.
    pub settings: Option<Arc<Settings>>,
    /// Set for execs.
    pub exec: Option<Arc<exec_step::ExecResult>>,
    /// Set for images: what publishing on top of them reuses.
    pub base: Option<Arc<crate::image::BaseImage>>,
}

impl Solved {
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

pub(crate) fn solve(
    engine: &Arc<Inner>,
    node: &Arc<Node>,
) -> BoxFuture<'static, Result<Solved, Error>> {
    let engine = Arc::clone(engine);
    let node = Arc::clone(node);
    async move {
        match &node.op {
            Op::Scratch => Ok(Solved {
                key: KeyBuilder::new("tanto.scratch.v1").finish(),
                layers: Arc::new(Vec::new()),
                settings: None,
                exec: None,
                base: None,
            }),
            Op::Image { address } => solve_image(&engine, &node, address).await,
            Op::Host { .. } => solve_host(&engine, &node).await,
            Op::Layer { base, change } => solve_layer(&engine, &node, base, change).await,
            Op::Exec(_) => exec_step::solve_exec(&engine, &node).await,
            Op::ExecMount {
                exec,
                index,
                source,
            } => {
                let (exec, source) =
                    futures::future::join(solve(&engine, exec), solve(&engine, source)).await;
                let (exec, source) = (exec?, source?);
                let changes = exec
                    .exec
                    .as_ref()
                    .map(|e| e.dir.join(format!("mounts/{index}/fs")))
                    .filter(|dir| dir.is_dir());
                let mut layers: Vec<PathBuf> = changes.into_iter().collect();
                layers.extend(source.layers.iter().cloned());
                Ok(Solved {
                    key: KeyBuilder::new("tanto.exec-mount.v1")
                        .key("exec", &exec.key)
                        .u64("index", *index as u64)
                        .key("source", &source.key)
                        .finish(),
                    layers: Arc::new(layers),
                    settings: None,
                    exec: None,
                    base: None,
                })
            }
            Op::Tarball(spec) => crate::image::solve_tarball(&engine, &node, spec).await,
            Op::Import { source, tag } => {
                crate::image::solve_import(&engine, &node, source, tag.as_deref()).await
            }
            Op::Failed(error) => Err(Error::Shared(Arc::clone(error))),
        }
    }
    .boxed()
}

/// Runs `work` on a blocking thread: store and registry code is synchronous.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::StepPanicked {
            detail: e.to_string(),
        })?
}

async fn solve_image(
    engine: &Arc<Inner>,
    node: &Arc<Node>,
    address: &str,
) -> Result<Solved, Error> {
    let request = KeyBuilder::new("tanto.image-request.v1")
        .str("address", address)
        .finish();
    let inner = Arc::clone(engine);
    let address = address.to_owned();
    engine
        .solver
        .solve(request, node.name.clone(), move |job| {
            blocking(move || {
                let reference: Reference = address.parse().map_err(|source| Error::Reference {
                    address: address.clone(),
                    source: Box::new(source),
                })?;
                let puller = Puller::new(&inner.store, inner.client.clone());
                let options = PullOptions {
                    progress: Some(Arc::new(move |layer: &crate::LayerProgress| {
                        job.pull(layer)
                    })),
                    ..PullOptions::default()
                };
                let image = puller.pull(&reference, &options)?;
                let config_bytes =
                    inner
                        .store
                        .read_blob(&image.config_digest)
                        .map_err(|source| Error::Save {
                            image: address.clone(),
                            what: "its config".into(),
                            source: Box::new(source),
                        })?;
                image_outcome(
                    &inner.store,
                    &address,
                    Some(image.reference.clone()),
                    &image.manifest_digest,
                    &image.layers,
                    &config_bytes,
                )
            })
        })
        .await
        .map_err(Error::Shared)
}

/// An image step's output (pulled or imported): its layers, settings and
/// what publishing on top of it reuses; cached when no layer was new.
pub(crate) fn image_outcome(
    store: &snapshotter::Store,
    name: &str,
    reference: Option<Reference>,
    manifest_digest: &str,
    layers: &[crate::LayerReport],
    config_bytes: &[u8],
) -> Result<Outcome<Solved>, Error> {
    let config =
        registry::manifest::parse_config(name, config_bytes).map_err(|source| Error::Registry {
            image: name.to_owned(),
            source: Box::new(source),
        })?;
    let dirs: Vec<PathBuf> = layers.iter().map(|l| l.snapshot.fs()).collect();
    let base = crate::image::BaseImage::load(
        store,
        name,
        reference,
        manifest_digest,
        dirs.clone(),
        config_bytes,
    )?;
    let solved = Solved {
        key: KeyBuilder::new("tanto.image.v1")
            .str("manifest", manifest_digest)
            .finish(),
        layers: Arc::new(dirs.into_iter().rev().collect()),
        settings: Some(Arc::new(Settings::from_image(&config))),
        exec: None,
        base: Some(Arc::new(base)),
    };
    let all_present = layers
        .iter()
        .all(|l| matches!(l.outcome, crate::LayerOutcome::Reused));
    Ok(if all_present {
        Outcome::Cached(solved)
    } else {
        Outcome::Ran(solved)
    })
}

async fn solve_host(engine: &Arc<Inner>, node: &Arc<Node>) -> Result<Solved, Error> {
    let Op::Host {
        path,
        include,
        exclude,
        file,
    } = &node.op
    else {
        unreachable!("solve_host is called for host nodes")
    };
    let path = engine.workdir.join(path);
    let request = KeyBuilder::new("tanto.host-request.v1")
        .str("path", &path.to_string_lossy())
        .strs("include", include)
        .strs("exclude", exclude)
        .bool("file", *file)
        .finish();
    let inner = Arc::clone(engine);
    let (include, exclude, file) = (include.clone(), exclude.clone(), *file);
    engine
        .solver
        .solve(request, node.name.clone(), move |_| {
            blocking(move || {
                let host_error = |source| Error::Host {
                    path: path.clone(),
                    source: Box::new(source),
                };
                let import = if file {
                    snapshotter::import_host_file(&inner.store, &path).map_err(host_error)?
                } else {
                    let filter =
                        snapshotter::Filter::new(&include, &exclude).map_err(host_error)?;
                    snapshotter::import_host_dir(&inner.store, &path, &filter)
                        .map_err(host_error)?
                };
                let solved = Solved {
                    key: KeyBuilder::new("tanto.host.v1")
                        .str("digest", &import.digest)
                        .finish(),
                    layers: Arc::new(vec![import.snapshot]),
                    settings: None,
                    exec: None,
                    base: None,
                };
                Ok(if import.reused {
                    Outcome::Cached(solved)
                } else {
                    Outcome::Ran(solved)
                })
            })
        })
        .await
        .map_err(Error::Shared)
}

async fn solve_layer(
    engine: &Arc<Inner>,
    node: &Arc<Node>,
    base: &Arc<Node>,
    change: &Change,
) -> Result<Solved, Error> {
    let source_node = match change {
        Change::Copy { source, .. } => Some(Arc::clone(source)),
        _ => None,
    };
    let (base, source, change) = futures::future::join3(
        solve(engine, base),
        async {
            match &source_node {
                Some(source) => solve(engine, source).await.map(Some),
                None => Ok(None),
            }
        },
        change_data(engine, change),
    )
    .await;
    let (base, source, change) = (base?, source?, change?);
    let key = layer_key(&base.key, source.as_ref().map(|s| &s.key), &change);
    let inner = Arc::clone(engine);
    let base_layers = Arc::clone(&base.layers);
    let name = node.name.clone();
    let namer = Arc::clone(engine);
    let stacked = move |layer: PathBuf| {
        namer.name_layer(layer.clone(), &name);
        let mut layers = vec![layer];
        layers.extend(base_layers.iter().cloned());
        Solved {
            key,
            layers: Arc::new(layers),
            settings: None,
            exec: None,
            base: None,
        }
    };
    engine
        .solver
        .solve(key, node.name.clone(), move |_| {
            blocking(move || {
                if let Some(dir) = inner.memo.lookup(Kind::Layer, &key) {
                    return Ok(Outcome::Cached(stacked(dir.join("fs"))));
                }
                let temp = inner.memo.temp_dir(Kind::Layer, &key)?;
                let built = build_layer(&temp.join("fs"), &base, source.as_ref(), &change);
                if let Err(error) = built {
                    crate::memo::remove_tree(&temp);
                    return Err(error);
                }
                let dir = inner.memo.commit(Kind::Layer, &key, &temp)?;
                Ok(Outcome::Ran(stacked(dir.join("fs"))))
            })
        })
        .await
        .map_err(Error::Shared)
}

fn layer_key(base: &CacheKey, source: Option<&CacheKey>, change: &ChangeData) -> CacheKey {
    let builder = KeyBuilder::new("tanto.layer.v1").key("base", base);
    match change {
        ChangeData::Copy {
            src_path,
            include,
            exclude,
            dest,
            mode,
        } => builder
            .str("change", "copy")
            .opt_key("source", source)
            .str("src", src_path)
            .strs("include", include)
            .strs("exclude", exclude)
            .str("dest", dest)
            .u64("mode", mode.map_or(u64::MAX, u64::from)),
        ChangeData::NewFile {
            path,
            contents,
            mode,
        } => builder
            .str("change", "new-file")
            .str("path", path)
            .bytes("contents", contents)
            .u64("mode", u64::from(*mode)),
        ChangeData::NewDirectory { path, mode } => builder
            .str("change", "new-directory")
            .str("path", path)
            .u64("mode", u64::from(*mode)),
        ChangeData::Remove { path } => builder.str("change", "remove").str("path", path),
    }
    .finish()
}

/// A [`Change`] with its paths resolved, and no nodes: what keys it and
/// what a blocking thread needs.
enum ChangeData {
    Copy {
        src_path: String,
        include: Vec<String>,
        exclude: Vec<String>,
        dest: String,
        mode: Option<u32>,
    },
    NewFile {
        path: String,
        contents: Vec<u8>,
        mode: u32,
    },
    NewDirectory {
        path: String,
        mode: u32,
    },
    Remove {
        path: String,
    },
}

async fn change_data(engine: &Arc<Inner>, change: &Change) -> Result<ChangeData, Error> {
    Ok(match change {
        Change::Copy {
            src_path,
            include,
            exclude,
            dest,
            mode,
            ..
        } => ChangeData::Copy {
            src_path: src_path.resolve(engine).await?,
            include: include.clone(),
            exclude: exclude.clone(),
            dest: dest.resolve(engine).await?,
            mode: *mode,
        },
        Change::NewFile {
            path,
            contents,
            mode,
        } => ChangeData::NewFile {
            path: path.resolve(engine).await?,
            contents: contents.clone(),
            mode: *mode,
        },
        Change::NewDirectory { path, mode } => ChangeData::NewDirectory {
            path: path.resolve(engine).await?,
            mode: *mode,
        },
        Change::Remove { path } => ChangeData::Remove {
            path: path.resolve(engine).await?,
        },
    })
}

fn build_layer(
    layer: &std::path::Path,
    base: &Solved,
    source: Option<&Solved>,
    change: &ChangeData,
) -> Result<(), Error> {
    std::fs::create_dir(layer).map_err(|source| Error::Memo {
        path: layer.to_owned(),
        source,
    })?;
    let target = base.view();
    let fs_error = |path: &str| {
        let path = path.to_owned();
        move |source| Error::FileOp {
            path,
            source: Box::new(source),
        }
    };
    match change {
        ChangeData::Copy {
            src_path,
            include,
            exclude,
            dest,
            mode,
        } => {
            let source = source.expect("a copy has a source").view();
            let filter = snapshotter::Filter::new(include, exclude).map_err(fs_error(src_path))?;
            if source
                .lookup(src_path, true)
                .map_err(fs_error(src_path))?
                .is_none()
            {
                return Err(Error::NotFound {
                    path: src_path.clone(),
                });
            }
            snapshotter::copy_into_layer(
                &source, src_path, &filter, &target, layer, dest, None, *mode,
            )
            .map_err(fs_error(dest))?;
        }
        ChangeData::NewFile {
            path,
            contents,
            mode,
        } => snapshotter::write_new_file(&target, layer, path, contents, *mode, (0, 0))
            .map_err(fs_error(path))?,
        ChangeData::NewDirectory { path, mode } => {
            snapshotter::make_dir(&target, layer, path, *mode).map_err(fs_error(path))?
        }
        ChangeData::Remove { path } => {
            snapshotter::make_whiteout(&target, layer, path).map_err(fs_error(path))?
        }
    }
    Ok(())
}
