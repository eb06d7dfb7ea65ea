//! A real pipeline: lint, build and test a small shell project (`project/`)
//! inside a Debian image, keep a build log in a cache volume, and export
//! the built tool to the host.
//!
//! Usage: `build_and_test IMAGE PROJECT_DIR OUT_DIR`, e.g.
//! `cargo run -p engine --example build_and_test -- debian:bookworm engine/examples/project out`

#![allow(clippy::print_stdout, clippy::print_stderr)] // an example program reports

use std::process::ExitCode;
use std::sync::Arc;

use engine::Event;
use engine::{Engine, EngineConfig, Sharing};

fn main() -> ExitCode {
    // Before any thread: tokio's runtime is started only afterwards.
    if let Err(error) = engine::bootstrap() {
        eprintln!("error: {}", engine::report(&error));
        return ExitCode::FAILURE;
    }
    let args: Vec<String> = std::env::args().collect();
    let [_, image, project, out] = args.as_slice() else {
        eprintln!("usage: build_and_test IMAGE PROJECT_DIR OUT_DIR");
        return ExitCode::from(2);
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    match runtime.block_on(run(image, project, out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", engine::report(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(image: &str, project: &str, out: &str) -> Result<(), engine::Error> {
    let observer: engine::Observer = Arc::new(|event| match event {
        Event::Started(step) => eprintln!("#{} {}", step.number, step.name),
        Event::Finished(step, took) => eprintln!("#{} done in {:.2?}", step.number, took),
        Event::Cached(step) => eprintln!("#{} CACHED", step.number),
        Event::Failed(step, _) => eprintln!("#{} FAILED", step.number),
        _ => {}
    });
    let engine = Engine::new(EngineConfig {
        store_root: engine::default_store_root().expect("HOME or TANTO_ROOT is set"),
        observer: Some(observer),
        ..Default::default()
    })?;
    let source = engine.host().directory(project, &[], &["*.tmp"]);
    let builds = engine.cache_volume("sum-builds");
    let built = engine
        .container()
        .from(image)
        .with_mounted_cache("/var/cache/builds", &builds, Sharing::Locked)
        .with_directory("/project", &source, &[], &[])
        .with_workdir("/project")
        .with_exec(["sh", "-n", "bin/sum"])
        .with_exec([
            "sh",
            "-c",
            "install -m 755 bin/sum /usr/local/bin/sum && date >> /var/cache/builds/log && wc -l < /var/cache/builds/log",
        ]);
    let tested = built.with_exec(["sh", "test/run.sh"]);
    // Lint+build and the tests' output are both wanted: the build runs once.
    let (builds_so_far, report) =
        futures::future::try_join(built.stdout(), tested.stdout()).await?;
    print!("{report}");
    println!(
        "builds recorded in the cache volume: {}",
        builds_so_far.trim()
    );
    let exported = tested
        .file("/usr/local/bin/sum")
        .export(std::path::Path::new(out).join("sum"))
        .await?;
    println!("exported {}", exported.display());
    let stats = engine.stats();
    eprintln!("steps: {} ran, {} cached", stats.ran, stats.cached);
    Ok(())
}
