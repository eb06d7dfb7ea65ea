//! The session endpoint over real HTTP: auth, JSON always.

use std::sync::Arc;

use base64::Engine as _;

fn start() -> (String, String, tokio::runtime::Runtime, tempfile::TempDir) {
    let store = tempfile::tempdir().unwrap();
    let runtime = api::runtime().unwrap();
    let token = api::new_token().unwrap();
    let engine = engine::Engine::new(engine::EngineConfig {
        store_root: store.path().to_owned(),
        ..Default::default()
    })
    .unwrap();
    let session = Arc::new(api::Session::new(engine, token.clone()).unwrap());
    let (listener, address) = runtime.block_on(api::bind_loopback()).unwrap();
    runtime.spawn(api::serve(listener, session, std::future::pending()));
    (format!("http://{address}/query"), token, runtime, store)
}

fn basic(user: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:"))
    )
}

fn post(
    url: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Option<String>, String, serde_json::Value) {
    let mut request = ureq::post(url).set("Content-Type", "application/json");
    if let Some(auth) = auth {
        request = request.set("Authorization", auth);
    }
    let response = match request.send_string(body) {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(e) => panic!("{e}"),
    };
    let status = response.status();
    let challenge = response.header("WWW-Authenticate").map(str::to_owned);
    let content_type = response.content_type().to_owned();
    let json = serde_json::from_str(&response.into_string().unwrap()).unwrap();
    (status, challenge, content_type, json)
}

#[test]
fn only_the_session_token_gets_in_and_every_answer_is_json() {
    let (url, token, _runtime, _store) = start();
    let query = r#"{"query": "{ version }"}"#;

    let (status, challenge, content_type, body) = post(&url, None, query);
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some("Basic realm=\"tanto session\""));
    assert_eq!(content_type, "application/json");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("token"));

    let (status, ..) = post(&url, Some(&basic("wrong")), query);
    assert_eq!(status, 401);

    let (status, _, content_type, body) = post(&url, Some(&basic(&token)), query);
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    assert!(body["data"]["version"]
        .as_str()
        .unwrap()
        .starts_with("tanto "));

    let (_, _, content_type, body) = post(&url, Some(&basic(&token)), "not json");
    assert_eq!(content_type, "application/json");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("JSON"));
}

#[test]
fn ids_are_lazy_and_node_resolves_them_to_their_type() {
    let (url, token, _runtime, _store) = start();
    let auth = basic(&token);
    let (_, _, _, body) = post(
        &url,
        Some(&auth),
        r#"{"query": "{ directory { withNewFile(path: \"a.txt\", contents: \"hi\") { id } } }"}"#,
    );
    let id = body["data"]["directory"]["withNewFile"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !id.chars().all(|c| c.is_ascii_digit()),
        "all-digit IDs are sent as numbers by the Python SDK"
    );
    let (_, _, _, body) = post(
        &url,
        Some(&auth),
        &serde_json::json!({"query": format!(r#"{{ node(id: "{id}") {{ ... on Directory {{ entries }} }} }}"#)}).to_string(),
    );
    assert_eq!(
        body["data"]["node"]["entries"],
        serde_json::json!(["a.txt"]),
        "{body:#}"
    );
}
