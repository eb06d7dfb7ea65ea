//! A size as users write it: bytes, bytes with a unit, or a share of the
//! disk the store is on.
//!
//! The accepted forms ([`SPACE_FORMS`]):
//! - a whole number of bytes: `1073741824`;
//! - a number, optionally with a fraction, then a unit, optionally after a
//!   space: `512MB`, `1.5GB`, `10 GiB`. `B`, `kB`, `MB`, `GB`, `TB` count in
//!   powers of 1000, `KiB`, `MiB`, `GiB`, `TiB` in powers of 1024; units are
//!   case-insensitive. What a fraction leaves below one byte is dropped;
//! - a percentage of the disk, at most 100: `75%`, `12.5%` (kept to four
//!   decimals).
//!
//! A bare `k`, `M`, `G` or `T` is refused: Docker and BuildKit read `10G`
//! (and even `10GB`, through go-units' `RAMInBytes`) as 10 GiB, most disk
//! tools as 10^10 bytes, so tanto asks which one is meant.

use std::fmt;
use std::str::FromStr;

use super::decimal::Decimal;
#[cfg(doc)]
use super::error::SPACE_FORMS;
use super::error::{GcPolicyError, Malformed};

/// A size, absolute or relative to the store's disk. See the module doc
/// for the forms [`FromStr`] accepts; [`fmt::Display`] writes one of them
/// back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    /// A number of bytes.
    Bytes(u64),
    /// A share of the total size of the store's disk, in millionths:
    /// `75%` is `Share(750_000)`.
    Share(u32),
}

/// `100%` in [`Space::Share`]'s millionths.
const WHOLE_DISK: u32 = 1_000_000;

const UNITS: [(&str, u64); 10] = [
    ("b", 1),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("", 1),
];

/// How [`fmt::Display`] names each unit, largest first.
const SHOWN_UNITS: [(&str, u64); 8] = [
    ("TiB", 1 << 40),
    ("TB", 1_000_000_000_000),
    ("GiB", 1 << 30),
    ("GB", 1_000_000_000),
    ("MiB", 1 << 20),
    ("MB", 1_000_000),
    ("KiB", 1 << 10),
    ("kB", 1_000),
];

impl Space {
    /// `percent`% of the disk.
    ///
    /// # Panics
    /// When `percent` is over 100 (in a const, at compile time).
    pub const fn percent(percent: u32) -> Space {
        assert!(percent <= 100, "a share of the disk is at most 100%");
        Space::Share(percent * (WHOLE_DISK / 100))
    }

    /// The size in bytes on a disk of `disk_bytes` bytes. A share is
    /// rounded down to a whole byte; it is not rounded up to a whole GB
    /// the way BuildKit's `DiskSpace.AsBytes` does.
    pub fn resolve(self, disk_bytes: u64) -> u64 {
        match self {
            Space::Bytes(bytes) => bytes,
            Space::Share(millionths) => {
                // At most disk_bytes, since millionths ≤ WHOLE_DISK.
                (u128::from(disk_bytes) * u128::from(millionths) / u128::from(WHOLE_DISK)) as u64
            }
        }
    }
}

impl FromStr for Space {
    type Err = GcPolicyError;

    fn from_str(input: &str) -> Result<Space, GcPolicyError> {
        let refuse = |problem| GcPolicyError::space(input, problem);
        let text = input.trim();
        if text.is_empty() {
            return Err(refuse(Malformed::Empty));
        }
        if text.starts_with('-') {
            return Err(refuse(Malformed::Negative));
        }
        let (number, unit) = Decimal::split_leading(text);
        let number = number.ok_or_else(|| refuse(Malformed::NotANumber))?;
        let unit = unit.trim_start();
        if unit == "%" {
            let millionths = number
                .times(u128::from(WHOLE_DISK / 100))
                .filter(|m| *m <= u128::from(WHOLE_DISK))
                .ok_or_else(|| refuse(Malformed::OverFullDisk))?;
            return Ok(Space::Share(millionths as u32));
        }
        let lower = unit.to_ascii_lowercase();
        let Some((_, multiplier)) = UNITS.iter().find(|(name, _)| *name == lower) else {
            let ambiguous = matches!(
                lower.as_str(),
                "k" | "m" | "g" | "t" | "ki" | "mi" | "gi" | "ti"
            );
            return Err(refuse(if ambiguous {
                Malformed::AmbiguousUnit(unit.trim_end_matches(['i', 'I']).to_owned())
            } else {
                Malformed::UnknownUnit(unit.to_owned())
            }));
        };
        let bytes = number
            .times(u128::from(*multiplier))
            .and_then(|bytes| u64::try_from(bytes).ok())
            .ok_or_else(|| refuse(Malformed::Overflow))?;
        Ok(Space::Bytes(bytes))
    }
}

