//! `Label`, `Port` and `HealthcheckConfig`: the small types
//! `Container.labels`, `Container.exposedPorts` and
//! `Container.dockerHealthcheck` answer with, each with an ID, since the
//! SDKs read lists of objects element by element through `node(id:)`.

use async_graphql::{Context, Object, Result, ID};

use super::{duration, state, NetworkProtocol};
use crate::ids::Object as Value;

pub(crate) struct LabelObj {
    pub name: String,
    pub value: String,
}

#[Object(name = "Label")]
impl LabelObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx)
            .ids
            .register(Value::Label(self.name.clone(), self.value.clone())))
    }

    async fn name(&self) -> &str {
        &self.name
    }

    async fn value(&self) -> &str {
        &self.value
    }
}

/// An exposed port as the image config keys it: `8080/tcp`.
pub(crate) struct PortObj(pub String);

impl PortObj {
    fn number_and_protocol(&self) -> (i32, NetworkProtocol) {
        let (number, protocol) = self.0.split_once('/').unwrap_or((&self.0, "tcp"));
        let protocol = if protocol.eq_ignore_ascii_case("udp") {
            NetworkProtocol::Udp
        } else {
            NetworkProtocol::Tcp
        };
        (number.parse().unwrap_or(0), protocol)
    }
}

#[Object(name = "Port")]
impl PortObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::Port(self.0.clone())))
    }

    async fn port(&self) -> i32 {
        self.number_and_protocol().0
    }

    async fn protocol(&self) -> NetworkProtocol {
        self.number_and_protocol().1
    }

    /// Image configs keep no description.
    async fn description(&self) -> Option<String> {
        None
    }

    async fn experimental_skip_healthcheck(&self) -> bool {
        false
    }
}

/// The image config's `Healthcheck` as Dagger answers it: the command
/// without its `CMD`/`CMD-SHELL` word, durations as Go writes them.
pub(crate) struct HealthcheckConfigObj(pub engine::Healthcheck);

impl HealthcheckConfigObj {
    /// The check, unless the config has none (or `NONE`).
    pub(crate) fn of(check: Option<engine::Healthcheck>) -> Result<Option<HealthcheckConfigObj>> {
        let Some(check) = check else { return Ok(None) };
        match check.test.first().map(String::as_str) {
            None | Some("NONE") => Ok(None),
            Some("CMD-SHELL") if check.test.len() != 2 => Err(async_graphql::Error::new(format!(
                "the image's HEALTHCHECK is a shell command of {} words, not one: {:?}",
                check.test.len() - 1,
                check.test
            ))),
            Some("CMD") if check.test.len() < 2 => Err(async_graphql::Error::new(
                "the image's HEALTHCHECK command is empty",
            )),
            Some("CMD" | "CMD-SHELL") => Ok(Some(HealthcheckConfigObj(check))),
            Some(other) => Err(async_graphql::Error::new(format!(
                "the image's HEALTHCHECK is of an unknown type {other:?} (not CMD, CMD-SHELL or NONE)"
            ))),
        }
    }
}

#[Object(name = "HealthcheckConfig")]
impl HealthcheckConfigObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::Healthcheck(self.0.clone())))
    }

    /// The command the check runs, without Docker's `CMD`/`CMD-SHELL` word.
    async fn args(&self) -> &[String] {
        self.0.test.get(1..).unwrap_or_default()
    }

    /// Whether the command is one string the image's shell runs.
    async fn shell(&self) -> bool {
        self.0.test.first().is_some_and(|t| t == "CMD-SHELL")
    }

    /// How long one check may take, as Go writes durations (`3s`).
    async fn timeout(&self) -> String {
        duration::format(self.0.timeout)
    }

    /// The time between checks (`30s`).
    async fn interval(&self) -> String {
        duration::format(self.0.interval)
    }

    /// How long after the start failed checks do not count (`0s`).
    async fn start_period(&self) -> String {
        duration::format(self.0.start_period)
    }

    /// The time between checks during the start period (`5s`).
    async fn start_interval(&self) -> String {
        duration::format(self.0.start_interval)
    }

    /// How many failures in a row make the container unhealthy.
    async fn retries(&self) -> i32 {
        i32::try_from(self.0.retries).unwrap_or(i32::MAX)
    }
}
