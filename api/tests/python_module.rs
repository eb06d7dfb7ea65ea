//! The published Python SDK's module runtime (dagger-io 0.21.11, as
//! `tanto call` will run it in a container) run as a host process against
//! a nested client of a session: registration, calls, object state, a
//! Directory in and a Container out, and a function that raises. Only
//! lazy values are built, so nothing here needs root or containers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use api::{CoreValue, FunctionCall, ModuleError, Session};
use serde_json::json;

/// The venv that integration/tests/end_to_end/support/fixtures.rs `python_sdk()`
/// builds, shared with it (same directory, same lock).
const SDK_VENV: &str = "/var/tmp/tanto-fixtures/python-dagger-io-0.21.11";
const SDK: &str = "dagger-io==0.21.11";

fn python() -> PathBuf {
    let dir = Path::new(SDK_VENV);
    let cache = dir.parent().unwrap();
    std::fs::create_dir_all(cache).unwrap();
    // Held while building: the integration tests build the same venv.
    let lock = std::fs::File::create(cache.join("python.lock")).unwrap();
    lock.lock().unwrap();
    if !dir.join("complete").exists() {
        let _ = std::fs::remove_dir_all(dir);
        let venv = Command::new("/usr/bin/python3")
            .args(["-m", "venv"])
            .arg(dir)
            .status()
            .expect("Debian's python3 with python3-venv must be installed");
        assert!(venv.success());
        let pip = Command::new(dir.join("bin/pip"))
            .args(["install", "--quiet", SDK])
            .status()
            .unwrap();
        assert!(pip.success(), "pip install {SDK} failed");
        std::fs::write(dir.join("complete"), "").unwrap();
    }
    dir.join("bin/python")
}

const MODULE: &str = r#""""A tiny module"""
from typing import Self

import dagger
from dagger import dag, field, function, object_type


@object_type
class Tiny:
    greeting: str = field(default="Hello")
    src: dagger.Directory | None = field(default=None)

    @function
    def hello(self, name: str) -> str:
        """Say hello"""
        return f"{self.greeting}, {name}!"

    @function
    def build(self, src: dagger.Directory) -> dagger.Container:
        """Mount src in a container"""
        return dag.container().with_directory("/src", src).with_workdir("/src")

    @function
    def with_greeting(self, greeting: str) -> Self:
        self.greeting = greeting
        return self

    @function
    def with_src(self, src: dagger.Directory) -> Self:
        self.src = src
        return self

    @function
    def shout(self, words: list[str], suffix: str = "!") -> str:
        return " ".join(words).upper() + suffix

    @function(cache="never")
    def fail(self, why: str) -> str:
        raise ValueError(why)
"#;

struct Served {
    session: Arc<Session>,
    engine: engine::Engine,
    port: u16,
    module_dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
    _store: tempfile::TempDir,
}

fn serve() -> Served {
    let store = tempfile::tempdir().unwrap();
    let runtime = api::runtime().unwrap();
    let engine = engine::Engine::new(engine::EngineConfig {
        store_root: store.path().to_owned(),
        ..Default::default()
    })
    .unwrap();
    let session = Arc::new(Session::new(engine.clone(), api::new_token().unwrap()).unwrap());
    let (listener, address) = runtime.block_on(api::bind_loopback()).unwrap();
    runtime.spawn(api::serve(
        listener,
        Arc::clone(&session),
        std::future::pending(),
    ));
    let module_dir = tempfile::tempdir().unwrap();
    let package = module_dir.path().join("src/tiny");
    std::fs::create_dir_all(&package).unwrap();
    std::fs::write(package.join("__init__.py"), MODULE).unwrap();
    Served {
        session,
        engine,
        port: address.port(),
        module_dir,
        _runtime: runtime,
        _store: store,
    }
}

impl Served {
    /// The ID of a new directory holding `a.txt`, as a caller passes it.
    fn new_directory(&self) -> String {
        let directory = self.engine.directory().with_new_file("a.txt", "hi", 0o644);
        self.session.id_of(&CoreValue::Directory(directory))
    }

