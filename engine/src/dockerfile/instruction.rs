//! Each logical line understood as an instruction: its keyword, its
//! `--flags` (only those the instruction takes), and its arguments in JSON
//! (exec) or shell form. Words stay as written, quotes and variables in
//! them: they are expanded when the build reaches them, with the stage's
//! `ARG`s and `ENV`s (`expand.rs`).

use super::expand::words;
use super::lines::{Heredoc, Logical};
use crate::error::Error;

/// One instruction where it stands in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// 1-based, where the instruction starts.
    pub line: usize,
    /// The instruction as written, continuations joined.
    pub text: String,
    pub instruction: Instruction,
}

/// A command in exec form (`["make", "all"]`, run as is) or shell form
/// (`make all`, run by the stage's `SHELL`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Instruction {
    From {
        image: String,
        stage: Option<String>,
        platform: Option<String>,
    },
    Run {
        command: Command,
        /// `--mount=…`, each as written.
        mounts: Vec<String>,
        network: Option<String>,
        security: Option<String>,
        heredocs: Vec<Heredoc>,
    },
    Cmd(Command),
    Entrypoint(Command),
    Shell(Vec<String>),
    Copy(CopySpec),
    Add(CopySpec),
    Env(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Label(Vec<(String, String)>),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Stopsignal(String),
    /// `HEALTHCHECK NONE` is `None`.
    Healthcheck(Option<HealthcheckSpec>),
    Onbuild(Box<Instruction>),
    Maintainer(String),
}

/// `COPY` and `ADD`: sources and destination as written, and their flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopySpec {
    pub sources: Vec<String>,
    pub dest: String,
    /// `--from=stage|image` (COPY only).
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    /// `--checksum=sha256:…` (ADD of a URL).
    pub checksum: Option<String>,
    /// `--keep-git-dir` (ADD of a git URL).
    pub keep_git_dir: bool,
    /// `--unpack=true|false` (ADD of an archive URL).
    pub unpack: Option<bool>,
    /// Sources that are here-documents (`COPY <<EOF /dest`).
    pub heredocs: Vec<Heredoc>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthcheckSpec {
    pub command: Vec<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<String>,
}

/// Understands one logical line. `escape` is the file's escape character.
pub(super) fn parse(file: &str, logical: Logical, escape: char) -> Result<Located, Error> {
    let instruction =
        instruction(&logical.text, logical.heredocs, escape, true).map_err(|reason| {
            Error::Dockerfile {
                file: file.to_owned(),
                line: logical.line,
                instruction: keyword(&logical.text).to_ascii_uppercase(),
                reason,
            }
        })?;
    Ok(Located {
        line: logical.line,
        text: logical.text,
        instruction,
    })
}

fn keyword(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or("")
}

/// The flags at the start of `rest` (`--name=value`, `--name`), and what
/// follows them.
fn flags(rest: &str) -> (Vec<(String, Option<String>)>, &str) {
    let mut flags = Vec::new();
    let mut rest = rest.trim_start();
    while let Some(flag) = rest.strip_prefix("--") {
        let end = flag.find(char::is_whitespace).unwrap_or(flag.len());
        let (word, after) = flag.split_at(end);
        let (name, value) = match word.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (word.to_owned(), None),
        };
        flags.push((name, value));
        rest = after.trim_start();
    }
    (flags, rest)
}

/// Checks every flag is one `allowed`, and gives them by name.
struct Flags(Vec<(String, Option<String>)>);

impl Flags {
    fn checked(
        keyword: &str,
        flags: Vec<(String, Option<String>)>,
        allowed: &[&str],
    ) -> Result<Flags, String> {
        for (name, _) in &flags {
            if !allowed.contains(&name.as_str()) {
                return Err(match allowed {
                    [] => format!("unknown flag --{name}: {keyword} takes no flags"),
                    _ => format!(
                        "unknown flag --{name}; {keyword} takes --{}",
                        allowed.join(", --")
                    ),
                });
            }
        }
        Ok(Flags(flags))
    }

    /// The value of a flag given once.
    fn value(&self, name: &str) -> Result<Option<String>, String> {
        let mut found = self.0.iter().filter(|(n, _)| n == name);
        match (found.next(), found.next()) {
            (None, _) => Ok(None),
            (Some(_), Some(_)) => Err(format!("--{name} is given twice")),
            (Some((_, Some(value))), None) => Ok(Some(value.clone())),
            (Some((_, None)), None) => Err(format!("--{name} needs a value: --{name}=…")),
        }
    }

