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
pub(crate) fn in_directory(
    root: &ContainerPath,
    path: &str,
    operation: &str,
) -> Result<ContainerPath, Error> {
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
    Ok(root.join(path.trim_start_matches('/')))
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
        let out = ContainerPath::known("/out");
        let inside =
            |path| in_directory(&out, path, "withFile").map(|p| p.as_known().unwrap().to_owned());
        assert_eq!(inside("a/./b").unwrap(), "/out/a/b");
        assert_eq!(inside("a/../b").unwrap(), "/out/b");
        assert_eq!(inside("/a").unwrap(), "/out/a");
        let error = inside("../etc/passwd").unwrap_err();
        assert!(error.to_string().contains("../etc/passwd"), "{error}");
        assert!(inside("a/../../b").is_err());
    }
}

/// A path in a container as the user gave it. A relative path is relative to
/// the working directory, which may come from the image's config: `from` is
/// lazy, so such a path is only resolved when the DAG is solved.
#[derive(Clone)]
pub(crate) enum ContainerPath {
    Known(String),
    OnImage {
        image: std::sync::Arc<crate::node::Node>,
        edits: Vec<crate::node::ConfigEdit>,
        path: String,
    },
}

impl ContainerPath {
    pub fn known(path: &str) -> ContainerPath {
        ContainerPath::Known(in_container("/", path))
    }

    /// `path` under this one; `path` is relative (checked by the caller).
    pub fn join(&self, path: &str) -> ContainerPath {
        match self {
            ContainerPath::Known(base) => ContainerPath::Known(in_container(base, path)),
            ContainerPath::OnImage {
                image,
                edits,
                path: base,
            } => ContainerPath::OnImage {
                image: std::sync::Arc::clone(image),
                edits: edits.clone(),
                path: format!("{base}/{path}"),
            },
        }
    }

    /// Whether both name the same path for sure, or as given.
    pub fn same_as(&self, other: &ContainerPath) -> bool {
        match (self, other) {
            (ContainerPath::Known(a), ContainerPath::Known(b)) => a == b,
            (ContainerPath::OnImage { path: a, .. }, ContainerPath::OnImage { path: b, .. }) => {
                in_container("/", a) == in_container("/", b)
            }
            _ => false,
        }
    }

    /// The path as given (absolute once known).
    pub fn raw(&self) -> &str {
        match self {
            ContainerPath::Known(path) | ContainerPath::OnImage { path, .. } => path,
        }
    }

    pub fn as_known(&self) -> Option<&str> {
        match self {
            ContainerPath::Known(path) => Some(path),
            ContainerPath::OnImage { .. } => None,
        }
    }

    /// The absolute path, resolving the image's config when needed.
    pub async fn resolve(
        &self,
        engine: &std::sync::Arc<crate::session::Inner>,
    ) -> Result<String, Error> {
        match self {
            ContainerPath::Known(path) => Ok(path.clone()),
            ContainerPath::OnImage { image, edits, path } => {
                let image = crate::solve::solve(engine, image).await?;
                let settings = image
                    .settings
                    .map(|s| (*s).clone())
                    .unwrap_or_default()
                    .apply(edits);
                Ok(in_container(&settings.workdir_or_root(), path))
            }
        }
    }
}
