//! The lazy values of the public API. Building one runs nothing; reading
//! one (`stdout`, `contents`, `export`, `sync`…) solves what it needs.

mod container;
mod directory;

pub use container::{shell_words, Container, ExecOptions, OutputFiles};
pub use directory::{CacheVolume, Directory, File, Host};
