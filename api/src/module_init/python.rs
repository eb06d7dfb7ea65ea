//! A new Python module, laid out as Dagger's Python SDK lays it out: a uv
//! project whose `dagger-io` is the vendored `sdk/` (filled by the runtime,
//! ignored by git), with the main object in `src/<package>/main.py`.

use crate::module_runtime::python::package_name;
use crate::strcase::{to_camel, to_kebab};

/// (path relative to the SDK source directory, contents).
pub fn files(module_name: &str) -> Vec<(String, String)> {
    let main_object = to_camel(module_name);
    let project = to_kebab(&main_object);
    let package = package_name(module_name);
    let description = format!("A generated module for {main_object} functions");
    vec![
        (
            "pyproject.toml".to_owned(),
            format!(
                "[project]\n\
                 name = \"{project}\"\n\
                 version = \"0.1.0\"\n\
                 requires-python = \">=3.13\"\n\
                 dependencies = [\"dagger-io\"]\n\
                 \n\
                 [build-system]\n\
                 requires = [\"uv_build>=0.8.4,<0.9.0\"]\n\
                 build-backend = \"uv_build\"\n\
                 \n\
                 [tool.uv.sources]\n\
                 dagger-io = {{ path = \"sdk\", editable = true }}\n"
            ),
        ),
        (
            format!("src/{package}/__init__.py"),
            format!(
                "\"\"\"{description}\"\"\"\n\nfrom .main import {main_object} as {main_object}\n"
            ),
        ),
        (
            format!("src/{package}/main.py"),
            format!(
                r#""""{description}

Two functions to start from: one returns a container, one reads a
directory. Call them with `tanto call container-echo --string-arg=hi stdout`
or `tanto call grep-dir --directory-arg=. --pattern=TODO`.
"""

import dagger
from dagger import dag, function, object_type


@object_type
class {main_object}:
    @function
    def container_echo(self, string_arg: str) -> dagger.Container:
        """Returns a container that echoes whatever string argument is provided"""
        return dag.container().from_("alpine:latest").with_exec(["echo", string_arg])

    @function
    async def grep_dir(self, directory_arg: dagger.Directory, pattern: str) -> str:
        """Returns lines that match a pattern in the files of the provided Directory"""
        return await (
            dag.container()
            .from_("alpine:latest")
            .with_mounted_directory("/mnt", directory_arg)
            .with_workdir("/mnt")
            .with_exec(["grep", "-R", pattern, "."])
            .stdout()
        )
"#
            ),
        ),
        (
            ".gitignore".to_owned(),
            "/sdk\n/.venv\n/**/__pycache__\n".to_owned(),
        ),
        (
            ".gitattributes".to_owned(),
            "/sdk/** linguist-generated\n".to_owned(),
        ),
    ]
}
