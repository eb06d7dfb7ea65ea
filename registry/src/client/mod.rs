//! One HTTP client for every registry a run talks to: it fetches manifests
//! and blobs, remembers each registry's scheme, retries what is worth
//! retrying, and turns HTTP failures into errors that say what to do. Which
//! credentials or token a request carries is `token.rs`'s; pushing is
//! `crate::push`'s.

mod sources;
mod token;

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::auth::Credentials;
use crate::blob::BlobReader;
use crate::manifest::ACCEPTED_MANIFEST_TYPES;
use crate::retry;
use crate::{Error, Reference, RegistriesConf};

/// Manifests and indexes above this size are refused (containerd uses the same
/// bound): a registry must not be able to make us buffer without limit.
const MAX_MANIFEST_BYTES: usize = 4 << 20;
const MAX_ERROR_BODY_BYTES: u64 = 64 << 10;

#[derive(Clone, Debug, Default)]
pub struct ClientConfig {
    pub credentials: Credentials,
    /// Registries (`host` or `host:port`) that may be reached over plain HTTP.
    /// Loopback registries always may, and those registries.conf marks
    /// `insecure`.
    pub insecure_registries: Vec<String>,
    /// Where pulls really go (mirrors, rewrites) and what is blocked.
    pub registries: RegistriesConf,
}

/// A registry client. Cheap to clone; clones share tokens and connections.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    agent: ureq::Agent,
    config: ClientConfig,
    /// The config's credentials, changed by `set_credentials`.
    credentials: Mutex<Credentials>,
    /// `Authorization` header values per (registry, repository).
    authorizations: Mutex<HashMap<(String, String), String>>,
    /// `https` or `http`, decided once per registry.
    schemes: Mutex<HashMap<String, &'static str>>,
    /// Mirrors that could not be reached: not tried again this run.
    unreachable_mirrors: Mutex<std::collections::HashSet<String>>,
}

/// A manifest or index as the registry sent it, with its verified digest.
#[derive(Clone, Debug)]
pub struct FetchedManifest {
    pub digest: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl Client {
    pub fn new(config: ClientConfig) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(30))
            // Per socket read: a stalled transfer errors and gets resumed.
            .timeout_read(Duration::from_secs(60))
            .timeout_write(Duration::from_secs(60))
            .user_agent(concat!("tanto/", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            inner: Arc::new(Inner {
                agent,
                credentials: Mutex::new(config.credentials.clone()),
                config,
                authorizations: Mutex::default(),
                schemes: Mutex::default(),
                unreachable_mirrors: Mutex::default(),
            }),
        }
    }

    /// Fetches the manifest or index `reference` names (its digest if pinned,
    /// else its tag) and verifies its digest; from a mirror if one has it.
    pub fn fetch_manifest(&self, reference: &Reference) -> Result<FetchedManifest, Error> {
        self.try_sources(reference, |source, attempts| {
            self.fetch_manifest_from(source, attempts)
        })
    }

