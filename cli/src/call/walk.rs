//! Walking the chain: each function is called on what the previous one
//! returned — a core object through tanto's schema, a module's function
//! through its runtime, a module object's field from its state — until a
//! value that is not an object, or the end of the chain, where the result
//! is printed (or saved with `-o`).

use std::path::PathBuf;

use super::chain::Words;
use super::client::{Client, Failure};
use super::print;
use super::types::{Function, Origin, TypeRef, Types};
use super::values;

/// What the chain has reached.
#[derive(Clone, Debug)]
pub enum Current {
    /// `Query`, where core chains start (`tanto core`).
    Root,
    /// A core object, by its ID.
    Core { ty: String, id: String },
    /// A module's object: its type and its state (fields by their SDK
    /// names).
    Module {
        ty: String,
        state: serde_json::Value,
    },
}

impl Current {
    fn type_name(&self) -> &str {
        match self {
            Current::Root => "Query",
            Current::Core { ty, .. } | Current::Module { ty, .. } => ty,
        }
    }
}

/// Calls into a module's runtime.
pub trait Functions {
    /// Calls `function` (the SDK's name) of the module object `ty` with
    /// `state` and `args` (SDK names, JSON values): what it returned.
    fn call(
        &self,
        ty: &str,
        state: &serde_json::Value,
        function: &str,
        args: Vec<(String, serde_json::Value)>,
    ) -> impl std::future::Future<Output = Result<serde_json::Value, Failure>>;
}

pub struct Walk<'a, F: Functions> {
    pub client: &'a Client,
    pub types: &'a Types,
    pub functions: &'a F,
    pub output: Option<PathBuf>,
    pub json: bool,
    /// Where a module's `defaultPath` arguments are read from.
    pub defaults: Option<&'a values::DefaultPaths>,
}

