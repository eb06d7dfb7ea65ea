//! Showing a pipeline as it runs. The engine reports events through its
//! observer; they are timed, owned ([`event::Update`]) and sent to one
//! thread that renders them: a live view on a terminal (`tty.rs`), one line
//! per event elsewhere (`plain.rs`), or nothing (`quiet`). At the end come
//! the summary and the failures (`summary.rs`), and the `--timings` file.
//!
//! Rendering never touches the engine: it is tested with fake event streams
//! and a fake clock.

mod event;
pub(crate) mod lines;
mod plain;
mod steps;
mod style;
mod summary;
mod tty;

use std::io::{IsTerminal as _, Write};
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;

pub use event::Update;
use steps::Steps;
use style::Style;

/// `--progress`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// A live view on a terminal; plain lines in CI, in a pipe, or with debug logs
    #[default]
    Auto,
    /// The live view
    Tty,
    /// One line per event
    Plain,
    /// Nothing
    Quiet,
    /// Updates as JSON lines, for `tanto run` to show its session's progress
    #[value(hide = true)]
    Events,
}

impl Mode {
    pub fn as_arg(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Tty => "tty",
            Mode::Plain => "plain",
            Mode::Quiet => "quiet",
            Mode::Events => "events",
        }
    }

    /// What `auto` means here: the live view only for a person at a
    /// terminal, and not when debug logs share stderr with it.
    pub fn resolve(self, verbose: bool) -> Mode {
        if self != Mode::Auto {
            return self;
        }
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let logs = verbose || std::env::var_os("RUST_LOG").is_some();
        if std::io::stderr().is_terminal() && !ci && !dumb && !logs {
            Mode::Tty
        } else {
            Mode::Plain
        }
    }
}

/// How progress is shown, from the global flags.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub mode: Mode,
    pub timings: Option<PathBuf>,
    pub verbose: bool,
    /// Drop plain lines rather than wait when stderr is not being read.
    pub never_block: bool,
}

/// What a renderer does with updates.
trait Render: Send {
    fn update(&mut self, at: Duration, update: &Update);
    /// Time passes (spinners, elapsed times).
    fn tick(&mut self, _at: Duration) {}
    /// Takes any live display off the screen; what follows is plain text.
    fn stop(&mut self, at: Duration);
    fn steps(&self) -> &Steps;
    fn out(&mut self) -> &mut dyn Write;

    /// The summary and the failures, last.
    fn finish(&mut self, at: Duration, style: Style) {
        let mut lines = summary::summary(self.steps(), at, &style);
        lines.extend(summary::failures(self.steps(), &style));
        let mut text = String::new();
        for line in lines {
            text.push_str(&line);
            text.push('\n');
        }
        let _ = self.out().write_all(text.as_bytes());
        let _ = self.out().flush();
    }
}

/// A renderer that shows nothing but keeps count, for `--timings`.
struct Quiet {
    steps: Steps,
    sink: std::io::Sink,
}

impl Render for Quiet {
    fn update(&mut self, at: Duration, update: &Update) {
        self.steps.apply(at, update);
    }
    fn stop(&mut self, _at: Duration) {}
    fn steps(&self) -> &Steps {
        &self.steps
    }
    fn out(&mut self) -> &mut dyn Write {
        &mut self.sink
    }
}

/// Marks a JSON update among the other lines of a session's stderr.
pub const EVENT_MARK: char = '\u{1e}';

/// Updates as marked JSON lines, for the `tanto run` that started us:
/// written by [`Sender::send`] as they happen, on the thread that reports
/// them, so a step's end is on the pipe before its answer goes to the
/// program (whose next line would otherwise come first on the screen).
/// This renderer only keeps count.
struct Events {
    steps: Steps,
    out: std::io::Stderr,
}

impl Render for Events {
    fn update(&mut self, at: Duration, update: &Update) {
        self.steps.apply(at, update);
    }
    fn stop(&mut self, _at: Duration) {}
    fn steps(&self) -> &Steps {
        &self.steps
    }
    fn out(&mut self) -> &mut dyn Write {
        &mut self.out
    }
}

/// How often the live view is redrawn.
const TICK: Duration = Duration::from_millis(100);

enum Message {
    Update(Duration, Update),
    Stop(Duration),
    /// An interactive shell takes the terminal: the live view goes, and
    /// updates are held (and producers slowed by the in-flight bound)
    /// until `Resume`. Answered once nothing more will be drawn.
    Pause(mpsc::Sender<()>),
    Resume,
}

/// How long a shell waits for the display to get off the terminal.
const PAUSE_WAIT: Duration = Duration::from_secs(5);

/// Bytes of output on their way to the renderer, at most. A step printing
/// faster than its output is shown waits (its pipe fills) rather than
/// piling its output up in our memory.
const IN_FLIGHT_LIMIT: usize = 4 << 20;

