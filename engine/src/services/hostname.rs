//! A service's hostname when it is given none (`withHostname`): 13
//! characters from its key, the shape of Dagger's (64 bits in lower-case
//! base32hex), so code that expects such names keeps working.

use crate::cache_key::CacheKey;

const DIGITS: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// The first 64 bits of `key`'s hash, five bits a character.
pub(crate) fn hostname_of(key: &CacheKey) -> String {
    let hex = key.to_hex();
    let bits = u64::from_str_radix(&hex[..16], 16).expect("a key is hex");
    // 13 characters hold 65 bits: the last takes the 4 that are left.
    (0..13)
        .map(|i| {
            let shift = 64i32 - 5 * (i + 1);
            let digit = match shift {
                s if s >= 0 => (bits >> s) & 31,
                s => (bits << -s) & 31,
            };
            DIGITS[digit as usize] as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_key::KeyBuilder;

    #[test]
    fn a_hostname_is_13_safe_characters_that_follow_the_key() {
        let one = KeyBuilder::new("t").str("a", "1").finish();
        let two = KeyBuilder::new("t").str("a", "2").finish();
        let name = hostname_of(&one);
        assert_eq!(name.len(), 13);
        assert!(name
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        assert_eq!(name, hostname_of(&one));
        assert_ne!(name, hostname_of(&two));
    }
}
