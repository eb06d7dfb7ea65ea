//! What a TypeScript module's `package.json` and `tsconfig.json` say about
//! its runtime, read as Dagger's TypeScript SDK reads them
//! (dagger-modules.md §2.3), and the two files as the runtime needs them.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::{DEFAULT_BASE_IMAGE, NODE_IMAGE_ENV, TYPESCRIPT_VERSION};
use crate::module_runtime::RuntimeError;

/// The package managers a module's dependencies are installed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PackageManager {
    Npm,
    /// Yarn classic (1.x), at this version.
    Yarn(String),
    Pnpm(String),
}

/// Yarn and pnpm when the lockfile names them and `packageManager` does
/// not pin a version (Dagger's defaults).
const YARN_VERSION: &str = "1.22.22";
const PNPM_VERSION: &str = "8.15.4";

#[derive(Debug)]
pub struct Project {
    /// `package.json`, if the module has one.
    package: Option<Map<String, Value>>,
    /// `tsconfig.json` with its comments and trailing commas gone.
    tsconfig: Option<Map<String, Value>>,
    pub package_manager: PackageManager,
}

impl Project {
    pub fn read(dir: &Path) -> Result<Project, RuntimeError> {
        let refuse = |reason: String| RuntimeError::Project { reason };
        if !has_ts_files(&dir.join("src")) {
            return Err(refuse(format!(
                "no TypeScript files found in {}: a TypeScript module keeps its code in src/ (`tanto develop` writes src/index.ts)",
                dir.join("src").display()
            )));
        }
        let package = read_json(&dir.join("package.json"), false)?;
        let tsconfig = read_json(&dir.join("tsconfig.json"), true)?;
        let has = |name: &str| dir.join(name).is_file();
        let field = |name: &str| {
            package
                .as_ref()
                .and_then(|p| p.get(name))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let runtime = package
            .as_ref()
            .and_then(|p| p.get("dagger"))
            .and_then(|d| d.get("runtime"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let bun = has("bun.lock") || has("bun.lockb");
        let node_lock = has("package-lock.json") || has("yarn.lock") || has("pnpm-lock.yaml");
        let other = match runtime.split('@').next().unwrap_or("") {
            "" if bun => Some("bun"),
            "" if !node_lock && (has("deno.json") || has("deno.lock")) => Some("deno"),
            "" | "node" => None,
            other => Some(other),
        };
        if let Some(other) = other {
            return Err(refuse(format!(
                "the module runs on {other}: tanto runs TypeScript modules on Node.js only (set \"dagger\": {{\"runtime\": \"node\"}} in package.json)"
            )));
        }
        let package_manager = match field("packageManager") {
            Some(pinned) => {
                let (name, version) = pinned.split_once('@').unwrap_or((pinned, ""));
                // A corepack pin may carry a hash: yarn@1.22.22+sha512.…
                let version = version.split('+').next().unwrap_or("").to_owned();
                if version.is_empty() {
                    return Err(refuse(format!(
                        "package.json's packageManager {pinned:?} has no version: add one (npm@10.9.0)"
                    )));
                }
                match name {
                    "npm" => PackageManager::Npm,
                    "yarn" if version.starts_with("1.") => PackageManager::Yarn(version),
                    "yarn" => {
                        return Err(refuse(format!(
                            "package.json asks for yarn {version}: tanto installs dependencies with npm, pnpm or yarn 1.x only"
                        )))
                    }
                    "pnpm" => PackageManager::Pnpm(version),
                    other => {
                        return Err(refuse(format!(
                            "package.json's packageManager {other:?} is not one tanto knows: use npm, yarn or pnpm"
                        )))
                    }
                }
            }
            None if has("package-lock.json") => PackageManager::Npm,
            None if has("yarn.lock") => PackageManager::Yarn(YARN_VERSION.to_owned()),
            None if has("pnpm-lock.yaml") => PackageManager::Pnpm(PNPM_VERSION.to_owned()),
            // Dagger defaults to yarn; npm comes with every Node.js image.
            None => PackageManager::Npm,
        };
        Ok(Project {
            package,
            tsconfig,
            package_manager,
        })
    }

    /// `package.json`'s `dagger.baseImage`; else `$TANTO_NODE_IMAGE` (for
    /// machines that reach no Docker Hub: a mirror's or a local image);
    /// else `node:<version>-slim` for `dagger.runtime: node@<version>`,
    /// else the default.
    pub fn base_image(&self) -> String {
        self.base_image_with(std::env::var(NODE_IMAGE_ENV).ok())
    }

    fn base_image_with(&self, instead_of_docker_hub: Option<String>) -> String {
        let dagger = self.package.as_ref().and_then(|p| p.get("dagger"));
        let at = |key: &str| {
            dagger
                .and_then(|d| d.get(key))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        if let Some(image) = at("baseImage") {
            return image.to_owned();
        }
        if let Some(image) = instead_of_docker_hub.filter(|image| !image.trim().is_empty()) {
            return image;
        }
        match at("runtime").and_then(|r| r.strip_prefix("node@")) {
            Some(version) if !version.is_empty() => format!("node:{version}-slim"),
            _ => DEFAULT_BASE_IMAGE.to_owned(),
        }
    }

    /// `package.json` as the runtime uses it, as Dagger rewrites it: an ES
    /// module, TypeScript among its dependencies, and no `@dagger.io/dagger`
    /// (the runtime provides the SDK).
    pub fn package_json(&self) -> Map<String, Value> {
        let mut package = self.package.clone().unwrap_or_default();
        package.insert("type".into(), json!("module"));
        for key in ["dependencies", "devDependencies"] {
            if let Some(Value::Object(deps)) = package.get_mut(key) {
                deps.remove("@dagger.io/dagger");
            }
        }
        let deps = package.entry("dependencies").or_insert_with(|| json!({}));
        if !deps.is_object() {
            *deps = json!({});
        }
        if let Value::Object(deps) = deps {
            deps.entry("typescript")
                .or_insert_with(|| json!(TYPESCRIPT_VERSION));
        }
        package
    }

    /// Whether the module needs its dependencies installed: anything
    /// besides the TypeScript the runtime already has.
    pub fn needs_install(&self) -> bool {
        let package = self.package_json();
        let Some(Value::Object(deps)) = package.get("dependencies") else {
            return false;
        };
        deps.iter()
            .any(|(name, version)| name != "typescript" || version != TYPESCRIPT_VERSION)
    }

    /// `tsconfig.json` as the runtime uses it: legacy decorators (the
    /// SDK's), and `@dagger.io/dagger` resolved to the runtime's `sdk/`.
    pub fn tsconfig_json(&self) -> Map<String, Value> {
        let mut tsconfig = self.tsconfig.clone().unwrap_or_else(|| {
            let default =
                json!({"compilerOptions": {"target": "ES2022", "moduleResolution": "Node"}});
            default.as_object().cloned().unwrap_or_default()
        });
        let options = object_at(&mut tsconfig, "compilerOptions");
        options.insert("experimentalDecorators".into(), json!(true));
        let paths = object_at(options, "paths");
        paths.insert("@dagger.io/dagger".into(), json!(["./sdk/index.ts"]));
        paths.insert(
            "@dagger.io/dagger/telemetry".into(),
            json!(["./sdk/telemetry.ts"]),
        );
        tsconfig
    }
}

/// The object under `key`, made (or replacing a non-object) if need be.
fn object_at<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let value = map.entry(key).or_insert_with(|| json!({}));
    if !value.is_object() {
        *value = json!({});
    }
    value.as_object_mut().expect("made an object above")
}

fn read_json(file: &Path, jsonc: bool) -> Result<Option<Map<String, Value>>, RuntimeError> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(RuntimeError::Project {
                reason: format!("cannot read {}: {e}", file.display()),
            })
        }
    };
    let text = if jsonc { plain_json(&text) } else { text };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(RuntimeError::Project {
            reason: format!("{} is not a JSON object", file.display()),
        }),
        Err(e) => Err(RuntimeError::Project {
            reason: format!("{} is not valid JSON: {e}", file.display()),
        }),
    }
}

