//! Container fields answered from the config alone, sent as a client
//! would: nothing here runs a step.

use crate::test_session::Fixture;
use crate::Client;

fn data(f: &Fixture, chain: &str) -> serde_json::Value {
    f.data(&Client::Caller, &format!("{{ container {{ {chain} }} }}"))["container"].clone()
}

fn error(f: &Fixture, chain: &str) -> String {
    let answer = f.answer(&Client::Caller, &format!("{{ container {{ {chain} }} }}"));
    answer["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{chain} did not fail: {answer:#}"))
        .to_owned()
}

#[test]
fn volatile_variables_are_no_env_variables() {
    let f = Fixture::new();
    let answer = data(
        &f,
        r#"withEnvVariable(name: "A", value: "1") { withVolatileVariable(name: "V", value: "2") {
             envVariable(name: "V") envVariables { name } } }"#,
    );
    let c = &answer["withEnvVariable"]["withVolatileVariable"];
    assert_eq!(c["envVariable"], serde_json::Value::Null);
    assert_eq!(c["envVariables"], serde_json::json!([{"name": "A"}]));
}

#[test]
fn the_healthcheck_reads_back_as_dagger_answers_it() {
    let f = Fixture::new();
    let answer = data(
        &f,
        r#"withDockerHealthcheck(args: ["true"], interval: "90s", startInterval: "1.5s", retries: 2) {
             set: dockerHealthcheck { args shell interval timeout startPeriod startInterval retries }
             withoutDockerHealthcheck { dockerHealthcheck { args } } }"#,
    );
    let c = &answer["withDockerHealthcheck"];
    assert_eq!(
        c["set"],
        serde_json::json!({"args": ["true"], "shell": false, "interval": "1m30s", "timeout": "0s",
            "startPeriod": "0s", "startInterval": "1.5s", "retries": 2})
    );
    assert_eq!(
        c["withoutDockerHealthcheck"]["dockerHealthcheck"],
        serde_json::Value::Null
    );
    assert_eq!(
        data(&f, "dockerHealthcheck { args }")["dockerHealthcheck"],
        serde_json::Value::Null
    );
    let shell = data(
        &f,
        r#"withDockerHealthcheck(args: ["a || b"], shell: true) { dockerHealthcheck { args shell } }"#,
    );
    assert_eq!(
        shell["withDockerHealthcheck"]["dockerHealthcheck"],
        serde_json::json!({"args": ["a || b"], "shell": true})
    );
}

#[test]
fn bad_healthchecks_are_refused_by_name() {
    let f = Fixture::new();
    let two_words = error(
        &f,
        r#"withDockerHealthcheck(args: ["a", "b"], shell: true) { id }"#,
    );
    assert!(
        two_words.contains("withDockerHealthcheck") && two_words.contains("shell"),
        "{two_words}"
    );
    let empty = error(&f, r#"withDockerHealthcheck(args: []) { id }"#);
    assert!(empty.contains("args is empty"), "{empty}");
    let duration = error(
        &f,
        r#"withDockerHealthcheck(args: ["true"], timeout: "3") { id }"#,
    );
    assert!(
        duration.contains("timeout") && duration.contains("\"3\""),
        "{duration}"
    );
}

#[test]
fn export_image_is_refused_saying_what_to_use() {
    let f = Fixture::new();
    let message = error(&f, r#"exportImage(name: "app:latest")"#);
    assert!(message.starts_with("exportImage:"), "{message}");
    assert!(
        message.contains("export(path:") && message.contains("podman load"),
        "{message}"
    );
}

#[test]
fn the_default_terminal_command_refuses_nesting() {
    let f = Fixture::new();
    assert!(
        data(&f, r#"withDefaultTerminalCmd(args: ["bash"]) { id }"#)["withDefaultTerminalCmd"]
            ["id"]
            .is_string()
    );
    let message = error(
        &f,
        r#"withDefaultTerminalCmd(args: ["bash"], insecureRootCapabilities: true) { id }"#,
    );
    assert!(message.contains("withDefaultTerminalCmd"), "{message}");
}
