//! The parser against Dockerfiles as people write them.

use super::*;

fn instructions(text: &str) -> Vec<Instruction> {
    parse("Dockerfile", text)
        .unwrap()
        .instructions
        .into_iter()
        .map(|l| l.instruction)
        .collect()
}

fn error(text: &str) -> String {
    parse("app/Dockerfile", text).unwrap_err().to_string()
}

#[test]
fn a_multi_stage_dockerfile() {
    let parsed = instructions(
        r#"# syntax=docker/dockerfile:1
ARG GO=1.22
FROM --platform=$BUILDPLATFORM golang:${GO} AS build
WORKDIR /src
COPY --link go.mod go.sum ./
RUN --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=secret,id=token \
    go build -o /out/app .
FROM scratch
COPY --from=build --chmod=755 /out/app /app
ENV PATH=/usr/bin:/bin MODE="release build"
LABEL org.opencontainers.image.title=app
EXPOSE 8080/tcp 9090
USER 1000:1000
HEALTHCHECK --interval=5s --retries=3 CMD ["/app", "health"]
ENTRYPOINT ["/app"]
CMD ["--help"]
"#,
    );
    assert_eq!(
        parsed[0],
        Instruction::Arg(vec![("GO".into(), Some("1.22".into()))])
    );
    assert_eq!(
        parsed[1],
        Instruction::From {
            image: "golang:${GO}".into(),
            stage: Some("build".into()),
            platform: Some("$BUILDPLATFORM".into()),
        }
    );
    assert_eq!(
        parsed[3],
        Instruction::Copy(CopySpec {
            sources: vec!["go.mod".into(), "go.sum".into()],
            dest: "./".into(),
            link: true,
            ..Default::default()
        })
    );
    match &parsed[4] {
        Instruction::Run {
            command, mounts, ..
        } => {
            assert_eq!(
                mounts,
                &[
                    "type=cache,target=/root/.cache/go-build".to_owned(),
                    "type=secret,id=token".to_owned()
                ]
            );
            assert_eq!(command, &Command::Shell("go build -o /out/app .".into()));
        }
        other => panic!("{other:?}"),
    }
    match &parsed[6] {
        Instruction::Copy(spec) => {
            assert_eq!(spec.from.as_deref(), Some("build"));
            assert_eq!(spec.chmod.as_deref(), Some("755"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        parsed[7],
        Instruction::Env(vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("MODE".into(), "\"release build\"".into()),
        ])
    );
    assert_eq!(
        parsed[9],
        Instruction::Expose(vec!["8080/tcp".into(), "9090".into()])
    );
    assert_eq!(
        parsed[11],
        Instruction::Healthcheck(Some(HealthcheckSpec {
            command: vec!["CMD".into(), "/app".into(), "health".into()],
            interval: Some("5s".into()),
            retries: Some("3".into()),
            ..Default::default()
        }))
    );
    assert_eq!(
        parsed[12],
        Instruction::Entrypoint(Command::Exec(vec!["/app".into()]))
    );
    assert_eq!(
        parsed[13],
        Instruction::Cmd(Command::Exec(vec!["--help".into()]))
    );
}

#[test]
fn old_forms_and_odd_corners() {
    let parsed = instructions(
        "from debian\nenv GREETING hello world\nlabel maintainer someone\nonbuild run make\nvolume [\"/data\", \"/logs\"]\nhealthcheck none\ncmd [\"not json\"\nshell [\"/bin/bash\", \"-eo\", \"pipefail\", \"-c\"]\nCOPY <<EOF /etc/motd\nhello\nEOF\n",
    );
    assert_eq!(
        parsed[1],
        Instruction::Env(vec![("GREETING".into(), "hello world".into())])
    );
    assert_eq!(
        parsed[2],
        Instruction::Label(vec![("maintainer".into(), "someone".into())])
    );
    assert!(
        matches!(&parsed[3], Instruction::Onbuild(inner) if matches!(**inner, Instruction::Run { .. }))
    );
    assert_eq!(
        parsed[4],
        Instruction::Volume(vec!["/data".into(), "/logs".into()])
    );
    assert_eq!(parsed[5], Instruction::Healthcheck(None));
    // Not valid JSON: the shell form, as Docker takes it.
    assert_eq!(
        parsed[6],
        Instruction::Cmd(Command::Shell("[\"not json\"".into()))
    );
    assert_eq!(
        parsed[7],
        Instruction::Shell(vec![
            "/bin/bash".into(),
            "-eo".into(),
            "pipefail".into(),
            "-c".into()
        ])
    );
    match &parsed[8] {
        Instruction::Copy(spec) => {
            assert!(spec.sources.is_empty());
            assert_eq!(spec.dest, "/etc/motd");
            assert_eq!(spec.heredocs[0].content, "hello\n");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_name_the_file_the_line_and_the_instruction() {
    let unknown = error("FROM x\n\nRUNN make\n");
    assert!(
        unknown.contains("app/Dockerfile line 3 (RUNN)") && unknown.contains("unknown instruction"),
        "{unknown}"
    );
    let flag = error("FROM x\nCOPY --form=build /a /b\n");
    assert!(
        flag.contains("line 2 (COPY)")
            && flag.contains("unknown flag --form")
            && flag.contains("--from"),
        "{flag}"
    );
    assert!(error("FROM x\nADD --from=build /a /b\n").contains("unknown flag --from"));
    assert!(error("FROM x\nCOPY onlyone\n").contains("at least one source"));
    assert!(error("FROM x\nRUN --network make\n").contains("--network needs a value"));
    assert!(error("FROM x\nCMD --help\n").contains("CMD takes no flags"));
    assert!(error("FROM x\nENV JUSTNAME\n").contains("no value"));
    assert!(error("FROM x AS\n").contains("FROM IMAGE AS NAME"));
    assert!(error("FROM x\nSHELL bash -c\n").contains("JSON form"));
    assert!(error("FROM x\nONBUILD FROM y\n").contains("ONBUILD cannot hold FROM"));
    assert!(error("FROM x\nHEALTHCHECK CMD\n").contains("HEALTHCHECK [OPTIONS] CMD"));
    assert!(error("RUN make\n").contains("must be FROM"));
    assert!(error("# just a comment\n").contains("no FROM"));
}
