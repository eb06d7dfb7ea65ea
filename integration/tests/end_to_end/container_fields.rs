//! Container fields of issue 17, point 1, through the official Python SDK,
//! run by `tanto run` as the unprivileged test user.

use crate::support;

use support::fixtures;
use support::registry::Registry;
use support::tanto::Tanto;

#[test]
fn container_fields_behave_as_dagger_documents_through_the_python_sdk() {
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    let run = support::sdk::python_groups(
        &tanto,
        "python/container_fields.py",
        &image,
        &[
            "without files",
            "withFiles, withSymlink",
            "without config",
            "mounts",
            "withEnvFileVariables",
            "labels, exposedPorts",
            "exists, stat",
            "withError",
        ],
    );
    assert!(!run.stdout.contains("value-not-shown") && !run.stderr.contains("value-not-shown"));
}
