//! `TypeDef`: how an SDK names a type (a reference: `withKind(kind:
//! STRING_KIND)`, `withObject(name: "Container")`) and how it defines one
//! of its own (`withObject(name: "Tiny")` then `withFunction`…). Both are
//! the same value: a reference that may carry a definition. `ListTypeDef`,
//! `ScalarTypeDef` and `InputTypeDef` are here too, being small.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};

use super::kinds::TypeDefKind;
use super::model::{
    EnumDef, EnumMemberDef, FieldDef, InputDef, InterfaceDef, ObjectDef, ScalarDef, SourceMap,
    TypeKind, TypeRef,
};
use super::objects::{EnumTypeDefObj, FieldTypeDefObj, InterfaceTypeDefObj, ObjectTypeDefObj};
use super::values::{def, id_of, wrap, ModuleValue};

/// A type reference, and the definition that goes with its name when the
/// module declares the type.
#[derive(Clone, Debug, Default)]
pub(crate) struct TypeDefValue {
    pub type_ref: TypeRef,
    pub definition: Definition,
}

#[derive(Clone, Debug, Default)]
pub(crate) enum Definition {
    #[default]
    None,
    Object(Box<ObjectDef>),
    Interface(InterfaceDef),
    Enum(EnumDef),
    Scalar(ScalarDef),
}

impl TypeDefValue {
    pub(crate) fn of(type_ref: TypeRef) -> TypeDefValue {
        TypeDefValue {
            type_ref,
            definition: Definition::None,
        }
    }

    /// The same reference, now naming a type of `kind` defined by
    /// `definition`.
    fn defining(&self, kind: TypeKind, name: &str, definition: Definition) -> TypeDefValue {
        TypeDefValue {
            type_ref: TypeRef {
                kind,
                optional: self.type_ref.optional,
                name: Some(name.to_owned()),
                element: None,
            },
            definition,
        }
    }

    /// What `asObject`, `asEnum`… answer: the type declared here, or for
    /// a mere reference to a `kind` type, a blank one with its name.
    fn view<T: Named>(&self, kind: TypeKind, declared: Option<&T>) -> Option<Arc<T>> {
        if let Some(declared) = declared {
            return Some(Arc::new(declared.clone()));
        }
        (self.type_ref.kind == kind)
            .then(|| Arc::new(T::named(self.type_ref.name.clone().unwrap_or_default())))
    }

    /// Adds `member` to the enum this value defines.
    fn push_member(&mut self, field: &str, member: EnumMemberDef) -> Result<()> {
        match &mut self.definition {
            Definition::Enum(e) => {
                e.members.push(member);
                Ok(())
            }
            _ => Err(not_a(field, "an enum (withEnum)")),
        }
    }

    /// The object this value defines, or an error naming `field`.
    fn object_mut(&mut self, field: &str) -> Result<&mut ObjectDef> {
        match &mut self.definition {
            Definition::Object(object) => Ok(object),
            _ => Err(not_a(field, "an object (withObject)")),
        }
    }
}

/// A declared type that a bare reference stands for with its name alone.
trait Named: Clone + Default {
    fn named(name: String) -> Self;
}

macro_rules! named {
    ($($type:ty),*) => {
        $(impl Named for $type {
            fn named(name: String) -> Self {
                Self { name, ..Default::default() }
            }
        })*
    };
}
named!(ObjectDef, InterfaceDef, EnumDef, ScalarDef, InputDef);

fn not_a(field: &str, what: &str) -> async_graphql::Error {
    async_graphql::Error::new(format!("TypeDef.{field}: this TypeDef is not {what}"))
}

pub(crate) fn source_map(ctx: &Context<'_>, id: Option<ID>) -> Result<Option<SourceMap>> {
    Ok(match id {
        Some(id) => Some((*def!(ctx, id, SourceMap)?).clone()),
        None => None,
    })
}

pub(crate) struct TypeDefObj(pub Arc<TypeDefValue>);

impl TypeDefObj {
    fn with(&self, change: impl FnOnce(&mut TypeDefValue)) -> TypeDefObj {
        let mut value = (*self.0).clone();
        change(&mut value);
        TypeDefObj(Arc::new(value))
    }

    fn try_with(&self, change: impl FnOnce(&mut TypeDefValue) -> Result<()>) -> Result<TypeDefObj> {
        let mut value = (*self.0).clone();
        change(&mut value)?;
        Ok(TypeDefObj(Arc::new(value)))
    }
}

