//! What can be wrong with a GC policy as a user wrote it: a size, a
//! duration or a switch that does not parse, and where it was written.

use std::fmt;
use std::path::PathBuf;

/// The forms a size may take, said with every refused size.
pub const SPACE_FORMS: &str = "a size is a whole number of bytes (1073741824), a number \
     with a unit (512MB, 1.5GB, 10GiB, 10 GB: B, kB, MB, GB, TB count in powers of 1000, \
     KiB, MiB, GiB, TiB in powers of 1024, in any case) or a share of the store's disk \
     (75%, at most 100%)";

/// The forms a duration may take, said with every refused duration.
pub const DURATION_FORMS: &str = "a duration is whole seconds (3600) or numbers each \
     followed by a unit d, h, m or s (7d, 48h, 1h30m, 90s, 1.5h)";

/// The forms of an on/off switch (`enabled`, `TANTO_GC`).
pub const SWITCH_FORMS: &str = "on, off, true, false, 1 or 0";

#[derive(Debug, thiserror::Error)]
pub enum GcPolicyError {
    #[error("{input:?} is not a size: {problem}; {SPACE_FORMS}")]
    Space { input: String, problem: Malformed },

    #[error("{input:?} is not a duration: {problem}; {DURATION_FORMS}")]
    Duration { input: String, problem: Malformed },

    #[error("{input:?} is not a switch; use {SWITCH_FORMS}")]
    Switch { input: String },

    #[error("found a {found}; {expected}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },

    /// A bad value, with the key or variable it was read from.
    #[error("{origin}")]
    Setting {
        origin: Origin,
        #[source]
        source: Box<GcPolicyError>,
    },

    #[error("unknown key `{key}` in [gc] of {path}; the known keys are {known}")]
    UnknownKey {
        path: PathBuf,
        key: String,
        known: &'static str,
    },

    #[error("`gc` in {path} is not a table; write the settings under [gc]")]
    NotATable { path: PathBuf },

    /// The file could not be read or is not TOML.
    #[error(transparent)]
    File(#[from] crate::config_file::ConfigFileError),
}

/// What is wrong with a size or a duration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("it is empty")]
    Empty,
    #[error("it is negative")]
    Negative,
    #[error("it does not start with a number")]
    NotANumber,
    #[error("unknown unit {0:?}")]
    UnknownUnit(String),
    #[error("the unit {0:?} is ambiguous (powers of 1000 or of 1024?): write {0}B or {0}iB")]
    AmbiguousUnit(String),
    #[error("a number has no unit")]
    MissingUnit,
    #[error("it is more than 100%")]
    OverFullDisk,
    #[error("it is too large")]
    Overflow,
}

/// Where a setting was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `key` under `[gc]` in the file at `path`.
    File { path: PathBuf, key: String },
    /// An environment variable.
    Env { name: &'static str },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, key } => write!(f, "`{key}` in [gc] of {}", path.display()),
            Origin::Env { name } => write!(f, "${name}"),
        }
    }
}

impl GcPolicyError {
    pub(super) fn space(input: &str, problem: Malformed) -> GcPolicyError {
        GcPolicyError::Space {
            input: input.to_owned(),
            problem,
        }
    }

    pub(super) fn duration(input: &str, problem: Malformed) -> GcPolicyError {
        GcPolicyError::Duration {
            input: input.to_owned(),
            problem,
        }
    }

    pub(super) fn at(self, origin: Origin) -> GcPolicyError {
        GcPolicyError::Setting {
            origin,
            source: Box::new(self),
        }
    }
}
