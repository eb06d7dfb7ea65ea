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
//! `contents`, `export`, `sync`) solves the DAG below it (`ops/`): every
//! step has a [`CacheKey`] over its inputs, is looked up in the store's memo
//! (`memo.rs`), and runs only when missing, once even when asked for
//! concurrently, with independent steps in parallel, and cancelled when
//! nobody waits for them any more (`scheduler/`).
//!
//! What the steps do is told to an observer as it happens
//! ([`Event`]): started, waiting for a turn, each chunk of output,
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

//! Inside the crate, modules sit on floors, each importing only from its own
//! floor or below (`tests/imports.rs` keeps them free of cycles):
//!
//! ```text
//!   engine.rs, gc.rs, records.rs, isolation.rs, values/   the public API
//!   ops/                 solving each kind of node (the one cycle: ops
//!                        call `ops::solve` back for their inputs)
//!   node.rs              the op DAG, a container's lazy config, its paths
//!   image/, collect.rs   building, publishing, exporting, importing images;
//!                        collecting when the disk runs low mid-run
//!   context.rs, capture.rs            what every op shares; step output
//!   solved.rs, pending.rs, scheduler/ a node's output, the work it still
//!                                     owes (lazy import); single flight
//!   config.rs, cache_volume.rs, secret.rs, secret_uri.rs, base_image.rs, pull.rs
//!   memo.rs, registry_cache/ (--cache-from/--cache-to), dockerfile/ (parsing),
//!   build_context.rs
//!   cache_key.rs, paths.rs, mask.rs, random.rs, error.rs, download.rs,
//!   host_image.rs,
//!   gc_policy/, ca_certs.rs, config_file.rs, single_id.rs, disk_full.rs,
//!   terminal.rs, snapshotter_choice.rs, spare_copies.rs, foreign_platform/,
//!   services/ (the running services: their lifetimes, health, names),
//!   store_admin.rs (public, but it needs only the store: `du`, `prune`)
//! ```

mod base_image;
mod build_context;
pub mod ca_certs;
mod cache_key;
mod cache_volume;
mod capture;
mod collect;
mod config;
mod config_file;
mod context;
mod disk_full;
pub mod dockerfile;
mod download;
mod engine;
mod error;
pub mod foreign_platform;
mod gc;
pub mod gc_policy;
mod host_image;
mod image;
pub mod isolation;
mod mask;
mod memo;
mod node;
mod ops;
mod paths;
mod pending;
mod pull;
mod random;
mod records;
mod registry_cache;
mod scheduler;
mod secret;
mod secret_uri;
mod services;
pub mod single_id;
pub mod snapshotter_choice;
mod solved;
mod spare_copies;
mod store_admin;
mod store_root;
mod streamed_export;
mod terminal;
mod values;

pub use build_context::{unpack_build_context, BuildContext};
pub use cache_key::CacheKey;
pub use cache_volume::Sharing;
pub use collect::Collected;
pub use config::{Healthcheck, HistoryNote, Settings};
pub use config_file::ConfigFileError;
pub use engine::{Engine, EngineConfig, MAX_LAYER_BYTES_ENV};
pub use error::{human_bytes, Error};
pub use gc::PolicyOverrides;
pub use image::{Compression, ImageOptions, MediaTypes};
pub use node::Expect;
pub use pull::{LayerOutcome, LayerProgress, LayerReport};
pub use random::random_bytes;
pub use registry::{Platform, Reference, RegistriesConf};
pub use registry_cache::{CacheExport, CacheImport, ExportReport};
pub use scheduler::{Event, Observer, Stats, Step, Stream};
pub use secret::Secret;
pub use services::UPLINK_ENV;
pub use snapshotter::{ChangedPaths, FileKind};
pub use solved::PullReport;
pub use store_admin::{
    EntryInfo, EntryKind, KindUsage, PruneOptions, PruneReport, StoreAdmin, StoreUsage,
};
pub use store_root::default_store_root;
pub use terminal::{Shell, TerminalAccess};
pub use values::{
    shell_words, CacheVolume, Changeset, Container, DiffStat, DiffStatKind, Directory, DockerBuild,
    ExecOptions, File, Host, MergeConflict, OutputFiles, SearchOptions, SearchResult, Service,
    Socket, Stat, Submatch,
};

/// Call first thing in `main` of any program that runs pipelines, before any
/// thread starts: it serves the exec helper when this process is one, and
/// otherwise re-enters the program in a user namespace where it is root over
/// the caller's subordinate ids (see [`isolation`]).
pub fn bootstrap() -> Result<(), Error> {
    isolation::serve_helper_if_asked();
    isolation::enter_namespace().map(|_| ())
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
