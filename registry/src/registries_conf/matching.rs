//! Which `[[registry]]` a reference falls under (the longest matching
//! prefix, as containers/image decides it) and where a pull of it is tried.

use super::{blocked, PullFromMirror, RegistriesConf, RegistryEntry};
use crate::{Error, Reference};

/// One place to pull a reference from, in the order they are tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullSource {
    /// The reference as that place names it.
    pub reference: Reference,
    /// A mirror, whose failure only means trying the next source.
    pub mirror: bool,
}

impl RegistriesConf {
    /// Where to pull `reference` from: its registry's mirrors that serve
    /// this kind of pull (by tag or by digest), then its (rewritten)
    /// location. A blocked registry refuses, naming the file.
    pub fn pull_sources(&self, reference: &Reference) -> Result<Vec<PullSource>, Error> {
        let Some((entry, matched)) = self.matching(reference) else {
            return Ok(vec![PullSource {
                reference: reference.clone(),
                mirror: false,
            }]);
        };
        if entry.blocked {
            return Err(blocked(reference, entry));
        }
        let name = reference.to_string();
        let rest = &name[matched..];
        let by_digest = reference.digest().is_some();
        let mut sources = Vec::new();
        for mirror in &entry.mirrors {
            let serves = match mirror.pull_from_mirror {
                PullFromMirror::All => by_digest || !entry.mirror_by_digest_only,
                PullFromMirror::DigestOnly => by_digest,
                PullFromMirror::TagOnly => !by_digest,
            };
            if serves {
                sources.push(PullSource {
                    reference: rewrite(entry, &mirror.location, rest)?,
                    mirror: true,
                });
            }
        }
        let location = if entry.prefix.starts_with("*.") {
            // A wildcard entry pulls from the host it matched.
            name[..matched].to_owned()
        } else {
            entry.location.clone()
        };
        sources.push(PullSource {
            reference: rewrite(entry, &location, rest)?,
            mirror: false,
        });
        Ok(sources)
    }

    /// The entry whose prefix matches `reference`, if any.
    pub(crate) fn entry_for(&self, reference: &Reference) -> Option<&RegistryEntry> {
        self.matching(reference).map(|(entry, _)| entry)
    }

    /// The entry with the longest prefix matching `reference`, and how much
    /// of the reference's name it matched.
    fn matching(&self, reference: &Reference) -> Option<(&RegistryEntry, usize)> {
        let name = reference.to_string();
        self.registries
            .iter()
            .filter_map(|entry| {
                let matched = match entry.prefix.strip_prefix('*') {
                    Some(domain) => matches_subdomain(&name, domain),
                    None => matches_prefix(&name, &entry.prefix),
                };
                matched.map(|len| (entry, len))
            })
            .max_by_key(|(_, len)| *len)
    }
}

/// `name` starts with `prefix` at a component boundary (`/`, `:` or `@`
/// follows, or nothing).
fn matches_prefix(name: &str, prefix: &str) -> Option<usize> {
    let rest = name.strip_prefix(prefix)?;
    match rest.chars().next() {
        None | Some('/' | ':' | '@') => Some(prefix.len()),
        Some(_) => None,
    }
}

/// `name`'s host ends with `.domain` (given with its dot): the length of the
/// host matched.
fn matches_subdomain(name: &str, domain: &str) -> Option<usize> {
    let index = name.find(domain)?;
    if name[..index].contains(['/', ':', '@']) || index == 0 {
        return None;
    }
    let end = index + domain.len();
    match name[end..].chars().next() {
        None | Some('/' | ':' | '@') => Some(end),
        Some(_) => None,
    }
}

