//! Container paths resolved against a working directory, lexically, the
//! way a chroot sees them.

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
}
