//! tanto's engine: the public Rust API over the store, the registry and the
//! executor. Today it pulls images; the op DAG, the solver and the lazy
//! `Container`/`Directory`/`File` values come next (see DESIGN.md).
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
mod error;
mod pull;
pub mod solver;
mod store_root;

pub use error::Error;
pub use pull::{LayerOutcome, LayerReport, PullOptions, PulledImage, Puller};
pub use registry::{Platform, Reference};
pub use store_root::default_store_root;

/// The crates below, for callers that need their types directly.
pub use {executor, registry, snapshotter};
