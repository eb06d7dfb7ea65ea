//! Dagger modules run unmodified by `tanto call` and `tanto functions`, as
//! the unprivileged test user: a Python module on the published SDK, its
//! runtime built from a Python image served by the local registry, its
//! dependencies from PyPI (through this machine's TLS proxy, trusted the
//! way the host trusts it).

use crate::support;

use support::fixtures;
use support::registry::Registry;
use support::tanto::Tanto;

/// The Python image and the busybox image the functions use.
fn images() -> &'static (Registry, String, String) {
    support::modules::images(fixtures::serve_python_slim)
}

/// A Python module `tiny` in the test user's home, at `~/tiny`.
pub(crate) fn tiny_module(tanto: &Tanto) {
    let (_, python, busybox) = images();
    support::modules::tiny_dagger_json(tanto, "python");
    tanto.write_home_file(
        "tiny/pyproject.toml",
        &format!(
            r#"[project]
name = "tiny"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["{sdk}"]

[build-system]
requires = ["uv_build>=0.8.4,<0.9.0"]
build-backend = "uv_build"

[tool.dagger]
base-image = "{python}"
"#,
            sdk = fixtures::PYTHON_SDK
        ),
    );
    tanto.write_home_file(
        "tiny/src/tiny/__init__.py",
        "\"\"\"A tiny module\"\"\"\n\nfrom .main import Tiny as Tiny\n",
    );
    tanto.write_home_file(
        "tiny/src/tiny/main.py",
        &format!(
            r#"from typing import Annotated

import dagger
from dagger import DefaultPath, Ignore, dag, field, function, object_type

BUSYBOX = "{busybox}"


@object_type
class Tiny:
    greeting: str = field(default="Hello")

    @function
    def hello(self, name: str) -> str:
        """Say hello"""
        return f"{{self.greeting}}, {{name}}!"

    @function
    def build(self, src: dagger.Directory) -> dagger.Container:
        """Mount src in a container"""
        return dag.container().from_(BUSYBOX).with_directory("/src", src).with_workdir("/src")

    @function
    async def own_files(
        self, src: Annotated[dagger.Directory, DefaultPath("."), Ignore(["src"])]
    ) -> list[str]:
        """The module's own files, by default"""
        return await src.entries()

    @function
    def copy(self, src: dagger.Directory) -> dagger.Directory:
        """A copy of src, under copied/"""
        return dag.directory().with_directory("copied", src)

    @function
    async def secret_length(self, token: dagger.Secret) -> int:
        """How long a secret is"""
        return len(await token.plaintext())

    @function
    def roll(self) -> str:
        """A random number, cached"""
        import random
        return str(random.random())

    @function(cache="never")
    def roll_again(self) -> str:
        """A random number, never cached"""
        import random
        return str(random.random())

    @function
    def serve(self) -> dagger.Service:
        """An httpd"""
        return (
            dag.container()
            .from_(BUSYBOX)
            .with_new_file("/www/index.html", "served by a module\n")
            .with_exposed_port(80)
            .as_service(args=["busybox", "httpd", "-f", "-p", "80", "-h", "/www"])
        )

    @function
    def fail(self) -> str:
        """Raises"""
        raise ValueError("out of tea")

    @function
    async def hang(self) -> str:
        """Never ends"""
        return await dag.container().from_(BUSYBOX).with_exec(["sleep", "1004"]).stdout()

    @function
    async def failing_exec(self) -> str:
        """Runs a step that fails"""
        return await dag.container().from_(BUSYBOX).with_exec(["sh", "-c", "echo bad >&2; exit 7"]).stdout()
"#
        ),
    );
}

