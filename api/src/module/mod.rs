//! Dagger modules, as the session serves them: the module-definition API
//! an SDK declares its types with (dagger-modules.md §3.2), the nested
//! clients a module's function talks back through (§2.1), and the model
//! of a registered module that the rest of tanto reads (§3.5).
//!
//! ```text
//! model.rs       ModuleTypes, ObjectDef, FunctionDef, ArgDef, TypeRef (public, serde)
//! kinds.rs       TypeDefKind (two spellings) and FunctionCachePolicy
//! typedef.rs     TypeDef: references and definitions; ListTypeDef, ScalarTypeDef, InputTypeDef
//! objects.rs     ObjectTypeDef, FieldTypeDef, InterfaceTypeDef, EnumTypeDef, SourceMap
//! function.rs    Function, FunctionArg
//! module_def.rs  Module: what registration returns
//! failure.rs     Error, ErrorValue: what a failing function returns
//! call.rs        FunctionCall, FunctionCallArgValue, CurrentModule: per client
//! nested.rs      NestedClient: a call's token and its outcome
//! passing.rs     CoreValue: engine values crossing a call as IDs
//! values.rs      the definitions in the session's ID table
//! query.rs       the Query fields, and node(id:)
//! ```

mod call;
mod failure;
mod function;
mod kinds;
pub mod model;
mod module_def;
mod nested;
mod objects;
mod passing;
pub(crate) mod query;
mod typedef;
pub(crate) mod values;

pub(crate) use call::CallContext;
pub(crate) use call::{CurrentModuleObj, FunctionCallArgValueObj, FunctionCallObj};
pub(crate) use failure::{ErrorObj, ErrorValueObj};
pub(crate) use function::{FunctionArgObj, FunctionObj};
pub(crate) use module_def::ModuleObj;
pub(crate) use nested::Clients;
pub use nested::{FunctionCall, NestedClient};
pub(crate) use objects::{
    EnumTypeDefObj, EnumValueTypeDefObj, FieldTypeDefObj, InterfaceTypeDefObj, ObjectTypeDefObj,
    SourceMapObj,
};
pub use passing::CoreValue;
pub(crate) use typedef::{InputTypeDefObj, ListTypeDefObj, ScalarTypeDefObj, TypeDefObj};
pub(crate) use values::ModuleValue;

#[cfg(test)]
mod tests;
