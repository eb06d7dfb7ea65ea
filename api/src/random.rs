//! Random bytes from the kernel, for the session token, the ID prefix and
//! the output nonce. A read that fails is an error: a zero-filled buffer
//! would make all three guessable.

use crate::Error;

/// `N` random bytes; `what` names their use in the error.
pub(crate) fn random_bytes<const N: usize>(what: &'static str) -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|source| Error::Random { what, source })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_draws_differ() {
        let a = random_bytes::<16>("test").unwrap();
        let b = random_bytes::<16>("test").unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0; 16]);
    }
}
