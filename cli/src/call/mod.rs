//! `tanto call` and `tanto core`: functions called from the command line
//! the way `dagger call` calls them — a module's functions (and the core
//! types they return) as kebab-case subcommands chained one after the
//! other, their arguments as flags (../shared/dagger-modules.md §5.1).

mod chain;
mod client;
mod module;
mod print;
mod types;
mod values;
mod walk;

use std::io::IsTerminal as _;
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
    /// When a step fails, open a shell in its container, in what it left,
    /// before the failure is reported
    #[arg(short, long)]
    interactive: bool,
    /// The functions to call, each followed by its flags: `build --src=. with-exec --args=ls stdout`
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "FUNCTION [FLAGS]…"
    )]
    chain: Vec<String>,
}

#[derive(clap::Args)]
pub struct CallArgs {
    /// The module: a directory with dagger.json, or one below it [default: the current directory]
    #[arg(short = 'm', long = "mod", value_name = "PATH")]
    module: Option<PathBuf>,
    #[command(flatten)]
    chain: CoreArgs,
}

#[derive(clap::Args)]
pub struct FunctionsArgs {
    /// The module: a directory with dagger.json, or one below it [default: the current directory]
    #[arg(short = 'm', long = "mod", value_name = "PATH")]
    module: Option<PathBuf>,
    /// Functions to walk to first: their return type's functions are listed
    #[arg(value_name = "FUNCTION")]
    functions: Vec<String>,
}

/// `tanto call …`: a module's functions from the command line.
pub fn run_call(
    store_root: &Path,
    registries: crate::engine_start::Registries,
    progress: &crate::progress::Options,
    args: CallArgs,
) -> anyhow::Result<ExitCode> {
    let source = find_module(args.module.as_deref())?;
    let flags = global_flags(args.chain)?;
    let chain = flags.chain;
    let (output, json) = (flags.output, flags.json);
    with_module(
        store_root,
        registries,
        progress,
        Some(flags.interactive),
        source,
        |loaded, client, types| {
            Box::pin(async move {
                let defaults = values::DefaultPaths {
                    root: loaded.source.root.clone(),
                    context: loaded.source.context.clone(),
                };
                let calls = module::Calls(loaded);
                let walk = Walk {
                    client,
                    types,
                    functions: &calls,
                    output,
                    json,
                    defaults: Some(&defaults),
                };
                let mut words = chain::Words::new(chain);
                let start = construct(&walk, loaded, &mut words).await?;
                if words.is_empty() {
                    let main = loaded.source.main_object();
                    let names: Vec<&str> = types
                        .object(&main)
                        .unwrap_or_default()
                        .iter()
                        .map(|f| f.command.as_str())
                        .collect();
                    return Err(Failure::from(format!(
                        "name a function of {main} to call: {} (`tanto functions` describes them)",
                        names.join(", ")
                    )));
                }
                walk.run(start, words).await
            })
        },
    )
}

/// `tanto functions [FUNCTION…]`: the functions a module offers.
pub fn run_functions(
    store_root: &Path,
    registries: crate::engine_start::Registries,
    progress: &crate::progress::Options,
    args: FunctionsArgs,
) -> anyhow::Result<ExitCode> {
    let source = find_module(args.module.as_deref())?;
    with_module(
        store_root,
        registries,
        progress,
        None,
        source,
        |loaded, _, types| {
            Box::pin(async move {
                let mut ty = loaded.source.main_object();
                for name in &args.functions {
                    let functions = types.object(&ty).unwrap_or_default();
                    let function = functions
                        .iter()
                        .find(|f| f.command == *name)
                        .ok_or_else(|| Failure::from(format!("no function {name:?} on {ty}")))?;
                    ty = function
                        .returns
                        .object_name()
                        .ok_or_else(|| Failure::from(format!("{name} returns no object")))?
                        .to_owned();
                }
                let mut rows: Vec<(String, String)> = types
                    .object(&ty)
                    .unwrap_or_default()
                    .iter()
                    .map(|f| {
                        let first = f.description.lines().next().unwrap_or_default();
                        (f.command.clone(), first.to_owned())
                    })
                    .collect();
                rows.sort();
                if rows.is_empty() {
                    crate::output::status("No functions found.");
                    return Ok(String::new());
                }
                let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(4).max(4);
                let mut table = format!("{:width$}   Description\n", "Name");
                for (name, description) in rows {
                    table.push_str(format!("{name:width$}   {description}").trim_end());
                    table.push('\n');
                }
                Ok(table)
            })
        },
    )
}

/// The module at `-m PATH`, or where the current directory is.
fn find_module(path: Option<&Path>) -> anyhow::Result<api::module_source::ModuleSource> {
    Ok(api::module_source::ModuleSource::find(
        path.unwrap_or(Path::new(".")),
    )?)
}

type Job<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, Failure>> + 'a>>;

