//! The extra certificate authorities every step trusts while it runs, as
//! Dagger does for an engine with custom CAs: on a network whose TLS goes
//! through an inspecting proxy, `pip install` or `curl https://…` in a
//! step must trust the proxy's CA as the host does.
//!
//! Where they come from: `TANTO_CA_CERTIFICATES`, else `path` under
//! `[ca-certificates]` of tanto's config file, else the host's local CAs
//! in [`HOST_DIR`] (what `update-ca-certificates` adds to the host's own
//! trust store). A value is a directory (its `*.crt` and `*.pem` files,
//! read recursively), a file of PEM certificates, or `none`. A value the
//! user wrote must be right; the host's directory is taken as it is (a file
//! there that holds no certificate is skipped with a warning).
//!
//! The executor puts them into each step's trust store and takes them out
//! of its result (`executor/src/exec/trust.rs`); they are in no cache key
//! (`ops/keys.rs` says why).

use std::path::{Path, PathBuf};

use executor::Certificate;

/// The variable that sets where the extra CA certificates come from.
pub const CA_CERTIFICATES_ENV: &str = "TANTO_CA_CERTIFICATES";

/// The host's local CAs, taken when nothing is set.
pub const HOST_DIR: &str = "/usr/local/share/ca-certificates";

/// The config file's section and its one key.
const SECTION: &str = "ca-certificates";
const KEY: &str = "path";
const IN_FILE: crate::config_file::OneKey = crate::config_file::OneKey {
    section: SECTION,
    key: KEY,
    example: "\"/path/to/certs\" (or \"none\")",
};

/// What a value may be, said with every refused one.
pub const ACCEPTED: &str = "it takes a directory of PEM certificates (its *.crt and *.pem \
     files, read recursively), a file of PEM certificates, or none (no extra CA certificates)";

/// Directories deeper than this below the top one are not read: a link
/// loop ends here.
const MAX_DEPTH: usize = 16;

/// The extra CA certificates, each once, and where they were read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaCertificates {
    pub certificates: Vec<Certificate>,
    /// The directory or file they came from; `None` when turned off.
    pub source: Option<PathBuf>,
}

