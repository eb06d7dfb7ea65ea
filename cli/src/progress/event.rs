//! What the renderers are fed: the engine's events, owned, timed and
//! reduced to what a person is shown. Tests feed these directly, with a
//! fake clock.

use std::time::Duration;

use engine::solver::{Event, Stream};
use engine::LayerProgress;

#[derive(Clone, Debug)]
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
    },
    Finished {
        step: u64,
        took: Duration,
    },
    Failed {
        step: u64,
        failure: Failure,
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
}

impl Update {
    pub fn step(&self) -> u64 {
        match self {
            Update::Started { step, .. }
            | Update::Waiting { step }
            | Update::Running { step }
            | Update::Cached { step }
            | Update::Finished { step, .. }
            | Update::Failed { step, .. }
            | Update::Output { step, .. }
            | Update::Pull { step, .. } => *step,
        }
    }

    pub fn from_event(event: &Event<'_>) -> Option<Update> {
        Some(match event {
            Event::Started(s) => Update::Started {
                step: s.number,
                name: s.name.clone(),
            },
            Event::Waiting(s) => Update::Waiting { step: s.number },
            Event::Running(s) => Update::Running { step: s.number },
            Event::Cached(s) => Update::Cached { step: s.number },
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
