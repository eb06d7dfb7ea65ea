//! `Label` and `Port`: the small types `Container.labels` and
//! `Container.exposedPorts` answer with, each with an ID, since the SDKs
//! read lists of objects element by element through `node(id:)`.

use async_graphql::{Context, Object, ID};

use super::{state, NetworkProtocol};
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