    /// Every value of a repeatable flag.
    fn values(&self, name: &str) -> Result<Vec<String>, String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone().ok_or_else(|| format!("--{name} needs a value")))
            .collect()
    }

    /// A boolean flag: `--name`, `--name=true|false`.
    fn boolean(&self, name: &str) -> Result<Option<bool>, String> {
        match self.0.iter().find(|(n, _)| n == name) {
            None => Ok(None),
            Some((_, None)) => Ok(Some(true)),
            Some((_, Some(v))) => match v.as_str() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                other => Err(format!("--{name} is true or false, not {other:?}")),
            },
        }
    }
}

fn instruction(
    text: &str,
    heredocs: Vec<Heredoc>,
    escape: char,
    top_level: bool,
) -> Result<Instruction, String> {
    let keyword = keyword(text).to_ascii_uppercase();
    let rest = text[keyword.len()..].trim();
    let (flags, args) = flags(rest);
    let checked = |allowed: &[&str]| Flags::checked(&keyword, flags.clone(), allowed);
    let nonempty = |what: &str| -> Result<(), String> {
        match args.is_empty() {
            true => Err(format!("{keyword} needs {what}")),
            false => Ok(()),
        }
    };
    Ok(match keyword.as_str() {
        "FROM" => {
            let flags = checked(&["platform"])?;
            let words = words(args, escape);
            let (image, stage) = match words.as_slice() {
                [image] => (image.clone(), None),
                [image, as_, stage] if as_.eq_ignore_ascii_case("as") => {
                    (image.clone(), Some(stage.clone()))
                }
                _ => return Err("write FROM IMAGE or FROM IMAGE AS NAME".into()),
            };
            Instruction::From {
                image,
                stage,
                platform: flags.value("platform")?,
            }
        }
        "RUN" => {
            let flags = checked(&["mount", "network", "security"])?;
            if args.is_empty() && heredocs.is_empty() {
                return Err("RUN needs a command".into());
            }
            Instruction::Run {
                command: command(args),
                mounts: flags.values("mount")?,
                network: flags.value("network")?,
                security: flags.value("security")?,
                heredocs,
            }
        }
        "CMD" | "ENTRYPOINT" => {
            checked(&[])?;
            let command = command(args);
            match keyword.as_str() {
                "CMD" => Instruction::Cmd(command),
                _ => Instruction::Entrypoint(command),
            }
        }
        "SHELL" => {
            checked(&[])?;
            match json_array(args) {
                Some(shell) if !shell.is_empty() => Instruction::Shell(shell),
                _ => return Err("SHELL takes the JSON form: SHELL [\"/bin/bash\", \"-c\"]".into()),
            }
        }
        "COPY" | "ADD" => {
            let allowed: &[&str] = match keyword.as_str() {
                "COPY" => &["from", "chown", "chmod", "link", "parents", "exclude"],
                _ => &[
                    "chown",
                    "chmod",
                    "link",
                    "exclude",
                    "checksum",
                    "keep-git-dir",
                    "unpack",
                ],
            };
            let flags = checked(allowed)?;
            let mut paths = json_array(args).unwrap_or_else(|| words(args, escape));
            // Here-documents are sources of their own, kept in `heredocs`.
            paths.retain(|path| !is_heredoc_marker(path, &heredocs));
            let Some(dest) = paths.pop() else {
                return Err(format!("{keyword} needs sources and a destination"));
            };
            if paths.is_empty() && heredocs.is_empty() {
                return Err(format!("{keyword} needs at least one source before {dest}"));
            }
            let spec = CopySpec {
                sources: paths,
                dest,
                from: flags.value("from")?,
                chown: flags.value("chown")?,
                chmod: flags.value("chmod")?,
                link: flags.boolean("link")?.unwrap_or(false),
                parents: flags.boolean("parents")?.unwrap_or(false),
                exclude: flags.values("exclude")?,
                checksum: flags.value("checksum")?,
                keep_git_dir: flags.boolean("keep-git-dir")?.unwrap_or(false),
                unpack: flags.boolean("unpack")?,
                heredocs,
            };
            match keyword.as_str() {
                "COPY" => Instruction::Copy(spec),
                _ => Instruction::Add(spec),
            }
        }
        "ENV" | "LABEL" => {
            checked(&[])?;
            nonempty("NAME=VALUE")?;
            let pairs = pairs(args, escape, &keyword)?;
            match keyword.as_str() {
                "ENV" => Instruction::Env(pairs),
                _ => Instruction::Label(pairs),
            }
        }
        "ARG" => {
            checked(&[])?;
            nonempty("a name")?;
            Instruction::Arg(
                words(args, escape)
                    .into_iter()
                    .map(|word| match word.split_once('=') {
                        Some((name, default)) => (name.to_owned(), Some(default.to_owned())),
                        None => (word, None),
                    })
                    .collect(),
            )
        }
        "WORKDIR" | "USER" | "STOPSIGNAL" | "MAINTAINER" => {
            checked(&[])?;
            nonempty("a value")?;
            let value = args.to_owned();
            match keyword.as_str() {
                "WORKDIR" => Instruction::Workdir(value),
                "USER" => Instruction::User(value),
                "STOPSIGNAL" => Instruction::Stopsignal(value),
                _ => Instruction::Maintainer(value),
            }
        }
        "EXPOSE" => {
            checked(&[])?;
            nonempty("a port")?;
            Instruction::Expose(words(args, escape))
        }
        "VOLUME" => {
            checked(&[])?;
            nonempty("a path")?;
            Instruction::Volume(json_array(args).unwrap_or_else(|| words(args, escape)))
        }
        "HEALTHCHECK" => {
            let flags = checked(&[
                "interval",
                "timeout",
                "start-period",
                "start-interval",
                "retries",
            ])?;
            let (word, command_text) = args
                .split_once(char::is_whitespace)
                .map(|(w, c)| (w, c.trim()))
                .unwrap_or((args, ""));
            match word.to_ascii_uppercase().as_str() {
                "NONE" if command_text.is_empty() && flags.0.is_empty() => {
                    Instruction::Healthcheck(None)
                }
                "NONE" => return Err("HEALTHCHECK NONE takes nothing else".into()),
                "CMD" if !command_text.is_empty() => {
                    let command = match self::command(command_text) {
                        Command::Exec(args) => {
                            let mut test = vec!["CMD".to_owned()];
                            test.extend(args);
                            test
                        }
                        Command::Shell(line) => vec!["CMD-SHELL".to_owned(), line],
                    };
                    Instruction::Healthcheck(Some(HealthcheckSpec {
                        command,
                        interval: flags.value("interval")?,
                        timeout: flags.value("timeout")?,
                        start_period: flags.value("start-period")?,
                        start_interval: flags.value("start-interval")?,
                        retries: flags.value("retries")?,
                    }))
                }
                _ => {
                    return Err(
                        "write HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE".into(),
                    )
                }
            }
        }
        "ONBUILD" => {
            checked(&[])?;
            nonempty("an instruction")?;
            if !top_level {
                return Err("ONBUILD cannot hold another ONBUILD".into());
            }
            let inner = keyword_of(args);
            if matches!(inner.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(format!("ONBUILD cannot hold {inner}"));
            }
            Instruction::Onbuild(Box::new(instruction(args, heredocs, escape, false)?))
        }
        "" => return Err("an empty instruction".into()),
        other => {
            return Err(format!(
                "unknown instruction {other}; Dockerfiles have FROM, RUN, CMD, LABEL, EXPOSE, ENV, \
                 ADD, COPY, ENTRYPOINT, VOLUME, USER, WORKDIR, ARG, ONBUILD, STOPSIGNAL, \
                 HEALTHCHECK, SHELL and MAINTAINER"
            ))
        }
    })
}

