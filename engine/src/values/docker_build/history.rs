//! The image history a Dockerfile build records, as BuildKit's Dockerfile
//! frontend (what `docker build` runs) writes it: one entry per
//! instruction but `FROM` and `ONBUILD`, its `created_by` in BuildKit's
//! words (Go's formatting of lists included, since tools compare them),
//! and the layers it added, which the image build pairs with the entry
//! (`image/build.rs`).

use crate::config::{ConfigEdit, Healthcheck, HistoryNote};
use crate::values::Container;

/// `after` with the history entry of the instruction that made it from
/// `before`: `created_by`, and the layers `after` has on top of `before`.
pub(super) fn record(before: &Container, after: Container, created_by: String) -> Container {
    // An instruction that replaced the root outright (none does) adds no
    // layer the entry could name.
    let layers = after.layers_since(before).unwrap_or(0);
    after.edit(ConfigEdit::History(HistoryNote { created_by, layers }))
}

/// A `RUN`'s words: the stage's `ARG`s BuildKit lists first (`|2 A=1 B=2`),
/// the command, and BuildKit's mark for steps that ran.
pub(super) fn run(args: &[(String, String)], command: &[String]) -> String {
    let mut words = Vec::new();
    if !args.is_empty() {
        words.push(format!("|{}", args.len()));
        words.extend(args.iter().map(|(name, value)| format!("{name}={value}")));
    }
    words.extend(command.iter().cloned());
    format!("RUN {} # buildkit", words.join(" "))
}

/// A list as Go's `%v` prints it: `[a b]`.
pub(super) fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// A list of strings as Go's `%q` prints it: `["a" "b"]`.
pub(super) fn go_quoted(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| go_quote(i)).collect();
    format!("[{}]", quoted.join(" "))
}

fn go_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `HEALTHCHECK {Test:[CMD x] Interval:30s …}`: Go's `%+v` of Docker's
/// struct.
pub(super) fn healthcheck(check: &Healthcheck) -> String {
    format!(
        "HEALTHCHECK {{Test:{} Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{}}}",
        go_list(&check.test),
        go_duration(check.interval),
        go_duration(check.timeout),
        go_duration(check.start_period),
        go_duration(check.start_interval),
        check.retries
    )
}

/// Nanoseconds as Go's `time.Duration` prints them: `1m30s`, `500ms`, `0s`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let fraction = |value: u64, unit: u64| -> String {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            return whole.to_string();
        }
        let digits = unit.to_string().len() - 1;
        let decimals = format!("{rest:0digits$}");
        format!("{whole}.{}", decimals.trim_end_matches('0'))
    };
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return format!("{sign}{}µs", fraction(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", fraction(n, 1_000_000));
    }
    let (hours, rest) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
    let (minutes, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let seconds = fraction(rest, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{seconds}s"),
        (0, m) => format!("{sign}{m}m{seconds}s"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_prints_them() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(30_000_000_000), "30s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(go_duration(1_500), "1.5µs");
    }

    #[test]
    fn lists_print_as_go_prints_them() {
        let args = vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            "echo \"hi\"".to_owned(),
        ];
        assert_eq!(go_list(&args), "[/bin/sh -c echo \"hi\"]");
        assert_eq!(go_quoted(&args), r#"["/bin/sh" "-c" "echo \"hi\""]"#);
        assert_eq!(
            run(&[("V".into(), "1".into())], &args),
            "RUN |1 V=1 /bin/sh -c echo \"hi\" # buildkit"
        );
    }
}
