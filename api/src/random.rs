//! Random bytes for the session token, the ID prefix and the output nonce,
//! from the engine's one source of randomness, which fails loudly: a
//! zero-filled buffer would make all three guessable.

use crate::Error;

/// `N` random bytes; `what` names their use in the error.
pub(crate) fn random_bytes<const N: usize>(what: &'static str) -> Result<[u8; N], Error> {
    engine::random_bytes::<N>().map_err(|source| Error::Random {
        what,
        source: Box::new(source),
    })
}
