//! Which snapshotter makes steps' root file systems: overlay, where the
//! kernel stacks the layers and nothing is copied, or the copying one
//! (`snapshotter::copy_chain`), where overlay cannot be mounted — the
//! store on overlay itself (a container's root file system), a file
//! system without user xattrs, a kernel older than 5.11.
//!
//! `TANTO_SNAPSHOTTER` (else `mode` under `[snapshotter]` of tanto's config
//! file) is `auto` (the default), `overlay` or `copy`. `auto` tries overlay
//! in the store's own directory, as steps mount it, and copies when that
//! fails, with one warning that says why. A store the copying snapshotter
//! has written layers into keeps it: those layers hold whiteout files,
//! which overlay would show as files.

use std::sync::Once;

use snapshotter::Store;

use crate::config_file::{ConfigFileError, OneKey};

/// The variable that chooses.
pub const SNAPSHOTTER_ENV: &str = "TANTO_SNAPSHOTTER";

const IN_FILE: OneKey = OneKey {
    section: "snapshotter",
    key: "mode",
    example: "\"copy\" (or \"overlay\", \"auto\")",
};

/// What a value may be, said with every refused one.
pub const ACCEPTED: &str = "it takes auto (the default: overlay where it can be mounted, \
     else copies), overlay or copy";

/// How steps get their root file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Snapshotter {
    /// An overlay mount of the layers, the step's changes in its upper dir.
    Overlay,
    /// A copy of the layers, its changes found and written as a layer after.
    Copy,
}

/// What the user asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Setting {
    #[default]
    Auto,
    Overlay,
    Copy,
}

impl Setting {
    fn parse(text: &str) -> Option<Setting> {
        match text.trim() {
            "auto" => Some(Setting::Auto),
            "overlay" => Some(Setting::Overlay),
            "copy" => Some(Setting::Copy),
            _ => None,
        }
    }

    /// `TANTO_SNAPSHOTTER`, else the config file, else auto.
    pub fn load() -> Result<Setting, SnapshotterError> {
        Setting::load_with(|name| std::env::var(name).ok())
    }

    /// [`Setting::load`] with `env` in place of the process environment.
    pub fn load_with(env: impl Fn(&str) -> Option<String>) -> Result<Setting, SnapshotterError> {
        let (value, origin) = match env(SNAPSHOTTER_ENV).filter(|v| !v.trim().is_empty()) {
            Some(value) => (value, format!("${SNAPSHOTTER_ENV}")),
            None => {
                let found = match crate::config_file::path(&env) {
                    Some(path) => IN_FILE.read(&path)?.map(|v| {
                        let origin = format!(
                            "`{}` in [{}] of {}",
                            IN_FILE.key,
                            IN_FILE.section,
                            path.display()
                        );
                        (v, origin)
                    }),
                    None => None,
                };
                match found {
                    Some(found) => found,
                    None => return Ok(Setting::Auto),
                }
            }
        };
        Setting::parse(&value).ok_or(SnapshotterError::Value { origin, value })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotterError {
    #[error("{origin} is {value:?}; {ACCEPTED}")]
    Value { origin: String, value: String },

    #[error(transparent)]
    Config(#[from] ConfigFileError),

    #[error(
        "{SNAPSHOTTER_ENV} is overlay, but overlay cannot be mounted in the store ({}): {reason}; \
         set {SNAPSHOTTER_ENV}=copy (or auto) to copy layers instead, or put TANTO_ROOT on \
         a volume (ext4, xfs, btrfs; in Kubernetes an emptyDir)",
        root.display()
    )]
    OverlayUnavailable {
        root: std::path::PathBuf,
        reason: String,
    },

    #[error(
        "{SNAPSHOTTER_ENV} is overlay, but the store {} holds layers the copying snapshotter \
         made, which overlay cannot mount; use another TANTO_ROOT for overlay, or set \
         {SNAPSHOTTER_ENV}=auto",
        root.display()
    )]
    StoreMadeByCopying { root: std::path::PathBuf },

    #[error("cannot record in the store that layers are copied")]
    Record(#[source] snapshotter::Error),
}

/// The snapshotter this process uses, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub snapshotter: Snapshotter,
    /// Why, for `tanto doctor` and the warning.
    pub why: String,
}

/// Chooses for `store` as `setting` says, `probe` telling why overlay
/// cannot be mounted in the store (if it cannot); with the copying
/// snapshotter, switches the process to whiteout files and records it in
/// the store. Runs in tanto's namespace, where steps run.
pub(crate) fn choose(
    store: &Store,
    setting: Setting,
    probe: impl FnOnce() -> Result<(), String>,
) -> Result<Choice, SnapshotterError> {
    let choice = decide(store, setting, probe)?;
    if choice.snapshotter == Snapshotter::Copy {
        store
            .record_whiteout_files()
            .map_err(SnapshotterError::Record)?;
        snapshotter::overlay::use_whiteout_files();
        if setting == Setting::Auto {
            static WARNED: Once = Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    "steps run on copies of their layers, not overlay: {}. Each step \
                     copies its image first (reflinked where the file system can); a store \
                     on a volume (ext4, xfs, btrfs; in Kubernetes an emptyDir) is faster",
                    choice.why
                )
            });
        }
    }
    Ok(choice)
}

fn decide(
    store: &Store,
    setting: Setting,
    probe: impl FnOnce() -> Result<(), String>,
) -> Result<Choice, SnapshotterError> {
    let root = store.root().to_owned();
    match setting {
        Setting::Copy => {
            return Ok(Choice {
                snapshotter: Snapshotter::Copy,
                why: format!("{SNAPSHOTTER_ENV} is copy"),
            })
        }
        _ if store.holds_whiteout_files() => {
            if setting == Setting::Overlay {
                return Err(SnapshotterError::StoreMadeByCopying { root });
            }
            return Ok(Choice {
                snapshotter: Snapshotter::Copy,
                why: format!(
                    "the store {} holds layers the copying snapshotter made",
                    root.display()
                ),
            });
        }
        _ => {}
    }
    match probe() {
        Ok(()) => Ok(Choice {
            snapshotter: Snapshotter::Overlay,
            why: format!("overlay mounts in the store {}", root.display()),
        }),
        Err(reason) if setting == Setting::Overlay => {
            Err(SnapshotterError::OverlayUnavailable { root, reason })
        }
        Err(reason) => Ok(Choice {
            snapshotter: Snapshotter::Copy,
            why: format!(
                "overlay cannot be mounted in the store {}: {reason}",
                root.display()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_file::fake_env as env;

    #[test]
    fn auto_unless_set_and_a_bad_value_says_what_is_accepted() {
        assert_eq!(Setting::load_with(env(&[])).unwrap(), Setting::Auto);
        assert_eq!(
            Setting::load_with(env(&[(SNAPSHOTTER_ENV, "copy")])).unwrap(),
            Setting::Copy
        );
        let err = Setting::load_with(env(&[(SNAPSHOTTER_ENV, "vfs")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"vfs\"") && err.contains("auto") && err.contains("copy"),
            "{err}"
        );
    }
}
