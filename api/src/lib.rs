//! The Dagger-compatible GraphQL session server (see
//! ../shared/dagger-compat.md): Dagger's core schema over the engine's
//! values, answered over HTTP to the official SDKs (`tanto run`) or once
//! from a file (`tanto query`).
//!
//! ```text
//! SDK ──POST /query──► server.rs (auth, JSON always)
//!                         │
//!                         ▼
//!                  Session::execute ──► schema/*.rs resolvers ──► engine values
//!                                          ids.rs (ID ⇄ value)
//! ```

mod dagger_schema;
mod errors;
mod ids;
mod scalars;
mod schema;
mod server;

use std::sync::Arc;

use async_graphql::{EmptyMutation, EmptySubscription, Schema};

pub use server::{bind_loopback, serve};

use crate::ids::Ids;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown ID {id:?}: IDs come from this session's `id` fields; this one was never issued here (tampered, or from another session)")]
    UnknownId { id: String },

    #[error("the ID {id:?} is a {actual}, not a {expected}")]
    WrongIdType {
        id: String,
        expected: &'static str,
        actual: &'static str,
    },
}

/// One session: an engine, its object IDs, and the schema over them.
pub struct Session {
    token: String,
    schema: Schema<schema::Query, EmptyMutation, EmptySubscription>,
}

pub(crate) struct State {
    pub engine: engine::Engine,
    pub ids: Ids,
}

impl Session {
    pub fn new(engine: engine::Engine, token: String) -> Session {
        let state = Arc::new(State {
            engine,
            ids: Ids::new(),
        });
        let schema = Schema::build(schema::Query, EmptyMutation, EmptySubscription)
            .data(state)
            .finish();
        Session { token, schema }
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Runs one GraphQL document; the answer is GraphQL's JSON response.
    pub async fn execute(&self, query: &str) -> serde_json::Value {
        let response = self.schema.execute(query).await;
        let mut value = serde_json::to_value(&response).unwrap_or_else(|e| {
            serde_json::json!({"data": null, "errors": [{"message": format!("cannot encode the answer: {e}")}]})
        });
        errors::tidy(&mut value);
        value
    }

    /// The SDL of the schema tanto serves, for docs and tests.
    pub fn sdl(&self) -> String {
        self.schema.sdl()
    }
}

/// A random session token.
pub fn new_token() -> String {
    use base64::Engine as _;
    use std::io::Read;
    let mut random = [0u8; 24];
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut random));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
}