#[Object(name = "TypeDef")]
impl TypeDefObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::TypeDef(Arc::clone(&self.0)))
    }

    async fn kind(&self) -> TypeDefKind {
        self.0.type_ref.kind.into()
    }

    async fn optional(&self) -> bool {
        self.0.type_ref.optional
    }

    /// The named type's name, or the GraphQL name of a built-in kind.
    async fn name(&self) -> String {
        let type_ref = &self.0.type_ref;
        if let Some(name) = &type_ref.name {
            return name.clone();
        }
        match type_ref.kind {
            TypeKind::String => "String",
            TypeKind::Integer => "Int",
            TypeKind::Float => "Float",
            TypeKind::Boolean => "Boolean",
            TypeKind::Void => "Void",
            _ => "",
        }
        .to_owned()
    }

    async fn as_object(&self) -> Option<ObjectTypeDefObj> {
        let declared = match &self.0.definition {
            Definition::Object(object) => Some(&**object),
            _ => None,
        };
        self.0
            .view(TypeKind::Object, declared)
            .map(ObjectTypeDefObj)
    }

    async fn as_interface(&self) -> Option<InterfaceTypeDefObj> {
        let declared = match &self.0.definition {
            Definition::Interface(iface) => Some(iface),
            _ => None,
        };
        self.0
            .view(TypeKind::Interface, declared)
            .map(InterfaceTypeDefObj)
    }

    async fn as_enum(&self) -> Option<EnumTypeDefObj> {
        let declared = match &self.0.definition {
            Definition::Enum(e) => Some(e),
            _ => None,
        };
        self.0.view(TypeKind::Enum, declared).map(EnumTypeDefObj)
    }

    async fn as_scalar(&self) -> Option<ScalarTypeDefObj> {
        let declared = match &self.0.definition {
            Definition::Scalar(scalar) => Some(scalar),
            _ => None,
        };
        self.0
            .view(TypeKind::Scalar, declared)
            .map(ScalarTypeDefObj)
    }

    async fn as_input(&self) -> Option<InputTypeDefObj> {
        // Input types belong to the core API; no SDK defines one.
        self.0.view(TypeKind::Input, None).map(InputTypeDefObj)
    }

    async fn as_list(&self) -> Option<ListTypeDefObj> {
        let element = self.0.type_ref.element.as_ref()?;
        Some(ListTypeDefObj(Arc::new((**element).clone())))
    }

    async fn with_kind(&self, kind: TypeDefKind) -> TypeDefObj {
        self.with(|t| t.type_ref.kind = kind.into())
    }

    async fn with_optional(&self, optional: bool) -> TypeDefObj {
        self.with(|t| t.type_ref.optional = optional)
    }

    async fn with_list_of(&self, ctx: &Context<'_>, element_type: ID) -> Result<TypeDefObj> {
        let element = def!(ctx, element_type, TypeDef)?;
        Ok(self.with(|t| {
            t.type_ref.kind = TypeKind::List;
            t.type_ref.name = None;
            t.type_ref.element = Some(Box::new(element.type_ref.clone()));
            t.definition = Definition::None;
        }))
    }

    async fn with_object(
        &self,
        ctx: &Context<'_>,
        name: String,
        #[graphql(default_with = "Some(String::new())")] description: Option<String>,
        source_map: Option<ID>,
        deprecated: Option<String>,
    ) -> Result<TypeDefObj> {
        let object = ObjectDef {
            name: name.clone(),
            description: description.unwrap_or_default(),
            deprecated,
            source_map: self::source_map(ctx, source_map)?,
            ..Default::default()
        };
        let value = self.0.defining(
            TypeKind::Object,
            &name,
            Definition::Object(Box::new(object)),
        );
        Ok(TypeDefObj(Arc::new(value)))
    }

    async fn with_interface(
        &self,
        ctx: &Context<'_>,
        name: String,
        #[graphql(default_with = "Some(String::new())")] description: Option<String>,
        source_map: Option<ID>,
    ) -> Result<TypeDefObj> {
        let iface = InterfaceDef {
            name: name.clone(),
            description: description.unwrap_or_default(),
            source_map: self::source_map(ctx, source_map)?,
            ..Default::default()
        };
        let value = self
            .0
            .defining(TypeKind::Interface, &name, Definition::Interface(iface));
        Ok(TypeDefObj(Arc::new(value)))
    }

    async fn with_enum(
        &self,
        ctx: &Context<'_>,
        name: String,
        #[graphql(default_with = "Some(String::new())")] description: Option<String>,
        source_map: Option<ID>,
    ) -> Result<TypeDefObj> {
        let definition = EnumDef {
            name: name.clone(),
            description: description.unwrap_or_default(),
            source_map: self::source_map(ctx, source_map)?,
            ..Default::default()
        };
        let value = self
            .0
            .defining(TypeKind::Enum, &name, Definition::Enum(definition));
        Ok(TypeDefObj(Arc::new(value)))
    }

    async fn with_enum_member(
        &self,
        ctx: &Context<'_>,
        name: String,
        #[graphql(default_with = "Some(String::new())")] value: Option<String>,
        #[graphql(default_with = "Some(String::new())")] description: Option<String>,
        source_map: Option<ID>,
        deprecated: Option<String>,
    ) -> Result<TypeDefObj> {
        let member = EnumMemberDef {
            name,
            value: value.unwrap_or_default(),
            description: description.unwrap_or_default(),
            deprecated,
            source_map: self::source_map(ctx, source_map)?,
        };
        self.try_with(|t| t.push_member("withEnumMember", member))
    }

    /// Dagger's older spelling of `withEnumMember`: the value is the name.
    async fn with_enum_value(
        &self,
        ctx: &Context<'_>,
        value: String,
        #[graphql(default_with = "Some(String::new())")] description: Option<String>,
        source_map: Option<ID>,
        deprecated: Option<String>,
    ) -> Result<TypeDefObj> {
        let member = EnumMemberDef {
            name: value.clone(),
            value,
            description: description.unwrap_or_default(),
            deprecated,
            source_map: self::source_map(ctx, source_map)?,
        };
        self.try_with(|t| t.push_member("withEnumValue", member))
    }

    async fn with_scalar(
        &self,
        name: String,
        #[graphql(default_with = "Some(String::new())")] description: Option<String>,
    ) -> TypeDefObj {
        let scalar = ScalarDef {
            name: name.clone(),
            description: description.unwrap_or_default(),
        };
        TypeDefObj(Arc::new(self.0.defining(
            TypeKind::Scalar,
            &name,
            Definition::Scalar(scalar),
        )))
    }

    async fn with_field(
        &self,
        ctx: &Context<'_>,
        name: String,
        type_def: ID,
        #[graphql(default_with = "Some(String::new())")] description: Option<String>,
        source_map: Option<ID>,
        deprecated: Option<String>,
    ) -> Result<TypeDefObj> {
        let field = FieldDef {
            name,
            description: description.unwrap_or_default(),
            type_ref: def!(ctx, type_def, TypeDef)?.type_ref.clone(),
            deprecated,
            source_map: self::source_map(ctx, source_map)?,
        };
        self.try_with(|t| {
            let object = t.object_mut("withField")?;
            object.fields.retain(|f| f.name != field.name);
            object.fields.push(field);
            Ok(())
        })
    }

    async fn with_function(&self, ctx: &Context<'_>, function: ID) -> Result<TypeDefObj> {
        let function = (*def!(ctx, function, Function)?).clone();
        self.try_with(|t| {
            let functions = match &mut t.definition {
                Definition::Object(object) => &mut object.functions,
                Definition::Interface(iface) => &mut iface.functions,
                _ => {
                    return Err(not_a(
                        "withFunction",
                        "an object or interface (withObject, withInterface)",
                    ))
                }
            };
            functions.retain(|f| f.name != function.name);
            functions.push(function);
            Ok(())
        })
    }

    async fn with_constructor(&self, ctx: &Context<'_>, function: ID) -> Result<TypeDefObj> {
        let function = (*def!(ctx, function, Function)?).clone();
        self.try_with(|t| {
            t.object_mut("withConstructor")?.constructor = Some(function);
            Ok(())
        })
    }
}

pub(crate) struct ListTypeDefObj(pub Arc<TypeRef>);

#[Object(name = "ListTypeDef")]
impl ListTypeDefObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::ListTypeDef(Arc::clone(&self.0)))
    }

    async fn element_type_def(&self) -> TypeDefObj {
        TypeDefObj(Arc::new(TypeDefValue::of((*self.0).clone())))
    }
}

pub(crate) struct ScalarTypeDefObj(pub Arc<ScalarDef>);

#[Object(name = "ScalarTypeDef")]
impl ScalarTypeDefObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::ScalarTypeDef(Arc::clone(&self.0)))
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    async fn source_module_name(&self) -> &str {
        ""
    }
}

pub(crate) struct InputTypeDefObj(pub Arc<InputDef>);

#[Object(name = "InputTypeDef")]
impl InputTypeDefObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::InputTypeDef(Arc::clone(&self.0)))
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn fields(&self) -> Vec<FieldTypeDefObj> {
        wrap(&self.0.fields, FieldTypeDefObj)
    }
}
