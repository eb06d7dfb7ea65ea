//! Questions about a directory's or file's entries that read the tree
//! without changing it: `exists`, `stat`, `name`, `findUp`.

use super::{fs_error, Directory, File};
use crate::error::Error;
use crate::node::in_directory;
use crate::ops::resolve_path;
use crate::solved::blocking;

/// What `stat` says of an entry (Dagger's `Stat`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    pub name: String,
    pub size: u64,
    pub kind: snapshotter::FileKind,
    /// Permission bits, `0o7777` at most.
    pub permissions: u32,
}

impl Directory {
    /// What is at `path`, or `None`; symlinks are followed unless
    /// `no_follow` (then a dangling one exists).
    pub async fn lookup(&self, path: &str, no_follow: bool) -> Result<Option<Stat>, Error> {
        let full = resolve_path(&self.ctx, &in_directory(&self.subpath, path, "stat")?).await?;
        let view = self.solved().await?.view();
        blocking(move || {
            let entry = view.lookup(&full, !no_follow).map_err(fs_error(&full))?;
            Ok(entry.map(|entry| {
                use std::os::unix::fs::MetadataExt;
                Stat {
                    name: full.rsplit('/').next().unwrap_or_default().to_owned(),
                    size: entry.metadata.len(),
                    kind: entry.kind(),
                    permissions: entry.metadata.mode() & 0o7777,
                }
            }))
        })
        .await
    }

    /// `Stat` of `path`; a missing path is an error naming it.
    pub async fn stat(&self, path: &str, no_follow: bool) -> Result<Stat, Error> {
        if path.is_empty() {
            return Err(Error::NotFound {
                path: String::new(),
            });
        }
        self.lookup(path, no_follow)
            .await?
            .ok_or_else(|| Error::NotFound {
                path: path.to_owned(),
            })
    }

    /// The directory's own name with a trailing `/`, or `/` for a root
    /// (Dagger 0.17 and later); it must exist.
    pub async fn name(&self) -> Result<String, Error> {
        let raw = self.subpath.raw().to_owned();
        let stat = self.lookup(".", false).await?;
        match stat {
            Some(stat) if stat.kind == snapshotter::FileKind::Dir => {}
            Some(_) => {
                return Err(Error::FileOp {
                    path: raw.clone(),
                    source: Box::new(snapshotter::Error::NotADirectory { path: raw }),
                })
            }
            None => {
                return Err(Error::NotFound {
                    path: raw.trim_start_matches('/').to_owned(),
                })
            }
        }
        Ok(match raw.trim_end_matches('/').rsplit('/').next() {
            Some(base) if !base.is_empty() => format!("{base}/"),
            _ => "/".to_owned(),
        })
    }

    /// The first `name` found in `start` or the directories above it (up
    /// to this directory's root), as a path relative to this directory.
    pub async fn find_up(&self, name: &str, start: &str) -> Result<Option<String>, Error> {
        if name.is_empty() {
            return Err(Error::EmptyArgument {
                operation: "findUp",
                argument: "name",
            });
        }
        let mut current = normalize(start);
        if current == ".." || current.starts_with("../") {
            return Err(Error::PathEscapes {
                operation: "findUp".to_owned(),
                path: start.to_owned(),
            });
        }
        loop {
            let candidate = if current == "." {
                name.to_owned()
            } else {
                format!("{current}/{name}")
            };
            if self.lookup(&candidate, true).await?.is_some() {
                return Ok(Some(normalize(&candidate)));
            }
            if current == "." {
                return Ok(None);
            }
            current = match current.rsplit_once('/') {
                Some((parent, _)) => parent.to_owned(),
                None => ".".to_owned(),
            };
        }
    }
}

impl File {
    /// `Stat` of the file (symlinks followed).
    pub async fn stat(&self) -> Result<Stat, Error> {
        let dir = Directory::new(self.ctx.clone(), self.node.clone(), self.path.clone());
        let mut stat = dir.stat(".", false).await?;
        stat.name = self.name();
        Ok(stat)
    }
}

/// `path` cleaned as Go's `path.Clean` does for a relative path: `.` for
/// nothing, no empty or `.` parts, `..` folded where it can be.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn paths_clean_as_go_path_clean() {
        assert_eq!(normalize(""), ".");
        assert_eq!(normalize("a/b/"), "a/b");
        assert_eq!(normalize("./a//b/../c"), "a/c");
        assert_eq!(normalize("a/../.."), "..");
    }
}
