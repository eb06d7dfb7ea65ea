//! Single-id mode: tanto's user namespace maps the user alone, as root
//! (no subordinate ids in /etc/subuid and /etc/subgid, or no `newuidmap`:
//! `executor/src/userns.rs`), and the one setting that changes what it does.
//!
//! By default such a namespace keeps every image's owners, so an image
//! whose files belong to other ids fails to unpack, and a step that asks
//! for another user is refused. `TANTO_SINGLE_ID=squash` (else `mode` under
//! `[single-id]` of tanto's config file) gives every file of every layer
//! to the one id instead, as buildah's `ignore_chown_errors` does, and runs
//! such steps as root; `off` is the default. With a full mapping there is
//! nothing to squash and the setting is ignored.
//!
//! Squashed layers are other snapshots than the layers as recorded
//! (`snapshotter::Owners`), and image and step keys say squashed
//! (`ops/keys.rs`): a store used both ways never hands one's trees or
//! results to the other.

use std::path::PathBuf;
use std::sync::Once;

use snapshotter::Owners;

use crate::config_file::{ConfigFileError, OneKey};

/// The variable that sets the mode.
pub const SINGLE_ID_ENV: &str = "TANTO_SINGLE_ID";

const IN_FILE: OneKey = OneKey {
    section: "single-id",
    key: "mode",
    example: "\"squash\" (or \"off\")",
};

/// What a value may be, said with every refused one.
pub const ACCEPTED: &str = "it takes squash (every file of every image owned by your \
     user, and steps that ask for another user run as root) or off (the default: \
     images that own files by other ids fail to unpack)";

/// What the user asked single-id mode to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Keep every owner; what needs another id fails.
    #[default]
    Off,
    /// Every owner becomes the one id.
    Squash,
}

impl Mode {
    fn parse(text: &str) -> Option<Mode> {
        match text.trim() {
            "off" => Some(Mode::Off),
            "squash" => Some(Mode::Squash),
            _ => None,
        }
    }
}

