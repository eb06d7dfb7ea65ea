//! What the session itself can refuse or fail at: IDs that this session
//! never issued or that name another type, and the kernel giving no random
//! bytes. The engine's errors are its own (`engine::Error`) and reach the
//! SDKs through `response.rs`.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown ID {id:?}: IDs come from this session's `id` fields; this one was never issued here (tampered, or from another session)")]
    UnknownId { id: String },

    #[error("the ID {id:?} is a {actual}, not a {expected}")]
    WrongIdType {
        id: String,
        expected: &'static str,
        actual: &'static str,
    },

    #[error("cannot get random bytes for the {what}")]
    Random {
        what: &'static str,
        #[source]
        source: Box<engine::Error>,
    },
}

/// How a module's function failed, as its SDK said it: not tanto's
/// failure but the user's, which the caller passes on to its own client
/// (a GraphQL error with `values` as extensions, or an exit code).
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The SDK called `returnError`: the message, and its details (Python:
    /// `exception.type`, `exception.message`, `exception.stacktrace`; a
    /// failed exec: `_type` = `"EXEC_ERROR"`, `exitCode`, `cmd`,
    /// `stdout`, `stderr`).
    #[error("{message}")]
    Returned {
        message: String,
        values: Vec<(String, serde_json::Value)>,
    },

    #[error("{call} completed without returning a value")]
    NoValue { call: String },
}

impl ModuleError {
    /// The detail named `name` of a returned error.
    pub fn value(&self, name: &str) -> Option<&serde_json::Value> {
        match self {
            ModuleError::Returned { values, .. } => {
                values.iter().find(|(n, _)| n == name).map(|(_, v)| v)
            }
            ModuleError::NoValue { .. } => None,
        }
    }
}
