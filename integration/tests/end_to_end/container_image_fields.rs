//! Container fields of issue 17, point 1, that reach the cache or the
//! image: volatile variables, annotations, the Docker healthcheck, and
//! `exportImage` refused; through the official Python SDK, run by
//! `tanto run` as the unprivileged test user.

use crate::support;

use support::fixtures;
use support::registry::Registry;
use support::tanto::Tanto;

const GROUPS: [&str; 4] = [
    "volatile variables",
    "healthcheck",
    "annotations",
    "exportImage",
];

#[test]
fn image_and_cache_fields_behave_as_dagger_documents_through_the_python_sdk() {
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    let program = "python/container_image_fields.py";
    let first =
        support::sdk::python_groups_with(&tanto, program, &[image.as_str(), "first-run"], &GROUPS);
    // Another process, another value: the step is the one cached.
    let second =
        support::sdk::python_groups_with(&tanto, program, &[image.as_str(), "second-run"], &GROUPS);
    let cached = |run: &support::tanto::Run| {
        run.stdout
            .lines()
            .skip_while(|l| !l.starts_with("cached across runs:"))
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(cached(&first).contains("first-run"), "{}", first.stdout);
    assert_eq!(
        cached(&first),
        cached(&second),
        "a new volatile value ran the step again"
    );
}
