//! A decimal number as users write one in a size or a duration (`1.5` in
//! `1.5GB`), kept exact: `0.1GB` must be 100,000,000 bytes, which a float
//! cannot promise.

/// `digits / 10^scale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Decimal {
    digits: u128,
    scale: u32,
}

/// Beyond this many digits the number could overflow u128 once scaled by a
/// unit; no size or duration needs them.
const MAX_DIGITS: usize = 24;

impl Decimal {
    /// Splits `text` into the longest leading run of `[0-9.]` and the rest.
    /// The number must be `digits` or `digits.digits`; `None` when it is
    /// not (no digit first, a second point, nothing after the point), or
    /// when it has more digits than any size or duration needs.
    pub(super) fn split_leading(text: &str) -> (Option<Decimal>, &str) {
        let end = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, rest) = text.split_at(end);
        (Decimal::parse(number), rest)
    }

    fn parse(number: &str) -> Option<Decimal> {
        let (whole, fraction) = match number.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (number, ""),
        };
        let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let well_formed = !whole.is_empty()
            && digits_only(whole)
            && digits_only(fraction)
            && !(number.contains('.') && fraction.is_empty());
        if !well_formed || whole.len() + fraction.len() > MAX_DIGITS {
            return None;
        }
        let digits = format!("{whole}{fraction}").parse().ok()?;
        Some(Decimal {
            digits,
            scale: fraction.len() as u32,
        })
    }

    /// `self × unit`, truncated to a whole number; `None` on overflow.
    pub(super) fn times(self, unit: u128) -> Option<u128> {
        Some(self.digits.checked_mul(unit)? / 10u128.pow(self.scale))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_number_is_split_from_what_follows_it() {
        let (number, rest) = Decimal::split_leading("1.5GB");
        assert_eq!(number.unwrap().times(1_000_000_000), Some(1_500_000_000));
        assert_eq!(rest, "GB");
        let (number, rest) = Decimal::split_leading("10 GiB");
        assert_eq!(number.unwrap().times(1), Some(10));
        assert_eq!(rest, " GiB");
    }

    #[test]
    fn a_tenth_is_exact() {
        let (number, _) = Decimal::split_leading("0.1");
        assert_eq!(number.unwrap().times(1_000_000_000), Some(100_000_000));
    }

    #[test]
    fn what_is_not_a_plain_decimal_is_refused() {
        for text in [
            "",
            ".5",
            "5.",
            "1.2.3",
            "..",
            "GB",
            "1234567890123456789012345",
        ] {
            assert_eq!(Decimal::split_leading(text).0, None, "{text:?}");
        }
    }

    #[test]
    fn overflow_is_none() {
        let (number, _) = Decimal::split_leading("999999999999999999999999");
        assert_eq!(number.unwrap().times(u128::MAX / 2), None);
    }
}
