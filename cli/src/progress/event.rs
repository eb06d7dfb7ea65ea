//! What the renderers are fed: the engine's events, owned, timed and
//! reduced to what a person is shown. Tests feed these directly, with a
//! fake clock.

use std::time::Duration;

use engine::LayerProgress;
use engine::{Event, Stream};

#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    Started {
        step: u64,
        name: String,
    },
    Waiting {
        step: u64,
    },
    Running {
        step: u64,
    },
    Cached {
        step: u64,
        /// Fetched from a registry cache (`--cache-from`).
        registry: bool,
    },
    Finished {
        step: u64,
        took: Duration,
    },
    Failed {
        step: u64,
        failure: Failure,
    },
    /// Nothing waited for it any more (its caller went away): stopped.
    Cancelled {
        step: u64,
    },
    Output {
        step: u64,
        stream: Stream,
        bytes: Vec<u8>,
    },
    Pull {
        step: u64,
        layer: LayerProgress,
    },
    /// A line from elsewhere (the program `tanto run` runs, the session's
    /// own messages), shown in the scrollback above the live view.
    Say {
        text: String,
    },
}

impl Update {
    pub fn step(&self) -> u64 {
        match self {
            Update::Started { step, .. }
            | Update::Waiting { step }
            | Update::Running { step }
            | Update::Cached { step, .. }
            | Update::Finished { step, .. }
            | Update::Failed { step, .. }
            | Update::Cancelled { step }
            | Update::Output { step, .. }
            | Update::Pull { step, .. } => *step,
            Update::Say { .. } => 0,
        }
    }

    /// The bytes of output it carries, which the renderer must catch up on.
    pub fn weight(&self) -> usize {
        match self {
            Update::Output { bytes, .. } => bytes.len(),
            Update::Say { text } => text.len(),
            _ => 0,
        }
    }

    /// One JSON line, for `tanto run` to show what its session reports.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Update::Started { step, name } => json!({"started": step, "name": name}),
            Update::Waiting { step } => json!({ "waiting": step }),
            Update::Running { step } => json!({ "running": step }),
            Update::Cached { step, registry } => json!({ "cached": step, "registry": registry }),
            Update::Finished { step, took } => {
                json!({"finished": step, "took": took.as_secs_f64()})
            }
            Update::Cancelled { step } => json!({ "cancelled": step }),
            Update::Failed { step, failure } => json!({
                "failed": step,
                "message": failure.message,
                "command": failure.command,
                "exit_code": failure.exit_code,
                "output": failure.output,
            }),
            Update::Output {
                step,
                stream,
                bytes,
            } => json!({
                "output": step,
                "stderr": *stream == Stream::Stderr,
                "hex": hex::encode(bytes),
            }),
            Update::Pull { step, layer } => json!({
                "pull": step,
                "digest": layer.digest,
                "bytes": layer.bytes,
                "total": layer.total,
                "elapsed": layer.elapsed.as_secs_f64(),
                "done": layer.done,
            }),
            Update::Say { text } => json!({ "say": text }),
        }
    }

    /// The inverse of [`Update::to_json`]; `None` for anything else.
    pub fn from_json(value: &serde_json::Value) -> Option<Update> {
        let number = |key: &str| value.get(key).and_then(|v| v.as_u64());
        let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let seconds = |key: &str| {
            value
                .get(key)
                .and_then(|v| v.as_f64())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
        };
        Some(if let Some(step) = number("started") {
            Update::Started {
                step,
                name: text("name")?,
            }
        } else if let Some(step) = number("waiting") {
            Update::Waiting { step }
        } else if let Some(step) = number("running") {
            Update::Running { step }
        } else if let Some(step) = number("cached") {
            Update::Cached {
                step,
                registry: value.get("registry").and_then(|r| r.as_bool()) == Some(true),
            }
        } else if let Some(step) = number("cancelled") {
            Update::Cancelled { step }
        } else if let Some(step) = number("finished") {
            Update::Finished {
                step,
                took: seconds("took")?,
            }
        } else if let Some(step) = number("failed") {
            Update::Failed {
                step,
                failure: Failure {
                    message: text("message")?,
                    command: value.get("command").and_then(|c| {
                        c.as_array()?
                            .iter()
                            .map(|a| a.as_str().map(str::to_owned))
                            .collect()
                    }),
                    exit_code: value
                        .get("exit_code")
                        .and_then(|c| c.as_i64())
                        .and_then(|c| i32::try_from(c).ok()),
                    output: text("output")?,
                },
            }
        } else if let Some(step) = number("output") {
            Update::Output {
                step,
                stream: if value.get("stderr").and_then(|v| v.as_bool())? {
                    Stream::Stderr
                } else {
                    Stream::Stdout
                },
                bytes: hex::decode(text("hex")?).ok()?,
            }
        } else if let Some(step) = number("pull") {
            Update::Pull {
                step,
                layer: LayerProgress {
                    digest: text("digest")?,
                    bytes: number("bytes")?,
                    total: number("total")?,
                    elapsed: seconds("elapsed")?,
                    done: value.get("done").and_then(|v| v.as_bool())?,
                },
            }
        } else {
            Update::Say { text: text("say")? }
        })
    }

    pub fn from_event(event: &Event<'_>) -> Option<Update> {
        Some(match event {
            Event::Started(s) => Update::Started {
                step: s.number,
                name: s.name.clone(),
            },
            Event::Waiting(s) => Update::Waiting { step: s.number },
            Event::Running(s) => Update::Running { step: s.number },
            Event::Cached(s) => Update::Cached {
                step: s.number,
                registry: false,
            },
            Event::Fetched(s) => Update::Cached {
                step: s.number,
                registry: true,
            },
            Event::Finished(s, took) => Update::Finished {
                step: s.number,
                took: *took,
            },
            Event::Failed(s, error) => Update::Failed {
                step: s.number,
                failure: Failure::from_error(error),
            },
            Event::Output(s, stream, bytes) => Update::Output {
                step: s.number,
                stream: *stream,
                bytes: bytes.to_vec(),
            },
            Event::Abandoned(s) => Update::Cancelled { step: s.number },
            Event::Pull(s, layer) => Update::Pull {
                step: s.number,
                layer: (*layer).clone(),
            },
            _ => return None,
        })
    }
}

