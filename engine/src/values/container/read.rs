//! Reading a container: its output, settings, files and directories.
//! These run the pipeline.

use std::path::PathBuf;
use std::sync::Arc;

use super::Container;
use crate::config::Settings;
use crate::error::Error;
use crate::node::{ContainerPath, MountSource, Node, Op};
use crate::ops::{resolve_config, resolve_path, solve, solve_lazy};
use crate::solved::Solved;
use crate::values::{Directory, File, Stat};

impl Container {
    /// Runs everything this container needs.
    pub async fn sync(&self) -> Result<Container, Error> {
        let solved = solve(&self.ctx, &self.rootfs).await?;
        self.ctx
            .registry_cache
            .returned(solved.layers.iter().cloned());
        Ok(self.clone())
    }

    /// The last exec's result: its output and exit code, but not its
    /// chain, which may stay in a registry cache (lazy import).
    async fn last_exec(&self) -> Result<Solved, Error> {
        let node = self.last_exec.as_ref().ok_or(Error::NoExec)?;
        let solved = solve_lazy(&self.ctx, node).await?;
        // Its chain too: without the results below it, another runner
        // could not work out this one's key without running them.
        let dir = solved.exec.as_ref().map(|exec| exec.dir.clone());
        let chain = solved.layers.iter().cloned();
        self.ctx
            .registry_cache
            .returned(dir.into_iter().chain(chain));
        Ok(solved)
    }

    /// The last command's standard output.
    pub async fn stdout(&self) -> Result<String, Error> {
        let solved = self.last_exec().await?;
        read_stream(&solved.exec.expect("an exec has a result").stdout)
    }

    pub async fn stderr(&self) -> Result<String, Error> {
        let solved = self.last_exec().await?;
        read_stream(&solved.exec.expect("an exec has a result").stderr)
    }

    /// Where the last command's output is stored, without reading it: a
    /// server can then stream a large output instead of holding it in
    /// memory.
    pub async fn output_files(&self) -> Result<OutputFiles, Error> {
        let solved = self.last_exec().await?;
        let exec = solved.exec.expect("an exec has a result");
        Ok(OutputFiles {
            stdout: exec.stdout.clone(),
            stderr: exec.stderr.clone(),
        })
    }

    /// Standard output then standard error of the last command.
    pub async fn combined_output(&self) -> Result<String, Error> {
        Ok(format!("{}{}", self.stdout().await?, self.stderr().await?))
    }

    pub async fn exit_code(&self) -> Result<i32, Error> {
        let solved = self.last_exec().await?;
        Ok(solved.exec.expect("an exec has a result").exit_code)
    }

    /// The image config with this container's edits applied.
    pub async fn settings(&self) -> Result<Settings, Error> {
        let settings = resolve_config(&self.ctx, &self.config).await?;
        Ok((*settings).clone())
    }

    pub async fn env_variable(&self, name: &str) -> Result<Option<String>, Error> {
        Ok(self.settings().await?.env_var(name).map(str::to_owned))
    }

    pub async fn workdir(&self) -> Result<String, Error> {
        Ok(self.settings().await?.workdir)
    }

    pub async fn user(&self) -> Result<String, Error> {
        Ok(self.settings().await?.user)
    }

    pub fn image_ref(&self) -> Option<&str> {
        self.image_ref.as_deref()
    }

    /// A directory of the container (its rootfs, or a mounted directory).
    pub fn directory(&self, path: &str) -> Directory {
        let path = self.abs(path);
        if let Some((node, inner)) = self.mounted_at(&path, false) {
            return Directory::new(Arc::clone(&self.ctx), node, inner);
        }
        Directory::new(Arc::clone(&self.ctx), Arc::clone(&self.rootfs), path)
    }

    pub fn file(&self, path: &str) -> File {
        let path = self.abs(path);
        if let Some((node, inner)) = self.mounted_at(&path, true) {
            return File::new(Arc::clone(&self.ctx), node, inner);
        }
        File::new(Arc::clone(&self.ctx), Arc::clone(&self.rootfs), path)
    }

    /// The mounted directory (or, for `file`, file) that holds `path`.
    fn mounted_at(&self, path: &ContainerPath, file: bool) -> Option<(Arc<Node>, ContainerPath)> {
        let path = path.as_known()?;
        for mount in self.mounts.iter().rev() {
            let Some(target) = mount.target.as_known() else {
                continue;
            };
            match &mount.source {
                MountSource::File { node, path: inner } if file && target == path => {
                    return Some((Arc::clone(node), inner.clone()));
                }
                MountSource::Directory { node, subpath, .. } => {
                    if let Some(rest) = below(path, target) {
                        return Some((Arc::clone(node), subpath.join(rest)));
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// What is at `path` (relative to the working directory), in a mount
    /// or the rootfs; `None` when nothing is (`exists`, `stat`).
    pub async fn lookup(&self, path: &str, no_follow: bool) -> Result<Option<Stat>, Error> {
        let path = self.abs(path);
        let (node, inner) = self
            .mounted_at(&path, true)
            .or_else(|| self.mounted_at(&path, false))
            .unwrap_or_else(|| (Arc::clone(&self.rootfs), path));
        let inner = resolve_path(&self.ctx, &inner).await?;
        Directory::new(Arc::clone(&self.ctx), node, ContainerPath::known("/"))
            .lookup(&inner, no_follow)
            .await
    }

    /// Where directories, files, caches and temps are mounted, as Dagger's
    /// `mounts` lists them (secrets and sockets are not).
    pub async fn mount_targets(&self) -> Result<Vec<String>, Error> {
        let mut targets = Vec::new();
        for mount in &self.mounts {
            if !matches!(
                mount.source,
                MountSource::Secret { .. } | MountSource::Socket { .. }
            ) {
                targets.push(resolve_path(&self.ctx, &mount.target).await?);
            }
        }
        Ok(targets)
    }

    pub fn rootfs(&self) -> Directory {
        Directory::new(
            Arc::clone(&self.ctx),
            Arc::clone(&self.rootfs),
            ContainerPath::known("/"),
        )
    }

    /// How many layers this container's root has on top of `earlier`'s,
    /// when steps and file operations made it from that one: each adds
    /// one. Read from the graph; nothing runs.
    pub(crate) fn layers_since(&self, earlier: &Container) -> Option<usize> {
        let mut node = &self.rootfs;
        let mut layers = 0;
        while !Arc::ptr_eq(node, &earlier.rootfs) {
            node = match &node.op {
                Op::Exec(exec) => &exec.rootfs,
                Op::Layer { base, .. } => base,
                _ => return None,
            };
            layers += 1;
        }
        Some(layers)
    }
}

/// `path` relative to `dir` when it is `dir` or below it.
fn below<'p>(path: &'p str, dir: &str) -> Option<&'p str> {
    if path == dir {
        return Some("");
    }
    path.strip_prefix(dir)
        .and_then(|rest| rest.strip_prefix('/'))
}

/// The files that hold an exec's standard output and error, as stored:
/// the bytes the command wrote (secrets masked), not necessarily UTF-8.
#[derive(Clone, Debug)]
pub struct OutputFiles {
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

fn read_stream(path: &std::path::Path) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Memo {
        path: path.to_owned(),
        source,
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_matches_whole_components() {
        assert_eq!(below("/src/a", "/src"), Some("a"));
        assert_eq!(below("/src", "/src"), Some(""));
        assert_eq!(below("/srcx", "/src"), None);
    }
}
