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
