//! Registry credentials and the `WWW-Authenticate` challenges that ask for them.
//!
//! Credentials come from the same files docker and podman write on `login`,
//! in the order podman reads them (containers-auth.json(5)):
//! `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json` (where
//! `podman login` writes), `$XDG_CONFIG_HOME/containers/auth.json`, then
//! docker's `$DOCKER_CONFIG/config.json` and `~/.docker/config.json`. The
//! first file that has an entry for the registry wins.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::Error;

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Basic {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Basic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password, not even in debug logs.
        write!(f, "Basic({:?}, ***)", self.username)
    }
}

impl Basic {
    pub(crate) fn header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// Credentials per registry host, loaded from auth files: given there, or
/// asked of a credential helper when first needed (and kept for the run).
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    by_host: HashMap<String, Entry>,
    /// `credsStore`: the helper asked for every registry no entry names.
    store: Option<String>,
}

#[derive(Clone, Debug)]
enum Entry {
    Basic(Basic),
    /// A helper's name (`credHelpers`, or `credsStore` for a listed host).
    Helper(String),
    /// Asked of a helper, which had none.
    Absent,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: HashMap<String, String>,
}

#[derive(Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl Credentials {
    pub fn none() -> Credentials {
        Credentials::default()
    }

    /// Loads the auth files named by the environment, earliest taking precedence.
    pub fn from_environment() -> Result<Credentials, Error> {
        let files = auth_files(|name| std::env::var_os(name));
        let mut credentials = Credentials::default();
        // Later files fill only what the earlier ones left out.
        for file in files.iter().rev() {
            if file.exists() {
                let loaded = Credentials::from_file(file)?;
                credentials.by_host.extend(loaded.by_host);
                if loaded.store.is_some() {
                    credentials.store = loaded.store;
                }
            }
        }
        Ok(credentials)
    }

    /// One file, as docker reads it: `credHelpers` first, then `credsStore`
    /// (which then holds the `auths` it lists), then `auths`.
    pub fn from_file(path: &Path) -> Result<Credentials, Error> {
        let text = std::fs::read(path).map_err(|source| Error::AuthFile {
            path: path.display().to_string(),
            source,
        })?;
        let file: AuthFile =
            serde_json::from_slice(&text).map_err(|source| Error::AuthFileJson {
                path: path.display().to_string(),
                source,
            })?;
        let store = file.creds_store.filter(|s| !s.is_empty());
        let mut by_host = HashMap::new();
        for (key, entry) in file.auths {
            if let Some(store) = &store {
                by_host.insert(normalize_host(&key), Entry::Helper(store.clone()));
                continue;
            }
            let basic = match (entry.auth, entry.username, entry.password) {
                (Some(auth), _, _) => decode_auth(&auth),
                (None, Some(username), Some(password)) => Some(Basic { username, password }),
                _ => None,
            };
            match basic {
                Some(basic) => {
                    by_host.insert(normalize_host(&key), Entry::Basic(basic));
                }
                None => tracing::warn!(
                    "ignoring the entry for {key} in {}: it has no usable \"auth\" or \
                     username/password, and no credsStore or credHelpers entry names a helper",
                    path.display()
                ),
            }
        }
        for (key, helper) in file.cred_helpers {
            by_host.insert(normalize_host(&key), Entry::Helper(helper));
        }
        Ok(Credentials { by_host, store })
    }

    pub fn insert(&mut self, registry: &str, basic: Basic) {
        self.by_host
            .insert(normalize_host(registry), Entry::Basic(basic));
    }

    /// No credentials for `registry` from now on, whatever the files say.
    pub fn remove(&mut self, registry: &str) {
        self.by_host.insert(normalize_host(registry), Entry::Absent);
    }

    /// The credentials for a registry as written in a reference (`docker.io`,
    /// `host:port`), asking its credential helper the first time.
    pub fn for_registry(&mut self, registry: &str) -> Result<Option<Basic>, Error> {
        let host = normalize_host(registry);
        let helper = match self.by_host.get(&host) {
            Some(Entry::Basic(basic)) => return Ok(Some(basic.clone())),
            Some(Entry::Absent) => return Ok(None),
            Some(Entry::Helper(helper)) => helper.clone(),
            None => match &self.store {
                Some(store) => store.clone(),
                None => return Ok(None),
            },
        };
        let found = crate::credential_helper::get(&helper, &host)?;
        let entry = match &found {
            Some(basic) => Entry::Basic(basic.clone()),
            None => Entry::Absent,
        };
        self.by_host.insert(host, entry);
        Ok(found)
    }
}

