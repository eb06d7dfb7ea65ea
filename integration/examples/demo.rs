//! The README's first command: a Debian image built from Debian packages,
//! pushed to a real registry on loopback, pulled by tanto as an unprivileged
//! user — twice, to show the second pull does nothing — then runs a real
//! pipeline on it, twice, to show the second run is all cached; then the
//! same Dagger module written twice (examples/modules/python and
//! examples/modules/typescript) with `tanto call`.
#![allow(clippy::print_stdout)]

#[path = "../tests/end_to_end/support/mod.rs"]
mod support;

use support::image::Image;
use support::registry::Registry;
use support::tanto::Tanto;

/// An example module: its directory under examples/modules, its files,
/// the directory it is copied to in the home (what `-m` names) and where
/// `build` exports to.
struct Example {
    dir: &'static str,
    files: &'static [&'static str],
    home: &'static str,
    out: &'static str,
}

fn main() {
    println!("== building the Debian bookworm fixture (debootstrap, cached after the first run)");
    let debian = support::fixtures::debian();
    let registry = Registry::start();
    let reference = format!("{}/demo/debian:bookworm", registry.host());
    Image::new(vec![debian.layer.clone()]).push(&registry, "demo/debian", "bookworm");
    println!("== pushed {reference} to docker-registry");

    let mut tanto = Tanto::new();
    let user = support::tanto::run_as();
    println!(
        "== running tanto as uid {} (subordinate uids from {})",
        user.uid, user.subuid_start
    );
    for args in [
        vec!["doctor"],
        vec!["pull", reference.as_str()],
        vec!["pull", reference.as_str()],
    ] {
        println!("\n$ tanto {}", args.join(" "));
        let run = tanto.run(&args);
        print!("{}{}", run.stdout, run.stderr);
        assert!(run.success, "tanto {args:?} failed");
    }
    let store = tanto.store();
    println!(
        "\n== the image's root file system is now at {}/snapshots/",
        store.display()
    );

    println!("\n== a pipeline in Rust (engine/examples/build_and_test.rs): lint, build and test a shell project in that image, rootless");
    let project =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/examples/project");
    for file in ["bin/sum", "test/run.sh"] {
        let text = std::fs::read_to_string(project.join(file)).unwrap();
        tanto.write_home_file(&format!("project/{file}"), &text);
    }
    tanto.write_home_file("out/.keep", "");
    let program = support::tanto::example("engine", "build_and_test");
    for round in ["first run", "second run: everything is cached"] {
        println!("\n$ build_and_test {reference} project out   # {round}");
        let out = tanto
            .command_for(&program, &[&reference, "project", "out"])
            .output()
            .unwrap();
        print!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(out.status.success(), "the pipeline failed");
    }

    module(&mut tanto, &registry, &reference);
}

/// The example modules, run unmodified on module runtimes from local
/// images (this machine reaches no Docker Hub): Python's, then its
/// TypeScript twin.
fn module(tanto: &mut Tanto, registry: &Registry, image: &str) {
    println!("\n== building a Python image for module runtimes (debootstrap trixie, cached after the first run)");
    let python = support::fixtures::serve_python_slim(registry);
    tanto.env("TANTO_PYTHON_IMAGE", &python);
    println!("== building a Node.js image for module runtimes (debootstrap trixie, cached after the first run)");
    let node = support::fixtures::serve_node_slim(registry);
    tanto.env("TANTO_NODE_IMAGE", &node);
    tanto.env("CI_TOKEN", "demo-token-not-shown");
    let python = Example {
        dir: "python",
        files: &[
            "dagger.json",
            "pyproject.toml",
            ".gitignore",
            "src/ci/__init__.py",
            "src/ci/main.py",
        ],
        home: "ci",
        out: "out/module",
    };
    let typescript = Example {
        dir: "typescript",
        files: &[
            "dagger.json",
            "package.json",
            "tsconfig.json",
            ".gitignore",
            "src/index.ts",
        ],
        home: "ci-ts",
        out: "out/module-ts",
    };
    for example in [python, typescript] {
        println!(
            "\n== the {} module (examples/modules/{})",
            example.dir, example.dir
        );
        call_module(tanto, &example, image);
    }
}

/// One example module: its functions listed, the project linted, tested
/// with a secret, built and exported, and tested again (which reuses
/// everything but the call given the secret).
fn call_module(tanto: &Tanto, example: &Example, image: &str) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/modules");
    for file in example.files {
        let text = std::fs::read_to_string(root.join(example.dir).join(file)).unwrap();
        tanto.write_home_file(&format!("{}/{file}", example.home), &text);
    }
    let image_flag = format!("--image={image}");
    let export = format!("--path={}", example.out);
    let call = ["call", "-m", example.home, &image_flag];
    let test = ["test", "--source=project", "--token=env:CI_TOKEN"];
    for (args, note) in [
        (
            vec!["functions", "-m", example.home],
            "   # builds the module's runtime and registers its functions",
        ),
        ([&call[..], &["lint", "--source=project"]].concat(), ""),
        ([&call[..], &test].concat(), ""),
        (
            [&call[..], &["build", "--source=project", "export", &export]].concat(),
            "",
        ),
        (
            [&call[..], &test].concat(),
            "   # again: the steps are reused; a function given a secret runs each time",
        ),
    ] {
        println!("\n$ tanto {}{note}", args.join(" "));
        let run = tanto.run(&args);
        print!("{}{}", run.stderr, run.stdout);
        assert!(run.success, "tanto {args:?} failed");
    }
    let exported = tanto.home().join(example.out).join("sum");
    assert!(
        exported.is_file(),
        "{} was not exported",
        exported.display()
    );
    println!("\n== exported {}/sum", example.out);
}
