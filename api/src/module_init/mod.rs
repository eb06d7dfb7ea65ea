//! The files `dagger init` and `dagger develop` make for a new module
//! (../shared/dagger-modules.md §1.3, §5.3), so that a module made by tanto
//! runs on Dagger and the other way round: `dagger.json`, and the SDK's
//! project with a main object and two example functions. Files that exist
//! are never overwritten.

mod generated;
mod python;
mod typescript;

use std::path::{Path, PathBuf};

pub use generated::{write_generated, GeneratedError};

use crate::module_source::{Sdk, ENGINE_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{} already has a dagger.json: it is a module already (`tanto develop` adds what is missing)", dir.display())]
    Exists { dir: PathBuf },
    #[error(
        "{} is not a usable module name: use letters, digits, `-` or `_`, starting with a letter",
        name
    )]
    BadName { name: String },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What to make.
pub struct Init {
    pub dir: PathBuf,
    pub name: String,
    pub sdk: Option<Sdk>,
    /// The SDK source directory, relative to `dir`; by default `.` for an
    /// empty directory, else `.dagger` (as Dagger chooses).
    pub source: Option<String>,
}

/// Makes a new module; the files written, relative to its directory.
pub fn init(request: &Init) -> Result<Vec<String>, InitError> {
    let dir = &request.dir;
    if dir.join("dagger.json").exists() {
        return Err(InitError::Exists { dir: dir.clone() });
    }
    let name = &request.name;
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(InitError::BadName { name: name.clone() });
    }
    let source = match (&request.source, request.sdk) {
        (Some(source), _) => source.trim_end_matches('/').to_owned(),
        (None, Some(_)) if !is_empty(dir) => ".dagger".to_owned(),
        (None, _) => ".".to_owned(),
    };
    let mut config = serde_json::json!({"name": name, "engineVersion": ENGINE_VERSION});
    if let Some(sdk) = request.sdk {
        config["sdk"] = serde_json::json!({"source": sdk.name()});
        if source != "." {
            config["source"] = serde_json::Value::String(source.clone());
        }
    }
    let mut files = vec![(
        "dagger.json".to_owned(),
        format!(
            "{}\n",
            serde_json::to_string_pretty(&config).expect("JSON encodes")
        ),
    )];
    let prefix = |path: &str| {
        if source == "." {
            path.to_owned()
        } else {
            format!("{source}/{path}")
        }
    };
    let sdk_files = match request.sdk {
        Some(Sdk::Python) => python::files(name),
        Some(Sdk::TypeScript) => typescript::files(name),
        None => Vec::new(),
    };
    files.extend(sdk_files.into_iter().map(|(p, t)| (prefix(&p), t)));
    write(dir, &files)
}

/// Writes the files that do not exist yet; which were written.
pub(crate) fn write(dir: &Path, files: &[(String, String)]) -> Result<Vec<String>, InitError> {
    let mut written = Vec::new();
    for (relative, text) in files {
        let path = dir.join(relative);
        if path.exists() {
            continue;
        }
        let error = |source| InitError::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(error)?;
        }
        std::fs::write(&path, text).map_err(error)?;
        written.push(relative.clone());
    }
    Ok(written)
}

/// Empty but for `dagger.json` and dot files, as Dagger counts it.
fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |entries| {
        entries.flatten().all(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with('.') || name == "dagger.json"
        })
    })
}

/// What `develop` adds to an existing module: the SDK's files it lacks.
pub fn develop(source: &crate::module_source::ModuleSource) -> Result<Vec<String>, InitError> {
    let files = match source.config.sdk {
        Sdk::Python => python::files(&source.config.name),
        Sdk::TypeScript => {
            let mut files = typescript::files(&source.config.name);
            // The example only where the module has no code yet.
            if crate::module_runtime::typescript::has_ts_files(&source.source_dir().join("src")) {
                files.retain(|(path, _)| path != "src/index.ts");
            }
            files
        }
    };
    write(&source.source_dir(), &files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_directory_gets_the_module_at_its_root_and_a_full_one_in_dot_dagger() {
        let empty = tempfile::tempdir().unwrap();
        let written = init(&Init {
            dir: empty.path().to_owned(),
            name: "my-mod".into(),
            sdk: Some(Sdk::Python),
            source: None,
        })
        .unwrap();
        assert!(
            written.contains(&"src/my_mod/main.py".to_owned()),
            "{written:?}"
        );
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(empty.path().join("dagger.json")).unwrap())
                .unwrap();
        assert_eq!(
            config,
            serde_json::json!({"name": "my-mod", "engineVersion": ENGINE_VERSION, "sdk": {"source": "python"}})
        );
        let found = crate::module_source::ModuleSource::find(empty.path()).unwrap();
        assert_eq!(found.main_object(), "MyMod");

        let full = tempfile::tempdir().unwrap();
        std::fs::write(full.path().join("README.md"), "hi").unwrap();
        init(&Init {
            dir: full.path().to_owned(),
            name: "ci".into(),
            sdk: Some(Sdk::Python),
            source: None,
        })
        .unwrap();
        assert!(full.path().join(".dagger/pyproject.toml").is_file());
        let again = init(&Init {
            dir: full.path().to_owned(),
            name: "ci".into(),
            sdk: None,
            source: None,
        });
        assert!(matches!(again, Err(InitError::Exists { .. })));
    }

    #[test]
    fn a_typescript_module_gets_its_package_and_an_example_only_without_code() {
        let dir = tempfile::tempdir().unwrap();
        let written = init(&Init {
            dir: dir.path().to_owned(),
            name: "my-mod".into(),
            sdk: Some(Sdk::TypeScript),
            source: None,
        })
        .unwrap();
        for file in [
            "package.json",
            "tsconfig.json",
            "src/index.ts",
            ".gitignore",
        ] {
            assert!(written.contains(&file.to_owned()), "{file}: {written:?}");
        }
        let index = std::fs::read_to_string(dir.path().join("src/index.ts")).unwrap();
        assert!(index.contains("export class MyMod"), "{index}");
        let tsconfig: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("tsconfig.json")).unwrap())
                .unwrap();
        assert_eq!(
            tsconfig["compilerOptions"]["paths"]["@dagger.io/dagger"],
            serde_json::json!(["./sdk/index.ts"])
        );

        std::fs::remove_file(dir.path().join("src/index.ts")).unwrap();
        std::fs::remove_file(dir.path().join("package.json")).unwrap();
        std::fs::write(dir.path().join("src/main.ts"), "").unwrap();
        let source = crate::module_source::ModuleSource::find(dir.path()).unwrap();
        assert_eq!(develop(&source).unwrap(), ["package.json"]);
    }

    #[test]
    fn a_bad_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let refused = init(&Init {
            dir: dir.path().to_owned(),
            name: "1 bad".into(),
            sdk: None,
            source: None,
        });
        assert!(matches!(refused, Err(InitError::BadName { .. })));
    }
}
