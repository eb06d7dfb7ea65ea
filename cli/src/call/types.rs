//! The types `tanto call` walks: each object's functions with their flags,
//! argument types and return types. Core types come from the schema tanto
//! serves (introspection); a module's objects from its registration.

use std::collections::HashMap;

/// A type as a function takes or returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeRef {
    pub kind: Kind,
    pub optional: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// `String`, `Int`, `Float`, `Boolean`, `JSON`, `Platform`, `Void`…
    Scalar(String),
    Enum(String),
    /// A core object (`Container`) or a module's (`MyModFoo`).
    Object(String),
    /// An input object (`PortForward`), written in a form of its own.
    Input(String),
    List(Box<TypeRef>),
}

impl TypeRef {
    pub fn object_name(&self) -> Option<&str> {
        match &self.kind {
            Kind::Object(name) => Some(name),
            _ => None,
        }
    }

    /// How Dagger names it in messages: `String`, `[String]`, `Container`.
    pub fn display(&self) -> String {
        match &self.kind {
            Kind::Scalar(name) | Kind::Enum(name) | Kind::Object(name) | Kind::Input(name) => {
                name.clone()
            }
            Kind::List(of) => format!("[{}]", of.display()),
        }
    }
}

/// Where a function is answered.
#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    /// By tanto's schema, through GraphQL.
    Core,
    /// By the module's runtime; `original` is the SDK's own name for it.
    Module { original: String },
    /// A module object's field, from its stored state.
    Field { original: String },
}

#[derive(Clone, Debug)]
pub struct Arg {
    /// `--flag-name`.
    pub flag: String,
    /// As GraphQL names it (core), or as the SDK does (module).
    pub name: String,
    pub ty: TypeRef,
    pub default: Option<serde_json::Value>,
    /// A module's `defaultPath`: the directory or file loaded when the
    /// flag is not given (relative to the module's root, or to its
    /// context directory when it starts with `/`).
    pub default_path: Option<String>,
    /// Patterns left out of a directory argument (a module's `ignore`).
    pub ignore: Vec<String>,
}

impl Arg {
    /// Required: neither optional nor defaulted.
    /// A boolean flag: given bare, it takes no value.
    pub fn is_bool(&self) -> bool {
        matches!(&self.ty.kind, Kind::Scalar(name) if name == "Boolean")
    }

    pub fn required(&self) -> bool {
        !self.ty.optional && self.default.is_none() && self.default_path.is_none()
    }
}

#[derive(Clone, Debug)]
pub struct Function {
    /// As on the command line: `with-exec`.
    pub command: String,
    /// As GraphQL names it: `withExec`.
    pub field: String,
    pub description: String,
    pub args: Vec<Arg>,
    pub returns: TypeRef,
    pub origin: Origin,
}

#[derive(Default)]
pub struct Types {
    objects: HashMap<String, Vec<Function>>,
    enums: HashMap<String, Vec<String>>,
    /// The objects a module defines (their values are states, not IDs).
    module_objects: std::collections::HashSet<String>,
}

impl Types {
    pub fn object(&self, name: &str) -> Option<&[Function]> {
        self.objects.get(name).map(Vec::as_slice)
    }

    pub fn enum_members(&self, name: &str) -> Option<&[String]> {
        self.enums.get(name).map(Vec::as_slice)
    }

    pub fn add_object(&mut self, name: &str, functions: Vec<Function>) {
        self.objects.insert(name.to_owned(), functions);
    }

    pub fn add_module_object(&mut self, name: &str, functions: Vec<Function>) {
        self.module_objects.insert(name.to_owned());
        self.add_object(name, functions);
    }

    pub fn is_module_object(&self, name: &str) -> bool {
        self.module_objects.contains(name)
    }

    pub fn add_enum(&mut self, name: &str, members: Vec<String>) {
        self.enums.insert(name.to_owned(), members);
    }

    /// The core types, from an introspection answer of tanto's schema
    /// ([`INTROSPECTION`]).
    pub fn core(answer: &serde_json::Value) -> Types {
        let mut types = Types::default();
        let Some(list) = answer["__schema"]["types"].as_array() else {
            return types;
        };
        for ty in list {
            let name = ty["name"].as_str().unwrap_or_default();
            if name.starts_with("__") {
                continue;
            }
            match ty["kind"].as_str() {
                Some("ENUM") => types.add_enum(
                    name,
                    ty["enumValues"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v["name"].as_str().map(str::to_owned))
                        .collect(),
                ),
                Some("OBJECT") => {
                    let functions = ty["fields"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|f| !hidden(name, f["name"].as_str().unwrap_or_default()))
                        .map(|field| core_function(name, field))
                        .collect();
                    types.add_object(name, functions);
                }
                _ => {}
            }
        }
        types
    }
}

/// Fields `dagger call` does not offer on core types: the ones for SDKs
/// and module runtimes, and `id` (an object prints its ID anyway).
fn hidden(type_name: &str, field: &str) -> bool {
    matches!(field, "id")
        || type_name == "Query"
            && matches!(
                field,
                "node"
                    | "currentFunctionCall"
                    | "currentModule"
                    | "typeDef"
                    | "sourceMap"
                    | "function"
                    | "module"
                    | "error"
                    | "setSecret"
            )
        || field.starts_with("load") && field.ends_with("FromID")
}

