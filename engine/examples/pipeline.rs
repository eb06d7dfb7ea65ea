//! The pipeline the integration tests measure: from → withExec →
//! withDirectory → withExec, printing each step's fate so a test can count
//! what ran and what was cached.
//!
//! Usage: `pipeline IMAGE HOST_DIR`

#![allow(clippy::print_stdout, clippy::print_stderr)] // an example program reports

use std::process::ExitCode;
use std::sync::Arc;

use engine::Event;
use engine::{Engine, EngineConfig};

fn main() -> ExitCode {
    // Before any thread: tokio's runtime is started only afterwards.
    if let Err(error) = engine::bootstrap() {
        eprintln!("error: {}", engine::report(&error));
        return ExitCode::FAILURE;
    }
    let args: Vec<String> = std::env::args().collect();
    let (Some(image), Some(host_dir)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: pipeline IMAGE HOST_DIR");
        return ExitCode::from(2);
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    match runtime.block_on(run(image, host_dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", engine::report(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(image: &str, host_dir: &str) -> Result<(), engine::Error> {
    let observer: engine::Observer = Arc::new(|event| match event {
        Event::Finished(step, _) => eprintln!("RAN {}", step.name),
        Event::Cached(step) => eprintln!("CACHED {}", step.name),
        Event::Failed(step, _) => eprintln!("FAILED {}", step.name),
        _ => {}
    });
    let engine = Engine::new(EngineConfig {
        store_root: engine::default_store_root().expect("HOME or TANTO_ROOT is set"),
        observer: Some(observer),
        ..Default::default()
    })?;
    let src = engine.host().directory(host_dir, &[], &[]);
    let out = engine
        .container()
        .from(image)
        .with_exec(["sh", "-c", "echo prepared > /prepared"])
        .with_directory("/src", &src, &[], &[])
        .with_exec(["sh", "-c", "cat /prepared /src/*"])
        .stdout()
        .await?;
    print!("{out}");
    let stats = engine.stats();
    eprintln!("steps: {} ran, {} cached", stats.ran, stats.cached);
    Ok(())
}
