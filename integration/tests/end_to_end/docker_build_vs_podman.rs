//! The same Dockerfiles built by tanto and by `podman build` (buildah, the
//! reference for Docker's semantics on this machine), as the unprivileged
//! test user: the files each image holds (paths, modes, owners, sizes,
//! contents) and their configs must agree. The corpus keeps to what
//! Debian 12's buildah (1.28) builds: no here-documents, `--link` or
//! `--exclude`, which `docker_build.rs` tests against what the Dockerfile
//! says instead.

use crate::support;

use support::fixtures;
use support::skopeo::skopeo;
use support::tanto::Tanto;

/// One Dockerfile of the corpus, the files of its context, and the paths
/// whose trees are compared.
struct Case {
    name: &'static str,
    dockerfile: &'static str,
    files: &'static [(&'static str, &'static str)],
    paths: &'static str,
}

const CORPUS: &[Case] = &[
    Case {
        name: "instructions",
        dockerfile: r#"ARG BASE
FROM ${BASE} AS build
ARG VERSION=1.0
ENV APP_HOME=/app PATH=/app/bin:$PATH
WORKDIR $APP_HOME
COPY --chown=1000:1000 src/ ./src/
COPY --chmod=750 bin/tool.sh bin/
COPY --chmod=751 src/ /app/locked/
COPY notes.txt .
COPY notes.txt *.conf /etc/demo/
RUN echo "version ${VERSION:-none} in $(pwd)" > built && mkdir -p out && cp -r src/* out/
RUN ["sh", "-c", "echo exec form > /app/exec"]
SHELL ["/bin/sh", "-ec"]
RUN --mount=type=cache,target=/var/cache/demo echo cached >> /var/cache/demo/log; test -f /var/cache/demo/log

FROM ${BASE}
COPY --from=build /app /app
COPY --from=build /etc/demo/ /etc/demo/
USER 1000:1000
WORKDIR /app
LABEL org.example.name="demo app" org.example.tier=backend
EXPOSE 8080/tcp 9090/udp
VOLUME /data
STOPSIGNAL SIGTERM
ONBUILD RUN echo child
HEALTHCHECK --interval=30s --timeout=5s --retries=2 CMD ["/app/bin/tool.sh", "health"]
ENTRYPOINT ["/app/bin/tool.sh"]
CMD ["serve"]
"#,
        files: &[
            ("src/main.sh", "echo main\n"),
            ("src/lib.sh", "echo lib\n"),
            ("src/nested/deep.sh", "echo deep\n"),
            ("src/ignored.tmp", "left out\n"),
            ("bin/tool.sh", "#!/bin/sh\necho tool \"$@\"\n"),
            ("notes.txt", "notes\n"),
            ("a.conf", "a=1\n"),
            ("b.conf", "b=2\n"),
            (".dockerignore", "src/*.tmp\n"),
        ],
        paths: "/app /etc/demo",
    },
    Case {
        name: "stages and args",
        dockerfile: r#"ARG BASE
ARG FLAVOUR=plain
FROM ${BASE} AS base
RUN mkdir /stage && echo base > /stage/base

FROM base AS one
ARG FLAVOUR
RUN echo "one $FLAVOUR" > /stage/one

FROM base AS two
RUN echo two > /stage/two

FROM two
COPY --from=one /stage/one /stage/
RUN ls /stage > /stage/list && chmod 600 /stage/list
"#,
        files: &[],
        paths: "/stage",
    },
];

/// Lists `paths` in the image with what decides their sameness.
const LIST: &str =
    "find $0 -printf '%p %m %U:%G %y %s\\n' | sort; find $0 -type f -exec md5sum {} + | sort";

/// The config fields a Dockerfile sets.
const FIELDS: &[&str] = &[
    "Env",
    "Entrypoint",
    "Cmd",
    "WorkingDir",
    "User",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "OnBuild",
    "Healthcheck",
];

#[test]
fn tanto_and_podman_build_the_same_images() {
    // The Debian fixture with its layer's history, which buildah insists on.
    let registry = support::registry::Registry::start();
    support::image::Image::new(vec![fixtures::debian().layer.clone()])
        .with_history()
        .push(&registry, "fixtures/debian", "bookworm");
    let image = format!("{}/fixtures/debian:bookworm", registry.host());
    let tanto = Tanto::new();
    // As the test user, in their own podman store; a `command` that runs
    // containers gets the options this machine needs.
    let podman = |command: &[&str], args: &[&str]| support::podman::as_user(&tanto, command, args);
    let base = format!("BASE={image}");
    for (n, case) in CORPUS.iter().enumerate() {
        let dir = format!("case{n}");
        tanto.write_home_file(&format!("{dir}/Dockerfile"), case.dockerfile);
        for (path, content) in case.files {
            tanto.write_home_file(&format!("{dir}/{path}"), content);
        }
        let tag = format!("localhost/corpus-{n}");
        podman(
            &["build"],
            &[
                "--quiet",
                "--format",
                "docker",
                "--tls-verify=false",
                "--build-arg",
                &base,
                "-t",
                &tag,
                &dir,
            ],
        );
        let podman_tree = podman(
            &["run", "--rm"],
            &[
                "--user",
                "0:0",
                "--entrypoint",
                "sh",
                &tag,
                "-c",
                LIST,
                case.paths,
            ],
        );
        podman(
            &[],
            &[
                "save",
                "--format",
                "docker-archive",
                "-o",
                &format!("podman-{n}.tar"),
                &tag,
            ],
        );

        tanto.ok(&[
            "build",
            "--build-arg",
            &base,
            "-o",
            &format!("type=docker,dest=tanto-{n}.tar"),
            &dir,
        ]);
        let (ok, answer) = tanto.query(&format!(
            r#"{{ host {{ directory(path: "{dir}") {{
                 dockerBuild(buildArgs: [{{name: "BASE", value: "{image}"}}]) {{
                   withUser(name: "0:0") {{ withExec(args: ["sh", "-c", {list}, {paths}]) {{ stdout }} }} }} }} }} }}"#,
            list = serde_json::to_string(LIST).unwrap(),
            paths = serde_json::to_string(case.paths).unwrap(),
        ));
        assert!(ok, "{}: {answer:#}", case.name);
        let tanto_tree = answer["data"]["host"]["directory"]["dockerBuild"]["withUser"]["withExec"]
            ["stdout"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(tanto_tree, podman_tree, "{}: the trees differ", case.name);

        let config = |archive: &str| -> serde_json::Value {
            let path = tanto.home().join(archive);
            let docker_archive = format!("docker-archive:{}", path.display());
            serde_json::from_slice(&skopeo(&["inspect", "--config", &docker_archive])).unwrap()
        };
        let ours = config(&format!("tanto-{n}.tar"));
        let mut theirs = config(&format!("podman-{n}.tar"));
        // buildah signs its work; that label is no part of the Dockerfile.
        if let Some(labels) = theirs["config"]["Labels"].as_object_mut() {
            labels.remove("io.buildah.version");
            if labels.is_empty() {
                theirs["config"]["Labels"] = serde_json::Value::Null;
            }
        }
        for field in FIELDS {
            assert_eq!(
                ours["config"][field], theirs["config"][field],
                "{}: config {field} differs",
                case.name
            );
        }
    }
}
