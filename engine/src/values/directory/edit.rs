//! A directory's changes beyond a single file or directory: several files
//! at once, symlinks, owners, timestamps, filtering, and diffs.

use std::sync::Arc;

use super::{Directory, File};
use crate::node::{Change, ContainerPath, Node, Op};

impl Directory {
    /// Copies each file into `path` under its own name (`withFiles`).
    pub fn with_files(&self, path: &str, sources: &[File], permissions: Option<u32>) -> Directory {
        let dir = path.trim_end_matches('/');
        sources.iter().fold(self.clone(), |out, file| {
            out.with_file(&format!("{dir}/{}", file.name()), file, permissions)
        })
    }

    /// Removes each path; a missing one is not an error (`withoutFiles`).
    pub fn without_files(&self, paths: &[&str]) -> Directory {
        paths
            .iter()
            .fold(self.clone(), |out, path| out.without(path, "withoutFiles"))
    }

    /// A symlink at `link_name` pointing to `target`, kept as given.
    pub fn with_symlink(&self, target: &str, link_name: &str) -> Directory {
        match self.inside(link_name, "withSymlink") {
            Ok(link) => self.with_change(
                Change::Symlink {
                    target: target.to_owned(),
                    link,
                },
                format!("withSymlink {link_name} -> {target}"),
            ),
            Err(error) => self.poisoned(error),
        }
    }

    /// Every entry, this directory included, with mtime `seconds`.
    pub fn with_timestamps(&self, seconds: i64) -> Directory {
        self.with_change(
            Change::Timestamps {
                path: self.subpath.clone(),
                seconds,
            },
            format!("withTimestamps {seconds}"),
        )
    }

    /// Every entry of `path`, itself included, owned by `owner`
    /// (`user[:group]`, ids or names of this tree's `/etc/passwd` and
    /// `/etc/group`).
    pub fn chown(&self, path: &str, owner: &str) -> Directory {
        match self.inside(path, "chown") {
            Ok(path) => self.with_change(
                Change::Chown {
                    path,
                    owner: owner.to_owned(),
                },
                format!("chown {owner}"),
            ),
            Err(error) => self.poisoned(error),
        }
    }

    /// `patch`, a unified diff (`git diff`), applied; a hunk whose
    /// context is not found fails when the directory is used.
    pub fn with_patch(&self, patch: &str) -> Directory {
        self.with_change(
            Change::Patch {
                root: self.subpath.clone(),
                patch: patch.to_owned(),
            },
            "withPatch".to_owned(),
        )
    }

    /// Only what the patterns take, copied into a new directory.
    pub fn filter(&self, include: &[&str], exclude: &[&str]) -> Directory {
        Directory::new(
            Arc::clone(&self.ctx),
            Node::scratch(),
            ContainerPath::known("/"),
        )
        .with_directory("/", self, include, exclude)
    }

    /// What `other` has that this directory lacks or has otherwise: new
    /// and changed entries (never mtimes alone), not removals.
    pub fn diff(&self, other: &Directory) -> Directory {
        Directory::new(
            Arc::clone(&self.ctx),
            Node::new(
                Op::Diff {
                    lower: Arc::clone(&self.node),
                    lower_path: self.subpath.clone(),
                    upper: Arc::clone(&other.node),
                    upper_path: other.subpath.clone(),
                },
                "diff",
            ),
            ContainerPath::known("/"),
        )
    }
}

impl File {
    /// The file with mtime `seconds`.
    pub fn with_timestamps(&self, seconds: i64) -> File {
        self.with_change(
            Change::Timestamps {
                path: self.path.clone(),
                seconds,
            },
            format!("withTimestamps {seconds}"),
        )
    }

    /// The file owned by `owner` (`user[:group]`, as `Directory::chown`).
    pub fn chown(&self, owner: &str) -> File {
        self.with_change(
            Change::Chown {
                path: self.path.clone(),
                owner: owner.to_owned(),
            },
            format!("chown {owner}"),
        )
    }

    /// The file with `search` (literal) replaced: the one match, every
    /// one with `all`, or the first at or after line `first_from`; no
    /// match, or several without either, fails when used.
    pub fn with_replaced(
        &self,
        search: &str,
        replacement: &str,
        all: bool,
        first_from: Option<u32>,
    ) -> File {
        self.with_change(
            Change::Replace {
                path: self.path.clone(),
                search: search.to_owned(),
                replacement: replacement.to_owned(),
                all,
                first_from,
            },
            format!("withReplaced {search:?}"),
        )
    }

    fn with_change(&self, change: Change, name: String) -> File {
        File::new(
            Arc::clone(&self.ctx),
            Node::new(
                Op::Layer {
                    base: Arc::clone(&self.node),
                    change,
                },
                name,
            ),
            self.path.clone(),
        )
    }
}
