//! One registries.conf file parsed: the v2 format (`[[registry]]` tables) or
//! the v1 one (`[registries.search]`, `.insecure`, `.block`), never both.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Mirror, PullFromMirror, RegistryEntry};
use crate::Error;

/// What one file says.
pub(super) struct Parsed {
    pub(super) registries: Vec<RegistryEntry>,
    pub(super) search: Option<Vec<String>>,
    pub(super) path: PathBuf,
}

// Keys tanto does not act on (`short-name-mode`, `[aliases]`,
// `credential-helpers`…) are accepted and left alone, as another tool's
// settings in a shared file must not break tanto.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FileV2 {
    unqualified_search_registries: Option<Vec<String>>,
    #[serde(default)]
    registry: Vec<RegistryV2>,
    registries: Option<RegistriesV1>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RegistryV2 {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    mirror: Vec<MirrorV2>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct MirrorV2 {
    location: String,
    #[serde(default)]
    insecure: bool,
    pull_from_mirror: Option<String>,
}

#[derive(Deserialize)]
struct RegistriesV1 {
    search: Option<ListV1>,
    insecure: Option<ListV1>,
    block: Option<ListV1>,
}

#[derive(Deserialize)]
struct ListV1 {
    #[serde(default)]
    registries: Vec<String>,
}

pub(super) fn parse(path: &Path, text: &str) -> Result<Parsed, Error> {
    let bad = |detail: String| Error::RegistriesConf {
        path: path.display().to_string(),
        detail,
    };
    let file: FileV2 = toml::from_str(text).map_err(|e| bad(e.message().to_owned()))?;
    if let Some(v1) = file.registries {
        if !file.registry.is_empty() || file.unqualified_search_registries.is_some() {
            return Err(bad(
                "it mixes the v1 format ([registries.search] and co.) with the v2 one \
                 ([[registry]], unqualified-search-registries); use only v2"
                    .into(),
            ));
        }
        return Ok(from_v1(path, v1));
    }
    let mut registries: Vec<RegistryEntry> = Vec::new();
    for table in file.registry {
        let entry = entry(path, table).map_err(bad)?;
        if registries.iter().any(|e| e.prefix == entry.prefix) {
            return Err(bad(format!(
                "two [[registry]] tables have the prefix {:?}; merge them",
                entry.prefix
            )));
        }
        registries.push(entry);
    }
    Ok(Parsed {
        registries,
        search: file.unqualified_search_registries,
        path: path.to_owned(),
    })
}

fn entry(path: &Path, table: RegistryV2) -> Result<RegistryEntry, String> {
    if table.prefix.is_empty() && table.location.is_empty() {
        return Err(
            "a [[registry]] table has neither prefix nor location; give at least one".into(),
        );
    }
    let location = checked_location(&table.location, "location")?;
    let prefix = if table.prefix.is_empty() {
        location.clone()
    } else if let Some(domain) = table.prefix.strip_prefix("*.") {
        if !location.is_empty() {
            return Err(format!(
                "the wildcard prefix {:?} cannot have a location; wildcard entries only set \
                 insecure, blocked and mirrors",
                table.prefix
            ));
        }
        if domain.is_empty() || domain.contains('/') {
            return Err(format!(
                "the wildcard prefix {:?} must be *.domain, with no path",
                table.prefix
            ));
        }
        table.prefix.to_ascii_lowercase()
    } else {
        checked_location(&table.prefix, "prefix")?
    };
    let mut mirrors = Vec::new();
    for mirror in table.mirror {
        let pull_from_mirror = match mirror.pull_from_mirror.as_deref() {
            None | Some("" | "all") => PullFromMirror::All,
            Some("digest-only") => PullFromMirror::DigestOnly,
            Some("tag-only") => PullFromMirror::TagOnly,
            Some(other) => {
                return Err(format!(
                    "the mirror {:?} has pull-from-mirror = {other:?}; use \"all\", \
                     \"digest-only\" or \"tag-only\"",
                    mirror.location
                ))
            }
        };
        let location = checked_location(&mirror.location, "mirror location")?;
        if location.is_empty() {
            return Err(format!("a mirror of {prefix:?} has no location"));
        }
        mirrors.push(Mirror {
            location,
            insecure: mirror.insecure,
            pull_from_mirror,
        });
    }
    Ok(RegistryEntry {
        location: if location.is_empty() && !prefix.starts_with("*.") {
            prefix.clone()
        } else {
            location
        },
        prefix,
        insecure: table.insecure,
        blocked: table.blocked,
        mirror_by_digest_only: table.mirror_by_digest_only,
        mirrors,
        file: path.to_owned(),
    })
}

/// A location or prefix as registries.conf wants it: `host[:port][/path]`,
/// no scheme, no trailing slash; Docker Hub's other names made `docker.io`.
fn checked_location(value: &str, what: &str) -> Result<String, String> {
    if value.contains("://") {
        return Err(format!(
            "the {what} {value:?} has a scheme; write host[:port][/namespace] \
             (and insecure = true for plain HTTP)"
        ));
    }
    if value.chars().any(char::is_whitespace) {
        return Err(format!("the {what} {value:?} contains white space"));
    }
    let value = value.trim_end_matches('/');
    let (host, rest) = value.split_once('/').unwrap_or((value, ""));
    let host = match host.to_ascii_lowercase().as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        host => host.to_owned(),
    };
    Ok(if rest.is_empty() {
        host
    } else {
        format!("{host}/{rest}")
    })
}

fn from_v1(path: &Path, v1: RegistriesV1) -> Parsed {
    let list = |l: Option<ListV1>| l.map(|l| l.registries).unwrap_or_default();
    let mut registries: Vec<RegistryEntry> = Vec::new();
    let entry_for = |registries: &mut Vec<RegistryEntry>, host: &str| -> usize {
        let host = checked_location(host, "registry").unwrap_or_else(|_| host.to_owned());
        match registries.iter().position(|e| e.prefix == host) {
            Some(i) => i,
            None => {
                registries.push(RegistryEntry {
                    prefix: host.clone(),
                    location: host,
                    insecure: false,
                    blocked: false,
                    mirror_by_digest_only: false,
                    mirrors: Vec::new(),
                    file: path.to_owned(),
                });
                registries.len() - 1
            }
        }
    };
    for host in list(v1.insecure) {
        let i = entry_for(&mut registries, &host);
        registries[i].insecure = true;
    }
    for host in list(v1.block) {
        let i = entry_for(&mut registries, &host);
        registries[i].blocked = true;
    }
    Parsed {
        registries,
        search: v1.search.map(|s| s.registries),
        path: path.to_owned(),
    }
}
