//! Where a user sets the GC policy: `[gc]` in tanto's config file, then
//! `TANTO_GC*` environment variables, which win. Reading goes through a
//! lookup closure, so tests never touch the process environment.
//!
//! In the file, a size is a string in any form [`Space`] parses or a
//! whole number of bytes; a duration a string or a whole number of
//! seconds; `enabled` a boolean. An empty variable counts as unset.
//! Sections other than `[gc]` are left to their readers; an unknown key in
//! `[gc]` is refused, since a misspelt knob would otherwise be ignored.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::duration::parse_duration;
use super::error::{GcPolicyError, Origin, DURATION_FORMS, SPACE_FORMS};
use super::{GcPolicy, Space};
use crate::config_file::ConfigFileError;

const KNOWN_KEYS: &str =
    "enabled, keep-duration, reserved-space, max-used-space, min-free-space, target-space";

/// `TANTO_GC=off` turns automatic GC off (`on` back on).
const GC_ENV: &str = "TANTO_GC";

/// The environment variable of each knob, in the order they are applied.
const ENV_KEYS: [(&str, Knob); 5] = [
    ("TANTO_GC_KEEP_DURATION", Knob::KeepDuration),
    ("TANTO_GC_RESERVED_SPACE", Knob::ReservedSpace),
    ("TANTO_GC_MAX_USED_SPACE", Knob::MaxUsedSpace),
    ("TANTO_GC_MIN_FREE_SPACE", Knob::MinFreeSpace),
    ("TANTO_GC_TARGET_SPACE", Knob::TargetSpace),
];

#[derive(Clone, Copy)]
enum Knob {
    KeepDuration,
    ReservedSpace,
    MaxUsedSpace,
    MinFreeSpace,
    TargetSpace,
}

impl Knob {
    fn of_key(key: &str) -> Option<Knob> {
        Some(match key {
            "keep-duration" => Knob::KeepDuration,
            "reserved-space" => Knob::ReservedSpace,
            "max-used-space" => Knob::MaxUsedSpace,
            "min-free-space" => Knob::MinFreeSpace,
            "target-space" => Knob::TargetSpace,
            _ => return None,
        })
    }

    /// Sets the knob from its text form.
    fn set(self, policy: &mut GcPolicy, text: &str) -> Result<(), GcPolicyError> {
        match self {
            Knob::KeepDuration => policy.keep_duration = Some(parse_duration(text)?),
            Knob::ReservedSpace => policy.reserved_space = Some(Space::from_str(text)?),
            Knob::MaxUsedSpace => policy.max_used_space = Space::from_str(text)?,
            Knob::MinFreeSpace => policy.min_free_space = Space::from_str(text)?,
            Knob::TargetSpace => policy.target_space = Some(Space::from_str(text)?),
        }
        Ok(())
    }

    fn expected(self) -> &'static str {
        match self {
            Knob::KeepDuration => DURATION_FORMS,
            _ => SPACE_FORMS,
        }
    }
}

impl GcPolicy {
    /// The policy as the user set it: Dagger's defaults, then `[gc]` of the
    /// config file ([`GcPolicy::config_path`]) when there is one, then the
    /// `TANTO_GC*` environment variables.
    pub fn load() -> Result<GcPolicy, GcPolicyError> {
        GcPolicy::load_with(|name| std::env::var(name).ok())
    }

    /// [`GcPolicy::load`] with `env` in place of the process environment.
    pub fn load_with(env: impl Fn(&str) -> Option<String>) -> Result<GcPolicy, GcPolicyError> {
        let Some(path) = GcPolicy::config_path(&env) else {
            return GcPolicy::from_sources(None, env);
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                tracing::debug!(path = %path.display(), "reading the gc policy");
                GcPolicy::from_sources(Some((&path, &text)), env)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => GcPolicy::from_sources(None, env),
            Err(source) => Err(ConfigFileError::Read { path, source }.into()),
        }
    }

    /// `$XDG_CONFIG_HOME/tanto/config.toml`, else
    /// `$HOME/.config/tanto/config.toml`; `None` when neither is set.
    pub fn config_path(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
        crate::config_file::path(env)
    }

