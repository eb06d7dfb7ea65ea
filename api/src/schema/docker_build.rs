//! `Directory.dockerBuild`'s arguments: `BuildArg`, the secrets the build
//! may mount, by name, and its SSH agent.

use async_graphql::{Context, InputObject, Result, ID};

use super::{fail, lookup, ContainerObj};
use crate::scalars::Platform;

/// Dagger's `BuildArg`: one `--build-arg NAME=VALUE`.
#[derive(InputObject)]
pub(crate) struct BuildArg {
    /// The build argument name.
    name: String,
    /// The build argument value.
    value: String,
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn docker_build(
    ctx: &Context<'_>,
    directory: &engine::Directory,
    dockerfile: String,
    platform: Option<Platform>,
    build_args: Vec<BuildArg>,
    target: String,
    secrets: Vec<ID>,
    ssh: Option<ID>,
) -> Result<ContainerObj> {
    let platform = match platform {
        Some(Platform(platform)) => Some(
            platform
                .parse()
                .map_err(|e| async_graphql::Error::new(format!("dockerBuild: {e}")))?,
        ),
        None => None,
    };
    let mut named = Vec::new();
    for id in secrets {
        let secret = lookup!(ctx, id, Secret, "Secret")?;
        named.push((secret.name().to_owned(), secret));
    }
    let ssh = match ssh {
        Some(id) => Some(lookup!(ctx, id, Socket, "Socket")?),
        None => None,
    };
    let options = engine::DockerBuild {
        dockerfile,
        platform,
        build_args: build_args.into_iter().map(|a| (a.name, a.value)).collect(),
        target,
        secrets: named,
        ssh,
        no_cache: false,
        contents: None,
    };
    let built = directory.docker_build(options).await.map_err(fail)?;
    Ok(ContainerObj::new(built))
}
