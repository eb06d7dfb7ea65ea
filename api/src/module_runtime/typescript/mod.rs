//! The TypeScript module runtime: the container a TypeScript module's
//! functions run in, built natively (dagger-modules.md §2.3, §7.2 item 10)
//! from the published `@dagger.io/dagger` package rather than Dagger's SDK
//! module and its bundle. A Node.js image (`package.json`'s
//! `dagger.baseImage`, else [`NODE_IMAGE_ENV`]'s, else
//! [`DEFAULT_BASE_IMAGE`]); the SDK, `tsx` and
//! TypeScript installed by npm into [`SDK_DIR`] (one step, shared by every
//! module on that image, with an npm cache volume); the module's source at
//! `/src/<digest>/<subpath>` with `package.json` and `tsconfig.json` as
//! Dagger rewrites them, its dependencies installed when it has any, and
//! `node_modules/@dagger.io/dagger` and `sdk/` pointing at that package.
//! The entrypoint hands the module's `src/**/*.ts` and `sdk/client.gen.ts`
//! to the SDK's `entrypoint()`, which registers when asked for the empty
//! function (§3.1 variant A) and calls the function asked for otherwise.

mod project;

use engine::{Container, Directory, Engine};

pub use project::{has_ts_files, PackageManager, Project};

use super::RuntimeError;
use crate::module_source::ModuleSource;

/// The SDK library the runtime installs.
pub const SDK_VERSION: &str = "0.21.9";
/// tsx, as Dagger 0.21 bundles it.
pub const TSX_VERSION: &str = "4.15.6";
/// The TypeScript a module gets when its `package.json` does not ask for
/// another (Dagger's default).
pub const TYPESCRIPT_VERSION: &str = "5.9.3";
/// The base image when `package.json` does not choose one. Dagger pins
/// `node:24-alpine`; the Debian-based slim image of the same major keeps
/// tanto's runtimes on one libc and one trust store layout (the Python
/// runtime's default is `python:X-slim`). The SDK needs Node.js 20 or later.
pub const DEFAULT_BASE_IMAGE: &str = "node:24-slim";

/// The Node.js image for modules that do not name one, instead of Docker
/// Hub's `node:X-slim`.
pub const NODE_IMAGE_ENV: &str = "TANTO_NODE_IMAGE";

/// Where the SDK, tsx and TypeScript are installed in the runtime, and the
/// `sdk/` files made from the SDK.
const SDK_DIR: &str = "/opt/tanto-typescript";
/// Where [`TRUSTING`] is.
const TRUSTING_PATH: &str = "/opt/tanto-typescript/trusting";

/// Runs a command with Node.js trusting the image's certificate store
/// (where tanto puts the extra CA certificates of a step) on top of its own
/// copy of the public ones. Not `--use-openssl-ca`: that trusts the
/// image's store alone, and Node.js's slim images have none.
const TRUSTING: &str = r#"#!/bin/sh
for bundle in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
  if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -s "$bundle" ]; then
    export NODE_EXTRA_CA_CERTS="$bundle"
  fi
done
exec "$@"
"#;

/// Makes `sdk/` from the installed package: `index.ts` and `telemetry.ts`
/// re-export it (what the `dagger init` tsconfig's paths point at), and
/// `client.gen.ts` is its declaration of the core API as TypeScript source,
/// which the SDK's introspector needs to resolve core types (`Container`)
/// and does not find in a `.d.ts`. Its one import is made absolute.
const MAKE_SDK: &str = r#"const fs = require("fs")
const [pkg, out] = process.argv.slice(2)
const declarations = fs.readFileSync(pkg + "/dist/src/api/client.gen.d.ts", "utf8")
const from = '"../common/context.js"'
if (declarations.split(from).length !== 2) {
  console.error("client.gen.d.ts does not import " + from + " once: not the SDK tanto knows")
  process.exit(1)
}
fs.mkdirSync(out, { recursive: true })
const index = JSON.stringify(pkg + "/dist/src/index.js")
fs.writeFileSync(out + "/client.gen.ts", declarations.replace(from, index))
fs.writeFileSync(out + "/index.ts", "export * from " + index + "\n")
fs.writeFileSync(out + "/telemetry.ts", "export * from " + JSON.stringify(pkg + "/dist/src/telemetry/index.js") + "\n")
"#;

