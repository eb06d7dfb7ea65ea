//! `tanto query [FILE|-]`: runs one GraphQL document against Dagger's core
//! schema and prints the JSON answer, like `dagger query`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

#[derive(clap::Args)]
pub struct Args {
    /// The GraphQL document; `-` or nothing reads standard input
    #[arg(value_name = "FILE|-")]
    document: Option<PathBuf>,
}

pub fn run(
    store_root: &Path,
    registries: crate::engine_start::Registries,
    progress: &crate::progress::Options,
    args: Args,
) -> anyhow::Result<ExitCode> {
    let document = match args.document.as_deref() {
        None => read_stdin()?,
        Some(path) if path == Path::new("-") => read_stdin()?,
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the GraphQL document {}", path.display()))?,
    };
    let runtime = api::runtime().context("cannot start tanto's async runtime")?;
    let progress = crate::progress::Progress::start(progress);
    let observer = progress.observer();
    let (answer, collector) = runtime.block_on(async {
        let engine = crate::engine_start::engine(store_root, &registries, observer)?;
        let collector = engine.clone();
        let session = api::Session::new(engine, api::new_token()?)?;
        // On a worker thread, whose stack is sized for deep documents.
        let answer = tokio::spawn(async move { session.execute(&document).await })
            .await
            .context("answering the query failed")?;
        anyhow::Ok((answer, collector))
    })?;
    // Steps may still hold the observer; the answer is complete.
    drop(runtime);
    // The answer first, then the summary and any failure: last on screen.
    let failed = answer.has_errors();
    let mut written = Ok(());
    progress.finish(true, || written = crate::output::answer(answer))?;
    written.context("cannot write the answer to standard output")?;
    crate::engine_start::finish(&collector)?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn read_stdin() -> anyhow::Result<String> {
    let mut document = String::new();
    std::io::stdin()
        .read_to_string(&mut document)
        .context("cannot read the GraphQL document from standard input")?;
    Ok(document)
}
