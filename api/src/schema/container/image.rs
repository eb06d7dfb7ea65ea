//! `Container`'s image: where it comes from (`from`, `import`), where it
//! goes (`publish`, `export`, `asTarball`) with which credentials, and what
//! it is (`imageRef`, `platform`).

use async_graphql::{Context, Object, Result, ID};

use super::super::{fail, image_options, lookup, FileObj, ImageLayerCompression, ImageMediaTypes};
use super::ContainerObj;
use crate::scalars::*;

pub(crate) struct ContainerImage(pub(super) engine::Container);

#[Object]
impl ContainerImage {
    async fn from(&self, address: String) -> ContainerObj {
        ContainerObj::new(self.0.from(&address))
    }

    /// The image in an OCI or `docker save` tarball.
    async fn import(
        &self,
        ctx: &Context<'_>,
        source: ID,
        #[graphql(default)] tag: String,
    ) -> Result<ContainerObj> {
        let source = lookup!(ctx, source, File, "File")?;
        let tag = (!tag.is_empty()).then_some(tag.as_str());
        Ok(ContainerObj::new(self.0.import(&source, tag)))
    }

    async fn with_registry_auth(
        &self,
        ctx: &Context<'_>,
        address: String,
        username: String,
        secret: ID,
    ) -> Result<ContainerObj> {
        let secret = lookup!(ctx, secret, Secret, "Secret")?;
        Ok(ContainerObj::new(
            self.0.with_registry_auth(&address, &username, &secret),
        ))
    }

    async fn without_registry_auth(&self, address: String) -> ContainerObj {
        ContainerObj::new(self.0.without_registry_auth(&address))
    }

    /// Pushes the container as an image; returns `address@sha256:…`. With
    /// `platformVariants`, one multi-platform image under an index.
    async fn publish(
        &self,
        ctx: &Context<'_>,
        address: String,
        #[graphql(default)] platform_variants: Vec<ID>,
        forced_compression: Option<ImageLayerCompression>,
        #[graphql(default)] media_types: ImageMediaTypes,
    ) -> Result<String> {
        let options = image_options("publish", forced_compression, media_types)?;
        let variants = containers(ctx, platform_variants)?;
        self.0
            .publish_variants(&address, &variants, options)
            .await
            .map_err(fail)
    }

    /// Writes the image as an OCI tarball on the host; returns its path.
    /// With `platformVariants`, one multi-platform image under an index.
    async fn export(
        &self,
        ctx: &Context<'_>,
        path: String,
        #[graphql(default)] platform_variants: Vec<ID>,
        forced_compression: Option<ImageLayerCompression>,
        #[graphql(default)] media_types: ImageMediaTypes,
        #[graphql(default = false)] expand: bool,
    ) -> Result<String> {
        if expand {
            return Err(async_graphql::Error::new(
                "export: tanto does not support expand yet",
            ));
        }
        let options = image_options("export", forced_compression, media_types)?;
        let variants = containers(ctx, platform_variants)?;
        let written = self
            .0
            .export_variants(&path, &variants, options)
            .await
            .map_err(fail)?;
        Ok(written.display().to_string())
    }

    /// The image as an OCI tarball file, lazily. With `platformVariants`,
    /// one multi-platform image under an index.
    async fn as_tarball(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] platform_variants: Vec<ID>,
        forced_compression: Option<ImageLayerCompression>,
        #[graphql(default)] media_types: ImageMediaTypes,
    ) -> Result<FileObj> {
        let options = image_options("asTarball", forced_compression, media_types)?;
        let variants = containers(ctx, platform_variants)?;
        Ok(FileObj(self.0.as_tarball_variants(&variants, options)))
    }

    /// An annotation of the image's manifest, written when it is
    /// published or exported.
    async fn with_annotation(&self, name: String, value: String) -> ContainerObj {
        ContainerObj::new(self.0.with_annotation(&name, &value))
    }

    async fn without_annotation(&self, name: String) -> ContainerObj {
        ContainerObj::new(self.0.without_annotation(&name))
    }

    /// Refused: Dagger loads the image into the host's image store (its
    /// Docker daemon or containerd); tanto has no daemon to load into.
    async fn export_image(
        &self,
        name: String,
        #[graphql(default)] platform_variants: Vec<ID>,
        forced_compression: Option<ImageLayerCompression>,
        #[graphql(default)] media_types: ImageMediaTypes,
    ) -> Result<Void> {
        let _ = (platform_variants, forced_compression, media_types);
        Err(async_graphql::Error::new(format!(
            "exportImage: tanto has no host container image store to load {name:?} into (it runs no daemon); \
             write a tarball with export(path: \"image.tar\") and load it with `podman load -i image.tar` or `docker load -i image.tar`"
        )))
    }

    /// The platform the container was made for (`container(platform:)`),
    /// normalized: `linux/aarch64` is `linux/arm64`.
    async fn platform(&self) -> Platform {
        Platform(self.0.platform().to_string())
    }

    async fn image_ref(&self) -> String {
        self.0.image_ref().unwrap_or_default().to_owned()
    }
}

/// The containers `ids` name (`platformVariants`).
fn containers(ctx: &Context<'_>, ids: Vec<ID>) -> Result<Vec<engine::Container>> {
    ids.into_iter()
        .map(|id| lookup!(ctx, id, Container, "Container"))
        .collect()
}
