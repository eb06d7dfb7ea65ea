//! Paths users give: container paths resolved against the working directory,
//! directory-relative paths that must stay inside their directory.

use crate::Error;

/// Lexically normalises `path` against `base` (both absolute container
/// paths). `..` above the root stays at the root, as in a chroot.
pub(crate) fn in_container(base: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{base}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `path` inside the directory rooted at `root`: relative (a leading `/` means
/// the directory's root), and never above it.
pub(crate) fn in_directory(root: &str, path: &str, operation: &str) -> Result<String, Error> {
    let mut depth = 0usize;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if depth == 0 => {
                return Err(Error::PathEscapes {
                    operation: operation.to_owned(),
                    path: path.to_owned(),
                })
            }
            ".." => depth -= 1,
            _ => depth += 1,
        }
    }
    Ok(in_container(root, path.trim_start_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_resolve_against_the_workdir_and_clamp_at_root() {
        assert_eq!(in_container("/src", "a/b"), "/src/a/b");
        assert_eq!(in_container("/src", "/etc/x"), "/etc/x");
        assert_eq!(in_container("/src", "../x"), "/x");
        assert_eq!(in_container("/", "../../x"), "/x");
        assert_eq!(in_container("/", "."), "/");
    }

    #[test]
    fn directory_paths_may_not_escape() {
        assert_eq!(
            in_directory("/out", "a/./b", "withFile").unwrap(),
            "/out/a/b"
        );
        assert_eq!(
            in_directory("/out", "a/../b", "withFile").unwrap(),
            "/out/b"
        );
        assert_eq!(in_directory("/", "/a", "withFile").unwrap(), "/a");
        let error = in_directory("/out", "../etc/passwd", "withFile").unwrap_err();
        assert!(error.to_string().contains("../etc/passwd"), "{error}");
        assert!(in_directory("/out", "a/../../b", "withFile").is_err());
    }
}