fn core_function(type_name: &str, field: &serde_json::Value) -> Function {
    let name = field["name"].as_str().unwrap_or_default();
    let args = field["args"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|arg| {
            let arg_name = arg["name"].as_str().unwrap_or_default();
            let mut ty = type_ref(&arg["type"]);
            expect_object(&mut ty, id_argument_type(type_name, name, arg_name));
            Arg {
                flag: api::strcase::to_kebab(arg_name),
                name: arg_name.to_owned(),
                ty,
                default: arg["defaultValue"]
                    .as_str()
                    .map(|d| serde_json::Value::String(d.to_owned())),
                default_path: None,
                ignore: Vec::new(),
            }
        })
        .collect();
    Function {
        command: api::strcase::to_kebab(name),
        field: name.to_owned(),
        description: field["description"].as_str().unwrap_or_default().to_owned(),
        args,
        returns: type_ref(&field["type"]),
        origin: Origin::Core,
    }
}

/// An `ID` argument becomes the object type it names.
fn expect_object(ty: &mut TypeRef, object: Option<&str>) {
    let Some(object) = object else { return };
    match &mut ty.kind {
        Kind::Scalar(name) if name == "ID" => ty.kind = Kind::Object(object.to_owned()),
        Kind::List(of) => expect_object(of, Some(object)),
        _ => {}
    }
}

/// Which object an `ID` argument of a core field takes: Dagger's schema
/// says it in a directive that introspection does not carry.
fn id_argument_type(type_name: &str, field: &str, arg: &str) -> Option<&'static str> {
    Some(match (type_name, field, arg) {
        (_, _, "secret" | "secrets") => "Secret",
        (_, _, "cache") => "CacheVolume",
        (_, _, "service" | "registryService") => "Service",
        (_, _, "platformVariants") | ("Directory", "terminal", "container") => "Container",
        (_, "withRootfs" | "diff", _) | (_, "withDirectory" | "withMountedDirectory", "source") => {
            "Directory"
        }
        (
            _,
            "withFile" | "withMountedFile" | "withFiles" | "import" | "withEnvFileVariables",
            _,
        ) => "File",
        (_, "withMountedSecret", "source") => "Secret",
        (_, "withUnixSocket", "source") => "Socket",
        ("Query", "cacheVolume", "source") | (_, "withMountedCache", "source") => "Directory",
        _ => return None,
    })
}

/// Reads an introspected `type { kind name ofType { … } }`.
fn type_ref(ty: &serde_json::Value) -> TypeRef {
    match ty["kind"].as_str() {
        Some("NON_NULL") => TypeRef {
            optional: false,
            ..type_ref(&ty["ofType"])
        },
        Some("LIST") => TypeRef {
            kind: Kind::List(Box::new(type_ref(&ty["ofType"]))),
            optional: true,
        },
        kind => {
            let name = ty["name"].as_str().unwrap_or_default().to_owned();
            TypeRef {
                kind: match kind {
                    Some("ENUM") => Kind::Enum(name),
                    Some("OBJECT" | "INTERFACE") => Kind::Object(name),
                    Some("INPUT_OBJECT") => Kind::Input(name),
                    _ => Kind::Scalar(name),
                },
                optional: true,
            }
        }
    }
}

/// What [`Types::core`] reads.
pub const INTROSPECTION: &str = "{ __schema { types { kind name enumValues { name } \
    fields { name description type { ...T } args { name description defaultValue type { ...T } } } } } } \
    fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_types_are_read_from_introspection() {
        let answer = serde_json::json!({"__schema": {"types": [
            {"kind": "OBJECT", "name": "Container", "fields": [
                {"name": "withExec", "description": "Runs", "type": {"kind": "NON_NULL", "ofType": {"kind": "OBJECT", "name": "Container"}},
                 "args": [{"name": "args", "defaultValue": null, "type": {"kind": "NON_NULL", "ofType": {"kind": "LIST", "ofType": {"kind": "NON_NULL", "ofType": {"kind": "SCALAR", "name": "String"}}}}},
                          {"name": "useEntrypoint", "defaultValue": "false", "type": {"kind": "SCALAR", "name": "Boolean"}}]},
                {"name": "withDirectory", "type": {"kind": "NON_NULL", "ofType": {"kind": "OBJECT", "name": "Container"}},
                 "args": [{"name": "source", "type": {"kind": "NON_NULL", "ofType": {"kind": "SCALAR", "name": "ID"}}}]},
                {"name": "id", "type": {"kind": "SCALAR", "name": "ID"}, "args": []}
            ]},
            {"kind": "ENUM", "name": "ReturnType", "enumValues": [{"name": "SUCCESS"}, {"name": "ANY"}]}
        ]}});
        let types = Types::core(&answer);
        let container = types.object("Container").unwrap();
        assert_eq!(container.len(), 2, "id is hidden");
        let exec = &container[0];
        assert_eq!(
            (exec.command.as_str(), exec.field.as_str()),
            ("with-exec", "withExec")
        );
        assert!(exec.args[0].required());
        assert_eq!(exec.args[0].ty.display(), "[String]");
        assert!(!exec.args[1].required());
        assert_eq!(exec.args[1].flag, "use-entrypoint");
        assert_eq!(container[1].args[0].ty.object_name(), Some("Directory"));
        assert_eq!(
            types.enum_members("ReturnType").unwrap(),
            ["SUCCESS", "ANY"]
        );
    }
}
