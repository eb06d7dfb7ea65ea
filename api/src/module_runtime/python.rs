//! The Python module runtime: the container a Python module's functions
//! run in, built as Dagger's Python SDK builds it (dagger-modules.md §2.2)
//! but natively, from the module's `pyproject.toml`: a `python:X-slim`
//! base, uv with its cache volume, the module's source at
//! `/src/<digest>/<subpath>`, the vendored `sdk/` from the `dagger-io`
//! sdist when the project points at it, `uv sync` (or `uv pip install`
//! without a lock), and `/runtime`, which hands the nested session to the
//! SDK. The SDK library inside reads only `DAGGER_MODULE`,
//! `DAGGER_MAIN_OBJECT`, `DAGGER_DEFAULT_PYTHON_PACKAGE` and the session
//! variables.

use std::path::Path;

use engine::{Container, Directory, Engine, File};

use super::RuntimeError;
use crate::module_source::ModuleSource;
use crate::strcase;

/// The SDK library the runtime installs when the module vendors it.
pub const SDK_VERSION: &str = "0.21.11";
/// uv, as Dagger 0.21 bundles it.
pub const UV_VERSION: &str = "0.10.3";
/// The base image when the project does not choose one (Dagger pins
/// `python:3.14-slim`; 3.13 is what Debian trixie has, and the oldest the
/// SDK's template asks for is 3.10).
pub const DEFAULT_BASE_IMAGE: &str = "python:3.13-slim";

/// The Python image for modules that do not name one, instead of Docker
/// Hub's `python:X-slim`.
pub const PYTHON_IMAGE_ENV: &str = "TANTO_PYTHON_IMAGE";

/// The entrypoint: the SDK's module runtime, which registers when asked
/// for the empty function and calls the function asked for otherwise.
const RUNTIME_SCRIPT: &str = "#!/opt/venv/bin/python\n\
import sys\n\
from dagger.mod.cli import app\n\
sys.exit(app(None, \"--register\" in sys.argv))\n";

/// Fetches a package's sdist from the index (PEP 691's JSON API; the
/// index of `UV_INDEX_URL` or `PIP_INDEX_URL` when set), checks its
/// sha256, and unpacks it into a directory, less the SDK repository's
/// development tables: how the vendored `sdk/` is filled. Arguments:
/// name, version, directory.
const FETCH_SDIST: &str = r#"import hashlib, json, os, shutil, sys, tarfile, tempfile, urllib.request
name, version, dest = sys.argv[1:4]
index = os.environ.get("UV_INDEX_URL") or os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple"
request = urllib.request.Request(index.rstrip("/") + "/" + name + "/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
files = json.load(urllib.request.urlopen(request))["files"]
wanted = name.replace("-", "_") + "-" + version + ".tar.gz"
found = [f for f in files if f["filename"] == wanted]
if not found:
    sys.exit(f"{wanted} is not on {index}")
path, _ = urllib.request.urlretrieve(found[0]["url"])
digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
if digest != found[0]["hashes"]["sha256"]:
    sys.exit(f"{wanted}: sha256 {digest} is not the index's")
with tempfile.TemporaryDirectory() as unpacked:
    with tarfile.open(path) as archive:
        archive.extractall(unpacked, filter="data")
    (top,) = os.listdir(unpacked)
    shutil.rmtree(dest, ignore_errors=True)
    shutil.move(os.path.join(unpacked, top), dest)
# The SDK repository's own development setup (a uv workspace with its
# codegen tool) means nothing in a module, and uv refuses it there.
project = os.path.join(dest, "pyproject.toml")
kept, dropping = [], False
for line in open(project).read().splitlines(keepends=True):
    if line.startswith("["):
        dropping = line.strip() in ("[dependency-groups]", "[tool.uv.sources]", "[tool.uv.workspace]")
    if not dropping:
        kept.append(line)
open(project, "w").write("".join(kept))
"#;

/// What `pyproject.toml` (and `.python-version`) say about the runtime.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Project {
    /// `[tool.dagger] base-image`.
    base_image: Option<String>,
    /// `.python-version`, else `requires-python`'s `>=X` or `==X`.
    python_version: Option<String>,
    /// `[tool.uv.sources] dagger-io = { path = … }`: where the SDK is vendored.
    vendored_sdk: Option<String>,
    has_lock: bool,
}

