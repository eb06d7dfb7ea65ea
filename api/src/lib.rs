//! The Dagger-compatible GraphQL session server (see
//! ../shared/dagger-compat.md): Dagger's core schema over the engine's
//! values, answered over HTTP to the official SDKs (`tanto run`) or once
//! from a file (`tanto query`).
//!
//! ```text
//! SDK ──POST /query──► server.rs (connections, timeouts, eviction)
//!                      handler.rs (auth, body limit, JSON always)
//!                         │
//!                         ▼
//!                  Session::execute ──► deep.rs (parse) ──► schema/*.rs resolvers ──► engine values
//!                         │                                   ids.rs (ID ⇄ value)
//!                         ▼
//!                  response.rs: shaped as Dagger answers (errors)
//!                  answer.rs: large step outputs streamed from their files
//! ```
//!
//! A module's function talks back to the same server as a nested client
//! with its own token (module/nested.rs): the token picks the call whose
//! `currentFunctionCall` it sees; the engine and the IDs are shared.

mod answer;
mod dagger_schema;
mod deep;
mod dotenv;
mod error;
mod function_cache;
mod handler;
mod ids;
mod loaded_module;
pub mod module;
pub mod module_init;
pub mod module_runtime;
pub mod module_source;
mod random;
mod response;
mod scalars;
mod schema;
mod server;
pub mod strcase;
#[cfg(test)]
mod test_session;

use std::sync::Arc;

use async_graphql::{EmptyMutation, EmptySubscription, Schema};

pub use answer::Answer;
pub use deep::MAX_DEPTH;
pub use error::{Error, ModuleError};
pub use handler::MAX_BODY_BYTES;
pub use server::{bind_loopback, serve, HEADER_READ_TIMEOUT, MAX_UNAUTHENTICATED};

use crate::ids::Ids;
pub use crate::loaded_module::{CallError, LoadError, LoadedModule};
pub use crate::module::model::ModuleTypes;
use crate::module::{CallContext, Clients};
pub use crate::module::{CoreValue, FunctionCall, NestedClient};
use crate::random::random_bytes;

/// One session: an engine, its object IDs, and the schema over them.
pub struct Session {
    token: String,
    /// Makes the placeholders of large outputs unforgeable (answer.rs).
    nonce: String,
    schema: Schema<schema::Query, EmptyMutation, EmptySubscription>,
    state: Arc<State>,
    /// The nested clients of the module functions running now.
    clients: Arc<Clients>,
}

/// Who sent a request: the session's caller, or a module function's
/// nested client with its call.
#[derive(Clone)]
pub(crate) enum Client {
    Caller,
    Nested(Arc<CallContext>),
}

pub(crate) struct State {
    pub engine: engine::Engine,
    pub ids: Ids,
}

impl Session {
    /// An error when the kernel gives no random bytes for the session's
    /// ID prefix or output nonce: never guessable ones.
    pub fn new(engine: engine::Engine, token: String) -> Result<Session, Error> {
        let state = Arc::new(State {
            engine,
            ids: Ids::new()?,
        });
        let schema = Schema::build(schema::Query, EmptyMutation, EmptySubscription)
            .data(Arc::clone(&state))
            // deep.rs refuses deeper documents first, with a clearer message.
            .limit_recursive_depth(deep::MAX_DEPTH + 1)
            .finish();
        let nonce = random_bytes::<16>("output nonce")?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Session {
            token,
            nonce,
            schema,
            state,
            clients: Arc::default(),
        })
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn engine(&self) -> &engine::Engine {
        &self.state.engine
    }

    /// The client whose token is `token`, if any.
    pub(crate) fn client(&self, token: &str) -> Option<Client> {
        if handler::constant_time_eq(token.as_bytes(), self.token.as_bytes()) {
            return Some(Client::Caller);
        }
        self.clients.find(token).map(Client::Nested)
    }

    /// A client for one call of `module`'s function (`None`: the module's
    /// registration, which sees `parentName` `""`), with a token of its
    /// own that this session's server accepts until the client is dropped.
    pub fn nested(&self, module: &str, call: Option<FunctionCall>) -> Result<NestedClient, Error> {
        let call = Arc::new(CallContext::new(module, call));
        Ok(NestedClient::new(
            new_token()?,
            call,
            Arc::clone(&self.clients),
        ))
    }

    /// The module a registration returned, from its `Module` ID (the
    /// string inside the JSON the SDK passed to `returnValue`).
    pub fn module_types(&self, id: &str) -> Result<ModuleTypes, Error> {
        match self.state.ids.get(id)? {
            ids::Object::ModuleValue(module::ModuleValue::Module(module)) => Ok((*module).clone()),
            other => Err(Error::WrongIdType {
                id: id.to_owned(),
                expected: "Module",
                actual: other.type_name(),
            }),
        }
    }