/// The output bytes sent and not yet rendered.
#[derive(Default)]
struct InFlight {
    state: std::sync::Mutex<(usize, bool)>,
    rendered: std::sync::Condvar,
}

impl InFlight {
    /// Waits until `bytes` more fit (or the renderer is gone), then counts them.
    fn admit(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let mut state = self.state.lock().unwrap();
        while state.0 > 0 && state.0 + bytes > IN_FLIGHT_LIMIT && !state.1 {
            state = self.rendered.wait(state).unwrap();
        }
        state.0 += bytes;
    }

    fn rendered(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let mut state = self.state.lock().unwrap();
        state.0 = state.0.saturating_sub(bytes);
        self.rendered.notify_all();
    }

    /// The renderer stopped: nobody waits for it any more.
    fn close(&self) {
        self.state.lock().unwrap().1 = true;
        self.rendered.notify_all();
    }
}

/// Sends updates to the renderer, within the in-flight bound.
#[derive(Clone)]
struct Sender {
    channel: mpsc::Sender<Message>,
    in_flight: Arc<InFlight>,
    started: Instant,
    /// `--progress=events`: each update is written here and now.
    events: bool,
}

impl Sender {
    fn send(&self, update: Update) {
        if self.events {
            let line = format!("{EVENT_MARK}{}\n", update.to_json());
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
        self.in_flight.admit(update.weight());
        let _ = self
            .channel
            .send(Message::Update(self.started.elapsed(), update));
    }
}

/// Progress being shown. Finish it with [`Progress::finish`]; dropped
/// unfinished (an early error), it still leaves the terminal clean.
pub struct Progress {
    sender: Sender,
    renderer: Option<JoinHandle<Box<dyn Render>>>,
    started: Instant,
    style: Style,
    mode: Mode,
    timings: Option<PathBuf>,
}

impl Progress {
    pub fn start(options: &Options) -> Progress {
        let mode = options.mode.resolve(options.verbose);
        let style = Style {
            color: mode == Mode::Tty && style::color_allowed(),
        };
        let mut renderer: Box<dyn Render> = match mode {
            Mode::Tty => Box::new(tty::Tty::new(
                std::io::stderr(),
                style,
                Box::new(terminal_size),
            )),
            Mode::Plain | Mode::Auto if options.never_block => {
                Box::new(plain::Plain::new(Unblocked(std::io::stderr())))
            }
            Mode::Plain | Mode::Auto => Box::new(plain::Plain::new(std::io::stderr())),
            Mode::Quiet => Box::new(Quiet {
                steps: Steps::default(),
                sink: std::io::sink(),
            }),
            Mode::Events => Box::new(Events {
                steps: Steps::default(),
                out: std::io::stderr(),
            }),
        };
        let (channel, receiver) = mpsc::channel();
        let started = Instant::now();
        let in_flight = Arc::new(InFlight::default());
        let rendered = Arc::clone(&in_flight);
        let live = mode == Mode::Tty;
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                // Redraws come on time even when updates never stop coming.
                let mut next_tick = Instant::now() + TICK;
                let mut held: Option<Vec<(Duration, Update)>> = None;
                loop {
                    let message = if live {
                        let wait = next_tick.saturating_duration_since(Instant::now());
                        match receiver.recv_timeout(wait) {
                            Ok(message) => Some(message),
                            Err(mpsc::RecvTimeoutError::Timeout) => None,
                            Err(mpsc::RecvTimeoutError::Disconnected) => {
                                Some(Message::Stop(started.elapsed()))
                            }
                        }
                    } else {
                        Some(receiver.recv().unwrap_or(Message::Stop(started.elapsed())))
                    };
                    match message {
                        Some(Message::Update(at, update)) => match &mut held {
                            Some(held) => held.push((at, update)),
                            None => {
                                renderer.update(at, &update);
                                rendered.rendered(update.weight());
                            }
                        },
                        Some(Message::Pause(drawn)) => {
                            renderer.stop(started.elapsed());
                            held.get_or_insert_with(Vec::new);
                            let _ = drawn.send(());
                        }
                        Some(Message::Resume) => {
                            for (at, update) in held.take().unwrap_or_default() {
                                renderer.update(at, &update);
                                rendered.rendered(update.weight());
                            }
                        }
                        Some(Message::Stop(at)) => {
                            for (at, update) in held.take().unwrap_or_default() {
                                renderer.update(at, &update);
                            }
                            rendered.close();
                            renderer.stop(at);
                            break;
                        }
                        None => {}
                    }
                    if live && held.is_none() && Instant::now() >= next_tick {
                        renderer.tick(started.elapsed());
                        next_tick = Instant::now() + TICK;
                    }
                }
                renderer
            })
            .expect("a thread starts");
        Progress {
            sender: Sender {
                channel,
                in_flight,
                started,
                events: mode == Mode::Events,
            },
            renderer: Some(thread),
            started,
            style,
            mode,
            timings: options.timings.clone(),
        }
    }

    /// The engine's observer, feeding this progress.
    pub fn observer(&self) -> engine::Observer {
        let sender = self.sender.clone();
        Arc::new(move |event| {
            if let Some(update) = Update::from_event(event) {
                sender.send(update);
            }
        })
    }

    /// The terminal, lent to the engine for interactive shells: the
    /// display gets off the screen while one runs, says why it opens,
    /// and picks up where it was after.
    pub fn terminal_access(&self, debug_failures: bool) -> engine::TerminalAccess {
        let channel = self.sender.channel.clone();
        engine::TerminalAccess {
            hand_over: Arc::new(move |shell| match shell {
                engine::Shell::Opening(why) => {
                    let (drawn, done) = mpsc::channel();
                    if channel.send(Message::Pause(drawn)).is_ok() {
                        let _ = done.recv_timeout(PAUSE_WAIT);
                    }
                    crate::output::status(&format!("\n{why}"));
                }
                engine::Shell::Closed => {
                    let _ = channel.send(Message::Resume);
                }
            }),
            debug_failures,
        }
    }

    /// Sends updates that are not engine steps, from any thread.
    pub fn observer_fn(&self) -> impl Fn(Update) + Send + Sync + 'static {
        let sender = self.sender.clone();
        move |update| sender.send(update)
    }

    /// Ends the display: takes the live view away, runs `between` (which
    /// may print results), then, when `summarize`, says the summary and the
    /// failures, so they are the last thing on screen (a command whose
    /// failure is its error message says neither); writes the timings file.
    pub fn finish(mut self, summarize: bool, between: impl FnOnce()) -> anyhow::Result<()> {
        let wall = self.started.elapsed();
        let Some(mut renderer) = self.stop(wall) else {
            between();
            return Ok(());
        };
        between();
        if summarize && !matches!(self.mode, Mode::Quiet | Mode::Events) {
            renderer.finish(wall, self.style);
        }
        if let Some(path) = &self.timings {
            let json = summary::timings(renderer.steps(), wall);
            std::fs::write(
                path,
                serde_json::to_vec_pretty(&json).expect("JSON values serialize"),
            )
            .with_context(|| format!("cannot write the timings to {}", path.display()))?;
        }
        Ok(())
    }

    fn stop(&mut self, at: Duration) -> Option<Box<dyn Render>> {
        let thread = self.renderer.take()?;
        let _ = self.sender.channel.send(Message::Stop(at));
        thread.join().ok()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        let at = self.started.elapsed();
        self.stop(at);
    }
}

