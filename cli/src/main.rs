//! The `tanto` command.

mod build;
mod call;
mod doctor;
mod du;
mod engine_start;
mod gc;
mod init;
mod output;
mod progress;
mod prune;
mod pull;
mod query;
mod relay;
mod run;
mod session;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tanto",
    version,
    about = "Daemonless, rootless container pipelines"
)]
struct Cli {
    /// Where images and snapshots are stored [default: $XDG_DATA_HOME/tanto or ~/.local/share/tanto]
    #[arg(long, global = true, env = "TANTO_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,

    /// A registry (host or host:port) that may be reached over plain HTTP; loopback registries always may
    #[arg(
        long = "insecure-registry",
        global = true,
        value_name = "HOST",
        env = "TANTO_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    insecure_registries: Vec<String>,

    /// Before running a step, look its result up in this registry cache:
    /// type=registry,ref=REGISTRY/REPO[:TAG] (repeatable)
    #[arg(
        long = "cache-from",
        global = true,
        value_name = "SPEC",
        env = "TANTO_CACHE_FROM",
        value_delimiter = ' '
    )]
    cache_from: Vec<String>,

    /// After the run, push its steps' results to this registry cache:
    /// type=registry,ref=REGISTRY/REPO[:TAG][,compression=zstd|gzip][,secret-steps=skip|export][,ignore-error=true]
    #[arg(
        long = "cache-to",
        global = true,
        value_name = "SPEC",
        env = "TANTO_CACHE_TO",
        value_delimiter = ' '
    )]
    cache_to: Vec<String>,

    /// Show debug logs (RUST_LOG overrides); the live view then gives way to plain progress
    #[arg(short, long, global = true)]
    verbose: bool,

    /// How to show steps as they run: a live view on a terminal, plain lines in CI or a pipe
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = progress::Mode::Auto,
        env = "TANTO_PROGRESS",
        value_name = "MODE"
    )]
    progress: progress::Mode,

    /// Write every step's timings to FILE as JSON
    #[arg(long, global = true, value_name = "FILE")]
    timings: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pull an image from a registry into the store
    Pull(pull::Args),
    /// Run a program that uses a Dagger SDK (Python, TypeScript…) against tanto
    Run(run::Args),
    /// Serve one Dagger session (what the SDKs start via _EXPERIMENTAL_DAGGER_CLI_BIN)
    Session(session::Args),
    /// Run a GraphQL document against Dagger's core schema and print the JSON answer
    Query(query::Args),
    /// Build a Dockerfile, rootless: `tanto build -t reg/app:1 --push .`
    Build(build::Args),
    /// Call a Dagger module's functions: `tanto call build --source=. export --path=./out`
    Call(call::CallArgs),
    /// List a Dagger module's functions
    Functions(call::FunctionsArgs),
    /// Make a new Dagger module: `tanto init --sdk=python` (or typescript)
    Init(init::InitArgs),
    /// Add what a module's SDK needs and the module lacks
    Develop(init::DevelopArgs),
    /// Call Dagger's core API from the command line: `tanto core container from --address=alpine with-exec --args=echo,hi stdout`
    Core(call::CoreArgs),
    /// Show what the store holds, by kind, and how much a prune could take
    Du(du::Args),
    /// Take space back from the store, least recently used first
    Prune(prune::Args),
    /// Check that this machine can run tanto rootless, and say what to fix
    Doctor,
    /// Print tanto's version
    Version,
    /// Used by `tanto doctor`: try overlay inside tanto's user namespace
    #[command(name = "__probe-overlay", hide = true)]
    ProbeOverlay { scratch: PathBuf },
    /// For `tanto doctor`: prints what steps get of their own here (pids, hostname, network)
    #[command(name = "__probe-sandbox", hide = true)]
    ProbeSandbox,
    /// For `tanto doctor`: builds a session network and connects across it
    #[command(name = "__probe-session-network", hide = true)]
    ProbeSessionNetwork,
    /// For tests and debugging: run one exec step from a JSON ExecRequest, print its outcome
    #[command(name = "__run-step", hide = true)]
    RunStep {
        request: PathBuf,
        /// Cancel the step after this many milliseconds (tests the engine's cancel path)
        #[arg(long, value_name = "MS")]
        cancel_after: Option<u64>,
    },
}

