//! `Directory.dockerBuild`: Dockerfiles built by tanto, rootless, from
//! images served by a real registry, checked for what the Dockerfile says
//! the image holds.

use crate::support;

use support::fixtures;
use support::skopeo::skopeo;
use support::tanto::Tanto;

const DOCKERFILE: &str = r#"# syntax=docker/dockerfile:1
ARG BASE
FROM ${BASE} AS base
ARG GREETING=hello
ENV APP_HOME=/app
WORKDIR $APP_HOME
COPY --chown=1000:1000 src/ ./src/
COPY notes.txt /etc/
COPY <<CONF /etc/app.conf
home=${APP_HOME} greeting='${GREETING}'
CONF
RUN echo "$GREETING from $(pwd)" > greeting && cat greeting
RUN --mount=type=cache,target=/var/cache/demo echo ran >> /var/cache/demo/log

# Never needed by the target: never built (it would fail).
FROM base AS unused
RUN exit 1

FROM base
COPY --from=base /app/greeting /greeting-copy
RUN <<EOF
set -e
echo "heredoc in $(pwd)" > /from-heredoc
EOF
LABEL org.example.name="demo app"
VOLUME /data
STOPSIGNAL SIGTERM
ONBUILD RUN echo triggered > /onbuild
EXPOSE 8080/tcp
ENTRYPOINT ["/bin/cat"]
CMD ["/app/greeting"]
"#;

fn context(tanto: &Tanto, dockerfile: &str) {
    tanto.write_home_file("ctx/Dockerfile", dockerfile);
    tanto.write_home_file("ctx/src/main.sh", "echo main\n");
    tanto.write_home_file("ctx/src/secret.txt", "do not ship\n");
    tanto.write_home_file("ctx/notes.txt", "notes\n");
    tanto.write_home_file("ctx/.dockerignore", "# keep it home\nsrc/secret.txt\n");
}

#[test]
fn a_multi_stage_dockerfile_builds_what_it_says() {
    let image = fixtures::served_debian();
    let tanto = Tanto::new();
    context(&tanto, DOCKERFILE);
    let (ok, answer) = tanto.query(&format!(
        r#"{{ host {{ directory(path: "ctx") {{
             dockerBuild(buildArgs: [{{name: "BASE", value: "{image}"}}, {{name: "GREETING", value: "hi"}}]) {{
               greeting: file(path: "/app/greeting") {{ contents }}
               copied: file(path: "/greeting-copy") {{ contents }}
               heredoc: file(path: "/from-heredoc") {{ contents }}
               notes: file(path: "/etc/notes.txt") {{ contents }}
               conf: file(path: "/etc/app.conf") {{ contents }}
               src: directory(path: "/app/src") {{ entries }}
               workdir
               home: envVariable(name: "APP_HOME")
               greetingArg: envVariable(name: "GREETING")
               label(name: "org.example.name")
               entrypoint
               defaultArgs
               exposedPorts {{ port protocol }}
               run: withExec(args: [], useEntrypoint: true) {{ stdout }}
               owner: withExec(args: ["stat", "-c", "%u:%g", "/app/src/main.sh"], useEntrypoint: false) {{ stdout }}
             }} }} }} }}"#
    ));
    assert!(ok, "{answer:#}");
    let built = &answer["data"]["host"]["directory"]["dockerBuild"];
    assert_eq!(built["greeting"]["contents"], "hi from /app\n");
    assert_eq!(built["copied"]["contents"], "hi from /app\n");
    assert_eq!(built["heredoc"]["contents"], "heredoc in /app\n");
    assert_eq!(built["notes"]["contents"], "notes\n");
    assert_eq!(built["conf"]["contents"], "home=/app greeting='hi'\n");
    assert_eq!(built["src"]["entries"], serde_json::json!(["main.sh"]));
    assert_eq!(built["workdir"], "/app");
    assert_eq!(built["home"], "/app");
    // ARGs are the steps' environment, never the image's.
    assert_eq!(built["greetingArg"], serde_json::Value::Null);
    assert_eq!(built["label"], "demo app");
    assert_eq!(built["entrypoint"], serde_json::json!(["/bin/cat"]));
    assert_eq!(built["defaultArgs"], serde_json::json!(["/app/greeting"]));
    assert_eq!(
        built["exposedPorts"],
        serde_json::json!([{"port": 8080, "protocol": "TCP"}])
    );
    assert_eq!(built["run"]["stdout"], "hi from /app\n");
    assert_eq!(built["owner"]["stdout"], "1000:1000\n");
}

