//! tanto's engine: pipelines as code, run rootless, memoized by content.
//!
//! ```no_run
//! # async fn demo() -> Result<(), engine::Error> {
//! // At the very top of main, before any thread starts:
//! engine::bootstrap()?;
//! let engine = engine::Engine::new(engine::EngineConfig {
//!     store_root: engine::default_store_root().unwrap(),
//!     ..Default::default()
//! })?;
//! let src = engine.host().directory("src", &[], &["target"]);
//! let out = engine
//!     .container()
//!     .from("debian:bookworm")
//!     .with_directory("/src", &src, &[], &[])
//!     .with_workdir("/src")
//!     .with_exec(["sh", "-c", "./test.sh"])
//!     .stdout()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Values (`Container`, `Directory`, `File`, `Secret`, `CacheVolume`) are
//! lazy: each is an edge in a DAG of ops (`node.rs`). Reading one (`stdout`,
//! `contents`, `export`, `sync`) solves the DAG below it: every step has a
//! [`CacheKey`](cache_key::CacheKey) over its inputs (`solve.rs`,
//! `exec_step.rs`), is looked up in the store's memo (`memo.rs`), and runs
//! only when missing, once even when asked for concurrently, with
//! independent steps in parallel, and cancelled when nobody waits for
//! them any more (`solver/`).
//!
//! What the steps do is told to an observer as it happens
//! ([`solver::Event`]): started, waiting for a turn, each chunk of output,
//! each layer's download, and how each ended. The engine draws nothing; the
//! `cli` crate renders the events. A step's output is read from pipes as it
//! comes (`capture.rs`) and every secret value set on the engine is masked
//! in it, even split across chunks (`mask.rs`), before it is stored, shown
//! or put into an error.
//!
//! The crate graph, kept true by each crate's Cargo.toml:
//!
//! ```text
//!                      cli (the tanto binary)
//!                       │        │
//!                       │        ▼
//!                       │       api (Dagger GraphQL session server)
//!                       ▼        │
//!                     engine ◄───┘
//!          ┌────────────┼─────────────┐
//!          ▼            ▼             ▼
//!      registry    snapshotter    executor
//!  (OCI distribution) (store,     (user namespaces,
//!                   layers, overlay) libcontainer)
//! ```
//!
//! The three leaves never depend on each other: `engine` is where the bytes a
//! `registry` client streams meet the `snapshotter` that stores them, so each
//! leaf can be tested alone.

pub mod cache_key;
mod cache_volume;
mod capture;
mod config;
mod error;
mod exec_step;
mod image;
mod mask;
mod memo;
mod node;
mod paths;
mod pull;
mod secret;
mod session;
mod solve;
pub mod solver;
mod store_root;
mod values;

pub use config::Settings;
pub use error::Error;
pub use image::{import_archive, ArchiveSource, Compression, ImageOptions, Imported, MediaTypes};
pub use mask::MASK;
pub use node::{Expect, Sharing};
pub use pull::{
    LayerOutcome, LayerProgress, LayerReport, PullOptions, PullProgress, PulledImage, Puller,
};
pub use registry::{Platform, Reference};
pub use secret::Secret;
pub use session::{Engine, EngineConfig};
pub use store_root::default_store_root;
pub use values::{
    shell_words, CacheVolume, Container, Directory, ExecOptions, File, Host, OutputFiles,
};

/// The crates below, for callers that need their types directly.
pub use {executor, registry, snapshotter};

/// Call first thing in `main` of any program that runs pipelines, before any
/// thread starts: it serves the exec helper when this process is one, and
/// otherwise re-enters the program in a user namespace where it is root over
/// the caller's subordinate ids (see DESIGN.md's isolation model).
pub fn bootstrap() -> Result<(), Error> {
    executor::dispatch_helper();
    executor::userns::enter()
        .map(|_| ())
        .map_err(|source| Error::Isolation {
            source: Box::new(source),
        })
}

/// An error with its causes, `what failed: why: root cause`, the way tanto
/// prints errors.
pub fn report(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // `transparent` wrappers repeat their inner message.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
