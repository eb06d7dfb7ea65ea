//! `Module`: what registration builds, `module` then `withObject`,
//! `withEnum`, `withInterface`; its ID is what the SDK returns. Resolving
//! that ID into [`ModuleTypes`] is how tanto reads a registration.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};

use super::model::{EnumDef, InterfaceDef, ModuleTypes, ObjectDef, TypeKind};
use super::typedef::{Definition, TypeDefObj, TypeDefValue};
use super::values::{def, id_of, ModuleValue};

pub(crate) struct ModuleObj(pub Arc<ModuleTypes>);

impl ModuleObj {
    fn try_with(&self, change: impl FnOnce(&mut ModuleTypes) -> Result<()>) -> Result<ModuleObj> {
        let mut module = (*self.0).clone();
        change(&mut module)?;
        Ok(ModuleObj(Arc::new(module)))
    }
}

fn wrong_kind(field: &str, what: &str) -> async_graphql::Error {
    async_graphql::Error::new(format!(
        "Module.{field}: the TypeDef does not define {what}"
    ))
}

/// A type the module declares, as `objects`, `enums`… list it.
fn declared(kind: TypeKind, name: &str, definition: Definition) -> TypeDefObj {
    let mut value = TypeDefValue::default();
    value.type_ref.kind = kind;
    value.type_ref.name = Some(name.to_owned());
    value.definition = definition;
    TypeDefObj(Arc::new(value))
}

/// Adds `value` to `list` in place of one with the same name: an SDK that
/// declares a type twice means the last.
fn replace<T>(list: &mut Vec<T>, value: T, name: impl Fn(&T) -> &str) {
    let new_name = name(&value).to_owned();
    list.retain(|v| name(v) != new_name);
    list.push(value);
}

#[Object(name = "Module")]
impl ModuleObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::Module(Arc::clone(&self.0)))
    }

    /// Nothing to run: a module definition is complete as it is.
    async fn sync(&self, ctx: &Context<'_>) -> ID {
        id_of(ctx, ModuleValue::Module(Arc::clone(&self.0)))
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    async fn objects(&self) -> Vec<TypeDefObj> {
        let declared = |o: &ObjectDef| {
            declared(
                TypeKind::Object,
                &o.name,
                Definition::Object(Box::new(o.clone())),
            )
        };
        self.0.objects.iter().map(declared).collect()
    }

    async fn interfaces(&self) -> Vec<TypeDefObj> {
        let declared = |i: &InterfaceDef| {
            declared(
                TypeKind::Interface,
                &i.name,
                Definition::Interface(i.clone()),
            )
        };
        self.0.interfaces.iter().map(declared).collect()
    }

    async fn enums(&self) -> Vec<TypeDefObj> {
        let declared = |e: &EnumDef| declared(TypeKind::Enum, &e.name, Definition::Enum(e.clone()));
        self.0.enums.iter().map(declared).collect()
    }

    /// No dependencies yet (dagger-modules.md §1.1: out of scope).
    async fn dependencies(&self) -> Vec<ModuleObj> {
        Vec::new()
    }

    async fn with_description(&self, description: String) -> ModuleObj {
        let mut module = (*self.0).clone();
        module.description = description;
        ModuleObj(Arc::new(module))
    }

    async fn with_object(&self, ctx: &Context<'_>, object: ID) -> Result<ModuleObj> {
        let value = def!(ctx, object, TypeDef)?;
        self.try_with(|m| match &value.definition {
            Definition::Object(o) => {
                replace(&mut m.objects, (**o).clone(), |o| &o.name);
                Ok(())
            }
            _ => Err(wrong_kind("withObject", "an object (TypeDef.withObject)")),
        })
    }

    async fn with_interface(&self, ctx: &Context<'_>, iface: ID) -> Result<ModuleObj> {
        let value = def!(ctx, iface, TypeDef)?;
        self.try_with(|m| match &value.definition {
            Definition::Interface(i) => {
                replace(&mut m.interfaces, i.clone(), |i| &i.name);
                Ok(())
            }
            _ => Err(wrong_kind(
                "withInterface",
                "an interface (TypeDef.withInterface)",
            )),
        })
    }

    async fn with_enum(&self, ctx: &Context<'_>, r#enum: ID) -> Result<ModuleObj> {
        let value = def!(ctx, r#enum, TypeDef)?;
        self.try_with(|m| match &value.definition {
            Definition::Enum(e) => {
                replace(&mut m.enums, e.clone(), |e| &e.name);
                Ok(())
            }
            _ => Err(wrong_kind("withEnum", "an enum (TypeDef.withEnum)")),
        })
    }
}
