//! Host and Query fields (issue 17, point 4) through the official Python
//! SDK, run by `tanto run` as the unprivileged test user: secrets by URI,
//! HTTP downloads, addresses, host sockets, `findUp`, `defaultPlatform`,
//! `json`, `envFile`, `error`, IDs and `expand`. The program serves its own HTTP files on
//! 127.0.0.1 and its own Unix socket.

use crate::support;

use support::fixtures;
use support::registry::Registry;
use support::tanto::Tanto;

const TOKEN: &str = "tok-3f9a61c2-from-env";

#[test]
fn host_and_query_fields_behave_as_dagger_documents_through_the_python_sdk() {
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let mut tanto = Tanto::new();
    tanto.env("TANTO_TEST_TOKEN", TOKEN);
    tanto.write_home_file("token.txt", "from a file\n");
    tanto.write_home_file("marker.toml", "");
    let run = support::sdk::python_groups(
        &tanto,
        "python/host_and_query.py",
        &image,
        &[
            "defaultPlatform",
            "secret",
            "secret errors",
            "http",
            "http errors",
            "findUp",
            "ids",
            "unixSocket",
            "address",
            "json, envFile, error",
            "expand",
            "masked in errors",
        ],
    );
    // Secrets read by URI, and the auth header's, reach neither the output
    // nor the store.
    for secret in [TOKEN, "hdr-5b0c7e2a"] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{secret} shown:\n{}\n{}",
            run.stdout,
            run.stderr
        );
        let hits = support::tree::grep(&tanto.store(), secret.as_bytes());
        assert!(hits.is_empty(), "{secret} is in {hits:?}");
    }
}

#[test]
fn host_container_image_reads_an_image_from_the_users_own_podman() {
    let (_registry, image) = fixtures::served_busybox();
    let tanto = Tanto::new();
    let podman = |args: &[&str]| support::podman::as_user(&tanto, &[], args);
    // The user's own rootless podman store, as `podman pull` fills it.
    podman(&["pull", "--tls-verify=false", &format!("docker://{image}")]);
    podman(&["tag", image.as_str(), "localhost/from-the-host:v1"]);
    let (ok, answer) = tanto.query(
        r#"{ host { containerImage(name: "localhost/from-the-host:v1") {
            withExec(args: ["sh", "-c", "echo hello from the user podman; ls /bin/busybox"]) { stdout } } } }"#,
    );
    assert!(ok, "{answer:#}");
    assert_eq!(
        answer["data"]["host"]["containerImage"]["withExec"]["stdout"],
        "hello from the user podman\n/bin/busybox\n"
    );

    // An image podman does not have: named, with podman's reason.
    let (ok, answer) = tanto
        .query(r#"{ host { containerImage(name: "localhost/not-on-this-host:v1") { sync } } }"#);
    assert!(!ok, "{answer:#}");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("localhost/not-on-this-host:v1") && message.contains("podman"),
        "{message}"
    );
}
