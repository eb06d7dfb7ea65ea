//! `Error` and `ErrorValue`: how a function reports its failure. The SDK
//! builds `error(message:)` with `withValue(name:, value:)` for each
//! detail (Python: `exception.type`, `exception.message`,
//! `exception.stacktrace`; a failed exec inside the function:
//! `_type: "EXEC_ERROR"`, `exitCode`, `cmd`, `stdout`, `stderr`), then
//! hands its ID to `returnError`.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};

use super::call::ArgValue;
use super::values::{id_of, ModuleValue};
use crate::scalars::Json;

#[derive(Clone, Debug, Default)]
pub(crate) struct ErrorDef {
    pub message: String,
    pub values: Vec<(String, serde_json::Value)>,
}

pub(crate) struct ErrorObj(pub Arc<ErrorDef>);

#[Object(name = "Error")]
impl ErrorObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::Error(Arc::clone(&self.0)))
    }

    async fn message(&self) -> &str {
        &self.0.message
    }

    async fn values(&self) -> Vec<ErrorValueObj> {
        self.0
            .values
            .iter()
            .map(|(name, value)| {
                ErrorValueObj(Arc::new(ArgValue {
                    name: name.clone(),
                    value: value.clone(),
                }))
            })
            .collect()
    }

    async fn with_value(&self, name: String, value: Json) -> Result<ErrorObj> {
        let value = value.parse(&format!("Error.withValue({name})"))?;
        let mut error = (*self.0).clone();
        error.values.retain(|(n, _)| *n != name);
        error.values.push((name, value));
        Ok(ErrorObj(Arc::new(error)))
    }
}

pub(crate) struct ErrorValueObj(pub Arc<ArgValue>);

#[Object(name = "ErrorValue")]
impl ErrorValueObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::ErrorValue(Arc::clone(&self.0)))
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn value(&self) -> Json {
        Json::of(&self.0.value)
    }
}