#[test]
fn bad_dockerfiles_name_the_file_the_line_and_the_instruction() {
    let image = fixtures::served_debian();
    let tanto = Tanto::new();
    let cases = [
        (
            format!("FROM {image}\nRUN true\nCOPPY a b\n"),
            "Dockerfile line 3 (COPPY): unknown instruction COPPY",
        ),
        (
            format!("FROM {image}\nCOPY --form=x a b\n"),
            "Dockerfile line 2 (COPY): unknown flag --form",
        ),
        (
            format!("FROM {image}\nCOPY missing.txt /\n"),
            "Dockerfile line 2 (COPY): missing.txt: no such file or directory in the build context",
        ),
        (
            format!("FROM {image}\nRUN --network=bridge true\n"),
            "--network is default, host or none, not \"bridge\"",
        ),
    ];
    for (dockerfile, said) in cases {
        context(&tanto, &dockerfile);
        let (ok, answer) = tanto
            .query(r#"{ host { directory(path: "ctx") { dockerBuild(target: "") { sync } } } }"#);
        assert!(!ok, "{dockerfile}: {answer:#}");
        let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(said), "{dockerfile}\n{message}");
    }
    context(&tanto, &format!("FROM {image} AS one\n"));
    let (ok, answer) = tanto
        .query(r#"{ host { directory(path: "ctx") { dockerBuild(target: "two") { sync } } } }"#);
    assert!(!ok);
    let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("no stage is named \"two\"") && message.contains("one"),
        "{message}"
    );
    let (ok, answer) = tanto.query(
        r#"{ host { directory(path: "ctx") { dockerBuild(dockerfile: "Other.Dockerfile") { sync } } } }"#,
    );
    assert!(!ok);
    let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Other.Dockerfile") && message.contains("no such file"),
        "{message}"
    );
}

/// `RUN --network=none`: the step has a network of its own with loopback
/// up and nothing else, so the host's services (here the registry on
/// 127.0.0.1) are out of reach; the next `RUN` is on the host's network.
#[test]
fn run_with_network_none_reaches_nothing_but_its_own_loopback() {
    let image = fixtures::served_debian();
    let (host, port) = image
        .split('/')
        .next()
        .and_then(|a| a.rsplit_once(':'))
        .expect("a registry address with a port");
    let tanto = Tanto::new();
    let connect = "{ (: <>/dev/tcp/$HOST/$PORT) 2>&1 | tail -n 1 | grep . || echo reached; }";
    context(
        &tanto,
        &format!(
            r#"ARG BASE
FROM ${{BASE}}
ARG HOST
ARG PORT
RUN --network=none bash -c 'grep -o "^ *[a-z0-9]*:" /proc/net/dev | tr -d " :" > /none-interfaces; ls /sys/class/net > /none-sys; {connect} > /none-connect'
RUN bash -c '{connect} > /default-connect'
"#
        ),
    );
    let (ok, answer) = tanto.query(&format!(
        r#"{{ host {{ directory(path: "ctx") {{
             dockerBuild(buildArgs: [{{name: "BASE", value: "{image}"}}, {{name: "HOST", value: "{host}"}}, {{name: "PORT", value: "{port}"}}]) {{
               interfaces: file(path: "/none-interfaces") {{ contents }}
               sys: file(path: "/none-sys") {{ contents }}
               none: file(path: "/none-connect") {{ contents }}
               default: file(path: "/default-connect") {{ contents }}
             }} }} }} }}"#
    ));
    assert!(ok, "{answer:#}");
    let built = &answer["data"]["host"]["directory"]["dockerBuild"];
    assert_eq!(built["interfaces"]["contents"], "lo\n");
    // Its /sys is its own too: the host's interfaces do not show.
    assert_eq!(built["sys"]["contents"], "lo\n");
    // Refused, not unreachable: loopback is up, and nothing listens there.
    let none = built["none"]["contents"].as_str().unwrap();
    assert!(none.contains("Connection refused"), "{none}");
    assert_eq!(built["default"]["contents"], "reached\n");
}

