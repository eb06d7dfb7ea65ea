//! `Directory.dockerBuild`: a Dockerfile in a directory built into a
//! container, each instruction becoming the value Dagger's API would have
//! made (`from`, `withExec`, `withDirectory`, `withEnvVariable`…), so every
//! step is memoized like any other, stages no target needs are never
//! solved, and independent stages build in parallel, for free.
//!
//! The Dockerfile is parsed by `crate::dockerfile`; `stage.rs` builds one
//! stage, `copy.rs` its `COPY` and `ADD`, `run.rs` its `RUN`, `history.rs`
//! what the image's history says of each instruction.

mod copy;
pub(crate) mod history;
mod run;
mod stage;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use registry::Platform;

use crate::dockerfile::{self, Instruction, Located};
use crate::error::Error;
use crate::secret::Secret;
use crate::values::{Container, Directory, Socket};

/// What `dockerBuild` is asked.
#[derive(Clone, Default)]
pub struct DockerBuild {
    /// The Dockerfile's path in the context; `Dockerfile` by default.
    pub dockerfile: String,
    pub platform: Option<Platform>,
    pub build_args: Vec<(String, String)>,
    /// The stage to build; the last one when empty.
    pub target: String,
    /// Secrets `RUN --mount=type=secret,id=NAME` may mount, by name.
    pub secrets: Vec<(String, Secret)>,
    /// The SSH agent `RUN --mount=type=ssh` binds (Dagger's `ssh:`).
    pub ssh: Option<Socket>,
    /// Every RUN runs again, whatever is cached (`--no-cache`).
    pub no_cache: bool,
    /// The Dockerfile's text when it is not in the context (`tanto build
    /// -f` of a file elsewhere); `dockerfile` then only names it.
    pub contents: Option<String>,
}

impl Directory {
    /// Builds the Dockerfile `options.dockerfile` of this directory, with
    /// this directory (less what `.dockerignore` leaves out) as the context.
    pub async fn docker_build(&self, options: DockerBuild) -> Result<Container, Error> {
        let path = match options.dockerfile.as_str() {
            "" => "Dockerfile".to_owned(),
            path => path.to_owned(),
        };
        let missing = |_| {
            Error::Dockerfile {
            file: path.clone(),
            line: 0,
            instruction: String::new(),
            reason: "no such file in the build context; give dockerfile: the path of the Dockerfile in the directory"
                .into(),
        }
        };
        let text = match options.contents.clone() {
            Some(text) => text,
            None => self.file(&path).contents().await.map_err(missing)?,
        };
        let parsed = dockerfile::parse(&path, &text)?;
        let ignored = self.dockerignore(&path).await?;
        let patterns: Vec<&str> = ignored.iter().map(String::as_str).collect();
        let context = match patterns.is_empty() {
            true => self.clone(),
            false => self.filter(&[], &patterns),
        };
        let builder = Builder::new(self, context, &path, parsed, options)?;
        let target = builder.target()?;
        builder.build_copied_stages(target).await?;
        builder.stage(target).await
    }

    /// The patterns of `<dockerfile>.dockerignore`, else `.dockerignore`.
    async fn dockerignore(&self, dockerfile: &str) -> Result<Vec<String>, Error> {
        let mut names = vec![".dockerignore".to_owned()];
        if !dockerfile.starts_with('/') {
            names.insert(0, format!("{dockerfile}.dockerignore"));
        }
        for name in names {
            if self.lookup(&name, false).await?.is_some() {
                let text = self.file(&name).contents().await?;
                return Ok(text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(|l| l.trim_start_matches('/').to_owned())
                    .collect());
            }
        }
        Ok(Vec::new())
    }
}

/// A Dockerfile's stages, built on demand, each once.
pub(super) struct Builder {
    /// An empty container of the build's platform, to start stages from.
    empty: Container,
    context: Directory,
    file: String,
    escape: char,
    /// `ARG`s before the first `FROM`, with the build's values, and the
    /// platform arguments BuildKit predefines.
    global_args: Vec<(String, String)>,
    build_args: HashMap<String, String>,
    secrets: Vec<(String, Secret)>,
    ssh: Option<Socket>,
    /// With `no_cache`: a value of this build alone in every RUN's key.
    pub(super) cache_buster: Option<String>,
    stages: Vec<StageText>,
    target: String,
    /// Each stage's container, made once even when asked for concurrently.
    built: Vec<tokio::sync::OnceCell<Container>>,
}

/// One stage's instructions: its `FROM`, then the rest.
pub(super) struct StageText {
    pub name: Option<String>,
    pub from: Located,
    pub body: Vec<Located>,
}

