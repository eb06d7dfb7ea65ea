//! A chain of `true` steps, for measuring per-step cost: `steps IMAGE N
//! [NONCE]`. With a fresh NONCE every step is new and runs; with the same one
//! again every step is cached. Prints the wall time of the chain.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark reports

use std::process::ExitCode;
use std::time::Instant;

use engine::{Engine, EngineConfig};

fn main() -> ExitCode {
    if let Err(error) = engine::bootstrap() {
        eprintln!("error: {}", engine::report(&error));
        return ExitCode::FAILURE;
    }
    let args: Vec<String> = std::env::args().collect();
    let (Some(image), Some(Ok(count))) = (args.get(1), args.get(2).map(|n| n.parse::<usize>()))
    else {
        eprintln!("usage: steps IMAGE N [NONCE]");
        return ExitCode::from(2);
    };
    let nonce = args.get(3).cloned().unwrap_or_default();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    match runtime.block_on(run(image, count, &nonce)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", engine::report(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(image: &str, count: usize, nonce: &str) -> Result<(), engine::Error> {
    let engine = Engine::new(EngineConfig {
        store_root: engine::default_store_root().expect("HOME or TANTO_ROOT is set"),
        ..Default::default()
    })?;
    // The image first, so the chain's time is the steps' alone.
    let base = engine.container().from(image).sync().await?;
    let before = engine.stats();
    let started = Instant::now();
    let mut container = base.with_env_variable("NONCE", nonce, false);
    for step in 0..count {
        container = container.with_exec(["true", &step.to_string()]);
    }
    container.sync().await?;
    let took = started.elapsed();
    let (after, stats) = (engine.stats(), before);
    let (ran, cached) = (after.ran - stats.ran, after.cached - stats.cached);
    println!(
        "{count} steps in {took:.2?} ({:.2?} per step); {} ran, {} cached",
        took / count.max(1) as u32,
        ran,
        cached
    );
    Ok(())
}
