//! One cache entry as it sits in a registry: an OCI image manifest of
//! artifact type `application/vnd.tanto.cache.entry.v1`, tagged
//! `PREFIX-<cache key>`, whose config says what the entry is (its kind, its
//! key, each item's path) and whose layers are the items: the step's layer
//! directories (`fs`, `mounts/<n>/fs`) as ordinary tar layers, so they are
//! deduplicated with images' layers, and its small files (`stdout`,
//! `stderr`, `result.json`…) as raw blobs.
//!
//! One tag per entry is what lets any number of runners export to one
//! repository at once: entries are named by content, so two writers either
//! write different tags or the same result under the same tag, and nobody
//! rewrites a shared index. A reader lists the tags (the merge happens on
//! read). The manifest is pushed last, so an entry is visible only whole.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use snapshotter::ResultKind as Kind;

pub(super) const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub(super) const ARTIFACT_TYPE: &str = "application/vnd.tanto.cache.entry.v1";
pub(super) const CONFIG_TYPE: &str = "application/vnd.tanto.cache.entry.v1+json";
pub(super) const FILE_TYPE: &str = "application/vnd.tanto.cache.file.v1";
const TITLE: &str = "org.opencontainers.image.title";

/// What the config blob says.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct EntryConfig {
    /// `exec` or `layer`, as the store's result kinds.
    pub kind: String,
    /// The cache key, hex.
    pub key: String,
    /// What the entry is, for `tanto du`.
    pub description: String,
    pub items: Vec<Item>,
}

/// One blob of the entry and where it goes in the result directory.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct Item {
    pub path: String,
    pub digest: String,
    pub size: u64,
    /// Set for layer directories: the uncompressed tar's digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<String>,
    /// Set for layer directories: `gzip` or `zstd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
}

pub(super) fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Exec => "exec",
        Kind::Layer => "layer",
    }
}

/// What of a result directory goes into its entry: its layer directories
/// and its top-level files, relative to it. Work directories and anything
/// else a result may hold stay behind.
pub(super) fn contents(dir: &Path) -> std::io::Result<(Vec<String>, Vec<String>)> {
    let mut layers = Vec::new();
    let mut files = Vec::new();
    if dir.join("fs").is_dir() {
        layers.push("fs".to_owned());
    }
    if let Ok(mounts) = std::fs::read_dir(dir.join("mounts")) {
        for mount in mounts {
            let name = mount?.file_name().to_string_lossy().into_owned();
            if name.parse::<usize>().is_ok() && dir.join("mounts").join(&name).join("fs").is_dir() {
                layers.push(format!("mounts/{name}/fs"));
            }
        }
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            files.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    layers.sort();
    files.sort();
    Ok((layers, files))
}

/// Where an item goes under `dir`, if its path is one an entry may have:
/// `fs`, `mounts/<n>/fs` for layers, a plain file name for files. A
/// registry's word is never trusted to name a place outside the result.
pub(super) fn item_destination(dir: &Path, item: &Item) -> Option<PathBuf> {
    let path = item.path.as_str();
    let layer_path = path == "fs"
        || path
            .strip_prefix("mounts/")
            .and_then(|rest| rest.strip_suffix("/fs"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    // `fs` and `mounts` are the layers' places, never files.
    let file_name = !path.is_empty()
        && path != "fs"
        && path != "mounts"
        && !path.starts_with('.')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    match item.diff_id {
        Some(_) if layer_path => Some(dir.join(path)),
        None if file_name => Some(dir.join(path)),
        _ => None,
    }
}

/// The entry's manifest: the config, then every item as a layer titled
/// with its path.
pub(super) fn manifest(config: (&str, u64), key: &str, items: &[Item]) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = items
        .iter()
        .map(|item| {
            let media_type = match item.compression.as_deref() {
                Some("gzip") => "application/vnd.oci.image.layer.v1.tar+gzip",
                Some("zstd") => "application/vnd.oci.image.layer.v1.tar+zstd",
                _ => FILE_TYPE,
            };
            serde_json::json!({
                "mediaType": media_type,
                "digest": item.digest,
                "size": item.size,
                "annotations": { TITLE: item.path },
            })
        })
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": { "mediaType": CONFIG_TYPE, "digest": config.0, "size": config.1 },
        "layers": layers,
        "annotations": { "dev.tanto.cache.key": key },
    });
    serde_json::to_vec(&manifest).expect("JSON values serialize")
}

/// The config descriptor of an entry's manifest, if it is one.
pub(super) fn config_of(manifest: &[u8]) -> Option<(String, u64)> {
    let manifest: serde_json::Value = serde_json::from_slice(manifest).ok()?;
    let config = manifest.get("config")?;
    if config.get("mediaType")?.as_str()? != CONFIG_TYPE {
        return None;
    }
    Some((
        config.get("digest")?.as_str()?.to_owned(),
        config.get("size")?.as_u64()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(path: &str, layer: bool) -> Item {
        Item {
            path: path.into(),
            digest: format!("sha256:{}", "a".repeat(64)),
            size: 1,
            diff_id: layer.then(|| format!("sha256:{}", "b".repeat(64))),
            compression: layer.then(|| "zstd".into()),
        }
    }

    #[test]
    fn items_land_only_where_a_result_keeps_them() {
        let dir = Path::new("/store/tmp/x");
        assert_eq!(
            item_destination(dir, &item("fs", true)),
            Some(dir.join("fs"))
        );
        assert!(item_destination(dir, &item("mounts/3/fs", true)).is_some());
        assert!(item_destination(dir, &item("stdout", false)).is_some());
        for bad in ["../x", "/etc/passwd", "mounts/../fs", "a/b", ".hidden", ""] {
            assert_eq!(item_destination(dir, &item(bad, false)), None, "{bad}");
            assert_eq!(item_destination(dir, &item(bad, true)), None, "{bad}");
        }
        // A file cannot pose as a layer, nor a layer as a file.
        assert_eq!(item_destination(dir, &item("fs", false)), None);
        assert_eq!(item_destination(dir, &item("stdout", true)), None);
    }

    #[test]
    fn the_manifest_names_its_config_and_items() {
        let items = [item("fs", true), item("stdout", false)];
        let bytes = manifest(("sha256:c", 7), "k", &items);
        assert_eq!(config_of(&bytes), Some(("sha256:c".into(), 7)));
        let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed["artifactType"], ARTIFACT_TYPE);
        assert_eq!(
            parsed["layers"][0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
        assert_eq!(parsed["layers"][1]["annotations"][TITLE], "stdout");
        assert_eq!(config_of(b"{\"config\":{\"mediaType\":\"x\"}}"), None);
    }
}
