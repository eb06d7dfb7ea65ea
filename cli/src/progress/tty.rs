//! The live view, for a person at a terminal.
//!
//! Below the scrollback, a live area redrawn ten times a second: every
//! running step with a spinner, its elapsed time and its last output lines
//! (or its layers' download progress), and the steps waiting for a turn. A
//! step that ends leaves the live area as one line in the scrollback
//! (`✔ #2 withExec … 1.2s`, `CACHED`, `FAILED`).
//!
//! Each redraw is one write: the cursor goes back up to the top of the live
//! area, every line is rewritten and cleared to its end, and whatever is
//! left below is cleared; no line is ever blanked first, so nothing flickers.
//! Lines are cut to the terminal's width (asked again at every redraw) so
//! none wraps, and the live area never grows taller than the terminal.

use std::io::Write;
use std::time::Duration;

use super::event::Update;
use super::plain::rate;
use super::steps::{State, Step, Steps};
use super::style::Style;
use super::summary::seconds;
use super::Render;
use crate::output;

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/// Output lines shown under a running step.
const OUTPUT_LINES: usize = 3;

/// A line for the scrollback.
enum Scroll {
    /// An ended step's one line.
    Step(u64),
    /// A line from elsewhere, as it came.
    Said(String),
}

pub struct Tty<W: Write> {
    out: W,
    steps: Steps,
    style: Style,
    /// The terminal's (columns, rows), asked at each redraw.
    size: Box<dyn Fn() -> (usize, usize) + Send>,
    /// What goes to the scrollback at the next redraw, in order.
    pending: Vec<Scroll>,
    /// Lengths (in characters) of the live lines on screen.
    drawn: Vec<usize>,
    drawn_width: usize,
}

impl<W: Write> Tty<W> {
    pub fn new(out: W, style: Style, size: Box<dyn Fn() -> (usize, usize) + Send>) -> Tty<W> {
        Tty {
            out,
            steps: Steps::default(),
            style,
            size,
            pending: Vec::new(),
            drawn: Vec::new(),
            drawn_width: 0,
        }
    }

    /// The one line an ended step leaves in the scrollback.
    fn ended_line(&self, step: &Step, width: usize) -> String {
        let (icon, state) = match step.state {
            State::Cached => (
                self.style.cached("●"),
                self.style.cached(super::plain::cached(step.from_registry)),
            ),
            State::Failed => (
                self.style.failed("✘"),
                self.style.failed(&format!(
                    "FAILED {}",
                    seconds(step.took.unwrap_or_default())
                )),
            ),
            State::Cancelled => (
                self.style.cached("⊘"),
                self.style.cached(&cancelled_state(step)),
            ),
            _ => (self.style.done("✔"), done_state(step)),
        };
        let plain_state = match step.state {
            State::Cached => super::plain::cached(step.from_registry).to_owned(),
            State::Failed => format!("FAILED {}", seconds(step.took.unwrap_or_default())),
            State::Cancelled => cancelled_state(step),
            _ => done_state(step),
        };
        let head = fit(
            &format!("#{} {}", step.number, step.name),
            width.saturating_sub(plain_state.chars().count() + 3),
        );
        format!("{icon} {head} {state}")
    }

