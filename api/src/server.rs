//! The session's HTTP endpoint: `POST /query` with `{"query": "…"}`, Basic
//! auth with the session token as user name, and JSON answers always — even
//! for internal failures, because the Python SDK re-sends a request on a
//! non-JSON 5xx, which could repeat a publish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use futures::FutureExt;

use crate::Session;

/// Serves `session` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    session: Arc<Session>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/query", post(query))
        .with_state(session);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds a free port on loopback.
pub async fn bind_loopback() -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    Ok((listener, address))
}

async fn query(State(session): State<Arc<Session>>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&headers, session.token()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"tanto session\"")],
            json_error("missing or wrong session token: use the DAGGER_SESSION_TOKEN tanto gave, as the Basic auth user name"),
        )
            .into_response();
    }
    let query = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(request)) => match request.get("query") {
            Some(serde_json::Value::String(query)) => query.clone(),
            _ => return bad_request("the request has no \"query\" string"),
        },
        _ => return bad_request("the request body is not a JSON object like {\"query\": \"…\"}"),
    };
    // A panic in a resolver still answers JSON.
    let answer = std::panic::AssertUnwindSafe(session.execute(&query))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            serde_json::json!({"data": null, "errors": [{"message": "internal error in tanto while answering this query (a bug: please report it)"}]})
        });
    json(StatusCode::OK, &answer)
}

fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    // RFC 7235: the scheme is case-insensitive (`basic`, `BASIC`).
    let Some((scheme, encoded)) = value.trim_start().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    let user = decoded.split(':').next().unwrap_or_default();
    constant_time_eq(user.as_bytes(), token.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, json_error(message)).into_response()
}

fn json_error(message: &str) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({"data": null, "errors": [{"message": message}]}),
    )
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(value).expect("JSON values serialize"),
    )
        .into_response()
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
            assert!(
                authorized(&headers(&format!("{scheme} {encoded}")), "tok"),
                "{scheme}"
            );
        }
        assert!(!authorized(&headers(&format!("Bearer {encoded}")), "tok"));
        assert!(!authorized(&headers(&format!("Basic {encoded}")), "other"));
        assert!(!authorized(&headers("Basic"), "tok"));
    }
}
