//! A session served by `tanto session`, driven over HTTP as an SDK drives it.

use std::io::{BufRead as _, Write as _};
use std::process::Stdio;

use super::tanto::Tanto;

/// A session, driven over HTTP as an SDK would: it prints its address,
/// answers queries, and ends when its standard input closes.
pub struct Session {
    pub child: std::process::Child,
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
        Session {
            child,
            url: format!("http://127.0.0.1:{}/query", hello["port"]),
            auth,
        }
    }

    pub fn ask(&self, query: &str) -> serde_json::Value {
        let body = serde_json::json!({ "query": query }).to_string();
        let sent = ureq::post(&self.url)
            .set("Authorization", &self.auth)
            .set("Content-Type", "application/json")
            .send_string(&body);
        let response = match sent {
            Ok(response) => response,
            // GraphQL errors may come with an error status.
            Err(ureq::Error::Status(_, response)) => response,
            Err(other) => panic!("{other}"),
        };
        serde_json::from_str(&response.into_string().unwrap()).unwrap()
    }

    /// Ends it; what it said on stderr.
    pub fn end(mut self) -> String {
        let mut stdin = self.child.stdin.take().unwrap();
        let _ = stdin.flush();
        drop(stdin);
        let out = self.child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}