impl Project {
    pub fn read(dir: &Path) -> Result<Project, RuntimeError> {
        let file = dir.join("pyproject.toml");
        let text = std::fs::read_to_string(&file).map_err(|e| RuntimeError::Project {
            reason: format!(
                "cannot read {}: {e}; a Python module needs one (`tanto develop --sdk=python` writes it)",
                file.display()
            ),
        })?;
        let toml: toml::Table = text.parse().map_err(|e| RuntimeError::Project {
            reason: format!("{} is not valid TOML: {e}", file.display()),
        })?;
        let has_python =
            dir.join("src").is_dir() && has_py_files(&dir.join("src")) || has_py_files(dir);
        if !has_python {
            return Err(RuntimeError::Project {
                reason: format!("no python files found in module source {}", dir.display()),
            });
        }
        let at = |path: &[&str]| -> Option<toml::Value> {
            let mut value = toml.get(path[0])?.clone();
            for key in &path[1..] {
                value = value.get(key)?.clone();
            }
            Some(value)
        };
        let python_version = std::fs::read_to_string(dir.join(".python-version"))
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .or_else(|| {
                let spec = at(&["project", "requires-python"])?;
                let spec = spec.as_str()?.trim();
                let version = spec
                    .strip_prefix(">=")
                    .or_else(|| spec.strip_prefix("=="))?
                    .split(',')
                    .next()?
                    .trim();
                Some(version.to_owned())
            });
        Ok(Project {
            base_image: at(&["tool", "dagger", "base-image"])
                .and_then(|v| v.as_str().map(str::to_owned)),
            python_version,
            vendored_sdk: at(&["tool", "uv", "sources", "dagger-io", "path"])
                .and_then(|v| v.as_str().map(str::to_owned)),
            has_lock: dir.join("uv.lock").is_file(),
        })
    }

    /// Where the project vendors the SDK (`sdk`), if it does.
    fn sdk_dir(&self) -> Option<&str> {
        self.vendored_sdk
            .as_deref()
            .map(|path| path.trim_end_matches('/'))
    }

    /// `[tool.dagger] base-image`; else `$TANTO_PYTHON_IMAGE` (for
    /// machines that reach no Docker Hub: a mirror's or a local image);
    /// else `python:X-slim` for the version the project asks for.
    pub fn base_image(&self) -> String {
        self.base_image_with(std::env::var(PYTHON_IMAGE_ENV).ok())
    }

    fn base_image_with(&self, instead_of_docker_hub: Option<String>) -> String {
        let instead = instead_of_docker_hub.filter(|image| !image.trim().is_empty());
        match (&self.base_image, instead, &self.python_version) {
            (Some(image), _, _) => image.clone(),
            (None, Some(image), _) => image,
            (None, None, Some(version)) => format!("python:{version}-slim"),
            (None, None, None) => DEFAULT_BASE_IMAGE.to_owned(),
        }
    }
}

fn has_py_files(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            let name = entry.file_name();
            name != "sdk" && name != ".venv" && has_py_files(&path)
        } else {
            path.extension().is_some_and(|e| e == "py")
        }
    })
}

/// The Python package the SDK imports the main object from: `my-mod` →
/// `my_mod`.
pub fn package_name(module_name: &str) -> String {
    strcase::to_kebab(&strcase::to_camel(module_name)).replace('-', "_")
}

/// The runtime container of `source`, whose uploaded context directory is
/// `context` with implementation digest `digest`; a function call execs
/// its entrypoint in `/scratch`.
pub fn runtime(
    engine: &Engine,
    source: &ModuleSource,
    context: &Directory,
    digest: &str,
) -> Result<Container, RuntimeError> {
    let project = Project::read(&source.source_dir())?;
    let sdk = project.sdk_dir();
    let runtime = prepared(
        engine,
        &project,
        context,
        digest,
        &super::module_dir(source, digest),
    );
    let runtime = if project.has_lock {
        runtime
            .with_exec(["uv", "lock"])
            .with_exec(["uv", "sync", "--no-dev"])
    } else {
        let pinned = format!("dagger-io=={SDK_VERSION}");
        let mut install = vec!["uv", "pip", "install", "--python", "/opt/venv/bin/python"];
        match sdk {
            Some(sdk) => install.extend(["-e", sdk]),
            // The SDK speaks one version of the protocol: never PyPI's
            // latest when the project leaves it open.
            None => install.push(&pinned),
        }
        install.extend(["-e", "."]);
        runtime
            .with_exec(["uv", "venv", "/opt/venv"])
            .with_exec(install)
    };
    let name = &source.config.name;
    let runtime = runtime
        .with_env_variable("VIRTUAL_ENV", "/opt/venv", false)
        .with_env_variable("PATH", "/opt/venv/bin:${PATH}", true)
        .with_env_variable("DAGGER_MODULE", name, false)
        .with_env_variable("DAGGER_DEFAULT_PYTHON_PACKAGE", &package_name(name), false)
        .with_env_variable("DAGGER_MAIN_OBJECT", &source.main_object(), false)
        .with_new_file("/runtime", RUNTIME_SCRIPT, 0o755);
    Ok(super::entered(engine, runtime, ["/runtime"]))
}

/// What `dagger develop` writes back into a Python module: the vendored
/// SDK (when the project vendors it) and a fresh `uv.lock`.
pub struct Generated {
    /// The vendored SDK's path in the module, and its contents.
    pub sdk: Option<(String, Directory)>,
    pub lock: File,
}

