//! One request to the session: `POST /query` with `{"query": "…"}`, Basic
//! auth with the session token as user name, and JSON answers always — even
//! for internal failures and refusals, because the Python SDK re-sends a
//! request on a non-JSON 5xx, which could repeat a publish.
//!
//! The token is checked as soon as the headers arrive, before any of the
//! body is read, so a process without it costs the session nothing more.

use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine as _;
use futures::FutureExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::header::{self, HeaderMap};
use hyper::{Method, Request, Response, StatusCode};

use crate::Session;

/// The largest request body accepted: Dagger's SDKs inline file contents
/// (`withNewFile`) in the query, so tens of MB are ordinary.
pub const MAX_BODY_BYTES: usize = 64 << 20;

pub(crate) type Body = UnsyncBoxBody<Bytes, io::Error>;

/// Answers `request`; `admit` is called once it has shown the token.
pub(crate) async fn handle(
    request: Request<Incoming>,
    session: &Session,
    admit: impl FnOnce(),
) -> Response<Body> {
    let client = basic_user(request.headers()).and_then(|user| session.client(&user));
    let Some(client) = client else {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong session token: use the DAGGER_SESSION_TOKEN tanto gave, as the Basic auth user name",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"tanto session\""),
        );
        return response;
    };
    admit();
    if request.uri().path() != "/query" {
        return error(
            StatusCode::NOT_FOUND,
            &format!(
                "no such endpoint {}: tanto's session answers POST /query",
                request.uri().path()
            ),
        );
    }
    if request.method() != Method::POST {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!(
                "{} /query: tanto's session answers POST /query",
                request.method()
            ),
        );
    }
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the request body is larger than tanto's limit of {} MiB: pass large contents as files \
                 (a host directory or file) rather than inline in the query",
                MAX_BODY_BYTES >> 20
            ),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return too_large();
    }
    let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("cannot read the request body: {e}"),
            )
        }
    };
    let query = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(mut request)) => match request.remove("query") {
            Some(serde_json::Value::String(query)) => query,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "the request has no \"query\" string",
                )
            }
        },
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "the request body is not a JSON object like {\"query\": \"…\"}",
            )
        }
    };
    drop(body);
    // A panic in a resolver still answers JSON.
    match std::panic::AssertUnwindSafe(session.execute_as(&query, &client))
        .catch_unwind()
        .await
    {
        Ok(answer) => answer_body(answer),
        Err(_) => error(
            StatusCode::OK,
            "internal error in tanto while answering this query (a bug: please report it)",
        ),
    }
}

/// The user name of Basic auth: the token of the session or of one of its
/// nested clients.
fn basic_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    // RFC 7235: the scheme is case-insensitive (`basic`, `BASIC`).
    let (scheme, encoded) = value.trim_start().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    Some(decoded.split(':').next().unwrap_or_default().to_owned())
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A GraphQL-shaped error answer, as the SDKs read errors.
pub(crate) fn error(status: StatusCode, message: &str) -> Response<Body> {
    let value = serde_json::json!({"data": null, "errors": [{"message": message}]});
    json_response(
        status,
        full(serde_json::to_vec(&value).expect("JSON values serialize")),
    )
}

fn full(bytes: Vec<u8>) -> Body {
    UnsyncBoxBody::new(Full::new(Bytes::from(bytes)).map_err(|never| match never {}))
}

fn json_response(status: StatusCode, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// The answer as a body: in one piece when small, else streamed from a
/// blocking thread that reads the outputs' files, a few chunks ahead of
/// the client at most.
fn answer_body(answer: crate::Answer) -> Response<Body> {
    if answer.is_small() {
        let mut bytes = Vec::new();
        answer
            .write(&mut bytes, false)
            .expect("a small answer reads no files");
        return json_response(StatusCode::OK, full(bytes));
    }
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut out = io::BufWriter::with_capacity(64 << 10, Chunks(sender.clone()));
        if let Err(e) = answer.write(&mut out, false).and_then(|()| out.flush()) {
            // Cuts the response short: the client sees a broken answer,
            // never a truncated one that parses.
            tracing::warn!("cannot stream the answer: {e}");
            let _ = sender.blocking_send(Err(e));
        }
    });
    json_response(StatusCode::OK, UnsyncBoxBody::new(Streamed(receiver)))
}

/// Sends what is written as body chunks.
struct Chunks(tokio::sync::mpsc::Sender<io::Result<Bytes>>);

impl Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Streamed(tokio::sync::mpsc::Receiver<io::Result<Bytes>>);

impl hyper::body::Body for Streamed {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|chunk| chunk.map(Frame::data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, authorization.parse().unwrap());
        headers
    }

    #[test]
    fn the_basic_scheme_is_matched_in_any_case() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("tok:");
        for scheme in ["Basic", "basic", "BASIC", "bAsIc"] {
            assert_eq!(
                basic_user(&headers(&format!("{scheme} {encoded}"))).as_deref(),
                Some("tok"),
                "{scheme}"
            );
        }
        assert_eq!(basic_user(&headers(&format!("Bearer {encoded}"))), None);
        assert_eq!(basic_user(&headers("Basic")), None);
    }
}
