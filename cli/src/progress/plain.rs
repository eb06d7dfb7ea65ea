//! Plain progress, for CI logs and pipes: one line per event, each starting
//! with its step's number, so parallel steps stay readable interleaved.
//!
//! ```text
//! #2 withExec sh -c "make test" STARTED
//! #2 | ok 1 - parses
//! #2 withExec sh -c "make test" DONE 1.2s
//! #3 from debian:bookworm CACHED
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use super::event::Update;
use super::steps::Steps;
use super::summary::seconds;
use super::Render;
use crate::output;

/// How often a layer download in progress gets a line.
const PULL_EVERY: Duration = Duration::from_secs(2);

/// How a cached step ends: found in the store, or fetched from a registry
/// cache.
pub(super) fn cached(registry: bool) -> &'static str {
    if registry {
        "CACHED (registry)"
    } else {
        "CACHED"
    }
}

pub struct Plain<W: Write> {
    out: W,
    steps: Steps,
    /// When each layer last got a line.
    pull_lines: HashMap<String, Duration>,
}

impl<W: Write> Plain<W> {
    pub fn new(out: W) -> Plain<W> {
        Plain {
            out,
            steps: Steps::default(),
            pull_lines: HashMap::new(),
        }
    }

    fn lines(&self, at: Duration, update: &Update, output: Vec<String>) -> Vec<String> {
        let number = update.step();
        let Some(step) = self.steps.get(number) else {
            return Vec::new();
        };
        let head = format!("#{number} {}", step.name);
        let mut lines: Vec<String> = output
            .into_iter()
            .map(|l| format!("#{number} | {l}"))
            .collect();
        match update {
            Update::Started { .. } => lines.push(format!("{head} STARTED")),
            Update::Waiting { .. } => lines.push(format!("{head} WAITING")),
            Update::Running { .. } => lines.push(format!("{head} RUNNING")),
            Update::Cached { registry, .. } => lines.push(format!("{head} {}", cached(*registry))),
            Update::Cancelled { .. } => lines.push(format!(
                "{head} CANCELED {}",
                seconds(step.took.unwrap_or_default())
            )),
            Update::Finished { took, .. } => lines.push(format!(
                "{head} DONE {}{}",
                seconds(*took),
                step.fetched()
                    .map(|b| format!(", fetched {}", output::bytes(b)))
                    .unwrap_or_default()
            )),
            Update::Failed { failure, .. } => lines.push(format!(
                "{head} FAILED {}: {}",
                seconds(step.took.unwrap_or_default()),
                match failure.exit_code {
                    Some(code) => format!("exit code {code}"),
                    None => failure.message.clone(),
                }
            )),
            Update::Output { .. } | Update::Say { .. } => {}
            Update::Pull { layer, .. } => {
                let short = output::short(&layer.digest);
                if layer.done {
                    lines.push(format!(
                        "#{number} layer {short} fetched {} in {} ({}/s)",
                        output::bytes(layer.bytes),
                        seconds(layer.elapsed),
                        output::bytes(rate(layer.bytes, layer.elapsed)),
                    ));
                } else if layer.bytes == 0 {
                    lines.push(format!(
                        "#{number} layer {short} fetching {}",
                        output::bytes(layer.total)
                    ));
                } else if self
                    .pull_lines
                    .get(&layer.digest)
                    .is_none_or(|last| at.saturating_sub(*last) >= PULL_EVERY)
                {
                    lines.push(format!(
                        "#{number} layer {short} {} / {} ({}/s)",
                        output::bytes(layer.bytes),
                        output::bytes(layer.total),
                        output::bytes(rate(layer.bytes, layer.elapsed)),
                    ));
                }
            }
        }
        lines
    }
}

/// Bytes per second.
pub fn rate(bytes: u64, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        0
    } else {
        (bytes as f64 / secs) as u64
    }
}

impl<W: Write + Send> Render for Plain<W> {
    fn update(&mut self, at: Duration, update: &Update) {
        if let Update::Say { text } = update {
            let _ = writeln!(self.out, "{text}");
            return;
        }
        let output = self.steps.apply(at, update);
        let lines = self.lines(at, update, output);
        if let Update::Pull { layer, .. } = update {
            if !lines.is_empty() {
                self.pull_lines.insert(layer.digest.clone(), at);
            }
        }
        let mut text = String::new();
        for line in lines {
            text.push_str(&line);
            text.push('\n');
        }
        // A broken stderr must not stop the pipeline.
        let _ = self.out.write_all(text.as_bytes());
    }

    fn stop(&mut self, _at: Duration) {
        let _ = self.out.flush();
    }

    fn steps(&self) -> &Steps {
        &self.steps
    }

    fn out(&mut self) -> &mut dyn Write {
        &mut self.out
    }
}

#[cfg(test)]
mod tests {
    //! Snapshots of what a CI log shows, from a fake event stream and clock.

    use super::*;
    use crate::progress::event::Failure;
    use crate::progress::style::Style;
    use engine::LayerProgress;
    use engine::Stream;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn started(step: u64, name: &str) -> Update {
        Update::Started {
            step,
            name: name.into(),
        }
    }

    fn out(step: u64, text: &str) -> Update {
        Update::Output {
            step,
            stream: Stream::Stdout,
            bytes: text.as_bytes().to_vec(),
        }
    }

    fn render(updates: &[(u64, Update)], end: u64) -> String {
        let mut plain = Plain::new(Vec::new());
        for (at, update) in updates {
            plain.update(ms(*at), update);
        }
        plain.finish(ms(end), Style { color: false });
        String::from_utf8(plain.out).unwrap()
    }

