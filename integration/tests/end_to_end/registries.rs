//! Registry configuration as podman users write it: `registries.conf`
//! mirrors, rewrites, blocks and search registries, and docker's credential
//! helpers, against real registry servers.

use crate::support;

use support::image::{tiny_layer, Image};
use support::registry::Registry;
use support::tanto::Tanto;

/// Manifest GETs of `repository` in a registry's access log.
fn manifest_gets(registry: &Registry, repository: &str) -> usize {
    registry
        .log()
        .lines()
        .filter(|l| l.contains(&format!("\"GET /v2/{repository}/manifests/")))
        .count()
}

/// A tanto following the registries.conf `text`, through the variable
/// podman reads.
fn tanto_with_conf(text: &str) -> Tanto {
    let mut tanto = Tanto::new();
    let conf = tanto.write_home_file("conf/registries.conf", text);
    tanto.env("CONTAINERS_REGISTRIES_CONF", conf.to_str().unwrap());
    tanto
}

#[test]
fn a_mirror_serves_pulls_first_and_while_the_origin_is_down() {
    let origin = Registry::start();
    let mirror = Registry::start();
    Image::new(vec![tiny_layer("app", "v1")]).push(&origin, "team/app", "v1");
    Image::new(vec![tiny_layer("app", "v1")]).push(&mirror, "hub/team/app", "v1");
    Image::new(vec![tiny_layer("other", "v1")]).push(&origin, "team/other", "v1");
    let tanto = tanto_with_conf(&format!(
        "[[registry]]\nprefix = \"{origin}/team\"\nlocation = \"{origin}/team\"\n\n\
         [[registry.mirror]]\nlocation = \"{mirror}/hub/team\"\n",
        origin = origin.host(),
        mirror = mirror.host()
    ));

    let doctor = tanto.run(&["doctor"]);
    let expected = format!(
        "{origin}/team → {mirror}/hub/team, then {origin}/team",
        origin = origin.host(),
        mirror = mirror.host()
    );
    assert!(doctor.stdout.contains(&expected), "{}", doctor.stdout);

    // What the mirror lacks comes from the origin.
    let other = format!("{}/team/other:v1", origin.host());
    tanto.ok(&["pull", &other]);
    assert_eq!(manifest_gets(&mirror, "hub/team/other"), 1);
    assert_eq!(manifest_gets(&origin, "team/other"), 1);

    // With the origin gone, the mirror serves the image under its own name,
    // and steps run on it under the name the user wrote.
    let app = format!("{}/team/app:v1", origin.host());
    drop(origin);
    tanto.ok(&["pull", &app]);
    assert_eq!(manifest_gets(&mirror, "hub/team/app"), 1);
    assert!(mirror.blob_gets() >= 2, "{}", mirror.log());
    let (ok, answer) = tanto.query(&format!(
        r#"{{ container {{ from(address: "{app}") {{ file(path: "/app") {{ contents }} }} }} }}"#
    ));
    assert!(ok, "{answer}");
    assert_eq!(
        answer["data"]["container"]["from"]["file"]["contents"],
        "v1"
    );
}

#[test]
fn rewrites_search_registries_and_blocks_apply_to_every_pull() {
    let local = Registry::start();
    Image::new(vec![tiny_layer("etc/alpine-release", "3.20.2\n")]).push(
        &local,
        "stand-ins/alpine",
        "3.20.2",
    );
    Image::new(vec![tiny_layer("tool", "ok")]).push(&local, "tool", "1");
    let second = Registry::start();
    Image::new(vec![tiny_layer("elsewhere", "ok")]).push(&second, "elsewhere", "1");
    let tanto = tanto_with_conf(&format!(
        "unqualified-search-registries = [\"{local}\", \"{second}\"]\n\n\
         [[registry]]\nprefix = \"docker.io/library/alpine\"\nlocation = \"{local}/stand-ins/alpine\"\n\n\
         [[registry]]\nprefix = \"blocked.example\"\nblocked = true\n",
        local = local.host(),
        second = second.host()
    ));

    // Docker Hub's name, served offline by the rewrite.
    let (ok, answer) = tanto.query(
        r#"{ container { from(address: "docker.io/library/alpine:3.20.2") {
             file(path: "/etc/alpine-release") { contents } } } }"#,
    );
    assert!(ok, "{answer}");
    assert_eq!(
        answer["data"]["container"]["from"]["file"]["contents"],
        "3.20.2\n"
    );
    assert_eq!(manifest_gets(&local, "stand-ins/alpine"), 1);

    // A short name is looked up in the search registries, in order.
    tanto.ok(&["pull", "tool:1"]);
    assert_eq!(manifest_gets(&local, "tool"), 1);
    assert_eq!(manifest_gets(&second, "tool"), 0);
    tanto.ok(&["pull", "elsewhere:1"]);
    assert_eq!(manifest_gets(&local, "elsewhere"), 1);
    assert_eq!(manifest_gets(&second, "elsewhere"), 1);
    let missing = tanto.fails(&["pull", "absent:1"]);
    assert!(
        missing.stderr.contains("none of the search registries")
            && missing
                .stderr
                .contains(&format!("{}/absent:1", second.host())),
        "{}",
        missing.stderr
    );

    // A blocked registry is refused by name, its file named.
    let blocked = tanto.fails(&["pull", "blocked.example/app:1"]);
    assert!(
        blocked.stderr.contains("blocked") && blocked.stderr.contains("registries.conf"),
        "{}",
        blocked.stderr
    );

    // A broken file stops tanto with its name and the problem.
    let broken = tanto_with_conf("[[registry]]\nlocation = \"https://reg.lan\"\n");
    let refused = broken.fails(&["pull", "tool:1"]);
    assert!(
        refused.stderr.contains("registries.conf") && refused.stderr.contains("scheme"),
        "{}",
        refused.stderr
    );
}