/// Where a setting was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Env,
    File { path: PathBuf },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Env => write!(f, "${CA_CERTIFICATES_ENV}"),
            Origin::File { path } => write!(f, "`{KEY}` in [{SECTION}] of {}", path.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CaCertificatesError {
    #[error("{origin} is {value:?}, which does not exist; {ACCEPTED}")]
    Missing { origin: Origin, value: String },

    #[error("{origin} is {value:?}: cannot read {}; {ACCEPTED}", path.display())]
    Read {
        origin: Origin,
        value: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{origin} is {value:?}, and {} holds no PEM certificate (-----BEGIN CERTIFICATE-----); {ACCEPTED}", path.display())]
    NoCertificate {
        origin: Origin,
        value: String,
        path: PathBuf,
    },

    #[error("{origin} is {value:?}, a directory without any *.crt or *.pem file; {ACCEPTED}")]
    EmptyDirectory { origin: Origin, value: String },

    #[error("{origin} is {value:?}, and {} is not a valid PEM file", path.display())]
    BadCertificate {
        origin: Origin,
        value: String,
        path: PathBuf,
        #[source]
        source: Box<executor::Error>,
    },

    #[error(transparent)]
    Config(#[from] crate::config_file::ConfigFileError),
}

impl CaCertificates {
    /// The extra CA certificates as the user set them (see the module).
    pub fn load() -> Result<CaCertificates, CaCertificatesError> {
        CaCertificates::load_with(|name| std::env::var(name).ok(), Path::new(HOST_DIR))
    }

    /// [`CaCertificates::load`] with `env` in place of the process
    /// environment and `host_dir` in place of [`HOST_DIR`].
    pub fn load_with(
        env: impl Fn(&str) -> Option<String>,
        host_dir: &Path,
    ) -> Result<CaCertificates, CaCertificatesError> {
        let from_env = env(CA_CERTIFICATES_ENV).filter(|v| !v.trim().is_empty());
        let setting = match from_env {
            Some(value) => Some((value, Origin::Env, PathBuf::new())),
            None => match crate::config_file::path(&env) {
                Some(path) => setting_in_file(&path)?,
                None => None,
            },
        };
        let Some((value, origin, base)) = setting else {
            return Ok(from_host(host_dir));
        };
        if value.trim() == "none" {
            return Ok(CaCertificates::default());
        }
        let wanted = Wanted { origin, value };
        // A relative path in the config file starts from its directory.
        let path = base.join(&wanted.value);
        let certificates = wanted.read(&path)?;
        Ok(CaCertificates {
            certificates,
            source: Some(path),
        })
    }
}

/// `path` under `[ca-certificates]`, with the directory relative paths
/// start from; `None` when the file or the section is not there.
fn setting_in_file(path: &Path) -> Result<Option<(String, Origin, PathBuf)>, CaCertificatesError> {
    let Some(value) = IN_FILE.read(path)? else {
        return Ok(None);
    };
    let base = path.parent().map(Path::to_owned).unwrap_or_default();
    Ok(Some((
        value,
        Origin::File {
            path: path.to_owned(),
        },
        base,
    )))
}

/// The host's local CAs; what cannot be read is skipped, said once each.
fn from_host(dir: &Path) -> CaCertificates {
    if !dir.is_dir() {
        tracing::debug!(
            "no extra CA certificates for steps: {} is not a directory",
            dir.display()
        );
        return CaCertificates::default();
    }
    let mut certificates = Vec::new();
    for file in certificate_files(dir, 0) {
        let read = std::fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|text| Certificate::all_in(&text).map_err(|e| e.to_string()));
        match read {
            Ok(found) if found.is_empty() => tracing::warn!(
                "{} holds no PEM certificate: steps do not get it as an extra CA",
                file.display()
            ),
            Ok(found) => add_new(&mut certificates, found),
            Err(why) => tracing::warn!(
                "cannot read {} ({why}): steps do not get it as an extra CA",
                file.display()
            ),
        }
    }
    CaCertificates {
        certificates,
        source: Some(dir.to_owned()),
    }
}

/// A value the user set, for its errors.
struct Wanted {
    origin: Origin,
    value: String,
}

impl Wanted {
    fn read(&self, path: &Path) -> Result<Vec<Certificate>, CaCertificatesError> {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CaCertificatesError::Missing {
                    origin: self.origin.clone(),
                    value: self.value.clone(),
                })
            }
            Err(source) => return Err(self.read_error(path, source)),
        };
        let files = if meta.is_dir() {
            // An unreadable directory is said so, not taken as empty.
            std::fs::read_dir(path).map_err(|source| self.read_error(path, source))?;
            let files = certificate_files(path, 0);
            if files.is_empty() {
                return Err(CaCertificatesError::EmptyDirectory {
                    origin: self.origin.clone(),
                    value: self.value.clone(),
                });
            }
            files
        } else {
            vec![path.to_owned()]
        };
        let mut certificates = Vec::new();
        for file in files {
            let text = std::fs::read(&file).map_err(|source| self.read_error(&file, source))?;
            let found = Certificate::all_in(&text).map_err(|source| {
                CaCertificatesError::BadCertificate {
                    origin: self.origin.clone(),
                    value: self.value.clone(),
                    path: file.clone(),
                    source: Box::new(source),
                }
            })?;
            if found.is_empty() {
                return Err(CaCertificatesError::NoCertificate {
                    origin: self.origin.clone(),
                    value: self.value.clone(),
                    path: file,
                });
            }
            add_new(&mut certificates, found);
        }
        Ok(certificates)
    }

    fn read_error(&self, path: &Path, source: std::io::Error) -> CaCertificatesError {
        CaCertificatesError::Read {
            origin: self.origin.clone(),
            value: self.value.clone(),
            path: path.to_owned(),
            source,
        }
    }
}

/// The `*.crt` and `*.pem` files under `dir`, links followed, in path
/// order so every run sends the same list.
fn certificate_files(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            if depth < MAX_DEPTH {
                files.extend(certificate_files(&path, depth + 1));
            }
        } else if path.is_file() && path.extension().is_some_and(|e| e == "crt" || e == "pem") {
            files.push(path);
        }
    }
    files
}

