//! Where tanto's config file is, and reading a one-key section of it: its
//! sections are read by their own modules (`[gc]` by `gc_policy`,
//! `[ca-certificates]` by `ca_certs`, `[single-id]` by `single_id`).

use std::path::{Path, PathBuf};

/// `$XDG_CONFIG_HOME/tanto/config.toml`, else
/// `$HOME/.config/tanto/config.toml`; `None` when neither is set.
pub(crate) fn path(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let non_empty = |name| env(name).filter(|v| !v.is_empty());
    let dir = match non_empty("XDG_CONFIG_HOME") {
        Some(config) => PathBuf::from(config),
        None => PathBuf::from(non_empty("HOME")?).join(".config"),
    };
    Some(dir.join("tanto/config.toml"))
}

/// A section that holds one setting, a string.
pub(crate) struct OneKey {
    pub section: &'static str,
    pub key: &'static str,
    /// A value to show in the message when the section is not as it must
    /// be, quoted as TOML: `"squash"`.
    pub example: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("reading the configuration {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("parsing the configuration {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },

    #[error("[{section}] in {path} must be a table with one key, `{key}`, a string: write {key} = {example} under [{section}]")]
    Shape {
        path: PathBuf,
        section: &'static str,
        key: &'static str,
        example: &'static str,
    },
}

impl OneKey {
    /// The setting in the config file at `path`; `None` when the file, the
    /// section or the key is not there. Any other key in the section is
    /// refused: a misspelt one would otherwise be ignored.
    pub(crate) fn read(&self, path: &Path) -> Result<Option<String>, ConfigFileError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ConfigFileError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let table: toml::Table = text.parse().map_err(|source| ConfigFileError::Parse {
            path: path.to_owned(),
            source,
        })?;
        let Some(section) = table.get(self.section) else {
            return Ok(None);
        };
        let shape = || ConfigFileError::Shape {
            path: path.to_owned(),
            section: self.section,
            key: self.key,
            example: self.example,
        };
        let section = section.as_table().ok_or_else(shape)?;
        if section.keys().any(|k| k != self.key) {
            return Err(shape());
        }
        match section.get(self.key) {
            None => Ok(None),
            Some(value) => Ok(Some(value.as_str().ok_or_else(shape)?.to_owned())),
        }
    }
}

/// An environment of `pairs` alone, for the tests of settings read from
/// the environment and the config file: they never touch the process's.
#[cfg(test)]
pub(crate) fn fake_env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}
