//! One stage: its `FROM` (an image, an earlier stage or `scratch`), then
//! each instruction applied to the container as the API would apply it.
//! Variables in the words Docker expands are replaced from the stage's
//! `ENV` (the image's included) and declared `ARG`s, `ENV` winning.

use registry::Platform;

use super::{history, lookup_in, Builder};
use crate::config::{ConfigEdit, Healthcheck};
use crate::dockerfile::{self, Command, HealthcheckSpec, Instruction, Located};
use crate::error::Error;

use crate::values::Container;

/// A stage being built.
pub(super) struct State<'b> {
    pub builder: &'b Builder,
    pub container: Container,
    /// The stage's environment: the image's, then `ENV`s.
    pub env: Vec<(String, String)>,
    /// `ARG`s declared in the stage, with their values.
    pub args: Vec<(String, String)>,
    pub shell: Vec<String>,
    pub workdir: String,
    /// A `CMD` was given in this stage (an `ENTRYPOINT` then keeps it).
    cmd_set: bool,
    /// This stage's `ONBUILD` triggers, for the image's `OnBuild`.
    on_build: Vec<String>,
}

impl State<'_> {
    /// `word` expanded with the stage's variables.
    pub fn expand(&self, at: &Located, word: &str) -> Result<String, Error> {
        let lookup =
            |name: &str| lookup_in(&self.env, name).or_else(|| lookup_in(&self.args, name));
        dockerfile::expand(word, self.builder.escape, &lookup)
            .map_err(|reason| self.builder.error(at, reason))
    }

    /// A here-document's body with the stage's variables replaced.
    pub fn expand_variables(&self, at: &Located, text: &str) -> Result<String, Error> {
        let lookup =
            |name: &str| lookup_in(&self.env, name).or_else(|| lookup_in(&self.args, name));
        dockerfile::expand_variables(text, self.builder.escape, &lookup)
            .map_err(|reason| self.builder.error(at, reason))
    }

    /// A path of the stage's file system: absolute, or from the workdir.
    pub fn absolute(&self, path: &str) -> String {
        if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("{}/{path}", self.workdir.trim_end_matches('/'))
        }
    }

    /// A command's arguments: as written, or through the stage's shell.
    pub fn command(&self, command: &Command) -> Vec<String> {
        match command {
            Command::Exec(args) => args.clone(),
            Command::Shell(line) => {
                let mut args = self.shell.clone();
                args.push(line.clone());
                args
            }
        }
    }
}

pub(super) async fn build(builder: &Builder, index: usize) -> Result<Container, Error> {
    let stage = &builder.stages[index];
    let at = &stage.from;
    let Instruction::From {
        image, platform, ..
    } = &at.instruction
    else {
        unreachable!("a stage starts with its FROM")
    };
    let global = |name: &str| lookup_in(&builder.global_args, name);
    let expand = |word: &str| {
        dockerfile::expand(word, builder.escape, &global).map_err(|r| builder.error(at, r))
    };
    let image = expand(image)?;
    let earlier = builder.stage_named(&image).filter(|i| *i < index);
    let (container, from_image) = if image == "scratch" {
        (builder.empty.clone(), false)
    } else if let Some(earlier) = earlier {
        (builder.stage(earlier).await?, true)
    } else {
        let base = match platform {
            Some(platform) => {
                let platform: Platform = expand(platform)?
                    .parse()
                    .map_err(|e: registry::Error| builder.error(at, e.to_string()))?;
                builder.empty.for_platform(platform)
            }
            None => builder.empty.clone(),
        };
        (base.from(&image), true)
    };
    let settings = match from_image {
        true => container.settings().await?,
        false => Default::default(),
    };
    let mut state = State {
        builder,
        container,
        env: settings.env,
        args: Vec::new(),
        shell: vec!["/bin/sh".into(), "-c".into()],
        workdir: match settings.workdir.as_str() {
            "" => "/".to_owned(),
            workdir => workdir.to_owned(),
        },
        cmd_set: false,
        on_build: Vec::new(),
    };
    // The base image's ONBUILD triggers run first, and are not inherited.
    if !settings.on_build.is_empty() {
        let file = format!("{image} (ONBUILD)");
        for trigger in &settings.on_build {
            let located = dockerfile::parse_trigger(&file, trigger, builder.escape)?;
            Box::pin(apply(&mut state, &located)).await?;
        }
        state.container = state.container.edit(ConfigEdit::OnBuild(Vec::new()));
    }
    for located in &stage.body {
        apply(&mut state, located).await?;
    }
    Ok(state.container)
}

/// Applies one instruction, and records it in the image's history.
async fn apply(state: &mut State<'_>, at: &Located) -> Result<(), Error> {
    let before = state.container.clone();
    if let Some(created_by) = dispatch(state, at).await? {
        let after = state.container.clone();
        state.container = history::record(&before, after, created_by);
    }
    Ok(())
}

