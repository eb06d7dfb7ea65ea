//! Isolation: entering the rootless user namespace every tanto process that
//! touches the store runs in ([`userns`]), running exec steps through
//! youki's libcontainer from a single-threaded helper ([`run`], `exec/`;
//! see DESIGN.md's isolation model), each in a cgroup of its own with a pids
//! limit where the host delegates cgroup2 ([`cgroup`]) and trusting extra
//! certificate authorities for its run only ([`Certificate`]), and mounting
//! an overlay as steps do ([`mount_overlay`]).
//!
//! Each public item has one path: the root re-exports below, or the
//! modules `cgroup`, `overlay`, `session_network` and `userns`.

pub mod capabilities;
mod certificate;
pub mod cgroup;
mod error;
mod exec;
mod mount;
mod overlay;
pub mod session_network;
pub mod userns;

pub use certificate::Certificate;
pub use error::Error;
pub use exec::{
    check_process, dispatch_helper, network_namespace_available, run, sandbox, BadProcess, Cancel,
    ExecOutcome, ExecRequest, Mount, MountKind, Sandbox, Secret,
};
pub use mount::{mount_overlay, unmount};
