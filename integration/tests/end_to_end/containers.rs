//! tanto inside containers without privileges, as CI runners and
//! Kubernetes pods run it: the tanto image is built and published by
//! tanto's own pipeline (`engine/examples/tanto_image.rs`, run rootless as
//! the test user), pulled by podman, and run with podman's default
//! security — as root, as the image's user with subordinate ids, as a user
//! without them (squash mode), and with the store on a volume or on the
//! container's own root file system. In
//! each, `tanto doctor` says what tanto will do, and a pipeline pulls the
//! Debian and busybox fixtures from the test registry and runs steps on
//! them.

use crate::support;

use std::path::Path;
use std::sync::OnceLock;

use support::fixtures;
use support::podman::{self, Ran};
use support::tanto::{self, Tanto};

/// The tanto image, published to the Debian fixture's registry and pulled
/// into podman: its reference.
fn tanto_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let debian = fixtures::served_debian();
        let registry = debian.split('/').next().unwrap();
        let address = format!("{registry}/tanto:test");
        let builder = Tanto::new();
        let pipeline = tanto::example("engine", "tanto_image");
        let binary = tanto::static_binary().to_str().unwrap().to_owned();
        let run = builder.run_program(&pipeline, &[debian, &binary, &address]);
        assert!(run.success, "the image pipeline failed: {}", run.stderr);
        let published = run.stdout.trim().to_owned();
        assert!(
            published.starts_with(&format!("{address}@sha256:")),
            "{published}"
        );
        podman::pull(&published);
        published
    })
}

/// A volume as a Kubernetes `emptyDir` is: a fresh directory owned by
/// root, writable by everyone.
fn empty_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// The pipeline run in each container: the Debian fixture with a file of
/// the pipeline's and the busybox fixture, a step on each.
fn pipeline_document() -> String {
    let debian = fixtures::served_debian();
    let busybox = &fixtures::served_busybox().1;
    format!(
        r#"{{
  debian: container {{ from(address: "{debian}") {{
    withNewFile(path: "/greeting", contents: "hello from the pipeline") {{
      withExec(args: ["sh", "-c", "cat /greeting; echo; stat -c %U /var/mail; cat /etc/debian_version"]) {{ stdout }} }} }} }}
  busybox: container {{ from(address: "{busybox}") {{
    withExec(args: ["sh", "-c", "echo busybox says hi; ls /proc/self/ns >/dev/null && echo proc ok"]) {{ stdout }} }} }}
}}"#
    )
}

/// Runs the pipeline in `container` (the image's entrypoint is `tanto`);
/// checks what each step printed.
fn runs_the_pipeline(container: &podman::Run) -> Ran {
    let documents = empty_dir();
    std::fs::write(
        documents.path().join("pipeline.graphql"),
        pipeline_document(),
    )
    .unwrap();
    let container = container.clone().volume(documents.path(), "/pipeline");
    let ran = container.run(&["--progress", "plain", "query", "/pipeline/pipeline.graphql"]);
    assert!(ran.success, "{ran}");
    let answer: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    let debian = answer["data"]["debian"]["from"]["withNewFile"]["withExec"]["stdout"]
        .as_str()
        .unwrap_or_else(|| panic!("{ran}"));
    // Files keep their owners: /var/mail is the mail group's, owned by root.
    assert!(
        debian.starts_with("hello from the pipeline\nroot\n12."),
        "{debian}"
    );
    let busybox = answer["data"]["busybox"]["from"]["withExec"]["stdout"].as_str();
    assert_eq!(busybox, Some("busybox says hi\nproc ok\n"), "{ran}");
    ran
}

fn doctor(container: &podman::Run) -> String {
    let ran = container.run(&["doctor"]);
    format!("{}{}", ran.stdout, ran.stderr)
}

#[test]
fn as_root_without_privileges_tanto_enters_a_user_namespace_and_runs_the_pipeline() {
    let volume = empty_dir();
    let container = podman::Run::new(tanto_image())
        .option("--user", "0")
        .volume(volume.path(), "/var/lib/tanto");
    let said = doctor(&container);
    assert!(
        said.contains("root without CAP_SYS_ADMIN") && said.contains("tanto can run here"),
        "{said}"
    );
    assert!(
        said.contains("WARN process namespaces") && said.contains("procMount: Unmasked"),
        "{said}"
    );
    // Each warning on a line of its own, none inside another check's line.
    assert!(
        said.lines()
            .all(|l| l.matches(" WARN").count() <= 1 && !l.contains("\u{1b}[")),
        "{said}"
    );
    runs_the_pipeline(&container);
    // Again on the same store: nothing runs twice.
    let again = runs_the_pipeline(&container);
    assert!(again.stderr.contains("0 ran"), "{again}");
}

