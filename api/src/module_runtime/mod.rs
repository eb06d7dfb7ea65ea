//! The containers module functions run in, one recipe per SDK, written
//! natively in tanto rather than as Dagger's SDK modules (see
//! ../shared/dagger-modules.md §7.1): only the SDK library inside must see
//! what it sees under Dagger.

pub mod python;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{reason}")]
    Project { reason: String },
}