/// The entrypoint's text for the module in `mod_dir`.
fn entrypoint_script(mod_dir: &str) -> String {
    let module = serde_json::to_string(mod_dir).expect("a string encodes");
    let sdk = serde_json::to_string(&format!(
        "{SDK_DIR}/node_modules/@dagger.io/dagger/dist/src/index.js"
    ))
    .expect("a string encodes");
    format!(
        r#"// Written by tanto: the module's TypeScript files, and the core API's
// declarations, handed to the Dagger SDK's module entrypoint.
import {{ readdirSync, statSync }} from "node:fs"
import {{ join }} from "node:path"
import {{ entrypoint }} from {sdk}

const moduleDir = {module}

function sources(dir: string): string[] {{
  return readdirSync(dir).sort().flatMap((name) => {{
    const path = join(dir, name)
    if (statSync(path).isDirectory()) {{
      return name === "node_modules" ? [] : sources(path)
    }}
    return /\.m?ts$/.test(name) && !name.endsWith(".d.ts") ? [path] : []
  }})
}}

entrypoint([...sources(join(moduleDir, "src")), join(moduleDir, "sdk", "client.gen.ts")])
"#
    )
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
    let mod_dir = super::module_dir(source, digest);
    let npm_cache = engine.cache_volume("modtypescript-npm");
    let package = format!("{SDK_DIR}/node_modules/@dagger.io/dagger");
    let mut runtime = engine
        .container()
        .from(&project.base_image())
        .with_env_variable("npm_config_update_notifier", "false", false)
        .with_env_variable("npm_config_fund", "false", false)
        .with_env_variable("npm_config_audit", "false", false)
        .with_mounted_cache("/root/.npm", &npm_cache, engine::Sharing::Shared)
        .with_new_file(TRUSTING_PATH, TRUSTING, 0o755)
        .with_exec([
            TRUSTING_PATH.to_owned(),
            "npm".to_owned(),
            "install".to_owned(),
            "--prefix".to_owned(),
            SDK_DIR.to_owned(),
            format!("@dagger.io/dagger@{SDK_VERSION}"),
            format!("tsx@{TSX_VERSION}"),
            format!("typescript@{TYPESCRIPT_VERSION}"),
        ])
        .with_new_file(&format!("{SDK_DIR}/make-sdk.cjs"), MAKE_SDK, 0o644)
        .with_exec([
            "node".to_owned(),
            format!("{SDK_DIR}/make-sdk.cjs"),
            package.clone(),
            format!("{SDK_DIR}/sdk"),
        ])
        .with_directory(&format!("/src/{digest}"), context, &[], &[])
        .with_workdir(&mod_dir)
        .with_new_file(
            &format!("{mod_dir}/package.json"),
            pretty(project.package_json()),
            0o644,
        )
        .with_new_file(
            &format!("{mod_dir}/tsconfig.json"),
            pretty(project.tsconfig_json()),
            0o644,
        );
    if project.needs_install() {
        runtime = install(engine, runtime, &project.package_manager);
    }
    // After the install, which would take out what package.json lacks.
    let mut link = format!(
        "set -e\n\
         rm -rf sdk node_modules/@dagger.io/dagger\n\
         cp -r {SDK_DIR}/sdk sdk\n\
         mkdir -p node_modules/@dagger.io\n\
         ln -s {package} node_modules/@dagger.io/dagger\n"
    );
    if !project.needs_install() {
        link.push_str(&format!(
            "rm -rf node_modules/typescript\n\
             ln -s {SDK_DIR}/node_modules/typescript node_modules/typescript\n"
        ));
    }
    let entrypoint = format!("{mod_dir}/sdk/entrypoint.mts");
    let runtime = runtime.with_exec(["sh", "-c", &link]).with_new_file(
        &entrypoint,
        entrypoint_script(&mod_dir),
        0o644,
    );
    Ok(super::entered(
        engine,
        runtime,
        [
            TRUSTING_PATH.to_owned(),
            format!("{SDK_DIR}/node_modules/.bin/tsx"),
            "--no-deprecation".to_owned(),
            "--tsconfig".to_owned(),
            format!("{mod_dir}/tsconfig.json"),
            entrypoint,
        ],
    ))
}

/// The module's dependencies installed in its directory, without its
/// development ones, by the package manager its lockfile names.
fn install(engine: &Engine, runtime: Container, manager: &PackageManager) -> Container {
    match manager {
        PackageManager::Npm => runtime.with_exec([TRUSTING_PATH, "npm", "install", "--omit=dev"]),
        PackageManager::Yarn(version) => {
            let cache = engine.cache_volume("modtypescript-yarn");
            runtime
                .with_mounted_cache("/root/.cache/yarn", &cache, engine::Sharing::Shared)
                .with_env_variable("YARN_CACHE_FOLDER", "/root/.cache/yarn", false)
                .with_exec([
                    TRUSTING_PATH,
                    "npm",
                    "install",
                    "-g",
                    &format!("yarn@{version}"),
                ])
                .with_exec([TRUSTING_PATH, "yarn", "install", "--prod"])
        }
        PackageManager::Pnpm(version) => {
            let cache = engine.cache_volume("modtypescript-pnpm");
            runtime
                .with_mounted_cache("/root/.pnpm-store", &cache, engine::Sharing::Shared)
                .with_exec([
                    TRUSTING_PATH,
                    "npm",
                    "install",
                    "-g",
                    &format!("pnpm@{version}"),
                ])
                .with_exec([
                    TRUSTING_PATH,
                    "pnpm",
                    "install",
                    "--shamefully-hoist=true",
                    "--prod",
                    "--store-dir",
                    "/root/.pnpm-store",
                ])
        }
    }
}

fn pretty(map: serde_json::Map<String, serde_json::Value>) -> String {
    let mut text = serde_json::to_string_pretty(&map).expect("JSON encodes");
    text.push('\n');
    text
}
