//! Random bytes for secrets: session tokens, the store's secret-hashing key.
//! The one place tanto asks the kernel for randomness, and it fails loudly:
//! a predictable token or key is worse than no run at all.

use crate::error::Error;

/// `N` bytes from the kernel's random source (`getrandom(2)`).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|source| Error::Randomness {
        source: source.into(),
    })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_draws_differ() {
        let (a, b) = (random_bytes::<32>().unwrap(), random_bytes::<32>().unwrap());
        assert_ne!(a, b);
        assert_ne!(a, [0; 32]);
    }
}