/// Starts an engine, a session and its server for the module's nested
/// clients, loads the module, runs `job` on it, and prints what it gives.
/// With `interactive`, the engine may open shells on the terminal
/// (`terminal`; where a step failed, when true).
fn with_module(
    store_root: &Path,
    registries: crate::engine_start::Registries,
    progress: &crate::progress::Options,
    interactive: Option<bool>,
    source: api::module_source::ModuleSource,
    job: impl for<'a> FnOnce(&'a api::LoadedModule, &'a Client, &'a types::Types) -> Job<'a>,
) -> anyhow::Result<ExitCode> {
    let runtime = api::runtime().context("cannot start tanto's async runtime")?;
    let progress = crate::progress::Progress::start(progress);
    let observer = progress.observer();
    let terminal = interactive.map(|debug_failures| progress.terminal_access(debug_failures));
    let (result, collector) = runtime.block_on(async {
        let engine =
            crate::engine_start::with_terminal(store_root, &registries, observer, terminal)?;
        let collector = engine.clone();
        let session = Arc::new(api::Session::new(engine.clone(), api::new_token()?)?);
        let (listener, address) = api::bind_loopback()
            .await
            .context("cannot listen on 127.0.0.1 for the module's runtime")?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(api::serve(listener, Arc::clone(&session), async move {
            let _ = stopped.await;
        }));
        let client = Client {
            session: Arc::clone(&session),
        };
        let result = async {
            let loaded = api::LoadedModule::load(Arc::clone(&session), address.port(), source)
                .await
                .map_err(|e| Failure::from(e.to_string()))?;
            let mut types = types::Types::core(&client.query(types::INTROSPECTION).await?);
            module::add_types(&mut types, &loaded.types);
            job(&loaded, &client, &types).await
        }
        .await;
        let _ = stop.send(());
        let _ = server.await;
        anyhow::Ok((result, collector))
    })?;
    drop(runtime);
    finish(progress, result, &collector)
}

/// The main object, made by its constructor from the flags before the
/// first function (or empty, without a constructor).
async fn construct(
    walk: &Walk<'_, module::Calls<'_>>,
    loaded: &api::LoadedModule,
    words: &mut chain::Words,
) -> Result<Current, Failure> {
    let main = loaded.source.main_object();
    let args = module::constructor_args(&loaded.types, &main);
    let is_bool = |flag: &str| args.iter().any(|a| a.flag == flag && a.is_bool());
    let flags = words.flags(is_bool)?;
    let has_constructor = loaded
        .types
        .object(&main)
        .is_some_and(|o| o.constructor.is_some());
    if loaded.types.object(&main).is_none() {
        return Err(Failure::from(format!(
            "module {} registered no object named {main}: its main object must be the module's name in PascalCase",
            loaded.source.config.name
        )));
    }
    let state = if has_constructor {
        let values =
            values::arguments(walk.client, walk.types, walk.defaults, &main, &args, &flags).await?;
        let args = values.into_iter().map(|(n, v)| (n, v.json)).collect();
        loaded
            .call(api::FunctionCall {
                parent_name: main.clone(),
                name: String::new(),
                parent: serde_json::Value::Null,
                input_args: args,
            })
            .await
            .map_err(module::failure)?
    } else {
        if let Some(flag) = flags.first() {
            return Err(Failure::from(format!(
                "unknown flag --{}: {main} has no constructor arguments",
                flag.name
            )));
        }
        serde_json::json!({})
    };
    Ok(Current::Module { ty: main, state })
}

/// `tanto core …`: Dagger's core API from the command line.
pub fn run_core(
    store_root: &Path,
    registries: crate::engine_start::Registries,
    progress: &crate::progress::Options,
    args: CoreArgs,
) -> anyhow::Result<ExitCode> {
    let flags = global_flags(args)?;
    let runtime = api::runtime().context("cannot start tanto's async runtime")?;
    let progress = crate::progress::Progress::start(progress);
    let observer = progress.observer();
    let terminal = progress.terminal_access(flags.interactive);
    let (result, collector) = runtime.block_on(async {
        let engine =
            crate::engine_start::with_terminal(store_root, &registries, observer, Some(terminal))?;
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
        let walk = Walk {
            client: &client,
            types: &types,
            functions: &NoModule,
            output: flags.output,
            json: flags.json,
            defaults: None,
        };
        let result = walk
            .run(Current::Root, chain::Words::new(flags.chain))
            .await;
        anyhow::Ok((result, collector))
    })?;
    drop(runtime);
    finish(progress, result, &collector)
}

/// The chain, and the flags that may come anywhere in it, as with
/// `dagger call`: `-o PATH`, `--json`, `-i`.
struct GlobalFlags {
    chain: Vec<String>,
    output: Option<PathBuf>,
    json: bool,
    interactive: bool,
}

fn global_flags(args: CoreArgs) -> anyhow::Result<GlobalFlags> {
    let mut flags = GlobalFlags {
        chain: Vec::new(),
        output: args.output,
        json: args.json,
        interactive: args.interactive,
    };
    let mut words = args.chain.into_iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "-o" | "--output" => flags.output = words.next().map(PathBuf::from),
            "-j" | "--json" => flags.json = true,
            "-i" | "--interactive" => flags.interactive = true,
            _ => match word.strip_prefix("--output=") {
                Some(path) => flags.output = Some(PathBuf::from(path)),
                None => flags.chain.push(word),
            },
        }
    }
    if flags.interactive && !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "-i/--interactive opens a shell where a step fails, and needs a terminal: run tanto from one, or leave -i out"
        );
    }
    Ok(flags)
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
    crate::engine_start::finish(collector)?;
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
