//! Secret providers: the value a secret URI names (Dagger's
//! `secret("env://TOKEN")`), read where tanto runs, as the Dagger CLI
//! reads them on the client's side.
//!
//! Only `env://`, `file://` and `cmd://` are read; any other scheme
//! (`vault://`, `op://`, …) is refused by name rather than guessed at.
//! Errors name the URI's variable, path or command, never the value; a
//! command's own output is not repeated, since it may hold the value.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::Error;

/// The value `uri` names. Relative `file://` paths and `cmd://` commands
/// start in `workdir`; `~/` is the user's home.
pub(crate) fn read(uri: &str, workdir: &Path) -> Result<Vec<u8>, Error> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        // The whole URI is not repeated: a value passed by mistake for a
        // URI is the secret itself.
        return Err(Error::SecretUri);
    };
    match scheme {
        "env" => read_env(rest),
        "file" => read_file(rest, workdir),
        "cmd" => run_command(rest, workdir),
        _ => Err(Error::SecretScheme {
            scheme: scheme.to_owned(),
        }),
    }
}

fn read_env(name: &str) -> Result<Vec<u8>, Error> {
    use std::os::unix::ffi::OsStringExt;
    std::env::var_os(name)
        .map(OsStringExt::into_vec)
        .ok_or_else(|| Error::SecretEnvUnset {
            name: name.to_owned(),
        })
}

fn read_file(path: &str, workdir: &Path) -> Result<Vec<u8>, Error> {
    let path = expand_home(path);
    let path = workdir.join(path);
    std::fs::read(&path).map_err(|source| Error::SecretFile { path, source })
}

/// `~/x` under `$HOME`, as the Dagger CLI expands it.
fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// The standard output of `sh -c COMMAND`; its stderr goes to tanto's.
fn run_command(command: &str, workdir: &Path) -> Result<Vec<u8>, Error> {
    let failed = |detail: String| Error::SecretCommand {
        command: command.to_owned(),
        detail,
    };
    let output = Command::new("sh")
        .args(["-c", command])
        .current_dir(workdir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| failed(format!("cannot start sh: {e}")))?;
    if !output.status.success() {
        return Err(failed(format!("it ended with {}", output.status)));
    }
    Ok(output.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_and_cmd_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "from a file").unwrap();
        std::env::set_var("TANTO_SECRET_URI_TEST", "from env");
        assert_eq!(
            read("env://TANTO_SECRET_URI_TEST", dir.path()).unwrap(),
            b"from env"
        );
        assert_eq!(read("file://token", dir.path()).unwrap(), b"from a file");
        let absolute = format!("file://{}", dir.path().join("token").display());
        assert_eq!(read(&absolute, Path::new("/")).unwrap(), b"from a file");
        assert_eq!(
            read("cmd://cat token; echo more", dir.path()).unwrap(),
            b"from a filemore\n"
        );
    }

    #[test]
    fn failures_name_the_variable_path_command_or_scheme_never_a_value() {
        let dir = tempfile::tempdir().unwrap();
        let unset = read("env://TANTO_SECRET_URI_UNSET", dir.path()).unwrap_err();
        assert!(
            unset.to_string().contains("TANTO_SECRET_URI_UNSET"),
            "{unset}"
        );
        let missing = read("file://nope", dir.path()).unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
        let failed = read("cmd://echo hunter2; exit 3", dir.path()).unwrap_err();
        let message = failed.to_string();
        assert!(message.contains("exit status: 3"), "{message}");
        let vault = read("vault://kv/token", dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            vault.contains("vault://") && vault.contains(crate::error::SECRET_URI_SCHEMES),
            "{vault}"
        );
        let bare = read("hunter2", dir.path()).unwrap_err().to_string();
        assert!(
            !bare.contains("hunter2") && bare.contains(crate::error::SECRET_URI_SCHEMES),
            "{bare}"
        );
    }
}
