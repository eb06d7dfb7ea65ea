//! TypeScript modules run unmodified by `tanto call` and `tanto functions`,
//! as the unprivileged test user: the published `@dagger.io/dagger`
//! package, tsx and TypeScript installed by npm inside a Node.js image
//! served by the local registry (Debian trixie's Node.js 20), from the npm
//! registry through this machine's TLS proxy, trusted the way the host
//! trusts it.

use crate::support;

use support::fixtures;
use support::registry::Registry;
use support::tanto::Tanto;

/// The Node.js image and the busybox image the functions use.
fn images() -> &'static (Registry, String, String) {
    support::modules::images(fixtures::serve_node_slim)
}

/// A TypeScript module `tiny` in the test user's home, at `~/tiny`.
fn tiny_module(tanto: &Tanto) {
    let (_, node, busybox) = images();
    support::modules::tiny_dagger_json(tanto, "typescript");
    tanto.write_home_file(
        "tiny/package.json",
        &format!(
            r#"{{
  "type": "module",
  "dependencies": {{ "typescript": "5.9.3" }},
  "dagger": {{ "baseImage": "{node}" }}
}}
"#
        ),
    );
    tanto.write_home_file(
        "tiny/src/index.ts",
        &format!(
            r#"/**
 * A tiny module
 */
import {{ dag, Container, Directory, Secret, object, func }} from "@dagger.io/dagger"

const BUSYBOX = "{busybox}"

@object()
export class Tiny {{
  @func()
  greeting: string

  constructor(greeting: string = "Hello") {{
    this.greeting = greeting
  }}

  /**
   * Say hello
   */
  @func()
  hello(name: string): string {{
    return `${{this.greeting}}, ${{name}}!`
  }}

  /**
   * Mount src in a container
   */
  @func()
  build(src: Directory): Container {{
    return dag.container().from(BUSYBOX).withDirectory("/src", src).withWorkdir("/src")
  }}

  /**
   * A copy of src, under copied/
   */
  @func()
  copy(src: Directory): Directory {{
    return dag.directory().withDirectory("copied", src)
  }}

  /**
   * How long a secret is
   */
  @func()
  async secretLength(token: Secret): Promise<number> {{
    return (await token.plaintext()).length
  }}

  /**
   * A random number, cached
   */
  @func()
  roll(): string {{
    return String(Math.random())
  }}

  /**
   * A random number, never cached
   */
  @func({{ cache: "never" }})
  rollAgain(): string {{
    return String(Math.random())
  }}

  /**
   * Throws
   */
  @func()
  fail(): string {{
    throw new Error("out of tea")
  }}

  /**
   * Runs a step that fails
   */
  @func()
  async failingExec(): Promise<string> {{
    return dag.container().from(BUSYBOX).withExec(["sh", "-c", "echo bad >&2; exit 7"]).stdout()
  }}
}}
"#
        ),
    );
}

#[test]
fn a_typescript_module_runs_unmodified_under_tanto_call() {
    let mut tanto = Tanto::new();
    tiny_module(&tanto);

    support::modules::check_tiny(
        &tanto,
        &[
            ("build", "Mount src in a container"),
            ("hello", "Say hello"),
            ("failing-exec", "Runs a step that fails"),
            ("secret-length", "How long a secret is"),
        ],
    );
    tanto.env("TINY_TOKEN", support::modules::TINY_TOKEN);
    support::modules::check_secret(&tanto);

    // A changed source file registers the module again.
    let index = tanto.home().join("tiny/src/index.ts");
    let code = std::fs::read_to_string(&index).unwrap();
    tanto.write_home_file(
        "tiny/src/index.ts",
        &code.replace(
            "  /**\n   * Throws",
            "  /**\n   * Say bye\n   */\n  @func()\n  bye(): string {\n    return \"bye\"\n  }\n\n  /**\n   * Throws",
        ),
    );
    let bye = tanto.run(&["call", "-m", "tiny", "bye"]);
    assert_eq!(bye.stdout, "bye\n", "{}", bye.stderr);
    assert!(
        bye.stderr.contains("register module tiny"),
        "{}",
        bye.stderr
    );
}

#[test]
fn a_module_made_by_tanto_init_registers() {
    let tanto = Tanto::new();
    let init = tanto.run(&["init", "--sdk=typescript", "--name=my-starter", "starter"]);
    assert!(init.success, "{}", init.stderr);
    assert!(
        init.stderr.contains("Initialized module my-starter"),
        "{}",
        init.stderr
    );
    let home = tanto.home();
    for file in [
        "dagger.json",
        "package.json",
        "tsconfig.json",
        "src/index.ts",
        ".gitignore",
    ] {
        assert!(home.join("starter").join(file).is_file(), "{file}");
    }
    let package = home.join("starter/package.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&package).unwrap()).unwrap();
    assert_eq!(json["type"], "module");
    // This machine reaches no Docker Hub: the base image is the local one.
    json["dagger"] = serde_json::json!({"baseImage": images().1});
    tanto.write_home_file("starter/package.json", &json.to_string());

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

    // A dependency from npm: installed in the runtime (with npm, the
    // default package manager), and imported by the module's code.
    json["dependencies"]["left-pad"] = serde_json::json!("1.3.0");
    tanto.write_home_file("starter/package.json", &json.to_string());
    let index = std::fs::read_to_string(home.join("starter/src/index.ts")).unwrap();
    let index = index.replacen(
        "@object()",
        "import leftPad from \"left-pad\"\n\n@object()",
        1,
    );
    let index = index.replacen(
        "  /**\n   * Returns a container",
        "  /**\n   * Pads a string\n   */\n  @func()\n  pad(text: string): string {\n    return leftPad(text, 6, \"*\")\n  }\n\n  /**\n   * Returns a container",
        1,
    );
    tanto.write_home_file("starter/src/index.ts", &index);
    let padded = tanto.run(&["call", "-m", "starter", "pad", "--text=abc"]);
    assert_eq!(padded.stdout, "***abc\n", "{}", padded.stderr);

    // The same through pnpm and yarn 1.x, as packageManager names them.
    for manager in ["pnpm@8.15.4", "yarn@1.22.22"] {
        json["packageManager"] = serde_json::json!(manager);
        tanto.write_home_file("starter/package.json", &json.to_string());
        let padded = tanto.run(&["call", "-m", "starter", "pad", "--text=abc"]);
        assert_eq!(padded.stdout, "***abc\n", "{manager}: {}", padded.stderr);
    }
}
