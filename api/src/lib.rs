//! The Dagger-compatible GraphQL session server (see ../shared/dagger-compat.md).
//! It arrives with the session API issue; the crate exists now so the crate
//! graph drawn in `engine` is fixed from the start.

pub use engine;