    fn fetch_manifest_from(
        &self,
        reference: &Reference,
        attempts: u32,
    ) -> Result<FetchedManifest, Error> {
        let wanted = reference.manifest_reference();
        let path = format!("/v2/{}/manifests/{wanted}", reference.repository());
        let headers = [("Accept", ACCEPTED_MANIFEST_TYPES)];
        let response = self.send(reference, "GET", &path, &headers, Body::Empty, attempts)?;
        let media_type = response
            .header("Content-Type")
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
            .unwrap_or_default();
        let url = response.get_url().to_owned();
        let mut bytes = Vec::new();
        response
            .into_reader()
            .take(MAX_MANIFEST_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| Error::Read {
                what: format!("manifest {reference}"),
                url,
                source,
            })?;
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(Error::ManifestTooLarge {
                reference: reference.to_string(),
                limit: MAX_MANIFEST_BYTES,
            });
        }
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        if let Some(expected) = reference.digest() {
            if expected != digest {
                return Err(Error::ManifestDigestMismatch {
                    reference: reference.to_string(),
                    expected: expected.to_owned(),
                    actual: digest,
                });
            }
        }
        Ok(FetchedManifest {
            digest,
            media_type,
            bytes,
        })
    }

    /// The references an image address may mean: itself, or for a short
    /// name one per search registry of registries.conf, in order.
    pub fn candidates(&self, address: &str) -> Result<Vec<Reference>, Error> {
        self.inner.config.registries.candidates(address)
    }

    /// The registries configuration this client follows.
    pub fn registries(&self) -> &RegistriesConf {
        &self.inner.config.registries
    }

    /// Opens a blob of `reference`'s repository for streaming, from a
    /// mirror if one has it. The reader never yields more than `size` bytes
    /// and resumes interrupted transfers (from the same place).
    pub fn fetch_blob(
        &self,
        reference: &Reference,
        digest: &str,
        size: u64,
    ) -> Result<BlobReader, Error> {
        self.try_sources(reference, |source, attempts| {
            BlobReader::open(
                self.clone(),
                source.clone(),
                digest.to_owned(),
                size,
                attempts,
            )
        })
    }

    /// Reads a small blob (an image config) whole, refusing more than `size`.
    pub fn fetch_small_blob(
        &self,
        reference: &Reference,
        digest: &str,
        size: u64,
    ) -> Result<Vec<u8>, Error> {
        let mut bytes = Vec::with_capacity(size.min(MAX_MANIFEST_BYTES as u64) as usize);
        let url = self.blob_path(reference, digest);
        self.fetch_blob(reference, digest, size)?
            .read_to_end(&mut bytes)
            .map_err(|source| Error::Read {
                what: format!("blob {digest}"),
                url,
                source,
            })?;
        Ok(bytes)
    }

    pub(crate) fn blob_path(&self, reference: &Reference, digest: &str) -> String {
        format!("/v2/{}/blobs/{digest}", reference.repository())
    }

    /// A GET with authentication, retries and error mapping. `range` asks for
    /// the bytes from that offset on.
    pub(crate) fn get(
        &self,
        reference: &Reference,
        path: &str,
        headers: &[(&str, &str)],
        range: Option<u64>,
        attempts: u32,
    ) -> Result<ureq::Response, Error> {
        let range_header = range.map(|offset| format!("bytes={offset}-"));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(value) = &range_header {
            all.push(("Range", value));
        }
        self.send(reference, "GET", path, &all, Body::Empty, attempts)
    }

    /// A request with authentication, up to `attempts` tries and error
    /// mapping. `path` is a path on the registry or a whole URL (upload
    /// locations may be either). Statuses below 400 are answers.
    pub(crate) fn send(
        &self,
        reference: &Reference,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
        attempts: u32,
    ) -> Result<ureq::Response, Error> {
        self.inner.config.registries.check_blocked(reference)?;
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base_url(reference.api_host())?)
        };
        let mut authenticated = false;
        let mut attempt = 0;
        loop {
            let mut request = self.inner.agent.request(method, &url);
            for (name, value) in headers {
                request = request.set(name, value);
            }
            if let Some(authorization) = self.authorization(reference) {
                request = request.set("Authorization", &authorization);
            }
            attempt += 1;
            let result = match &body {
                Body::Empty if method == "PUT" || method == "POST" || method == "PATCH" => {
                    request.set("Content-Length", "0").send_bytes(&[])
                }
                Body::Empty => request.call(),
                Body::Bytes(bytes) => request
                    .set("Content-Length", &bytes.len().to_string())
                    .send_bytes(bytes),
                Body::File { path, offset, len } => {
                    let file = open_range(path, *offset, *len).map_err(|source| Error::Read {
                        what: format!("{} for upload", path.display()),
                        url: url.clone(),
                        source,
                    })?;
                    request.set("Content-Length", &len.to_string()).send(file)
                }
            };
            let failure = match result {
                Ok(response) => return Ok(response),
                Err(ureq::Error::Status(401, response)) if !authenticated => {
                    authenticated = true;
                    attempt -= 1;
                    self.authenticate(reference, &response, method != "GET" && method != "HEAD")?;
                    continue;
                }
                Err(ureq::Error::Status(status, response)) => {
                    if retry::is_retryable_status(status) && attempt < attempts {
                        let delay = retry::retry_after(response.header("Retry-After"), attempt - 1);
                        tracing::warn!("{url} answered HTTP {status}; retrying in {delay:?}");
                        std::thread::sleep(delay);
                        continue;
                    }
                    return Err(self.status_error(reference, &url, status, response, attempt, path));
                }
                Err(ureq::Error::Transport(transport)) => transport,
            };
            if attempt >= attempts {
                return Err(Error::Unreachable {
                    url,
                    attempts: attempt,
                    source: Box::new(failure),
                });
            }
            let delay = retry::backoff(attempt - 1);
            tracing::warn!("{url}: {failure}; retrying in {delay:?}");
            std::thread::sleep(delay);
        }
    }

    fn status_error(
        &self,
        reference: &Reference,
        url: &str,
        status: u16,
        response: ureq::Response,
        attempts: u32,
        path: &str,
    ) -> Error {
        let registry = reference.registry().to_owned();
        let repository = reference.repository().to_owned();
        let detail = registry_error_detail(response);
        match status {
            401 if matches!(self.credentials_for(&registry), Ok(Some(_))) => Error::Unauthorized {
                registry,
                repository,
                detail: if detail.is_empty() {
                    "HTTP 401".into()
                } else {
                    detail.trim_start_matches(": ").to_owned()
                },
            },
            401 => Error::CredentialsRequired {
                registry,
                repository,
            },
            403 => Error::Denied {
                registry,
                repository,
                detail,
            },
            404 => Error::NotFound {
                registry,
                what: match path.rsplit_once("/blobs/") {
                    Some((_, digest)) => format!("blob {digest} of {repository}"),
                    None => format!("image {reference}"),
                },
                detail,
            },
            status if retry::is_retryable_status(status) => Error::GaveUp {
                url: url.to_owned(),
                status,
                attempts,
            },
            status => Error::Status {
                url: url.to_owned(),
                status,
                detail,
            },
        }
    }

    fn may_use_http(&self, host: &str) -> bool {
        let name = host_without_port(host);
        name == "localhost"
            || name.starts_with("127.")
            || name == "[::1]"
            || name == "::1"
            || self
                .inner
                .config
                .insecure_registries
                .iter()
                .any(|insecure| insecure == host || insecure == name)
            || self.inner.config.registries.insecure(host)
    }

    /// `https://host` unless the registry may use plain HTTP and does not
    /// speak TLS (decided once, like Docker: try TLS first).
    fn base_url(&self, host: &str) -> Result<String, Error> {
        if let Some(scheme) = self.inner.schemes.lock().unwrap().get(host) {
            return Ok(format!("{scheme}://{host}"));
        }
        let scheme = if !self.may_use_http(host) {
            "https"
        } else {
            match self.inner.agent.get(&format!("https://{host}/v2/")).call() {
                Ok(_) | Err(ureq::Error::Status(..)) => "https",
                Err(ureq::Error::Transport(e)) => {
                    tracing::debug!("{host} does not speak TLS ({e}); using plain HTTP");
                    "http"
                }
            }
        };
        self.inner
            .schemes
            .lock()
            .unwrap()
            .insert(host.to_owned(), scheme);
        Ok(format!("{scheme}://{host}"))
    }
}

