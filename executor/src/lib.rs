//! Isolation: entering the rootless user namespace every tanto process that
//! touches the store runs in ([`userns`]), and running exec steps through
//! youki's libcontainer from a single-threaded helper ([`exec`]; see
//! DESIGN.md's isolation model).

mod error;
pub mod exec;
pub mod overlay;
pub mod userns;

pub use error::Error;
pub use exec::{
    check_process, dispatch_helper, run, BadProcess, Cancel, ExecOutcome, ExecRequest, Mount,
    MountKind, Secret,
};