    /// The policy from a config file's text (with its path, for errors)
    /// and an environment lookup; pure, for tests.
    pub fn from_sources(
        file: Option<(&Path, &str)>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<GcPolicy, GcPolicyError> {
        let mut policy = GcPolicy::default();
        if let Some((path, text)) = file {
            apply_file(&mut policy, path, text)?;
        }
        let non_empty = |name| env(name).filter(|v| !v.trim().is_empty());
        if let Some(text) = non_empty(GC_ENV) {
            let origin = Origin::Env { name: GC_ENV };
            policy.enabled = parse_switch(&text).map_err(|e| e.at(origin))?;
        }
        for (name, knob) in ENV_KEYS {
            if let Some(text) = non_empty(name) {
                knob.set(&mut policy, &text)
                    .map_err(|e| e.at(Origin::Env { name }))?;
            }
        }
        Ok(policy)
    }
}

fn apply_file(policy: &mut GcPolicy, path: &Path, text: &str) -> Result<(), GcPolicyError> {
    let table: toml::Table = text.parse().map_err(|source| ConfigFileError::Parse {
        path: path.to_owned(),
        source,
    })?;
    let Some(gc) = table.get("gc") else {
        return Ok(());
    };
    let toml::Value::Table(gc) = gc else {
        return Err(GcPolicyError::NotATable {
            path: path.to_owned(),
        });
    };
    for (key, value) in gc {
        let origin = || Origin::File {
            path: path.to_owned(),
            key: key.clone(),
        };
        if key == "enabled" {
            let toml::Value::Boolean(enabled) = value else {
                return Err(wrong_type("it is true or false", value).at(origin()));
            };
            policy.enabled = *enabled;
            continue;
        }
        let Some(knob) = Knob::of_key(key) else {
            return Err(GcPolicyError::UnknownKey {
                path: path.to_owned(),
                key: key.clone(),
                known: KNOWN_KEYS,
            });
        };
        let text = match value {
            toml::Value::String(text) => text.clone(),
            // Whole bytes, or whole seconds: both forms' plain number.
            toml::Value::Integer(number) => number.to_string(),
            other => return Err(wrong_type(knob.expected(), other).at(origin())),
        };
        knob.set(policy, &text).map_err(|e| e.at(origin()))?;
    }
    Ok(())
}

fn parse_switch(text: &str) -> Result<bool, GcPolicyError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" => Ok(true),
        "off" | "false" | "0" => Ok(false),
        _ => Err(GcPolicyError::Switch {
            input: text.to_owned(),
        }),
    }
}

