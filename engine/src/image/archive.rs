//! OCI image tarballs: written by `export` and `asTarball`, read by `import`
//! and `tanto pull oci-archive:…`/`oci:…`.
//!
//! A written tarball is an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) that also carries Docker's `manifest.json`, so `docker
//! load`, `podman load` and `skopeo` all take it. Reading accepts OCI
//! layouts (as a tarball or a directory) and `docker save` archives; every
//! blob is verified against its digest on the way into the content store,
//! then the layers are unpacked from there as a pull would.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::ImageManifest;
use registry::manifest::{self, Manifest};
use registry::Platform;
use serde_json::{json, Value};
use snapshotter::Store;

use super::build::{Blob, Built};
use super::media;
use crate::error::Error;
use crate::pull::LayerReport;
use crate::pull::{Puller, Source};

/// `index.json`, `manifest.json` and manifests are read whole, up to this.
const MAX_DOCUMENT_BYTES: u64 = 4 << 20;

/// Writes `built` as an image tarball, untagged (as Dagger's are): loading
/// it must not take over the name of the image it was built on.
pub(crate) fn write_archive(
    store: &Store,
    images: &[Built],
    index: Option<&Blob>,
    out: impl Write,
) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    let mut add = |path: &str, data: &mut dyn Read, size: u64| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_size(size);
        tar.append_data(&mut header, path, data)
    };
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    add("oci-layout", &mut &layout[..], layout.len() as u64)?;
    // One image, or a multi-platform one's index (nested, as BuildKit
    // writes it: podman, skopeo and tanto's import pick a platform from it).
    let top = index.unwrap_or(&images[0].manifest);
    let index_json = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": [top.descriptor()],
    }))?;
    add("index.json", &mut &index_json[..], index_json.len() as u64)?;
    let blob_name = |digest: &str| format!("blobs/{}", digest.replacen(':', "/", 1));
    // Docker's `manifest.json` can only say one image: there is none for a
    // multi-platform one.
    if let (None, [built]) = (index, images) {
        let docker = serde_json::to_vec(&json!([{
            "Config": blob_name(&built.config.digest),
            "RepoTags": null,
            "Layers": built.layers.iter().map(|l| blob_name(&l.digest)).collect::<Vec<_>>(),
        }]))?;
        add("manifest.json", &mut &docker[..], docker.len() as u64)?;
    }
    let mut written = BTreeSet::new();
    let blobs = index.into_iter().chain(images.iter().flat_map(|built| {
        [&built.manifest, &built.config]
            .into_iter()
            .chain(&built.layers)
    }));
    for blob in blobs {
        if !written.insert(blob.digest.clone()) {
            continue;
        }
        let path = store.blob_path(&blob.digest).map_err(io::Error::other)?;
        let mut file = std::fs::File::open(&path)?;
        add(&blob_name(&blob.digest), &mut file, blob.size)?;
    }
    tar.into_inner()?.flush()
}

/// Where an image to import is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArchiveSource {
    /// A tarball: an OCI layout or a `docker save` archive.
    Tar(PathBuf),
    /// An OCI layout directory.
    Layout(PathBuf),
}

impl ArchiveSource {
    /// `oci-archive:PATH[:TAG]` or `oci:DIR[:TAG]`, as podman and skopeo
    /// write them; `None` for anything else (a registry reference). The
    /// tag is split off only when the whole is not an existing path.
    pub fn parse(source: &str) -> Option<(ArchiveSource, Option<String>)> {
        let (rest, layout) = match source.split_once(':') {
            Some(("oci-archive", rest)) => (rest, false),
            Some(("oci", rest)) => (rest, true),
            _ => return None,
        };
        let (path, tag) = match rest.rsplit_once(':') {
            Some((path, tag)) if !Path::new(rest).exists() && !tag.contains('/') => {
                (path, Some(tag.to_owned()))
            }
            _ => (rest, None),
        };
        let path = PathBuf::from(path);
        Some((
            if layout {
                ArchiveSource::Layout(path)
            } else {
                ArchiveSource::Tar(path)
            },
            tag,
        ))
    }

