//! `currentFunctionCall` and `currentModule`: what a nested client was
//! started for, and where its result goes. Each nested client has its own
//! [`CallContext`], put into every request it makes (handler.rs), so two
//! functions running at once each read their own call and return into
//! their own slot.

use std::sync::{Arc, Mutex};

use async_graphql::{Context, Object, Result, ID};

use super::failure::ErrorDef;
use super::module_def::ModuleObj;
use super::nested::FunctionCall;
use super::values::{def, id_of, ModuleValue};
use crate::scalars::{Json, Void};

/// One nested client's call: registration when `call` is `None`.
pub(crate) struct CallContext {
    pub module: String,
    pub call: Option<FunctionCall>,
    pub returned: Mutex<Option<Returned>>,
}

/// What the SDK handed back.
#[derive(Clone, Debug)]
pub(crate) enum Returned {
    Value(serde_json::Value),
    Error(Arc<ErrorDef>),
}

impl CallContext {
    pub(crate) fn new(module: &str, call: Option<FunctionCall>) -> CallContext {
        CallContext {
            module: module.to_owned(),
            call,
            returned: Mutex::new(None),
        }
    }

    fn put(&self, returned: Returned) -> Result<()> {
        let mut slot = self.returned.lock().expect("never poisoned");
        if slot.is_some() {
            return Err(async_graphql::Error::new(
                "this function call has already returned (returnValue or returnError was called before)",
            ));
        }
        *slot = Some(returned);
        Ok(())
    }
}

/// A name and a JSON value: an input argument of a call, or a detail of an
/// error.
#[derive(Clone, Debug)]
pub(crate) struct ArgValue {
    pub name: String,
    pub value: serde_json::Value,
}

/// The requesting client's own call context; `None` for the session's
/// caller (the SDK program, the CLI), which runs no function.
pub(crate) fn client_call<'c>(ctx: &Context<'c>) -> Option<&'c Arc<CallContext>> {
    ctx.data_opt::<Arc<CallContext>>()
}

fn not_in_a_function(field: &str) -> async_graphql::Error {
    async_graphql::Error::new(format!(
        "{field} is only answered inside a module's function (a nested session): this client runs no function"
    ))
}

pub(crate) fn current_function_call(ctx: &Context<'_>) -> Result<FunctionCallObj> {
    client_call(ctx)
        .map(|call| FunctionCallObj(Arc::clone(call)))
        .ok_or_else(|| not_in_a_function("currentFunctionCall"))
}

pub(crate) fn current_module(ctx: &Context<'_>) -> Result<CurrentModuleObj> {
    client_call(ctx)
        .map(|call| CurrentModuleObj(Arc::clone(call)))
        .ok_or_else(|| not_in_a_function("currentModule"))
}

pub(crate) struct FunctionCallObj(pub Arc<CallContext>);

impl FunctionCallObj {
    /// Only the client the call was made for may return from it: an ID
    /// can travel between clients, a result must not.
    fn own(&self, ctx: &Context<'_>, field: &str) -> Result<()> {
        match client_call(ctx) {
            Some(mine) if Arc::ptr_eq(mine, &self.0) => Ok(()),
            _ => Err(async_graphql::Error::new(format!(
                "FunctionCall.{field}: this is not the requesting client's own function call"
            ))),
        }
    }
}

#[Object(name = "FunctionCall")]
impl FunctionCallObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::FunctionCall(Arc::clone(&self.0)))
    }

    /// `""` for registration and for a constructor.
    async fn name(&self) -> &str {
        self.0.call.as_ref().map_or("", |c| c.name.as_str())
    }

    /// `""` for registration: how the SDK knows to register.
    async fn parent_name(&self) -> &str {
        self.0.call.as_ref().map_or("", |c| c.parent_name.as_str())
    }

    /// The receiving object's state; `null` for registration.
    async fn parent(&self) -> Json {
        Json::of(
            self.0
                .call
                .as_ref()
                .map_or(&serde_json::Value::Null, |c| &c.parent),
        )
    }

    async fn input_args(&self) -> Vec<FunctionCallArgValueObj> {
        let Some(call) = &self.0.call else {
            return Vec::new();
        };
        call.input_args
            .iter()
            .map(|(name, value)| {
                FunctionCallArgValueObj(Arc::new(ArgValue {
                    name: name.clone(),
                    value: value.clone(),
                }))
            })
            .collect()
    }

    async fn return_value(&self, ctx: &Context<'_>, value: Json) -> Result<Option<Void>> {
        self.own(ctx, "returnValue")?;
        let value = value.parse("FunctionCall.returnValue")?;
        self.0.put(Returned::Value(value))?;
        Ok(None)
    }

    async fn return_error(&self, ctx: &Context<'_>, error: ID) -> Result<Option<Void>> {
        self.own(ctx, "returnError")?;
        let error = def!(ctx, error, Error)?;
        self.0.put(Returned::Error(error))?;
        Ok(None)
    }
}

pub(crate) struct FunctionCallArgValueObj(pub Arc<ArgValue>);

#[Object(name = "FunctionCallArgValue")]
impl FunctionCallArgValueObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::FunctionCallArgValue(Arc::clone(&self.0)))
    }

    /// The argument's original name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn value(&self) -> Json {
        Json::of(&self.0.value)
    }
}

pub(crate) struct CurrentModuleObj(pub Arc<CallContext>);

#[Object(name = "CurrentModule")]
impl CurrentModuleObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::CurrentModule(Arc::clone(&self.0)))
    }

    async fn name(&self) -> &str {
        &self.0.module
    }

    /// No dependencies yet (dagger-modules.md §1.1: out of scope).
    async fn dependencies(&self) -> Vec<ModuleObj> {
        Vec::new()
    }
}
