//! Shipping what a pipeline builds: `publish` to a real registry server,
//! pulled back by `tanto pull` and by `skopeo copy`; `export` and
//! `asTarball` as OCI tarballs that `podman load` and `import` take; and
//! the bad inputs. All run rootless as the unprivileged test user.

use crate::support;

use std::process::Command;

use support::fixtures;
use support::registry::Registry;
use support::skopeo::skopeo;
use support::tanto::Tanto;

/// The step that makes the image: files with other owners and modes, a
/// hardlink, a symlink, a fifo, a file of the base deleted and a directory
/// of the base replaced whole.
const BUILD: &str = "set -e
mkdir -p /app/data
echo hello > /app/data/a
ln /app/data/a /app/data/hard
ln -s a /app/data/link
chown 1000:100 /app/data/a
chmod 4755 /app/data/a
chmod 0750 /app/data
mkfifo /app/fifo
rm /etc/debian_version
rm -rf /usr/share/doc
mkdir -p /usr/share/doc/fresh
echo new > /usr/share/doc/fresh/file";

/// What a root file system is, as far as a user can tell: every path's
/// type, mode and owner, symlink targets, file contents, hardlinks. The
/// mounts every step gets (/proc, /dev, /etc/hosts…) are left out.
const LISTING: &str = r"cd /
skip='( -path ./proc -o -path ./sys -o -path ./dev -o -path ./etc/hosts -o -path ./etc/resolv.conf -o -path ./etc/hostname )'
find . -xdev $skip -prune -o -printf '%p %y %m %U %G %l\n' | sort
find . -xdev $skip -prune -o -type f -exec sha256sum {} + | sort -k2
stat -c '%n %h' app/data/a
[ app/data/a -ef app/data/hard ] && echo hardlinked";

/// A GraphQL string literal.
fn lit(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// The pipeline: the Debian fixture, the build step, a new file and the
/// settings an image config carries.
fn pipeline(image: &str) -> String {
    format!(
        r#"container {{ from(address: "{image}") {{ withExec(args: ["sh", "-c", {build}]) {{
             withNewFile(path: "/app/config.txt", contents: "port=8080") {{
             withEnvVariable(name: "APP_MODE", value: "release") {{ withWorkdir(path: "/app") {{
             withEntrypoint(args: ["/bin/sh", "-c"]) {{ withDefaultArgs(args: ["echo hi"]) {{
             withLabel(name: "org.opencontainers.image.title", value: "app") {{
             withExposedPort(port: 8080) {{ SELECTION }} }} }} }} }} }} }} }} }} }}"#,
        build = lit(BUILD)
    )
}

fn query_ok(tanto: &Tanto, document: &str) -> serde_json::Value {
    let (ok, answer) = tanto.query(&format!("{{ {document} }}"));
    assert!(ok, "{answer:#}");
    answer
}

/// Follows a chain of single-key objects down to the first with `field`.
fn dig<'a>(mut value: &'a serde_json::Value, field: &str) -> &'a serde_json::Value {
    loop {
        if let Some(found) = value.get(field) {
            return found;
        }
        let object = value.as_object().expect("an object on the way");
        assert_eq!(object.len(), 1, "{value:#}");
        value = object.values().next().unwrap();
    }
}

fn build_and_publish(tanto: &Tanto, image: &str, address: &str) -> (String, String) {
    let selection = format!(
        r#"listing: withExec(args: ["sh", "-c", {}]) {{ stdout }} publish(address: "{address}")"#,
        lit(LISTING)
    );
    let answer = query_ok(tanto, &pipeline(image).replace("SELECTION", &selection));
    let listing = dig(&answer, "listing")["stdout"]
        .as_str()
        .unwrap()
        .to_owned();
    let published = dig(&answer, "publish").as_str().unwrap().to_owned();
    (listing, published)
}

/// The listing of the image at `address` (a registry reference or an
/// `oci:` layout), pulled into `tanto`'s store.
fn listing_of(tanto: &Tanto, address: &str) -> String {
    let answer = query_ok(
        tanto,
        &format!(
            r#"container {{ from(address: "{address}") {{ withUser(name: "root") {{
                 withExec(args: ["sh", "-c", {}]) {{ stdout }} }} }} }}"#,
            lit(LISTING)
        ),
    );
    dig(&answer, "stdout").as_str().unwrap().to_owned()
}

/// Equal listings, or a failure that shows only the lines that differ.
fn assert_same_listing(actual: &str, expected: &str, what: &str) {
    if actual == expected {
        return;
    }
    let (a, e): (
        std::collections::BTreeSet<&str>,
        std::collections::BTreeSet<&str>,
    ) = (actual.lines().collect(), expected.lines().collect());
    let missing: Vec<_> = e.difference(&a).collect();
    let extra: Vec<_> = a.difference(&e).collect();
    panic!(
        "{what} differs from the pipeline's container:\nmissing: {missing:#?}\nextra: {extra:#?}"
    );
}