/// JSON with comments (`//`, `/* */`) and trailing commas, as TypeScript
/// reads `tsconfig.json`, made plain JSON.
fn plain_json(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    // First the comments, then the commas that only blanks part from a
    // closing bracket; strings are copied as they are.
    let mut uncommented = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        match (chars[i], chars.get(i + 1)) {
            ('"', _) => i = copy_string(&chars, i, &mut uncommented),
            ('/', Some('/')) => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            }
            (c, _) => {
                uncommented.push(c);
                i += 1;
            }
        }
    }
    let chars = uncommented;
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '"' => i = copy_string(&chars, i, &mut out),
            ',' if chars[i + 1..]
                .iter()
                .find(|c| !c.is_whitespace())
                .is_some_and(|c| matches!(c, '}' | ']')) =>
            {
                i += 1
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out.into_iter().collect()
}

/// Copies the JSON string starting at `chars[start]` (its `"`) to `out`;
/// where it ends.
fn copy_string(chars: &[char], start: usize, out: &mut Vec<char>) -> usize {
    out.push('"');
    let mut i = start + 1;
    while i < chars.len() && chars[i] != '"' {
        if chars[i] == '\\' && i + 1 < chars.len() {
            out.push(chars[i]);
            i += 1;
        }
        out.push(chars[i]);
        i += 1;
    }
    if i < chars.len() {
        out.push('"');
    }
    i + 1
}