#[test]
fn a_credential_helper_supplies_the_password_for_pulls_and_publishes() {
    let registry = Registry::start_with_basic_auth("ci", "from-helper");
    Image::new(vec![tiny_layer("f", "private")]).push(&registry, "private/app", "v1");
    let reference = format!("{}/private/app:v1", registry.host());
    let mut tanto = Tanto::new();
    // The helper logs what it is asked for, as the test user it runs as.
    let helper = tanto.write_home_file(
        "bin/docker-credential-tanto-test",
        &format!(
            "#!/bin/sh\nread server\necho \"$1 $server\" >> {log}\n\
             echo '{{\"ServerURL\":\"'$server'\",\"Username\":\"ci\",\"Secret\":\"from-helper\"}}'\n",
            log = tanto.home().join("helper.log").display()
        ),
    );
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    tanto.write_home_file(
        "bin/docker-credential-tanto-broken",
        "#!/bin/sh\necho 'the keychain is locked' >&2\nexit 1\n",
    );
    std::fs::set_permissions(
        tanto.home().join("bin/docker-credential-tanto-broken"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!(
        "{}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        tanto.home().join("bin").display()
    );
    tanto.env("PATH", &path);
    tanto.write_home_file(
        ".docker/config.json",
        &format!(
            r#"{{"auths": {{}}, "credHelpers": {{"{}": "tanto-test"}}}}"#,
            registry.host()
        ),
    );

    let pulled = tanto.ok(&["pull", &reference]);
    assert!(pulled.stderr.contains("1 fetched"), "{}", pulled.stderr);
    let (ok, answer) = tanto.query(&format!(
        r#"{{ container {{ from(address: "{reference}") {{ withNewFile(path: "/g", contents: "x") {{
             publish(address: "{}/private/app:v2") }} }} }} }}"#,
        registry.host()
    ));
    assert!(ok, "{answer}");
    let asked = std::fs::read_to_string(tanto.home().join("helper.log")).unwrap();
    assert!(
        asked
            .lines()
            .all(|l| l == format!("get {}", registry.host()))
            && !asked.is_empty(),
        "{asked}"
    );

    // A helper that fails, and one that is missing, are named.
    for (helper, said) in [
        ("tanto-broken", "the keychain is locked"),
        ("tanto-missing", "not in PATH"),
    ] {
        tanto.write_home_file(
            ".docker/config.json",
            &format!(r#"{{"credsStore": "{helper}"}}"#),
        );
        let failed = tanto.fails(&["pull", &reference.replace(":v1", ":v2")]);
        assert!(
            failed
                .stderr
                .contains(&format!("docker-credential-{helper}"))
                && failed.stderr.contains(said),
            "{}",
            failed.stderr
        );
    }
}

#[test]
fn a_podman_login_is_what_pulls_use() {
    let registry = Registry::start_with_basic_auth("ci", "podman-pw");
    Image::new(vec![tiny_layer("f", "private")]).push(&registry, "private/app", "v1");
    let reference = format!("{}/private/app:v1", registry.host());
    let mut tanto = Tanto::new();
    // Where `podman login` writes as this user: its runtime directory.
    let runtime = tanto.home().join("run");
    tanto.write_home_file("run/.keep", "");
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    tanto.env("XDG_RUNTIME_DIR", runtime.to_str().unwrap());

    let refused = tanto.fails(&["pull", &reference]);
    assert!(
        refused.stderr.contains("podman login"),
        "{}",
        refused.stderr
    );

    let login = tanto
        .command_for(
            std::path::Path::new("/usr/bin/podman"),
            &[
                "login",
                "--tls-verify=false",
                "-u",
                "ci",
                "-p",
                "podman-pw",
                &registry.host(),
            ],
        )
        .output()
        .unwrap();
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    assert!(runtime.join("containers/auth.json").exists());
    let pulled = tanto.ok(&["pull", &reference]);
    assert!(pulled.stderr.contains("1 fetched"), "{}", pulled.stderr);
}
