//! The lazy values of the public API. Building one runs nothing; reading
//! one (`stdout`, `contents`, `export`, `sync`…) solves what it needs.

mod changeset;
mod command_line;
mod container;
mod directory;
mod docker_build;
mod host;
mod http;
mod service;

pub use changeset::{Changeset, DiffStat, DiffStatKind, MergeConflict};
pub use command_line::shell_words;
pub use container::{Container, ExecOptions, OutputFiles};
pub use directory::{
    CacheVolume, Directory, File, Host, SearchOptions, SearchResult, Stat, Submatch,
};
pub use docker_build::DockerBuild;
pub use host::Socket;
pub use service::Service;
