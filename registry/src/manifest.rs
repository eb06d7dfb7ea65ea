//! Telling manifests from indexes (OCI and Docker v2 spellings) and choosing
//! the platform's manifest from an index.

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};

use crate::{Error, Platform};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1";

/// The `Accept` header for manifest requests: without Docker's types some
/// registries answer with schema 1 or 404.
pub(crate) const ACCEPTED_MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// What a manifest endpoint can answer with.
#[derive(Debug)]
pub enum Manifest {
    Image(Box<ImageManifest>),
    Index(Box<ImageIndex>),
}

impl Manifest {
    /// Parses `bytes`, trusting the document's own `mediaType` over the
    /// `Content-Type` header, and the document's shape over both when neither
    /// says (OCI makes `mediaType` optional).
    pub fn parse(reference: &str, content_type: &str, bytes: &[u8]) -> Result<Manifest, Error> {
        let malformed = |detail: String| Error::MalformedManifest {
            reference: reference.to_owned(),
            detail,
        };
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| malformed(format!("not JSON: {e}")))?;
        let object = value
            .as_object()
            .ok_or_else(|| malformed("not a JSON object".into()))?;
        if object.get("schemaVersion").and_then(|v| v.as_u64()) == Some(1) {
            return Err(unsupported(reference, DOCKER_SCHEMA1));
        }
        let media_type = object
            .get("mediaType")
            .and_then(|v| v.as_str())
            .filter(|t| !t.is_empty())
            .unwrap_or(content_type);
        let is_index = match media_type {
            OCI_INDEX | DOCKER_MANIFEST_LIST => true,
            OCI_MANIFEST | DOCKER_MANIFEST => false,
            t if t.starts_with(DOCKER_SCHEMA1) => return Err(unsupported(reference, t)),
            "" | "application/json" | "application/octet-stream" => {
                object.contains_key("manifests")
            }
            other => return Err(unsupported(reference, other)),
        };
        if is_index {
            serde_json::from_value(value)
                .map(|i| Manifest::Index(Box::new(i)))
                .map_err(|e| malformed(format!("invalid image index: {e}")))
        } else {
            serde_json::from_value(value)
                .map(|m| Manifest::Image(Box::new(m)))
                .map_err(|e| malformed(format!("invalid image manifest: {e}")))
        }
    }
}

fn unsupported(reference: &str, media_type: &str) -> Error {
    Error::UnsupportedManifest {
        reference: reference.to_owned(),
        media_type: media_type.to_owned(),
    }
}

/// Parses an image config blob. Fields the OCI spec makes optional but
/// oci-spec's types require (`history`) are filled in empty first, so images
/// built without them still pull.
pub fn parse_config(reference: &str, bytes: &[u8]) -> Result<ImageConfiguration, Error> {
    let malformed = |e: serde_json::Error| Error::MalformedManifest {
        reference: reference.to_owned(),
        detail: format!("invalid image config: {e}"),
    };
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(malformed)?;
    if let Some(object) = value.as_object_mut() {
        object
            .entry("history")
            .or_insert_with(|| serde_json::json!([]));
    }
    serde_json::from_value(value).map_err(malformed)
}

/// The index entry for `platform`. Entries without a platform, and attestation
/// manifests (`unknown/unknown`), are never chosen.
pub fn select_platform<'i>(
    reference: &str,
    index: &'i ImageIndex,
    platform: &Platform,
) -> Result<&'i Descriptor, Error> {
    let mut available = Vec::new();
    for entry in index.manifests() {
        let Some(p) = entry.platform() else { continue };
        let (os, arch) = (p.os().to_string(), p.architecture().to_string());
        if os == "unknown" {
            continue;
        }
        if platform.matches(&os, &arch, p.variant().as_deref()) {
            return Ok(entry);
        }
        available.push(match p.variant() {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        });
    }
    Err(Error::NoMatchingPlatform {
        reference: reference.to_owned(),
        wanted: platform.to_string(),
        available: if available.is_empty() {
            "no platforms".into()
        } else {
            available.join(", ")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn index() -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[
              {{"mediaType":"{DOCKER_MANIFEST}","digest":"{DIGEST}","size":1,"platform":{{"os":"linux","architecture":"arm","variant":"v7"}}}},
              {{"mediaType":"{OCI_MANIFEST}","digest":"{DIGEST}","size":2,"platform":{{"os":"unknown","architecture":"unknown"}}}},
              {{"mediaType":"{DOCKER_MANIFEST}","digest":"{DIGEST}","size":3,"platform":{{"os":"linux","architecture":"amd64"}}}}
            ]}}"#
        )
    }

    #[test]
    fn picks_the_platform_and_lists_the_others() {
        let Manifest::Index(index) = Manifest::parse("r", "", index().as_bytes()).unwrap() else {
            panic!("not an index")
        };
        let amd64 = select_platform("r", &index, &"linux/amd64".parse().unwrap()).unwrap();
        assert_eq!(amd64.size(), 3);
        let err = select_platform("r", &index, &"linux/s390x".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("linux/arm/v7, linux/amd64"), "{err}");
        assert!(!err.contains("unknown"), "{err}");
    }

    #[test]
    fn tells_manifests_by_media_type_or_shape() {
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{DIGEST}","size":5}},"layers":[]}}"#
        );
        assert!(matches!(
            Manifest::parse("r", OCI_MANIFEST, manifest.as_bytes()),
            Ok(Manifest::Image(_))
        ));
        assert!(matches!(
            Manifest::parse("r", "application/json", manifest.as_bytes()),
            Ok(Manifest::Image(_))
        ));
    }

    #[test]
    fn configs_without_history_parse() {
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        assert!(parse_config("r", config).is_ok());
        let err = parse_config("r", b"{}").unwrap_err().to_string();
        assert!(err.contains("invalid image config"), "{err}");
    }

    #[test]
    fn rejects_schema1_unknown_types_and_garbage() {
        let schema1 = r#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#;
        let err = Manifest::parse("r", "", schema1.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("manifest.v1"), "{err}");
        let odd = r#"{"schemaVersion":2,"mediaType":"application/vnd.example+json"}"#;
        let err = Manifest::parse("r", "", odd.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("application/vnd.example+json"), "{err}");
        let err = Manifest::parse("r", "", b"<html>").unwrap_err().to_string();
        assert!(err.contains("not JSON"), "{err}");
        let truncated =
            format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[]}}"#);
        let err = Manifest::parse("r", "", truncated.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid image manifest"), "{err}");
    }
}
