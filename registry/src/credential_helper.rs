//! Docker's credential helpers: `docker-credential-<name> get`, the server's
//! name on stdin, `{"ServerURL","Username","Secret"}` on stdout. They are how
//! ECR, GCR and ACR logins (and desktop keychains) hand out passwords; the
//! docker config names them in `credsStore` (every registry) and
//! `credHelpers` (one registry each).

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::auth::Basic;
use crate::Error;

/// What helpers print when they hold nothing for the server: not an error,
/// just no credentials (docker-credential-helpers' `ErrCredentialsNotFound`).
const NOT_FOUND: &str = "credentials not found in native keychain";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    #[serde(default)]
    username: String,
    #[serde(default)]
    secret: String,
}

/// Asks `helper` (the name after `docker-credential-`) for `registry`'s
/// credentials. `Ok(None)`: the helper has none.
pub(crate) fn get(helper: &str, registry: &str) -> Result<Option<Basic>, Error> {
    ask(&format!("docker-credential-{helper}"), registry)
}

/// [`get`] with the program named whole (found in PATH unless a path).
fn ask(program: &str, registry: &str) -> Result<Option<Basic>, Error> {
    let failed = |detail: String| Error::CredentialHelper {
        program: program.to_owned(),
        registry: registry.to_owned(),
        detail,
    };
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => failed(
                "it is not in PATH; install it, or remove it from credsStore/credHelpers in the \
                 docker config"
                    .into(),
            ),
            _ => failed(format!("it cannot be started ({e})")),
        })?;
    let server = server_url(registry);
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its answer.
        let _ = stdin.write_all(server.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| failed(format!("waiting for it failed ({e})")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        if stdout.trim() == NOT_FOUND {
            return Ok(None);
        }
        // Failures print a message, never the secret (only a success does).
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = [stdout.trim(), stderr.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" / ");
        return Err(failed(format!(
            "it failed ({}){}",
            output.status,
            if said.is_empty() {
                String::new()
            } else {
                format!(": {}", truncate(&said))
            }
        )));
    }
    let answer: Answer = serde_json::from_slice(&output.stdout)
        .map_err(|e| failed(format!("its answer is not the expected JSON ({e})")))?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Basic {
        username: answer.username,
        password: answer.secret,
    }))
}

/// The server name docker hands helpers: Docker Hub by its legacy URL,
/// others by host.
fn server_url(registry: &str) -> String {
    if registry == "docker.io" {
        "https://index.docker.io/v1/".into()
    } else {
        registry.to_owned()
    }
}

fn truncate(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn helper(dir: &std::path::Path, name: &str, script: &str) -> String {
        let path = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    }

    #[test]
    fn helpers_answer_for_the_server_they_are_asked_about() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let test = helper(
            dir,
            "test",
            r#"read server; [ "$1" = get ] || exit 3
               echo "{\"ServerURL\":\"$server\",\"Username\":\"u-$server\",\"Secret\":\"s3cret\"}""#,
        );
        let basic = ask(&test, "127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(basic.username, "u-127.0.0.1:5000");
        assert_eq!(basic.password, "s3cret");
        let hub = ask(&test, "docker.io").unwrap().unwrap();
        assert_eq!(hub.username, "u-https://index.docker.io/v1/");

        let empty = helper(
            dir,
            "empty",
            "echo 'credentials not found in native keychain'; exit 1",
        );
        assert!(ask(&empty, "reg.lan").unwrap().is_none());
        let broken = helper(dir, "broken", "echo 'keychain locked' >&2; exit 2");
        let broken = ask(&broken, "reg.lan").unwrap_err().to_string();
        assert!(
            broken.contains("docker-credential-broken")
                && broken.contains("reg.lan")
                && broken.contains("keychain locked"),
            "{broken}"
        );
        let garbage = helper(dir, "garbage", "echo nope");
        let garbage = ask(&garbage, "reg.lan").unwrap_err().to_string();
        assert!(garbage.contains("JSON"), "{garbage}");
        let missing = get("tanto-absent-helper", "reg.lan")
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("docker-credential-tanto-absent-helper")
                && missing.contains("not in PATH"),
            "{missing}"
        );
    }
}
