//! The containers module functions run in, one recipe per SDK, written
//! natively in tanto rather than as Dagger's SDK modules (see
//! ../shared/dagger-modules.md §7.1): only the SDK library inside must see
//! what it sees under Dagger.

pub mod python;
pub mod typescript;

use engine::{Container, Engine};

use crate::module_source::ModuleSource;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{reason}")]
    Project { reason: String },
}

/// Where the module's SDK source is in its runtime: under the context
/// directory, which is at `/src/<digest>` (the digest keeps caches that
/// key on paths apart, as Dagger's does).
fn module_dir(source: &ModuleSource, digest: &str) -> String {
    let dir = format!("/src/{digest}/{}", source.source_subpath());
    dir.trim_end_matches('/').to_owned()
}

/// What every runtime ends with: `entrypoint`, run with no arguments in an
/// empty `/scratch` (where Dagger runs the user's code).
fn entered<S: Into<String>>(
    engine: &Engine,
    runtime: Container,
    entrypoint: impl IntoIterator<Item = S>,
) -> Container {
    runtime
        .with_entrypoint(entrypoint, false)
        .with_directory("/scratch", &engine.directory(), &[], &[])
        .with_workdir("/scratch")
}

/// A directory holding `files` (path, text): a module's project, for the
/// recipes' tests.
#[cfg(test)]
fn project_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}