    /// With a relative path taken from `dir`.
    pub fn relative_to(self, dir: &Path) -> ArchiveSource {
        match self {
            ArchiveSource::Tar(path) => ArchiveSource::Tar(dir.join(path)),
            ArchiveSource::Layout(path) => ArchiveSource::Layout(dir.join(path)),
        }
    }

    /// How errors name it.
    pub fn name(&self) -> String {
        match self {
            ArchiveSource::Tar(path) => format!("oci-archive:{}", path.display()),
            ArchiveSource::Layout(path) => format!("oci:{}", path.display()),
        }
    }
}

/// An imported image: its manifest digest, config and unpacked layers.
pub struct Imported {
    pub manifest_digest: String,
    pub config_bytes: Vec<u8>,
    pub layers: Vec<LayerReport>,
}

/// The documents of an archive and where its files went in the store.
#[derive(Default)]
struct Contents {
    index: Option<Vec<u8>>,
    docker_manifest: Option<Vec<u8>>,
    /// Path in the archive → digest and size in the store.
    files: HashMap<String, (String, u64)>,
}

/// Imports the image `tag` names (or the archive's only image) into the
/// store.
pub fn import_archive(
    store: &Store,
    source: &ArchiveSource,
    tag: Option<&str>,
    platform: &Platform,
) -> Result<Imported, Error> {
    let name = source.name();
    let malformed = |detail: String| Error::Malformed {
        image: name.clone(),
        detail,
    };
    let contents = match source {
        ArchiveSource::Tar(path) => read_tar(store, path, &name)?,
        ArchiveSource::Layout(dir) => Contents {
            index: Some(read_document(&dir.join("index.json"), &name)?),
            ..Contents::default()
        },
    };
    let layout_dir = match source {
        ArchiveSource::Layout(dir) => Some(dir.as_path()),
        ArchiveSource::Tar(_) => None,
    };
    let (ArchiveSource::Tar(path) | ArchiveSource::Layout(path)) = source;
    if !path.exists() {
        return Err(Error::Archive {
            archive: name,
            source: io::Error::new(io::ErrorKind::NotFound, "no such file or directory"),
        });
    }
    let fetch = |digest: &str, size: u64| -> Result<Vec<u8>, Error> {
        if let Some(dir) = layout_dir {
            copy_layout_blob(store, dir, digest, size, &name)?;
        }
        if size > MAX_DOCUMENT_BYTES {
            return Err(malformed(format!(
                "{digest} is too large for a manifest or config"
            )));
        }
        store
            .read_blob(digest)
            .map_err(|_| malformed(format!("blob {digest} is missing from it")))
    };
    let (manifest_digest, manifest) = match (&contents.index, &contents.docker_manifest) {
        (Some(index), _) => oci_manifest(index, tag, platform, &name, &fetch)?,
        (None, Some(docker)) => docker_manifest(store, docker, &contents.files, tag, &name)?,
        (None, None) => {
            return Err(malformed(
                "it has neither index.json (an OCI layout) nor manifest.json (docker save)".into(),
            ))
        }
    };
    let config_bytes = fetch(
        manifest.config().digest().as_ref(),
        manifest.config().size(),
    )?;
    let config =
        manifest::parse_config(&name, &config_bytes).map_err(|source| Error::Registry {
            image: name.clone(),
            source: Box::new(source),
        })?;
    let diff_ids = config.rootfs().diff_ids().clone();
    if diff_ids.len() != manifest.layers().len() {
        return Err(Error::LayerCount {
            image: name,
            layers: manifest.layers().len(),
            diff_ids: diff_ids.len(),
        });
    }
    if let Some(dir) = layout_dir {
        for layer in manifest.layers() {
            copy_layout_blob(store, dir, layer.digest().as_ref(), layer.size(), &name)?;
        }
    }
    let puller = Puller::new(store, registry::Client::new(Default::default()));
    let layers = puller.ingest_layers(
        &Source::Archive(&name),
        &manifest,
        &diff_ids,
        &Default::default(),
    )?;
    Ok(Imported {
        manifest_digest,
        config_bytes,
        layers,
    })
}

