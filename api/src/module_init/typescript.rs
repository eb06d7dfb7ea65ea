//! A new TypeScript module, laid out as Dagger's TypeScript SDK lays it
//! out: an ES module package whose `@dagger.io/dagger` import the tsconfig
//! maps to the generated `sdk/` (filled by the runtime, ignored by git),
//! with the main object in `src/index.ts`.

use crate::module_runtime::typescript::TYPESCRIPT_VERSION;
use crate::strcase::to_camel;

/// (path relative to the SDK source directory, contents).
pub fn files(module_name: &str) -> Vec<(String, String)> {
    let main_object = to_camel(module_name);
    vec![
        (
            "package.json".to_owned(),
            format!(
                "{{\n  \"type\": \"module\",\n  \"dependencies\": {{\n    \"typescript\": \"{TYPESCRIPT_VERSION}\"\n  }}\n}}\n"
            ),
        ),
        (
            "tsconfig.json".to_owned(),
            r#"{
  "compilerOptions": {
    "target": "ES2022",
    "moduleResolution": "Node",
    "experimentalDecorators": true,
    "paths": {
      "@dagger.io/dagger": ["./sdk/index.ts"],
      "@dagger.io/dagger/telemetry": ["./sdk/telemetry.ts"]
    }
  }
}
"#
            .to_owned(),
        ),
        (
            "src/index.ts".to_owned(),
            format!(
                r#"/**
 * A generated module for {main_object} functions
 *
 * Two functions to start from: one returns a container, one reads a
 * directory. Call them with `tanto call container-echo --string-arg=hi stdout`
 * or `tanto call grep-dir --directory-arg=. --pattern=TODO`.
 */
import {{ Container, dag, Directory, func, object }} from "@dagger.io/dagger"

@object()
export class {main_object} {{
  /**
   * Returns a container that echoes whatever string argument is provided
   */
  @func()
  containerEcho(stringArg: string): Container {{
    return dag.container().from("alpine:latest").withExec(["echo", stringArg])
  }}

  /**
   * Returns lines that match a pattern in the files of the provided Directory
   */
  @func()
  async grepDir(directoryArg: Directory, pattern: string): Promise<string> {{
    const searched = dag
      .container()
      .from("alpine:latest")
      .withMountedDirectory("/mnt", directoryArg)
      .withWorkdir("/mnt")
    return searched.withExec(["grep", "-R", pattern, "."]).stdout()
  }}
}}
"#
            ),
        ),
        (
            ".gitignore".to_owned(),
            "/sdk\n/**/node_modules/**\n/**/.pnpm-store/**\n".to_owned(),
        ),
        (
            ".gitattributes".to_owned(),
            "/sdk/** linguist-generated\n".to_owned(),
        ),
    ]
}