/// `<<NAME`, `<<-NAME`, `<<"NAME"`… for one of `heredocs`.
fn is_heredoc_marker(word: &str, heredocs: &[Heredoc]) -> bool {
    let Some(rest) = word.strip_prefix("<<") else {
        return false;
    };
    let name = rest
        .trim_start_matches('-')
        .trim_matches(|c| c == '"' || c == '\'');
    heredocs.iter().any(|h| h.name == name)
}

fn keyword_of(text: &str) -> String {
    keyword(text).to_ascii_uppercase()
}

/// The exec form when `args` is a JSON array of strings, else the shell form.
fn command(args: &str) -> Command {
    match json_array(args) {
        Some(args) => Command::Exec(args),
        None => Command::Shell(args.to_owned()),
    }
}

fn json_array(args: &str) -> Option<Vec<String>> {
    if !args.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(args).ok()
}

/// `NAME=VALUE …`, or the old `NAME VALUE` form (one pair, the value the
/// rest of the line).
fn pairs(args: &str, escape: char, keyword: &str) -> Result<Vec<(String, String)>, String> {
    let words = words(args, escape);
    let first = words.first().map(String::as_str).unwrap_or("");
    if !first.contains('=') {
        let value = args[first.len()..].trim();
        if value.is_empty() {
            return Err(format!(
                "{keyword} {first} has no value: write {first}=VALUE"
            ));
        }
        return Ok(vec![(first.to_owned(), value.to_owned())]);
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
            _ => Err(format!("{word:?} is not NAME=VALUE")),
        })
        .collect()
}
