//! Platforms (`os/arch[/variant]`) and choosing one from an image index.

use std::fmt;
use std::str::FromStr;

use crate::Error;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform tanto itself runs on, in OCI (GOARCH) spelling.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "riscv64" => ("riscv64", None),
            "s390x" => ("s390x", None),
            other => (other, None),
        };
        Platform {
            os: "linux".to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// Whether an index entry for `os/architecture/variant` can serve this
    /// platform. An entry without a variant matches, since many indexes omit
    /// it (arm64 is nearly always v8).
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        if self.os != os || self.architecture != architecture {
            return false;
        }
        match (self.variant.as_deref(), variant) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = s.split('/').collect();
        let valid =
            |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(valid) {
            return Err(Error::InvalidPlatform {
                platform: s.to_owned(),
            });
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: parts[1].to_ascii_lowercase(),
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux/amd64/v1/x".parse::<Platform>().is_err());
        assert!("linux//v1".parse::<Platform>().is_err());
    }

    #[test]
    fn missing_variants_match() {
        let arm: Platform = "linux/arm64/v8".parse().unwrap();
        assert!(arm.matches("linux", "arm64", None));
        assert!(arm.matches("linux", "arm64", Some("v8")));
        assert!(!arm.matches("linux", "arm", Some("v8")));
        let amd: Platform = "linux/amd64".parse().unwrap();
        assert!(amd.matches("linux", "amd64", Some("v2")));
        assert!(!amd.matches("windows", "amd64", None));
    }
}
