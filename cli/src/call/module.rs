//! A loaded module as `tanto call` sees it: its objects as types whose
//! functions are subcommands (named as Dagger names them: the SDK's
//! `container_echo` is GraphQL's `containerEcho` and the command line's
//! `container-echo`), and its functions called through its runtime.

use api::module::model::{ArgDef, FunctionDef, ModuleTypes, TypeKind, TypeRef as ModuleTypeRef};
use api::strcase::{to_kebab, to_lower_camel};
use api::{CallError, FunctionCall, LoadedModule, ModuleError};

use super::client::Failure;
use super::types::{Arg, Function, Kind, Origin, TypeRef, Types};

/// Adds the module's objects and enums to `types`.
pub fn add_types(types: &mut Types, module: &ModuleTypes) {
    for object in &module.objects {
        let mut functions: Vec<Function> = object.functions.iter().map(function).collect();
        functions.extend(object.fields.iter().map(|field| {
            let gql = to_lower_camel(&field.name);
            Function {
                command: to_kebab(&gql),
                field: gql,
                description: field.description.clone(),
                args: Vec::new(),
                returns: type_ref(&field.type_ref),
                origin: Origin::Field {
                    original: field.name.clone(),
                },
            }
        }));
        types.add_module_object(&object.name, functions);
    }
    for enumeration in &module.enums {
        types.add_enum(
            &enumeration.name,
            enumeration.members.iter().map(|m| m.name.clone()).collect(),
        );
    }
}

/// The constructor's arguments, as the root's flags.
pub fn constructor_args(module: &ModuleTypes, main_object: &str) -> Vec<Arg> {
    module
        .object(main_object)
        .and_then(|o| o.constructor.as_ref())
        .map(|c| c.args.iter().map(arg).collect())
        .unwrap_or_default()
}

fn function(def: &FunctionDef) -> Function {
    let gql = to_lower_camel(&def.name);
    Function {
        command: to_kebab(&gql),
        field: gql,
        description: def.description.clone(),
        args: def.args.iter().map(arg).collect(),
        returns: type_ref(&def.return_type),
        origin: Origin::Module {
            original: def.name.clone(),
        },
    }
}

fn arg(def: &ArgDef) -> Arg {
    Arg {
        flag: to_kebab(&to_lower_camel(&def.name)),
        name: def.name.clone(),
        ty: type_ref(&def.type_ref),
        default: def.default_value.clone(),
        default_path: def.default_path.clone().filter(|p| !p.is_empty()),
        ignore: def.ignore.clone(),
    }
}

fn type_ref(module: &ModuleTypeRef) -> TypeRef {
    let name = || module.name.clone().unwrap_or_default();
    let kind = match module.kind {
        TypeKind::String => Kind::Scalar("String".into()),
        TypeKind::Integer => Kind::Scalar("Int".into()),
        TypeKind::Float => Kind::Scalar("Float".into()),
        TypeKind::Boolean => Kind::Scalar("Boolean".into()),
        TypeKind::Void => Kind::Scalar("Void".into()),
        TypeKind::Scalar => Kind::Scalar(name()),
        TypeKind::Enum => Kind::Enum(name()),
        TypeKind::Object | TypeKind::Interface | TypeKind::Input => Kind::Object(name()),
        TypeKind::List => Kind::List(Box::new(module.element.as_deref().map(type_ref).unwrap_or(
            TypeRef {
                kind: Kind::Scalar("String".into()),
                optional: false,
            },
        ))),
    };
    TypeRef {
        kind,
        optional: module.optional,
    }
}

/// Calls functions through the module's runtime.
pub struct Calls<'a>(pub &'a LoadedModule);

impl super::walk::Functions for Calls<'_> {
    async fn call(
        &self,
        ty: &str,
        state: &serde_json::Value,
        function: &str,
        args: Vec<(String, serde_json::Value)>,
    ) -> Result<serde_json::Value, Failure> {
        self.0
            .call(FunctionCall {
                parent_name: ty.to_owned(),
                name: function.to_owned(),
                parent: state.clone(),
                input_args: args,
            })
            .await
            .map_err(failure)
    }
}

/// A failed call as `tanto call` reports it: a failed exec inside the
/// function exits with that exec's code, as with `dagger call`.
pub fn failure(error: CallError) -> Failure {
    let exit_code = match &error {
        CallError::Returned(returned @ ModuleError::Returned { .. }) => returned
            .value("exitCode")
            .and_then(serde_json::Value::as_i64)
            .map(|code| code as i32),
        _ => None,
    };
    let mut message = error.to_string();
    if let CallError::Returned(returned) = &error {
        for stream in ["stdout", "stderr"] {
            if let Some(text) = returned
                .value(stream)
                .and_then(serde_json::Value::as_str)
                .filter(|t| !t.trim().is_empty())
            {
                message.push_str(&format!("\n{stream}:\n{}", text.trim_end()));
            }
        }
    }
    Failure { message, exit_code }
}