/// Stderr that drops what it cannot take at once. For a session started
/// by an SDK: the Python SDK gives it a pipe it never reads, and progress
/// must not stall (or, at the end, hang) a session over that.
struct Unblocked(std::io::Stderr);

impl Write for Unblocked {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut poll = libc::pollfd {
            fd: libc::STDERR_FILENO,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no waiting.
        let ready =
            unsafe { libc::poll(&mut poll, 1, 0) } == 1 && poll.revents & libc::POLLOUT != 0;
        // A pipe that polls writable takes PIPE_BUF bytes without blocking.
        let chunk = &bytes[..bytes.len().min(libc::PIPE_BUF)];
        if ready {
            self.0.write(chunk)
        } else {
            Ok(chunk.len())
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The terminal's columns and rows (80×24 when it cannot be asked).
fn terminal_size() -> (usize, usize) {
    // SAFETY: TIOCGWINSZ fills a winsize; a failure leaves it zeroed.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 && size.ws_row > 0 {
        (usize::from(size.ws_col), usize::from(size.ws_row))
    } else {
        (80, 24)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_beyond_the_in_flight_bound_waits_until_rendered() {
        let in_flight = Arc::new(InFlight::default());
        in_flight.admit(IN_FLIGHT_LIMIT - 10);
        let (done_tx, done) = mpsc::channel();
        let producer = {
            let in_flight = Arc::clone(&in_flight);
            std::thread::spawn(move || {
                in_flight.admit(100);
                done_tx.send(()).unwrap();
            })
        };
        assert!(
            done.recv_timeout(Duration::from_millis(100)).is_err(),
            "over the bound: the producer waits"
        );
        in_flight.rendered(IN_FLIGHT_LIMIT - 10);
        done.recv_timeout(Duration::from_secs(5))
            .expect("once rendered, it goes on");
        producer.join().unwrap();
        // A renderer that stopped never holds anyone up.
        in_flight.close();
        in_flight.admit(IN_FLIGHT_LIMIT);
        in_flight.admit(IN_FLIGHT_LIMIT);
    }
}