#[test]
fn a_published_image_pulls_back_as_the_pipeline_built_it() {
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let address = format!("{}/team/app:v1", registry.host());
    let builder = Tanto::new();
    let (listing, published) = build_and_publish(&builder, &image, &address);
    let digest = published
        .strip_prefix(&format!("{address}@"))
        .unwrap_or_else(|| panic!("publish answered {published:?}"));
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{published}"
    );

    // What the build did is in the listing, so comparing listings compares it.
    assert!(
        listing.contains("./app/data/a f 4755 1000 100 \n"),
        "{listing}"
    );
    assert!(listing.contains("./app/data d 750 0 0 \n"), "{listing}");
    assert!(
        listing.contains("./app/data/link l 777 0 0 a\n"),
        "{listing}"
    );
    assert!(listing.contains("./app/fifo p 644 0 0 \n"), "{listing}");
    assert!(listing.contains("app/data/a 2\nhardlinked\n"), "{listing}");
    assert!(!listing.contains("./etc/debian_version "), "{listing}");
    let docs: Vec<&str> = listing
        .lines()
        .filter(|l| l.starts_with("./usr/share/doc/"))
        .collect();
    assert_eq!(
        docs,
        [
            "./usr/share/doc/fresh d 755 0 0 ",
            "./usr/share/doc/fresh/file f 644 0 0 "
        ]
    );

    // tanto pull, into another user's empty store: the same digest, the
    // same root file system.
    let puller = Tanto::new();
    let pulled = puller.ok(&["pull", &address]);
    assert_eq!(pulled.stdout.trim(), published);
    assert_same_listing(
        &listing_of(&puller, &address),
        &listing,
        "tanto pull's image",
    );

    // skopeo copies it (verifying every blob) into an OCI layout, which
    // tanto reads back: the same root file system again.
    let copier = Tanto::new();
    let layout = copier.home().join("layout");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{address}"),
        &format!("oci:{}:v1", layout.display()),
    ]);
    copier.give(&layout);
    let copied = listing_of(&copier, &format!("oci:{}:v1", layout.display()));
    assert_same_listing(&copied, &listing, "skopeo's copy");

    // The config carries the container's settings.
    let config: serde_json::Value = serde_json::from_slice(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--config",
        &format!("docker://{address}"),
    ]))
    .unwrap();
    let run = &config["config"];
    assert!(
        run["Env"]
            .as_array()
            .unwrap()
            .contains(&"APP_MODE=release".into()),
        "{config:#}"
    );
    assert_eq!(run["WorkingDir"], "/app");
    assert_eq!(run["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(run["Cmd"], serde_json::json!(["echo hi"]));
    assert_eq!(run["Labels"]["org.opencontainers.image.title"], "app");
    assert_eq!(run["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    // The base layer, the build step's layer and the new file's layer.
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);
    let history: Vec<&str> = config["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["created_by"].as_str())
        .collect();
    assert!(
        history.contains(&"withNewFile /app/config.txt"),
        "{history:?}"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{address}"),
    ]))
    .unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    // The base layer went up as the registry served it: the same blob.
    let base: serde_json::Value = serde_json::from_slice(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{image}"),
    ]))
    .unwrap();
    assert_eq!(manifest["layers"][0]["digest"], base["layers"][0]["digest"]);
    // Mounted from the base's repository, not uploaded again.
    let log = registry.log();
    let base_layer = base["layers"][0]["digest"].as_str().unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("\"POST /v2/team/app/blobs/uploads/?mount=")
                && l.contains(base_layer)
                && l.contains("\" 201 ")),
        "{log}"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("PUT /v2/team/app/blobs/uploads/") && l.contains(base_layer)),
        "the base layer was uploaded again"
    );
}

#[test]
fn publishing_the_same_pipeline_twice_gives_the_same_digest() {
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    // Two users, two stores: every step runs twice, at different times.
    let publish = |tag: &str| {
        let mut tanto = Tanto::new();
        tanto.env("SOURCE_DATE_EPOCH", "1700000000");
        let address = format!("{}/team/app:{tag}", registry.host());
        let (_, published) = build_and_publish(&tanto, &image, &address);
        published.split_once('@').unwrap().1.to_owned()
    };
    let first = publish("first");
    let second = publish("second");
    assert_eq!(first, second);
}

