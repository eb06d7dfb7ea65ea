//! Multi-platform images: `container(platform:)` and `tanto pull
//! --platform` pick the variant from an index, and a linux/arm64 step runs
//! through the host's qemu-user-static registration (CI registers it:
//! `scripts/install-deps`). As the unprivileged test user. A step no
//! emulator runs is tried with riscv64, which CI does not register; the
//! other ways a registration falls short (no F flag, disabled, binfmt_misc
//! not mounted) on fake registrations in
//! `engine/src/foreign_platform/tests.rs`.

use crate::support;

use support::multi_platform::{
    assert_emulator_registered, served_multi_platform_busybox, write_layout,
};
use support::registry::Registry;
use support::session::Session;
use support::tanto::Tanto;

/// `uname -m` and `platform` of a container of `platform` (none: the
/// default) on `image`.
fn uname(tanto: &Tanto, image: &str, platform: Option<&str>) -> (String, String) {
    let args = platform
        .map(|p| format!(r#"(platform: "{p}")"#))
        .unwrap_or_default();
    let (ok, answer) = tanto.query(&format!(
        r#"{{ container{args} {{ from(address: "{image}") {{ platform withExec(args: ["uname", "-m"]) {{ stdout }} }} }} }}"#
    ));
    assert!(ok, "{answer:#}");
    let from = &answer["data"]["container"]["from"];
    (
        from["withExec"]["stdout"].as_str().unwrap().to_owned(),
        from["platform"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn an_arm64_container_runs_arm64_and_the_default_runs_the_hosts() {
    assert_emulator_registered();
    let (_registry, image) = served_multi_platform_busybox();
    let tanto = Tanto::new();

    let (machine, platform) = uname(&tanto, image, Some("linux/arm64"));
    assert_eq!(machine, "aarch64\n");
    assert_eq!(platform, "linux/arm64");

    let (machine, platform) = uname(&tanto, image, None);
    assert_eq!(machine, "x86_64\n");
    assert_eq!(platform, "linux/amd64");

    // Both memoized, each under its own platform; and the spelling
    // containerd normalizes is the same platform.
    assert_eq!(
        uname(&tanto, image, Some("linux/aarch64")),
        ("aarch64\n".to_owned(), "linux/arm64".to_owned())
    );
    assert_eq!(uname(&tanto, image, Some("linux/amd64")).0, "x86_64\n");

    // Cross-compiling is the container's business, not its platform's: a
    // linux/amd64 step that says GOARCH=arm64 runs natively.
    let (ok, answer) = tanto.query(&format!(
        r#"{{ container {{ from(address: "{image}") {{ withEnvVariable(name: "GOARCH", value: "arm64") {{
             withEnvVariable(name: "GOOS", value: "linux") {{ withExec(args: ["uname", "-m"]) {{ stdout }} }} }} }} }} }}"#
    ));
    assert!(ok, "{answer:#}");
    assert_eq!(
        answer["data"]["container"]["from"]["withEnvVariable"]["withEnvVariable"]["withExec"]
            ["stdout"],
        "x86_64\n"
    );
}

#[test]
fn pull_and_from_agree_on_the_platform() {
    let (_registry, image) = served_multi_platform_busybox();
    let tanto = Tanto::new();
    let arm = tanto.ok(&["pull", "--platform", "linux/arm64", image]);
    assert!(arm.stderr.contains("1 fetched"), "{}", arm.stderr);
    // The amd64 variant is another image: nothing of it was pulled.
    let amd = tanto.ok(&["pull", image]);
    assert!(amd.stderr.contains("1 fetched"), "{}", amd.stderr);
    assert_ne!(arm.stdout, amd.stdout);
    // `from` on arm64 finds what `pull` put in the store.
    let arm_again = tanto.ok(&["pull", "--platform", "linux/aarch64", image]);
    assert_eq!(arm_again.stdout, arm.stdout);
    assert!(
        arm_again.stderr.contains("1 already present"),
        "{}",
        arm_again.stderr
    );
}

#[test]
fn a_platform_the_index_lacks_names_the_ones_it_has() {
    let (_registry, image) = served_multi_platform_busybox();
    let tanto = Tanto::new();
    let (ok, answer) = tanto.query(&format!(
        r#"{{ container(platform: "linux/s390x") {{ from(address: "{image}") {{ withExec(args: ["true"]) {{ stdout }} }} }} }}"#
    ));
    assert!(!ok);
    let message = answer["errors"][0]["message"].as_str().unwrap().to_owned();
    for part in [image.as_str(), "linux/s390x", "linux/amd64, linux/arm64"] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
    let pulled = tanto.fails(&["pull", "--platform", "linux/riscv64", image]);
    assert!(
        pulled
            .stderr
            .contains("no image for platform linux/riscv64")
            && pulled.stderr.contains("linux/amd64, linux/arm64"),
        "{}",
        pulled.stderr
    );

    let (ok, answer) = tanto.query(r#"{ container(platform: "linux") { id } }"#);
    assert!(!ok);
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("invalid platform \"linux\""),
        "{answer:#}"
    );
}

