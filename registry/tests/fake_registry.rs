//! The client against an in-process registry that misbehaves on cue: rate
//! limits, server errors, connections cut mid-blob, the bearer-token dance.
//! (The well-behaved paths are tested against the real registry server in
//! `integration/`.)

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use registry::{Client, ClientConfig, Credentials, Reference, RegistriesConf};
use sha2::{Digest as _, Sha256};

#[derive(Clone, Debug)]
struct Request {
    path: String,
    headers: HashMap<String, String>,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Send only this many body bytes, then drop the connection.
    cut_after: Option<usize>,
}

fn reply(status: u16, body: &[u8]) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.to_vec(),
        cut_after: None,
    }
}

impl Reply {
    fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

type Handler = dyn Fn(&Request, usize) -> Reply + Send + Sync;

/// Serves each request with `handler(request, how many came before it)`.
struct Fake {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Fake {
    fn start(handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (handler, seen) = (handler.clone(), seen.clone());
                std::thread::spawn(move || serve(stream, &*handler, &seen));
            }
        });
        Fake { port, requests }
    }

    fn reference(&self, repository_and_tag: &str) -> Reference {
        format!("127.0.0.1:{}/{repository_and_tag}", self.port)
            .parse()
            .unwrap()
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, handler: &Handler, seen: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || !line.starts_with("GET ") {
        return; // e.g. the client's TLS probe: not HTTP, hang up
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.trim_end().split_once(':') {
            headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let request = Request { path, headers };
    let count = {
        let mut seen = seen.lock().unwrap();
        seen.push(request.clone());
        seen.len() - 1
    };
    let reply = handler(&request, count);
    let mut out = stream;
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        head += &format!("{name}: {value}\r\n");
    }
    head += "\r\n";
    let body = &reply.body[..reply.cut_after.unwrap_or(reply.body.len())];
    let _ = out
        .write_all(head.as_bytes())
        .and_then(|()| out.write_all(body));
    let _ = out.shutdown(std::net::Shutdown::Both);
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":2},"layers":[]}"#;

fn client() -> Client {
    Client::new(ClientConfig::default())
}

#[test]
fn rate_limits_and_server_errors_are_retried() {
    let fake = Fake::start(|_, n| match n {
        0 => reply(429, b"slow down").header("Retry-After", "1"),
        1 => reply(503, b"busy"),
        _ => reply(200, MANIFEST.as_bytes())
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
    });
    let fetched = client().fetch_manifest(&fake.reference("app:1")).unwrap();
    assert_eq!(fetched.bytes, MANIFEST.as_bytes());
    assert_eq!(fetched.digest, sha(MANIFEST.as_bytes()));
    assert_eq!(fake.requests().len(), 3);
}

#[test]
fn a_registry_that_keeps_failing_gives_up_with_the_status() {
    let fake = Fake::start(|_, _| reply(500, b"{}"));
    let err = client()
        .fetch_manifest(&fake.reference("app:1"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 500") && err.contains("attempts"),
        "{err}"
    );
}

#[test]
fn a_blob_cut_mid_transfer_resumes_with_range() {
    let blob: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let served = blob.clone();
    let fake = Fake::start(move |request, _| match request.headers.get("range") {
        None => Reply {
            cut_after: Some(150_000),
            ..reply(200, &served)
        },
        Some(range) => {
            let start: usize = range
                .trim_start_matches("bytes=")
                .trim_end_matches('-')
                .parse()
                .unwrap();
            reply(206, &served[start..]).header(
                "Content-Range",
                &format!("bytes {start}-{}/{}", served.len() - 1, served.len()),
            )
        }
    });
    let mut reader = client()
        .fetch_blob(&fake.reference("app:1"), &sha(&blob), blob.len() as u64)
        .unwrap();
    let mut got = Vec::new();
    reader.read_to_end(&mut got).unwrap();
    assert!(got == blob, "resumed blob differs");
    assert_eq!(reader.resumes(), 1);
    let ranges: Vec<_> = fake
        .requests()
        .iter()
        .filter_map(|r| r.headers.get("range").cloned())
        .collect();
    assert_eq!(ranges, ["bytes=150000-"]);
}

#[test]
fn a_registry_that_ignores_range_is_skipped_ahead() {
    let blob = vec![7u8; 50_000];
    let served = blob.clone();
    let fake = Fake::start(move |_, n| Reply {
        cut_after: (n == 1).then_some(20_000),
        ..reply(200, &served)
    });
    let mut got = Vec::new();
    client()
        .fetch_blob(&fake.reference("app:1"), &sha(&blob), blob.len() as u64)
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert_eq!(got.len(), blob.len());
}

#[test]
fn a_blob_longer_than_its_descriptor_is_refused() {
    let fake = Fake::start(|_, _| reply(200, &[1u8; 1000]));
    let mut got = Vec::new();
    let err = client()
        .fetch_blob(&fake.reference("app:1"), &sha(b"x"), 10)
        .unwrap()
        .read_to_end(&mut got)
        .unwrap_err();
    assert!(
        err.to_string().contains("larger than the 10 bytes"),
        "{err}"
    );
}

#[test]
fn bearer_tokens_are_fetched_from_the_realm_with_credentials() {
    let port = Arc::new(Mutex::new(0u16));
    let realm_port = port.clone();
    let fake = Fake::start(move |request, _| {
        let realm = format!("http://127.0.0.1:{}/token", realm_port.lock().unwrap());
        if request.path.starts_with("/token") {
            // "ci:pw" in basic auth, as a token server would check.
            return match request.headers.get("authorization").map(String::as_str) {
                Some("Basic Y2k6cHc=") => reply(200, br#"{"access_token":"t0k"}"#),
                _ => reply(401, b"{}"),
            };
        }
        match request.headers.get("authorization").map(String::as_str) {
            Some("Bearer t0k") => reply(200, MANIFEST.as_bytes()),
            _ => reply(401, b"").header(
                "WWW-Authenticate",
                &format!(r#"Bearer realm="{realm}",service="fake registry",scope="repository:team/app:pull""#),
            ),
        }
    });
    *port.lock().unwrap() = fake.port;

    let mut credentials = Credentials::none();
    credentials.insert(
        &format!("127.0.0.1:{}", fake.port),
        registry::Basic {
            username: "ci".into(),
            password: "pw".into(),
        },
    );
    let client = Client::new(ClientConfig {
        credentials,
        ..ClientConfig::default()
    });
    client
        .fetch_manifest(&fake.reference("team/app:1"))
        .unwrap();
    let token_request = fake
        .requests()
        .into_iter()
        .find(|r| r.path.starts_with("/token"))
        .unwrap();
    assert!(
        token_request
            .path
            .contains("scope=repository%3Ateam%2Fapp%3Apull"),
        "{}",
        token_request.path
    );
    assert!(
        token_request.path.contains("service=fake%20registry")
            || token_request.path.contains("service=fake+registry"),
        "{}",
        token_request.path
    );

    // A second request reuses the token.
    let before = fake.requests().len();
    client
        .fetch_manifest(&fake.reference("team/app:1"))
        .unwrap();
    assert_eq!(fake.requests().len(), before + 1);

    // Without credentials the token server refuses, and the error says what to do.
    let err = Client::new(ClientConfig::default())
        .fetch_manifest(&fake.reference("team/app:1"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("requires authentication") && err.contains("login"),
        "{err}"
    );
}

#[test]
fn forbidden_missing_and_tampered_manifests_say_what_is_wrong() {
    let fake = Fake::start(|request, _| {
        if request.path.contains("/denied/") {
            reply(
                403,
                br#"{"errors":[{"code":"DENIED","message":"no pull access"}]}"#,
            )
        } else if request.path.contains("/missing/") {
            reply(
                404,
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
            )
        } else if request.path.contains("/huge/") {
            reply(200, &vec![b' '; 5 << 20])
        } else {
            reply(200, MANIFEST.as_bytes())
        }
    });
    let err = client()
        .fetch_manifest(&fake.reference("denied/app:1"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("denied") && err.contains("no pull access"),
        "{err}"
    );
    let err = client()
        .fetch_manifest(&fake.reference("missing/app:1"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not found") && err.contains("MANIFEST_UNKNOWN"),
        "{err}"
    );
    let err = client()
        .fetch_manifest(&fake.reference("huge/app:1"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("larger than"), "{err}");
    let pinned = format!("ok/app@{}", sha(b"something else"));
    let err = client()
        .fetch_manifest(&fake.reference(&pinned))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not the") && err.contains("altered"), "{err}");
}

/// A client following a registries.conf with `text`.
fn client_with_conf(text: &str) -> Client {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registries.conf");
    std::fs::write(&path, text).unwrap();
    Client::new(ClientConfig {
        registries: RegistriesConf::from_files(&[path]).unwrap(),
        ..ClientConfig::default()
    })
}

fn serves_manifest_and_blob(blob: &'static [u8]) -> Fake {
    Fake::start(move |request, _| {
        if request.path.contains("/blobs/") {
            reply(200, blob)
        } else {
            reply(200, MANIFEST.as_bytes())
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        }
    })
}

#[test]
fn a_mirror_serves_pulls_in_place_of_the_origin() {
    const BLOB: &[u8] = b"layer bytes";
    let mirror = serves_manifest_and_blob(BLOB);
    let origin = serves_manifest_and_blob(BLOB);
    let client = client_with_conf(&format!(
        "[[registry]]\nprefix = \"127.0.0.1:{origin}/team\"\nlocation = \"127.0.0.1:{origin}/team\"\n\
         [[registry.mirror]]\nlocation = \"127.0.0.1:{mirror}/cache/team\"\n",
        origin = origin.port,
        mirror = mirror.port
    ));
    let reference = origin.reference("team/app:1");
    assert_eq!(
        client.fetch_manifest(&reference).unwrap().bytes,
        MANIFEST.as_bytes()
    );
    let mut bytes = Vec::new();
    client
        .fetch_blob(&reference, &sha(BLOB), BLOB.len() as u64)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    assert_eq!(bytes, BLOB);
    let paths: Vec<String> = mirror.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/v2/cache/team/app/manifests/1".to_owned(),
            format!("/v2/cache/team/app/blobs/{}", sha(BLOB))
        ]
    );
    assert!(origin.requests().is_empty(), "{:?}", origin.requests());
}

#[test]
fn the_origin_answers_when_a_mirror_lacks_the_image_or_is_down() {
    let origin = serves_manifest_and_blob(b"");
    let empty_mirror = Fake::start(|_, _| reply(404, b"{}"));
    // Nothing listens on a port just given back.
    let down = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = client_with_conf(&format!(
        "[[registry]]\nlocation = \"127.0.0.1:{origin}\"\n\
         [[registry.mirror]]\nlocation = \"127.0.0.1:{down}\"\n\
         [[registry.mirror]]\nlocation = \"127.0.0.1:{empty}\"\n",
        origin = origin.port,
        empty = empty_mirror.port
    ));
    for _ in 0..2 {
        client.fetch_manifest(&origin.reference("app:1")).unwrap();
    }
    assert_eq!(origin.requests().len(), 2);
    // The empty mirror is asked each time; the dead one was given up on.
    assert_eq!(empty_mirror.requests().len(), 2);
}

#[test]
fn a_blocked_registry_is_refused_before_any_request() {
    let origin = serves_manifest_and_blob(b"");
    let client = client_with_conf(&format!(
        "[[registry]]\nlocation = \"127.0.0.1:{}\"\nblocked = true\n",
        origin.port
    ));
    let err = client
        .fetch_manifest(&origin.reference("app:1"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("blocked"), "{err}");
    assert!(origin.requests().is_empty());
}
