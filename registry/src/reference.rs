//! Image references as users write them, normalised the way Docker does:
//! `alpine` is `docker.io/library/alpine:latest`.

use std::fmt;
use std::str::FromStr;

use crate::Error;

const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";

/// A fully qualified image reference: registry, repository, and a tag, a digest
/// or both (the digest wins when both are given, as in Docker).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host (and port) to talk to: Docker Hub's API lives on another name.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API_HOST
        } else {
            &self.registry
        }
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// What to ask the registry's manifest endpoint for: the digest if pinned.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .expect("a parsed reference has a tag or a digest")
    }

    /// The same repository pinned to `digest`.
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference {
            digest: Some(digest.to_owned()),
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidReference {
            reference: input.to_owned(),
            reason: reason.to_owned(),
        };
        if input.is_empty() {
            return Err(invalid("it is empty"));
        }
        if input.len() > 1024 {
            return Err(invalid("it is longer than 1024 characters"));
        }

        let (rest, digest) = match input.rsplit_once('@') {
            Some((rest, digest)) => {
                validate_digest(digest).map_err(|reason| invalid(&reason))?;
                (rest, Some(digest.to_owned()))
            }
            None => (input, None),
        };
        // A ':' after the last '/' starts the tag; one before it is a port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(i) => {
                let (name, tag) = rest.split_at(last_slash + i);
                (name, Some(tag[1..].to_owned()))
            }
            None => (rest, None),
        };
        if let Some(tag) = &tag {
            validate_tag(tag).map_err(|reason| invalid(&reason))?;
        }

        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), path.to_owned())
            }
            Some(_) => (DOCKER_HUB.to_owned(), name.to_owned()),
            None => (DOCKER_HUB.to_owned(), format!("library/{name}")),
        };
        // Host names are case-insensitive; one spelling keeps caches and
        // credentials lookups in agreement.
        let registry = match registry.to_ascii_lowercase() {
            host if host == "index.docker.io" => DOCKER_HUB.to_owned(),
            host => host,
        };
        // `docker.io/alpine` is the official image, as `alpine` is.
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        validate_repository(&repository).map_err(|reason| invalid(&reason))?;

        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_owned())
        } else {
            tag
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

fn validate_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("the repository name is empty".into());
    }
    if repository.len() > 255 {
        return Err("the repository name is longer than 255 characters".into());
    }
    for component in repository.split('/') {
        if component.is_empty() {
            return Err("the repository name has an empty path component".into());
        }
        if component.chars().any(|c| c.is_ascii_uppercase()) {
            return Err("repository names must be lowercase".into());
        }
        let valid_chars = component
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        let alnum_ends = component.starts_with(|c: char| c.is_ascii_alphanumeric())
            && component.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !valid_chars || !alnum_ends {
            return Err(format!(
                "repository path component {component:?} may only hold a-z, 0-9 and . _ - between letters or digits"
            ));
        }
    }
    Ok(())
}

fn validate_tag(tag: &str) -> Result<(), String> {
    let valid = !tag.is_empty()
        && tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "tag {tag:?} must be 1-128 characters of A-Z a-z 0-9 _ . - not starting with . or -"
        ))
    }
}

/// Only sha256 is accepted: OCI registries require it, and it is what we verify.
pub(crate) fn validate_digest(digest: &str) -> Result<(), String> {
    match digest.split_once(':') {
        Some(("sha256", hex))
            if hex.len() == 64
                && hex
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) =>
        {
            Ok(())
        }
        Some(("sha256", _)) => Err(format!(
            "digest {digest:?} must be sha256: followed by 64 lowercase hex digits"
        )),
        Some((algorithm, _)) => Err(format!(
            "digest algorithm {algorithm:?} is not supported; use sha256"
        )),
        None => Err(format!(
            "digest {digest:?} must look like sha256:<64 hex digits>"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Reference {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn short_names_are_docker_hub_library_images() {
        assert_eq!(
            parse("alpine").to_string(),
            "docker.io/library/alpine:latest"
        );
        assert_eq!(
            parse("alpine:3.20").to_string(),
            "docker.io/library/alpine:3.20"
        );
        assert_eq!(parse("user/app").to_string(), "docker.io/user/app:latest");
        assert_eq!(parse("index.docker.io/library/x").registry(), "docker.io");
        assert_eq!(
            parse("docker.io/alpine").to_string(),
            "docker.io/library/alpine:latest"
        );
        assert_eq!(parse("alpine").api_host(), "registry-1.docker.io");
    }

    #[test]
    fn registry_hosts_and_ports() {
        let r = parse("127.0.0.1:5000/fixtures/debian:bookworm");
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "fixtures/debian");
        assert_eq!(r.tag(), Some("bookworm"));
        assert_eq!(r.api_host(), "127.0.0.1:5000");
        assert_eq!(parse("localhost/app").registry(), "localhost");
        assert_eq!(parse("ghcr.io/o/r/deep:1").repository(), "o/r/deep");
        assert_eq!(parse("localhost:5000/app").tag(), Some("latest"));
    }

    #[test]
    fn digests_pin_and_suppress_the_default_tag() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("busybox@{d}"));
        assert_eq!(r.digest(), Some(d.as_str()));
        assert_eq!(r.tag(), None);
        assert_eq!(r.manifest_reference(), d);
        let r = parse(&format!("h:1/busybox:1.36@{d}"));
        assert_eq!(r.tag(), Some("1.36"));
        assert_eq!(r.manifest_reference(), d);
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        for (input, needle) in [
            ("", "empty"),
            ("Alpine", "lowercase"),
            ("alpine:-x", "tag"),
            ("alpine@sha256:abc", "64"),
            ("alpine@md5:abc", "not supported"),
            ("host:5000/a//b", "empty path component"),
            ("a/-b", "may only hold"),
        ] {
            let err = input.parse::<Reference>().unwrap_err().to_string();
            assert!(err.contains(needle), "{input:?}: {err}");
            assert!(
                err.contains(&format!("{input:?}")) || input.is_empty(),
                "{err}"
            );
        }
    }
}