#[test]
fn doctor_lists_the_platforms_steps_can_run() {
    assert_emulator_registered();
    let tanto = Tanto::new();
    let doctor = tanto.run(&["doctor"]);
    let line = doctor
        .stdout
        .lines()
        .find(|l| l.contains("platforms"))
        .unwrap_or_else(|| panic!("no platforms line:\n{}", doctor.stdout));
    assert!(
        line.contains("linux/amd64") && line.contains("linux/arm64"),
        "{line}"
    );
}

#[test]
fn a_step_no_emulator_runs_fails_naming_its_platform_and_what_to_install() {
    // An image of one manifest is taken whatever the platform (as by
    // docker); its step then needs a riscv64 emulator, which CI does not
    // register.
    assert!(
        !std::path::Path::new("/proc/sys/fs/binfmt_misc/qemu-riscv64").exists(),
        "this machine registers qemu-riscv64; the test needs an architecture it does not"
    );
    let (_registry, image) = support::fixtures::served_busybox();
    let tanto = Tanto::new();
    let (ok, answer) = tanto.query(&format!(
        r#"{{ container(platform: "linux/riscv64") {{ from(address: "{image}") {{ withExec(args: ["true"]) {{ stdout }} }} }} }}"#
    ));
    assert!(!ok);
    let message = answer["errors"][0]["message"].as_str().unwrap().to_owned();
    for part in [
        "withExec true",
        "linux/riscv64",
        "no binfmt_misc handler for riscv64",
        "apt-get install qemu-user-static",
        "tanto doctor",
    ] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
}

#[test]
fn an_oci_layout_gives_the_platform_asked_for() {
    assert_emulator_registered();
    let tanto = Tanto::new();
    let layout = tanto.home().join("busybox-multi");
    write_layout(&layout, "latest");
    tanto.give(&layout);
    let address = format!("oci:{}:latest", layout.display());

    let (machine, platform) = uname(&tanto, &address, Some("linux/arm64"));
    assert_eq!(
        (machine.as_str(), platform.as_str()),
        ("aarch64\n", "linux/arm64")
    );
    assert_eq!(uname(&tanto, &address, None).0, "x86_64\n");

    let pulled = tanto.ok(&["pull", "--platform", "linux/arm64", &address]);
    assert!(
        pulled.stderr.contains("already present"),
        "{}",
        pulled.stderr
    );
    let none = tanto.fails(&["pull", "--platform", "linux/s390x", &address]);
    assert!(
        none.stderr.contains("linux/amd64, linux/arm64"),
        "{}",
        none.stderr
    );
}

/// `skopeo inspect --raw` of `location` (`docker://…`, `oci-archive:…`),
/// and the digest of those bytes.
fn raw_manifest(location: &str) -> (serde_json::Value, String) {
    use sha2::Digest as _;
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw", location])
        .output()
        .expect("skopeo (Debian package skopeo) must be installed");
    assert!(
        out.status.success(),
        "skopeo inspect {location}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&out.stdout)));
    (serde_json::from_slice(&out.stdout).unwrap(), digest)
}

/// The platforms an index lists, as `os/architecture`.
fn listed_platforms(index: &serde_json::Value) -> Vec<String> {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn platform_variants_publish_and_export_one_image_for_every_platform() {
    assert_emulator_registered();
    let (_served, image) = served_multi_platform_busybox();
    let registry = Registry::start();
    let tanto = Tanto::new();
    let session = Session::start(&tanto);
    // Each variant records the machine it was built on.
    let (amd, arm) = (
        built_on(&session, image, "linux/amd64"),
        built_on(&session, image, "linux/arm64"),
    );
    let target = format!("{}/multi/app:v1", registry.host());
    let answer = session.ask(&format!(
        r#"{{ loadContainerFromID(id: "{amd}") {{
             publish(address: "{target}", platformVariants: ["{arm}"])
             export(path: "multi.tar", platformVariants: ["{arm}"]) }} }}"#
    ));
    let shipped = &answer["data"]["loadContainerFromID"];
    let published = shipped["publish"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer:#}"));
    assert!(
        published.starts_with(&format!("{target}@sha256:")),
        "{published}"
    );

    // One index under the tag, each manifest's platform its config's.
    let (index, digest) = raw_manifest(&format!("docker://{target}"));
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(listed_platforms(&index), ["linux/amd64", "linux/arm64"]);
    assert_eq!(
        format!("{target}@{digest}"),
        published,
        "the address is pinned to the index"
    );
    // Pulled back per platform: each variant is the one built on it.
    for (platform, machine) in [("linux/amd64", "x86_64\n"), ("linux/arm64", "aarch64\n")] {
        let (ok, answer) = tanto.query(&format!(
            r#"{{ container(platform: "{platform}") {{ from(address: "{target}") {{ file(path: "/built-on") {{ contents }} }} }} }}"#
        ));
        assert!(ok, "{answer:#}");
        assert_eq!(
            answer["data"]["container"]["from"]["file"]["contents"],
            machine
        );
    }

    // The tarball holds the same index, which skopeo and import read.
    let tarball = shipped["export"].as_str().unwrap();
    let (exported, _) = raw_manifest(&format!("oci-archive:{tarball}"));
    assert_eq!(exported, index);
    let file = session.ask(r#"{ host { file(path: "multi.tar") { id } } }"#)["data"]["host"]
        ["file"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = session.ask(&format!(
        r#"{{ container(platform: "linux/arm64") {{ import(source: "{file}") {{ withExec(args: ["sh", "-c", "cat /built-on; uname -m"]) {{ stdout }} }} }} }}"#
    ));
    assert_eq!(
        answer["data"]["container"]["import"]["withExec"]["stdout"], "aarch64\naarch64\n",
        "{answer:#}"
    );

    // asTarball, lazily, the same.
    let answer = session.ask(&format!(
        r#"{{ loadContainerFromID(id: "{amd}") {{ asTarball(platformVariants: ["{arm}"]) {{ export(path: "lazy.tar") }} }} }}"#
    ));
    let lazy = answer["data"]["loadContainerFromID"]["asTarball"]["export"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer:#}"));
    assert_eq!(raw_manifest(&format!("oci-archive:{lazy}")).0, index);

    // Two images for one platform are refused, naming it.
    let answer = session.ask(&format!(
        r#"{{ loadContainerFromID(id: "{amd}") {{ publish(address: "{target}", platformVariants: ["{amd}"]) }} }}"#
    ));
    let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("linux/amd64") && message.contains("platform"),
        "{answer:#}"
    );
    session.end();
}

/// The ID of a container of `platform` on `image` that recorded the machine
/// it ran on in `/built-on`.
fn built_on(session: &Session, image: &str, platform: &str) -> String {
    let answer = session.ask(&format!(
        r#"{{ container(platform: "{platform}") {{ from(address: "{image}") {{
             withExec(args: ["sh", "-c", "uname -m > /built-on"]) {{ id }} }} }} }}"#
    ));
    answer["data"]["container"]["from"]["withExec"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer:#}"))
        .to_owned()
}

