//! Isolation. Today: entering the rootless user namespace every tanto
//! process that touches the store runs in. Next: running exec steps through
//! youki's libcontainer from a single-threaded helper (see DESIGN.md).

mod error;
pub mod overlay;
pub mod userns;

pub use error::Error;
