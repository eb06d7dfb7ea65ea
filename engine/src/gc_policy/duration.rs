//! A duration as users write one for `keep-duration`: whole seconds
//! (`3600`, as BuildKit's config also takes them) or numbers each followed
//! by a unit, `d`, `h`, `m` or `s` (`7d`, `48h`, `1h30m`, `1.5h`), spaces
//! allowed between the parts (`1h 30m`).
//!
//! Units are lowercase only: `M` would read as months to some. Go's
//! `time.ParseDuration`, which BuildKit and Dagger use, has no `d`; tanto
//! adds it because a keep duration is usually counted in days.

use std::time::Duration;

use super::decimal::Decimal;
use super::error::{GcPolicyError, Malformed};

const UNITS: [(&str, u128); 4] = [
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
];

/// Parses a keep duration; see the module doc for the forms.
pub fn parse_duration(input: &str) -> Result<Duration, GcPolicyError> {
    let refuse = |problem| GcPolicyError::duration(input, problem);
    let text = input.trim();
    if text.is_empty() {
        return Err(refuse(Malformed::Empty));
    }
    if text.starts_with('-') {
        return Err(refuse(Malformed::Negative));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let seconds = text.parse().map_err(|_| refuse(Malformed::Overflow))?;
        return Ok(Duration::from_secs(seconds));
    }
    let mut nanos: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let (number, after) = Decimal::split_leading(rest);
        let number = number.ok_or_else(|| refuse(Malformed::NotANumber))?;
        let after = after.trim_start();
        let unit: String = after.chars().take_while(|c| c.is_alphabetic()).collect();
        if unit.is_empty() {
            return Err(refuse(Malformed::MissingUnit));
        }
        let Some((_, unit_nanos)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(refuse(Malformed::UnknownUnit(unit)));
        };
        nanos = number
            .times(*unit_nanos)
            .and_then(|part| nanos.checked_add(part))
            .ok_or_else(|| refuse(Malformed::Overflow))?;
        rest = after[unit.len()..].trim_start();
    }
    let seconds = u64::try_from(nanos / 1_000_000_000).map_err(|_| refuse(Malformed::Overflow))?;
    Ok(Duration::new(seconds, (nanos % 1_000_000_000) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> Malformed {
        match parse_duration(text) {
            Err(GcPolicyError::Duration { input, problem }) => {
                assert_eq!(input, text);
                problem
            }
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    #[test]
    fn durations_in_every_accepted_form() {
        let hour = 3600;
        let cases = [
            ("48h", 48 * hour),
            ("30m", 30 * 60),
            ("90s", 90),
            ("7d", 7 * 24 * hour),
            ("1h30m", hour + 30 * 60),
            ("1d12h", 36 * hour),
            ("3600", 3600),
            ("0", 0),
            ("0s", 0),
            (" 2h ", 2 * hour),
            ("1.5h", 90 * 60),
            ("1h 30m", hour + 30 * 60),
            ("2 d", 2 * 24 * hour),
        ];
        for (text, seconds) in cases {
            assert_eq!(
                parse_duration(text).unwrap(),
                Duration::from_secs(seconds),
                "{text:?}"
            );
        }
        assert_eq!(parse_duration("0.5s").unwrap(), Duration::from_millis(500));
    }

    #[test]
    fn bad_durations_are_refused_with_the_reason() {
        let cases = [
            ("", Malformed::Empty),
            ("-48h", Malformed::Negative),
            ("-1", Malformed::Negative),
            ("h", Malformed::NotANumber),
            ("2 weeks", Malformed::UnknownUnit("weeks".into())),
            ("1h 30", Malformed::MissingUnit),
            ("1h30", Malformed::MissingUnit),
            ("2w", Malformed::UnknownUnit("w".into())),
            ("10ms", Malformed::UnknownUnit("ms".into())),
            ("3H", Malformed::UnknownUnit("H".into())),
            ("1.h", Malformed::NotANumber),
            ("99999999999999999999", Malformed::Overflow),
            ("999999999999999999999d", Malformed::Overflow),
        ];
        for (text, expected) in cases {
            assert_eq!(problem(text), expected, "{text:?}");
        }
    }

    #[test]
    fn the_refusal_names_the_input_and_the_accepted_forms() {
        let error = parse_duration("2 weeks").unwrap_err().to_string();
        assert!(
            error.starts_with("\"2 weeks\" is not a duration"),
            "{error}"
        );
        assert!(error.contains("48h") && error.contains("1h30m") && error.contains("3600"));
    }
}