/// The auth files to read, earliest first, as `var` gives the environment.
fn auth_files(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Vec<PathBuf> {
    let home = var("HOME").map(PathBuf::from);
    let mut files = Vec::new();
    if let Some(path) = var("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(path));
    }
    if let Some(dir) = var("XDG_RUNTIME_DIR") {
        files.push(Path::new(&dir).join("containers/auth.json"));
    }
    let config_home = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|home| home.join(".config")));
    if let Some(dir) = config_home {
        files.push(dir.join("containers/auth.json"));
    }
    if let Some(dir) = var("DOCKER_CONFIG") {
        files.push(Path::new(&dir).join("config.json"));
    }
    if let Some(home) = &home {
        files.push(home.join(".docker/config.json"));
    }
    files
}

fn decode_auth(auth: &str) -> Option<Basic> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (username, password) = raw.split_once(':')?;
    Some(Basic {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

/// Auth files key entries as `host`, `https://host` or, for Docker Hub, the
/// legacy `https://index.docker.io/v1/`.
fn normalize_host(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".into()
        }
        _ => host,
    }
}

/// One parsed `WWW-Authenticate` header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    pub(crate) fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => {
                let params = parse_params(params);
                Some(Challenge::Bearer {
                    realm: params.get("realm")?.clone(),
                    service: params.get("service").cloned(),
                    scope: params.get("scope").cloned(),
                })
            }
            _ => None,
        }
    }
}

/// `key="value", key2="a,b"` — commas inside quotes belong to the value.
fn parse_params(input: &str) -> HashMap<String, String> {
    let mut params = HashMap::new();
    let mut rest = input.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        params.insert(key, value.to_owned());
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges_with_commas_in_scope() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="reg.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("reg.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn auth_files_are_read_in_podmans_order_then_dockers() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        let all = auth_files(env(&[
            ("HOME", "/home/u"),
            ("REGISTRY_AUTH_FILE", "/auth.json"),
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
            ("XDG_CONFIG_HOME", "/cfg"),
            ("DOCKER_CONFIG", "/docker"),
        ]));
        assert_eq!(
            all,
            [
                "/auth.json",
                "/run/user/1000/containers/auth.json",
                "/cfg/containers/auth.json",
                "/docker/config.json",
                "/home/u/.docker/config.json",
            ]
            .map(PathBuf::from)
        );
        // Without XDG_CONFIG_HOME, podman's config file is under ~/.config.
        assert_eq!(
            auth_files(env(&[("HOME", "/home/u")])),
            [
                "/home/u/.config/containers/auth.json",
                "/home/u/.docker/config.json"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn reads_docker_and_podman_auth_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths": {
                "https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNzOndpdGg6Y29sb25z"},
                "127.0.0.1:5000": {"username": "u", "password": "p"},
                "helper.example": {}
            }}"#,
        )
        .unwrap();
        let mut creds = Credentials::from_file(&path).unwrap();
        let hub = creds.for_registry("docker.io").unwrap().unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("user", "pass:with:colons")
        );
        let local = creds.for_registry("127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(local.username, "u");
        assert!(creds.for_registry("helper.example").unwrap().is_none());
        assert!(!format!("{hub:?}").contains("pass"));
    }

    #[test]
    fn helpers_named_in_the_file_are_asked_and_missing_ones_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths": {"reg.lan": {"auth": "dTpw"}},
                "credHelpers": {"ecr.example": "tanto-absent-ecr"}}"#,
        )
        .unwrap();
        let mut creds = Credentials::from_file(&path).unwrap();
        assert_eq!(
            creds.for_registry("reg.lan").unwrap().unwrap().password,
            "p"
        );
        let err = creds.for_registry("ecr.example").unwrap_err().to_string();
        assert!(err.contains("docker-credential-tanto-absent-ecr"), "{err}");
        assert!(creds.for_registry("other.lan").unwrap().is_none());

        std::fs::write(
            &path,
            r#"{"auths": {"reg.lan": {}}, "credsStore": "tanto-absent-store"}"#,
        )
        .unwrap();
        let mut creds = Credentials::from_file(&path).unwrap();
        for registry in ["reg.lan", "other.lan"] {
            let err = creds.for_registry(registry).unwrap_err().to_string();
            assert!(
                err.contains("docker-credential-tanto-absent-store"),
                "{err}"
            );
        }
        creds.remove("other.lan");
        assert!(creds.for_registry("other.lan").unwrap().is_none());
    }

    #[test]
    fn malformed_auth_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        std::fs::write(&path, "{not json").unwrap();
        let err = Credentials::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("auth.json"), "{err}");
    }
}
