//! `tanto build`: a Dockerfile built rootless, as `docker build` and
//! `buildah bud` take it, then pushed (`--push`, every `-t`) or written as
//! an image tarball (`-o type=oci|docker,dest=FILE`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};

use crate::output;
use crate::progress::Progress;

#[derive(clap::Args)]
pub struct Args {
    /// The build context: a directory, or - for a tarball on standard input
    #[arg(default_value = ".", value_name = "CONTEXT|-")]
    context: PathBuf,

    /// The Dockerfile [default: CONTEXT/Dockerfile]
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    file: Option<PathBuf>,

    /// A name for the image, pushed with --push (repeatable)
    #[arg(short = 't', long = "tag", value_name = "NAME")]
    tags: Vec<String>,

    /// A build argument: NAME=VALUE, or NAME to take it from the environment (repeatable)
    #[arg(long = "build-arg", value_name = "NAME[=VALUE]")]
    build_args: Vec<String>,

    /// The stage to build [default: the last]
    #[arg(long)]
    target: Option<String>,

    /// A secret for RUN --mount=type=secret: id=ID,src=PATH or id=ID,env=VAR (repeatable)
    #[arg(long = "secret", value_name = "id=ID,src=PATH|env=VAR")]
    secrets: Vec<String>,

    /// The SSH agent RUN --mount=type=ssh binds: default ($SSH_AUTH_SOCK) or ID=SOCKET
    #[arg(long = "ssh", value_name = "default|ID=SOCKET")]
    ssh: Option<String>,

    /// A label set on the image: NAME=VALUE (repeatable)
    #[arg(long = "label", value_name = "NAME=VALUE")]
    labels: Vec<String>,

    /// The platform to build [default: this machine's]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,

    /// Push the image to every -t name
    #[arg(long)]
    push: bool,

    /// Write the image as a tarball: type=oci|docker,dest=FILE
    #[arg(short = 'o', long = "output", value_name = "type=oci|docker,dest=FILE")]
    output: Option<String>,

    /// Run every RUN again, whatever is cached
    #[arg(long = "no-cache")]
    no_cache: bool,
}

/// Where `-o` writes, and in which format.
struct Output {
    docker: bool,
    dest: PathBuf,
}