/// Applies one instruction; says what the image's history records of it,
/// if anything.
async fn dispatch(state: &mut State<'_>, at: &Located) -> Result<Option<String>, Error> {
    let builder = state.builder;
    let created_by = match &at.instruction {
        Instruction::Arg(args) => {
            let mut words = Vec::new();
            for (name, default) in args {
                let value = match builder.build_args.get(name) {
                    Some(value) => Some(value.clone()),
                    None => match default {
                        Some(default) => Some(state.expand(at, default)?),
                        // Declared again in the stage: the global value.
                        None => lookup_in(&builder.global_args, name),
                    },
                };
                match &value {
                    Some(value) => words.push(format!("{name}={value}")),
                    None => words.push(name.clone()),
                }
                if let Some(value) = value {
                    state.args.retain(|(n, _)| n != name);
                    state.args.push((name.clone(), value));
                }
            }
            Some(format!("ARG {}", words.join(" ")))
        }
        Instruction::Env(pairs) => {
            let mut said = String::from("ENV");
            for (name, value) in pairs {
                let value = state.expand(at, value)?;
                said.push_str(&format!(" {name}={value}"));
                state.container = state.container.with_env_variable(name, &value, false);
                state.env.retain(|(n, _)| n != name);
                state.env.push((name.clone(), value));
            }
            Some(said)
        }
        Instruction::Label(pairs) => {
            let mut said = String::from("LABEL");
            for (name, value) in pairs {
                let (name, value) = (state.expand(at, name)?, state.expand(at, value)?);
                said.push_str(&format!(" {name}={value}"));
                state.container = state.container.with_label(&name, &value);
            }
            Some(said)
        }
        Instruction::Workdir(path) => {
            let path = state.absolute(&state.expand(at, path)?);
            // Docker makes the directory; steps may start in it.
            state.container = state
                .container
                .with_ensured_directory(&path)
                .with_workdir(&path);
            state.workdir = path.clone();
            Some(format!("WORKDIR {path}"))
        }
        Instruction::User(user) => {
            let user = state.expand(at, user)?;
            state.container = state.container.with_user(&user);
            Some(format!("USER {user}"))
        }
        Instruction::Expose(ports) => {
            let mut specs = Vec::new();
            for port in ports {
                let port = state.expand(at, port)?;
                let (number, protocol) = port.split_once('/').unwrap_or((&port, "tcp"));
                let number: u16 = number.parse().map_err(|_| {
                    builder.error(at, format!("{port} is not a port: write 8080 or 8080/udp"))
                })?;
                let protocol = protocol.to_ascii_lowercase();
                specs.push(format!("{number}/{protocol}"));
                state.container = state.container.with_exposed_port(number, &protocol);
            }
            Some(format!("EXPOSE {}", history::go_list(&specs)))
        }
        Instruction::Cmd(command) => {
            let args = state.command(command);
            let said = format!("CMD {}", history::go_quoted(&args));
            state.container = state.container.with_default_args(args);
            state.cmd_set = true;
            Some(said)
        }
        Instruction::Entrypoint(command) => {
            let args = state.command(command);
            let said = format!("ENTRYPOINT {}", history::go_quoted(&args));
            // Docker: an ENTRYPOINT drops the CMD the base image had, not
            // one this stage set.
            state.container = state.container.with_entrypoint(args, state.cmd_set);
            Some(said)
        }
        Instruction::Shell(shell) => {
            state.shell = shell.clone();
            Some(format!("SHELL {}", history::go_list(shell)))
        }
        Instruction::Healthcheck(spec) => {
            let healthcheck = match spec {
                None => Healthcheck {
                    test: vec!["NONE".into()],
                    ..Default::default()
                },
                Some(spec) => healthcheck(spec).map_err(|reason| builder.error(at, reason))?,
            };
            let said = history::healthcheck(&healthcheck);
            state.container = state.container.with_healthcheck(Some(healthcheck));
            Some(said)
        }
        Instruction::Run { .. } => Some(super::run::run(state, at).await?),
        Instruction::Copy(spec) => Some(super::copy::copy(state, at, spec, false).await?),
        Instruction::Add(spec) => Some(super::copy::copy(state, at, spec, true).await?),
        Instruction::Volume(paths) => {
            let mut written = Vec::new();
            for path in paths {
                let path = state.expand(at, path)?;
                let absolute = state.absolute(&path);
                written.push(path);
                state.container = state.container.edit(ConfigEdit::Volume(absolute));
            }
            Some(format!("VOLUME {}", history::go_list(&written)))
        }
        Instruction::Stopsignal(signal) => {
            let signal = state.expand(at, signal)?;
            let said = format!("STOPSIGNAL {signal}");
            state.container = state.container.edit(ConfigEdit::StopSignal(signal));
            Some(said)
        }
        Instruction::Maintainer(author) => {
            state.container = state.container.edit(ConfigEdit::Author(author.clone()));
            Some(format!("MAINTAINER {author}"))
        }
        Instruction::Onbuild(_) => {
            // Kept as written, without the keyword, as Docker keeps it.
            let trigger = at.text.trim_start()[7..].trim().to_owned();
            state.on_build.push(trigger);
            let triggers = state.on_build.clone();
            state.container = state.container.edit(ConfigEdit::OnBuild(triggers));
            None
        }
        Instruction::From { .. } => unreachable!("FROM starts a stage"),
    };
    Ok(created_by)
}

fn healthcheck(spec: &HealthcheckSpec) -> Result<Healthcheck, String> {
    let duration = |value: &Option<String>| value.as_deref().map_or(Ok(0), go_duration);
    Ok(Healthcheck {
        test: spec.command.clone(),
        interval: duration(&spec.interval)?,
        timeout: duration(&spec.timeout)?,
        start_period: duration(&spec.start_period)?,
        start_interval: duration(&spec.start_interval)?,
        retries: match &spec.retries {
            Some(retries) => retries
                .parse()
                .map_err(|_| format!("--retries={retries} is not a number"))?,
            None => 0,
        },
    })
}

/// `1m30s`, `500ms`… in nanoseconds, as Go's `time.ParseDuration`.
fn go_duration(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a duration: write 30s, 1m30s or 500ms");
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let number: f64 = rest[..number_end].parse().map_err(|_| bad())?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += number * scale;
        rest = &rest[unit_end..];
    }
    Ok(total as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_as_go_writes_them() {
        assert_eq!(super::go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(super::go_duration("500ms"), Ok(500_000_000));
        assert!(super::go_duration("5").is_err());
        assert!(super::go_duration("5 days").is_err());
    }
}