/// Whether `dir` (`src/`) holds a TypeScript file, below `node_modules`.
pub fn has_ts_files(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            entry.file_name() != "node_modules" && has_ts_files(&path)
        } else {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            (name.ends_with(".ts") || name.ends_with(".mts")) && !name.ends_with(".d.ts")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> Result<Project, RuntimeError> {
        Project::read(crate::module_runtime::project_dir(files).path())
    }

    const MAIN: (&str, &str) = ("src/index.ts", "export class A {}\n");

    #[test]
    fn the_base_image_is_chosen_as_dagger_chooses_it() {
        let read = |package: &str| project(&[("package.json", package), MAIN]).unwrap();
        assert_eq!(project(&[MAIN]).unwrap().base_image(), DEFAULT_BASE_IMAGE);
        assert_eq!(
            read(r#"{"dagger": {"baseImage": "reg/node:x"}}"#).base_image(),
            "reg/node:x"
        );
        assert_eq!(
            read(r#"{"dagger": {"runtime": "node@20"}}"#).base_image(),
            "node:20-slim"
        );
        let versioned = read(r#"{"dagger": {"runtime": "node@20"}}"#);
        assert_eq!(
            versioned.base_image_with(Some("mirror/node:20".into())),
            "mirror/node:20"
        );
        assert_eq!(
            project(&[MAIN]).unwrap().base_image_with(Some(" ".into())),
            DEFAULT_BASE_IMAGE
        );
        let named = read(r#"{"dagger": {"baseImage": "reg/node:x"}}"#);
        assert_eq!(
            named.base_image_with(Some("mirror/node:20".into())),
            "reg/node:x"
        );
        let bun = project(&[
            ("package.json", r#"{"dagger": {"runtime": "bun@1"}}"#),
            MAIN,
        ])
        .unwrap_err()
        .to_string();
        assert!(bun.contains("bun"), "{bun}");
        assert!(project(&[("bun.lock", ""), MAIN]).is_err());
    }

    #[test]
    fn the_package_manager_comes_from_package_json_else_the_lockfile() {
        let manager = |files: &[(&str, &str)]| {
            let mut files = files.to_vec();
            files.push(MAIN);
            project(&files).unwrap().package_manager
        };
        assert_eq!(manager(&[]), PackageManager::Npm);
        assert_eq!(manager(&[("package-lock.json", "{}")]), PackageManager::Npm);
        assert_eq!(
            manager(&[("yarn.lock", "")]),
            PackageManager::Yarn(YARN_VERSION.into())
        );
        assert_eq!(
            manager(&[("pnpm-lock.yaml", "")]),
            PackageManager::Pnpm(PNPM_VERSION.into())
        );
        assert_eq!(
            manager(&[
                (
                    "package.json",
                    r#"{"packageManager": "pnpm@9.1.0+sha512.ab"}"#
                ),
                ("yarn.lock", "")
            ]),
            PackageManager::Pnpm("9.1.0".into())
        );
        for refused in [
            r#"{"packageManager": "yarn"}"#,
            r#"{"packageManager": "yarn@4.1.0"}"#,
        ] {
            assert!(
                project(&[("package.json", refused), MAIN]).is_err(),
                "{refused}"
            );
        }
    }

    #[test]
    fn package_json_is_rewritten_as_dagger_does_and_installs_only_what_is_extra() {
        let bare = project(&[MAIN]).unwrap();
        assert_eq!(
            Value::Object(bare.package_json()),
            json!({"type": "module", "dependencies": {"typescript": TYPESCRIPT_VERSION}})
        );
        assert!(!bare.needs_install());
        let local_sdk = project(&[
            (
                "package.json",
                r#"{"name": "m", "type": "commonjs", "devDependencies": {"@dagger.io/dagger": "./sdk"}}"#,
            ),
            MAIN,
        ])
        .unwrap();
        let package = local_sdk.package_json();
        assert_eq!(package["type"], "module");
        assert_eq!(package["devDependencies"], json!({}));
        assert!(!local_sdk.needs_install());
        let with_deps = project(&[
            (
                "package.json",
                r#"{"dependencies": {"@dagger.io/dagger": "^0.21", "left-pad": "1.3.0"}}"#,
            ),
            MAIN,
        ])
        .unwrap();
        assert_eq!(
            with_deps.package_json()["dependencies"],
            json!({"left-pad": "1.3.0", "typescript": TYPESCRIPT_VERSION})
        );
        assert!(with_deps.needs_install());
        let other_typescript = project(&[
            (
                "package.json",
                r#"{"dependencies": {"typescript": "^5.3.2"}}"#,
            ),
            MAIN,
        ])
        .unwrap();
        assert!(other_typescript.needs_install());
    }

    #[test]
    fn tsconfig_keeps_the_modules_options_and_gets_what_the_sdk_needs() {
        let tsconfig = r#"{
  // comments and trailing commas, as TypeScript allows
  "compilerOptions": {
    "strict": true, /* kept */
    "paths": {"lib/*": ["./lib/*"],},
    "outDir": "a//b",
  },
}"#;
        let read = project(&[("tsconfig.json", tsconfig), MAIN]).unwrap();
        let options = Value::Object(read.tsconfig_json())["compilerOptions"].clone();
        assert_eq!(options["strict"], true);
        assert_eq!(options["outDir"], "a//b");
        assert_eq!(options["experimentalDecorators"], true);
        assert_eq!(options["paths"]["lib/*"], json!(["./lib/*"]));
        assert_eq!(
            options["paths"]["@dagger.io/dagger"],
            json!(["./sdk/index.ts"])
        );
        let made = project(&[MAIN]).unwrap().tsconfig_json();
        assert_eq!(made["compilerOptions"]["experimentalDecorators"], true);
        assert!(project(&[("tsconfig.json", "{nope"), MAIN]).is_err());
    }

    #[test]
    fn a_module_without_typescript_in_src_is_refused() {
        let error = project(&[("package.json", "{}")]).unwrap_err().to_string();
        assert!(error.contains("no TypeScript files"), "{error}");
        assert!(project(&[("src/types.d.ts", "")]).is_err());
        assert!(project(&[("src/deep/main.mts", "")]).is_ok());
    }

    #[test]
    fn plain_json_leaves_strings_alone() {
        assert_eq!(
            plain_json(r#"{"a": "x // y, }", /* c */ "b": [1, 2,], }"#),
            r#"{"a": "x // y, }",  "b": [1, 2] }"#
        );
        assert_eq!(plain_json(r#"{"a": "q\"//",}"#), r#"{"a": "q\"//"}"#);
    }
}