#[test]
fn an_exported_tarball_loads_in_podman_and_imports_back() {
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    let selection = format!(
        r#"listing: withExec(args: ["sh", "-c", {}]) {{ stdout }}
           export(path: "app.tar")
           asTarball {{ size }}"#,
        lit(LISTING)
    );
    let answer = query_ok(&tanto, &pipeline(&image).replace("SELECTION", &selection));
    let listing = dig(&answer, "listing")["stdout"].as_str().unwrap();
    let tarball = tanto.home().join("app.tar");
    assert_eq!(dig(&answer, "export"), tarball.to_str().unwrap());
    let leftovers: Vec<_> = std::fs::read_dir(tanto.home())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("tanto-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // podman takes it (run by root in a throwaway store: podman is the
    // judge here, not the product).
    let podman_dir = tempfile::tempdir().unwrap();
    let podman = |args: &[&str]| {
        let out = Command::new("podman")
            .arg("--root")
            .arg(podman_dir.path().join("root"))
            .arg("--runroot")
            .arg(podman_dir.path().join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .output()
            .expect("podman (Debian package podman) must be installed");
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let loaded = podman(&["load", "-i", tarball.to_str().unwrap()]);
    let id = loaded.lines().last().unwrap().rsplit(' ').next().unwrap();
    let inspected: serde_json::Value =
        serde_json::from_str(&podman(&["image", "inspect", id])).unwrap();
    assert_eq!(
        inspected[0]["Config"]["WorkingDir"], "/app",
        "{inspected:#}"
    );

    // skopeo reads it as an OCI archive.
    let inspected: serde_json::Value = serde_json::from_slice(&skopeo(&[
        "inspect",
        &format!("oci-archive:{}", tarball.display()),
    ]))
    .unwrap();
    assert_eq!(
        inspected["Layers"].as_array().unwrap().len(),
        3,
        "{inspected:#}"
    );

    // The same image imported from the tarball (by tanto pull, by `from`
    // and by `import` of asTarball's file) has the same root file system.
    let importer = Tanto::new();
    let copy = importer.home().join("app.tar");
    std::fs::copy(&tarball, &copy).unwrap();
    importer.give(&copy);
    let pulled = importer.ok(&["pull", &format!("oci-archive:{}", copy.display())]);
    assert!(pulled.stdout.contains("@sha256:"), "{}", pulled.stdout);
    let imported = listing_of(&importer, "oci-archive:app.tar");
    assert_same_listing(&imported, listing, "the imported tarball");

    // asTarball makes the same tarball as a file of the pipeline.
    let size = dig(&answer, "asTarball")["size"].as_u64().unwrap();
    assert_eq!(size, std::fs::metadata(&tarball).unwrap().len());
}

#[test]
fn bad_publishes_fail_clearly_and_tag_nothing() {
    let registry = Registry::start_with_basic_auth("ci", "right");
    let open = Registry::start();
    let image = fixtures::serve_debian(&open);
    let tanto = Tanto::new();

    // An invalid reference.
    let (ok, answer) = tanto.query(&format!(
        r#"{{ container {{ from(address: "{image}") {{ publish(address: "Not A Reference!") }} }} }}"#
    ));
    assert!(!ok);
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("\"Not A Reference!\" is not a valid image reference"),
        "{message}"
    );

    // Docker media types cannot carry zstd layers.
    let (ok, answer) = tanto.query(&format!(
        r#"{{ container {{ from(address: "{image}") {{ withExec(args: ["touch", "/x"]) {{
             publish(address: "{}/a:b", forcedCompression: Zstd, mediaTypes: DockerMediaTypes) }} }} }} }}"#,
        open.host()
    ));
    assert!(!ok);
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("Docker media types have no zstd"),
        "{message}"
    );

    // Without credentials: refused, and no tag appears. (Wrong credentials
    // through withRegistryAuth are tested with the Python SDK, in sdk.rs.)
    let (ok, answer) = tanto.query(&format!(
        r#"{{ container {{ from(address: "{image}") {{ withExec(args: ["touch", "/x"]) {{
             publish(address: "{}/team/app:v1") }} }} }} }}"#,
        registry.host()
    ));
    assert!(!ok);
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("requires authentication"), "{message}");
    let tags = registry
        .data_dir()
        .join("docker/registry/v2/repositories/team/app/_manifests/tags");
    assert!(!tags.exists(), "a failed publish left a tag");
}

#[test]
fn compression_and_media_types_are_as_asked() {
    let registry = Registry::start();
    let image = fixtures::serve_debian(&registry);
    let tanto = Tanto::new();
    let manifest_of = |address: &str| -> serde_json::Value {
        serde_json::from_slice(&skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--raw",
            &format!("docker://{address}"),
        ]))
        .unwrap()
    };
    let publish = |tag: &str, arguments: &str| {
        let address = format!("{}/team/app:{tag}", registry.host());
        let answer = query_ok(
            &tanto,
            &format!(
                r#"container {{ from(address: "{image}") {{ withExec(args: ["sh", "-c", "echo {tag} > /tag"]) {{
                     publish(address: "{address}"{arguments}) }} }} }}"#
            ),
        );
        assert!(dig(&answer, "publish")
            .as_str()
            .unwrap()
            .starts_with(&address));
        address
    };

    // Every layer zstd, the base recompressed; tanto pulls it back.
    let zstd = publish("zstd", ", forcedCompression: Zstd");
    let manifest = manifest_of(&zstd);
    for layer in manifest["layers"].as_array().unwrap() {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
    }
    let puller = Tanto::new();
    let answer = query_ok(
        &puller,
        &format!(
            r#"container {{ from(address: "{zstd}") {{ withExec(args: ["cat", "/tag"]) {{ stdout }} }} }}"#
        ),
    );
    assert_eq!(dig(&answer, "stdout"), "zstd\n");

    // Docker's media types, for registries and tools that want them.
    let docker = publish("docker", ", mediaTypes: DockerMediaTypes");
    let manifest = manifest_of(&docker);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    assert_eq!(
        manifest["layers"][1]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
}
