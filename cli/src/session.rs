//! `tanto session`: the session server on its own, as Dagger's SDKs start it
//! when `_EXPERIMENTAL_DAGGER_CLI_BIN` points at tanto (and as `tanto run`
//! starts it). It prints one line, `{"port":N,"session_token":"…"}`, serves
//! on 127.0.0.1:N, and ends — exit status 0 — when its standard input
//! closes (Python) or on SIGTERM (TypeScript), cancelling running steps.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

#[derive(clap::Args)]
pub struct Args {
    /// Labels the SDKs attach (`key:value`); accepted and ignored
    #[arg(long = "label", value_name = "KEY:VALUE")]
    labels: Vec<String>,
    /// Where relative host paths start [default: the current directory]
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// Dagger module options the SDKs may pass; tanto has no modules
    #[arg(long, hide = true)]
    project: Option<String>,
    #[arg(long, hide = true)]
    workspace: Option<String>,
    #[arg(long = "load-workspace-modules", hide = true)]
    load_workspace_modules: bool,
}

pub fn run(
    store_root: &Path,
    registries: crate::engine_start::Registries,
    progress: &crate::progress::Options,
    args: Args,
) -> anyhow::Result<ExitCode> {
    let runtime = api::runtime().context("cannot start tanto's async runtime")?;
    let mut progress = progress.clone();
    if progress.mode == crate::progress::Mode::Auto {
        // Started by an SDK (`tanto run` always says which mode): the
        // program shares our terminal, so no live view, or gives us a pipe
        // it may never read, so never wait on it.
        progress.mode = crate::progress::Mode::Plain;
        progress.never_block = true;
    }
    let progress = crate::progress::Progress::start(&progress);
    let served = runtime.block_on(serve(store_root, registries, progress.observer(), args));
    // Not a plain drop, which waits for blocking tasks: after SIGTERM the
    // thread reading standard input may never return.
    runtime.shutdown_background();
    progress.finish(true, || {})?;
    let engine = served?;
    crate::engine_start::finish(&engine)?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(
    store_root: &Path,
    registries: crate::engine_start::Registries,
    observer: engine::Observer,
    args: Args,
) -> anyhow::Result<engine::Engine> {
    let engine = engine::Engine::new(engine::EngineConfig {
        observer: Some(observer),
        workdir: args.workdir,
        ..registries.config(store_root)?
    })?;
    let collector = engine.clone();
    let token = api::new_token()?;
    let session = Arc::new(api::Session::new(engine.clone(), token.clone())?);
    let (listener, address) = api::bind_loopback()
        .await
        .context("cannot listen on 127.0.0.1")?;
    let line = serde_json::json!({"port": address.port(), "session_token": token});
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .context("cannot write the session line to standard output")?;
    tracing::debug!(%address, "session serving");
    let ended = async move {
        let stdin_closed = tokio::task::spawn_blocking(|| {
            // Nothing is ever read: the SDK ends the session by closing it.
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        });
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler installs");
        tokio::select! {
            _ = stdin_closed => tracing::debug!("standard input closed: ending the session"),
            _ = terminate.recv() => tracing::debug!("SIGTERM: ending the session"),
        }
        engine.cancel_all();
    };
    // Once ended, requests in flight get a moment to answer; idle keep-alive
    // connections (the SDK's pool) are not waited for.
    let (ended_tx, ended_rx) = tokio::sync::watch::channel(false);
    let graceful = async move {
        ended.await;
        let _ = ended_tx.send(true);
    };
    let mut grace = ended_rx;
    tokio::select! {
        served = api::serve(listener, session, graceful) => served.context("the session server failed"),
        _ = async move {
            let _ = grace.wait_for(|ended| *ended).await;
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        } => Ok(()),
    }?;
    Ok(collector)
}