/// Stages that one stage copies from build at the same time: each `RUN`
/// below waits (up to a minute) for the other to arrive in a shared cache
/// volume, which only happens if they run together. Built one after the
/// other, the first would wait in vain and fail.
#[test]
fn independent_stages_build_in_parallel() {
    assert!(
        std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2,
        "tanto runs as many steps at once as there are cores: this test needs two"
    );
    let (left, right) = rendezvous(&Tanto::new(), 600);
    assert_eq!(left, "left met right\n");
    assert_eq!(right, "right met left\n");
}

/// `TANTO_PARALLELISM=1`: the same two stages, one at a time. The first
/// waits for the other in vain (for two seconds here) and says so; the
/// second finds the first's mark.
#[test]
fn tanto_parallelism_caps_the_steps_at_work() {
    let mut tanto = Tanto::new();
    tanto.env("TANTO_PARALLELISM", "1");
    let (left, right) = rendezvous(&tanto, 20);
    let mut said = [left, right];
    said.sort();
    assert!(
        said == ["left alone\n", "right met left\n"]
            || said == ["left met right\n", "right alone\n"],
        "{said:?}"
    );

    tanto.env("TANTO_PARALLELISM", "0");
    let refused = tanto.fails(&["query", "-"]);
    assert!(
        refused
            .stderr
            .contains("TANTO_PARALLELISM=\"0\" is not valid"),
        "{}",
        refused.stderr
    );
}