#[test]
fn a_python_module_runs_unmodified_under_tanto_call() {
    let mut tanto = Tanto::new();
    tiny_module(&tanto);

    support::modules::check_tiny(
        &tanto,
        &[
            ("build", "Mount src in a container"),
            ("hello", "Say hello"),
            ("secret-length", "How long a secret is"),
        ],
    );

    // A Directory's entries through the Container the function returned.
    let entries = tanto.run(&[
        "call",
        "-m",
        "tiny",
        "build",
        "--src=tiny",
        "directory",
        "--path=/src",
        "entries",
    ]);
    assert!(entries.success, "{}", entries.stderr);
    assert!(
        entries.stdout.lines().any(|l| l == "pyproject.toml"),
        "{}",
        entries.stdout
    );

    // A Directory left out is the module's `defaultPath`, less `ignore`.
    let own = tanto.run(&["call", "-m", "tiny", "own-files"]);
    assert!(own.success, "{}", own.stderr);
    let own: Vec<&str> = own.stdout.lines().collect();
    assert!(
        own.contains(&"dagger.json") && own.contains(&"pyproject.toml"),
        "{own:?}"
    );
    assert!(!own.contains(&"src"), "{own:?}");

    tanto.env("TINY_TOKEN", support::modules::TINY_TOKEN);
    support::modules::check_secret(&tanto);

    // Registered once per version of the code: kept in the store, and
    // made anew when a file of the module changes.
    let registrations = |tanto: &Tanto| -> usize {
        let du = tanto.ok(&["du", "--json", "--verbose"]).stdout;
        du.matches("module tiny: its registered types").count()
    };
    assert_eq!(registrations(&tanto), 1);
    let main = tanto.home().join("tiny/src/tiny/main.py");
    let code = std::fs::read_to_string(&main).unwrap();
    tanto.write_home_file(
        "tiny/src/tiny/main.py",
        &code.replace(
            "    @function\n    def fail(self)",
            "    @function\n    def bye(self) -> str:\n        \"\"\"Say bye\"\"\"\n        return \"bye\"\n\n    @function\n    def fail(self)",
        ),
    );
    let bye = tanto.run(&["call", "-m", "tiny", "bye"]);
    assert_eq!(bye.stdout, "bye\n", "{}", bye.stderr);
    assert_eq!(registrations(&tanto), 2);

    // Bad input says what is valid.
    let nothing = tanto.run(&["call", "-m", "tiny"]);
    assert!(!nothing.success);
    assert!(
        nothing.stderr.contains("name a function of Tiny"),
        "{}",
        nothing.stderr
    );
    let unknown = tanto.run(&["call", "-m", "tiny", "helo"]);
    assert!(unknown.stderr.contains("hello"), "{}", unknown.stderr);
    let missing = tanto.run(&["call", "-m", "tiny", "hello"]);
    assert!(
        missing.stderr.contains("needs --name"),
        "{}",
        missing.stderr
    );
}

#[test]
fn without_a_module_tanto_call_says_where_it_looked() {
    let tanto = Tanto::new();
    let run = tanto.run(&["call", "hello"]);
    assert!(!run.success);
    assert!(run.stderr.contains("no dagger.json"), "{}", run.stderr);
    assert!(run.stderr.contains("tanto init"), "{}", run.stderr);
}

#[test]
fn a_module_made_by_tanto_init_registers_and_tanto_develop_writes_its_sdk_and_lock() {
    let tanto = Tanto::new();
    let init = tanto.run(&["init", "--sdk=python", "--name=my-starter", "starter"]);
    assert!(init.success, "{}", init.stderr);
    assert!(
        init.stderr.contains("Initialized module my-starter"),
        "{}",
        init.stderr
    );
    let pyproject = tanto.home().join("starter/pyproject.toml");
    let text = std::fs::read_to_string(&pyproject).unwrap();
    assert!(text.contains("dagger-io = { path = \"sdk\""), "{text}");
    // This machine reaches no Docker Hub: the base image is the local one.
    tanto.write_home_file(
        "starter/pyproject.toml",
        &format!("{text}\n[tool.dagger]\nbase-image = \"{}\"\n", images().1),
    );
    let again = tanto.run(&["init", "--sdk=python", "starter"]);
    assert!(again.stderr.contains("already"), "{}", again.stderr);

    let functions = tanto.run(&["functions", "-m", "starter"]);
    assert!(functions.success, "{}", functions.stderr);
    assert!(
        functions.stdout.contains("container-echo"),
        "{}",
        functions.stdout
    );
    assert!(
        functions.stdout.contains("grep-dir"),
        "{}",
        functions.stdout
    );

    // `tanto develop` writes what the runtime generates, as the user's
    // own files; the module then runs from its lock.
    let develop = tanto.run(&["develop", "-m", "starter"]);
    assert!(develop.success, "{}", develop.stderr);
    let starter = tanto.home().join("starter");
    let sdk_project = std::fs::read_to_string(starter.join("sdk/pyproject.toml")).unwrap();
    assert!(sdk_project.contains("dagger-io"), "{sdk_project}");
    let lock = std::fs::read_to_string(starter.join("uv.lock")).unwrap();
    assert!(lock.contains("name = \"dagger-io\""), "{lock}");
    for path in [starter.join("uv.lock"), starter.join("sdk/pyproject.toml")] {
        let owner = std::os::unix::fs::MetadataExt::uid(&path.metadata().unwrap());
        assert_eq!(owner, tanto.run_as.uid, "{}", path.display());
    }
    let locked = tanto.run(&["functions", "-m", "starter"]);
    assert!(locked.success, "{}", locked.stderr);
    assert!(locked.stderr.contains("uv sync"), "{}", locked.stderr);
    assert!(locked.stdout.contains("grep-dir"), "{}", locked.stdout);
}

#[test]
fn ctrl_c_during_a_function_leaves_no_process_or_mount() {
    let tanto = Tanto::new();
    tiny_module(&tanto);
    let mut command = tanto.command(&["call", "-m", "tiny", "hang"]);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let child = command.spawn().unwrap();
    let status = support::interrupt::ctrl_c_leaves_nothing(&tanto, child, "sleep 1004", 1);
    assert!(!status.success());
}
