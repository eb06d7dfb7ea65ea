//! Durations as Dagger's API spells them: Go's `time.ParseDuration` and
//! `Duration.String` (`30s`, `1m30s`, `1.5ms`, `0s`).

const UNITS: [(&str, i128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Nanoseconds in `text`, or why not.
pub(crate) fn parse(text: &str) -> Result<i64, String> {
    let invalid = || {
        format!(
            "invalid duration {text:?}: write it as Go does, e.g. \"30s\", \"1m30s\", \"500ms\""
        )
    };
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let (number, after) = rest.split_at(number_end);
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(invalid)?;
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        let mut part = whole * scale;
        let mut place = scale;
        for digit in fraction.chars() {
            place /= 10;
            part += i128::from(digit.to_digit(10).ok_or_else(invalid)?) * place;
        }
        total += part;
        if total > i128::from(i64::MAX) {
            return Err(invalid());
        }
        rest = after;
    }
    Ok(if negative {
        -(total as i64)
    } else {
        total as i64
    })
}

/// `nanos` as Go's `Duration.String` writes it.
pub(crate) fn format(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    let fraction = |value: u64, digits: u32| {
        let scale = 10u64.pow(digits);
        let frac = format!("{:0width$}", value % scale, width = digits as usize);
        let frac = frac.trim_end_matches('0');
        match frac {
            "" => format!("{}", value / scale),
            frac => format!("{}.{frac}", value / scale),
        }
    };
    if u < 1_000_000_000 {
        return match u {
            u if u < 1_000 => format!("{sign}{u}ns"),
            u if u < 1_000_000 => format!("{sign}{}µs", fraction(u, 3)),
            u => format!("{sign}{}ms", fraction(u, 6)),
        };
    }
    let seconds = fraction(u % 60_000_000_000, 9);
    let minutes = u / 60_000_000_000;
    match minutes {
        0 => format!("{sign}{seconds}s"),
        m if m < 60 => format!("{sign}{m}m{seconds}s"),
        m => format!("{sign}{}h{}m{seconds}s", m / 60, m % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_round_trip() {
        for (text, nanos, written) in [
            ("30s", 30_000_000_000, "30s"),
            ("90s", 90_000_000_000, "1m30s"),
            ("1h", 3_600_000_000_000, "1h0m0s"),
            ("1.5s", 1_500_000_000, "1.5s"),
            ("300ms", 300_000_000, "300ms"),
            ("2h45m", 9_900_000_000_000, "2h45m0s"),
            ("1.5us", 1_500, "1.5µs"),
            ("0", 0, "0s"),
            ("-3s", -3_000_000_000, "-3s"),
        ] {
            assert_eq!(parse(text), Ok(nanos), "{text}");
            assert_eq!(format(nanos), written, "{text}");
        }
        for bad in ["", "3", "s", "3x", "1.2.3s"] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
