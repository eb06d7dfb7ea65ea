//! The OCI distribution protocol, client side: image references as users write
//! them, manifests and indexes, platform selection, authentication (anonymous,
//! bearer tokens, basic credentials from docker/podman auth files or
//! credential helpers), `registries.conf` (mirrors, rewrites, blocks, search
//! registries), blob downloads that retry and resume, and pushing images
//! (`push.rs`).
//!
//! This crate moves bytes; it does not store them. Blob digests are verified by
//! whoever writes them down (the snapshotter's content store), manifests here,
//! because a manifest is read whole anyway.

mod auth;
mod blob;
mod client;
mod credential_helper;
mod error;
pub mod manifest;
mod platform;
mod push;
mod reference;
mod registries_conf;
mod retry;
mod tags;

pub use auth::{Basic, Credentials};
pub use blob::BlobReader;
pub use client::{Client, ClientConfig, FetchedManifest};
pub use error::Error;
pub use platform::Platform;
pub use push::{BlobPush, CHUNK_BYTES};
pub use reference::Reference;
pub use registries_conf::{PullSource, RegistriesConf};
