//! Shipping a container as an image: published to a registry, exported
//! as a tarball, or a lazy tarball file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Container;
use crate::image::ImageOptions;
use crate::node::{ImageSpec, Node, Op};
use crate::paths::ContainerPath;
use crate::solve::blocking;
use crate::values::File;
use crate::{Error, Reference};

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
        let inner = Arc::clone(&self.engine.inner);
        blocking(move || crate::image::publish(&inner, &built, &reference)).await
    }

    /// Writes the container's image as an OCI tarball (with Docker's
    /// `manifest.json`, so `docker load` and `podman load` take it) to the
    /// host path `path`; returns the absolute path written. The file
    /// appears whole or not at all.
    pub async fn export(&self, path: &str, options: ImageOptions) -> Result<PathBuf, Error> {
        let dest = self.engine.inner.workdir.join(path);
        let built = self.build_image(options, None).await?;
        let inner = Arc::clone(&self.engine.inner);
        // Untagged, as Dagger's: the base image's name is not this image's.
        blocking(move || write_tarball(&inner, &built, &dest)).await
    }

    /// The container's image as an OCI tarball (`image.tar`), lazily.
    pub fn as_tarball(&self, options: ImageOptions) -> File {
        let node = Node::new(
            Op::Tarball(Box::new(ImageSpec {
                rootfs: Arc::clone(&self.rootfs),
                image: self.image.clone(),
                edits: self.edits.clone(),
                options,
            })),
            "asTarball",
        );
        File::new(
            self.engine.clone(),
            node,
            ContainerPath::known("/image.tar"),
        )
    }

    async fn build_image(
        &self,
        options: ImageOptions,
        remote_registry: Option<String>,
    ) -> Result<crate::image::Built, Error> {
        crate::image::build_container(
            &self.engine.inner,
            &self.rootfs,
            self.image.as_ref(),
            &self.edits,
            options,
            remote_registry,
        )
        .await
    }
}

/// Writes the tarball to a temp sibling of `dest`, then renames it.
fn write_tarball(
    inner: &crate::session::Inner,
    built: &crate::image::Built,
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
            crate::image::write_archive(&inner.store, built, std::io::BufWriter::new(&file))?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, &dest));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(write_error(error));
    }
    Ok(dest)
}
