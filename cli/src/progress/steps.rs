//! The state of every step, as the updates tell it: what both renderers,
//! the summary and the timings file read.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use engine::LayerProgress;
use engine::Stream;

use super::event::{Failure, Update};
use super::lines::Lines;

/// Output lines kept per step: the failure tail shows them.
const KEPT_LINES: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Running,
    Waiting,
    Done,
    Cached,
    Failed,
    /// Stopped because nothing waited for it any more.
    Cancelled,
}

impl State {
    pub fn is_over(self) -> bool {
        matches!(
            self,
            State::Done | State::Cached | State::Failed | State::Cancelled
        )
    }
}

#[derive(Debug)]
pub struct Step {
    pub number: u64,
    pub name: String,
    pub state: State,
    /// When it started, and when it got to run after waiting.
    pub started: Duration,
    pub running_since: Duration,
    /// How long its work took, once over.
    pub took: Option<Duration>,
    /// Its last complete output lines, stdout and stderr as they came.
    pub lines: VecDeque<String>,
    partial: [Lines; 2],
    /// Layers being (or that were) downloaded, in the order first seen.
    pub layers: Vec<LayerProgress>,
    pub failure: Option<Failure>,
    /// Its result was fetched from a registry cache.
    pub from_registry: bool,
}

#[derive(Debug, Default)]
pub struct Steps {
    pub steps: BTreeMap<u64, Step>,
}

impl Steps {
    /// Applies `update`, made at `at`; returns the output lines it
    /// completed, in order.
    pub fn apply(&mut self, at: Duration, update: &Update) -> Vec<String> {
        let number = update.step();
        if let Update::Started { name, .. } = update {
            self.steps.insert(
                number,
                Step {
                    number,
                    name: name.clone(),
                    state: State::Running,
                    started: at,
                    running_since: at,
                    took: None,
                    lines: VecDeque::new(),
                    partial: [Lines::default(), Lines::default()],
                    layers: Vec::new(),
                    failure: None,
                    from_registry: false,
                },
            );
            return Vec::new();
        }
        let Some(step) = self.steps.get_mut(&number) else {
            return Vec::new();
        };
        match update {
            Update::Started { .. } | Update::Say { .. } => Vec::new(),
            Update::Waiting { .. } => {
                step.state = State::Waiting;
                Vec::new()
            }
            Update::Running { .. } => {
                step.state = State::Running;
                step.running_since = at;
                Vec::new()
            }
            Update::Output { stream, bytes, .. } => step.output(*stream, bytes),
            Update::Pull { layer, .. } => {
                match step.layers.iter_mut().find(|l| l.digest == layer.digest) {
                    Some(known) => *known = layer.clone(),
                    None => step.layers.push(layer.clone()),
                }
                Vec::new()
            }
            Update::Cached { registry, .. } => {
                step.from_registry = *registry;
                step.end(State::Cached, None)
            }
            Update::Finished { took, .. } => step.end(State::Done, Some(*took)),
            Update::Cancelled { .. } => {
                let took = at.saturating_sub(step.started);
                step.end(State::Cancelled, Some(took))
            }
            Update::Failed { failure, .. } => {
                step.failure = Some(failure.clone());
                let took = at.saturating_sub(step.started);
                step.end(State::Failed, Some(took))
            }
        }
    }

    pub fn get(&self, number: u64) -> Option<&Step> {
        self.steps.get(&number)
    }

    /// Bytes of image layers fetched by all steps.
    pub fn fetched(&self) -> Option<u64> {
        let fetched: Vec<u64> = self.steps.values().filter_map(Step::fetched).collect();
        (!fetched.is_empty()).then(|| fetched.iter().sum())
    }
}

impl Step {
    /// Bytes of image layers it fetched (`None` when it fetched none).
    pub fn fetched(&self) -> Option<u64> {
        let done: Vec<u64> = self
            .layers
            .iter()
            .filter(|l| l.done)
            .map(|l| l.bytes)
            .collect();
        (!done.is_empty()).then(|| done.iter().sum())
    }

    /// The last lines a running step printed, with the one it is writing
    /// (a prompt, a progress bar) last.
    pub fn last_lines(&self, count: usize) -> Vec<String> {
        let mut lines: Vec<String> = self.lines.iter().cloned().collect();
        lines.extend(
            self.partial
                .iter()
                .filter(|p| !p.partial().is_empty())
                .map(|p| clean(p.partial()))
                .filter(|l| !l.is_empty()),
        );
        let skip = lines.len().saturating_sub(count);
        lines.split_off(skip)
    }

    fn output(&mut self, stream: Stream, bytes: &[u8]) -> Vec<String> {
        let lines: Vec<String> = self.partial[stream as usize]
            .push(bytes)
            .iter()
            .map(|line| clean(line))
            .collect();
        self.keep(&lines);
        lines
    }

    fn end(&mut self, state: State, took: Option<Duration>) -> Vec<String> {
        self.state = state;
        self.took = took;
        let lines: Vec<String> = self
            .partial
            .iter_mut()
            .filter_map(Lines::finish)
            .map(|line| clean(&line))
            .collect();
        self.keep(&lines);
        lines
    }

    fn keep(&mut self, lines: &[String]) {
        for line in lines {
            if self.lines.len() == KEPT_LINES {
                self.lines.pop_front();
            }
            self.lines.push_back(line.clone());
        }
    }
}

/// A line of output as a terminal would leave it: what follows the last
/// carriage return, without escape sequences or control characters, which
/// would break the display around it.
pub fn clean(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let shown = text
        .rsplit('\r')
        .find(|part| !part.is_empty())
        .unwrap_or("");
    let mut out = String::with_capacity(shown.len());
    let mut chars = shown.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ parameters final-byte; other escapes: one char.
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\t' => out.push_str("    "),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(step: u64, text: &str) -> Update {
        Update::Output {
            step,
            stream: Stream::Stdout,
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn lines_are_completed_across_chunks_and_flushed_at_the_end() {
        let mut steps = Steps::default();
        let zero = Duration::ZERO;
        steps.apply(
            zero,
            &Update::Started {
                step: 1,
                name: "x".into(),
            },
        );
        assert!(steps.apply(zero, &output(1, "hel")).is_empty());
        assert_eq!(steps.apply(zero, &output(1, "lo\nwor")), ["hello"]);
        assert_eq!(
            steps.apply(
                zero,
                &Update::Finished {
                    step: 1,
                    took: zero
                }
            ),
            ["wor"]
        );
        assert_eq!(steps.get(1).unwrap().lines, ["hello", "wor"]);
    }

    #[test]
    fn escapes_and_carriage_returns_are_cleaned() {
        assert_eq!(clean(b"\x1b[31mred\x1b[0m"), "red");
        assert_eq!(clean(b"10%\r50%\r100%"), "100%");
        assert_eq!(clean(b"done\r"), "done");
        assert_eq!(clean(b"a\tb\x07"), "a    b");
    }
}
