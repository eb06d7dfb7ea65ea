//! `RUN`: the command (through the stage's shell unless in exec form, with
//! its here-documents), the stage's `ARG`s as its environment only, and its
//! `--mount`s (cache, secret, bind, tmpfs) for that one step.

use super::stage::State;
use crate::cache_volume::Sharing;
use crate::dockerfile::{Command, Heredoc, Instruction, Located};
use crate::error::Error;
use crate::values::{CacheVolume, ExecOptions};

/// Applies a `RUN`; returns what the image's history says of it.
pub(super) async fn run(state: &mut State<'_>, at: &Located) -> Result<String, Error> {
    let Instruction::Run {
        command,
        mounts,
        network,
        security,
        heredocs,
    } = &at.instruction
    else {
        unreachable!("run is given RUN")
    };
    let builder = state.builder;
    let no_network = match network.as_deref() {
        None | Some("default") | Some("host") => false,
        Some("none") => true,
        Some(other) => {
            return Err(builder.error(
                at,
                format!("--network is default, host or none, not {other:?}"),
            ))
        }
    };
    if let Some(security) = security.as_deref().filter(|s| *s != "sandbox") {
        return Err(builder.error(
            at,
            format!("--security={security} is not supported: steps run with Docker's default capabilities"),
        ));
    }
    let args = match command {
        Command::Exec(args) => args.clone(),
        Command::Shell(line) => {
            let mut args = state.shell.clone();
            args.push(script(line, heredocs));
            args
        }
    };
    // BuildKit lists the stage's ARGs first, as the step sees them.
    let seen_args: Vec<(String, String)> = state
        .args
        .iter()
        .map(|(name, value)| {
            let value = super::lookup_in(&state.env, name).unwrap_or_else(|| value.clone());
            (name.clone(), value)
        })
        .collect();
    let created_by = super::history::run(&seen_args, &args);
    let mut container = state.container.clone();
    // ARGs are the step's environment, not the image's; ENV wins over them.
    let step_args: Vec<(String, String)> = state
        .args
        .iter()
        .filter(|(name, _)| !state.env.iter().any(|(n, _)| n == name))
        .cloned()
        .collect();
    for (name, value) in &step_args {
        container = container.with_env_variable(name, value, false);
    }
    let mut undo = Vec::new();
    for spec in mounts {
        container = mount(state, at, container, spec, &mut undo).await?;
    }
    let shown = match command {
        Command::Exec(args) => serde_json::to_string(args).unwrap_or_default(),
        Command::Shell(line) => line.clone(),
    };
    container = container.with_exec_opts(
        args,
        ExecOptions {
            name: Some(format!("RUN {shown}")),
            cache_buster: builder.cache_buster.clone(),
            no_network,
            ..Default::default()
        },
    );
    for undo in undo {
        container = match undo {
            Undo::Mount(target) => container.without_mount(&target),
            Undo::SecretVariable(name) => container.without_secret_variable(&name),
            Undo::Variable(name) => container.without_env_variable(&name),
        };
    }
    for (name, _) in &step_args {
        container = container.without_env_variable(name);
    }
    state.container = container;
    Ok(created_by)
}

/// The shell script of a shell-form `RUN`: a lone here-document is the
/// script; otherwise the shell reads the here-documents after the line,
/// as it would in a script.
fn script(line: &str, heredocs: &[Heredoc]) -> String {
    if let [heredoc] = heredocs {
        let bare = line
            .trim()
            .trim_start_matches("<<")
            .trim_start_matches('-')
            .trim_matches(|c| c == '"' || c == '\'');
        if bare == heredoc.name {
            return heredoc.content.clone();
        }
    }
    let mut script = line.to_owned();
    for heredoc in heredocs {
        script.push('\n');
        script.push_str(&heredoc.content);
        script.push_str(&heredoc.name);
    }
    script
}

/// What a `--mount` adds that the next instruction must not see.
enum Undo {
    Mount(String),
    SecretVariable(String),
    Variable(String),
}