fn read_document(path: &Path, name: &str) -> Result<Vec<u8>, Error> {
    let file = std::fs::File::open(path).map_err(|source| Error::Archive {
        archive: name.to_owned(),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_DOCUMENT_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Archive {
            archive: name.to_owned(),
            source,
        })?;
    Ok(bytes)
}

fn copy_layout_blob(
    store: &Store,
    dir: &Path,
    digest: &str,
    size: u64,
    name: &str,
) -> Result<(), Error> {
    let path = dir.join("blobs").join(digest.replacen(':', "/", 1));
    let file = std::fs::File::open(&path).map_err(|source| Error::Archive {
        archive: name.to_owned(),
        source,
    })?;
    store
        .write_blob_from(digest, size, io::BufReader::new(file))
        .map_err(|source| Error::Save {
            image: name.to_owned(),
            what: format!("blob {digest}"),
            source: Box::new(source),
        })
}

/// One pass over the tarball: documents kept, every file stored as a blob
/// (`blobs/sha256/…` verified against its name).
fn read_tar(store: &Store, path: &Path, name: &str) -> Result<Contents, Error> {
    let archive_error = |source| Error::Archive {
        archive: name.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(archive_error)?;
    let mut archive = tar::Archive::new(io::BufReader::with_capacity(1 << 20, file));
    let mut contents = Contents::default();
    for entry in archive.entries().map_err(archive_error)? {
        let mut entry = entry.map_err(archive_error)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry.path().map_err(archive_error)?.display().to_string();
        let path = path.trim_start_matches("./").to_owned();
        let size = entry.size();
        let save_error = |source| Error::Save {
            image: name.to_owned(),
            what: path.clone(),
            source: Box::new(source),
        };
        match path.as_str() {
            "index.json" | "manifest.json" => {
                let mut bytes = Vec::new();
                (&mut entry)
                    .take(MAX_DOCUMENT_BYTES)
                    .read_to_end(&mut bytes)
                    .map_err(archive_error)?;
                if path == "index.json" {
                    contents.index = Some(bytes);
                } else {
                    contents.docker_manifest = Some(bytes);
                }
            }
            "oci-layout" => {}
            _ => {
                let digest = path
                    .strip_prefix("blobs/")
                    .map(|rest| rest.replacen('/', ":", 1))
                    .filter(|d| d.starts_with("sha256:"));
                let stored = match digest {
                    Some(digest) => store
                        .write_blob_from(&digest, size, &mut entry)
                        .map(|()| (digest, size)),
                    None => store.write_blob_unnamed(&mut entry),
                };
                contents
                    .files
                    .insert(path.clone(), stored.map_err(save_error)?);
            }
        }
    }
    Ok(contents)
}

/// Reads a small blob (manifest, config) by digest and size.
type FetchBlob<'a> = dyn Fn(&str, u64) -> Result<Vec<u8>, Error> + 'a;

/// The image manifest `index.json` names: by tag, else its only entry; an
/// entry that is itself an index gives `platform`'s image.
fn oci_manifest(
    index: &[u8],
    tag: Option<&str>,
    platform: &Platform,
    name: &str,
    fetch: &FetchBlob,
) -> Result<(String, ImageManifest), Error> {
    let malformed = |detail: String| Error::Malformed {
        image: name.to_owned(),
        detail,
    };
    let index: Value = serde_json::from_slice(index)
        .map_err(|e| malformed(format!("its index.json is not JSON ({e})")))?;
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    let ref_name = |entry: &Value| {
        entry["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .map(str::to_owned)
    };
    let chosen = match tag {
        Some(tag) => entries.iter().find(|e| {
            ref_name(e).as_deref() == Some(tag)
                || e["annotations"]["io.containerd.image.name"]
                    .as_str()
                    .is_some_and(|n| n == tag || n.ends_with(&format!(":{tag}")))
        }),
        None if entries.len() == 1 => entries.first(),
        None => None,
    };
    let Some(entry) = chosen else {
        let names: Vec<String> = entries.iter().filter_map(ref_name).collect();
        return Err(malformed(match tag {
            Some(tag) => format!(
                "it has no image tagged {tag:?} (it has: {})",
                names.join(", ")
            ),
            None => format!(
                "it holds {} images; say which with a tag (it has: {})",
                entries.len(),
                names.join(", ")
            ),
        }));
    };
    let mut digest = entry["digest"].as_str().unwrap_or_default().to_owned();
    let mut size = entry["size"].as_u64().unwrap_or_default();
    for _ in 0..2 {
        let bytes = fetch(&digest, size)?;
        let parsed = Manifest::parse(name, entry["mediaType"].as_str().unwrap_or(""), &bytes)
            .map_err(|source| Error::Registry {
                image: name.to_owned(),
                source: Box::new(source),
            })?;
        match parsed {
            Manifest::Image(manifest) => return Ok((digest, *manifest)),
            Manifest::Index(index) => {
                let child =
                    manifest::select_platform(name, &index, platform).map_err(|source| {
                        Error::Registry {
                            image: name.to_owned(),
                            source: Box::new(source),
                        }
                    })?;
                digest = child.digest().to_string();
                size = child.size();
            }
        }
    }
    Err(malformed("its index nests indexes too deep".into()))
}

/// A `docker save` archive's image, given an OCI manifest of its own (kept
/// in the store) so it is keyed and unpacked like any other.
fn docker_manifest(
    store: &Store,
    docker: &[u8],
    files: &HashMap<String, (String, u64)>,
    tag: Option<&str>,
    name: &str,
) -> Result<(String, ImageManifest), Error> {
    let malformed = |detail: String| Error::Malformed {
        image: name.to_owned(),
        detail,
    };
    let images: Vec<Value> = serde_json::from_slice(docker)
        .map_err(|e| malformed(format!("its manifest.json is not a JSON list ({e})")))?;
    let chosen = match tag {
        Some(tag) => images.iter().find(|image| {
            image["RepoTags"].as_array().is_some_and(|tags| {
                tags.iter()
                    .filter_map(Value::as_str)
                    .any(|t| t == tag || t.ends_with(&format!(":{tag}")))
            })
        }),
        None if images.len() == 1 => images.first(),
        None => None,
    }
    .ok_or_else(|| {
        malformed("manifest.json has no single image to import; name one with a tag".into())
    })?;
    let file = |path: &str| {
        files
            .get(path.trim_start_matches("./"))
            .cloned()
            .ok_or_else(|| malformed(format!("{path} is named in manifest.json but missing")))
    };
    let (config_digest, config_size) = file(chosen["Config"].as_str().unwrap_or(""))?;
    let mut layers = Vec::new();
    for layer in chosen["Layers"].as_array().cloned().unwrap_or_default() {
        let (digest, size) = file(layer.as_str().unwrap_or(""))?;
        let media_type = sniff_layer(store, &digest)?;
        layers.push(json!({"mediaType": media_type, "digest": digest, "size": size}));
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": layers,
    });
    let bytes = serde_json::to_vec(&manifest).expect("a JSON value serializes");
    let (digest, _) = store
        .write_blob_unnamed(&bytes[..])
        .map_err(|source| Error::Save {
            image: name.to_owned(),
            what: "its manifest".into(),
            source: Box::new(source),
        })?;
    let manifest: ImageManifest = serde_json::from_value(manifest)
        .map_err(|e| malformed(format!("its manifest.json does not make an image ({e})")))?;
    Ok((digest, manifest))
}

/// A `docker save` layer's media type, from its first bytes.
fn sniff_layer(store: &Store, digest: &str) -> Result<&'static str, Error> {
    let mut magic = [0u8; 4];
    let path = store.blob_path(digest).map_err(|source| Error::Store {
        source: Box::new(source),
    })?;
    let read = std::fs::File::open(&path)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(|source| Error::Memo { path, source })?;
    Ok(match &magic[..read] {
        [0x1f, 0x8b, ..] => "application/vnd.oci.image.layer.v1.tar+gzip",
        [0x28, 0xb5, 0x2f, 0xfd] => "application/vnd.oci.image.layer.v1.tar+zstd",
        _ => "application/vnd.oci.image.layer.v1.tar",
    })
}