    /// Runs the SDK's module runtime for `call` and returns the outcome.
    fn run(&self, call: Option<FunctionCall>) -> Result<serde_json::Value, ModuleError> {
        let client = self.session.nested("tiny", call).unwrap();
        let output = Command::new(python())
            .args([
                "-c",
                "import sys; from dagger.mod.cli import app; sys.exit(app(None, False))",
            ])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.module_dir.path())
            .env("PYTHONPATH", self.module_dir.path().join("src"))
            .env("DAGGER_SESSION_PORT", self.port.to_string())
            .env("DAGGER_SESSION_TOKEN", client.token())
            .env("DAGGER_MODULE", "tiny")
            .env("DAGGER_MAIN_OBJECT", "Tiny")
            .env("DAGGER_DEFAULT_PYTHON_PACKAGE", "tiny")
            .current_dir(self.module_dir.path())
            .output()
            .unwrap();
        let outcome = client.outcome();
        if outcome.is_err() && !matches!(outcome, Err(ModuleError::Returned { .. })) {
            panic!(
                "{outcome:?}\nexit: {}\nstderr:\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        outcome
    }

    fn call(
        &self,
        name: &str,
        parent: serde_json::Value,
        args: &[(&str, serde_json::Value)],
    ) -> Result<serde_json::Value, ModuleError> {
        self.run(Some(FunctionCall {
            parent_name: "Tiny".into(),
            name: name.into(),
            parent,
            input_args: args
                .iter()
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect(),
        }))
    }
}

#[test]
fn registration_declares_the_module_types() {
    let served = serve();
    let returned = served.run(None).unwrap();
    let id = returned.as_str().expect("a Module ID as a JSON string");
    let types = served.session.module_types(id).unwrap();
    assert_eq!(types.name, "tiny");
    assert_eq!(types.description, "A tiny module");
    let tiny = types.object("Tiny").unwrap();

    let names: Vec<&str> = tiny.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["greeting", "src"]);
    assert_eq!(tiny.fields[1].type_ref.name.as_deref(), Some("Directory"));
    assert!(tiny.fields[1].type_ref.optional);

    // Python always declares a constructor: the fields with defaults.
    let constructor = tiny.constructor.as_ref().unwrap();
    assert_eq!(constructor.name, "");
    assert_eq!(constructor.return_type.name.as_deref(), Some("Tiny"));
    assert_eq!(constructor.args[0].name, "greeting");
    assert_eq!(constructor.args[0].default_value, Some(json!("Hello")));

    let hello = tiny.function("hello").unwrap();
    assert_eq!(hello.description, "Say hello");
    assert_eq!(
        hello.return_type,
        api::module::model::TypeRef::of(api::module::model::TypeKind::String)
    );
    assert!(hello.args[0].required());

    let build = tiny.function("build").unwrap();
    assert_eq!(build.return_type.name.as_deref(), Some("Container"));
    assert_eq!(build.args[0].type_ref.name.as_deref(), Some("Directory"));

    // Original (Python) names, not GraphQL ones.
    assert!(tiny.function("with_greeting").is_some());
    assert_eq!(
        tiny.function("with_greeting")
            .unwrap()
            .return_type
            .name
            .as_deref(),
        Some("Tiny")
    );

    let shout = tiny.function("shout").unwrap();
    let words = &shout.args[0].type_ref;
    assert_eq!(words.kind, api::module::model::TypeKind::List);
    assert_eq!(
        words.element.as_ref().unwrap().kind,
        api::module::model::TypeKind::String
    );
    assert_eq!(shout.args[1].default_value, Some(json!("!")));
    assert!(!shout.args[1].required());

    assert_eq!(
        tiny.function("fail").unwrap().cache_policy,
        api::module::model::CachePolicy::Never
    );
    assert_eq!(hello.cache_policy, api::module::model::CachePolicy::Default);

    // A registration can be kept on disk and read back.
    let stored = serde_json::to_string(&types).unwrap();
    assert_eq!(
        serde_json::from_str::<api::ModuleTypes>(&stored).unwrap(),
        types
    );
}

#[test]
fn a_function_is_called_with_original_names_and_its_value_comes_back() {
    let served = serve();
    let state = json!({"greeting": "Hello", "src": null});
    assert_eq!(
        served
            .call("hello", state.clone(), &[("name", json!("world"))])
            .unwrap(),
        json!("Hello, world!")
    );
    assert_eq!(
        served
            .call("shout", state, &[("words", json!(["a", "b"]))])
            .unwrap(),
        json!("A B!")
    );
}

