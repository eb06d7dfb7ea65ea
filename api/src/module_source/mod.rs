//! Where a module's source is and what of it is loaded, as Dagger finds it
//! (../shared/dagger-modules.md §1.2): `dagger.json` found upwards from the
//! working directory (the source root), the context directory up to the
//! repository's `.git`, the files uploaded (`dagger.json`, the SDK source,
//! `include`, less what `.gitignore` ignores), and the implementation
//! digest that registration and function results are cached by.

mod config;
mod gitignore;

use std::path::{Path, PathBuf};

pub use config::{Config, Sdk, ENGINE_VERSION};

use crate::strcase;

#[derive(Debug, thiserror::Error)]
pub enum ModuleSourceError {
    #[error("no dagger.json in {} or any directory above it: run `tanto init --sdk=python` (or typescript) to make a module there, or pass -m PATH", start.display())]
    NotFound { start: PathBuf },
    #[error("cannot read {}: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a module tanto can load: {reason}", file.display())]
    Invalid { file: PathBuf, reason: String },
    #[error("{}: unknown SDK {sdk:?}: tanto runs python and typescript modules (go modules are not supported yet)", file.display())]
    UnknownSdk { file: PathBuf, sdk: String },
}

/// A module on the host, found and read.
#[derive(Clone, Debug)]
pub struct ModuleSource {
    pub config: Config,
    /// The directory of `dagger.json`.
    pub root: PathBuf,
    /// Where the repository starts (its `.git`), else `root`.
    pub context: PathBuf,
}

impl ModuleSource {
    /// The module whose `dagger.json` is in `start` or the nearest
    /// directory above it (`start` may name the file itself).
    pub fn find(start: &Path) -> Result<ModuleSource, ModuleSourceError> {
        let start = std::path::absolute(start).unwrap_or_else(|_| start.to_owned());
        let first = if start.file_name().is_some_and(|n| n == "dagger.json") {
            start.parent().map(Path::to_owned).unwrap_or_default()
        } else {
            start.clone()
        };
        let root = first
            .ancestors()
            .find(|dir| dir.join("dagger.json").is_file())
            .ok_or(ModuleSourceError::NotFound {
                start: start.clone(),
            })?
            .to_owned();
        let config = Config::read(&root.join("dagger.json"))?;
        let context = root
            .ancestors()
            .find(|dir| dir.join(".git").exists())
            .unwrap_or(&root)
            .to_owned();
        Ok(ModuleSource {
            config,
            root,
            context,
        })
    }

    /// The main object's name: `my-mod` → `MyMod`.
    pub fn main_object(&self) -> String {
        strcase::to_camel(&self.config.name)
    }

    /// The field of `Query` that constructs the main object: `myMod`.
    pub fn constructor_field(&self) -> String {
        strcase::to_lower_camel(&self.config.name)
    }

    /// The module's root, relative to the context directory (`""` when
    /// they are the same).
    pub fn root_subpath(&self) -> String {
        relative(&self.root, &self.context)
    }

    /// The SDK source, relative to the context directory.
    pub fn source_subpath(&self) -> String {
        join(&self.root_subpath(), &self.config.source)
    }

    /// The SDK source directory on the host.
    pub fn source_dir(&self) -> PathBuf {
        self.context.join(self.source_subpath())
    }

    /// What of the context directory is uploaded, as include and exclude
    /// patterns relative to it: `dagger.json`, the SDK source and the
    /// module's `include` list, less what `.gitignore` files ignore.
    pub fn upload_patterns(&self) -> (Vec<String>, Vec<String>) {
        let root = self.root_subpath();
        let source = self.source_subpath();
        let mut include = vec![join(&root, "dagger.json")];
        include.push(if source.is_empty() {
            "**".to_owned()
        } else {
            source
        });
        let mut exclude = gitignore::patterns(&self.context);
        exclude.push(".git".to_owned());
        for pattern in &self.config.include {
            match pattern.strip_prefix('!') {
                Some(excluded) => exclude.push(join(&root, excluded)),
                None => include.push(join(&root, pattern)),
            }
        }
        (include, exclude)
    }