    /// The live area at `at`, each line at most `width - 1` characters
    /// (without color codes), at most `height - 1` lines.
    pub fn live(&self, at: Duration, width: usize, height: usize) -> Vec<String> {
        let width = width.saturating_sub(1).max(10);
        let max_lines = height.saturating_sub(1).max(1);
        let live: Vec<&Step> = self
            .steps
            .steps
            .values()
            .filter(|s| !s.state.is_over())
            .collect();
        // Fewer output lines per step when the terminal is short.
        let mut per_step = OUTPUT_LINES;
        while per_step > 0 && live.len() * (1 + per_step) > max_lines {
            per_step -= 1;
        }
        let spinner = SPINNER[(at.as_millis() / 100) as usize % SPINNER.len()];
        let mut lines = Vec::new();
        for (index, step) in live.iter().enumerate() {
            if lines.len() + 1 >= max_lines && index + 1 < live.len() {
                lines.push(
                    self.style
                        .dim(&fit(&format!("  … and {} more", live.len() - index), width)),
                );
                break;
            }
            let (icon, state) = match step.state {
                State::Waiting => ('⋯', "waiting".to_owned()),
                _ => (spinner, seconds(at.saturating_sub(step.running_since))),
            };
            let head = fit(
                &format!("#{} {}", step.number, step.name),
                width.saturating_sub(state.chars().count() + 3),
            );
            lines.push(format!(
                "{} {head} {}",
                self.style.running(&icon.to_string()),
                self.style.dim(&state)
            ));
            if step.state == State::Waiting {
                continue;
            }
            let pulling: Vec<_> = step.layers.iter().filter(|l| !l.done).collect();
            let shown = per_step.min(max_lines.saturating_sub(lines.len()));
            if !pulling.is_empty() {
                for layer in pulling.iter().take(shown) {
                    lines.push(fit(
                        &format!(
                            "    layer {} {} / {} ({}/s)",
                            output::short(&layer.digest),
                            output::bytes(layer.bytes),
                            output::bytes(layer.total),
                            output::bytes(rate(layer.bytes, layer.elapsed)),
                        ),
                        width,
                    ));
                }
            } else {
                for line in step.last_lines(shown) {
                    lines.push(self.style.dim(&fit(&format!("    │ {line}"), width)));
                }
            }
        }
        lines
    }

    fn draw(&mut self, at: Duration) {
        let (width, height) = (self.size)();
        let mut frame = String::new();
        // Back to the top of the live area. Lines drawn at a wider width
        // may have been rewrapped by the terminal since.
        let rows: usize = self
            .drawn
            .iter()
            .map(|&len| {
                if width < self.drawn_width && width > 0 {
                    len.max(1).div_ceil(width)
                } else {
                    1
                }
            })
            .sum();
        if rows > 0 {
            frame.push_str(&format!("\r\x1b[{rows}A"));
        }
        for scroll in std::mem::take(&mut self.pending) {
            match scroll {
                Scroll::Step(number) => {
                    if let Some(step) = self.steps.get(number) {
                        frame.push_str(&self.ended_line(step, width.saturating_sub(1).max(10)));
                        frame.push_str("\x1b[K\n");
                    }
                }
                Scroll::Said(text) => {
                    frame.push_str(&text);
                    frame.push_str("\x1b[K\n");
                }
            }
        }
        let live = self.live(at, width, height);
        self.drawn = live.iter().map(|l| visible_len(l)).collect();
        self.drawn_width = width;
        for line in &live {
            frame.push_str(line);
            frame.push_str("\x1b[K\n");
        }
        frame.push_str("\x1b[J");
        let _ = self.out.write_all(frame.as_bytes());
        let _ = self.out.flush();
    }
}

impl<W: Write + Send> Render for Tty<W> {
    fn update(&mut self, at: Duration, update: &Update) {
        self.steps.apply(at, update);
        match update {
            Update::Cached { .. }
            | Update::Finished { .. }
            | Update::Failed { .. }
            | Update::Cancelled { .. } => {
                self.pending.push(Scroll::Step(update.step()));
            }
            Update::Say { text } => self.pending.push(Scroll::Said(text.clone())),
            _ => return,
        }
        // The scrollback gets them at once, in order.
        self.draw(at);
    }

    fn tick(&mut self, at: Duration) {
        self.draw(at);
    }

    fn stop(&mut self, at: Duration) {
        // Anything still live is listed as it stands, then the area goes.
        self.draw(at);
        let rows = self.drawn.len();
        if rows > 0 {
            let _ = write!(self.out, "\r\x1b[{rows}A\x1b[J");
        }
        self.drawn.clear();
        let _ = self.out.flush();
    }

    fn steps(&self) -> &Steps {
        &self.steps
    }

    fn out(&mut self) -> &mut dyn Write {
        &mut self.out
    }
}

/// `1.2s`, or `1.2s, fetched 3.4 MB` for an image it pulled.
fn done_state(step: &Step) -> String {
    let took = seconds(step.took.unwrap_or_default());
    match step.fetched() {
        Some(bytes) => format!("{took}, fetched {}", output::bytes(bytes)),
        None => took,
    }
}

fn cancelled_state(step: &Step) -> String {
    format!("CANCELED {}", seconds(step.took.unwrap_or_default()))
}