#[test]
fn a_directory_goes_in_and_a_container_comes_out() {
    let served = serve();
    let dir_id = served.new_directory();
    let returned = served
        .call(
            "build",
            json!({"greeting": "Hello", "src": null}),
            &[("src", json!(dir_id))],
        )
        .unwrap();
    let container_id = returned.as_str().expect("a Container ID");
    let Ok(CoreValue::Container(_)) = served.session.core_value(container_id) else {
        panic!("{container_id} is not a container");
    };
    // The caller chains on it, as `tanto call build --src=. directory …` will.
    let runtime = api::runtime().unwrap();
    let session = Arc::clone(&served.session);
    let query = format!(
        r#"{{ node(id: "{container_id}") {{ ... on Container {{ directory(path: "/src") {{ entries }} }} }} }}"#
    );
    let answer = runtime
        .block_on(runtime.spawn(async move { session.execute(&query).await }))
        .unwrap()
        .into_value()
        .unwrap();
    assert_eq!(
        answer["data"]["node"]["directory"]["entries"],
        json!(["a.txt"]),
        "{answer:#}"
    );
}

#[test]
fn object_state_round_trips_through_the_sdk() {
    let served = serve();
    let state = served.run(Some(FunctionCall {
        parent_name: "Tiny".into(),
        name: String::new(),
        parent: serde_json::Value::Null,
        input_args: Vec::new(),
    }));
    let state = state.unwrap();
    assert_eq!(state, json!({"greeting": "Hello", "src": null}));

    let state = served
        .call("with_greeting", state, &[("greeting", json!("Hi"))])
        .unwrap();
    assert_eq!(state, json!({"greeting": "Hi", "src": null}));

    let dir_id = served.new_directory();
    let state = served
        .call("with_src", state, &[("src", json!(dir_id))])
        .unwrap();
    assert_eq!(state["greeting"], "Hi");
    // Core objects inside state are IDs the session can load.
    let src = state["src"].as_str().unwrap();
    assert!(matches!(
        served.session.core_value(src),
        Ok(CoreValue::Directory(_))
    ));

    assert_eq!(
        served
            .call("hello", state, &[("name", json!("Bob"))])
            .unwrap(),
        json!("Hi, Bob!")
    );
}

#[test]
fn a_raised_exception_comes_back_as_the_functions_error() {
    let served = serve();
    let error = served
        .call(
            "fail",
            json!({"greeting": "Hello", "src": null}),
            &[("why", json!("out of tea"))],
        )
        .unwrap_err();
    let ModuleError::Returned { message, .. } = &error else {
        panic!("{error:?}");
    };
    // The SDK wraps what the function raised in its own FunctionError.
    assert_eq!(message, "FunctionError: out of tea");
    assert_eq!(error.value("exception.type"), Some(&json!("FunctionError")));
    assert_eq!(error.value("exception.message"), Some(&json!("out of tea")));
    assert!(error
        .value("exception.stacktrace")
        .and_then(|s| s.as_str())
        .is_some_and(|s| s.contains("raise ValueError(why)")));
}

#[test]
fn a_nested_token_works_only_while_its_client_lives() {
    let served = serve();
    let client = served.session.nested("tiny", None).unwrap();
    let url = format!("http://127.0.0.1:{}/query", served.port);
    let post = |token: &str| {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{token}:"));
        match ureq::post(&url)
            .set("Authorization", &format!("Basic {auth}"))
            .send_string(r#"{"query": "{ currentModule { name } }"}"#)
        {
            Ok(response) => (200, response.into_string().unwrap()),
            Err(ureq::Error::Status(status, response)) => (status, response.into_string().unwrap()),
            Err(e) => panic!("{e}"),
        }
    };
    let token = client.token().to_owned();
    let (status, body) = post(&token);
    assert_eq!(status, 200);
    assert!(body.contains(r#""name":"tiny""#), "{body}");
    let (_, body) = post(served.session.token());
    assert!(
        body.contains("only answered inside a module's function"),
        "{body}"
    );
    drop(client);
    assert_eq!(post(&token).0, 401);
}