    /// What is uploaded (see [`upload_patterns`](Self::upload_patterns)),
    /// as a directory of `engine`, and the implementation digest.
    pub async fn upload(
        &self,
        engine: &engine::Engine,
    ) -> Result<(engine::Directory, String), engine::Error> {
        let (include, exclude) = self.upload_patterns();
        let include: Vec<&str> = include.iter().map(String::as_str).collect();
        let exclude: Vec<&str> = exclude.iter().map(String::as_str).collect();
        let context = engine.host().directory(&self.context, &include, &exclude);
        let content = context.digest().await?;
        let digest = self.implementation_digest(&content);
        Ok((context, digest))
    }

    /// The implementation digest: what the module's code is, from the
    /// content uploaded (`content_digest`) and how it is loaded. Editing
    /// any loaded file changes it, and with it every cached result.
    pub fn implementation_digest(&self, content_digest: &str) -> String {
        let mut hasher = blake3::Hasher::new();
        for part in [
            "tanto.module-implementation.v1",
            content_digest,
            &self.config.name,
            &self.root_subpath(),
            &self.source_subpath(),
            self.config.sdk.name(),
        ]
        .into_iter()
        .chain(self.config.include.iter().map(String::as_str))
        {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        hasher.finalize().to_hex().to_string()
    }
}

fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `a` then `b`, `/`-joined, `.` and empty parts dropped.
fn join(a: &str, b: &str) -> String {
    a.split('/')
        .chain(b.split('/'))
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(dir: &Path, json: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("dagger.json"), json).unwrap();
    }

    #[test]
    fn found_upwards_with_its_context_at_the_repository() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir(repo.path().join(".git")).unwrap();
        let root = repo.path().join("ci");
        module(
            &root,
            r#"{"name": "my-mod", "sdk": {"source": "python"}, "source": ".dagger", "include": ["extra", "!extra/big"]}"#,
        );
        std::fs::create_dir_all(root.join("deep/er")).unwrap();
        let found = ModuleSource::find(&root.join("deep/er")).unwrap();
        assert_eq!(found.root, root);
        assert_eq!(found.context, repo.path());
        assert_eq!(found.main_object(), "MyMod");
        assert_eq!(found.constructor_field(), "myMod");
        assert_eq!(found.source_subpath(), "ci/.dagger");
        assert_eq!(found.source_dir(), root.join(".dagger"));
        let (include, exclude) = found.upload_patterns();
        assert_eq!(include, ["ci/dagger.json", "ci/.dagger", "ci/extra"]);
        assert!(exclude.contains(&"ci/extra/big".to_owned()), "{exclude:?}");
        assert!(exclude.contains(&".git".to_owned()));
    }

    #[test]
    fn without_a_repository_the_root_is_the_context() {
        let dir = tempfile::tempdir().unwrap();
        module(dir.path(), r#"{"name": "tiny", "sdk": "python"}"#);
        let found = ModuleSource::find(&dir.path().join("dagger.json")).unwrap();
        assert_eq!(found.context, dir.path());
        assert_eq!(found.source_subpath(), "");
        assert_eq!(found.upload_patterns().0, ["dagger.json", "**"]);
    }

    #[test]
    fn the_digest_changes_with_the_content_and_the_loading() {
        let dir = tempfile::tempdir().unwrap();
        module(dir.path(), r#"{"name": "tiny", "sdk": "python"}"#);
        let found = ModuleSource::find(dir.path()).unwrap();
        let one = found.implementation_digest("sha256:1");
        assert_eq!(one, found.implementation_digest("sha256:1"));
        assert_ne!(one, found.implementation_digest("sha256:2"));
        let mut renamed = found.clone();
        renamed.config.name = "other".into();
        assert_ne!(one, renamed.implementation_digest("sha256:1"));
    }

    #[test]
    fn no_module_says_where_it_looked_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let error = ModuleSource::find(dir.path()).unwrap_err().to_string();
        assert!(error.contains(&dir.path().display().to_string()), "{error}");
        assert!(error.contains("tanto init"), "{error}");
    }
}
