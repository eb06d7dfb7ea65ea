//! Dagger's `Changeset` (issue 17, point 2) through the official Python
//! SDK, run by `tanto run` as the unprivileged test user: the changes
//! between two directories listed, applied to others (a step sees the
//! result), written as a patch that `withPatch` applies back, and exported
//! to a host directory.

use crate::support;

use support::fixtures;
use support::registry::Registry;
use support::tanto::Tanto;

#[test]
fn changesets_behave_as_dagger_documents_through_the_python_sdk() {
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    support::sdk::python_groups(
        &tanto,
        "python/changesets.py",
        &image,
        &[
            "empty",
            "paths",
            "diffStats",
            "withChanges",
            "asPatch",
            "export",
            "ids",
        ],
    );
}