/// Builds two stages that each wait up to `tenths` of a second for the
/// other in a shared cache volume, and a last stage that copies both;
/// what each stage said: `ME met OTHER`, or `ME alone`.
fn rendezvous(tanto: &Tanto, tenths: u32) -> (String, String) {
    let image = fixtures::served_debian();
    let meet = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,id=rendezvous,target=/meet,sharing=shared \\\n  \
             touch /meet/{me}-$RUN && for i in $(seq {tenths}); do test -e /meet/{other}-$RUN && break; sleep 0.1; done; \\\n  \
             if test -e /meet/{other}-$RUN; then echo {me} met {other}; else echo {me} alone; fi > /{me}\n"
        )
    };
    // A token of this run, so earlier runs' files in the volume count for nothing.
    let run = std::time::UNIX_EPOCH
        .elapsed()
        .unwrap()
        .as_nanos()
        .to_string();
    context(
        tanto,
        &format!(
            "ARG BASE\nFROM ${{BASE}} AS left\nARG RUN\n{}FROM ${{BASE}} AS right\nARG RUN\n{}\
             FROM ${{BASE}}\nCOPY --from=left /left /\nCOPY --from=right /right /\n",
            meet("left", "right"),
            meet("right", "left"),
        ),
    );
    let (ok, answer) = tanto.query(&format!(
        r#"{{ host {{ directory(path: "ctx") {{
             dockerBuild(buildArgs: [{{name: "BASE", value: "{image}"}}, {{name: "RUN", value: {run:?}}}]) {{
               left: file(path: "/left") {{ contents }}
               right: file(path: "/right") {{ contents }}
             }} }} }} }}"#
    ));
    assert!(ok, "{answer:#}");
    let built = &answer["data"]["host"]["directory"]["dockerBuild"];
    let said = |name: &str| {
        built[name]["contents"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    (said("left"), said("right"))
}

/// A change to one copied file runs again what comes after its `COPY`,
/// and nothing before it.
#[test]
fn a_changed_file_reruns_only_the_steps_after_its_copy() {
    let image = fixtures::served_debian();
    let tanto = Tanto::new();
    tanto.write_home_file(
        "ctx/Dockerfile",
        &format!(
            "FROM {image}\nRUN echo before > /before\nCOPY input.txt /input.txt\nRUN cp /input.txt /after\n"
        ),
    );
    tanto.write_home_file("ctx/input.txt", "first\n");
    let build = [
        "--progress",
        "plain",
        "build",
        "-o",
        "type=oci,dest=app.tar",
        "ctx",
    ];
    let ran = |out: &support::tanto::Run| -> Vec<String> {
        out.stderr
            .lines()
            .filter(|l| l.contains(" RUN ") && l.contains(" DONE "))
            .map(str::to_owned)
            .collect()
    };
    let first = tanto.ok(&build);
    assert_eq!(ran(&first).len(), 2, "{}", first.stderr);
    tanto.write_home_file("ctx/input.txt", "second\n");
    let again = tanto.ok(&build);
    let reran = ran(&again);
    assert!(
        reran.len() == 1 && reran[0].contains("RUN cp /input.txt /after"),
        "{reran:#?}\n{}",
        again.stderr
    );
}

/// `COPY --parents`: each source keeps its path from the context's root,
/// or from its `/./` pivot, as BuildKit copies it.
#[test]
fn copy_parents_keeps_each_sources_path() {
    let image = fixtures::served_debian();
    let tanto = Tanto::new();
    for file in ["x/a.txt", "x/deep/b.txt", "y/c.txt", "y/d.txt"] {
        tanto.write_home_file(&format!("ctx/{file}"), file);
    }
    tanto.write_home_file(
        "ctx/Dockerfile",
        &format!(
            "FROM {image}\nCOPY --parents x/a.txt y/*.txt /parents/\nCOPY --parents ./x/./deep/b.txt /pivoted/\n\
             COPY --parents y /dirs/\nRUN cd / && find parents pivoted dirs | sort > /listing\n"
        ),
    );
    let (ok, answer) = tanto.query(
        r#"{ host { directory(path: "ctx") { dockerBuild { file(path: "/listing") { contents } } } } }"#,
    );
    assert!(ok, "{answer:#}");
    let listing = answer["data"]["host"]["directory"]["dockerBuild"]["file"]["contents"]
        .as_str()
        .unwrap();
    let expected = [
        "dirs",
        "dirs/y",
        "dirs/y/c.txt",
        "dirs/y/d.txt",
        "parents",
        "parents/x",
        "parents/x/a.txt",
        "parents/y",
        "parents/y/c.txt",
        "parents/y/d.txt",
        "pivoted",
        "pivoted/deep",
        "pivoted/deep/b.txt",
    ];
    assert_eq!(listing.lines().collect::<Vec<_>>(), expected, "{listing}");
}

/// `RUN --mount=type=ssh` binds the agent `tanto build --ssh` names and
/// points `SSH_AUTH_SOCK` at it, for that step only; a required agent the
/// build was not given is an error naming what to pass.
#[test]
fn run_with_an_ssh_mount_reaches_the_agent_it_was_given() {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let image = fixtures::served_debian();
    let tanto = Tanto::new();
    // An agent stand-in: it greets whoever connects.
    let socket = tanto.home().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = (&stream).write_all(b"agent here\n");
        }
    });
    tanto.write_home_file(
        "ctx/Dockerfile",
        &format!(
            "FROM {image}\n\
             RUN --mount=type=ssh perl -MIO::Socket::UNIX -e 'print IO::Socket::UNIX->new(Peer => $ENV{{SSH_AUTH_SOCK}})->getline' > /greeting && echo $SSH_AUTH_SOCK > /socket\n\
             RUN echo \"[$SSH_AUTH_SOCK]\" > /after\n"
        ),
    );
    tanto.ok(&[
        "build",
        "--ssh",
        &format!("default={}", socket.display()),
        "-o",
        "type=oci,dest=app.tar",
        "ctx",
    ]);
    let (ok, answer) = tanto.query(
        r#"{ container { from(address: "oci-archive:app.tar") {
             greeting: file(path: "/greeting") { contents }
             socket: file(path: "/socket") { contents }
             after: file(path: "/after") { contents } } } }"#,
    );
    assert!(ok, "{answer:#}");
    let built = &answer["data"]["container"]["from"];
    assert_eq!(built["greeting"]["contents"], "agent here\n");
    assert_eq!(built["socket"]["contents"], "/run/buildkit/ssh_agent.0\n");
    assert_eq!(built["after"]["contents"], "[]\n");

    tanto.write_home_file(
        "ctx/Dockerfile",
        &format!("FROM {image}\nRUN --mount=type=ssh,required=true true\n"),
    );
    let refused = tanto.fails(&["build", "ctx"]);
    assert!(
        refused.stderr.contains("an SSH agent is required") && refused.stderr.contains("--ssh"),
        "{}",
        refused.stderr
    );
    let not_a_socket = tanto.fails(&["build", "--ssh", "default=ctx/Dockerfile", "ctx"]);
    assert!(
        not_a_socket.stderr.contains("is not an SSH agent's socket"),
        "{}",
        not_a_socket.stderr
    );
}