impl Builder {
    fn new(
        directory: &Directory,
        context: Directory,
        file: &str,
        parsed: dockerfile::Dockerfile,
        options: DockerBuild,
    ) -> Result<Builder, Error> {
        let empty = Container::new(std::sync::Arc::clone(&directory.ctx));
        let empty = match options.platform {
            Some(platform) => empty.for_platform(platform),
            None => empty,
        };
        let build_args: HashMap<String, String> = options.build_args.into_iter().collect();
        let platform = empty.platform().clone();
        let host = Platform::host();
        let mut global_args = vec![
            ("TARGETPLATFORM".to_owned(), platform.to_string()),
            ("TARGETOS".to_owned(), platform.os.clone()),
            ("TARGETARCH".to_owned(), platform.architecture.clone()),
            (
                "TARGETVARIANT".to_owned(),
                platform.variant.clone().unwrap_or_default(),
            ),
            ("BUILDPLATFORM".to_owned(), host.to_string()),
            ("BUILDOS".to_owned(), host.os.clone()),
            ("BUILDARCH".to_owned(), host.architecture.clone()),
            (
                "BUILDVARIANT".to_owned(),
                host.variant.clone().unwrap_or_default(),
            ),
        ];
        let mut stages: Vec<StageText> = Vec::new();
        for located in parsed.instructions {
            match &located.instruction {
                Instruction::From { stage, .. } => stages.push(StageText {
                    name: stage.clone(),
                    from: located,
                    body: Vec::new(),
                }),
                Instruction::Arg(args) if stages.is_empty() => {
                    for (name, default) in args {
                        let value = match build_args.get(name) {
                            Some(value) => value.clone(),
                            None => {
                                let lookup = |n: &str| lookup_in(&global_args, n);
                                match default {
                                    Some(default) => dockerfile::expand(
                                        default,
                                        parsed.directives.escape,
                                        &lookup,
                                    )
                                    .map_err(|reason| error(file, &located, reason))?,
                                    None => String::new(),
                                }
                            }
                        };
                        global_args.retain(|(n, _)| n != name);
                        global_args.push((name.clone(), value));
                    }
                }
                _ => stages
                    .last_mut()
                    .expect("parse checks a FROM comes first")
                    .body
                    .push(located),
            }
        }
        Ok(Builder {
            built: stages.iter().map(|_| Default::default()).collect(),
            empty,
            context,
            file: file.to_owned(),
            escape: parsed.directives.escape,
            global_args,
            build_args,
            secrets: options.secrets,
            ssh: options.ssh,
            cache_buster: match options.no_cache {
                true => Some(
                    crate::random::random_bytes::<16>()?
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect(),
                ),
                false => None,
            },
            stages,
            target: options.target,
        })
    }

    /// The index of the stage to build.
    fn target(&self) -> Result<usize, Error> {
        if self.target.is_empty() {
            return Ok(self.stages.len() - 1);
        }
        self.stage_named(&self.target).ok_or_else(|| {
            let names: Vec<&str> = self
                .stages
                .iter()
                .filter_map(|s| s.name.as_deref())
                .collect();
            Error::Dockerfile {
                file: self.file.clone(),
                line: 0,
                instruction: String::new(),
                reason: format!(
                    "no stage is named {:?} (target); its stages are named: {}",
                    self.target,
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
            }
        })
    }

    /// A stage by name (case-insensitively, as Docker) or index.
    pub(super) fn stage_named(&self, name: &str) -> Option<usize> {
        self.stages
            .iter()
            .position(|s| {
                s.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .or_else(|| {
                name.parse::<usize>()
                    .ok()
                    .filter(|i| *i < self.stages.len())
            })
    }

    /// Stage `index` built (once; stages depend on earlier stages only).
    pub(super) fn stage(
        &self,
        index: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Container, Error>> + Send + '_>> {
        Box::pin(async move {
            self.built[index]
                .get_or_try_init(|| stage::build(self, index))
                .await
                .cloned()
        })
    }

    /// Builds together, in parallel, the stages that `COPY --from` reads in
    /// the stages `target` needs. Building a stage looks into the stages
    /// it copies from, which runs them; without this they would run one
    /// after the other, as the lookups come.
    async fn build_copied_stages(&self, target: usize) -> Result<(), Error> {
        let copied = self.copied_stages(target);
        if copied.len() < 2 {
            return Ok(());
        }
        let builds = copied.into_iter().map(|index| async move {
            self.stage(index).await?.sync().await?;
            Ok::<(), Error>(())
        });
        futures::future::try_join_all(builds).await?;
        Ok(())
    }

    /// The stages `COPY --from` or `ADD --from` names, in `target` and the
    /// stages it needs. A `--from` with variables in it is left to the
    /// build itself.
    fn copied_stages(&self, target: usize) -> Vec<usize> {
        let mut needed = vec![target];
        let mut copied = Vec::new();
        let mut seen = std::collections::HashSet::from([target]);
        while let Some(index) = needed.pop() {
            let stage = &self.stages[index];
            let mut uses: Vec<(usize, bool)> = Vec::new();
            if let Instruction::From { image, .. } = &stage.from.instruction {
                uses.extend(self.stage_named(image).map(|i| (i, false)));
            }
            for located in &stage.body {
                if let Instruction::Copy(spec) | Instruction::Add(spec) = &located.instruction {
                    uses.extend(
                        spec.from
                            .as_deref()
                            .and_then(|from| self.stage_named(from))
                            .map(|i| (i, true)),
                    );
                }
            }
            for (used, by_copy) in uses.into_iter().filter(|(i, _)| *i < index) {
                if by_copy && !copied.contains(&used) {
                    copied.push(used);
                }
                if seen.insert(used) {
                    needed.push(used);
                }
            }
        }
        copied
    }

    pub(super) fn error(&self, at: &Located, reason: String) -> Error {
        error(&self.file, at, reason)
    }
}

fn error(file: &str, at: &Located, reason: String) -> Error {
    Error::Dockerfile {
        file: file.to_owned(),
        line: at.line,
        instruction: at
            .text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase(),
        reason,
    }
}

pub(super) fn lookup_in(vars: &[(String, String)], name: &str) -> Option<String> {
    vars.iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}
