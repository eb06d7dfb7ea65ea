//! The image ops as solver steps: `asTarball` (a tarball in the store, keyed
//! by the manifest it holds) and `import` (keyed, like a pulled image, by
//! its manifest digest — an image imported and the same image pulled are
//! one).

use std::path::PathBuf;
use std::sync::Arc;

use crate::cache_key::KeyBuilder;
use crate::memo::Kind;
use crate::node::{ConfigEdit, ImageSpec, ImportSource, Node};
use crate::session::Inner;
use crate::solve::{blocking, solve, Solved};
use crate::solver::Outcome;
use crate::Error;

use super::{build, import_archive, write_archive, ArchiveSource, Built, ImageOptions};

/// Builds the image of the container made of `rootfs`, `image` and `edits`.
pub(crate) async fn build_container(
    engine: &Arc<Inner>,
    rootfs: &Arc<Node>,
    image: Option<&Arc<Node>>,
    edits: &[ConfigEdit],
    options: ImageOptions,
    remote_registry: Option<String>,
) -> Result<Built, Error> {
    let (rootfs, image) = futures::future::join(solve(engine, rootfs), async {
        match image {
            Some(image) => solve(engine, image).await.map(Some),
            None => Ok(None),
        }
    })
    .await;
    let (rootfs, image) = (rootfs?, image?);
    let settings = image
        .as_ref()
        .and_then(|i| i.settings.as_deref().cloned())
        .unwrap_or_default()
        .apply(edits);
    let base = image.and_then(|i| i.base.clone());
    let inner = Arc::clone(engine);
    blocking(move || {
        build(
            &inner,
            &rootfs,
            base.as_deref(),
            &settings,
            options,
            remote_registry.as_deref(),
        )
    })
    .await
}

pub(crate) async fn solve_tarball(
    engine: &Arc<Inner>,
    node: &Arc<Node>,
    spec: &ImageSpec,
) -> Result<Solved, Error> {
    let built = build_container(
        engine,
        &spec.rootfs,
        spec.image.as_ref(),
        &spec.edits,
        spec.options,
        None,
    )
    .await?;
    let key = KeyBuilder::new("tanto.tarball.v1")
        .str("manifest", &built.manifest.digest)
        .finish();
    let inner = Arc::clone(engine);
    let solved = move |dir: PathBuf| Solved {
        key,
        layers: Arc::new(vec![dir.join("fs")]),
        settings: None,
        exec: None,
        base: None,
    };
    engine
        .solver
        .solve(key, node.name.clone(), move |_| {
            blocking(move || {
                if let Some(dir) = inner.memo.lookup(Kind::Layer, &key) {
                    return Ok(Outcome::Cached(solved(dir)));
                }
                let temp = inner.memo.temp_dir(Kind::Layer, &key)?;
                let path = temp.join("fs/image.tar");
                let written = std::fs::create_dir(temp.join("fs"))
                    .and_then(|()| std::fs::File::create(&path))
                    .and_then(|file| {
                        write_archive(&inner.store, &built, std::io::BufWriter::new(&file))?;
                        file.sync_all()
                    });
                if let Err(source) = written {
                    crate::memo::remove_tree(&temp);
                    return Err(Error::WriteArchive { path, source });
                }
                let dir = inner.memo.commit(Kind::Layer, &key, &temp)?;
                Ok(Outcome::Ran(solved(dir)))
            })
        })
        .await
        .map_err(Error::Shared)
}

pub(crate) async fn solve_import(
    engine: &Arc<Inner>,
    node: &Arc<Node>,
    source: &ImportSource,
    tag: Option<&str>,
) -> Result<Solved, Error> {
    let request = KeyBuilder::new("tanto.import-request.v1").str("tag", tag.unwrap_or(""));
    let (request, archive) = match source {
        ImportSource::File { node: file, path } => {
            let (solved, path) =
                futures::future::join(solve(engine, file), path.resolve(engine)).await;
            let (solved, path) = (solved?, path?);
            (
                request.key("file", &solved.key).str("path", &path).finish(),
                ArchiveSource::Tar(solved.host_file(&path)?),
            )
        }
        ImportSource::Host(archive) => (
            request.str("host", &archive.name()).finish(),
            archive.clone(),
        ),
    };
    let inner = Arc::clone(engine);
    let tag = tag.map(str::to_owned);
    engine
        .solver
        .solve(request, node.name.clone(), move |_| {
            blocking(move || {
                let imported = import_archive(&inner.store, &archive, tag.as_deref())?;
                crate::solve::image_outcome(
                    &inner.store,
                    &archive.name(),
                    None,
                    &imported.manifest_digest,
                    &imported.layers,
                    &imported.config_bytes,
                )
            })
        })
        .await
        .map_err(Error::Shared)
}
