//! Shipping a container as an image: published to a registry, exported
//! as a tarball, or a lazy tarball file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use registry::Reference;

use super::Container;
use crate::context::Context;
use crate::error::Error;
use crate::image::{build_index, publish, publish_index, write_archive, Blob, Built, ImageOptions};
use crate::node::{ContainerPath, ImageSpec, Node, Op};
use crate::ops::build_container;
use crate::solved::blocking;
use crate::values::File;

impl Container {
    /// Pushes the container as an image to `address` (`registry/repo:tag`);
    /// returns the address pinned to the image's digest.
    pub async fn publish(&self, address: &str, options: ImageOptions) -> Result<String, Error> {
        let reference: Reference = address.parse().map_err(|source| Error::Reference {
            address: address.to_owned(),
            source: Box::new(source),
        })?;
        let built = self
            .build_image(options, Some(reference.registry().to_owned()))
            .await?;
        let ctx = Arc::clone(&self.ctx);
        blocking(move || publish(&ctx, &built, &reference)).await
    }

    /// Pushes this container and `variants` (Dagger's `platformVariants`,
    /// one per platform) as one multi-platform image under an index;
    /// returns the address pinned to the index's digest. Empty containers
    /// are left out; with no variants, or one image left,
    /// [`Container::publish`] of that one.
    pub async fn publish_variants(
        &self,
        address: &str,
        variants: &[Container],
        options: ImageOptions,
    ) -> Result<String, Error> {
        let kept = match shipped(self, variants)? {
            Shipped::One(container) => return container.publish(address, options).await,
            Shipped::Many(kept) => kept,
        };
        let reference: Reference = address.parse().map_err(|source| Error::Reference {
            address: address.to_owned(),
            source: Box::new(source),
        })?;
        let images = build_images(&kept, options, Some(reference.registry().to_owned())).await?;
        let ctx = Arc::clone(&self.ctx);
        blocking(move || {
            let index = build_index(&ctx, &images, options.media_types)?;
            publish_index(&ctx, &images, &index, &reference)
        })
        .await
    }

    /// Writes this container and `variants` as one multi-platform image
    /// in an OCI tarball at `path`. Empty containers are left out; with no
    /// variants, or one image left, [`Container::export`] of that one.
    pub async fn export_variants(
        &self,
        path: &str,
        variants: &[Container],
        options: ImageOptions,
    ) -> Result<PathBuf, Error> {
        let kept = match shipped(self, variants)? {
            Shipped::One(container) => return container.export(path, options).await,
            Shipped::Many(kept) => kept,
        };
        let dest = self.ctx.workdir.join(path);
        let images = build_images(&kept, options, None).await?;
        let ctx = Arc::clone(&self.ctx);
        blocking(move || {
            let index = build_index(&ctx, &images, options.media_types)?;
            write_tarball(&ctx, &images, Some(&index), &dest)
        })
        .await
    }

    /// Writes the container's image as an OCI tarball (with Docker's
    /// `manifest.json`, so `docker load` and `podman load` take it) to the
    /// host path `path`; returns the absolute path written. The file
    /// appears whole or not at all.
    pub async fn export(&self, path: &str, options: ImageOptions) -> Result<PathBuf, Error> {
        let dest = self.ctx.workdir.join(path);
        let built = self.build_image(options, None).await?;
        let ctx = Arc::clone(&self.ctx);
        // Untagged, as Dagger's: the base image's name is not this image's.
        blocking(move || write_tarball(&ctx, std::slice::from_ref(&built), None, &dest)).await
    }

    /// The container's image as an OCI tarball (`image.tar`), lazily.
    pub fn as_tarball(&self, options: ImageOptions) -> File {
        self.as_tarball_variants(&[], options)
    }