#[test]
fn tanto_build_pushes_writes_and_rebuilds_nothing() {
    let image = fixtures::served_debian();
    let registry = support::registry::Registry::start();
    let tanto = Tanto::new();
    context(&tanto, DOCKERFILE);
    let app = format!("{}/team/app:1", registry.host());
    let base = format!("BASE={image}");
    let build = [
        "--progress",
        "plain",
        "build",
        "-t",
        &app,
        "--push",
        "--build-arg",
        &base,
        "--label",
        "org.example.ci=yes",
        "-o",
        "type=oci,dest=app.tar",
        "ctx",
    ];
    let first = tanto.ok(&build);
    assert!(
        first.stdout.contains(&format!("{app}@sha256:")),
        "{}",
        first.stdout
    );
    let config: serde_json::Value = serde_json::from_slice(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--config",
        &format!("docker://{app}"),
    ]))
    .unwrap();
    assert_eq!(config["config"]["Labels"]["org.example.name"], "demo app");
    assert_eq!(config["config"]["Labels"]["org.example.ci"], "yes");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/bin/cat"])
    );
    // The history as `docker build` (BuildKit) records it: an entry per
    // instruction, in BuildKit's words, those that made no layer marked.
    let history = config["history"].as_array().unwrap();
    let ours: Vec<(&str, bool)> = history
        .iter()
        .filter(|h| h["comment"] == "buildkit.dockerfile.v0")
        .map(|h| {
            let created_by = h["created_by"].as_str().unwrap();
            (created_by, h["empty_layer"] == true)
        })
        .collect();
    let run = "RUN |1 GREETING=hello /bin/sh -c";
    let greeting_run =
        format!("{run} echo \"$GREETING from $(pwd)\" > greeting && cat greeting # buildkit");
    let expected = [
        ("ARG GREETING=hello", true),
        ("ENV APP_HOME=/app", true),
        ("WORKDIR /app", false),
        ("COPY --chown=1000:1000 src/ ./src/ # buildkit", false),
        ("COPY notes.txt /etc/ # buildkit", false),
        ("COPY <<CONF /etc/app.conf # buildkit", false),
        (greeting_run.as_str(), false),
    ];
    assert_eq!(ours[..expected.len()], expected, "{history:#?}");
    assert_eq!(
        ours[expected.len()].0,
        format!("{run} echo ran >> /var/cache/demo/log # buildkit")
    );
    assert_eq!(
        ours[expected.len() + 1],
        ("COPY /app/greeting /greeting-copy # buildkit", false)
    );
    let heredoc = ours[expected.len() + 2].0;
    assert!(
        heredoc.starts_with("RUN /bin/sh -c ") && heredoc.contains("heredoc in"),
        "{heredoc}"
    );
    let config_only = [
        "LABEL org.example.name=demo app",
        "VOLUME [/data]",
        "STOPSIGNAL SIGTERM",
        "EXPOSE [8080/tcp]",
        r#"ENTRYPOINT ["/bin/cat"]"#,
        r#"CMD ["/app/greeting"]"#,
    ];
    let last: Vec<(&str, bool)> = config_only.iter().map(|c| (*c, true)).collect();
    assert_eq!(ours[expected.len() + 3..], last, "{history:#?}");
    // Every layer has the one entry that made it, as docker requires.
    let layered = history.iter().filter(|h| h["empty_layer"] != true).count();
    assert_eq!(
        layered,
        config["rootfs"]["diff_ids"].as_array().unwrap().len(),
        "{history:#?}"
    );
    assert!(tanto.home().join("app.tar").is_file());
    tanto.ok(&["pull", "oci-archive:app.tar"]);

    // Nothing changed: nothing runs.
    let again = tanto.ok(&build);
    let ran: Vec<&str> = again
        .stderr
        .lines()
        .filter(|l| l.contains(" RUN ") && l.contains(" DONE "))
        .collect();
    assert!(ran.is_empty(), "{ran:#?}\n{}", again.stderr);
    // --no-cache: every RUN runs again.
    let mut forced = build.to_vec();
    forced.insert(3, "--no-cache");
    let forced = tanto.ok(&forced);
    let reran = forced
        .stderr
        .lines()
        .filter(|l| l.contains(" RUN ") && l.contains(" DONE "))
        .count();
    assert!(reran >= 3, "{}", forced.stderr);

    // A secret reaches RUN --mount=type=secret and nothing else.
    tanto.write_home_file(
        "ctx/secret.Dockerfile",
        "ARG BASE\nFROM ${BASE}\nRUN --mount=type=secret,id=token test \"$(wc -c < /run/secrets/token)\" = 18 && echo ok > /checked\n",
    );
    tanto.write_home_file("token", "s3cr3t-build-token");
    let with_secret = [
        "build",
        "-f",
        "ctx/secret.Dockerfile",
        "--secret",
        "id=token,src=token",
        "--build-arg",
        &base,
        "-o",
        "type=docker,dest=secret.tar",
        "ctx",
    ];
    let built = tanto.ok(&with_secret);
    assert!(
        !built.stderr.contains("s3cr3t-build-token")
            && !built.stdout.contains("s3cr3t-build-token")
    );
    let tar = std::fs::read(tanto.home().join("secret.tar")).unwrap();
    assert!(
        !tar.windows(18).any(|w| w == b"s3cr3t-build-token"),
        "the secret is in the image"
    );
    let in_store = support::tree::grep(&tanto.store(), b"s3cr3t-build-token");
    assert!(in_store.is_empty(), "the secret is in {in_store:?}");
    let without = tanto.fails(&[
        "build",
        "-f",
        "ctx/secret.Dockerfile",
        "--build-arg",
        &base,
        "ctx",
    ]);
    assert!(without.stderr.contains("RUN "), "{}", without.stderr);

    // The context as a gzipped tarball on standard input, as `docker build -`.
    {
        use std::io::Write as _;
        let tar = support::image::tar_directory(&tanto.home().join("ctx"));
        let mut gzipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzipped.write_all(&tar).unwrap();
        let tarball = tanto.write_home_file("ctx.tar.gz", "");
        std::fs::write(&tarball, gzipped.finish().unwrap()).unwrap();
        let from_stdin = format!("{}/team/from-stdin:1", registry.host());
        let out = tanto
            .command(&[
                "build",
                "-t",
                &from_stdin,
                "--push",
                "--build-arg",
                &base,
                "-",
            ])
            .stdin(std::fs::File::open(&tarball).unwrap())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(&format!("{from_stdin}@sha256:")),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let bad = tanto.fails(&["build", "--push", "ctx"]);
    assert!(
        bad.stderr.contains("--push needs at least one -t"),
        "{}",
        bad.stderr
    );
}