/// `text` cut to `width` characters, with `…` where it was cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Characters a line takes on screen, without color codes.
fn visible_len(line: &str) -> usize {
    super::steps::clean(line.as_bytes()).chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::Stream;

    fn tty(width: usize, height: usize) -> Tty<Vec<u8>> {
        Tty::new(
            Vec::new(),
            Style { color: false },
            Box::new(move || (width, height)),
        )
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

    #[test]
    fn running_steps_show_spinner_elapsed_time_and_last_lines() {
        let mut view = tty(60, 20);
        view.update(Duration::ZERO, &started(1, r#"withExec sh -c "make test""#));
        view.update(Duration::ZERO, &started(2, "withExec sh -c true"));
        view.update(Duration::ZERO, &Update::Waiting { step: 2 });
        view.update(Duration::ZERO, &out(1, "one\ntwo\nthree\nfour\n50%\r"));
        assert_eq!(
            view.live(Duration::from_millis(2300), 60, 20),
            [
                r#"⠸ #1 withExec sh -c "make test" 2.3s"#,
                "    │ three",
                "    │ four",
                "    │ 50%",
                "⋯ #2 withExec sh -c true waiting",
            ]
        );
    }

    #[test]
    fn narrow_and_short_terminals_get_cut_lines_and_fewer_of_them() {
        let mut view = tty(20, 3);
        for n in 1..=4 {
            view.update(Duration::ZERO, &started(n, "withExec sh -c \"sleep 100\""));
            view.update(Duration::ZERO, &out(n, "a long line of output\n"));
        }
        let live = view.live(Duration::ZERO, 20, 3);
        assert_eq!(live, ["⠋ #1 withExec… 0.0s", "  … and 3 more"]);
        assert!(live.iter().all(|l| l.chars().count() < 20));
    }

    #[test]
    fn ended_steps_leave_one_line_in_the_scrollback_and_the_live_area_goes() {
        let mut view = tty(60, 20);
        view.update(Duration::ZERO, &started(1, "from debian:bookworm"));
        view.update(
            Duration::ZERO,
            &Update::Cached {
                step: 1,
                registry: false,
            },
        );
        view.update(Duration::ZERO, &started(2, "withExec make"));
        view.update(Duration::ZERO, &out(2, "building\n"));
        view.tick(Duration::from_millis(100));
        view.update(
            Duration::from_millis(1200),
            &Update::Finished {
                step: 2,
                took: Duration::from_millis(1200),
            },
        );
        view.stop(Duration::from_millis(1300));
        let screen = String::from_utf8(view.out.clone()).unwrap();
        assert!(
            screen.contains("● #1 from debian:bookworm CACHED\x1b[K\n"),
            "{screen:?}"
        );
        assert!(
            screen.contains("⠙ #2 withExec make 0.1s\x1b[K\n    │ building\x1b[K\n"),
            "{screen:?}"
        );
        // Back up over the two live lines to write the ended step over them.
        assert!(
            screen.contains("\r\x1b[2A✔ #2 withExec make 1.2s\x1b[K\n\x1b[J"),
            "{screen:?}"
        );
        assert!(view.drawn.is_empty());
    }

    #[test]
    fn an_image_step_shows_its_layers_then_what_it_fetched() {
        let mut view = tty(80, 20);
        let layer = |bytes, done| Update::Pull {
            step: 1,
            layer: engine::LayerProgress {
                digest: "sha256:0123456789abcdef".into(),
                bytes,
                total: 1_000_000,
                elapsed: Duration::from_millis(500),
                done,
            },
        };
        view.update(Duration::ZERO, &started(1, "from busybox"));
        view.update(Duration::ZERO, &layer(250_000, false));
        assert_eq!(
            view.live(Duration::from_millis(500), 80, 20),
            [
                "⠴ #1 from busybox 0.5s",
                "    layer 0123456789ab 250.0 kB / 1.0 MB (500.0 kB/s)"
            ]
        );
        view.update(Duration::ZERO, &layer(1_000_000, true));
        view.update(
            Duration::from_millis(600),
            &Update::Finished {
                step: 1,
                took: Duration::from_millis(600),
            },
        );
        let screen = String::from_utf8(view.out.clone()).unwrap();
        assert!(
            screen.contains("✔ #1 from busybox 0.6s, fetched 1.0 MB"),
            "{screen:?}"
        );
    }
}