    /// This container and `variants` (one per platform) as one
    /// multi-platform image in an OCI tarball (`image.tar`), lazily; empty
    /// containers left out as for [`Container::export_variants`].
    pub fn as_tarball_variants(&self, variants: &[Container], options: ImageOptions) -> File {
        let spec = match shipped(self, variants) {
            Ok(Shipped::One(container)) => Ok(container.image_spec(options)),
            Ok(Shipped::Many(kept)) => {
                let mut spec = kept[0].image_spec(options);
                spec.variants = kept[1..].iter().map(|v| v.image_spec(options)).collect();
                Ok(spec)
            }
            Err(error) => Err(error),
        };
        let node = match spec {
            Ok(spec) => Node::new(Op::Tarball(Box::new(spec)), "asTarball"),
            Err(error) => Node::new(Op::Failed(Arc::new(error)), "asTarball"),
        };
        File::new(
            Arc::clone(&self.ctx),
            node,
            ContainerPath::known("/image.tar"),
        )
    }

    fn image_spec(&self, options: ImageOptions) -> ImageSpec {
        ImageSpec {
            rootfs: Arc::clone(&self.rootfs),
            config: Arc::clone(&self.config),
            platform: self.platform.clone(),
            options,
            variants: Vec::new(),
        }
    }

    /// Whether nothing gave the container a root file system (`container()`
    /// with at most config set): Dagger leaves such a container out of a
    /// multi-platform image (`filterEmptyContainers`), so that
    /// `container().export(platformVariants: [amd64, arm64])` ships two
    /// images rather than refusing an empty linux/amd64 third.
    fn is_empty(&self) -> bool {
        matches!(self.rootfs.op, Op::Scratch)
    }
    async fn build_image(
        &self,
        options: ImageOptions,
        remote_registry: Option<String>,
    ) -> Result<Built, Error> {
        build_container(
            &self.ctx,
            &self.rootfs,
            &self.config,
            &self.platform,
            options,
            remote_registry,
        )
        .await
    }
}

/// Writes the tarball to a temp sibling of `dest`, then renames it.
fn write_tarball(
    ctx: &Context,
    images: &[Built],
    index: Option<&Blob>,
    dest: &Path,
) -> Result<PathBuf, Error> {
    let dest = std::path::absolute(dest).unwrap_or_else(|_| dest.to_owned());
    let write_error = |source| Error::WriteArchive {
        path: dest.clone(),
        source,
    };
    if dest.is_dir() {
        return Err(write_error(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a directory; give the tarball's file name",
        )));
    }
    let (Some(parent), Some(file_name)) = (dest.parent(), dest.file_name()) else {
        return Err(write_error(std::io::ErrorKind::InvalidInput.into()));
    };
    let temp = parent.join(format!(
        ".{}.tanto-tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::File::create(&temp)
        .and_then(|file| {
            write_archive(&ctx.store, images, index, std::io::BufWriter::new(&file))?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, &dest));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(write_error(error));
    }
    Ok(dest)
}

/// What `publish`, `export` and `asTarball` ship for a receiver and its
/// `platformVariants`.
enum Shipped<'a> {
    /// No variants were given, or all but one container are empty: one
    /// image, no index (as Dagger's export of a single platform).
    One(&'a Container),
    /// An index over these, the first the default.
    Many(Vec<&'a Container>),
}

/// The receiver and `variants` without the empty ones, as Dagger's
/// `filterEmptyContainers`; with no variants, the receiver as it is.
fn shipped<'a>(receiver: &'a Container, variants: &'a [Container]) -> Result<Shipped<'a>, Error> {
    if variants.is_empty() {
        return Ok(Shipped::One(receiver));
    }
    let mut kept: Vec<&Container> = std::iter::once(receiver)
        .chain(variants)
        .filter(|container| !container.is_empty())
        .collect();
    match kept.len() {
        0 => Err(Error::NoPlatformVariants),
        1 => Ok(Shipped::One(kept.remove(0))),
        _ => Ok(Shipped::Many(kept)),
    }
}

/// The image of each of `containers`, built at once.
async fn build_images(
    containers: &[&Container],
    options: ImageOptions,
    remote_registry: Option<String>,
) -> Result<Vec<Built>, Error> {
    futures::future::try_join_all(
        containers
            .iter()
            .map(|container| container.build_image(options, remote_registry.clone())),
    )
    .await
}
