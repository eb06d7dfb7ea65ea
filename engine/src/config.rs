//! A container's settings: the image config with the user's edits applied.

use std::collections::{BTreeMap, BTreeSet};

use oci_spec::image::ImageConfiguration;

use crate::paths::in_container;

mod healthcheck;

pub use healthcheck::Healthcheck;

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
    /// An exposed port a service's health check leaves out
    /// (`experimentalSkipHealthcheck`).
    UncheckedPort(String),
    /// A variable steps see whose value is in no cache key and no image
    /// (`withVolatileVariable`).
    SetVolatile {
        name: String,
        value: String,
    },
    UnsetVolatile(String),
    /// An annotation of the image's manifest.
    Annotation(String, String),
    WithoutAnnotation(String),
    /// What `terminal` runs when it is given no command.
    TerminalCmd(Vec<String>),
    /// The image's `Healthcheck`; `None` takes it out.
    Healthcheck(Option<Healthcheck>),
    /// A `Volumes` entry (Dockerfile `VOLUME`).
    Volume(String),
    /// `StopSignal` (Dockerfile `STOPSIGNAL`).
    StopSignal(String),
    /// `OnBuild`, the triggers an image built from this one runs first.
    OnBuild(Vec<String>),
    /// The image's `author` (Dockerfile `MAINTAINER`).
    Author(String),
    /// One more entry of the image's history (a Dockerfile instruction).
    History(HistoryNote),
}

/// An entry of the image's history that a Dockerfile instruction wrote, as
/// `docker build` writes it, for the `layers` it added to the root file
/// system (none for an instruction that only edits the config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryNote {
    pub created_by: String,
    pub layers: usize,
}

impl HistoryNote {
    /// The entries' `comment`, as BuildKit's Dockerfile frontend writes it.
    pub(crate) const COMMENT: &'static str = "buildkit.dockerfile.v0";
}

impl ConfigEdit {
    /// Whether the edit belongs to the container rather than to its
    /// image's config, so that `from` keeps it, as Dagger's does.
    pub(crate) fn outlives_from(&self) -> bool {
        matches!(
            self,
            ConfigEdit::SetVolatile { .. }
                | ConfigEdit::UnsetVolatile(_)
                | ConfigEdit::Annotation(..)
                | ConfigEdit::WithoutAnnotation(_)
                | ConfigEdit::TerminalCmd(_)
        )
    }
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
    /// Exposed ports a service is not waited for on; in no image.
    pub unchecked_ports: BTreeSet<String>,
    /// Variables steps see over `env`, in order; their values are in no
    /// cache key and not in the image (`withVolatileVariable`).
    pub volatile_env: Vec<(String, String)>,
    /// The manifest's annotations (`withAnnotation`).
    pub annotations: BTreeMap<String, String>,
    /// What `terminal` runs when it is given no command; empty: `sh`.
    pub terminal_cmd: Vec<String>,
    /// The image config's `Healthcheck`, Docker's extension.
    pub healthcheck: Option<Healthcheck>,
    /// `Volumes`: paths an engine should keep apart.
    pub volumes: BTreeSet<String>,
    /// `StopSignal`; empty: the default.
    pub stop_signal: String,
    /// `OnBuild`, Docker's extension: instructions for images built on this.
    pub on_build: Vec<String>,
    /// The config's `author`.
    pub author: String,
    /// The history since the image (`from`), oldest first: Dockerfile
    /// instructions say what made their layers; other layers are named
    /// after their step.
    pub history: Vec<HistoryNote>,
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
            volumes: c
                .volumes()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            stop_signal: c.stop_signal().clone().unwrap_or_default(),
            author: config.author().clone().unwrap_or_default(),
            ..Settings::default()
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
                    self.unchecked_ports.remove(port);
                }
                ConfigEdit::UncheckedPort(port) => {
                    self.unchecked_ports.insert(port.clone());
                }
                ConfigEdit::SetVolatile { name, value } => {
                    match self.volatile_env.iter_mut().find(|(k, _)| k == name) {
                        Some(entry) => entry.1 = value.clone(),
                        None => self.volatile_env.push((name.clone(), value.clone())),
                    }
                }
                ConfigEdit::UnsetVolatile(name) => self.volatile_env.retain(|(k, _)| k != name),
                ConfigEdit::Annotation(name, value) => {
                    self.annotations.insert(name.clone(), value.clone());
                }
                ConfigEdit::WithoutAnnotation(name) => {
                    self.annotations.remove(name);
                }
                ConfigEdit::TerminalCmd(args) => self.terminal_cmd = args.clone(),
                ConfigEdit::Healthcheck(healthcheck) => self.healthcheck = healthcheck.clone(),
                ConfigEdit::Volume(path) => {
                    self.volumes.insert(path.clone());
                }
                ConfigEdit::StopSignal(signal) => self.stop_signal = signal.clone(),
                ConfigEdit::OnBuild(triggers) => self.on_build = triggers.clone(),
                ConfigEdit::Author(author) => self.author = author.clone(),
                ConfigEdit::History(note) => self.history.push(note.clone()),
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

    /// The environment a step runs with: [`Settings::process_env`] with
    /// the volatile variables over it.
    pub(crate) fn step_env(&self) -> Vec<String> {
        let mut env = self.process_env();
        for (name, value) in &self.volatile_env {
            env.retain(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k) != name);
            env.push(format!("{name}={value}"));
        }
        env
    }

    /// The volatile variables' names: what of them a step's key covers.
    pub(crate) fn volatile_names(&self) -> Vec<String> {
        self.volatile_env.iter().map(|(k, _)| k.clone()).collect()
    }
}

/// `$NAME` and `${NAME}` replaced by their values (unset: empty), as Dagger's
/// `expand: true` does.
fn expand_vars(value: &str, env: &[(String, String)]) -> String {
    expand_with(value, |name| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    })
}

/// The variables `value` names as `$NAME` or `${NAME}`: what expanding it
/// would read.
pub(crate) fn referenced_variables(value: &str) -> Vec<String> {
    let mut names = Vec::new();
    expand_with(value, |name| {
        names.push(name.to_owned());
        String::new()
    });
    names
}

fn expand_with(value: &str, mut lookup: impl FnMut(&str) -> String) -> String {
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

/// The volatile variables `edits` leave set: known without the image,
/// since only the container's own edits set them.
pub(crate) fn volatile_names_after(edits: &[ConfigEdit]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for edit in edits {
        match edit {
            ConfigEdit::SetVolatile { name, .. } if !names.contains(name) => {
                names.push(name.clone())
            }
            ConfigEdit::UnsetVolatile(name) => names.retain(|n| n != name),
            _ => {}
        }
    }
    names
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

    #[test]
    fn volatile_variables_are_seen_by_steps_only() {
        let image = Settings {
            env: vec![("FOO".into(), "persist".into())],
            ..Settings::default()
        };
        let volatile = |name: &str, value: &str| ConfigEdit::SetVolatile {
            name: name.into(),
            value: value.into(),
        };
        let settings = image.apply(&[volatile("FOO", "first"), volatile("FOO", "second")]);
        assert_eq!(settings.env_var("FOO"), Some("persist"));
        assert!(settings.step_env().contains(&"FOO=second".to_owned()));
        assert!(!settings.step_env().contains(&"FOO=persist".to_owned()));
        assert!(settings.process_env().contains(&"FOO=persist".to_owned()));
        let removed = settings.apply(&[ConfigEdit::UnsetVolatile("FOO".into())]);
        assert!(removed.step_env().contains(&"FOO=persist".to_owned()));
    }
}