fn main() -> ExitCode {
    // Before anything else: this process may be an exec step's helper,
    // whose logs (libcontainer's reasons, say) show only when asked for.
    if std::env::var_os("RUST_LOG").is_some() {
        init_logging(false);
    }
    engine::isolation::serve_helper_if_asked();
    let cli = Cli::parse();
    if std::env::var_os("RUST_LOG").is_none() {
        init_logging(cli.verbose);
    }
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            output::error(&format!("{error:#}"));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let registries = engine_start::Registries {
        insecure: cli.insecure_registries,
        cache_from: cli.cache_from,
        cache_to: cli.cache_to,
    };
    let progress = progress::Options {
        mode: cli.progress,
        timings: cli.timings,
        verbose: cli.verbose,
        never_block: false,
    };
    match cli.command {
        Command::Version => {
            output::line(&format!("tanto {}", env!("CARGO_PKG_VERSION")));
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor => doctor::run(&store_root(cli.root)?),
        // Not in the user namespace: the user's program runs as the user.
        Command::Run(args) => run::run(&store_root(cli.root)?, &registries, &progress, args),
        Command::Session(args) => {
            // Before any thread exists: this may re-execute tanto in a user namespace.
            engine::isolation::enter_namespace()?;
            session::run(&store_root(cli.root)?, registries, &progress, args)
        }
        Command::Query(args) => {
            engine::isolation::enter_namespace()?;
            query::run(&store_root(cli.root)?, registries, &progress, args)
        }
        Command::Call(args) => {
            engine::isolation::enter_namespace()?;
            call::run_call(&store_root(cli.root)?, registries, &progress, args)
        }
        Command::Build(args) => {
            engine::isolation::enter_namespace()?;
            build::run(&store_root(cli.root)?, registries, &progress, args)
        }
        Command::Functions(args) => {
            engine::isolation::enter_namespace()?;
            call::run_functions(&store_root(cli.root)?, registries, &progress, args)
        }
        Command::Init(args) => init::run_init(args),
        Command::Develop(args) => {
            engine::isolation::enter_namespace()?;
            init::run_develop(&store_root(cli.root)?, registries, &progress, args)
        }
        Command::Core(args) => {
            engine::isolation::enter_namespace()?;
            call::run_core(&store_root(cli.root)?, registries, &progress, args)
        }
        Command::Du(args) => {
            engine::isolation::enter_namespace()?;
            du::run(&store_root(cli.root)?, args)
        }
        Command::Prune(args) => {
            // Inside: what it removes belongs to the subordinate ids.
            engine::isolation::enter_namespace()?;
            prune::run(&store_root(cli.root)?, args)
        }
        Command::Pull(args) => {
            engine::isolation::enter_namespace()?;
            pull::run(&store_root(cli.root)?, registries, &progress, args)
        }
        Command::RunStep {
            request,
            cancel_after,
        } => {
            engine::isolation::enter_namespace()?;
            run_step(&request, cancel_after)
        }
        Command::ProbeSandbox => {
            engine::isolation::enter_namespace()?;
            let sandbox = engine::isolation::sandbox();
            let parts = [
                (sandbox.pids, "pids"),
                (sandbox.hostname, "hostname"),
                (engine::isolation::network_namespace_available(), "network"),
            ];
            let has: Vec<&str> = parts
                .iter()
                .filter(|(has, _)| *has)
                .map(|(_, n)| *n)
                .collect();
            output::line(&has.join(","));
            Ok(ExitCode::SUCCESS)
        }
        Command::ProbeSessionNetwork => {
            engine::isolation::enter_namespace()?;
            match engine::isolation::session_network::probe() {
                Ok((subnet, wired)) => {
                    output::line(&format!("{subnet} {}", wired.as_micros()));
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    output::line(&error.to_string());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::ProbeOverlay { scratch } => {
            engine::isolation::enter_namespace()?;
            match engine::isolation::probe_overlay(&scratch) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(error) => {
                    output::line(&engine::report(&error));
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

fn run_step(path: &std::path::Path, cancel_after: Option<u64>) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the step request {}", path.display()))?;
    let cancel_after = cancel_after.map(std::time::Duration::from_millis);
    let outcome = engine::isolation::run_step_json(&text, cancel_after)
        .with_context(|| format!("cannot run the step in {}", path.display()))?;
    output::line(&outcome);
    Ok(ExitCode::SUCCESS)
}

fn store_root(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    flag.or_else(engine::default_store_root)
        .context("cannot tell where the store goes: set TANTO_ROOT or HOME, or pass --root")
}

fn init_logging(verbose: bool) {
    let default = if verbose { "debug" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(verbose)
        .init();
}
