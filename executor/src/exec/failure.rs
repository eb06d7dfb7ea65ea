//! Why the helper could not run a step, in a form that crosses the pipe back
//! to [`super::run`], which turns it into an [`crate::Error`].

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::process::BadProcess;
use crate::Error;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    UnknownUser {
        user: String,
    },
    UnknownGroup {
        group: String,
    },
    IdNotMapped {
        user: String,
        kind: String,
        id: String,
        mapped: String,
    },
    BadProcess(BadProcess),
    MountTargetNotDirectory {
        target: String,
    },
    MountTargetIsDirectory {
        target: String,
    },
    LowerDirsTooLong {
        count: usize,
        length: usize,
    },
    Mount {
        what: String,
        detail: String,
    },
    StoreOnOverlay {
        what: String,
        upper: PathBuf,
    },
    Prepare {
        what: String,
        detail: String,
    },
    Container {
        stage: String,
        detail: String,
    },
    OutputFile {
        path: PathBuf,
        detail: String,
    },
    Timeout {
        command: String,
        timeout: Duration,
    },
    Cancelled {
        command: String,
    },
    HelperCrashed {
        detail: String,
    },
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Error {
        match failure {
            Failure::UnknownUser { user } => Error::UnknownUser { user },
            Failure::UnknownGroup { group } => Error::UnknownGroup { group },
            Failure::IdNotMapped {
                user,
                kind,
                id,
                mapped,
            } => Error::IdNotMapped {
                user,
                kind,
                id,
                mapped,
            },
            Failure::BadProcess(bad) => Error::BadProcess(bad),
            Failure::MountTargetNotDirectory { target } => {
                Error::MountTargetNotDirectory { target }
            }
            Failure::MountTargetIsDirectory { target } => Error::MountTargetIsDirectory { target },
            Failure::LowerDirsTooLong { count, length } => {
                Error::LowerDirsTooLong { count, length }
            }
            Failure::Mount { what, detail } => Error::Mount { what, detail },
            Failure::StoreOnOverlay { what, upper } => Error::StoreOnOverlay { what, upper },
            Failure::Prepare { what, detail } => Error::PrepareRootfs { what, detail },
            Failure::Container { stage, detail } => Error::Container { stage, detail },
            Failure::OutputFile { path, detail } => Error::OutputFile { path, detail },
            Failure::Timeout { command, timeout } => Error::Timeout { command, timeout },
            Failure::Cancelled { command } => Error::Cancelled { command },
            Failure::HelperCrashed { detail } => Error::HelperCrashed { detail },
        }
    }
}

/// An errno or io error as text for [`Failure`] details.
pub fn describe(error: impl std::fmt::Display) -> String {
    error.to_string()
}
