//! Pushing: blobs first (skipped when the registry has them, mounted from
//! another repository of the same registry when possible, else uploaded),
//! the manifest last, so a failure never leaves a tag pointing at missing
//! blobs.
//!
//! Uploads follow the distribution spec: `POST …/blobs/uploads/` opens a
//! session whose `Location` (relative or absolute) takes the data — whole in
//! one `PUT` for small blobs, in `PATCH` chunks for large ones, so a broken
//! connection costs one chunk: the session's `Range` says where to go on.
//! A session that cannot be resumed is abandoned and the upload starts over.

use std::path::Path;

use crate::client::Body;
use crate::retry::{self, MAX_ATTEMPTS};
use crate::{Client, Error, Reference};

/// Blobs up to this size go up in one request; larger ones in chunks of it.
pub const CHUNK_BYTES: u64 = 16 << 20;

enum Mount {
    Mounted,
    Upload(Option<String>),
}

/// What pushing one blob took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobPush {
    /// The registry had it.
    Exists,
    /// Mounted from another repository of the registry; no bytes sent.
    Mounted,
    /// Uploaded.
    Uploaded,
}

impl Client {
    /// Whether the repository of `reference` has the blob.
    pub fn has_blob(&self, reference: &Reference, digest: &str) -> Result<bool, Error> {
        let path = self.blob_path(reference, digest);
        match self.send(reference, "HEAD", &path, &[], Body::Empty, MAX_ATTEMPTS) {
            Ok(response) => Ok(response.status() == 200),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Pushes the blob stored at `file` unless the registry has it. With
    /// `mount_from` (a repository of the same registry that has the blob),
    /// asks the registry to mount it from there first.
    pub fn push_blob(
        &self,
        reference: &Reference,
        digest: &str,
        size: u64,
        file: &Path,
        mount_from: Option<&str>,
    ) -> Result<BlobPush, Error> {
        if self.has_blob(reference, digest)? {
            return Ok(BlobPush::Exists);
        }
        let uploads = format!("/v2/{}/blobs/uploads/", reference.repository());
        let mut session = None;
        if let Some(from) = mount_from.filter(|from| *from != reference.repository()) {
            match self.request_mount(reference, digest, from)? {
                Mount::Mounted => return Ok(BlobPush::Mounted),
                Mount::Upload(location) => session = location,
            }
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let location = match session.take() {
                Some(location) => location,
                None => self.start_upload(reference, &uploads)?,
            };
            match self.upload(reference, &location, digest, size, file) {
                Ok(()) => return Ok(BlobPush::Uploaded),
                Err(error) if attempt < MAX_ATTEMPTS && is_transient(&error) => {
                    let delay = retry::backoff(attempt - 1);
                    tracing::warn!(
                        "uploading {digest} failed ({error}); starting over in {delay:?}"
                    );
                    std::thread::sleep(delay);
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Asks the registry to mount a blob from another of its repositories,
    /// with nothing to upload if it will not. Returns whether it did.
    pub fn mount_blob(
        &self,
        reference: &Reference,
        digest: &str,
        from: &str,
    ) -> Result<bool, Error> {
        match self.request_mount(reference, digest, from)? {
            Mount::Mounted => Ok(true),
            Mount::Upload(location) => {
                if let Some(location) = location {
                    // Close the upload the registry opened instead; it
                    // expires anyway if this fails.
                    let _ = self.send(reference, "DELETE", &location, &[], Body::Empty, 1);
                }
                Ok(false)
            }
        }
    }

    fn request_mount(
        &self,
        reference: &Reference,
        digest: &str,
        from: &str,
    ) -> Result<Mount, Error> {
        let path = format!(
            "/v2/{}/blobs/uploads/?mount={digest}&from={from}",
            reference.repository()
        );
        let response = self.send(reference, "POST", &path, &[], Body::Empty, MAX_ATTEMPTS)?;
        Ok(if response.status() == 201 {
            Mount::Mounted
        } else {
            // 202: no mount, but an upload session to use.
            Mount::Upload(location(&response))
        })
    }

    /// Puts a manifest under `reference`'s tag (or digest); returns the
    /// digest the registry stored it under.
    pub fn push_manifest(
        &self,
        reference: &Reference,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), Error> {
        let path = format!(
            "/v2/{}/manifests/{}",
            reference.repository(),
            reference.manifest_reference()
        );
        self.send(
            reference,
            "PUT",
            &path,
            &[("Content-Type", media_type)],
            Body::Bytes(bytes),
            MAX_ATTEMPTS,
        )?;
        Ok(())
    }

    fn start_upload(&self, reference: &Reference, uploads: &str) -> Result<String, Error> {
        let response = self.send(reference, "POST", uploads, &[], Body::Empty, MAX_ATTEMPTS)?;
        location(&response).ok_or_else(|| Error::Protocol {
            url: response.get_url().to_owned(),
            detail: format!(
                "answered HTTP {} to an upload request without a Location",
                response.status()
            ),
        })
    }

    /// Sends the blob into an open upload session. Small blobs go in one
    /// PUT; large ones in PATCH chunks, resuming at the session's `Range`
    /// after a broken chunk.
    fn upload(
        &self,
        reference: &Reference,
        location: &str,
        digest: &str,
        size: u64,
        file: &Path,
    ) -> Result<(), Error> {
        if size <= CHUNK_BYTES {
            let url = with_digest(location, digest);
            let body = Body::File {
                path: file,
                offset: 0,
                len: size,
            };
            let headers = [("Content-Type", "application/octet-stream")];
            self.send(reference, "PUT", &url, &headers, body, 1)?;
            return Ok(());
        }
        let mut location = location.to_owned();
        let mut offset = 0;
        let mut resumes = 0;
        while offset < size {
            let len = CHUNK_BYTES.min(size - offset);
            let range = format!("{offset}-{}", offset + len - 1);
            let headers = [
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", range.as_str()),
            ];
            let body = Body::File {
                path: file,
                offset,
                len,
            };
            match self.send(reference, "PATCH", &location, &headers, body, 1) {
                Ok(response) => {
                    location = self::location(&response).unwrap_or(location);
                    offset += len;
                }
                Err(error) if resumes < MAX_ATTEMPTS && is_transient(&error) => {
                    resumes += 1;
                    tracing::warn!("a chunk of {digest} failed ({error}); asking where to resume");
                    std::thread::sleep(retry::backoff(resumes - 1));
                    // A session that cannot say where it stands is
                    // abandoned: the caller starts a new one.
                    let Ok((next, received)) = self.upload_status(reference, &location) else {
                        return Err(error);
                    };
                    location = next;
                    offset = received;
                }
                Err(error) => return Err(error),
            }
        }
        let headers = [("Content-Type", "application/octet-stream")];
        let url = with_digest(&location, digest);
        self.send(reference, "PUT", &url, &headers, Body::Empty, 1)?;
        Ok(())
    }

    /// Where an upload session stands: its location and how many bytes
    /// the registry has.
    fn upload_status(&self, reference: &Reference, location: &str) -> Result<(String, u64), Error> {
        let response = self.send(reference, "GET", location, &[], Body::Empty, MAX_ATTEMPTS)?;
        let received = match response.header("Range") {
            // `0-N`: bytes 0 to N inclusive are there.
            Some(range) => range
                .rsplit_once('-')
                .and_then(|(_, end)| end.trim().parse::<u64>().ok())
                .map_or(0, |end| end + 1),
            None => 0,
        };
        let next = self::location(&response).unwrap_or_else(|| location.to_owned());
        Ok((next, received))
    }
}

/// The `Location` of an answer, made absolute against the URL asked.
fn location(response: &ureq::Response) -> Option<String> {
    let value = response.header("Location")?;
    if value.starts_with("http://") || value.starts_with("https://") {
        return Some(value.to_owned());
    }
    let url = response.get_url();
    let scheme_end = url.find("://")? + 3;
    let host_end = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| scheme_end + i);
    Some(format!("{}{value}", &url[..host_end]))
}

fn with_digest(location: &str, digest: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}digest={digest}")
}

/// Failures worth starting the upload over for: the network, or a registry
/// having trouble. Refusals (auth, 4xx) are final.
fn is_transient(error: &Error) -> bool {
    match error {
        Error::Unreachable { .. } | Error::GaveUp { .. } => true,
        Error::Status { status, .. } => retry::is_retryable_status(*status),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_goes_after_any_query() {
        assert_eq!(
            with_digest("http://r/v2/a/blobs/uploads/1?_state=x", "sha256:0"),
            "http://r/v2/a/blobs/uploads/1?_state=x&digest=sha256:0"
        );
        assert_eq!(with_digest("/u/1", "sha256:0"), "/u/1?digest=sha256:0");
    }
}