impl fmt::Display for Space {
    /// The shortest exact form: `10GB`, `1GiB`, `1234`, `12.5%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Space::Bytes(bytes) => {
                let shortest = SHOWN_UNITS
                    .iter()
                    .filter(|(_, size)| bytes != 0 && bytes % size == 0)
                    .min_by_key(|(_, size)| bytes / size);
                match shortest {
                    Some((name, size)) => write!(f, "{}{name}", bytes / size),
                    None => write!(f, "{bytes}"),
                }
            }
            Space::Share(millionths) => {
                let whole = millionths / (WHOLE_DISK / 100);
                let fraction = millionths % (WHOLE_DISK / 100);
                if fraction == 0 {
                    write!(f, "{whole}%")
                } else {
                    let digits = format!("{fraction:04}");
                    write!(f, "{whole}.{}%", digits.trim_end_matches('0'))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Space {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?}: {}", crate::report(&e)))
    }

    fn problem(text: &str) -> Malformed {
        match text.parse::<Space>() {
            Err(GcPolicyError::Space { input, problem }) => {
                assert_eq!(input, text);
                problem
            }
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    #[test]
    fn sizes_in_every_accepted_form() {
        let cases = [
            ("1073741824", Space::Bytes(1_073_741_824)),
            ("0", Space::Bytes(0)),
            ("512MB", Space::Bytes(512_000_000)),
            ("512mb", Space::Bytes(512_000_000)),
            ("10GiB", Space::Bytes(10 << 30)),
            ("10 gib", Space::Bytes(10 << 30)),
            ("1.5GB", Space::Bytes(1_500_000_000)),
            ("0.1GB", Space::Bytes(100_000_000)),
            ("500kB", Space::Bytes(500_000)),
            ("500KB", Space::Bytes(500_000)),
            ("2KiB", Space::Bytes(2048)),
            ("3TB", Space::Bytes(3_000_000_000_000)),
            ("1TiB", Space::Bytes(1 << 40)),
            ("7B", Space::Bytes(7)),
            ("1.5B", Space::Bytes(1)),
            ("  20GB  ", Space::Bytes(20_000_000_000)),
            ("75%", Space::percent(75)),
            ("0%", Space::Share(0)),
            ("100%", Space::percent(100)),
            ("12.5%", Space::Share(125_000)),
            ("10 %", Space::percent(10)),
            ("18446744073709551615", Space::Bytes(u64::MAX)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), expected, "{text:?}");
        }
    }

    #[test]
    fn bad_sizes_are_refused_with_the_reason() {
        let cases = [
            ("", Malformed::Empty),
            ("   ", Malformed::Empty),
            ("-5GB", Malformed::Negative),
            ("-1", Malformed::Negative),
            ("GB", Malformed::NotANumber),
            ("NaN", Malformed::NotANumber),
            ("inf", Malformed::NotANumber),
            ("1.2.3GB", Malformed::NotANumber),
            (".5GB", Malformed::NotANumber),
            ("5XB", Malformed::UnknownUnit("XB".into())),
            ("5 PB", Malformed::UnknownUnit("PB".into())),
            ("5GB%", Malformed::UnknownUnit("GB%".into())),
            ("500k", Malformed::AmbiguousUnit("k".into())),
            ("10G", Malformed::AmbiguousUnit("G".into())),
            ("10Gi", Malformed::AmbiguousUnit("G".into())),
            ("101%", Malformed::OverFullDisk),
            ("100.01%", Malformed::OverFullDisk),
            ("18446744073709551616", Malformed::Overflow),
            ("20000000TB", Malformed::Overflow),
        ];
        for (text, expected) in cases {
            assert_eq!(problem(text), expected, "{text:?}");
        }
    }

    #[test]
    fn the_refusal_names_the_input_and_the_accepted_forms() {
        let error = "12XB".parse::<Space>().unwrap_err().to_string();
        assert!(
            error.starts_with("\"12XB\" is not a size: unknown unit \"XB\""),
            "{error}"
        );
        assert!(error.contains("512MB") && error.contains("GiB") && error.contains("75%"));
    }

    #[test]
    fn a_share_resolves_against_the_disk() {
        let disk = 100_000_000_000;
        assert_eq!(Space::percent(75).resolve(disk), 75_000_000_000);
        assert_eq!(Space::Share(125_000).resolve(disk), 12_500_000_000);
        assert_eq!(Space::percent(100).resolve(u64::MAX), u64::MAX);
        assert_eq!(Space::percent(10).resolve(15), 1);
        assert_eq!(Space::Bytes(42).resolve(disk), 42);
    }

    #[test]
    fn display_writes_a_form_that_parses_back() {
        let cases = [
            (Space::Bytes(10_000_000_000), "10GB"),
            (Space::Bytes(1 << 30), "1GiB"),
            (Space::Bytes(1_024_000_000), "1024MB"),
            (Space::Bytes(1234), "1234"),
            (Space::Bytes(0), "0"),
            (Space::percent(75), "75%"),
            (Space::Share(125_000), "12.5%"),
            (Space::Share(1), "0.0001%"),
        ];
        for (space, text) in cases {
            assert_eq!(space.to_string(), text);
            assert_eq!(parse(text), space);
        }
    }
}
