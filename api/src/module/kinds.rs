//! The two enums of the module-definition API. `TypeDefKind` has two
//! spellings of each value in Dagger's schema (`STRING_KIND` and the alias
//! `STRING`): Python sends the first, TypeScript the second, and both SDKs
//! check their queries against the introspected schema, so both must be
//! real enum values. An answer always uses the `_KIND` spelling, as Dagger
//! does.

use async_graphql::Enum;

use super::model::{CachePolicy, TypeKind};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "TypeDefKind", rename_items = "SCREAMING_SNAKE_CASE")]
pub(crate) enum TypeDefKind {
    StringKind,
    IntegerKind,
    FloatKind,
    BooleanKind,
    ScalarKind,
    ListKind,
    ObjectKind,
    InterfaceKind,
    InputKind,
    VoidKind,
    EnumKind,
    String,
    Integer,
    Float,
    Boolean,
    Scalar,
    List,
    Object,
    Interface,
    Input,
    Void,
    Enum,
}

impl From<TypeDefKind> for TypeKind {
    fn from(kind: TypeDefKind) -> TypeKind {
        use TypeDefKind as K;
        match kind {
            K::StringKind | K::String => TypeKind::String,
            K::IntegerKind | K::Integer => TypeKind::Integer,
            K::FloatKind | K::Float => TypeKind::Float,
            K::BooleanKind | K::Boolean => TypeKind::Boolean,
            K::ScalarKind | K::Scalar => TypeKind::Scalar,
            K::ListKind | K::List => TypeKind::List,
            K::ObjectKind | K::Object => TypeKind::Object,
            K::InterfaceKind | K::Interface => TypeKind::Interface,
            K::InputKind | K::Input => TypeKind::Input,
            K::VoidKind | K::Void => TypeKind::Void,
            K::EnumKind | K::Enum => TypeKind::Enum,
        }
    }
}

impl From<TypeKind> for TypeDefKind {
    fn from(kind: TypeKind) -> TypeDefKind {
        match kind {
            TypeKind::String => TypeDefKind::StringKind,
            TypeKind::Integer => TypeDefKind::IntegerKind,
            TypeKind::Float => TypeDefKind::FloatKind,
            TypeKind::Boolean => TypeDefKind::BooleanKind,
            TypeKind::Scalar => TypeDefKind::ScalarKind,
            TypeKind::List => TypeDefKind::ListKind,
            TypeKind::Object => TypeDefKind::ObjectKind,
            TypeKind::Interface => TypeDefKind::InterfaceKind,
            TypeKind::Input => TypeDefKind::InputKind,
            TypeKind::Void => TypeDefKind::VoidKind,
            TypeKind::Enum => TypeDefKind::EnumKind,
        }
    }
}

/// Dagger spells these values in PascalCase, unlike its other enums.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "FunctionCachePolicy", rename_items = "PascalCase")]
pub(crate) enum FunctionCachePolicy {
    Default,
    PerSession,
    Never,
}

impl From<FunctionCachePolicy> for CachePolicy {
    fn from(policy: FunctionCachePolicy) -> CachePolicy {
        match policy {
            FunctionCachePolicy::Default => CachePolicy::Default,
            FunctionCachePolicy::PerSession => CachePolicy::PerSession,
            FunctionCachePolicy::Never => CachePolicy::Never,
        }
    }
}
