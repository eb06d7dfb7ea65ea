//! What the end-to-end tests share: a real registry server, images built and
//! pushed to it, and tanto run as an unprivileged user with subordinate ids.
#![allow(dead_code)]

pub mod dagger_suites;
pub mod fixtures;
pub mod image;
pub mod interrupt;
pub mod modules;
pub mod multi_platform;
pub mod podman;
pub mod registry;
pub mod sdk;
pub mod session;
pub mod skopeo;
pub mod tanto;
pub mod terminal;
pub mod tree;
