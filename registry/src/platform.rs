//! Platforms (`os/arch[/variant]`) and choosing one from an image index.
//!
//! Written the many ways people and tools write them (`aarch64`,
//! `x86_64`, `armhf`, `arm64/v8`) and normalized as containerd's
//! `platforms.Normalize` does, so `linux/aarch64` asked for and
//! `linux/arm64` in an index are one platform, and one cache key.

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
            "aarch64" => ("arm64", None),
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

    /// `os/architecture[/variant]` as containerd normalizes it: the os
    /// lowercased, architecture aliases (`aarch64`, `x86_64`, `armhf`,
    /// `i686`…) to their OCI (GOARCH) names, and the variant every image of
    /// that architecture has (arm64's v8, amd64's v1) dropped.
    pub fn normalized(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        let os = os.to_ascii_lowercase();
        let architecture = architecture.to_ascii_lowercase();
        let variant = variant.map(str::to_ascii_lowercase);
        let (architecture, variant) = match (architecture.as_str(), variant.as_deref()) {
            ("i386" | "i486" | "i586" | "i686", _) => ("386".to_owned(), None),
            ("x86_64" | "x86-64" | "amd64", Some("v1") | None) => ("amd64".to_owned(), None),
            ("x86_64" | "x86-64" | "amd64", Some(v)) => ("amd64".to_owned(), Some(v.to_owned())),
            ("aarch64" | "arm64", Some("8" | "v8" | "v8.0") | None) => ("arm64".to_owned(), None),
            ("aarch64" | "arm64", Some(v)) => ("arm64".to_owned(), Some(v.to_owned())),
            ("armhf", _) => ("arm".to_owned(), Some("v7".to_owned())),
            ("armel", _) => ("arm".to_owned(), Some("v6".to_owned())),
            ("arm", None | Some("7")) => ("arm".to_owned(), Some("v7".to_owned())),
            ("arm", Some(v @ ("5" | "6" | "8"))) => ("arm".to_owned(), Some(format!("v{v}"))),
            (other, v) => (other.to_owned(), v.map(str::to_owned)),
        };
        Platform {
            os,
            architecture,
            variant,
        }
    }

    /// Whether an index entry for `os/architecture/variant` can serve this
    /// platform, both normalized first. An entry without a variant matches
    /// any asked for, since many indexes omit it.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        let want = Platform::normalized(&self.os, &self.architecture, self.variant.as_deref());
        let have = Platform::normalized(os, architecture, variant);
        if want.os != have.os || want.architecture != have.architecture {
            return false;
        }
        match (want.variant.as_deref(), have.variant.as_deref()) {
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
        // `x86-64` and `v8.0` are spellings normalization knows.
        let valid = |p: &&str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(valid) {
            return Err(Error::InvalidPlatform {
                platform: s.to_owned(),
            });
        }
        Ok(Platform::normalized(
            parts[0],
            parts[1],
            parts.get(2).copied(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let p: Platform = "linux/ppc64le".parse().unwrap();
        assert_eq!(p.to_string(), "linux/ppc64le");
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux/amd64/v1/x".parse::<Platform>().is_err());
        assert!("linux//v1".parse::<Platform>().is_err());
    }

    #[test]
    fn normalizes_as_containerd() {
        let normal = |s: &str| s.parse::<Platform>().unwrap().to_string();
        assert_eq!(normal("linux/aarch64"), "linux/arm64");
        assert_eq!(normal("linux/arm64/v8"), "linux/arm64");
        assert_eq!(normal("Linux/X86_64"), "linux/amd64");
        assert_eq!(normal("linux/amd64/v1"), "linux/amd64");
        assert_eq!(normal("linux/amd64/v3"), "linux/amd64/v3");
        assert_eq!(normal("linux/armhf"), "linux/arm/v7");
        assert_eq!(normal("linux/armel"), "linux/arm/v6");
        assert_eq!(normal("linux/arm"), "linux/arm/v7");
        assert_eq!(normal("linux/arm/6"), "linux/arm/v6");
        assert_eq!(normal("linux/i686"), "linux/386");
        assert_eq!(normal("linux/riscv64"), "linux/riscv64");
        assert!(!Platform::host().to_string().ends_with("/v8"));
    }

    #[test]
    fn missing_variants_match() {
        let arm: Platform = "linux/arm64/v8".parse().unwrap();
        assert!(arm.matches("linux", "arm64", None));
        assert!(arm.matches("linux", "arm64", Some("v8")));
        assert!(!arm.matches("linux", "arm", Some("v8")));
        assert!(arm.matches("linux", "aarch64", None));
        let armhf: Platform = "linux/armhf".parse().unwrap();
        assert!(armhf.matches("linux", "arm", Some("v7")));
        assert!(!armhf.matches("linux", "arm", Some("v6")));
        let amd: Platform = "linux/amd64".parse().unwrap();
        assert!(amd.matches("linux", "amd64", Some("v2")));
        assert!(!amd.matches("windows", "amd64", None));
    }
}
