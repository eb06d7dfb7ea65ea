//! `tanto init` and `tanto develop`: a new module, or what an existing one
//! lacks, written as `dagger init` and `dagger develop` write them.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use std::process::ExitCode;

use api::module_init::{self, Init};
use api::module_source::{ModuleSource, Sdk};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum SdkArg {
    Python,
    Typescript,
}

impl From<SdkArg> for Sdk {
    fn from(sdk: SdkArg) -> Sdk {
        match sdk {
            SdkArg::Python => Sdk::Python,
            SdkArg::Typescript => Sdk::TypeScript,
        }
    }
}

#[derive(clap::Args)]
pub struct InitArgs {
    /// The SDK the module is written with
    #[arg(long, value_enum)]
    sdk: Option<SdkArg>,
    /// The module's name [default: the directory's name]
    #[arg(long)]
    name: Option<String>,
    /// Where the SDK's source goes, relative to the module [default: `.` in an empty directory, else `.dagger`]
    #[arg(long)]
    source: Option<String>,
    /// The module's directory [default: the current directory]
    path: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct DevelopArgs {
    /// The module: a directory with dagger.json, or one below it [default: the current directory]
    #[arg(short = 'm', long = "mod", value_name = "PATH")]
    module: Option<PathBuf>,
}

pub fn run_init(args: InitArgs) -> anyhow::Result<ExitCode> {
    let dir = std::path::absolute(args.path.unwrap_or_else(|| PathBuf::from(".")))?;
    let sdk = args.sdk.map(Sdk::from);
    let name = match args.name {
        Some(name) => name,
        None => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "main".to_owned()),
    };
    std::fs::create_dir_all(&dir)?;
    module_init::init(&Init {
        dir: dir.clone(),
        name: name.clone(),
        sdk,
        source: args.source,
    })?;
    crate::output::status(&format!("Initialized module {name} in {}", dir.display()));
    Ok(ExitCode::SUCCESS)
}

/// Writes the project files the module lacks, then what its runtime
/// generates (Python: the vendored `sdk/` and `uv.lock`), as `dagger
/// develop` does.
pub fn run_develop(
    store_root: &Path,
    registries: crate::engine_start::Registries,
    progress: &crate::progress::Options,
    args: DevelopArgs,
) -> anyhow::Result<ExitCode> {
    let start = args.module.unwrap_or_else(|| PathBuf::from("."));
    let source = ModuleSource::find(&start)?;
    let mut written = module_init::develop(&source)?;
    let runtime = api::runtime().context("cannot start tanto's async runtime")?;
    let progress = crate::progress::Progress::start(progress);
    let observer = progress.observer();
    let generated = runtime.block_on(async {
        let engine = crate::engine_start::engine(store_root, &registries, observer)?;
        let written = module_init::write_generated(&engine, &source).await?;
        anyhow::Ok((written, engine))
    });
    drop(runtime);
    progress.finish(generated.is_ok(), || {})?;
    let (generated, engine) = generated?;
    crate::engine_start::finish(&engine)?;
    written.extend(generated);
    for file in &written {
        crate::output::status(&format!("wrote {file}"));
    }
    crate::output::status(&format!(
        "Module {} is ready in {}",
        source.config.name,
        source.root.display()
    ));
    Ok(ExitCode::SUCCESS)
}
