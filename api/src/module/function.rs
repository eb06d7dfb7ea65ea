//! `Function` and `FunctionArg`: what an object's function takes and
//! returns, declared with `function(name:, returnType:)` then `withArg`…
//!
//! Python sends an explicit `null` for every optional argument it has no
//! value for (`description: null, defaultPath: null`), where TypeScript
//! sends `""`: each such argument is nullable, with Dagger's default, and
//! null means "not given".

use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};

use super::kinds::FunctionCachePolicy;
use super::model::{ArgDef, FunctionDef};
use super::objects::SourceMapObj;
use super::typedef::{source_map, TypeDefObj, TypeDefValue};
use super::values::{def, id_of, wrap, ModuleValue};
use crate::scalars::Json;

pub(crate) struct FunctionObj(pub Arc<FunctionDef>);

impl FunctionObj {
    fn with(&self, change: impl FnOnce(&mut FunctionDef)) -> FunctionObj {
        let mut value = (*self.0).clone();
        change(&mut value);
        FunctionObj(Arc::new(value))
    }
}

/// `""` and null both mean "none" for Dagger's string options.
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

#[Object(name = "Function")]
impl FunctionObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::Function(Arc::clone(&self.0)))
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    async fn args(&self) -> Vec<FunctionArgObj> {
        wrap(&self.0.args, FunctionArgObj)
    }

    async fn return_type(&self) -> TypeDefObj {
        TypeDefObj(Arc::new(TypeDefValue::of(self.0.return_type.clone())))
    }

    async fn deprecated(&self) -> Option<&str> {
        self.0.deprecated.as_deref()
    }

    async fn source_map(&self) -> Option<SourceMapObj> {
        self.0.source_map.clone().map(|s| SourceMapObj(Arc::new(s)))
    }

    async fn source_module_name(&self) -> &str {
        ""
    }

    async fn with_description(&self, description: String) -> FunctionObj {
        self.with(|f| f.description = description)
    }

    #[allow(clippy::too_many_arguments)]
    async fn with_arg(
        &self,
        ctx: &Context<'_>,
        name: String,
        type_def: ID,
        #[graphql(default_with = "Some(String::new())")] description: Option<String>,
        default_value: Option<Json>,
        #[graphql(default_with = "Some(String::new())")] default_path: Option<String>,
        #[graphql(default_with = "Some(Vec::new())")] ignore: Option<Vec<String>>,
        source_map: Option<ID>,
        deprecated: Option<String>,
        #[graphql(default_with = "Some(String::new())")] default_address: Option<String>,
    ) -> Result<FunctionObj> {
        // Python declares `defaultValue: "null"` for `x: T | None = None`:
        // no default beyond the null an optional argument has anyway.
        let default_value = match default_value {
            Some(json) => Some(json.parse(&format!("withArg({name}): defaultValue"))?)
                .filter(|v| !v.is_null()),
            None => None,
        };
        let arg = ArgDef {
            type_ref: def!(ctx, type_def, TypeDef)?.type_ref.clone(),
            description: description.unwrap_or_default(),
            default_value,
            default_path: non_empty(default_path),
            default_address: non_empty(default_address),
            ignore: ignore.unwrap_or_default(),
            deprecated,
            source_map: self::source_map(ctx, source_map)?,
            name,
        };
        Ok(self.with(|f| {
            f.args.retain(|a| a.name != arg.name);
            f.args.push(arg);
        }))
    }

    async fn with_cache_policy(
        &self,
        policy: FunctionCachePolicy,
        time_to_live: Option<String>,
    ) -> FunctionObj {
        self.with(|f| {
            f.cache_policy = policy.into();
            f.time_to_live = non_empty(time_to_live);
        })
    }

    async fn with_source_map(&self, ctx: &Context<'_>, source_map: ID) -> Result<FunctionObj> {
        let source_map = (*def!(ctx, source_map, SourceMap)?).clone();
        Ok(self.with(|f| f.source_map = Some(source_map)))
    }

    async fn with_deprecated(&self, reason: Option<String>) -> FunctionObj {
        // Deprecated with no reason is still deprecated.
        self.with(|f| f.deprecated = Some(reason.unwrap_or_default()))
    }

    /// Accepted and ignored: tanto has no checks, generators or services
    /// of modules yet, and an SDK declares them for every marked function.
    async fn with_check(&self) -> FunctionObj {
        FunctionObj(Arc::clone(&self.0))
    }

    /// See `withCheck`.
    async fn with_generator(&self) -> FunctionObj {
        FunctionObj(Arc::clone(&self.0))
    }

    /// See `withCheck`.
    async fn with_up(&self) -> FunctionObj {
        FunctionObj(Arc::clone(&self.0))
    }
}

pub(crate) struct FunctionArgObj(pub Arc<ArgDef>);

#[Object(name = "FunctionArg")]
impl FunctionArgObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::FunctionArg(Arc::clone(&self.0)))
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    async fn type_def(&self) -> TypeDefObj {
        TypeDefObj(Arc::new(TypeDefValue::of(self.0.type_ref.clone())))
    }

    /// `null` when the function declared none.
    async fn default_value(&self) -> Json {
        Json::of(
            self.0
                .default_value
                .as_ref()
                .unwrap_or(&serde_json::Value::Null),
        )
    }

    async fn default_path(&self) -> &str {
        self.0.default_path.as_deref().unwrap_or_default()
    }

    async fn default_address(&self) -> &str {
        self.0.default_address.as_deref().unwrap_or_default()
    }

    async fn ignore(&self) -> &[String] {
        &self.0.ignore
    }

    async fn deprecated(&self) -> Option<&str> {
        self.0.deprecated.as_deref()
    }

    async fn source_map(&self) -> Option<SourceMapObj> {
        self.0.source_map.clone().map(|s| SourceMapObj(Arc::new(s)))
    }
}
