//! A module loaded into a session: its source uploaded, its runtime
//! container built, its types registered; then its functions called, each
//! a new exec of the runtime's entrypoint with a nested client of its own
//! (../shared/dagger-modules.md §2.1, §3.1 variant A, §4).

use std::sync::Arc;

use engine::{Container, Engine, ExecOptions, Expect};

use crate::error::{Error, ModuleError};
use crate::function_cache::{self, FunctionCache, Scope};
use crate::module::model::ModuleTypes;
use crate::module::FunctionCall;
use crate::module_runtime::{self, RuntimeError};
use crate::module_source::{ModuleSource, Sdk};
use crate::Session;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("cannot upload the module's source: {}", engine::report(.0))]
    Upload(engine::Error),
    #[error("the {sdk} runtime of module {module} could not be built or run: {}", engine::report(.source))]
    Build {
        sdk: &'static str,
        module: String,
        source: engine::Error,
    },
    #[error(transparent)]
    Session(#[from] Error),
    #[error("module {module} did not register: {source}")]
    Register { module: String, source: CallError },
}

/// Why a function call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The SDK returned an error (the user's exception, or an exec the
    /// function ran that failed).
    #[error(transparent)]
    Returned(ModuleError),
    /// The runtime exited without returning: its own failure (an import
    /// error, a crash), with the end of what it wrote.
    #[error("the module's runtime exited with {exit_code} without returning a value:\n{output}")]
    Crashed { exit_code: i32, output: String },
    #[error(transparent)]
    Session(#[from] Error),
    #[error("{}", engine::report(.0))]
    Engine(engine::Error),
}

/// Where a module's registered types are kept, by implementation digest;
/// the version changes when how tanto registers does.
const TYPES_RECORD: &str = "module-types.v1";

pub struct LoadedModule {
    pub source: ModuleSource,
    /// The implementation digest: what the module's code is.
    pub digest: String,
    pub types: ModuleTypes,
    runtime: Container,
    session: Arc<Session>,
    /// Where the session serves nested clients, on 127.0.0.1.
    port: u16,
    cache: FunctionCache,
}

impl LoadedModule {
    /// Uploads `source`, builds its runtime and registers its types;
    /// nested clients reach `session` on 127.0.0.1:`port`.
    pub async fn load(
        session: Arc<Session>,
        port: u16,
        source: ModuleSource,
    ) -> Result<LoadedModule, LoadError> {
        let engine = session.engine().clone();
        let (context, digest) = source.upload(&engine).await.map_err(LoadError::Upload)?;
        let runtime = match source.config.sdk {
            Sdk::Python => module_runtime::python::runtime(&engine, &source, &context, &digest)?,
            Sdk::TypeScript => {
                module_runtime::typescript::runtime(&engine, &source, &context, &digest)?
            }
        };
        let mut loaded = LoadedModule {
            source,
            digest,
            types: ModuleTypes::default(),
            runtime,
            session,
            port,
            cache: FunctionCache::default(),
        };
        // Registered before with this very code: its types are kept.
        if let Some(types) = engine
            .record(TYPES_RECORD, &loaded.digest)
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice::<ModuleTypes>(&bytes).ok())
        {
            loaded.types = types;
            return Ok(loaded);
        }
        loaded.register().await?;
        let bytes = serde_json::to_vec(&loaded.types).expect("types encode");
        let name = &loaded.source.config.name;
        let description = format!("module {name}: its registered types");
        if let Err(error) = engine.keep_record(TYPES_RECORD, &loaded.digest, &description, &bytes) {
            tracing::warn!(
                "cannot keep module {name}'s types: {}",
                engine::report(&error)
            );
        }
        Ok(loaded)
    }

    /// Builds the runtime and asks the SDK for the module's types.
    async fn register(&mut self) -> Result<(), LoadError> {
        let module = self.source.config.name.clone();
        // Built before the registration call, so that a failing `uv sync`
        // is said as the runtime's failure, not as the function's.
        self.runtime = self
            .runtime
            .sync()
            .await
            .map_err(|source| LoadError::Build {
                sdk: self.source.config.sdk.name(),
                module: module.clone(),
                source,
            })?;
        let registered = self
            .run(None)
            .await
            .map_err(|source| LoadError::Register { module, source })?;
        let id = registered.as_str().unwrap_or_default();
        self.types = self.session.module_types(id)?;
        Ok(())
    }

    /// Calls a function (original names) and returns what the SDK
    /// returned: JSON, with core objects as IDs of this session and module
    /// objects as their state.
    /// Results are reused as the function's cache policy allows
    /// (`function_cache.rs`).
    pub async fn call(&self, call: FunctionCall) -> Result<serde_json::Value, CallError> {
        let object = self.types.object(&call.parent_name);
        let function = match call.name.as_str() {
            "" => object.and_then(|o| o.constructor.as_ref()),
            name => object.and_then(|o| o.function(name)),
        };
        let scope = function_cache::scope(
            function,
            self.source.config.disable_default_function_caching,
        );
        let key = match scope {
            Scope::Never => None,
            _ => self.cache.key(&self.session, &self.digest, &call).await,
        };
        if let Some(key) = &key {
            if let Some(value) = self.cache.get(self.session.engine(), key, scope) {
                tracing::debug!(function = %call.name, "function result reused");
                return Ok(value);
            }
        }
        let description = format!(
            "module {}: {}.{} result",
            self.source.config.name, call.parent_name, call.name
        );
        let value = self.run(Some(call)).await?;
        if let Some(key) = &key {
            self.cache
                .put(&self.session, key, scope, &value, &description);
        }
        Ok(value)
    }

    /// One exec of the runtime's entrypoint with a nested client.
    async fn run(&self, call: Option<FunctionCall>) -> Result<serde_json::Value, CallError> {
        let engine: &Engine = self.session.engine();
        let module = &self.source.config.name;
        let name = match &call {
            None => format!("register module {module}"),
            Some(call) if call.name.is_empty() => format!("call {module}: {}()", call.parent_name),
            Some(call) => format!("call {module}: {}.{}", call.parent_name, call.name),
        };
        let nested = self.session.nested(module, call)?;
        let token = engine.set_secret("DAGGER_SESSION_TOKEN", nested.token());
        // Each call runs: its result comes back through the session, not
        // from the step's files, so a remembered step would return nothing.
        let nonce = crate::random::random_bytes::<16>("function call nonce")?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let exec = self
            .runtime
            .with_env_variable("DAGGER_SESSION_PORT", &self.port.to_string(), false)
            .with_env_variable("TANTO_FUNCTION_CALL", &nonce, false)
            .with_secret_variable("DAGGER_SESSION_TOKEN", &token)
            .with_exec_opts(
                Vec::<String>::new(),
                ExecOptions {
                    use_entrypoint: true,
                    expect: Expect::Any,
                    name: Some(name),
                    ..Default::default()
                },
            );
        let ran = exec.sync().await.map_err(CallError::Engine)?;
        match nested.outcome() {
            Ok(value) => Ok(value),
            Err(returned @ ModuleError::Returned { .. }) => Err(CallError::Returned(returned)),
            Err(no_value) => {
                let exit_code = ran.exit_code().await.map_err(CallError::Engine)?;
                if exit_code == 0 {
                    return Err(CallError::Returned(no_value));
                }
                let output = ran.combined_output().await.map_err(CallError::Engine)?;
                Err(CallError::Crashed {
                    exit_code,
                    output: tail(&output, 40),
                })
            }
        }
    }
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
