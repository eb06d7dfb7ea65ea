//! The read side of declared types: `ObjectTypeDef`, `FieldTypeDef`,
//! `InterfaceTypeDef`, `EnumTypeDef`, `EnumValueTypeDef` and `SourceMap`.
//! The SDKs only build these through `TypeDef.with*`; reading them back is
//! for `node(id:)` and for clients that inspect a module.

use std::sync::Arc;

use async_graphql::{Context, Object, ID};

use super::function::FunctionObj;
use super::model::{EnumDef, EnumMemberDef, FieldDef, InterfaceDef, ObjectDef, SourceMap};
use super::typedef::{TypeDefObj, TypeDefValue};
use super::values::{id_of, wrap, ModuleValue};

fn source_map(source_map: &Option<SourceMap>) -> Option<SourceMapObj> {
    source_map.clone().map(|s| SourceMapObj(Arc::new(s)))
}

pub(crate) struct ObjectTypeDefObj(pub Arc<ObjectDef>);

#[Object(name = "ObjectTypeDef")]
impl ObjectTypeDefObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::ObjectTypeDef(Arc::clone(&self.0)))
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    async fn fields(&self) -> Vec<FieldTypeDefObj> {
        wrap(&self.0.fields, FieldTypeDefObj)
    }

    async fn functions(&self) -> Vec<FunctionObj> {
        wrap(&self.0.functions, FunctionObj)
    }

    async fn constructor(&self) -> Option<FunctionObj> {
        self.0.constructor.clone().map(|f| FunctionObj(Arc::new(f)))
    }

    async fn deprecated(&self) -> Option<&str> {
        self.0.deprecated.as_deref()
    }

    async fn source_map(&self) -> Option<SourceMapObj> {
        source_map(&self.0.source_map)
    }

    async fn source_module_name(&self) -> &str {
        ""
    }
}

pub(crate) struct FieldTypeDefObj(pub Arc<FieldDef>);

#[Object(name = "FieldTypeDef")]
impl FieldTypeDefObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::FieldTypeDef(Arc::clone(&self.0)))
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

    async fn deprecated(&self) -> Option<&str> {
        self.0.deprecated.as_deref()
    }

    async fn source_map(&self) -> Option<SourceMapObj> {
        source_map(&self.0.source_map)
    }
}

pub(crate) struct InterfaceTypeDefObj(pub Arc<InterfaceDef>);

#[Object(name = "InterfaceTypeDef")]
impl InterfaceTypeDefObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::InterfaceTypeDef(Arc::clone(&self.0)))
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    async fn functions(&self) -> Vec<FunctionObj> {
        wrap(&self.0.functions, FunctionObj)
    }

    async fn source_map(&self) -> Option<SourceMapObj> {
        source_map(&self.0.source_map)
    }

    async fn source_module_name(&self) -> &str {
        ""
    }
}

pub(crate) struct EnumTypeDefObj(pub Arc<EnumDef>);

#[Object(name = "EnumTypeDef")]
impl EnumTypeDefObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::EnumTypeDef(Arc::clone(&self.0)))
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    async fn members(&self) -> Vec<EnumValueTypeDefObj> {
        wrap(&self.0.members, EnumValueTypeDefObj)
    }

    /// Dagger's older name for `members`.
    async fn values(&self) -> Vec<EnumValueTypeDefObj> {
        wrap(&self.0.members, EnumValueTypeDefObj)
    }

    async fn source_map(&self) -> Option<SourceMapObj> {
        source_map(&self.0.source_map)
    }

    async fn source_module_name(&self) -> &str {
        ""
    }
}

pub(crate) struct EnumValueTypeDefObj(pub Arc<EnumMemberDef>);

#[Object(name = "EnumValueTypeDef")]
impl EnumValueTypeDefObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::EnumValueTypeDef(Arc::clone(&self.0)))
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn value(&self) -> &str {
        &self.0.value
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    async fn deprecated(&self) -> Option<&str> {
        self.0.deprecated.as_deref()
    }

    async fn source_map(&self) -> Option<SourceMapObj> {
        source_map(&self.0.source_map)
    }
}

pub(crate) struct SourceMapObj(pub Arc<SourceMap>);

#[Object(name = "SourceMap")]
impl SourceMapObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::SourceMap(Arc::clone(&self.0)))
    }

    async fn module(&self) -> &str {
        &self.0.module
    }

    async fn filename(&self) -> &str {
        &self.0.filename
    }

    async fn line(&self) -> i32 {
        self.0.line
    }

    async fn column(&self) -> i32 {
        self.0.column
    }

    /// A link to the source on a forge; tanto knows none.
    async fn url(&self) -> &str {
        ""
    }
}
