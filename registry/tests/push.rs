//! Pushing against an in-process registry that misbehaves on cue: server
//! errors mid-upload, connections cut mid-chunk, blobs it already has,
//! relative and absolute upload locations. (Pushing a whole image to the
//! real registry server is tested in `integration/tests/end_to_end/publish.rs`.)

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use registry::{BlobPush, Client, ClientConfig, Error, Reference, CHUNK_BYTES};
use sha2::{Digest as _, Sha256};

/// What the fake does with one request, decided by the test.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// Answer 500 instead of doing anything.
    ServerError,
    /// Read half the body, keep it, and hang up without answering.
    CutMidBody,
}

#[derive(Default)]
struct State {
    uploads: HashMap<String, Vec<u8>>,
    blobs: HashMap<String, Vec<u8>>,
    manifests: HashMap<String, Vec<u8>>,
    /// `METHOD path` of every request, in order.
    log: Vec<String>,
    next_upload: usize,
}

struct Fake {
    port: u16,
    state: Arc<Mutex<State>>,
}

type Decide = dyn Fn(&str, &str, usize) -> Fault + Send + Sync;

impl Fake {
    /// `decide(method, path, request number)` picks a fault per request;
    /// `absolute` makes upload locations absolute URLs.
    fn start(
        absolute: bool,
        decide: impl Fn(&str, &str, usize) -> Fault + Send + Sync + 'static,
    ) -> Fake {
        Fake::start_with(absolute, false, decide)
    }

    /// With `bearer`, the registry wants a token that may push, from its
    /// own `/token` realm.
    fn start_with(
        absolute: bool,
        bearer: bool,
        decide: impl Fn(&str, &str, usize) -> Fault + Send + Sync + 'static,
    ) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let decide: Arc<Decide> = Arc::new(decide);
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (state, decide) = (shared.clone(), decide.clone());
                std::thread::spawn(move || serve(stream, &state, &*decide, port, absolute, bearer));
            }
        });
        Fake { port, state }
    }

    fn reference(&self, name: &str) -> Reference {
        format!("127.0.0.1:{}/{name}", self.port).parse().unwrap()
    }

    fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}

