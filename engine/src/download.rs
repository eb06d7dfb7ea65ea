//! Downloads for `Query.http`: one URL streamed to a file in the store,
//! hashed as it streams, by tanto itself (nothing runs in a container).
//!
//! TLS trusts the host's CA store (ureq's `native-certs`, as the registry
//! client does). The `Authorization` header comes from a secret and is
//! never logged or put into an error; ureq drops it on redirects.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::Error;

/// What was written: its `sha256:` digest and size.
pub(crate) struct Downloaded {
    pub digest: String,
    pub size: u64,
}

/// Streams `url` into `dest`. `stop` is checked between chunks, so an
/// abandoned download ends soon after nobody waits for it.
pub(crate) fn download(
    url: &str,
    authorization: Option<&[u8]>,
    dest: &Path,
    stop: &AtomicBool,
) -> Result<Downloaded, Error> {
    let shown = shown_url(url);
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60))
        .user_agent(concat!("tanto/", env!("CARGO_PKG_VERSION")))
        .build();
    let mut request = agent.get(url);
    if let Some(value) = authorization {
        request = request.set("Authorization", &String::from_utf8_lossy(value));
    }
    let response = match request.call() {
        Ok(response) => response,
        Err(ureq::Error::Status(status, response)) => {
            return Err(Error::HttpStatus {
                url: shown,
                status,
                reason: response.status_text().to_owned(),
            })
        }
        Err(ureq::Error::Transport(transport)) => {
            return Err(Error::HttpTransport {
                url: shown,
                detail: transport_detail(&transport),
            })
        }
    };
    let write_error = |source| Error::HttpWrite {
        url: shown.clone(),
        source,
    };
    let mut file = std::fs::File::create(dest).map_err(write_error)?;
    let mut body = response.into_reader();
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buffer = vec![0u8; 256 << 10];
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(Error::Abandoned);
        }
        let read = body.read(&mut buffer).map_err(|e| Error::HttpTransport {
            url: shown.clone(),
            detail: format!("the body broke off after {size} bytes: {e}"),
        })?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        file.write_all(&buffer[..read]).map_err(write_error)?;
        size += read as u64;
    }
    file.sync_all().map_err(write_error)?;
    Ok(Downloaded {
        digest: format!("sha256:{}", hex::encode(hasher.finalize())),
        size,
    })
}

/// The transport error without its URL, which the message names already
/// (and which may carry credentials).
fn transport_detail(transport: &ureq::Transport) -> String {
    let mut detail = transport.kind().to_string();
    if let Some(message) = transport.message() {
        detail = format!("{detail}: {message}");
    }
    detail
}

/// `url` as errors and progress show it: credentials in it (`user:pass@`)
/// masked.
pub(crate) fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// The file name `url` gives by default: its path's last part, as Dagger
/// names it; `index` when the path has none.
pub(crate) fn default_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_and_more = rest.find('/').map_or("", |at| &rest[at..]);
    let path = path_and_more.split(['?', '#']).next().unwrap_or_default();
    path.rsplit('/')
        .find(|part| !part.is_empty() && *part != "." && *part != "..")
        .unwrap_or("index")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_masked() {
        assert_eq!(
            shown_url("https://user:pw@example.com/a@b"),
            "https://***@example.com/a@b"
        );
        assert_eq!(shown_url("http://h:1/x?y=@"), "http://h:1/x?y=@");
    }

    #[test]
    fn names_come_from_the_paths_last_part() {
        assert_eq!(default_name("https://h/a/b.tar.gz?x=1#f"), "b.tar.gz");
        assert_eq!(default_name("https://h/a/b/"), "b");
        assert_eq!(default_name("https://h"), "index");
        assert_eq!(default_name("https://h/"), "index");
    }
}
