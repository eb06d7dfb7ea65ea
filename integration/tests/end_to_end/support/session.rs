//! A session served by `tanto session`, driven over HTTP as an SDK drives it.

use std::io::{BufRead as _, Write as _};
use std::process::Stdio;

use super::tanto::Tanto;

/// A session, driven over HTTP as an SDK would: it prints its address,
/// answers queries, and ends when its standard input closes.
/// Dropped without [`Session::end`], it is ended all the same.
pub struct Session {
    pub child: std::process::Child,
    pub port: u16,
    pub token: String,
    pub url: String,
    pub auth: String,
}

impl Session {
    pub fn start(tanto: &Tanto) -> Session {
        Session::start_with(tanto, &["--progress=plain", "session"])
    }

    pub fn start_with(tanto: &Tanto, args: &[&str]) -> Session {
        Session::start_program(tanto, super::tanto::binary(), args)
    }

    /// A session of `program` (a tanto binary, e.g. a release build).
    pub fn start_program(tanto: &Tanto, program: &std::path::Path, args: &[&str]) -> Session {
        let mut child = tanto
            .command_for(program, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let hello: serde_json::Value = serde_json::from_str(&line).unwrap();
        let token = hello["session_token"].as_str().unwrap();
        let auth = {
            use base64::Engine as _;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{token}:"))
            )
        };
        let port = hello["port"].as_u64().unwrap() as u16;
        Session {
            child,
            port,
            token: token.to_owned(),
            url: format!("http://127.0.0.1:{port}/query"),
            auth,
        }
    }

    /// The JSON answer to one GraphQL document.
    pub fn ask(&self, query: &str) -> serde_json::Value {
        self.post(&serde_json::json!({ "query": query }).to_string())
            .1
    }

    /// Posts a raw request `body` with the token; the HTTP status and the
    /// JSON answer (which every answer must be, refusals included).
    pub fn post(&self, body: &str) -> (u16, serde_json::Value) {
        let sent = ureq::post(&self.url)
            .timeout(std::time::Duration::from_secs(300))
            .set("Authorization", &self.auth)
            .set("Content-Type", "application/json")
            .send_string(body);
        let response = match sent {
            // GraphQL errors and refusals may come with an error status.
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(other) => panic!("{other}"),
        };
        let status = response.status();
        assert_eq!(response.content_type(), "application/json");
        let text = response.into_string().unwrap();
        let answer = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        (status, answer)
    }

    /// Ends it; what it said on stderr.
    pub fn end(mut self) -> String {
        let mut stdin = self.child.stdin.take().unwrap();
        let _ = stdin.flush();
        drop(stdin);
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            std::io::Read::read_to_string(&mut pipe, &mut stderr).unwrap();
        }
        assert!(self.child.wait().unwrap().success(), "{stderr}");
        stderr
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