/// The files `tanto develop` writes for `source` (see [`Generated`]).
pub fn generated(
    engine: &Engine,
    source: &ModuleSource,
    context: &Directory,
    digest: &str,
) -> Result<Generated, RuntimeError> {
    let project = Project::read(&source.source_dir())?;
    let mod_dir = super::module_dir(source, digest);
    let locked = prepared(engine, &project, context, digest, &mod_dir).with_exec(["uv", "lock"]);
    Ok(Generated {
        sdk: project.sdk_dir().map(|sdk| {
            (
                sdk.to_owned(),
                locked.directory(&format!("{mod_dir}/{sdk}")),
            )
        }),
        lock: locked.file(&format!("{mod_dir}/uv.lock")),
    })
}

/// The base image with uv, the module's source at `mod_dir` (its working
/// directory) and the vendored SDK filled.
fn prepared(
    engine: &Engine,
    project: &Project,
    context: &Directory,
    digest: &str,
    mod_dir: &str,
) -> Container {
    let uv_cache = engine.cache_volume("modpython-uv");
    let pip_cache = engine.cache_volume("modpython-pip");
    let prepared = engine
        .container()
        .from(&project.base_image())
        .with_env_variable("PYTHONUNBUFFERED", "1", false)
        .with_env_variable("PIP_DISABLE_PIP_VERSION_CHECK", "1", false)
        .with_env_variable("PIP_ROOT_USER_ACTION", "ignore", false)
        .with_env_variable("UV_SYSTEM_PYTHON", "1", false)
        .with_env_variable("UV_LINK_MODE", "copy", false)
        .with_env_variable("UV_NATIVE_TLS", "1", false)
        .with_env_variable("UV_PROJECT_ENVIRONMENT", "/opt/venv", false)
        .with_env_variable("UV_COMPILE_BYTECODE", "1", false)
        .with_mounted_cache("/root/.cache/uv", &uv_cache, engine::Sharing::Shared)
        .with_mounted_cache("/root/.cache/pip", &pip_cache, engine::Sharing::Shared)
        // uv from its PyPI wheel, in a venv of its own.
        .with_exec(["python3", "-m", "venv", "/opt/tanto-uv"])
        .with_exec([
            "/opt/tanto-uv/bin/pip",
            "install",
            &format!("uv=={UV_VERSION}"),
        ])
        .with_exec(["ln", "-sf", "/opt/tanto-uv/bin/uv", "/usr/local/bin/uv"])
        .with_directory(&format!("/src/{digest}"), context, &[], &[])
        .with_workdir(mod_dir);
    match project.sdk_dir() {
        // The sdist's layout (pyproject.toml + src/dagger) is `sdk/`'s.
        Some(sdk) => prepared
            .with_new_file("/tmp/tanto-fetch-sdist.py", FETCH_SDIST, 0o644)
            .with_exec([
                "python3",
                "/tmp/tanto-fetch-sdist.py",
                "dagger-io",
                SDK_VERSION,
                sdk,
            ]),
        None => prepared,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> Result<Project, RuntimeError> {
        Project::read(crate::module_runtime::project_dir(files).path())
    }

    #[test]
    fn the_base_image_is_chosen_as_dagger_chooses_it() {
        let main = ("src/m/__init__.py", "");
        let read = |pyproject: &str| project(&[("pyproject.toml", pyproject), main]).unwrap();
        assert_eq!(
            read("[project]\nname = \"m\"\n").base_image(),
            DEFAULT_BASE_IMAGE
        );
        assert_eq!(
            read("[project]\nrequires-python = \">=3.12\"\n").base_image(),
            "python:3.12-slim"
        );
        assert_eq!(
            read("[project]\nrequires-python = \">=3.11\"\n[tool.dagger]\nbase-image = \"reg/py:x\"\n")
                .base_image(),
            "reg/py:x"
        );
        let pinned = project(&[
            (
                "pyproject.toml",
                "[project]\nrequires-python = \">=3.11\"\n",
            ),
            (".python-version", "3.12\n"),
            main,
        ])
        .unwrap();
        assert_eq!(pinned.base_image(), "python:3.12-slim");
        let chosen = read("[project]\nrequires-python = \">=3.12\"\n");
        assert_eq!(
            chosen.base_image_with(Some("mirror/py:3".into())),
            "mirror/py:3"
        );
        let named = read("[tool.dagger]\nbase-image = \"reg/py:x\"\n");
        assert_eq!(
            named.base_image_with(Some("mirror/py:3".into())),
            "reg/py:x"
        );
        let vendored = read("[tool.uv.sources]\ndagger-io = { path = \"sdk\", editable = true }\n");
        assert_eq!(vendored.vendored_sdk.as_deref(), Some("sdk"));
    }

    #[test]
    fn a_project_without_pyproject_or_python_files_is_refused() {
        let error = project(&[("src/m/__init__.py", "")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("pyproject.toml"), "{error}");
        let error = project(&[("pyproject.toml", "")]).unwrap_err().to_string();
        assert!(error.contains("no python files"), "{error}");
    }

    #[test]
    fn the_package_is_named_as_the_sdk_imports_it() {
        assert_eq!(package_name("my-mod"), "my_mod");
        assert_eq!(package_name("tiny"), "tiny");
        assert_eq!(package_name("HTTPTools"), "httptools");
    }
}