impl<F: Functions> Walk<'_, F> {
    /// Walks `words` from `start`; what to print, or a failure.
    pub async fn run(&self, start: Current, mut words: Words) -> Result<String, Failure> {
        let mut current = start;
        loop {
            let functions = self.functions_of(current.type_name())?;
            let Some(name) = words.function() else {
                return self.finish(current).await;
            };
            let function = functions
                .iter()
                .find(|f| f.command == name)
                .ok_or_else(|| {
                    let valid: Vec<&str> = functions.iter().map(|f| f.command.as_str()).collect();
                    Failure::from(format!(
                        "unknown function {name:?} on {}: the functions are {}",
                        current.type_name(),
                        valid.join(", ")
                    ))
                })?;
            let is_bool = |flag: &str| function.args.iter().any(|a| a.flag == flag && a.is_bool());
            let flags = words.flags(is_bool)?;
            let args = values::arguments(
                self.client,
                self.types,
                self.defaults,
                &function.command,
                &function.args,
                &flags,
            )
            .await?;
            let returned = self.call(&current, function, args).await?;
            match self.next(function.returns.clone(), returned)? {
                Next::Object(next) => current = next,
                Next::Leaf(value) => {
                    if !words.is_empty() {
                        return Err(Failure::from(format!(
                            "{} returns {}, which has no functions to chain",
                            function.command,
                            function.returns.display()
                        )));
                    }
                    return self.leaf(&value);
                }
            }
        }
    }

    fn functions_of(&self, ty: &str) -> Result<&[Function], Failure> {
        self.types
            .object(ty)
            .ok_or_else(|| Failure::from(format!("tanto call does not know the type {ty}")))
    }

    async fn call(
        &self,
        current: &Current,
        function: &Function,
        args: Vec<(String, values::Value)>,
    ) -> Result<serde_json::Value, Failure> {
        match (&function.origin, current) {
            (Origin::Core, _) => {
                let call = call_text(&function.field, &args);
                let select = if function.returns.object_name().is_some() {
                    format!("{call} {{ id }}")
                } else {
                    call
                };
                let document = match current {
                    Current::Root => format!("{{ {select} }}"),
                    Current::Core { ty, id } => format!(
                        "{{ node(id: {}) {{ ... on {ty} {{ {select} }} }} }}",
                        serde_json::Value::String(id.clone())
                    ),
                    Current::Module { .. } => unreachable!("module objects have no core functions"),
                };
                let data = self.client.query_or_failure(&document).await?;
                let value = match current {
                    Current::Root => &data[&function.field],
                    _ => &data["node"][&function.field],
                };
                Ok(match function.returns.object_name() {
                    Some(_) => value["id"].clone(),
                    None => value.clone(),
                })
            }
            (Origin::Module { original }, Current::Module { ty, state }) => {
                let args = args
                    .into_iter()
                    .map(|(name, value)| (name, value.json))
                    .collect();
                self.functions.call(ty, state, original, args).await
            }
            (Origin::Field { original }, Current::Module { state, .. }) => {
                Ok(state[original].clone())
            }
            _ => Err(Failure::from(format!(
                "{} cannot be called on {}",
                function.command,
                current.type_name()
            ))),
        }
    }

    /// What a returned value is: an object to go on from, or a leaf.
    fn next(&self, returns: TypeRef, value: serde_json::Value) -> Result<Next, Failure> {
        let Some(ty) = returns.object_name() else {
            return Ok(Next::Leaf(value));
        };
        if value.is_null() {
            return Ok(Next::Leaf(value));
        }
        if self.types.is_module_object(ty) {
            return Ok(Next::Object(Current::Module {
                ty: ty.to_owned(),
                state: value,
            }));
        }
        let id = value
            .as_str()
            .ok_or_else(|| Failure::from(format!("a {ty} came back as {value}, not an ID")))?;
        Ok(Next::Object(Current::Core {
            ty: ty.to_owned(),
            id: id.to_owned(),
        }))
    }

    fn leaf(&self, value: &serde_json::Value) -> Result<String, Failure> {
        let text = print::scalar(value, self.json);
        match &self.output {
            Some(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                }
                std::fs::write(path, &text)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                let shown = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                crate::output::status(&format!(
                    "Saved output to {:?}.",
                    shown.display().to_string()
                ));
                Ok(String::new())
            }
            None => Ok(text),
        }
    }

    /// The chain ended on an object: saved with `-o` when it can be
    /// exported, else synced (so its steps run) and printed by type.
    async fn finish(&self, current: Current) -> Result<String, Failure> {
        let (ty, id) = match &current {
            Current::Root => return Err(Failure::from("name a function to call".to_owned())),
            Current::Module { ty, state } => {
                return Ok(print::object(ty, &state.to_string()));
            }
            Current::Core { ty, id } => (ty.clone(), id.clone()),
        };
        let functions = self.functions_of(&ty)?;
        let node = |select: &str| {
            format!(
                "{{ node(id: {}) {{ ... on {ty} {{ {select} }} }} }}",
                serde_json::Value::String(id.clone())
            )
        };
        if let Some(path) = &self.output {
            if functions.iter().any(|f| f.field == "export") {
                let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                let path_literal = serde_json::Value::String(absolute.display().to_string());
                self.client
                    .query_or_failure(&node(&format!("export(path: {path_literal})")))
                    .await?;
                crate::output::status(&format!("Saved to {:?}.", absolute.display().to_string()));
                return Ok(String::new());
            }
        }
        if functions.iter().any(|f| f.field == "sync") {
            self.client.query_or_failure(&node("sync")).await?;
        }
        Ok(print::object(&ty, &id))
    }
}

enum Next {
    Object(Current),
    Leaf(serde_json::Value),
}

/// `withExec(args: ["ls"])`.
fn call_text(field: &str, args: &[(String, values::Value)]) -> String {
    if args.is_empty() {
        return field.to_owned();
    }
    let args: Vec<String> = args
        .iter()
        .map(|(name, value)| format!("{name}: {}", value.literal()))
        .collect();
    format!("{field}({})", args.join(", "))
}