#[test]
fn add_downloads_urls_and_checks_their_checksum() {
    let image = fixtures::served_debian();
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("tool.sh"), "echo tool ran\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(files.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the HTTP server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let url = format!("http://127.0.0.1:{port}/tool.sh");
    let right = support::image::sha256(b"echo tool ran\n");
    let tanto = Tanto::new();
    let build = |checksum: &str| {
        tanto.write_home_file(
            "add/Dockerfile",
            &format!(
                "FROM {image}\nADD {url} /opt/\nADD --checksum={checksum} {url} /opt/checked.sh\nRUN sh /opt/tool.sh > /out && stat -c %a /opt/tool.sh >> /out\n"
            ),
        );
        tanto.query(r#"{ host { directory(path: "add") { dockerBuild { file(path: "/out") { contents } } } } }"#)
    };
    let (ok, answer) = build(&right);
    assert!(ok, "{answer:#}");
    assert_eq!(
        answer["data"]["host"]["directory"]["dockerBuild"]["file"]["contents"],
        "tool ran\n600\n"
    );
    let wrong = support::image::sha256(b"something else");
    let (ok, answer) = build(&wrong);
    let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(!ok && message.contains(&wrong), "{message}");
    let _ = server.kill();
    let _ = server.wait();
}

/// A tar of `entries` (path, mode, uid, content; a path ending in `/` is
/// a directory).
fn tar_of(entries: &[(&str, u32, u64, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, mode, uid, content) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_mode(*mode);
        header.set_uid(*uid);
        header.set_gid(*uid);
        header.set_mtime(1_700_000_000);
        if path.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            builder
                .append_data(&mut header, path, std::io::empty())
                .unwrap();
        } else {
            header.set_size(content.len() as u64);
            builder
                .append_data(&mut header, path, content.as_bytes())
                .unwrap();
        }
    }
    builder.into_inner().unwrap()
}

