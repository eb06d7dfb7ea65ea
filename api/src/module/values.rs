//! The module-definition values in the session's ID table. Each variant is
//! named as its GraphQL type, so an ID says what it names
//! (`TypeDef.<prefix>.7`) and `node(id:)` answers with that type.
//! Values are immutable and shared (`Arc`): a `with*` call makes a new one.

use std::sync::Arc;

use super::call::{ArgValue, CallContext};
use super::failure::ErrorDef;
use super::model::{
    ArgDef, EnumDef, EnumMemberDef, FieldDef, FunctionDef, InputDef, InterfaceDef, ModuleTypes,
    ObjectDef, ScalarDef, SourceMap, TypeRef,
};
use super::typedef::TypeDefValue;

macro_rules! defs {
    ($($variant:ident($value:ty)),* $(,)?) => {
        #[derive(Clone)]
        pub(crate) enum ModuleValue {
            $($variant($value)),*
        }

        impl ModuleValue {
            pub(crate) fn type_name(&self) -> &'static str {
                match self {
                    $(ModuleValue::$variant(_) => stringify!($variant)),*
                }
            }
        }
    };
}

defs! {
    Module(Arc<ModuleTypes>),
    TypeDef(Arc<TypeDefValue>),
    Function(Arc<FunctionDef>),
    FunctionArg(Arc<ArgDef>),
    FunctionCall(Arc<CallContext>),
    FunctionCallArgValue(Arc<ArgValue>),
    CurrentModule(Arc<CallContext>),
    Error(Arc<ErrorDef>),
    ErrorValue(Arc<ArgValue>),
    SourceMap(Arc<SourceMap>),
    ObjectTypeDef(Arc<ObjectDef>),
    FieldTypeDef(Arc<FieldDef>),
    ListTypeDef(Arc<TypeRef>),
    EnumTypeDef(Arc<EnumDef>),
    EnumValueTypeDef(Arc<EnumMemberDef>),
    InterfaceTypeDef(Arc<InterfaceDef>),
    ScalarTypeDef(Arc<ScalarDef>),
    InputTypeDef(Arc<InputDef>),
}

/// GraphQL objects over copies of `items`: a list field's answer.
pub(crate) fn wrap<T: Clone, O>(items: &[T], object: fn(Arc<T>) -> O) -> Vec<O> {
    items.iter().map(|i| object(Arc::new(i.clone()))).collect()
}

/// Registers `def` and returns its ID.
pub(crate) fn id_of(ctx: &async_graphql::Context<'_>, def: ModuleValue) -> async_graphql::ID {
    async_graphql::ID(
        crate::schema::state(ctx)
            .ids
            .register(crate::ids::Object::ModuleValue(def)),
    )
}

/// Looks up an ID argument naming a module-definition value of one type.
macro_rules! def {
    ($ctx:expr, $id:expr, $variant:ident) => {
        match $crate::schema::state($ctx).ids.get(&$id)? {
            $crate::ids::Object::ModuleValue($crate::module::values::ModuleValue::$variant(
                value,
            )) => Ok::<_, async_graphql::Error>(value),
            other => Err($crate::Error::WrongIdType {
                id: $id.to_string(),
                expected: stringify!($variant),
                actual: other.type_name(),
            }
            .into()),
        }
    };
}
pub(crate) use def;