/// Where the mode was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Nowhere: the default.
    Default,
    Env,
    File {
        path: PathBuf,
    },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("the default"),
            Origin::Env => write!(f, "${SINGLE_ID_ENV}"),
            Origin::File { path } => write!(
                f,
                "`{}` in [{}] of {}",
                IN_FILE.key,
                IN_FILE.section,
                path.display()
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SingleIdError {
    #[error("{origin} is {value:?}; {ACCEPTED}")]
    Value { origin: Origin, value: String },

    #[error(transparent)]
    Config(#[from] ConfigFileError),
}

/// The single-id mode as the user set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleId {
    pub mode: Mode,
    pub origin: Origin,
}

impl SingleId {
    /// `TANTO_SINGLE_ID`, else `mode` under `[single-id]` of the config
    /// file, else off.
    pub fn load() -> Result<SingleId, SingleIdError> {
        SingleId::load_with(|name| std::env::var(name).ok())
    }

    /// [`SingleId::load`] with `env` in place of the process environment.
    pub fn load_with(env: impl Fn(&str) -> Option<String>) -> Result<SingleId, SingleIdError> {
        let (value, origin) = match env(SINGLE_ID_ENV).filter(|v| !v.trim().is_empty()) {
            Some(value) => (value, Origin::Env),
            None => {
                let from_file = match crate::config_file::path(&env) {
                    Some(path) => IN_FILE.read(&path)?.map(|v| (v, Origin::File { path })),
                    None => None,
                };
                let Some(found) = from_file else {
                    return Ok(SingleId {
                        mode: Mode::Off,
                        origin: Origin::Default,
                    });
                };
                found
            }
        };
        match Mode::parse(&value) {
            Some(mode) => Ok(SingleId { mode, origin }),
            None => Err(SingleIdError::Value { origin, value }),
        }
    }

    /// How this process unpacks layers, given whether its namespace maps
    /// one id; says so when squashing (once per process) or when the
    /// setting is ignored.
    pub(crate) fn owners(&self, maps_single_id: bool) -> Owners {
        match (self.mode, maps_single_id) {
            (Mode::Off, _) => Owners::Recorded,
            (Mode::Squash, false) => {
                tracing::debug!(
                    "{} is squash, ignored: tanto's user namespace maps more than one id, so \
                     images keep their owners",
                    self.origin
                );
                Owners::Recorded
            }
            (Mode::Squash, true) => {
                static WARNED: Once = Once::new();
                WARNED.call_once(|| tracing::warn!("{}", self.squash_warning()));
                Owners::Squashed
            }
        }
    }

    /// What steps see differently when owners are squashed.
    fn squash_warning(&self) -> String {
        format!(
            "{} is squash and tanto's user namespace maps your user alone: every file of \
             every image is owned by root (your user) whatever its layers say, files that \
             were setuid or setgid to another user or group lost that bit, and steps that \
             ask for another user run as root. A step that checks owners, drops privileges \
             or needs a setuid program other than root's sees the difference. Results are \
             cached apart from those of a full mapping; subordinate ids (`tanto doctor`) \
             run images as they are",
            self.origin
        )
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::config_file::fake_env as env;

    /// A home whose config file says `text`.
    fn home_with_config(text: &str) -> tempfile::TempDir {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".config/tanto");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), text).unwrap();
        home
    }

    #[test]
    fn off_unless_asked() {
        let none = SingleId::load_with(env(&[])).unwrap();
        assert_eq!((none.mode, none.origin), (Mode::Off, Origin::Default));
        let empty = SingleId::load_with(env(&[(SINGLE_ID_ENV, " ")])).unwrap();
        assert_eq!(empty.mode, Mode::Off);
        let off = SingleId::load_with(env(&[(SINGLE_ID_ENV, "off")])).unwrap();
        assert_eq!((off.mode, off.origin), (Mode::Off, Origin::Env));
    }

    #[test]
    fn squash_from_the_variable_or_the_config_file_the_variable_first() {
        let set = SingleId::load_with(env(&[(SINGLE_ID_ENV, "squash")])).unwrap();
        assert_eq!((set.mode, set.origin), (Mode::Squash, Origin::Env));
        let home = home_with_config("[single-id]\nmode = \"squash\"\n");
        let home_dir = home.path().to_str().unwrap();
        let from_file = SingleId::load_with(env(&[("HOME", home_dir)])).unwrap();
        assert_eq!(from_file.mode, Mode::Squash);
        assert!(
            from_file.origin.to_string().contains("[single-id]"),
            "{}",
            from_file.origin
        );
        let overridden =
            SingleId::load_with(env(&[("HOME", home_dir), (SINGLE_ID_ENV, "off")])).unwrap();
        assert_eq!(
            (overridden.mode, overridden.origin),
            (Mode::Off, Origin::Env)
        );
    }

    #[test]
    fn other_values_are_refused_naming_where_what_and_the_choices() {
        for value in ["yes", "SQUASH", "1"] {
            let error = SingleId::load_with(env(&[(SINGLE_ID_ENV, value)])).unwrap_err();
            let message = error.to_string();
            for needle in [SINGLE_ID_ENV, &format!("{value:?}"), "squash", "off"] {
                assert!(message.contains(needle), "{needle}: {message}");
            }
        }
        let home = home_with_config("[single-id]\nmode = \"sqash\"\n");
        let error = SingleId::load_with(env(&[("HOME", home.path().to_str().unwrap())]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("config.toml") && error.contains("\"sqash\""),
            "{error}"
        );
        let home = home_with_config("[single-id]\nsquash = true\n");
        let error = SingleId::load_with(env(&[("HOME", home.path().to_str().unwrap())]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("mode = \"squash\""), "{error}");
    }

    #[test]
    fn squash_means_something_only_with_one_id() {
        let squash = SingleId {
            mode: Mode::Squash,
            origin: Origin::Env,
        };
        assert_eq!(squash.owners(true), Owners::Squashed);
        assert_eq!(squash.owners(false), Owners::Recorded);
        let off = SingleId {
            mode: Mode::Off,
            origin: Origin::Default,
        };
        assert_eq!(off.owners(true), Owners::Recorded);
        let warning = squash.squash_warning();
        for needle in ["$TANTO_SINGLE_ID", "owned by root", "setuid", "run as root"] {
            assert!(warning.contains(needle), "{needle}: {warning}");
        }
    }
}
