//! `tanto query`: Dagger's GraphQL core schema over the engine, run once as
//! a command, rootless as the unprivileged test user.

use crate::support;

use support::fixtures;
use support::registry::Registry;
use support::tanto::Tanto;

fn query(tanto: &Tanto, document: &str) -> (bool, serde_json::Value) {
    tanto.query(document)
}

#[test]
fn a_chain_runs_and_answers_in_dagger_shape() {
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();

    let (ok, answer) = query(
        &tanto,
        &format!(
            r#"{{ container {{ from(address: "{image}") {{ withEnvVariable(name: "A", value: "b") {{
                 withExec(args: ["sh", "-c", "echo $A; id -un"], expect: ANY) {{ stdout exitCode }} }} }} }} }}"#
        ),
    );
    assert!(ok, "{answer:#}");
    let exec = &answer["data"]["container"]["from"]["withEnvVariable"]["withExec"];
    assert_eq!(exec["stdout"], "b\nroot\n");
    assert_eq!(exec["exitCode"], 0);

    // A failed exec is Dagger's EXEC_ERROR, with all four fields the SDKs read.
    let (ok, answer) = query(
        &tanto,
        &format!(
            r#"{{ container {{ from(address: "{image}") {{
                 withExec(args: ["sh", "-c", "echo out; echo err >&2; exit 3"]) {{ stdout }} }} }} }}"#
        ),
    );
    assert!(!ok);
    let error = &answer["errors"][0];
    assert_eq!(
        error["message"],
        r#"process "sh -c echo out; echo err >&2; exit 3" did not complete successfully: exit code: 3"#
    );
    assert_eq!(error["extensions"]["_type"], "EXEC_ERROR");
    assert_eq!(error["extensions"]["exitCode"], 3);
    assert_eq!(
        error["extensions"]["cmd"],
        serde_json::json!(["sh", "-c", "echo out; echo err >&2; exit 3"])
    );
    // Trimmed, as Dagger's are.
    assert_eq!(error["extensions"]["stdout"], "out");
    assert_eq!(error["extensions"]["stderr"], "err");
    assert!(answer["data"].is_null(), "{answer:#}");
}

#[test]
fn bad_documents_get_graphql_errors_naming_the_problem() {
    let tanto = Tanto::new();
    let (ok, answer) = query(&tanto, "{ container { from(address: ");
    assert!(!ok);
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("line 1"),
        "{answer:#}"
    );

    let (ok, answer) = query(&tanto, "{ container { dockerBuild { id } } }");
    assert!(!ok);
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("dockerBuild"),
        "{answer:#}"
    );

    let (ok, answer) = query(&tanto, r#"{ node(id: "Container.forged.1") { id } }"#);
    assert!(!ok);
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown ID"),
        "{answer:#}"
    );

    // Never `"extensions": null`: it crashes the Python SDK.
    let (_, answer) = query(&tanto, "{ nope }");
    assert!(
        answer["errors"][0]
            .get("extensions")
            .is_none_or(|e| !e.is_null()),
        "{answer:#}"
    );

    let (ok, answer) = query(&tanto, "{ version }");
    assert!(ok);
    assert!(answer["data"]["version"]
        .as_str()
        .unwrap()
        .starts_with("tanto "));
}