/// Why a step failed, as a person reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Failure {
    /// One line: what failed.
    pub message: String,
    /// For a command that ran and failed.
    pub command: Option<Vec<String>>,
    pub exit_code: Option<i32>,
    /// The end of its output, for when none was streamed.
    pub output: String,
}

impl Failure {
    pub fn from_error(error: &engine::Error) -> Failure {
        match error {
            engine::Error::Shared(inner) => Failure::from_error(inner),
            engine::Error::ExecFailed {
                command,
                exit_code,
                stdout,
                stderr,
                ..
            } => Failure {
                message: format!(
                    "process {:?} did not complete successfully: exit code: {exit_code}",
                    command.join(" ")
                ),
                command: Some(command.clone()),
                exit_code: Some(*exit_code),
                output: format!("{stdout}{stderr}"),
            },
            other => Failure {
                message: engine::report(other),
                ..Failure::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_survive_the_trip_from_session_to_run() {
        let updates = [
            Update::Started {
                step: 1,
                name: "withExec sh -c \"x\"".into(),
            },
            Update::Waiting { step: 1 },
            Update::Running { step: 1 },
            Update::Cached {
                step: 2,
                registry: true,
            },
            Update::Finished {
                step: 1,
                took: Duration::from_millis(1500),
            },
            Update::Failed {
                step: 3,
                failure: Failure {
                    message: "m".into(),
                    command: Some(vec!["sh".into()]),
                    exit_code: Some(7),
                    output: "o".into(),
                },
            },
            Update::Failed {
                step: 4,
                failure: Failure {
                    message: "no command".into(),
                    ..Failure::default()
                },
            },
            Update::Output {
                step: 1,
                stream: Stream::Stderr,
                bytes: vec![0xe2, 0x9c, b'\n'],
            },
            Update::Pull {
                step: 5,
                layer: LayerProgress {
                    digest: "sha256:ab".into(),
                    bytes: 10,
                    total: 20,
                    elapsed: Duration::from_millis(250),
                    done: false,
                },
            },
            Update::Say { text: "hi".into() },
        ];
        for update in updates {
            let line = update.to_json().to_string();
            let back = Update::from_json(&serde_json::from_str(&line).unwrap());
            assert_eq!(back.as_ref(), Some(&update), "{line}");
        }
        assert_eq!(Update::from_json(&serde_json::json!({"what": 1})), None);
    }
}
