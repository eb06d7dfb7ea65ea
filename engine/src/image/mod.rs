//! Images out of containers, and in from files: what `publish`, `export`,
//! `asTarball` and `import` share.
//!
//! A container's root file system is a chain of layer directories. Building
//! its image (`build.rs`) keeps the base image's layers as the registry
//! served them (their blobs are in the content store, or mountable from the
//! base's repository) and packs every layer a step added into a
//! reproducible tar blob, remembered per layer by the store so it is packed
//! once. The config carries the container's settings and a history
//! entry per step. Then the blobs go to a registry (`publish.rs`) or into an
//! OCI image tarball (`archive.rs`), which `import` reads back. Several
//! containers of different platforms (`platformVariants`) ship as one
//! multi-platform image under an index (`index.rs`).

mod archive;
mod build;
mod index;
mod publish;

pub(crate) use archive::write_archive;
pub use archive::ArchiveSource;
pub(crate) use archive::{import_archive, Imported};
pub(crate) use build::{build, Blob, Built};
pub(crate) use index::build_index;
pub(crate) use publish::{publish, publish_index};

pub use snapshotter::Compression;

/// Which family of media types an image is described with (Dagger's
/// `ImageMediaTypes`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MediaTypes {
    #[default]
    Oci,
    Docker,
}

/// How to build an image from a container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageOptions {
    /// Compression of every layer, base layers included (recompressed when
    /// they differ). Default: new layers gzip, base layers as they are.
    pub forced_compression: Option<Compression>,
    pub media_types: MediaTypes,
}

pub(crate) mod media {
    use super::{Compression, MediaTypes};

    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub use registry::manifest::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};

    /// A multi-platform image's index.
    pub fn index(types: MediaTypes) -> &'static str {
        match types {
            MediaTypes::Oci => OCI_INDEX,
            MediaTypes::Docker => DOCKER_MANIFEST_LIST,
        }
    }

    pub fn manifest(types: MediaTypes) -> &'static str {
        match types {
            MediaTypes::Oci => OCI_MANIFEST,
            MediaTypes::Docker => DOCKER_MANIFEST,
        }
    }

    pub fn config(types: MediaTypes) -> &'static str {
        match types {
            MediaTypes::Oci => OCI_CONFIG,
            MediaTypes::Docker => DOCKER_CONFIG,
        }
    }

    /// The layer media type; `None` where the family has none (Docker's
    /// media types know no zstd).
    pub fn layer(types: MediaTypes, compression: Compression) -> Option<&'static str> {
        Some(match (types, compression) {
            (MediaTypes::Oci, Compression::None) => "application/vnd.oci.image.layer.v1.tar",
            (MediaTypes::Oci, Compression::Gzip) => "application/vnd.oci.image.layer.v1.tar+gzip",
            (MediaTypes::Oci, Compression::Zstd) => "application/vnd.oci.image.layer.v1.tar+zstd",
            (MediaTypes::Docker, Compression::None) => {
                "application/vnd.docker.image.rootfs.diff.tar"
            }
            (MediaTypes::Docker, Compression::Gzip) => {
                "application/vnd.docker.image.rootfs.diff.tar.gzip"
            }
            (MediaTypes::Docker, Compression::Zstd) => return None,
        })
    }
}