    #[test]
    fn interleaved_parallel_steps_stay_readable() {
        let log = render(
            &[
                (0, started(1, "from debian:bookworm")),
                (
                    1,
                    Update::Cached {
                        step: 1,
                        registry: false,
                    },
                ),
                (2, started(2, r#"withExec sh -c "make lint""#)),
                (3, started(3, r#"withExec sh -c "make test""#)),
                (4, out(2, "lint: ")),
                (5, out(3, "test 1 ok\ntest 2")),
                (6, out(2, "clean\n")),
                (7, out(3, " ok\n")),
                (
                    900,
                    Update::Finished {
                        step: 2,
                        took: ms(898),
                    },
                ),
                (
                    1500,
                    Update::Finished {
                        step: 3,
                        took: ms(1497),
                    },
                ),
            ],
            1600,
        );
        assert_eq!(
            log,
            r#"#1 from debian:bookworm STARTED
#1 from debian:bookworm CACHED
#2 withExec sh -c "make lint" STARTED
#3 withExec sh -c "make test" STARTED
#3 | test 1 ok
#2 | lint: clean
#3 | test 2 ok
#2 withExec sh -c "make lint" DONE 0.9s
#3 withExec sh -c "make test" DONE 1.5s
3 steps: 2 ran, 1 cached, 0 failed, in 1.6s
slowest: #3 withExec sh -c "make test" 1.5s, #2 withExec sh -c "make lint" 0.9s
"#
        );
    }

    #[test]
    fn a_failure_ends_the_log_with_command_exit_code_and_output() {
        let log = render(
            &[
                (0, started(1, r#"withExec sh -c "echo out; exit 3""#)),
                (5, out(1, "out\nno newline")),
                (
                    100,
                    Update::Failed {
                        step: 1,
                        failure: Failure {
                            message: "ignored for an exec".into(),
                            command: Some(vec![
                                "sh".into(),
                                "-c".into(),
                                "echo out; exit 3".into(),
                            ]),
                            exit_code: Some(3),
                            output: String::new(),
                        },
                    },
                ),
                (101, started(2, "host.directory ./src")),
                (
                    102,
                    Update::Failed {
                        step: 2,
                        failure: Failure {
                            message: "cannot read ./src: no such directory".into(),
                            ..Failure::default()
                        },
                    },
                ),
            ],
            200,
        );
        assert_eq!(
            log,
            r#"#1 withExec sh -c "echo out; exit 3" STARTED
#1 | out
#1 | no newline
#1 withExec sh -c "echo out; exit 3" FAILED 0.1s: exit code 3
#2 host.directory ./src STARTED
#2 host.directory ./src FAILED 0.0s: cannot read ./src: no such directory
2 steps: 0 ran, 0 cached, 2 failed, in 0.2s

step #1 withExec sh -c "echo out; exit 3" failed
  command:   sh -c "echo out; exit 3"
  exit code: 3
  output:
    out
    no newline

step #2 host.directory ./src failed
  cannot read ./src: no such directory
"#
        );
    }

    #[test]
    fn pulls_show_bytes_rate_and_totals_without_flooding_the_log() {
        let layer = |bytes, at, done| Update::Pull {
            step: 1,
            layer: LayerProgress {
                digest: "sha256:3f4e5a6b7c8d9e0f".into(),
                bytes,
                total: 4_000_000,
                elapsed: ms(at),
                done,
            },
        };
        let log = render(
            &[
                (0, started(1, "from busybox")),
                (0, layer(0, 0, false)),
                (100, layer(200_000, 100, false)),
                (200, layer(400_000, 200, false)),
                (2200, layer(3_000_000, 2200, false)),
                (2500, layer(4_000_000, 2500, true)),
                (
                    2600,
                    Update::Finished {
                        step: 1,
                        took: ms(2600),
                    },
                ),
            ],
            2700,
        );
        assert_eq!(
            log,
            "#1 from busybox STARTED
#1 layer 3f4e5a6b7c8d fetching 4.0 MB
#1 layer 3f4e5a6b7c8d 3.0 MB / 4.0 MB (1.4 MB/s)
#1 layer 3f4e5a6b7c8d fetched 4.0 MB in 2.5s (1.6 MB/s)
#1 from busybox DONE 2.6s, fetched 4.0 MB
1 step: 1 ran, 0 cached, 0 failed, in 2.7s, fetched 4.0 MB
slowest: #1 from busybox 2.6s
"
        );
    }

    #[test]
    fn output_without_newlines_is_shown_in_bounded_pieces_as_it_comes() {
        let mut plain = Plain::new(Vec::new());
        plain.update(ms(0), &started(1, "minify"));
        let chunk = "x".repeat(64 << 10);
        for n in 0..16 {
            plain.update(ms(n), &out(1, &chunk));
        }
        // Shown while the step runs, not held until a newline comes.
        let shown = String::from_utf8(std::mem::take(&mut plain.out)).unwrap();
        let lines: Vec<&str> = shown.lines().filter(|l| l.starts_with("#1 | ")).collect();
        // 1 MiB in 16 KiB pieces; the last one may still grow.
        assert_eq!(lines.len(), 63);
        assert!(lines
            .iter()
            .all(|l| l.len() == "#1 | ".len() + crate::progress::lines::LINE_LIMIT));
        assert!(
            plain.steps.get(1).unwrap().last_lines(1)[0].len()
                <= crate::progress::lines::LINE_LIMIT
        );
    }
}
