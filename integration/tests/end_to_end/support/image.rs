//! Building OCI images from tar streams and pushing them with the plain
//! distribution API (monolithic uploads), as any client would.

use std::io::Write;

use sha2::{Digest as _, Sha256};

use super::registry::Registry;

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[derive(Clone, Copy, Debug)]
pub enum Codec {
    None,
    Gzip,
    Zstd,
}

#[derive(Clone)]
pub struct Layer {
    pub media_type: String,
    pub blob: Vec<u8>,
    pub digest: String,
    pub diff_id: String,
}

impl Layer {
    pub fn new(tar: &[u8], codec: Codec) -> Layer {
        let (media_type, blob) = match codec {
            Codec::None => ("application/vnd.oci.image.layer.v1.tar", tar.to_vec()),
            Codec::Gzip => {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(tar).unwrap();
                (
                    "application/vnd.oci.image.layer.v1.tar+gzip",
                    gz.finish().unwrap(),
                )
            }
            Codec::Zstd => (
                "application/vnd.oci.image.layer.v1.tar+zstd",
                zstd::encode_all(tar, 3).unwrap(),
            ),
        };
        Layer::from_blob(media_type, blob, sha256(tar))
    }

    pub fn from_blob(media_type: &str, blob: Vec<u8>, diff_id: String) -> Layer {
        Layer {
            media_type: media_type.to_owned(),
            digest: sha256(&blob),
            blob,
            diff_id,
        }
    }
}

/// A single-platform image.
pub struct Image {
    pub layers: Vec<Layer>,
    pub config: Vec<u8>,
    pub architecture: String,
}

impl Image {
    pub fn new(layers: Vec<Layer>) -> Image {
        Image::for_architecture(layers, "amd64")
    }

    pub fn for_architecture(layers: Vec<Layer>, architecture: &str) -> Image {
        let diff_ids: Vec<_> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let config = serde_json::json!({
            "architecture": architecture,
            "os": "linux",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        Image {
            layers,
            config: serde_json::to_vec(&config).unwrap(),
            architecture: architecture.to_owned(),
        }
    }

    /// The same image with a `history` entry per layer, as images built
    /// by Docker or buildah have it (buildah refuses to build on an image
    /// whose history lists fewer layers than it has).
    pub fn with_history(mut self) -> Image {
        let mut config: serde_json::Value = serde_json::from_slice(&self.config).unwrap();
        let history: Vec<_> = self
            .layers
            .iter()
            .map(|_| serde_json::json!({"created_by": "a tanto test fixture"}))
            .collect();
        config["history"] = serde_json::json!(history);
        self.config = serde_json::to_vec(&config).unwrap();
        self
    }

    pub fn manifest(&self) -> Vec<u8> {
        let layers: Vec<_> = self
            .layers
            .iter()
            .map(|l| serde_json::json!({"mediaType": l.media_type, "digest": l.digest, "size": l.blob.len()}))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&self.config), "size": self.config.len()},
            "layers": layers,
        }))
        .unwrap()
    }

    /// Pushes blobs, then the manifest under `tag`; returns the manifest digest.
    pub fn push(&self, registry: &Registry, repository: &str, tag: &str) -> String {
        for layer in &self.layers {
            push_blob(registry, repository, &layer.blob);
        }
        push_blob(registry, repository, &self.config);
        push_manifest(
            registry,
            repository,
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            &self.manifest(),
        )
    }
}

/// The OCI index over `images`, each entry for its architecture.
pub fn index_of(images: &[Image]) -> Vec<u8> {
    let entries: Vec<_> = images
        .iter()
        .map(|image| {
            let manifest = image.manifest();
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": sha256(&manifest),
                "size": manifest.len(),
                "platform": {"os": "linux", "architecture": image.architecture},
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    }))
    .unwrap()
}

/// Pushes several images and an index over them under `tag`.
pub fn push_index(registry: &Registry, repository: &str, tag: &str, images: &[Image]) -> String {
    for image in images {
        image.push(
            registry,
            repository,
            &format!("{tag}-{}", image.architecture),
        );
    }
    push_manifest(
        registry,
        repository,
        tag,
        "application/vnd.oci.image.index.v1+json",
        &index_of(images),
    )
}

fn with_auth(request: ureq::Request, registry: &Registry) -> ureq::Request {
    match &registry.basic_auth {
        Some((user, password)) => {
            use base64::Engine as _;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            request.set("Authorization", &format!("Basic {token}"))
        }
        None => request,
    }
}

pub fn push_blob(registry: &Registry, repository: &str, blob: &[u8]) {
    let digest = sha256(blob);
    let start = with_auth(
        ureq::post(&format!(
            "{}/v2/{repository}/blobs/uploads/",
            registry.url()
        )),
        registry,
    )
    .send_bytes(&[])
    .unwrap_or_else(|e| panic!("starting the upload of {digest}: {e}"));
    let location = start
        .header("Location")
        .expect("upload Location")
        .to_owned();
    let location = if location.starts_with('/') {
        format!("{}{location}", registry.url())
    } else {
        location
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    with_auth(
        ureq::put(&format!("{location}{separator}digest={digest}")),
        registry,
    )
    .set("Content-Type", "application/octet-stream")
    .send_bytes(blob)
    .unwrap_or_else(|e| panic!("uploading {digest}: {e}"));
}

pub fn push_manifest(
    registry: &Registry,
    repository: &str,
    tag: &str,
    media_type: &str,
    body: &[u8],
) -> String {
    with_auth(
        ureq::put(&format!(
            "{}/v2/{repository}/manifests/{tag}",
            registry.url()
        )),
        registry,
    )
    .set("Content-Type", media_type)
    .send_bytes(body)
    .unwrap_or_else(|e| panic!("pushing manifest {repository}:{tag}: {e}"));
    sha256(body)
}

/// The tar stream of a directory, as GNU tar writes it (numeric owners,
/// xattrs, hardlinks, device nodes).
pub fn tar_directory(dir: &std::path::Path) -> Vec<u8> {
    let out = std::process::Command::new("tar")
        .args([
            "--create",
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "--sort=name",
            "-C",
        ])
        .arg(dir)
        .arg(".")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar of {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A gzip layer of one file `name` holding `content`.
pub fn tiny_layer(name: &str, content: &str) -> Layer {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    Layer::new(&tar_directory(dir.path()), Codec::Gzip)
}