pub fn run(
    root: &Path,
    registries: crate::engine_start::Registries,
    progress: &crate::progress::Options,
    args: Args,
) -> anyhow::Result<ExitCode> {
    if args.push && args.tags.is_empty() {
        bail!("--push needs at least one -t NAME to push to");
    }
    let output = args.output.as_deref().map(parse_output).transpose()?;
    // `-`: a tarball on standard input, the Dockerfile inside it.
    let unpacked = match args.context.as_os_str() == "-" {
        true => Some(engine::unpack_build_context(std::io::stdin().lock())?),
        false => None,
    };
    let context = match &unpacked {
        Some(unpacked) => unpacked.path().to_owned(),
        None => std::path::absolute(&args.context)
            .with_context(|| format!("cannot resolve the context {}", args.context.display()))?,
    };
    if !context.is_dir() {
        bail!("the build context {} is not a directory", context.display());
    }
    let dockerfile = match (&args.file, &unpacked) {
        (Some(file), Some(_)) => context.join(file),
        (Some(file), None) => file.clone(),
        (None, _) => context.join("Dockerfile"),
    };
    let contents = std::fs::read_to_string(&dockerfile)
        .with_context(|| format!("cannot read the Dockerfile {}", dockerfile.display()))?;
    let build_args = args
        .build_args
        .iter()
        .map(|arg| match arg.split_once('=') {
            Some((name, value)) => Ok((name.to_owned(), value.to_owned())),
            None => std::env::var(arg)
                .map(|value| (arg.clone(), value))
                .with_context(|| {
                    format!("--build-arg {arg}: no value given and no variable {arg} set")
                }),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let labels = args
        .labels
        .iter()
        .map(|label| {
            label
                .split_once('=')
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .with_context(|| format!("--label {label}: write NAME=VALUE"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let platform = args.platform.as_deref().map(str::parse).transpose()?;

    let runtime = api::runtime().context("cannot start tanto's async runtime")?;
    let progress = Progress::start(progress);
    let observer = progress.observer();
    let built = runtime.block_on(async {
        let engine = crate::engine_start::engine(root, &registries, observer)?;
        let mut secrets = Vec::new();
        for spec in &args.secrets {
            let (id, value) = secret(spec)?;
            secrets.push((id.clone(), engine.set_secret(&id, value)));
        }
        let ssh = args
            .ssh
            .as_deref()
            .map(ssh_agent)
            .transpose()?
            .map(|socket| engine.host().unix_socket(socket));
        // Named as the user knows it: within the context when it is there.
        let name = match dockerfile.canonicalize().ok().and_then(|f| {
            let inside = f.strip_prefix(context.canonicalize().ok()?).ok()?;
            Some(inside.display().to_string())
        }) {
            Some(inside) => inside,
            None => dockerfile.display().to_string(),
        };
        let options = engine::DockerBuild {
            dockerfile: name,
            platform,
            build_args,
            target: args.target.clone().unwrap_or_default(),
            secrets,
            ssh,
            no_cache: args.no_cache,
            contents: Some(contents),
        };
        let mut image = engine
            .host()
            .directory(&context, &[], &[])
            .docker_build(options)
            .await?;
        for (name, value) in &labels {
            image = image.with_label(name, value);
        }
        let image = image.sync().await?;
        let mut said = Vec::new();
        if args.push {
            for tag in &args.tags {
                said.push(image.publish(tag, Default::default()).await?);
            }
        }
        if let Some(output) = &output {
            let options = engine::ImageOptions {
                media_types: match output.docker {
                    true => engine::MediaTypes::Docker,
                    false => engine::MediaTypes::Oci,
                },
                ..Default::default()
            };
            let dest = std::path::absolute(&output.dest)?;
            let written = image.export(&dest.to_string_lossy(), options).await?;
            said.push(format!("wrote {}", written.display()));
        }
        anyhow::Ok((engine, said))
    });
    drop(runtime);
    progress.finish(true, || {})?;
    let (engine, said) = built?;
    for line in said {
        output::line(&line);
    }
    if !args.push && output.is_none() {
        output::status(
            "built; nothing pushed or written (--push with -t, or -o type=oci,dest=FILE)",
        );
    }
    crate::engine_start::finish(&engine)?;
    Ok(ExitCode::SUCCESS)
}

fn parse_output(spec: &str) -> anyhow::Result<Output> {
    let mut docker = None;
    let mut dest = None;
    for field in spec.split(',') {
        match field.split_once('=') {
            Some(("type", "oci")) => docker = Some(false),
            Some(("type", "docker")) => docker = Some(true),
            Some(("type", other)) => bail!("-o type={other}: tanto writes type=oci or type=docker"),
            Some(("dest", path)) => dest = Some(PathBuf::from(path)),
            _ => bail!("-o {spec}: write type=oci|docker,dest=FILE"),
        }
    }
    Ok(Output {
        docker: docker.unwrap_or(false),
        dest: dest.with_context(|| format!("-o {spec}: dest=FILE is missing"))?,
    })
}

/// `id=ID,src=PATH` or `id=ID,env=VAR`: the id and the value.
fn secret(spec: &str) -> anyhow::Result<(String, Vec<u8>)> {
    let mut id = None;
    let mut value = None;
    for field in spec.split(',') {
        match field.split_once('=') {
            Some(("id", v)) => id = Some(v.to_owned()),
            Some(("src" | "source", path)) => {
                value = Some(
                    std::fs::read(path)
                        .with_context(|| format!("--secret {spec}: cannot read {path}"))?,
                )
            }
            Some(("env", var)) => {
                value = Some(
                    std::env::var(var)
                        .with_context(|| format!("--secret {spec}: the variable {var} is not set"))?
                        .into_bytes(),
                )
            }
            _ => bail!("--secret {spec}: write id=ID,src=PATH or id=ID,env=VAR"),
        }
    }
    match (id, value) {
        (Some(id), Some(value)) => Ok((id, value)),
        _ => bail!("--secret {spec}: write id=ID,src=PATH or id=ID,env=VAR"),
    }
}

/// The agent socket of `--ssh default` (the caller's `$SSH_AUTH_SOCK`) or
/// `--ssh ID=SOCKET`. Key files are docker's other form, which tanto does
/// not take: it forwards an agent, never a key.
fn ssh_agent(spec: &str) -> anyhow::Result<PathBuf> {
    let socket = match spec.split_once('=') {
        Some((_, path)) => PathBuf::from(path),
        None => std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from).with_context(|| {
            format!("--ssh {spec}: SSH_AUTH_SOCK is not set; start an agent (ssh-agent) or give --ssh {spec}=SOCKET")
        })?,
    };
    use std::os::unix::fs::FileTypeExt;
    let is_socket = std::fs::metadata(&socket).is_ok_and(|m| m.file_type().is_socket());
    if !is_socket {
        bail!(
            "--ssh {spec}: {} is not an SSH agent's socket; tanto forwards an agent (ssh-agent, then ssh-add), not key files",
            socket.display()
        );
    }
    Ok(socket)
}