fn wrong_type(expected: &'static str, found: &toml::Value) -> GcPolicyError {
    GcPolicyError::WrongType {
        expected,
        found: found.type_str(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config_file::fake_env as env;

    const PATH: &str = "/home/u/.config/tanto/config.toml";

    fn from(text: &str, vars: &[(&str, &str)]) -> Result<GcPolicy, GcPolicyError> {
        GcPolicy::from_sources(Some((Path::new(PATH), text)), env(vars))
    }

    fn refusal(text: &str, vars: &[(&str, &str)]) -> String {
        crate::report(&from(text, vars).unwrap_err())
    }

    #[test]
    fn nothing_set_is_daggers_default() {
        let policy = GcPolicy::from_sources(None, env(&[])).unwrap();
        assert_eq!(policy, GcPolicy::default());
        assert_eq!(from("", &[]).unwrap(), GcPolicy::default());
        assert_eq!(from("[other]\nx = 1\n", &[]).unwrap(), GcPolicy::default());
    }

    #[test]
    fn every_key_of_the_file_is_read() {
        let text = r#"
            [gc]
            enabled = false
            keep-duration = "48h"
            reserved-space = "5GB"
            max-used-space = "60%"
            min-free-space = 1073741824
            target-space = "10 GiB"
        "#;
        let policy = from(text, &[]).unwrap();
        assert_eq!(
            policy,
            GcPolicy {
                enabled: false,
                keep_duration: Some(Duration::from_secs(48 * 3600)),
                reserved_space: Some(Space::Bytes(5_000_000_000)),
                max_used_space: Space::percent(60),
                min_free_space: Space::Bytes(1 << 30),
                target_space: Some(Space::Bytes(10 << 30)),
            }
        );
        let seconds = from("[gc]\nkeep-duration = 3600\n", &[]).unwrap();
        assert_eq!(seconds.keep_duration, Some(Duration::from_secs(3600)));
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let text = "[gc]\nenabled = true\nmax-used-space = \"60%\"\nmin-free-space = \"10%\"\n";
        let vars = [
            ("TANTO_GC", "off"),
            ("TANTO_GC_KEEP_DURATION", "7d"),
            ("TANTO_GC_RESERVED_SPACE", "1GB"),
            ("TANTO_GC_MAX_USED_SPACE", "50%"),
            ("TANTO_GC_TARGET_SPACE", "40%"),
            ("TANTO_GC_MIN_FREE_SPACE", ""),
        ];
        let policy = from(text, &vars).unwrap();
        assert!(!policy.enabled);
        assert_eq!(policy.keep_duration, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(policy.reserved_space, Some(Space::Bytes(1_000_000_000)));
        assert_eq!(policy.max_used_space, Space::percent(50));
        assert_eq!(policy.target_space, Some(Space::percent(40)));
        assert_eq!(policy.min_free_space, Space::percent(10), "empty is unset");
        let on = from("[gc]\nenabled = false\n", &[("TANTO_GC", "ON")]).unwrap();
        assert!(on.enabled);
    }

    #[test]
    fn a_bad_value_names_its_place_the_value_and_the_forms() {
        let error = refusal("[gc]\nmax-used-space = \"12XB\"\n", &[]);
        assert!(error.starts_with(&format!("`max-used-space` in [gc] of {PATH}: \"12XB\" is not a size: unknown unit \"XB\"; a size is")), "{error}");
        let error = refusal("[gc]\nreserved-space = -5\n", &[]);
        assert!(
            error.contains("\"-5\" is not a size: it is negative; a size is"),
            "{error}"
        );
        let error = refusal("[gc]\nmin-free-space = 1.5\n", &[]);
        assert!(error.contains("`min-free-space` in [gc] of /home/u/.config/tanto/config.toml: found a float; a size is"), "{error}");
        let error = refusal("[gc]\nenabled = \"yes\"\n", &[]);
        assert!(
            error.contains("`enabled` in [gc] of")
                && error.contains("found a string; it is true or false"),
            "{error}"
        );
        let error = refusal("", &[("TANTO_GC_KEEP_DURATION", "-48h")]);
        assert!(error.starts_with("$TANTO_GC_KEEP_DURATION: \"-48h\" is not a duration: it is negative; a duration is"), "{error}");
        let error = refusal("", &[("TANTO_GC_TARGET_SPACE", "150%")]);
        assert!(
            error.starts_with(
                "$TANTO_GC_TARGET_SPACE: \"150%\" is not a size: it is more than 100%"
            ),
            "{error}"
        );
        let error = refusal("", &[("TANTO_GC", "maybe")]);
        assert_eq!(
            error,
            "$TANTO_GC: \"maybe\" is not a switch; use on, off, true, false, 1 or 0"
        );
    }

    #[test]
    fn an_unknown_key_is_named_with_the_known_ones() {
        let error = refusal("[gc]\nmaxUsedSpace = \"50%\"\n", &[]);
        assert_eq!(
            error,
            format!(
                "unknown key `maxUsedSpace` in [gc] of {PATH}; the known keys are {KNOWN_KEYS}"
            )
        );
    }

    #[test]
    fn a_file_that_is_not_toml_keeps_the_parser_error_as_its_source() {
        let error = from("[gc\n", &[]).unwrap_err();
        assert!(matches!(
            &error,
            GcPolicyError::File(ConfigFileError::Parse { path, .. }) if path == Path::new(PATH)
        ));
        let source = std::error::Error::source(&error).expect("a source");
        assert!(source.is::<toml::de::Error>());
        assert!(matches!(
            from("gc = 3\n", &[]),
            Err(GcPolicyError::NotATable { .. })
        ));
    }

    #[test]
    fn the_file_lives_under_the_xdg_config_home_else_home() {
        let path = |vars: &[(&str, &str)]| GcPolicy::config_path(env(vars));
        assert_eq!(
            path(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]),
            Some("/x/tanto/config.toml".into())
        );
        assert_eq!(
            path(&[("XDG_CONFIG_HOME", ""), ("HOME", "/h")]),
            Some("/h/.config/tanto/config.toml".into())
        );
        assert_eq!(path(&[]), None);
    }

    #[test]
    fn load_reads_the_file_and_a_missing_file_is_no_error() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_str().unwrap().to_owned();
        let vars = [("XDG_CONFIG_HOME", home.as_str())];
        assert_eq!(
            GcPolicy::load_with(env(&vars)).unwrap(),
            GcPolicy::default()
        );
        std::fs::create_dir(dir.path().join("tanto")).unwrap();
        std::fs::write(
            dir.path().join("tanto/config.toml"),
            "[gc]\ntarget-space = \"5GB\"\n",
        )
        .unwrap();
        let policy = GcPolicy::load_with(env(&vars)).unwrap();
        assert_eq!(policy.target_space, Some(Space::Bytes(5_000_000_000)));
        std::fs::remove_file(dir.path().join("tanto/config.toml")).unwrap();
        std::fs::create_dir(dir.path().join("tanto/config.toml")).unwrap();
        assert!(matches!(
            GcPolicy::load_with(env(&vars)),
            Err(GcPolicyError::File(ConfigFileError::Read { .. }))
        ));
    }
}