/// Adds the certificates not already there.
fn add_new(certificates: &mut Vec<Certificate>, found: Vec<Certificate>) {
    for certificate in found {
        if !certificates.contains(&certificate) {
            certificates.push(certificate);
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::config_file::fake_env as env;

    /// A self-signed test CA (`openssl req -x509`), its key thrown away.
    const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBkTCCATegAwIBAgIUCx3KJhjTvIjdFtydeGxm+NuSdSUwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSdGFudG8gdW5pdCB0ZXN0IENBMCAXDTI2MTIwMjA1MjYwMloY
DzIxMjYxMTA4MDUyNjAyWjAdMRswGQYDVQQDDBJ0YW50byB1bml0IHRlc3QgQ0Ew
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQSBPDFxXdwvMQYmc5Iu/72s98djXnO
d9plXHiwPCJad/twrT43zYnfBgNlD+gOho5WAdqUdb0gCPhr3r3cw4lwo1MwUTAd
BgNVHQ4EFgQUzeVmNMcrtfUcZfHFJntBT5DWiuowHwYDVR0jBBgwFoAUzeVmNMcr
tfUcZfHFJntBT5DWiuowDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF
AiB0QnmDPmYFsVGnB8AovvFnOE8pREY/BDzMBFotk0y5MwIhALqDXL2xodw87VG1
nMFNUWgBQRZye/UPD9/H3OEAd9e3
-----END CERTIFICATE-----
";

    fn one_ca() -> Certificate {
        Certificate::all_in(CA.as_bytes()).unwrap().remove(0)
    }

    #[test]
    fn by_default_the_host_dir_is_read_recursively_and_bad_files_skipped() {
        let temp = tempfile::tempdir().unwrap();
        let host = temp.path().join("host");
        std::fs::create_dir_all(host.join("corp/sub")).unwrap();
        std::fs::write(host.join("corp/sub/proxy.crt"), CA).unwrap();
        // The same CA twice counts once; other names and junk are skipped.
        std::fs::write(host.join("again.pem"), CA).unwrap();
        std::fs::write(host.join("README"), "not a certificate").unwrap();
        std::fs::write(host.join("junk.crt"), "not a certificate").unwrap();
        let loaded = CaCertificates::load_with(env(&[]), &host).unwrap();
        assert_eq!(loaded.certificates, [one_ca()]);
        assert_eq!(loaded.source, Some(host.clone()));
        let missing = CaCertificates::load_with(env(&[]), &temp.path().join("nope")).unwrap();
        assert_eq!(missing, CaCertificates::default());
    }

    #[test]
    fn the_variable_wins_and_none_turns_it_off() {
        let temp = tempfile::tempdir().unwrap();
        let host = temp.path().join("host");
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("host.crt"), CA).unwrap();
        let file = temp.path().join("bundle.pem");
        std::fs::write(&file, format!("# corp\n{CA}")).unwrap();
        let file_text = file.to_str().unwrap();
        let set =
            CaCertificates::load_with(env(&[(CA_CERTIFICATES_ENV, file_text)]), &host).unwrap();
        assert_eq!(set.certificates, [one_ca()]);
        assert_eq!(set.source.as_deref(), Some(file.as_path()));
        let off = CaCertificates::load_with(env(&[(CA_CERTIFICATES_ENV, "none")]), &host).unwrap();
        assert_eq!(off, CaCertificates::default());
    }

    #[test]
    fn the_config_file_sets_it_relative_to_itself_and_the_variable_overrides() {
        let temp = tempfile::tempdir().unwrap();
        let config = temp.path().join("tanto");
        std::fs::create_dir_all(config.join("certs")).unwrap();
        std::fs::write(config.join("certs/corp.crt"), CA).unwrap();
        std::fs::write(
            config.join("config.toml"),
            "[gc]\nenabled = true\n[ca-certificates]\npath = \"certs\"\n",
        )
        .unwrap();
        let xdg = temp.path().to_str().unwrap();
        let none_host = temp.path().join("no-host");
        let loaded =
            CaCertificates::load_with(env(&[("XDG_CONFIG_HOME", xdg)]), &none_host).unwrap();
        assert_eq!(loaded.certificates, [one_ca()]);
        let off = CaCertificates::load_with(
            env(&[("XDG_CONFIG_HOME", xdg), (CA_CERTIFICATES_ENV, "none")]),
            &none_host,
        )
        .unwrap();
        assert!(off.certificates.is_empty());
        std::fs::write(
            config.join("config.toml"),
            "[ca-certificates]\npaht = \"certs\"\n",
        )
        .unwrap();
        let err =
            CaCertificates::load_with(env(&[("XDG_CONFIG_HOME", xdg)]), &none_host).unwrap_err();
        assert!(err.to_string().contains("path = "), "{err}");
    }

    #[test]
    fn a_bad_value_says_what_it_was_and_what_is_accepted() {
        let temp = tempfile::tempdir().unwrap();
        let empty_dir = temp.path().join("empty");
        std::fs::create_dir(&empty_dir).unwrap();
        let no_cert = temp.path().join("key.pem");
        std::fs::write(&no_cert, "-----BEGIN PRIVATE KEY-----\n").unwrap();
        let broken = temp.path().join("broken.crt");
        std::fs::write(
            &broken,
            format!("{CA}-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n"),
        )
        .unwrap();
        let host = temp.path().join("host");
        for (value, says) in [
            ("/does/not/exist".to_owned(), "does not exist"),
            (empty_dir.display().to_string(), "without any *.crt"),
            (no_cert.display().to_string(), "holds no PEM certificate"),
            (broken.display().to_string(), "certificate number 2"),
        ] {
            let err = CaCertificates::load_with(env(&[(CA_CERTIFICATES_ENV, &value)]), &host)
                .unwrap_err();
            let text = crate::report(&err);
            assert!(
                text.contains(&format!("$TANTO_CA_CERTIFICATES is {value:?}")),
                "{text}"
            );
            assert!(text.contains(says), "{text}");
            if says != "certificate number 2" {
                assert!(text.contains(ACCEPTED), "{text}");
            }
        }
    }
}