#[test]
fn as_the_images_user_with_subordinate_ids_the_pipeline_runs_rootless() {
    let volume = empty_dir();
    let container = podman::Run::new(tanto_image()).volume(volume.path(), "/var/lib/tanto");
    let said = doctor(&container);
    assert!(
        said.contains("tanto (uid 1000), rootless mode")
            && said.contains("ok   subordinate ids")
            && said.contains("tanto can run here"),
        "{said}"
    );
    runs_the_pipeline(&container);
    // The store is tanto's own, below the volume's root.
    let store = volume.path().join("store");
    assert_eq!(owner(&store), 1000);
}

#[test]
fn as_a_user_without_subordinate_ids_squash_mode_runs_the_pipeline() {
    let volume = empty_dir();
    let container = podman::Run::new(tanto_image())
        .option("--user", "2000:2000")
        .option("--env", "TANTO_SINGLE_ID=squash")
        .volume(volume.path(), "/var/lib/tanto");
    let said = doctor(&container);
    assert!(
        said.contains("rootless mode") && said.contains("tanto can run here"),
        "{said}"
    );
    let ran = runs_the_pipeline(&container);
    assert!(ran.stderr.contains("squash"), "the warning says so: {ran}");
}

/// A chain of steps that removes, changes and adds files, each step
/// reading what the one before left: whiteouts and changes as the
/// copying snapshotter writes them.
const CHANGES_DOCUMENT: &str = r#"{
  container { from(address: "DEBIAN") {
    withExec(args: ["sh", "-c", "rm /etc/debian_version && rm -r /var/mail && echo changed >> /etc/issue && mkdir -p /new/dir && echo new > /new/dir/file"]) {
      withExec(args: ["sh", "-c", "test ! -e /etc/debian_version && test ! -e /var/mail && tail -n1 /etc/issue && cat /new/dir/file && ls /etc/.wh.* 2>/dev/null; echo ok"]) {
        stdout } } } }
}"#;

#[test]
fn with_the_store_on_the_containers_own_root_file_system_steps_run_on_copies() {
    let container = podman::Run::new(tanto_image());
    let said = doctor(&container);
    assert!(
        said.contains("WARN snapshotter")
            && said.contains("copies of their layers")
            && said.contains("put the store on a volume")
            && said.contains("tanto can run here"),
        "{said}"
    );
    let documents = empty_dir();
    std::fs::write(
        documents.path().join("pipeline.graphql"),
        pipeline_document(),
    )
    .unwrap();
    std::fs::write(
        documents.path().join("changes.graphql"),
        CHANGES_DOCUMENT.replace("DEBIAN", fixtures::served_debian()),
    )
    .unwrap();
    // One container, so the store stays: the pipeline, again, and a chain.
    let script = "tanto --progress plain query /pipeline/pipeline.graphql >/tmp/first.json \
        && tanto --progress plain query /pipeline/pipeline.graphql 2>/tmp/again.log >/dev/null \
        && grep '0 ran' /tmp/again.log >&2 && cat /tmp/first.json && echo \
        && tanto --progress plain query /pipeline/changes.graphql";
    let ran = container
        .volume(documents.path(), "/pipeline")
        .option("--entrypoint", "sh")
        .run(&["-c", script]);
    assert!(ran.success, "{ran}");
    assert!(
        ran.stderr.contains("copies of their layers"),
        "one warning says so: {ran}"
    );
    assert!(
        ran.stderr.contains("0 ran"),
        "the second run is cached: {ran}"
    );
    // Two indented answers, one after the other.
    let answers: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&ran.stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("not two JSON answers ({e}): {ran}"));
    assert_eq!(answers.len(), 2, "{ran}");
    let first = &answers[0];
    let debian = first["data"]["debian"]["from"]["withNewFile"]["withExec"]["stdout"]
        .as_str()
        .unwrap_or_else(|| panic!("{ran}"));
    assert!(
        debian.starts_with("hello from the pipeline\nroot\n12."),
        "{debian}"
    );
    let changes = &answers[1];
    let stdout = changes["data"]["container"]["from"]["withExec"]["withExec"]["stdout"]
        .as_str()
        .unwrap_or_else(|| panic!("{ran}"));
    assert_eq!(stdout, "changed\nnew\nok\n", "{ran}");
}

