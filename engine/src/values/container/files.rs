//! Container edits of its root file system beyond adding files
//! (`withoutFile`, `withoutDirectory`, `withoutFiles`, `withFiles`,
//! `withSymlink`): each one more layer on the rootfs, paths relative to
//! the working directory, as Directory's are relative to its root.

use std::sync::Arc;

use crate::node::Change;
use crate::values::{Directory, File};

use super::Container;

impl Container {
    /// `source` copied to `path`; with `mode`, every entry below it gets
    /// that mode (a Dockerfile's `COPY --chmod` of a directory).
    pub(crate) fn copy_directory(
        &self,
        path: &str,
        source: &Directory,
        include: &[&str],
        exclude: &[&str],
        mode: Option<u32>,
    ) -> Container {
        self.with_layer(
            Change::Copy {
                source: Arc::clone(&source.node),
                src_path: source.subpath.clone(),
                include: include.iter().map(|s| s.to_string()).collect(),
                exclude: exclude.iter().map(|s| s.to_string()).collect(),
                dest: self.abs(path),
                mode,
            },
            format!("withDirectory {path}"),
        )
    }

    /// Removes `path`; a missing one is not an error, and a `*` removes
    /// what it matches, as in Dagger.
    pub fn without_file(&self, path: &str) -> Container {
        self.without(path, "withoutFile")
    }

    pub fn without_directory(&self, path: &str) -> Container {
        self.without(path, "withoutDirectory")
    }

    pub fn without_files(&self, paths: &[&str]) -> Container {
        paths
            .iter()
            .fold(self.clone(), |out, path| out.without(path, "withoutFiles"))
    }

    fn without(&self, path: &str, operation: &str) -> Container {
        let dest = self.abs(path);
        let change = if path.contains('*') {
            Change::RemoveMatching { path: dest }
        } else {
            Change::Remove { path: dest }
        };
        self.with_layer(change, format!("{operation} {path}"))
    }

    /// Each file into the directory `path`, under its own name.
    pub fn with_files(&self, path: &str, sources: &[File], permissions: Option<u32>) -> Container {
        let dir = path.trim_end_matches('/');
        let dir = if dir.is_empty() && path.starts_with('/') {
            ""
        } else {
            dir
        };
        sources.iter().fold(self.clone(), |out, file| {
            let name = file.name();
            let dest = if dir.is_empty() && !path.starts_with('/') {
                name
            } else {
                format!("{dir}/{name}")
            };
            out.with_file(&dest, file, permissions)
        })
    }

    /// A symlink at `link_name` pointing to `target`, kept as given.
    pub fn with_symlink(&self, target: &str, link_name: &str) -> Container {
        self.with_layer(
            Change::Symlink {
                target: target.to_owned(),
                link: self.abs(link_name),
            },
            format!("withSymlink {link_name} -> {target}"),
        )
    }
}
