//! Colors, when the terminal has them and the user has not said `NO_COLOR`.

#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn done(&self, text: &str) -> String {
        self.paint("32", text)
    }

    pub fn cached(&self, text: &str) -> String {
        self.paint("36", text)
    }

    pub fn failed(&self, text: &str) -> String {
        self.paint("1;31", text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn running(&self, text: &str) -> String {
        self.paint("33", text)
    }
}

/// `NO_COLOR` set to anything non-empty turns colors off (no-color.org).
pub fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
