//! A container's image: built from its solved chain and config (what
//! `publish`, `export` and `asTarball` share), and the tarball op, an OCI
//! tarball in the store keyed by the manifest it holds.

use std::sync::Arc;

use registry::Platform;

use crate::context::Context;
use crate::error::Error;
use crate::image::{build, build_index, write_archive, Built, ImageOptions};
use crate::memo::Kind;
use crate::node::{ImageSpec, LazyConfig, Node};
use crate::solved::{blocking, Solved};

use super::keys::tarball_key;
use super::{memo_outcome, resolve_config, solve, solve_optional};

/// Builds the image of the container made of `rootfs` and `config`.
pub(crate) async fn build_container(
    ctx: &Arc<Context>,
    rootfs: &Arc<Node>,
    config: &LazyConfig,
    platform: &Platform,
    options: ImageOptions,
    remote_registry: Option<String>,
) -> Result<Built, Error> {
    let (rootfs, image, settings) = futures::future::join3(
        solve(ctx, rootfs),
        solve_optional(ctx, config.image.as_ref()),
        resolve_config(ctx, config),
    )
    .await;
    let (rootfs, image, settings) = (rootfs?, image?, settings?);
    ctx.registry_cache.returned(rootfs.layers.iter().cloned());
    let base = image.and_then(|i| i.base.clone());
    let ctx = Arc::clone(ctx);
    let platform = platform.clone();
    blocking(move || {
        build(
            &ctx,
            &rootfs,
            base.as_deref(),
            &settings,
            &platform,
            options,
            remote_registry.as_deref(),
        )
    })
    .await
}

pub(super) async fn solve_tarball(
    ctx: &Arc<Context>,
    node: &Arc<Node>,
    spec: &ImageSpec,
) -> Result<Solved, Error> {
    let specs = std::iter::once(spec).chain(&spec.variants);
    let images = futures::future::try_join_all(specs.map(|spec| {
        build_container(
            ctx,
            &spec.rootfs,
            &spec.config,
            &spec.platform,
            spec.options,
            None,
        )
    }))
    .await?;
    let index = match spec.variants.is_empty() {
        true => None,
        false => Some(build_index(ctx, &images, spec.options.media_types)?),
    };
    // Keyed by what it holds: the manifest, or the multi-platform index.
    let top = index.as_ref().unwrap_or(&images[0].manifest);
    let key = tarball_key(&top.digest);
    let step_ctx = Arc::clone(ctx);
    let name = node.name.clone();
    ctx.scheduler
        .solve(key, node.name.clone(), move |_| {
            blocking(move || {
                let store = &step_ctx.store;
                let entry = step_ctx
                    .memo
                    .get_or_build(Kind::Layer, &key, &name, &[], |temp| {
                        let path = temp.join("fs/image.tar");
                        std::fs::create_dir(temp.join("fs"))
                            .and_then(|()| std::fs::File::create(&path))
                            .and_then(|file| {
                                write_archive(
                                    store,
                                    &images,
                                    index.as_ref(),
                                    std::io::BufWriter::new(&file),
                                )?;
                                file.sync_all()
                            })
                            .map_err(|source| Error::WriteArchive { path, source })
                    })?;
                let solved = Solved::chain(key, vec![entry.dir.join("fs")]);
                Ok(memo_outcome(&entry, solved))
            })
        })
        .await
        .map_err(Error::Shared)
}
