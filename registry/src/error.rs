//! Everything that can go wrong talking to a registry, as one enum: bad
//! references and platforms, refused or missing credentials, HTTP failures
//! (after retries), token servers, manifests that are too large, malformed
//! or not what their digest says, and auth files that cannot be read. Each
//! message says what to check or do. The `detail` of `Unauthorized`,
//! `Denied`, `NotFound` and `Status` is what the registry answered (its JSON
//! error body); that of `BadToken`, `MalformedManifest` and `Protocol` says
//! what was wrong with an answer.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },

    #[error("invalid platform {platform:?}: expected os/arch or os/arch/variant, e.g. linux/amd64 or linux/arm64/v8")]
    InvalidPlatform { platform: String },

    #[error("{registry} refused the credentials for {repository} ({detail}); check `docker login`/`podman login`, $REGISTRY_AUTH_FILE or $DOCKER_CONFIG")]
    Unauthorized {
        registry: String,
        repository: String,
        detail: String,
    },

    #[error("{registry} requires authentication for {repository} and no credentials were found; log in with `docker login {registry}` or `podman login {registry}`, or set $REGISTRY_AUTH_FILE")]
    CredentialsRequired {
        registry: String,
        repository: String,
    },

    #[error("access to {repository} on {registry} is denied (403{detail}); the account may lack the right to pull or push there")]
    Denied {
        registry: String,
        repository: String,
        detail: String,
    },

    #[error("{what} not found on {registry} (404{detail}); check the image name and tag")]
    NotFound {
        registry: String,
        what: String,
        detail: String,
    },

    #[error("{url} answered HTTP {status}{detail}")]
    Status {
        url: String,
        status: u16,
        detail: String,
    },

    #[error("could not reach {url} after {attempts} attempts")]
    Unreachable {
        url: String,
        attempts: u32,
        #[source]
        source: Box<ureq::Transport>,
    },

    #[error("{url} kept answering HTTP {status} after {attempts} attempts; try again later")]
    GaveUp {
        url: String,
        status: u16,
        attempts: u32,
    },

    #[error("token server {realm} gave no usable token: {detail}")]
    BadToken { realm: String, detail: String },

    #[error("cannot read registry credentials from {path}")]
    AuthFile {
        path: String,
        #[source]
        source: io::Error,
    },

    #[error("registry credentials file {path} is not valid JSON")]
    AuthFileJson {
        path: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("credential helper {program} gave no credentials for {registry}: {detail}")]
    CredentialHelper {
        program: String,
        registry: String,
        detail: String,
    },

    #[error("manifest {reference} is larger than {limit} bytes; refusing to read it")]
    ManifestTooLarge { reference: String, limit: usize },

    #[error("manifest {reference} has digest {actual}, not the {expected} that was asked for; the registry or a proxy altered it")]
    ManifestDigestMismatch {
        reference: String,
        expected: String,
        actual: String,
    },

    #[error("manifest {reference} is malformed: {detail}")]
    MalformedManifest { reference: String, detail: String },

    #[error("manifest {reference} has media type {media_type:?}, which tanto does not understand (expected an OCI or Docker v2 image manifest or index)")]
    UnsupportedManifest {
        reference: String,
        media_type: String,
    },

    #[error("{reference} has no image for platform {wanted}; it has: {available}; pick one of those (`tanto pull --platform`, `container(platform:)`)")]
    NoMatchingPlatform {
        reference: String,
        wanted: String,
        available: String,
    },

    #[error("reading {what} from {url}")]
    Read {
        what: String,
        url: String,
        #[source]
        source: io::Error,
    },

    #[error("{reference} is on {prefix}, which is blocked in {file}; use another registry, or remove `blocked = true` there")]
    Blocked {
        reference: String,
        prefix: String,
        file: String,
    },

    #[error("cannot read the registries configuration {path}")]
    RegistriesConfRead {
        path: String,
        #[source]
        source: io::Error,
    },

    #[error("registries configuration {path} is invalid: {detail}")]
    RegistriesConf { path: String, detail: String },

    #[error("{url} {detail}; the registry does not follow the distribution protocol")]
    Protocol { url: String, detail: String },
}

impl Error {
    /// The image is not at that registry (missing, or hidden behind
    /// credentials): with a short name, the next search registry is asked.
    pub fn is_absent(&self) -> bool {
        matches!(
            self,
            Error::NotFound { .. } | Error::Denied { .. } | Error::CredentialsRequired { .. }
        )
    }
}