#[test]
fn overlay_asked_for_where_it_cannot_mount_is_refused_with_what_to_do() {
    let ran = podman::Run::new(tanto_image())
        .option("--env", "TANTO_SNAPSHOTTER=overlay")
        .run(&["pull", fixtures::served_busybox().1.as_str()]);
    assert!(!ran.success, "{ran}");
    let said = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        said.contains("TANTO_SNAPSHOTTER is overlay") && said.contains("put TANTO_ROOT on"),
        "{said}"
    );
}

fn owner(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().uid()
}

#[test]
fn the_example_pods_command_line_runs_its_pipeline() {
    let examples = kubernetes_examples();
    let args = pod_args("pod.yaml");
    // The pod's images, from the test registry instead of Docker Hub.
    let pipeline = std::fs::read_to_string(examples.join("pipeline.graphql"))
        .unwrap()
        .replace(
            "\"debian:bookworm\"",
            &format!("{:?}", fixtures::served_debian()),
        )
        .replace(
            "\"busybox:latest\"",
            &format!("{:?}", fixtures::served_busybox().1),
        );
    let config_map = empty_dir();
    std::fs::write(config_map.path().join("pipeline.graphql"), pipeline).unwrap();
    let volume = empty_dir();
    let container = podman::Run::new(tanto_image())
        .option("--user", "1000")
        .volume(volume.path(), "/var/lib/tanto")
        .volume(config_map.path(), "/pipeline");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ran = container.run(&args);
    assert!(ran.success, "{ran}");
    assert!(
        ran.stdout.contains("hello from the pipeline") && ran.stdout.contains("busybox says hi"),
        "{ran}"
    );
}

/// `examples/kubernetes/build-pod.yaml`'s command line, as the pod runs it:
/// its Dockerfile and context built by the image's user and pushed, the
/// registry's login read from the docker config the pod mounts.
#[test]
fn the_example_build_pods_command_line_builds_and_pushes() {
    let examples = kubernetes_examples();
    let args = pod_args("build-pod.yaml");
    // The pod's base image and registry: the test registry's.
    let debian = fixtures::served_debian();
    let registry = debian.split('/').next().unwrap();
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("registry.example.com", registry))
        .collect();
    let context = empty_dir();
    for file in ["Dockerfile", "greeting.txt"] {
        let text = std::fs::read_to_string(examples.join("build").join(file))
            .unwrap()
            .replace("debian:bookworm", debian);
        std::fs::write(context.path().join(file), text).unwrap();
    }
    // The Secret's config.json: a login the plain-HTTP test registry ignores.
    let login = empty_dir();
    std::fs::write(
        login.path().join("config.json"),
        format!(r#"{{"auths": {{"{registry}": {{"auth": "Y2k6c2VjcmV0"}}}}}}"#),
    )
    .unwrap();
    let volume = empty_dir();
    let container = podman::Run::new(tanto_image())
        .option("--user", "1000")
        .option("--env", "DOCKER_CONFIG=/registry-login")
        .volume(volume.path(), "/var/lib/tanto")
        .volume(context.path(), "/context")
        .volume(login.path(), "/registry-login");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ran = container.run(&args);
    assert!(ran.success, "{ran}");
    let pushed = format!("{registry}/team/app:1@sha256:");
    assert!(ran.stdout.contains(&pushed), "{ran}");
    let app = format!("{registry}/team/app:1");
    podman::pull(&app);
    let ran = podman::Run::new(&app).run(&[]);
    assert!(
        ran.success && ran.stdout == "BUILT IN A POD WITHOUT PRIVILEGES\n",
        "{ran}"
    );
}

fn kubernetes_examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/kubernetes")
}

/// The container's `args` of the pod spec `file` in `examples/kubernetes/`.
fn pod_args(file: &str) -> Vec<String> {
    let pod = std::fs::read_to_string(kubernetes_examples().join(file)).unwrap();
    pod.lines()
        .find_map(|l| l.trim().strip_prefix("args: "))
        .map(|list| serde_json::from_str(list).unwrap())
        .unwrap_or_else(|| panic!("{file} gives the container's args"))
}
