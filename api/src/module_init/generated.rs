//! What `tanto develop` writes back from the runtime, as `dagger develop`
//! exports its codegen: for a Python module, the vendored `sdk/` and a
//! fresh `uv.lock`, made in the module's runtime container and exported
//! into the module's source directory.

use crate::module_runtime::{self, RuntimeError};
use crate::module_source::{ModuleSource, Sdk};

#[derive(Debug, thiserror::Error)]
pub enum GeneratedError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("{}", engine::report(.0))]
    Engine(#[from] engine::Error),
}

/// Makes and writes the generated files of `source`; which, relative to
/// its source directory. TypeScript modules get none yet.
pub async fn write_generated(
    engine: &engine::Engine,
    source: &ModuleSource,
) -> Result<Vec<String>, GeneratedError> {
    if source.config.sdk != Sdk::Python {
        return Ok(Vec::new());
    }
    let (context, digest) = source.upload(engine).await?;
    let generated = module_runtime::python::generated(engine, source, &context, &digest)?;
    let dir = source.source_dir();
    let mut written = Vec::new();
    if let Some((path, sdk)) = generated.sdk {
        // Generated: replaced whole, as Dagger replaces it.
        sdk.export(dir.join(&path), true).await?;
        written.push(format!("{path}/"));
    }
    generated.lock.export(dir.join("uv.lock")).await?;
    written.push("uv.lock".to_owned());
    Ok(written)
}
