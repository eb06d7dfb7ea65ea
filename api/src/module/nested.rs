//! Nested clients: a module's function runs in a container whose SDK talks
//! GraphQL back to the session with its own token (dagger-modules.md
//! §2.1). The same server answers it; the token says which call it is
//! (handler.rs), and the call decides what `currentFunctionCall` and
//! `currentModule` answer. Everything else, the engine and the ID table
//! above all, is the session's: IDs pass between the caller and its
//! functions both ways.
//!
//! ```text
//! caller ── Session::nested(module, call) ──► NestedClient { token }
//!                                               │ (runtime exec with DAGGER_SESSION_TOKEN)
//! SDK in the container ── POST /query, token ──►│ currentFunctionCall … returnValue
//! caller ◄── NestedClient::outcome() ───────────┘ (the token stops working)
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::call::{CallContext, Returned};
use crate::error::ModuleError;

/// A call of a module's function, as the caller makes it. Names are the
/// SDK's original ones (`with_greeting`, not `withGreeting`): the SDK
/// looks them up as it declared them.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionCall {
    /// The receiving object's type (`Tiny`).
    pub parent_name: String,
    /// The function; `""` for the object's constructor.
    pub name: String,
    /// The receiving object's state, by original field names; `null` for
    /// a constructor.
    pub parent: serde_json::Value,
    /// The arguments given (or defaulted), by original names. A core
    /// object is passed as its ID, a JSON string.
    pub input_args: Vec<(String, serde_json::Value)>,
}

/// The nested clients of one session, by token.
#[derive(Default)]
pub(crate) struct Clients(Mutex<HashMap<String, Arc<CallContext>>>);

impl Clients {
    /// The call whose client has `token`. Compared in constant time with
    /// every live token, as the session's own token is.
    pub(crate) fn find(&self, token: &str) -> Option<Arc<CallContext>> {
        let clients = self.0.lock().expect("never poisoned");
        let mut found = None;
        for (candidate, call) in clients.iter() {
            if crate::handler::constant_time_eq(candidate.as_bytes(), token.as_bytes()) {
                found = Some(Arc::clone(call));
            }
        }
        found
    }

    pub(crate) fn add(&self, token: String, call: Arc<CallContext>) {
        self.0.lock().expect("never poisoned").insert(token, call);
    }

    fn remove(&self, token: &str) {
        self.0.lock().expect("never poisoned").remove(token);
    }
}

/// One function call's client: give its token to the runtime container,
/// run it, then read the [`outcome`](NestedClient::outcome). Dropping it
/// (or reading the outcome) makes the token stop working.
pub struct NestedClient {
    token: String,
    call: Arc<CallContext>,
    clients: Arc<Clients>,
}

impl NestedClient {
    pub(crate) fn new(
        token: String,
        call: Arc<CallContext>,
        clients: Arc<Clients>,
    ) -> NestedClient {
        clients.add(token.clone(), Arc::clone(&call));
        NestedClient {
            token,
            call,
            clients,
        }
    }

    /// `DAGGER_SESSION_TOKEN` for the runtime container.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// What the function returned: the value the SDK passed to
    /// `returnValue`, parsed (for registration, the `Module` ID as a JSON
    /// string); or the error it passed to `returnError`; or
    /// [`ModuleError::NoValue`] when it returned neither.
    pub fn outcome(self) -> Result<serde_json::Value, ModuleError> {
        self.clients.remove(&self.token);
        let returned = self.call.returned.lock().expect("never poisoned").take();
        match returned {
            Some(Returned::Value(value)) => Ok(value),
            Some(Returned::Error(error)) => Err(ModuleError::Returned {
                message: error.message.clone(),
                values: error.values.clone(),
            }),
            None => Err(ModuleError::NoValue {
                call: describe(self.call.call.as_ref()),
            }),
        }
    }
}

impl Drop for NestedClient {
    fn drop(&mut self) {
        self.clients.remove(&self.token);
    }
}

/// The call as an error message names it.
fn describe(call: Option<&FunctionCall>) -> String {
    match call {
        None => "the module's registration".to_owned(),
        Some(call) if call.name.is_empty() => format!("the constructor of {}", call.parent_name),
        Some(call) => format!("function {:?}", call.name),
    }
}