fn rewrite(entry: &RegistryEntry, location: &str, rest: &str) -> Result<Reference, Error> {
    let rewritten = format!("{location}{rest}");
    rewritten.parse().map_err(|e: Error| Error::RegistriesConf {
        path: entry.file.display().to_string(),
        detail: format!(
            "the [[registry]] with prefix {:?} rewrites to {rewritten:?}, which is no image \
             reference: {e}",
            entry.prefix
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::file;
    use super::*;

    fn conf(text: &str) -> RegistriesConf {
        let mut conf = RegistriesConf::default();
        conf.merge(file::parse(&PathBuf::from("/etc/containers/registries.conf"), text).unwrap());
        conf
    }

    fn sources(conf: &RegistriesConf, name: &str) -> Vec<String> {
        conf.pull_sources(&name.parse().unwrap())
            .unwrap()
            .iter()
            .map(|s| format!("{}{}", if s.mirror { "mirror " } else { "" }, s.reference))
            .collect()
    }

    #[test]
    fn prefixes_rewrite_to_their_location_longest_first() {
        let conf = conf(
            r#"
            [[registry]]
            prefix = "docker.io/library/alpine"
            location = "127.0.0.1:5000/stand-ins/alpine"

            [[registry]]
            prefix = "docker.io"
            location = "hub.lan"
            "#,
        );
        assert_eq!(
            sources(&conf, "alpine:3.20.2"),
            ["127.0.0.1:5000/stand-ins/alpine:3.20.2"]
        );
        assert_eq!(sources(&conf, "debian"), ["hub.lan/library/debian:latest"]);
        // A prefix matches whole components only.
        assert_eq!(
            sources(&conf, "alpinefoo"),
            ["hub.lan/library/alpinefoo:latest"]
        );
        assert_eq!(sources(&conf, "quay.io/x/y:1"), ["quay.io/x/y:1"]);
    }

    #[test]
    fn mirrors_come_first_and_serve_what_they_are_set_to() {
        let conf = conf(
            r#"
            [[registry]]
            location = "docker.io"
            [[registry.mirror]]
            location = "mirror-a.lan/hub"
            [[registry.mirror]]
            location = "mirror-b.lan"
            pull-from-mirror = "digest-only"
            "#,
        );
        assert_eq!(
            sources(&conf, "busybox:1"),
            [
                "mirror mirror-a.lan/hub/library/busybox:1",
                "docker.io/library/busybox:1"
            ]
        );
        let digest = format!("busybox@sha256:{}", "a".repeat(64));
        assert_eq!(sources(&conf, &digest).len(), 3);
    }

    #[test]
    fn mirror_by_digest_only_keeps_tags_at_the_origin() {
        let conf = conf(
            r#"
            [[registry]]
            location = "docker.io"
            mirror-by-digest-only = true
            [[registry.mirror]]
            location = "mirror.lan"
            "#,
        );
        assert_eq!(sources(&conf, "busybox:1"), ["docker.io/library/busybox:1"]);
    }

    #[test]
    fn blocked_registries_refuse_naming_the_file() {
        let conf = conf(
            r#"
            [[registry]]
            prefix = "*.evil.example"
            blocked = true
            "#,
        );
        let err = conf
            .pull_sources(&"a.evil.example/x:1".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("blocked"), "{err}");
        assert!(err.contains("/etc/containers/registries.conf"), "{err}");
        assert!(conf
            .check_blocked(&"b.evil.example:5000/y".parse().unwrap())
            .is_err());
        assert!(conf
            .pull_sources(&"evil.example/x".parse().unwrap())
            .is_ok());
    }

    #[test]
    fn short_names_are_looked_up_in_the_search_registries() {
        let conf = conf(r#"unqualified-search-registries = ["quay.io", "docker.io"]"#);
        let candidates: Vec<String> = conf
            .candidates("alpine:3")
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            candidates,
            ["quay.io/alpine:3", "docker.io/library/alpine:3"]
        );
        assert_eq!(conf.candidates("reg.lan/a").unwrap().len(), 1);
        let default = RegistriesConf::none().candidates("alpine").unwrap();
        assert_eq!(default[0].to_string(), "docker.io/library/alpine:latest");
    }

    #[test]
    fn insecure_registries_and_mirrors_may_use_http() {
        let conf = conf(
            r#"
            [[registry]]
            location = "reg.lan:5000"
            insecure = true
            [[registry]]
            location = "docker.io"
            [[registry.mirror]]
            location = "cache.lan/hub"
            insecure = true
            "#,
        );
        assert!(conf.insecure("reg.lan:5000"));
        assert!(conf.insecure("cache.lan"));
        assert!(!conf.insecure("docker.io"));
    }

    #[test]
    fn the_v1_format_is_read() {
        let conf = conf(
            r#"
            [registries.search]
            registries = ["reg.lan"]
            [registries.insecure]
            registries = ["reg.lan"]
            [registries.block]
            registries = ["bad.lan"]
            "#,
        );
        assert_eq!(conf.search_registries(), ["reg.lan"]);
        assert!(conf.insecure("reg.lan"));
        assert!(conf.pull_sources(&"bad.lan/x".parse().unwrap()).is_err());
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let path = PathBuf::from("/home/u/.config/containers/registries.conf");
        let err = |text: &str| match file::parse(&path, text) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{text} was accepted"),
        };
        let scheme = err("[[registry]]\nlocation = \"https://reg.lan\"");
        assert!(
            scheme.contains("scheme") && scheme.contains("registries.conf"),
            "{scheme}"
        );
        assert!(err("[[registry]]\ninsecure = true").contains("neither prefix nor location"));
        assert!(err("[[registry]]\nlocation = \"a\"\n[[registry.mirror]]\nlocation = \"b\"\npull-from-mirror = \"x\"").contains("pull-from-mirror"));
        assert!(
            err("[[registry]]\nlocation = \"a\"\n[registries.search]\nregistries = []")
                .contains("v1")
        );
        assert!(err("[[registry]\n").contains("registries.conf"));
    }

    #[test]
    fn drop_ins_replace_entries_of_the_same_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("registries.conf");
        let drop_in = dir.path().join("50-mirror.conf");
        std::fs::write(
            &main,
            "unqualified-search-registries = [\"docker.io\"]\n[[registry]]\nlocation = \"docker.io\"\nblocked = true\n",
        )
        .unwrap();
        std::fs::write(
            &drop_in,
            "[[registry]]\nlocation = \"docker.io\"\n[[registry.mirror]]\nlocation = \"m.lan\"\n",
        )
        .unwrap();
        let conf = RegistriesConf::from_files(&[main, drop_in]).unwrap();
        assert_eq!(
            sources(&conf, "alpine"),
            [
                "mirror m.lan/library/alpine:latest",
                "docker.io/library/alpine:latest"
            ]
        );
        assert_eq!(conf.describe(), ["docker.io → m.lan, then docker.io"]);
    }
}
