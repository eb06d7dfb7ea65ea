//! The image config's `Healthcheck`: Docker's extension of the OCI config,
//! kept as Docker writes it (durations in nanoseconds, zero left out).

use serde_json::{json, Map, Value};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["CMD", arg…]`, `["CMD-SHELL", command]`, or `["NONE"]` (none).
    pub test: Vec<String>,
    /// Nanoseconds; 0 is unset (Docker's default applies).
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
}

const DURATIONS: [&str; 4] = ["Interval", "Timeout", "StartPeriod", "StartInterval"];

impl Healthcheck {
    /// The `Healthcheck` of an image config's `config` object, if any.
    pub(crate) fn from_config(run: &Value) -> Option<Healthcheck> {
        let check = run.get("Healthcheck")?.as_object()?;
        let number = |name: &str| check.get(name).and_then(Value::as_i64).unwrap_or(0);
        let test = check
            .get("Test")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Some(Healthcheck {
            test,
            interval: number(DURATIONS[0]),
            timeout: number(DURATIONS[1]),
            start_period: number(DURATIONS[2]),
            start_interval: number(DURATIONS[3]),
            retries: number("Retries"),
        })
    }

    /// As the image config records it.
    pub(crate) fn to_json(&self) -> Value {
        let mut check = Map::new();
        if !self.test.is_empty() {
            check.insert("Test".into(), json!(self.test));
        }
        let values = [
            self.interval,
            self.timeout,
            self.start_period,
            self.start_interval,
        ];
        for (name, value) in DURATIONS.iter().zip(values) {
            if value != 0 {
                check.insert((*name).into(), json!(value));
            }
        }
        if self.retries != 0 {
            check.insert("Retries".into(), json!(self.retries));
        }
        Value::Object(check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_as_docker_writes_it_and_read_back() {
        let check = Healthcheck {
            test: vec!["CMD".into(), "true".into()],
            interval: 30_000_000_000,
            retries: 3,
            ..Healthcheck::default()
        };
        let written = check.to_json();
        assert_eq!(
            written,
            json!({"Test": ["CMD", "true"], "Interval": 30_000_000_000i64, "Retries": 3})
        );
        let run = json!({ "Healthcheck": written });
        assert_eq!(Healthcheck::from_config(&run), Some(check));
        assert_eq!(Healthcheck::from_config(&json!({})), None);
    }
}
