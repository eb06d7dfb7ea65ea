//! `dagger.json`: a module's name, SDK, source path and what it loads, as
//! Dagger 0.21 reads it (../shared/dagger-modules.md §1.1).

use std::path::Path;

use serde::Deserialize;

use super::ModuleSourceError;

/// The Dagger engine version whose modules tanto runs; a module made for a
/// later minor version may use what tanto lacks, so it is refused.
pub const ENGINE_VERSION: &str = "v0.21.8";

/// The SDKs whose modules tanto runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Sdk {
    Python,
    TypeScript,
}

impl Sdk {
    pub fn name(self) -> &'static str {
        match self {
            Sdk::Python => "python",
            Sdk::TypeScript => "typescript",
        }
    }

    fn parse(source: &str, file: &Path) -> Result<Sdk, ModuleSourceError> {
        match source {
            "python" => Ok(Sdk::Python),
            "typescript" => Ok(Sdk::TypeScript),
            other => Err(ModuleSourceError::UnknownSdk {
                file: file.to_owned(),
                sdk: other.to_owned(),
            }),
        }
    }
}

/// `dagger.json` as written.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    name: Option<String>,
    engine_version: Option<String>,
    sdk: Option<RawSdk>,
    source: Option<String>,
    #[serde(default)]
    include: Vec<String>,
    /// Deprecated in favour of `!pattern` in `include`.
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    disable_default_function_caching: bool,
    #[serde(default)]
    dependencies: Vec<serde_json::Value>,
}

/// `"sdk": "python"` (legacy) or `"sdk": {"source": "python", …}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawSdk {
    Name(String),
    Object { source: String },
}

/// What `dagger.json` says, checked.
#[derive(Clone, Debug)]
pub struct Config {
    pub name: String,
    pub sdk: Sdk,
    /// The SDK source directory, relative to `dagger.json`'s directory.
    pub source: String,
    /// Extra patterns to load; `!pattern` excludes.
    pub include: Vec<String>,
    pub engine_version: Option<String>,
    pub disable_default_function_caching: bool,
}

impl Config {
    pub fn read(file: &Path) -> Result<Config, ModuleSourceError> {
        let text = std::fs::read_to_string(file).map_err(|source| ModuleSourceError::Read {
            file: file.to_owned(),
            source,
        })?;
        let raw: Raw = serde_json::from_str(&text).map_err(|e| ModuleSourceError::Invalid {
            file: file.to_owned(),
            reason: e.to_string(),
        })?;
        let invalid = |reason: &str| ModuleSourceError::Invalid {
            file: file.to_owned(),
            reason: reason.to_owned(),
        };
        let name = raw
            .name
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| invalid("it has no \"name\""))?;
        let sdk = match raw.sdk {
            Some(RawSdk::Name(source)) | Some(RawSdk::Object { source }) => {
                Sdk::parse(&source, file)?
            }
            None => {
                return Err(invalid(
                    "it has no \"sdk\": tanto runs modules with an SDK; add \"sdk\": {\"source\": \"python\"} (or typescript), or run `tanto develop --sdk=python`",
                ))
            }
        };
        if !raw.dependencies.is_empty() {
            return Err(invalid(
                "it has \"dependencies\": tanto does not run modules with dependencies yet",
            ));
        }
        if let Some(version) = &raw.engine_version {
            check_engine_version(version).map_err(|reason| invalid(&reason))?;
        }
        let source = raw.source.unwrap_or_else(|| ".".to_owned());
        if Path::new(&source).is_absolute() || source.split('/').any(|part| part == "..") {
            return Err(invalid(&format!(
                "its \"source\" {source:?} must be a path inside the module's directory"
            )));
        }
        let mut include = raw.include;
        include.extend(raw.exclude.into_iter().map(|p| format!("!{p}")));
        Ok(Config {
            name,
            sdk,
            source,
            include,
            engine_version: raw.engine_version,
            disable_default_function_caching: raw.disable_default_function_caching,
        })
    }
}

/// `vX.Y.Z`: refused when newer than the engine tanto speaks for.
fn check_engine_version(version: &str) -> Result<(), String> {
    let parse = |v: &str| -> Option<(u64, u64)> {
        let mut parts = v.trim_start_matches('v').split(['.', '-']);
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    };
    let (Some(wanted), Some(known)) = (parse(version), parse(ENGINE_VERSION)) else {
        return Err(format!(
            "its \"engineVersion\" {version:?} is not a version like {ENGINE_VERSION}"
        ));
    };
    if wanted > known {
        return Err(format!(
            "it asks for Dagger engine {version}; tanto runs modules made for {ENGINE_VERSION} and earlier"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Config, ModuleSourceError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dagger.json");
        std::fs::write(&file, text).unwrap();
        Config::read(&file)
    }

    #[test]
    fn both_sdk_forms_and_the_defaults_are_read() {
        let config =
            read(r#"{"name": "my-mod", "engineVersion": "v0.21.8", "sdk": {"source": "python"}}"#)
                .unwrap();
        assert_eq!((config.name.as_str(), config.sdk), ("my-mod", Sdk::Python));
        assert_eq!(config.source, ".");
        assert!(!config.disable_default_function_caching);
        let config = read(
            r#"{"name": "m", "sdk": "typescript", "source": ".dagger", "exclude": ["x"], "include": ["y"], "disableDefaultFunctionCaching": true}"#,
        )
        .unwrap();
        assert_eq!(config.sdk, Sdk::TypeScript);
        assert_eq!(config.source, ".dagger");
        assert_eq!(config.include, ["y", "!x"]);
        assert!(config.disable_default_function_caching);
    }

    #[test]
    fn what_tanto_cannot_run_is_refused_saying_why() {
        let error = |text| read(text).unwrap_err().to_string();
        assert!(error(r#"{"name": "m", "sdk": "rust"}"#).contains("\"rust\""));
        assert!(error(r#"{"name": "m", "sdk": "go"}"#).contains("python and typescript"));
        assert!(error(r#"{"sdk": "python"}"#).contains("no \"name\""));
        assert!(error(r#"{"name": "m"}"#).contains("no \"sdk\""));
        assert!(
            error(r#"{"name": "m", "sdk": "python", "engineVersion": "v0.22.0"}"#)
                .contains("v0.21.8 and earlier")
        );
        assert!(error(r#"{"name": "m", "sdk": "python", "source": "../x"}"#).contains("inside"));
        assert!(error("{not json").contains("dagger.json"));
    }
}
