//! `tanto call` and `tanto core`: functions called from the command line
//! the way `dagger call` calls them — a module's functions (and the core
//! types they return) as kebab-case subcommands chained one after the
//! other, their arguments as flags (../shared/dagger-modules.md §5.1).

mod chain;
mod client;
mod print;
mod types;
mod values;
mod walk;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

use client::{Client, Failure};
use walk::{Current, Walk};

#[derive(clap::Args)]
pub struct CoreArgs {
    /// Save the result to this path: a file, a directory or an image
    /// tarball (containers)
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Print the result as JSON
    #[arg(short, long)]
    json: bool,
    /// The functions and their flags: `container from --address=alpine with-exec --args=echo,hi stdout`
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "FUNCTION [FLAGS]…"
    )]
    chain: Vec<String>,
}

/// `tanto core …`: Dagger's core API from the command line.
pub fn run_core(
    store_root: &Path,
    insecure_registries: Vec<String>,
    progress: &crate::progress::Options,
    args: CoreArgs,
) -> anyhow::Result<ExitCode> {
    let runtime = api::runtime().context("cannot start tanto's async runtime")?;
    let progress = crate::progress::Progress::start(progress);
    let observer = progress.observer();
    let (result, collector) = runtime.block_on(async {
        let engine = engine::Engine::new(engine::EngineConfig {
            store_root: store_root.to_owned(),
            insecure_registries,
            observer: Some(observer),
            ..Default::default()
        })?;
        let collector = engine.clone();
        let client = Client {
            session: Arc::new(api::Session::new(engine, api::new_token()?)?),
        };
        let types = types::Types::core(
            &client
                .query(types::INTROSPECTION)
                .await
                .map_err(anyhow::Error::msg)?,
        );
        let (chain, output, json) = global_flags(args.chain, args.output, args.json);
        let walk = Walk {
            client: &client,
            types: &types,
            functions: &NoModule,
            output,
            json,
        };
        let result = walk.run(Current::Root, chain::Words::new(chain)).await;
        anyhow::Ok((result, collector))
    })?;
    drop(runtime);
    finish(progress, result, &collector)
}

/// `-o PATH` and `--json` may come anywhere in the chain, as with `dagger
/// call`: taken out of it.
fn global_flags(
    words: Vec<String>,
    mut output: Option<PathBuf>,
    mut json: bool,
) -> (Vec<String>, Option<PathBuf>, bool) {
    let mut chain = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "-o" | "--output" => output = words.next().map(PathBuf::from),
            "-j" | "--json" => json = true,
            _ => match word.strip_prefix("--output=") {
                Some(path) => output = Some(PathBuf::from(path)),
                None => chain.push(word),
            },
        }
    }
    (chain, output, json)
}

/// Prints the result after the progress summary (last on screen), or the
/// failure; a failed exec exits with its own code.
fn finish(
    progress: crate::progress::Progress,
    result: Result<String, Failure>,
    collector: &engine::Engine,
) -> anyhow::Result<ExitCode> {
    let ok = result.is_ok();
    let mut written = Ok(());
    progress.finish(ok, || {
        if let Ok(text) = &result {
            written = print::out(text);
        }
    })?;
    written.context("cannot write the result to standard output")?;
    crate::gc::collect(collector);
    match result {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(failure) => {
            crate::output::error(&failure.message);
            Ok(failure
                .exit_code
                .and_then(|code| u8::try_from(code).ok())
                .filter(|code| *code != 0)
                .map_or(ExitCode::FAILURE, ExitCode::from))
        }
    }
}

/// Core chains call no module.
struct NoModule;

impl walk::Functions for NoModule {
    async fn call(
        &self,
        ty: &str,
        _: &serde_json::Value,
        function: &str,
        _: Vec<(String, serde_json::Value)>,
    ) -> Result<serde_json::Value, Failure> {
        Err(Failure::from(format!(
            "{ty}.{function} is a module's function, and no module is loaded"
        )))
    }
}