/// What Dagger's SDK tests do (`dag.container().export(platformVariants:
/// …)`): an empty receiver, which nothing gave a root file system, is left
/// out of the image as Dagger's `filterEmptyContainers` leaves it out, so it
/// is not a second linux/amd64 image.
#[test]
fn platform_variants_of_an_empty_container_leave_it_out() {
    assert_emulator_registered();
    let (_served, image) = served_multi_platform_busybox();
    let registry = Registry::start();
    let tanto = Tanto::new();
    let session = Session::start(&tanto);
    let (amd, arm) = (
        built_on(&session, image, "linux/amd64"),
        built_on(&session, image, "linux/arm64"),
    );
    let target = format!("{}/empty/receiver:v1", registry.host());
    let answer = session.ask(&format!(
        r#"{{ container {{ withEnvVariable(name: "UNUSED", value: "1") {{
             publish(address: "{target}", platformVariants: ["{amd}", "{arm}"])
             export(path: "multi.tar", platformVariants: ["{amd}", "{arm}"])
             asTarball(platformVariants: ["{amd}", "{arm}"]) {{ export(path: "lazy.tar") }} }} }} }}"#
    ));
    let shipped = &answer["data"]["container"]["withEnvVariable"];
    let published = shipped["publish"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer:#}"));
    let (index, digest) = raw_manifest(&format!("docker://{target}"));
    assert_eq!(published, format!("{target}@{digest}"));
    assert_eq!(listed_platforms(&index), ["linux/amd64", "linux/arm64"]);
    for tarball in [&shipped["export"], &shipped["asTarball"]["export"]] {
        let (exported, _) = raw_manifest(&format!("oci-archive:{}", tarball.as_str().unwrap()));
        assert_eq!(exported, index);
    }
    let (ok, answer) = tanto.query(&format!(
        r#"{{ container(platform: "linux/arm64") {{ from(address: "{target}") {{ file(path: "/built-on") {{ contents }} }} }} }}"#
    ));
    assert!(ok, "{answer:#}");
    assert_eq!(
        answer["data"]["container"]["from"]["file"]["contents"],
        "aarch64\n"
    );

    // One image left is shipped as one image, as Dagger's export of a
    // single platform; none left is refused.
    let answer = session.ask(&format!(
        r#"{{ container {{ export(path: "one.tar", platformVariants: ["{arm}"]) }} }}"#
    ));
    let one = answer["data"]["container"]["export"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer:#}"));
    let (manifest, _) = raw_manifest(&format!("oci-archive:{one}"));
    assert_eq!(
        manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json",
        "{manifest:#}"
    );
    let empty = session.ask(r#"{ container { id } }"#)["data"]["container"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = session.ask(&format!(
        r#"{{ container {{ export(path: "none.tar", platformVariants: ["{empty}"]) }} }}"#
    ));
    let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("empty"), "{answer:#}");
    session.end();
}
