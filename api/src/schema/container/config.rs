//! `Container`'s edits of its image config: environment, user, working
//! directory, entrypoint and arguments, labels, exposed ports, secret and
//! volatile variables, the health check, the terminal's command.

use async_graphql::{Context, Object, Result, ID};

use super::super::{duration, lookup, NetworkProtocol};
use super::args::{port_number, refuse_nesting};
use super::ContainerObj;

pub(crate) struct ContainerConfig(pub(super) engine::Container);

#[Object]
impl ContainerConfig {
    async fn with_env_variable(
        &self,
        name: String,
        value: String,
        #[graphql(default = false)] expand: bool,
    ) -> Result<ContainerObj> {
        if expand {
            self.0
                .check_expandable(&value)
                .map_err(super::super::fail)?;
        }
        Ok(ContainerObj::new(
            self.0.with_env_variable(&name, &value, expand),
        ))
    }

    async fn without_env_variable(&self, name: String) -> ContainerObj {
        ContainerObj::new(self.0.without_env_variable(&name))
    }

    /// Every variable of the env file, expanded as `EnvFile.variables`
    /// expands them, set as `withEnvVariable` sets one.
    async fn with_env_file_variables(&self, ctx: &Context<'_>, source: ID) -> Result<ContainerObj> {
        let file = lookup!(ctx, source, EnvFile, "EnvFile")?;
        let mut next = self.0.clone();
        for (name, value) in file.variables(false)? {
            next = next.with_env_variable(&name, &value, false);
        }
        Ok(ContainerObj::new(next))
    }

    async fn with_secret_variable(
        &self,
        ctx: &Context<'_>,
        name: String,
        secret: ID,
    ) -> Result<ContainerObj> {
        let secret = lookup!(ctx, secret, Secret, "Secret")?;
        Ok(ContainerObj::new(
            self.0.with_secret_variable(&name, &secret),
        ))
    }

    async fn without_secret_variable(&self, name: String) -> ContainerObj {
        ContainerObj::new(self.0.without_secret_variable(&name))
    }

    async fn with_workdir(&self, path: String) -> ContainerObj {
        ContainerObj::new(self.0.with_workdir(&path))
    }

    async fn without_workdir(&self) -> ContainerObj {
        ContainerObj::new(self.0.without_workdir())
    }

    async fn with_user(&self, name: String) -> ContainerObj {
        ContainerObj::new(self.0.with_user(&name))
    }

    async fn without_user(&self) -> ContainerObj {
        ContainerObj::new(self.0.without_user())
    }

    async fn with_entrypoint(
        &self,
        args: Vec<String>,
        #[graphql(default = false)] keep_default_args: bool,
    ) -> ContainerObj {
        ContainerObj::new(self.0.with_entrypoint(args, keep_default_args))
    }

    async fn without_entrypoint(
        &self,
        #[graphql(default = false)] keep_default_args: bool,
    ) -> ContainerObj {
        ContainerObj::new(self.0.without_entrypoint(keep_default_args))
    }

    async fn with_default_args(&self, args: Vec<String>) -> ContainerObj {
        ContainerObj::new(self.0.with_default_args(args))
    }

    async fn without_default_args(&self) -> ContainerObj {
        ContainerObj::new(self.0.without_default_args())
    }

    async fn with_label(&self, name: String, value: String) -> ContainerObj {
        ContainerObj::new(self.0.with_label(&name, &value))
    }

    async fn without_label(&self, name: String) -> ContainerObj {
        ContainerObj::new(self.0.without_label(&name))
    }

    async fn with_exposed_port(
        &self,
        port: i32,
        #[graphql(default)] protocol: NetworkProtocol,
        description: Option<String>,
        #[graphql(default = false)] experimental_skip_healthcheck: bool,
    ) -> Result<ContainerObj> {
        // The image records the port alone: no description.
        let _ = description;
        let port = port_number(port)?;
        let exposed = self.0.with_exposed_port(port, protocol.name());
        Ok(ContainerObj::new(match experimental_skip_healthcheck {
            true => exposed.without_healthcheck_on(port, protocol.name()),
            false => exposed,
        }))
    }

    async fn without_exposed_port(
        &self,
        port: i32,
        #[graphql(default)] protocol: NetworkProtocol,
    ) -> Result<ContainerObj> {
        Ok(ContainerObj::new(
            self.0
                .without_exposed_port(port_number(port)?, protocol.name()),
        ))
    }

    /// Fails with `err`, or passes the container on when it is empty.
    async fn with_error(&self, err: String) -> Result<ContainerObj> {
        if err.is_empty() {
            return Ok(ContainerObj::new(self.0.clone()));
        }
        Err(async_graphql::Error::new(err))
    }

    /// A variable the next steps see but whose value is in no cache key
    /// (a step that differs by it alone is cached) and not in the image.
    async fn with_volatile_variable(&self, name: String, value: String) -> ContainerObj {
        ContainerObj::new(self.0.with_volatile_variable(&name, &value))
    }

    async fn without_volatile_variable(&self, name: String) -> ContainerObj {
        ContainerObj::new(self.0.without_volatile_variable(&name))
    }

    /// What `terminal` runs when it is given no `cmd`.
    async fn with_default_terminal_cmd(
        &self,
        args: Vec<String>,
        #[graphql(default = false)] experimental_privileged_nesting: bool,
        #[graphql(default = false)] insecure_root_capabilities: bool,
    ) -> Result<ContainerObj> {
        refuse_nesting(
            "withDefaultTerminalCmd",
            experimental_privileged_nesting,
            insecure_root_capabilities,
        )?;
        Ok(ContainerObj::new(self.0.with_default_terminal_cmd(args)))
    }

    /// The image config's `Healthcheck` (Docker's): `args` run as they are,
    /// or, with `shell`, one command for the image's shell. Durations as
    /// Go writes them: `30s`, `1m30s`.
    #[allow(clippy::too_many_arguments)]
    async fn with_docker_healthcheck(
        &self,
        args: Vec<String>,
        shell: Option<bool>,
        interval: Option<String>,
        timeout: Option<String>,
        start_period: Option<String>,
        start_interval: Option<String>,
        retries: Option<i32>,
    ) -> Result<ContainerObj> {
        let refuse =
            |why: String| async_graphql::Error::new(format!("withDockerHealthcheck: {why}"));
        let test = match shell.unwrap_or(false) {
            true if args.len() != 1 => {
                return Err(refuse(format!(
                    "with shell, args is one command for the shell, not {} strings",
                    args.len()
                )))
            }
            true => ["CMD-SHELL".to_owned()].into_iter().chain(args).collect(),
            false if args.is_empty() => {
                return Err(refuse("args is empty: give the command to run".into()))
            }
            false => ["CMD".to_owned()].into_iter().chain(args).collect(),
        };
        let nanos = |name: &str, value: Option<String>| match value {
            Some(value) => duration::parse(&value).map_err(|e| refuse(format!("{name}: {e}"))),
            None => Ok(0),
        };
        let check = engine::Healthcheck {
            test,
            interval: nanos("interval", interval)?,
            timeout: nanos("timeout", timeout)?,
            start_period: nanos("startPeriod", start_period)?,
            start_interval: nanos("startInterval", start_interval)?,
            retries: i64::from(retries.unwrap_or(0)),
        };
        Ok(ContainerObj::new(self.0.with_healthcheck(Some(check))))
    }

    async fn without_docker_healthcheck(&self) -> ContainerObj {
        ContainerObj::new(self.0.with_healthcheck(None))
    }
}
