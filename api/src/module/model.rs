//! What a module declared at registration, as the rest of tanto reads it:
//! its objects, their fields and functions, their arguments, with the
//! names the SDK used (its *original* names: `container_echo`, not the
//! GraphQL `containerEcho`), because a call back into the SDK must use
//! them (dagger-modules.md §4.3).
//!
//! The same types are the values behind the module-definition objects of
//! the schema (`Function`, `ObjectTypeDef`, …): each `with*` call returns
//! a changed copy. Serializable, so a registration can be kept on disk by
//! the module's digest and read back without running the SDK again.

use serde::{Deserialize, Serialize};

/// A registered module: what its `Module` ID holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModuleTypes {
    /// The module's name as the nested session knew it (`DAGGER_MODULE`).
    pub name: String,
    pub description: String,
    pub objects: Vec<ObjectDef>,
    pub interfaces: Vec<InterfaceDef>,
    pub enums: Vec<EnumDef>,
}

impl ModuleTypes {
    /// The object named `name` (original spelling).
    pub fn object(&self, name: &str) -> Option<&ObjectDef> {
        self.objects.iter().find(|o| o.name == name)
    }
}

/// An object type of the module: its state (fields) and its functions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectDef {
    pub name: String,
    pub description: String,
    pub fields: Vec<FieldDef>,
    pub functions: Vec<FunctionDef>,
    /// Python always declares one (named `""`); TypeScript only for an
    /// explicit `constructor`. Without one, the object starts as `{}`.
    pub constructor: Option<FunctionDef>,
    pub deprecated: Option<String>,
    pub source_map: Option<SourceMap>,
}

impl ObjectDef {
    /// The function named `name` (original spelling).
    pub fn function(&self, name: &str) -> Option<&FunctionDef> {
        self.functions.iter().find(|f| f.name == name)
    }
}

/// One piece of an object's state, served from the object's JSON without
/// calling the SDK.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    pub name: String,
    pub description: String,
    pub type_ref: TypeRef,
    pub deprecated: Option<String>,
    pub source_map: Option<SourceMap>,
}

/// A function of an object or interface (or an object's constructor).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionDef {
    /// `""` for a constructor.
    pub name: String,
    pub description: String,
    pub args: Vec<ArgDef>,
    pub return_type: TypeRef,
    pub cache_policy: CachePolicy,
    /// As the SDK wrote it (`"10m"`, `"1h30m"`): Dagger's `timeToLive`.
    pub time_to_live: Option<String>,
    pub deprecated: Option<String>,
    pub source_map: Option<SourceMap>,
}

impl FunctionDef {
    pub(crate) fn new(name: String, return_type: TypeRef) -> FunctionDef {
        FunctionDef {
            name,
            description: String::new(),
            args: Vec::new(),
            return_type,
            cache_policy: CachePolicy::Default,
            time_to_live: None,
            deprecated: None,
            source_map: None,
        }
    }
}

/// One argument of a function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArgDef {
    pub name: String,
    pub description: String,
    /// Whether the argument may be left out is `type_ref.optional`, or a
    /// default value or path.
    pub type_ref: TypeRef,
    /// The default the SDK declared, already parsed from its JSON text.
    pub default_value: Option<serde_json::Value>,
    /// `+defaultPath`: a directory or file of the module's context loaded
    /// when the caller leaves the argument out.
    pub default_path: Option<String>,
    /// `+defaultAddress`: an image address loaded when left out.
    pub default_address: Option<String>,
    /// Patterns left out of a `Directory` argument.
    pub ignore: Vec<String>,
    pub deprecated: Option<String>,
    pub source_map: Option<SourceMap>,
}

impl ArgDef {
    /// Whether the caller must pass it.
    pub fn required(&self) -> bool {
        !self.type_ref.optional
            && self.default_value.is_none()
            && self.default_path.is_none()
            && self.default_address.is_none()
    }
}

/// A type as a field, argument or return value refers to it: a kind,
/// whether null is allowed, and the name or element type that goes with
/// the kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TypeRef {
    pub kind: TypeKind,
    pub optional: bool,
    /// The object, interface, enum, scalar or input type's name: a core
    /// type (`Container`) or one of the module's (original spelling).
    pub name: Option<String>,
    /// The element type of a list.
    pub element: Option<Box<TypeRef>>,
}

impl TypeRef {
    /// A required value of `kind`, with no name yet: what `typeDef` starts
    /// from.
    pub fn of(kind: TypeKind) -> TypeRef {
        TypeRef {
            kind,
            optional: false,
            name: None,
            element: None,
        }
    }
}

/// Dagger's `TypeDefKind`, one spelling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TypeKind {
    String,
    Integer,
    Float,
    Boolean,
    Scalar,
    List,
    Object,
    Interface,
    Input,
    /// Also what a new `typeDef` is until `withKind`/`withObject`/….
    #[default]
    Void,
    Enum,
}

/// When a function's result may be reused (dagger-modules.md §6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CachePolicy {
    /// Persistent, for `time_to_live` or Dagger's 7 days.
    #[default]
    Default,
    /// Within one session only.
    PerSession,
    /// Never reused.
    Never,
}

/// An interface the module declares.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InterfaceDef {
    pub name: String,
    pub description: String,
    pub functions: Vec<FunctionDef>,
    pub source_map: Option<SourceMap>,
}

/// An enum the module declares.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EnumDef {
    pub name: String,
    pub description: String,
    pub members: Vec<EnumMemberDef>,
    pub source_map: Option<SourceMap>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EnumMemberDef {
    pub name: String,
    /// The value the SDK gets for this member; empty when it is the name.
    pub value: String,
    pub description: String,
    pub deprecated: Option<String>,
    pub source_map: Option<SourceMap>,
}

/// A custom scalar type (core API only, in practice).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScalarDef {
    pub name: String,
    pub description: String,
}

/// An input type (core API only, in practice).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InputDef {
    pub name: String,
    pub fields: Vec<FieldDef>,
}

/// Where a declaration is in the module's source (TypeScript sends them).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceMap {
    pub module: String,
    pub filename: String,
    pub line: i32,
    pub column: i32,
}
