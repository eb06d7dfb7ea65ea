//! Small pipelines the integration tests run as an unprivileged user, one per
//! behaviour: `scenario NAME IMAGE`. Each prints `key: value` lines for the
//! test to check, and errors as `error: …` with exit status 1.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a test driver reports

use std::process::ExitCode;
use std::time::Duration;

use engine::Event;
use engine::{Engine, EngineConfig, ExecOptions, Expect, Sharing};

fn main() -> ExitCode {
    if let Err(error) = engine::bootstrap() {
        eprintln!("error: {}", engine::report(&error));
        return ExitCode::FAILURE;
    }
    let args: Vec<String> = std::env::args().collect();
    let [_, name, image] = args.as_slice() else {
        eprintln!("usage: scenario NAME IMAGE");
        return ExitCode::from(2);
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    match runtime.block_on(run(name, image)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", engine::report(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(name: &str, image: &str) -> Result<(), engine::Error> {
    let observer: engine::Observer = std::sync::Arc::new(|event| match event {
        Event::Finished(step, _) => eprintln!("RAN {}", step.name),
        Event::Cached(step) => eprintln!("CACHED {}", step.name),
        _ => {}
    });
    let engine = Engine::new(EngineConfig {
        store_root: engine::default_store_root().expect("HOME is set"),
        observer: Some(observer),
        ..Default::default()
    })?;
    let debian = engine.container().from(image);
    match name {
        "settings" => {
            let c = debian
                .with_env_variable("GREETING", "hello", false)
                .with_env_variable("BOTH", "${GREETING} world", true)
                .with_workdir("/work/dir")
                .with_exec(["sh", "-c", "echo $BOTH; pwd; id -u"]);
            println!("stdout: {}", c.stdout().await?.replace('\n', "|"));
            let nobody = debian.with_user("nobody").with_exec(["id"]);
            println!("nobody: {}", nobody.stdout().await?.trim());
            let numeric = debian.with_user("1000:1000").with_exec(["id", "-u"]);
            println!("numeric: {}", numeric.stdout().await?.trim());
            println!("workdir: {}", c.workdir().await?);
            println!("env: {}", c.env_variable("BOTH").await?.unwrap_or_default());
        }
        "files" => {
            let dir = engine
                .directory()
                .with_new_file("a.txt", "A", 0o644)
                .with_new_file("sub/b.txt", "B", 0o600)
                .with_new_directory("empty", 0o755);
            println!("entries: {}", dir.entries().await?.join(","));
            println!("glob: {}", dir.glob("**/*.txt").await?.join(","));
            let c = debian
                .with_directory("/data", &dir, &[], &["a.txt"])
                .with_file("/data/copied", &dir.file("a.txt"), Some(0o640))
                .with_new_file("/data/new", "N", 0o644)
                .with_exec([
                    "sh",
                    "-c",
                    "ls /data; stat -c '%a' /data/copied; rm /data/new",
                ]);
            println!("listing: {}", c.stdout().await?.replace('\n', "|"));
            println!(
                "after rm: {}",
                c.directory("/data").entries().await?.join(",")
            );
            let read_back = c.file("/data/copied").contents().await?;
            println!("contents: {read_back}");
            let without = dir.without_file("a.txt");
            println!("without: {}", without.entries().await?.join(","));
            let renamed = dir.file("sub/b.txt").with_name("c.txt");
            println!("renamed: {} {}", renamed.name(), renamed.contents().await?);
            let f = engine.file("q.txt", "from query", 0o644);
            println!("query file: {}", f.contents().await?);
            println!("size: {}", dir.file("sub/b.txt").size().await?);
        }
        "exec" => {
            let fed = debian.with_exec_opts(
                ["sh", "-c", "cat; echo err >&2"],
                ExecOptions {
                    stdin: "fed in".into(),
                    ..Default::default()
                },
            );
            println!("stdin: {}", fed.stdout().await?);
            println!("stderr: {}", fed.stderr().await?.trim());
            println!(
                "combined: {}",
                fed.combined_output().await?.replace('\n', "|")
            );
            let failing = debian.with_exec_opts(
                ["sh", "-c", "exit 3"],
                ExecOptions {
                    expect: Expect::Any,
                    ..Default::default()
                },
            );
            println!("exit code: {}", failing.exit_code().await?);
            let redirected = debian.with_exec_opts(
                ["sh", "-c", "echo to-file"],
                ExecOptions {
                    redirect_stdout: "/out.txt".into(),
                    ..Default::default()
                },
            );
            println!("redirected stdout: [{}]", redirected.stdout().await?);
            println!(
                "redirected file: {}",
                redirected.file("/out.txt").contents().await?.trim()
            );
            let entry = debian
                .with_entrypoint(["echo", "entry"], false)
                .with_exec_opts(
                    ["point"],
                    ExecOptions {
                        use_entrypoint: true,
                        ..Default::default()
                    },
                );
            println!("entrypoint: {}", entry.stdout().await?.trim());
        }
        "mounts" => {
            let dir = engine.directory().with_new_file("m.txt", "mounted", 0o644);
            let cache = engine.cache_volume("scenario-cache");
            let c = debian
                .with_mounted_directory("/mnt/ro", &dir, true)
                .with_mounted_file("/mnt/file", &dir.file("m.txt"))
                .with_mounted_temp("/mnt/tmp")
                .with_mounted_cache("/mnt/cache", &cache, Sharing::Shared)
                .with_exec([
                    "sh",
                    "-c",
                    "cat /mnt/ro/m.txt /mnt/file; touch /mnt/ro/x 2>/dev/null && echo ro-writable || echo ro-refused; \
                     df -t tmpfs /mnt/tmp >/dev/null && echo tmpfs; echo run >> /mnt/cache/runs; wc -l < /mnt/cache/runs",
                ]);
            println!("mounts: {}", c.stdout().await?.replace('\n', "|"));
            let rootfs = c.rootfs().entries().await?;
            println!("rootfs has mnt: {}", rootfs.contains(&"mnt".to_owned()));
            // A writable mount keeps what steps write into it, as Dagger's does.
            let built = debian
                .with_mounted_directory("/src", &dir, false)
                .with_workdir("/src")
                .with_exec(["sh", "-c", "mkdir -p dist && echo built > dist/out.txt"])
                .with_exec(["sh", "-c", "cat dist/out.txt m.txt"]);
            println!("rw next step: {}", built.stdout().await?.replace('\n', "|"));
            println!(
                "rw entries: {}",
                built.directory("/src").entries().await?.join(",")
            );
            println!(
                "rw dist: {}",
                built
                    .directory("dist")
                    .file("out.txt")
                    .contents()
                    .await?
                    .trim()
            );
            println!("source unchanged: {}", dir.entries().await?.join(","));
        }
        "secret" => {
            let value = std::env::var("SCENARIO_SECRET").expect("SCENARIO_SECRET is set");
            let secret = engine.set_secret("token", &value);
            let c = debian
                .with_secret_variable("TOKEN", &secret)
                .with_mounted_secret("/run/secrets/token", &secret, 0o400)
                .with_exec([
                    "sh",
                    "-c",
                    "test \"$TOKEN\" = \"$(cat /run/secrets/token)\" && echo secret-ok ${#TOKEN} $(stat -c %a /run/secrets/token); echo made > /made",
                ]);
            println!("secret: {}", c.stdout().await?.trim());
            println!("debug: {secret:?}");
        }
        "missing-command" => {
            let c = debian.with_exec_opts(
                ["nosuchcmd", "--flag"],
                ExecOptions {
                    expect: Expect::Any,
                    ..Default::default()
                },
            );
            println!("exit code: {}", c.exit_code().await?);
            println!("stderr: {}", c.stderr().await?.trim());
        }
        "exit-nonzero" => {
            debian
                .with_exec(["sh", "-c", "echo some output; echo oops >&2; exit 3"])
                .stdout()
                .await?;
        }
        "bad-user" => {
            debian
                .with_user("nosuchuser")
                .with_exec(["id"])
                .sync()
                .await?;
        }
        "escape" => {
            engine
                .directory()
                .with_new_file("../../etc/evil", "x", 0o644)
                .sync()
                .await?;
        }
        "export" => {
            let dir = engine
                .directory()
                .with_new_file("a.txt", "A", 0o644)
                .with_new_file("sub/b.txt", "B", 0o644);
            let written = dir.export("exported", false).await?;
            println!("exported dir: {}", written.display());
            let file = dir.file("a.txt").export("single.txt").await?;
            println!("exported file: {}", file.display());
            for (what, result) in [
                ("dir over file", dir.export("single.txt", false).await),
                (
                    "dir into missing parent",
                    dir.export("missing/parent/out", false).await,
                ),
                (
                    "file into missing parent",
                    dir.file("a.txt").export("missing/x.txt").await,
                ),
            ] {
                match result {
                    Ok(path) => println!("{what}: unexpectedly wrote {}", path.display()),
                    Err(error) => println!("{what}: error: {}", engine::report(&error)),
                }
            }
        }
        "cache-over-file" => {
            let cache = engine.cache_volume("c");
            debian
                .with_mounted_cache("/etc/passwd", &cache, Sharing::Shared)
                .with_exec(["true"])
                .sync()
                .await?;
        }
        "cancel" => {
            // The image first, so that the cancel lands while the step runs.
            let step = debian
                .sync()
                .await?
                .with_exec(["sh", "-c", "sleep 1000 & sleep 1000"]);
            let canceller = engine.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                canceller.cancel_all();
            });
            step.sync().await?;
        }
        "image-workdir" => {
            // IMAGE has WorkingDir /app: relative paths start there.
            let dir = engine.directory().with_new_file("d.txt", "D", 0o644);
            let c = debian
                .with_new_file("rel.txt", "R", 0o644)
                .with_directory("sub", &dir, &[], &[])
                .with_mounted_directory("mnt", &dir, true)
                .with_exec([
                    "sh",
                    "-c",
                    "pwd; cat /app/rel.txt /app/sub/d.txt /app/mnt/d.txt",
                ]);
            println!("workdir run: {}", c.stdout().await?.replace('\n', "|"));
            println!("relative read: {}", c.file("sub/d.txt").contents().await?);
            println!(
                "dot entries: {}",
                c.directory(".").entries().await?.join(",")
            );
            let moved = c.with_workdir("sub").with_new_file("x.txt", "X", 0o644);
            println!("nested: {}", moved.file("/app/sub/x.txt").contents().await?);
        }
        "slow" => {
            let out = debian
                .with_exec(["sh", "-c", "sleep 2; echo slow-done"])
                .stdout()
                .await?;
            println!("slow: {}", out.trim());
        }
        "hang" => {
            debian
                .with_exec(["sh", "-c", "sleep 1000 & sleep 1000"])
                .sync()
                .await?;
        }
        other => panic!("no scenario {other}"),
    }
    Ok(())
}