/// What a request sends. Files are reopened for every attempt.
pub(crate) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    File {
        path: &'a std::path::Path,
        offset: u64,
        len: u64,
    },
}

fn open_range(path: &std::path::Path, offset: u64, len: u64) -> std::io::Result<impl Read> {
    use std::io::Seek as _;
    let mut file = std::fs::File::open(path)?;
    file.seek(std::io::SeekFrom::Start(offset))?;
    Ok(std::io::BufReader::with_capacity(1 << 20, file).take(len))
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split(']')
            .next()
            .map_or(host, |h| &host[..h.len() + 1]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// `: CODE message` from a registry's JSON error body, or nothing.
fn registry_error_detail(response: ureq::Response) -> String {
    #[derive(Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    let mut text = String::new();
    let _ = response
        .into_reader()
        .take(MAX_ERROR_BODY_BYTES)
        .read_to_string(&mut text);
    match serde_json::from_str::<Body>(&text) {
        Ok(body) => body
            .errors
            .iter()
            .map(|e| {
                let code = e.code.as_deref().unwrap_or("");
                let message = e.message.as_deref().unwrap_or("");
                format!(": {code} {message}").trim_end().to_owned()
            })
            .collect(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_registries_may_use_http() {
        let client = Client::new(ClientConfig {
            insecure_registries: vec!["reg.lan:5000".into()],
            ..ClientConfig::default()
        });
        assert!(client.may_use_http("127.0.0.1:5000"));
        assert!(client.may_use_http("localhost"));
        assert!(client.may_use_http("[::1]:80"));
        assert!(client.may_use_http("reg.lan:5000"));
        assert!(!client.may_use_http("reg.lan:6000"));
        assert!(!client.may_use_http("docker.io"));
    }
}
