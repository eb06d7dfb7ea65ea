//! `Container`'s steps: running them (`withExec`, `sync`, `terminal`),
//! what they printed and returned, and the container run as a service
//! (`asService`) or beside the services its steps reach
//! (`withServiceBinding`).

use async_graphql::{Context, Object, Result, ID};

use super::super::service::{port_forwards, PortForward, ServiceObj};
use super::super::{fail, lookup, ReturnType};
use super::args::{refuse_expand, refuse_nesting};
use super::{register, ContainerObj};
use crate::scalars::Void;

pub(crate) struct ContainerRun(pub(super) engine::Container);

#[Object]
impl ContainerRun {
    /// This container's ID: cheap, runs nothing.
    async fn id(&self, ctx: &Context<'_>) -> ID {
        register(ctx, &self.0)
    }

    /// Runs everything this container needs; returns its ID.
    async fn sync(&self, ctx: &Context<'_>) -> Result<ID> {
        let synced = self.0.sync().await.map_err(fail)?;
        Ok(register(ctx, &synced))
    }

    /// Opens an interactive shell (`cmd`, default `sh`) in this container
    /// on the user's terminal; returns the container unchanged.
    async fn terminal(
        &self,
        #[graphql(default)] cmd: Vec<String>,
        #[graphql(default = false)] experimental_privileged_nesting: bool,
        #[graphql(default = false)] insecure_root_capabilities: bool,
    ) -> Result<ContainerObj> {
        refuse_nesting(
            "terminal",
            experimental_privileged_nesting,
            insecure_root_capabilities,
        )?;
        self.0.terminal(&cmd).await.map_err(fail)?;
        Ok(ContainerObj::new(self.0.clone()))
    }

    #[allow(clippy::too_many_arguments)]
    async fn with_exec(
        &self,
        args: Vec<String>,
        #[graphql(default = false)] use_entrypoint: bool,
        #[graphql(default)] stdin: String,
        #[graphql(default)] redirect_stdout: String,
        #[graphql(default)] redirect_stderr: String,
        #[graphql(default)] expect: ReturnType,
    ) -> ContainerObj {
        ContainerObj::new(self.0.with_exec_opts(
            args,
            engine::ExecOptions {
                use_entrypoint,
                stdin,
                redirect_stdout,
                redirect_stderr,
                expect: expect.into(),
                name: None,
                cache_buster: None,
                no_network: false,
            },
        ))
    }

    async fn stdout(&self, ctx: &Context<'_>) -> Result<String> {
        let files = self.0.output_files().await.map_err(fail)?;
        output(ctx, &[&files.stdout])
    }

    async fn stderr(&self, ctx: &Context<'_>) -> Result<String> {
        let files = self.0.output_files().await.map_err(fail)?;
        output(ctx, &[&files.stderr])
    }

    async fn combined_output(&self, ctx: &Context<'_>) -> Result<String> {
        let files = self.0.output_files().await.map_err(fail)?;
        output(ctx, &[&files.stdout, &files.stderr])
    }

    async fn exit_code(&self) -> Result<i32> {
        self.0.exit_code().await.map_err(fail)
    }

    /// This container's command (`args`, else its default args) as a
    /// service; expose its ports first, they tell when it is up.
    #[allow(clippy::too_many_arguments)]
    async fn as_service(
        &self,
        #[graphql(default)] args: Vec<String>,
        #[graphql(default = false)] use_entrypoint: bool,
        #[graphql(default = false)] experimental_privileged_nesting: bool,
        #[graphql(default = false)] insecure_root_capabilities: bool,
        #[graphql(default = false)] expand: bool,
        #[graphql(default = false)] no_init: bool,
    ) -> Result<ServiceObj> {
        refuse_nesting(
            "asService",
            experimental_privileged_nesting,
            insecure_root_capabilities,
        )?;
        refuse_expand("asService", expand)?;
        // tanto's steps never get an init process: nothing to leave out.
        let _ = no_init;
        Ok(ServiceObj(self.0.as_service(&args, use_entrypoint)))
    }

    /// `asService(args, …)` and `up(ports, random)` on it: its ports on
    /// this machine until the client gives up the request.
    #[allow(clippy::too_many_arguments)]
    async fn up(
        &self,
        #[graphql(default = false)] random: bool,
        #[graphql(default)] ports: Vec<PortForward>,
        #[graphql(default)] args: Vec<String>,
        #[graphql(default = false)] use_entrypoint: bool,
        #[graphql(default = false)] experimental_privileged_nesting: bool,
        #[graphql(default = false)] insecure_root_capabilities: bool,
        #[graphql(default = false)] expand: bool,
        #[graphql(default = false)] no_init: bool,
    ) -> Result<Option<Void>> {
        refuse_nesting(
            "up",
            experimental_privileged_nesting,
            insecure_root_capabilities,
        )?;
        refuse_expand("up", expand)?;
        let _ = no_init;
        let forwards = port_forwards("up", ports, |backend| if random { 0 } else { backend })?;
        let service = self.0.as_service(&args, use_entrypoint);
        service.up(&forwards, random).await.map_err(fail)?;
        Ok(None)
    }

    /// Its next steps reach `service` as `alias`, and start it when they
    /// run.
    async fn with_service_binding(
        &self,
        ctx: &Context<'_>,
        alias: String,
        service: ID,
    ) -> Result<ContainerObj> {
        let service = lookup!(ctx, service, Service, "Service")?;
        Ok(ContainerObj::new(
            self.0.with_service_binding(&alias, &service),
        ))
    }
}

/// A step's output as answered: inline when small, else a placeholder the
/// answer's writer streams the files into (answer.rs).
fn output(ctx: &Context<'_>, files: &[&std::path::PathBuf]) -> Result<String> {
    let cannot_read = |path: &std::path::Path, e: std::io::Error| {
        async_graphql::Error::new(format!(
            "cannot read the step's stored output {}: {e}",
            path.display()
        ))
    };
    let mut opened = Vec::with_capacity(files.len());
    for path in files {
        opened.push(std::fs::File::open(path).map_err(|e| cannot_read(path, e))?);
    }
    ctx.data_unchecked::<std::sync::Arc<crate::answer::Outputs>>()
        .answer(opened)
        .map_err(|e| cannot_read(files[0], e))
}
