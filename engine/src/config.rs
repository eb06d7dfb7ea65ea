//! A container's settings: the image config with the user's edits applied.

use std::collections::{BTreeMap, BTreeSet};

use oci_spec::image::ImageConfiguration;

use crate::paths::in_container;

/// Docker's default, for images (and scratch) that set no PATH.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Settings a container carries between steps, applied on top of the image
/// config (when there is one) at solve time: `from` is lazy, so the image's
/// own Env or WorkingDir are only known once it has been resolved.
#[derive(Clone, Debug)]
pub(crate) enum ConfigEdit {
    SetEnv {
        name: String,
        value: String,
        expand: bool,
    },
    UnsetEnv(String),
    Workdir(String),
    /// No working directory (`withoutWorkdir`): `/`.
    ClearWorkdir,
    User(String),
    Entrypoint {
        args: Vec<String>,
        keep_default_args: bool,
    },
    DefaultArgs(Vec<String>),
    Label(String, String),
    WithoutLabel(String),
    /// `8080/tcp`.
    ExposedPort(String),
    WithoutExposedPort(String),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// In order; names are unique.
    pub env: Vec<(String, String)>,
    pub workdir: String,
    pub user: String,
    pub entrypoint: Vec<String>,
    pub default_args: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// `8080/tcp`, as image configs key them.
    pub exposed_ports: BTreeSet<String>,
}

impl Settings {
    pub(crate) fn from_image(config: &ImageConfiguration) -> Settings {
        let Some(c) = config.config() else {
            return Settings::default();
        };
        let env = c
            .env()
            .iter()
            .flatten()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (kv.clone(), String::new()),
            })
            .collect();
        Settings {
            env,
            workdir: c.working_dir().clone().unwrap_or_default(),
            user: c.user().clone().unwrap_or_default(),
            entrypoint: c.entrypoint().clone().unwrap_or_default(),
            default_args: c.cmd().clone().unwrap_or_default(),
            exposed_ports: c
                .exposed_ports()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            labels: c
                .labels()
                .clone()
                .map(|l| l.into_iter().collect())
                .unwrap_or_default(),
        }
    }

    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The working directory, `/` when unset.
    pub fn workdir_or_root(&self) -> String {
        if self.workdir.is_empty() {
            "/".to_owned()
        } else {
            in_container("/", &self.workdir)
        }
    }

    pub(crate) fn apply(mut self, edits: &[ConfigEdit]) -> Settings {
        for edit in edits {
            match edit {
                ConfigEdit::SetEnv {
                    name,
                    value,
                    expand,
                } => {
                    let value = if *expand {
                        expand_vars(value, &self.env)
                    } else {
                        value.clone()
                    };
                    match self.env.iter_mut().find(|(k, _)| k == name) {
                        Some(entry) => entry.1 = value,
                        None => self.env.push((name.clone(), value)),
                    }
                }
                ConfigEdit::UnsetEnv(name) => self.env.retain(|(k, _)| k != name),
                ConfigEdit::Workdir(path) => {
                    self.workdir = in_container(&self.workdir_or_root(), path)
                }
                ConfigEdit::ClearWorkdir => self.workdir.clear(),
                ConfigEdit::User(user) => self.user = user.clone(),
                ConfigEdit::Entrypoint {
                    args,
                    keep_default_args,
                } => {
                    self.entrypoint = args.clone();
                    if !keep_default_args {
                        self.default_args.clear();
                    }
                }
                ConfigEdit::DefaultArgs(args) => self.default_args = args.clone(),
                ConfigEdit::Label(name, value) => {
                    self.labels.insert(name.clone(), value.clone());
                }
                ConfigEdit::WithoutLabel(name) => {
                    self.labels.remove(name);
                }
                ConfigEdit::ExposedPort(port) => {
                    self.exposed_ports.insert(port.clone());
                }
                ConfigEdit::WithoutExposedPort(port) => {
                    self.exposed_ports.remove(port);
                }
            }
        }
        self
    }

    /// The environment a process gets: PATH defaulted, `K=V` strings.
    pub(crate) fn process_env(&self) -> Vec<String> {
        let mut env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if self.env_var("PATH").is_none() {
            env.insert(0, format!("PATH={DEFAULT_PATH}"));
        }
        env
    }
}

/// `$NAME` and `${NAME}` replaced by their values (unset: empty), as Dagger's
/// `expand: true` does.
fn expand_vars(value: &str, env: &[(String, String)]) -> String {
    let lookup = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'{') {
            chars.next();
            let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
            out.push_str(&lookup(&name));
        } else {
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    name.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            if name.is_empty() {
                out.push('$');
            } else {
                out.push_str(&lookup(&name));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, value: &str, expand: bool) -> ConfigEdit {
        ConfigEdit::SetEnv {
            name: name.into(),
            value: value.into(),
            expand,
        }
    }

    #[test]
    fn edits_apply_in_order_over_the_image() {
        let image = Settings {
            env: vec![("PATH".into(), "/bin".into()), ("A".into(), "1".into())],
            default_args: vec!["bash".into()],
            ..Settings::default()
        };
        let settings = image.apply(&[
            set("A", "2", false),
            set("B", "${A}:$PATH:$", true),
            ConfigEdit::UnsetEnv("PATH".into()),
            ConfigEdit::Workdir("src".into()),
            ConfigEdit::Workdir("../lib".into()),
            ConfigEdit::Entrypoint {
                args: vec!["sh".into()],
                keep_default_args: false,
            },
        ]);
        assert_eq!(settings.env_var("A"), Some("2"));
        assert_eq!(settings.env_var("B"), Some("2:/bin:$"));
        assert_eq!(settings.workdir, "/lib");
        assert!(settings.default_args.is_empty());
        assert_eq!(settings.process_env()[0], format!("PATH={DEFAULT_PATH}"));
    }
}
