//! The README's first command: a Debian image built from Debian packages,
//! pushed to a real registry on loopback, pulled by tanto as an unprivileged
//! user — twice, to show the second pull does nothing — then runs a real
//! pipeline on it, twice, to show the second run is all cached; then a
//! Dagger module (examples/modules/python) with `tanto call`.
#![allow(clippy::print_stdout)]

#[path = "../tests/support/mod.rs"]
mod support;

use support::image::Image;
use support::registry::Registry;
use support::tanto::Tanto;

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

/// The example module, run unmodified: its functions listed, the project
/// tested with a secret and built and exported, twice (the second time
/// reuses everything).
fn module(tanto: &mut Tanto, registry: &Registry, image: &str) {
    println!("\n== building a Python image for module runtimes (debootstrap trixie, cached after the first run)");
    let python = support::fixtures::serve_python_slim(registry);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for file in [
        "dagger.json",
        "pyproject.toml",
        ".gitignore",
        "src/ci/__init__.py",
        "src/ci/main.py",
    ] {
        let text =
            std::fs::read_to_string(root.join("examples/modules/python").join(file)).unwrap();
        tanto.write_home_file(&format!("ci/{file}"), &text);
    }
    // This machine reaches no Docker Hub: module runtimes use the local image.
    tanto.env("TANTO_PYTHON_IMAGE", &python);
    tanto.env("CI_TOKEN", "demo-token-not-shown");
    let image_flag = format!("--image={image}");
    for (args, note) in [
        (vec!["functions", "-m", "ci"], ""),
        (
            vec![
                "call",
                "-m",
                "ci",
                &image_flag,
                "test",
                "--source=project",
                "--token=env:CI_TOKEN",
            ],
            "   # the first call builds the module's runtime",
        ),
        (
            vec![
                "call",
                "-m",
                "ci",
                &image_flag,
                "build",
                "--source=project",
                "export",
                "--path=out/module",
            ],
            "",
        ),
        (
            vec![
                "call",
                "-m",
                "ci",
                &image_flag,
                "test",
                "--source=project",
                "--token=env:CI_TOKEN",
            ],
            "   # again: the steps are reused; a function given a secret runs each time",
        ),
    ] {
        println!("\n$ tanto {}{note}", args.join(" "));
        let run = tanto.run(&args);
        print!("{}{}", run.stderr, run.stdout);
        assert!(run.success, "tanto {args:?} failed");
    }
}
