//! A real terminal for tests: a tmux server of our own, its screen read
//! and keys typed into it.

use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of our own, killed when the test ends.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(command: &str) -> Option<Tmux> {
        // A server per terminal: one being killed may still hold a name.
        static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let socket = format!(
            "tanto-test-{}-{}",
            std::process::id(),
            SERVERS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let started = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", "100", "-y", "30", "-s", "test"])
            .arg(command)
            .status();
        match started {
            Ok(status) if status.success() => Some(Tmux { socket }),
            _ => None,
        }
    }

    /// The scrollback and the screen.
    pub fn screen(&self) -> String {
        self.capture(&["-J", "-S", "-200"])
    }

    /// The screen only, as wide as the terminal now is.
    pub fn visible(&self) -> String {
        self.capture(&[])
    }

    fn capture(&self, options: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "test"])
            .args(options)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn resize(&self, columns: u16) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "resize-window", "-t", "test"])
            .args(["-x", &columns.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Polls the visible screen until `wanted` holds.
    pub fn wait_for_visible(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        poll(what, || self.visible(), wanted)
    }

    /// Polls the screen until `wanted` holds.
    pub fn wait_for(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        poll(what, || self.screen(), wanted)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

impl Tmux {
    /// `tanto ARGS` as the test user in a 100×30 terminal; the pane says
    /// `EXIT=n` when it ends and stays open.
    pub fn tanto(tanto: &super::tanto::Tanto, args: &[&str]) -> Tmux {
        let line = tanto.shell_line(args, &[("TERM", "xterm-256color"), ("NO_COLOR", "1")]);
        Tmux::start(&format!("{line}; echo EXIT=$?; sleep 3600"))
            .expect("tmux must be installed (scripts/install-deps installs it)")
    }

    /// Waits for a shell's prompt: what it echoes comes back computed.
    pub fn wait_for_shell(&self, marker: &str) -> String {
        self.type_line(&format!("echo {marker}-$((6*7))"));
        self.wait_for("the shell", |screen| {
            screen.contains(&format!("{marker}-42"))
        })
    }

    /// Waits for the pane's `EXIT=n`: the whole screen.
    pub fn wait_for_exit(&self) -> String {
        self.wait_for("tanto's end", |screen| screen.contains("EXIT="))
    }

    /// Types `text` (tmux key names allowed: `Enter`, `C-c`).
    pub fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "test"])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Types a line and Enter.
    pub fn type_line(&self, line: &str) {
        self.keys(&["-l", line]);
        self.keys(&["Enter"]);
    }
}

/// Captures until `wanted` holds; generous, as machines vary.
pub fn poll(what: &str, capture: impl Fn() -> String, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let screen = capture();
        if wanted(&screen) {
            return screen;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {what}; the screen:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