async fn mount(
    state: &State<'_>,
    at: &Located,
    container: crate::values::Container,
    spec: &str,
    undo: &mut Vec<Undo>,
) -> Result<crate::values::Container, Error> {
    let builder = state.builder;
    let bad = |reason: String| builder.error(at, format!("--mount={spec}: {reason}"));
    let mut fields = std::collections::HashMap::new();
    for field in spec.split(',') {
        let (key, value) = field.split_once('=').unwrap_or((field, "true"));
        fields.insert(
            key.trim().to_ascii_lowercase(),
            state.expand(at, value.trim())?,
        );
    }
    let get = |key: &str| fields.get(key).cloned();
    let target = get("target")
        .or_else(|| get("dst"))
        .or_else(|| get("destination"));
    let kind = get("type").unwrap_or_else(|| "bind".into());
    let target_of = |target: Option<String>| -> Result<String, Error> {
        let target = target.ok_or_else(|| bad("target= is missing".into()))?;
        Ok(state.absolute(&target))
    };
    Ok(match kind.as_str() {
        "cache" => {
            let target = target_of(target)?;
            let id = get("id").unwrap_or_else(|| target.clone());
            let sharing = match get("sharing").as_deref() {
                None | Some("shared") => Sharing::Shared,
                Some("private") => Sharing::Private,
                Some("locked") => Sharing::Locked,
                Some(other) => {
                    return Err(bad(format!(
                        "sharing is shared, private or locked, not {other:?}"
                    )))
                }
            };
            undo.push(Undo::Mount(target.clone()));
            container.with_mounted_cache(&target, &CacheVolume::new(&id), sharing)
        }
        "tmpfs" => {
            let target = target_of(target)?;
            undo.push(Undo::Mount(target.clone()));
            container.with_mounted_temp(&target)
        }
        "secret" => {
            let id = match (get("id"), &target) {
                (Some(id), _) => id,
                (None, Some(target)) => target.rsplit('/').next().unwrap_or(target).to_owned(),
                (None, None) => return Err(bad("id= is missing".into())),
            };
            let required = get("required").is_some_and(|r| r == "true");
            let Some((_, secret)) = builder.secrets.iter().find(|(name, _)| *name == id) else {
                if required {
                    return Err(bad(format!(
                        "the secret {id} is required and the build was given none of that name (secrets:)"
                    )));
                }
                return Ok(container);
            };
            if let Some(env) = get("env") {
                undo.push(Undo::SecretVariable(env.clone()));
                let container = container.with_secret_variable(&env, secret);
                if target.is_none() {
                    return Ok(container);
                }
            }
            let target = state.absolute(&target.unwrap_or_else(|| format!("/run/secrets/{id}")));
            let mode = match get("mode") {
                Some(mode) => u32::from_str_radix(&mode, 8)
                    .map_err(|_| bad(format!("mode={mode} is not octal")))?,
                None => 0o400,
            };
            undo.push(Undo::Mount(target.clone()));
            container.with_mounted_secret(&target, secret, mode)
        }
        "bind" => {
            let target = target_of(target)?;
            let source = get("source")
                .or_else(|| get("src"))
                .unwrap_or_else(|| "/".into());
            let from = match get("from") {
                None => builder.context.clone(),
                Some(from) => match builder.stage_named(&from) {
                    Some(index) => builder.stage(index).await?.rootfs(),
                    None => builder.empty.from(&from).rootfs(),
                },
            };
            let read_only = !matches!(
                get("rw").or_else(|| get("readwrite")).as_deref(),
                Some("true")
            );
            undo.push(Undo::Mount(target.clone()));
            container.with_mounted_directory(&target, &from.directory(&source), read_only)
        }
        "ssh" => {
            // The build's one SSH agent socket serves every id, as
            // Dagger's `ssh:` does; SSH_AUTH_SOCK names it.
            let required = get("required").is_some_and(|r| r == "true");
            let Some(socket) = &builder.ssh else {
                if required {
                    return Err(bad(
                        "an SSH agent is required and the build was given none (ssh:, tanto build --ssh default)"
                            .into(),
                    ));
                }
                return Ok(container);
            };
            let ssh_mounts = undo
                .iter()
                .filter(|u| matches!(u, Undo::Variable(name) if name == "SSH_AUTH_SOCK"))
                .count();
            let target = match target {
                Some(target) => state.absolute(&target),
                None => format!("/run/buildkit/ssh_agent.{ssh_mounts}"),
            };
            undo.push(Undo::Mount(target.clone()));
            let container = container.with_unix_socket(&target, socket);
            if ssh_mounts > 0 {
                return Ok(container);
            }
            undo.push(Undo::Variable("SSH_AUTH_SOCK".into()));
            container.with_env_variable("SSH_AUTH_SOCK", &target, false)
        }
        other => {
            return Err(bad(format!(
                "type is cache, secret, bind, tmpfs or ssh, not {other:?}"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heredoc(name: &str, content: &str) -> Heredoc {
        Heredoc {
            name: name.into(),
            content: content.into(),
            expand: true,
        }
    }

    #[test]
    fn heredocs_become_the_script() {
        assert_eq!(
            script("<<EOF", &[heredoc("EOF", "echo a\necho b\n")]),
            "echo a\necho b\n"
        );
        assert_eq!(
            script("python3 <<'PY'", &[heredoc("PY", "print(1)\n")]),
            "python3 <<'PY'\nprint(1)\nPY"
        );
        assert_eq!(script("make", &[]), "make");
    }
}