#[test]
fn add_unpacks_local_archives_by_their_content() {
    use std::io::Write as _;
    let image = fixtures::served_debian();
    let tanto = Tanto::new();
    let bundle = tar_of(&[
        ("dir/", 0o750, 1000, ""),
        ("dir/a.txt", 0o640, 1000, "from the bundle\n"),
    ]);
    let mut gzipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzipped.write_all(&bundle).unwrap();
    let files = [
        ("ctx/bundle.tar.gz", gzipped.finish().unwrap()),
        ("ctx/plain.tar", tar_of(&[("b.txt", 0o600, 0, "plain\n")])),
        ("ctx/fake.tar.gz", b"not an archive\n".to_vec()),
        (
            "ctx/tools.tar.bz2",
            compressed_by("bzip2", &tar_of(&[("bz.txt", 0o644, 0, "bzip2\n")])),
        ),
        (
            "ctx/tools.tar.xz",
            compressed_by("xz", &tar_of(&[("xz.txt", 0o644, 0, "xz\n")])),
        ),
    ];
    for (path, bytes) in &files {
        let written = tanto.write_home_file(path, "");
        std::fs::write(written, bytes).unwrap();
    }
    tanto.write_home_file(
        "ctx/Dockerfile",
        &format!(
            "FROM {image}\nADD bundle.tar.gz /opt/bundle/\nADD plain.tar /opt/plain\nADD fake.tar.gz /opt/fake/\nADD tools.tar.bz2 tools.tar.xz /opt/tools/\nRUN cd /opt && find . -printf '%p %m %U:%G\\n' | sort > /listing\n"
        ),
    );
    let (ok, answer) = tanto.query(
        r#"{ host { directory(path: "ctx") { dockerBuild {
             listing: file(path: "/listing") { contents }
             a: file(path: "/opt/bundle/dir/a.txt") { contents } } } } }"#,
    );
    assert!(ok, "{answer:#}");
    let built = &answer["data"]["host"]["directory"]["dockerBuild"];
    assert_eq!(built["a"]["contents"], "from the bundle\n");
    let listing = built["listing"]["contents"].as_str().unwrap();
    for line in [
        "./bundle/dir 750 1000:1000",
        "./bundle/dir/a.txt 640 1000:1000",
        "./plain/b.txt 600 0:0",
        "./fake/fake.tar.gz 644 0:0",
        "./tools/bz.txt 644 0:0",
        "./tools/xz.txt 644 0:0",
    ] {
        assert!(listing.lines().any(|l| l == line), "{line}:\n{listing}");
    }
}

/// `bytes` compressed by the command-line `tool` (`bzip2`, `xz`), as a user
/// makes an archive.
fn compressed_by(tool: &str, bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = std::process::Command::new(tool)
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool} (scripts/install-deps installs it): {e}"));
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{tool} failed");
    out.stdout
}