fn serve(
    stream: TcpStream,
    state: &Mutex<State>,
    decide: &Decide,
    port: u16,
    absolute: bool,
    bearer: bool,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            return; // not HTTP (the client's TLS probe): hang up
        };
        let (method, target) = (method.to_owned(), target.to_owned());
        let mut length = 0usize;
        let mut authorization = String::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                break;
            }
            if let Some((name, value)) = header.trim_end().split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
                if name.eq_ignore_ascii_case("authorization") {
                    authorization = value.trim().to_owned();
                }
            }
        }
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let query: HashMap<&str, &str> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let number = {
            let mut state = state.lock().unwrap();
            state.log.push(format!("{method} {path}"));
            state.log.len() - 1
        };
        let fault = decide(&method, path, number);
        let mut body = vec![0u8; length];
        if fault == Fault::CutMidBody {
            let half = length / 2;
            reader.read_exact(&mut body[..half]).unwrap();
            let id = path.rsplit('/').next().unwrap().to_owned();
            if let Some(upload) = state.lock().unwrap().uploads.get_mut(&id) {
                upload.extend_from_slice(&body[..half]);
            }
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
        reader.read_exact(&mut body).unwrap();
        let (status, headers, reply) = if path == "/token" {
            // Only a token asked for with push in its scope may push.
            let push = query.get("scope").is_some_and(|s| s.contains("push"));
            let token = if push { "tok-push" } else { "tok-pull" };
            (200, Vec::new(), format!(r#"{{"token":"{token}"}}"#))
        } else if bearer && authorization != "Bearer tok-push" {
            let challenge = format!(
                r#"Bearer realm="http://127.0.0.1:{port}/token",service="fake",scope="repository:app:pull,push""#
            );
            (
                401,
                vec![("WWW-Authenticate".to_owned(), challenge)],
                String::new(),
            )
        } else if fault == Fault::ServerError {
            (500, Vec::new(), String::new())
        } else {
            let (status, headers) = handle(state, &method, path, &query, body, port, absolute);
            (status, headers, String::new())
        };
        let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", reply.len());
        for (name, value) in headers {
            head += &format!("{name}: {value}\r\n");
        }
        head += "\r\n";
        head += &reply;
        let mut out = &stream;
        if out.write_all(head.as_bytes()).is_err() {
            return;
        }
    }
}

fn handle(
    state: &Mutex<State>,
    method: &str,
    path: &str,
    query: &HashMap<&str, &str>,
    body: Vec<u8>,
    port: u16,
    absolute: bool,
) -> (u16, Vec<(String, String)>) {
    let mut state = state.lock().unwrap();
    let location = |id: &str| {
        let path = format!("/v2/app/blobs/uploads/{id}");
        if absolute {
            format!("http://127.0.0.1:{port}{path}")
        } else {
            path
        }
    };
    let range = |len: usize| ("Range".to_owned(), format!("0-{}", len.max(1) - 1));
    match method {
        "HEAD" if path.contains("/blobs/") => {
            let digest = path.rsplit('/').next().unwrap();
            (
                if state.blobs.contains_key(digest) {
                    200
                } else {
                    404
                },
                vec![],
            )
        }
        "POST" => {
            if let (Some(digest), Some(_)) = (query.get("mount"), query.get("from")) {
                if state.blobs.contains_key(*digest) {
                    return (201, vec![]);
                }
            }
            state.next_upload += 1;
            let id = format!("u{}", state.next_upload);
            state.uploads.insert(id.clone(), Vec::new());
            (202, vec![("Location".into(), location(&id))])
        }
        "PATCH" => {
            let id = path.rsplit('/').next().unwrap().to_owned();
            let upload = state.uploads.get_mut(&id).expect("a known upload");
            upload.extend_from_slice(&body);
            let len = upload.len();
            (202, vec![("Location".into(), location(&id)), range(len)])
        }
        "GET" if path.contains("/uploads/") => {
            let id = path.rsplit('/').next().unwrap().to_owned();
            let len = state.uploads[&id].len();
            (204, vec![("Location".into(), location(&id)), range(len)])
        }
        "PUT" if path.contains("/uploads/") => {
            let id = path.rsplit('/').next().unwrap().to_owned();
            let mut data = state.uploads.remove(&id).expect("a known upload");
            data.extend_from_slice(&body);
            let digest = query["digest"].replace("%3A", ":");
            if sha(&data) != digest {
                return (400, vec![]);
            }
            state.blobs.insert(digest, data);
            (201, vec![])
        }
        "PUT" if path.contains("/manifests/") => {
            let tag = path.rsplit('/').next().unwrap().to_owned();
            state.manifests.insert(tag, body);
            (201, vec![])
        }
        _ => (404, vec![]),
    }
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn client() -> Client {
    Client::new(ClientConfig::default())
}

/// A blob in a temp file, as the content store holds them.
fn blob_file(size: usize) -> (tempfile::NamedTempFile, String, Vec<u8>) {
    let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&data).unwrap();
    (file, sha(&data), data)
}

#[test]
fn a_server_error_mid_upload_starts_the_upload_over() {
    // The first PUT of data fails with 500; so does one with an absolute
    // location.
    for absolute in [false, true] {
        let fake = Fake::start(absolute, |method, path, _| {
            if method == "PUT" && path.ends_with("/u1") {
                Fault::ServerError
            } else {
                Fault::None
            }
        });
        let (file, digest, data) = blob_file(1000);
        let reference = fake.reference("app:v1");
        let pushed = client()
            .push_blob(&reference, &digest, 1000, file.path(), None)
            .unwrap();
        assert_eq!(pushed, BlobPush::Uploaded);
        assert_eq!(fake.state.lock().unwrap().blobs[&digest], data);
        let posts = fake.log().iter().filter(|l| l.starts_with("POST")).count();
        assert_eq!(posts, 2, "a new upload session after the failure");
    }
}

#[test]
fn a_connection_cut_mid_chunk_resumes_where_the_registry_stands() {
    // The second chunk of a large blob is cut half way.
    let fake = Fake::start(false, |method, _, _| {
        static PATCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        if method == "PATCH" && PATCHES.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            Fault::CutMidBody
        } else {
            Fault::None
        }
    });
    let size = CHUNK_BYTES as usize * 2 + 1234;
    let (file, digest, data) = blob_file(size);
    let reference = fake.reference("app:v1");
    client()
        .push_blob(&reference, &digest, size as u64, file.path(), None)
        .unwrap();
    assert!(
        fake.state.lock().unwrap().blobs[&digest] == data,
        "the blob arrived whole"
    );
    let log = fake.log();
    assert_eq!(
        log.iter().filter(|l| l.starts_with("POST")).count(),
        1,
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("GET /v2/app/blobs/uploads/")),
        "{log:?}"
    );
}

#[test]
fn blobs_the_registry_has_are_not_sent_and_mounts_are_asked_for() {
    let fake = Fake::start(false, |_, _, _| Fault::None);
    let (file, digest, data) = blob_file(100);
    fake.state
        .lock()
        .unwrap()
        .blobs
        .insert(digest.clone(), data);
    let reference = fake.reference("app:v1");
    let pushed = client()
        .push_blob(&reference, &digest, 100, file.path(), Some("base"))
        .unwrap();
    assert_eq!(pushed, BlobPush::Exists);
    assert_eq!(fake.log(), [format!("HEAD /v2/app/blobs/{digest}")]);
    assert!(client().mount_blob(&reference, &digest, "base").unwrap());
}

#[test]
fn a_registry_that_keeps_failing_gives_up_and_no_manifest_is_sent() {
    let fake = Fake::start(false, |method, _, _| {
        if method == "PUT" {
            Fault::ServerError
        } else {
            Fault::None
        }
    });
    let (file, digest, _) = blob_file(100);
    let reference = fake.reference("app:v1");
    let error = client()
        .push_blob(&reference, &digest, 100, file.path(), None)
        .unwrap_err();
    assert!(
        matches!(error, Error::GaveUp { status: 500, .. }),
        "{error}"
    );
    assert!(fake.state.lock().unwrap().manifests.is_empty());
}

#[test]
fn a_bearer_registry_gets_a_token_that_may_push() {
    let fake = Fake::start_with(false, true, |_, _, _| Fault::None);
    let (file, digest, data) = blob_file(100);
    let reference = fake.reference("app:v1");
    let client = client();
    client
        .push_blob(&reference, &digest, 100, file.path(), None)
        .unwrap();
    client
        .push_manifest(
            &reference,
            "application/vnd.oci.image.manifest.v1+json",
            b"{}",
        )
        .unwrap();
    let state = fake.state.lock().unwrap();
    assert_eq!(state.blobs[&digest], data);
    assert_eq!(state.manifests["v1"], b"{}");
}