    /// The engine value an ID names: a function's argument or result.
    pub fn core_value(&self, id: &str) -> Result<CoreValue, Error> {
        let object = self.state.ids.get(id)?;
        let actual = object.type_name();
        CoreValue::from_object(object).ok_or_else(|| Error::WrongIdType {
            id: id.to_owned(),
            expected: "Container, Directory, File, Secret or CacheVolume",
            actual,
        })
    }

    /// An ID for `value`, to pass it to a function.
    pub fn id_of(&self, value: &CoreValue) -> String {
        self.state.ids.register(value.to_object())
    }

    /// Runs one GraphQL document for the session's caller; the answer is
    /// GraphQL's JSON response, large step outputs left in their files
    /// until it is written.
    pub async fn execute(&self, query: &str) -> Answer {
        self.execute_as(query, &Client::Caller).await
    }

    /// Runs one GraphQL document for `client`.
    pub(crate) async fn execute_as(&self, query: &str, client: &Client) -> Answer {
        let outputs = Arc::new(answer::Outputs::new(&self.nonce));
        let response = match deep::parse(query) {
            Ok(document) => {
                let mut request = async_graphql::Request::new(query).data(Arc::clone(&outputs));
                if let Client::Nested(call) = client {
                    request = request.data(Arc::clone(call));
                }
                request.set_parsed_query(document);
                self.schema.execute(request).await
            }
            Err(error) => async_graphql::Response::from_errors(vec![error]),
        };
        let mut value = serde_json::to_value(&response).unwrap_or_else(|e| {
            serde_json::json!({"data": null, "errors": [{"message": format!("cannot encode the answer: {e}")}]})
        });
        response::tidy(&mut value);
        outputs.take_answer(value)
    }

    /// The SDL of the schema tanto serves, for docs and tests.
    pub fn sdl(&self) -> String {
        self.schema.sdl()
    }
}

/// A random session token, from the kernel's random source; an error
/// rather than a guessable token when that cannot be read.
pub fn new_token() -> Result<String, Error> {
    use base64::Engine as _;
    let random = random_bytes::<24>("session token")?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random))
}

/// The stack of each runtime thread: deep documents are resolved by
/// nested futures, polled one inside the other, one level per call of the
/// chain. Measured in a debug build (`tests::the_deepest_chain_resolves`):
/// about 80 KiB per level at first, over 130 KiB by 2026-12-03 (a chain of
/// [`MAX_DEPTH`] then needed between 64 and 72 MiB), so twice that, for
/// the values to grow into; a release build needs several times less.
/// Only touched pages cost memory.
pub const THREAD_STACK_BYTES: usize = 128 << 20;

/// A multi-threaded runtime whose threads can resolve documents
/// [`MAX_DEPTH`] deep. Run [`Session::execute`] on one of its worker threads
/// (a spawned task), not in `block_on` on a thread of another size.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(THREAD_STACK_BYTES)
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deep::tests::chain;
    use crate::test_session::Fixture;

    #[test]
    fn the_deepest_chain_resolves_and_deeper_is_refused() {
        let fixture = Fixture::new();
        let run = |depth: usize| fixture.answer(&Client::Caller, &chain(depth));
        let answer = run(MAX_DEPTH);
        let mut level = &answer["data"]["container"];
        let mut calls = 1;
        while let Some(next) = level.get("withEnvVariable") {
            level = next;
            calls += 1;
        }
        assert_eq!(calls, MAX_DEPTH - 1, "{answer}");
        assert!(level["id"].is_string());

        let answer = run(MAX_DEPTH + 1);
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("more than {MAX_DEPTH}")),
            "{message}"
        );
    }

    #[test]
    fn legacy_load_from_id_fields_take_ids_of_their_type_only() {
        let (fixture, caller) = (Fixture::new(), Client::Caller);
        let data = fixture.data(
            &caller,
            r#"{ container { withEnvVariable(name: "A", value: "b") { id envVariables { id } } } }"#,
        );
        let container = &data["container"]["withEnvVariable"];
        let (id, variable) = (&container["id"], &container["envVariables"][0]["id"]);

        let data = fixture.data(
            &caller,
            &format!(
                r#"{{ loadContainerFromID(id: {id}) {{ envVariable(name: "A") }} loadEnvVariableFromID(id: {variable}) {{ name value }} }}"#
            ),
        );
        assert_eq!(data["loadContainerFromID"]["envVariable"], "b", "{data}");
        assert_eq!(data["loadEnvVariableFromID"]["value"], "b", "{data}");

        let answer = fixture.answer(
            &caller,
            &format!(r#"{{ loadDirectoryFromID(id: {id}) {{ id }} }}"#),
        );
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("is a Container, not a Directory"),
            "{message}"
        );
    }
}
