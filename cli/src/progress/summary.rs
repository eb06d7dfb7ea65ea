//! What is said once everything has run: the summary line, the slowest
//! steps, the failures with their command, exit code and last output, and
//! the `--timings` file.

use std::time::Duration;

use super::steps::{State, Step, Steps};
use super::style::Style;

/// Output lines of a failed step shown at the end.
const FAILURE_LINES: usize = 10;
/// Slowest steps named in the summary.
const SLOWEST: usize = 3;

/// `2 steps: 1 ran, 1 cached, 0 failed, in 1.2s` and the slowest steps.
/// Nothing when no step happened.
pub fn summary(steps: &Steps, wall: Duration, style: &Style) -> Vec<String> {
    if steps.steps.is_empty() {
        return Vec::new();
    }
    let count = |state| steps.steps.values().filter(|s| s.state == state).count();
    let (ran, cached, failed) = (
        count(State::Done),
        count(State::Cached),
        count(State::Failed),
    );
    let total = steps.steps.len();
    let mut lines = vec![format!(
        "{total} step{}: {ran} ran, {}, {}{}, in {}{}",
        if total == 1 { "" } else { "s" },
        style.cached(&format!("{cached} cached")),
        if failed > 0 {
            style.failed(&format!("{failed} failed"))
        } else {
            format!("{failed} failed")
        },
        match count(State::Cancelled) {
            0 => String::new(),
            n => format!(", {n} cancelled"),
        },
        seconds(wall),
        steps
            .fetched()
            .map(|b| format!(", fetched {}", crate::output::bytes(b)))
            .unwrap_or_default()
    )];
    let mut timed: Vec<&Step> = steps
        .steps
        .values()
        .filter(|s| s.state == State::Done && s.took.is_some())
        .collect();
    timed.sort_by_key(|s| std::cmp::Reverse(s.took));
    if !timed.is_empty() {
        let slowest: Vec<String> = timed
            .iter()
            .take(SLOWEST)
            .map(|s| {
                format!(
                    "#{} {} {}",
                    s.number,
                    s.name,
                    seconds(s.took.unwrap_or_default())
                )
            })
            .collect();
        lines.push(format!("slowest: {}", slowest.join(", ")));
    }
    lines
}

/// Every failed step: what failed, its command and exit code, and the end of
/// its output. Meant to be the last thing on screen.
pub fn failures(steps: &Steps, style: &Style) -> Vec<String> {
    let mut lines = Vec::new();
    for step in steps.steps.values().filter(|s| s.state == State::Failed) {
        let Some(failure) = &step.failure else {
            continue;
        };
        lines.push(String::new());
        lines.push(style.failed(&format!("step #{} {} failed", step.number, step.name)));
        match (&failure.command, failure.exit_code) {
            (Some(command), Some(code)) => {
                lines.push(format!("  command:   {}", engine::shell_words(command)));
                lines.push(format!("  exit code: {code}"));
            }
            _ => lines.push(format!("  {}", failure.message)),
        }
        let mut tail: Vec<String> = step.lines.iter().cloned().collect();
        if tail.is_empty() {
            tail = failure
                .output
                .lines()
                .map(|l| super::steps::clean(l.as_bytes()))
                .collect();
        }
        let skip = tail.len().saturating_sub(FAILURE_LINES);
        if !tail.is_empty() {
            lines.push(format!(
                "  output{}:",
                if skip > 0 {
                    format!(" (last {FAILURE_LINES} lines)")
                } else {
                    String::new()
                }
            ));
            lines.extend(tail[skip..].iter().map(|l| format!("    {}", style.dim(l))));
        }
    }
    lines
}

/// The `--timings` file: every step, when it started and how long it took.
pub fn timings(steps: &Steps, wall: Duration) -> serde_json::Value {
    let entries: Vec<serde_json::Value> = steps
        .steps
        .values()
        .map(|s| {
            serde_json::json!({
                "number": s.number,
                "name": s.name,
                "state": match s.state {
                    State::Running => "running",
                    State::Waiting => "waiting",
                    State::Done => "done",
                    State::Cached => "cached",
                    State::Failed => "failed",
                    State::Cancelled => "cancelled",
                },
                "started_seconds": s.started.as_secs_f64(),
                "seconds": s.took.map(|t| t.as_secs_f64()),
            })
        })
        .collect();
    let count = |state| steps.steps.values().filter(|s| s.state == state).count();
    serde_json::json!({
        "wall_seconds": wall.as_secs_f64(),
        "ran": count(State::Done),
        "cached": count(State::Cached),
        "failed": count(State::Failed),
        "cancelled": count(State::Cancelled),
        "fetched_bytes": steps.fetched().unwrap_or(0),
        "steps": entries,
    })
}

/// `0.3s`, `12.0s`, `2m05s`.
pub fn seconds(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = duration.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_commands_read_naturally() {
        assert_eq!(seconds(Duration::from_millis(340)), "0.3s");
        assert_eq!(seconds(Duration::from_secs(125)), "2m05s");
        assert_eq!(
            engine::shell_words(&["sh".into(), "-c".into(), "echo \"hi\"".into()]),
            r#"sh -c "echo \"hi\"""#
        );
    }
}
