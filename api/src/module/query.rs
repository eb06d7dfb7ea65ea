//! The module-definition fields of `Query`, and `node(id:)` for their
//! values. `Query` itself lives in schema/mod.rs and calls these.

use std::sync::Arc;

use async_graphql::{Context, Result, ID};

use super::call::{client_call, CurrentModuleObj, FunctionCallArgValueObj, FunctionCallObj};
use super::failure::{ErrorDef, ErrorObj, ErrorValueObj};
use super::function::{FunctionArgObj, FunctionObj};
use super::model::{FunctionDef, ModuleTypes, SourceMap};
use super::module_def::ModuleObj;
use super::objects::{
    EnumTypeDefObj, EnumValueTypeDefObj, FieldTypeDefObj, InterfaceTypeDefObj, ObjectTypeDefObj,
    SourceMapObj,
};
use super::typedef::{InputTypeDefObj, ListTypeDefObj, ScalarTypeDefObj, TypeDefObj};
use super::values::{def, ModuleValue};
use crate::schema::Node;

/// The module the requesting client runs in; `""` for the caller.
fn module_name(ctx: &Context<'_>) -> String {
    client_call(ctx).map_or_else(String::new, |call| call.module.clone())
}

/// An empty module, named after the client's.
pub(crate) fn module(ctx: &Context<'_>) -> ModuleObj {
    ModuleObj(Arc::new(ModuleTypes {
        name: module_name(ctx),
        ..Default::default()
    }))
}

pub(crate) fn type_def() -> TypeDefObj {
    TypeDefObj(Arc::default())
}

pub(crate) fn function(ctx: &Context<'_>, name: String, return_type: ID) -> Result<FunctionObj> {
    let return_type = def!(ctx, return_type, TypeDef)?.type_ref.clone();
    Ok(FunctionObj(Arc::new(FunctionDef::new(name, return_type))))
}

pub(crate) fn source_map(
    ctx: &Context<'_>,
    filename: String,
    line: i32,
    column: i32,
) -> SourceMapObj {
    SourceMapObj(Arc::new(SourceMap {
        module: module_name(ctx),
        filename,
        line,
        column,
    }))
}

pub(crate) fn error(message: String) -> ErrorObj {
    ErrorObj(Arc::new(ErrorDef {
        message,
        values: Vec::new(),
    }))
}

pub(crate) fn current_function_call(ctx: &Context<'_>) -> Result<FunctionCallObj> {
    super::call::current_function_call(ctx)
}

pub(crate) fn current_module(ctx: &Context<'_>) -> Result<CurrentModuleObj> {
    super::call::current_module(ctx)
}

/// The `node(id:)` answer for a module-definition value.
pub(crate) fn node(def: ModuleValue) -> Node {
    match def {
        ModuleValue::Module(v) => Node::Module(ModuleObj(v)),
        ModuleValue::TypeDef(v) => Node::TypeDef(TypeDefObj(v)),
        ModuleValue::Function(v) => Node::Function(FunctionObj(v)),
        ModuleValue::FunctionArg(v) => Node::FunctionArg(FunctionArgObj(v)),
        ModuleValue::FunctionCall(v) => Node::FunctionCall(FunctionCallObj(v)),
        ModuleValue::FunctionCallArgValue(v) => {
            Node::FunctionCallArgValue(FunctionCallArgValueObj(v))
        }
        ModuleValue::CurrentModule(v) => Node::CurrentModule(CurrentModuleObj(v)),
        ModuleValue::Error(v) => Node::Error(ErrorObj(v)),
        ModuleValue::ErrorValue(v) => Node::ErrorValue(ErrorValueObj(v)),
        ModuleValue::SourceMap(v) => Node::SourceMap(SourceMapObj(v)),
        ModuleValue::ObjectTypeDef(v) => Node::ObjectTypeDef(ObjectTypeDefObj(v)),
        ModuleValue::FieldTypeDef(v) => Node::FieldTypeDef(FieldTypeDefObj(v)),
        ModuleValue::ListTypeDef(v) => Node::ListTypeDef(ListTypeDefObj(v)),
        ModuleValue::EnumTypeDef(v) => Node::EnumTypeDef(EnumTypeDefObj(v)),
        ModuleValue::EnumValueTypeDef(v) => Node::EnumValueTypeDef(EnumValueTypeDefObj(v)),
        ModuleValue::InterfaceTypeDef(v) => Node::InterfaceTypeDef(InterfaceTypeDefObj(v)),
        ModuleValue::ScalarTypeDef(v) => Node::ScalarTypeDef(ScalarTypeDefObj(v)),
        ModuleValue::InputTypeDef(v) => Node::InputTypeDef(InputTypeDefObj(v)),
    }
}
