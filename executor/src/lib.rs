//! Isolation: entering the rootless user namespace every tanto process that
//! touches the store runs in ([`userns`]), running exec steps through
//! youki's libcontainer from a single-threaded helper ([`exec`]; see
//! DESIGN.md's isolation model), each in a cgroup of its own with a pids
//! limit where the host delegates cgroup2 ([`cgroup`]).

pub mod cgroup;
mod error;
pub mod exec;
pub mod overlay;
pub mod userns;

pub use error::Error;
pub use exec::{
    check_process, dispatch_helper, run, BadProcess, Cancel, ExecOutcome, ExecRequest, Mount,
    MountKind, Secret,
};
