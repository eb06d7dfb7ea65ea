//! `Container` in Dagger's schema.

use async_graphql::{Context, Object, Result, ID};

use super::container_args::{port_number, refuse_expand, refuse_owner};
use super::container_info::{LabelObj, PortObj};
use super::stat::{is_of, no_follow, ExistsType, StatObj};
use super::{
    fail, image_options, lookup, state, strs, CacheSharingMode, DirectoryObj, EnvVariableObj,
    FileObj, ImageLayerCompression, ImageMediaTypes, NetworkProtocol, ReturnType,
};
use crate::ids::Object as Value;
use crate::scalars::*;

pub(crate) struct ContainerObj(pub engine::Container);

#[Object(name = "Container")]
impl ContainerObj {
    /// This container's ID: cheap, runs nothing.
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::Container(self.0.clone())))
    }

    /// Runs everything this container needs; returns its ID.
    async fn sync(&self, ctx: &Context<'_>) -> Result<ID> {
        let synced = self.0.sync().await.map_err(fail)?;
        Ok(ID(state(ctx).ids.register(Value::Container(synced))))
    }

    /// Opens an interactive shell (`cmd`, default `sh`) in this container
    /// on the user's terminal; returns the container unchanged.
    async fn terminal(
        &self,
        #[graphql(default)] cmd: Vec<String>,
        #[graphql(default = false)] experimental_privileged_nesting: bool,
        #[graphql(default = false)] insecure_root_capabilities: bool,
    ) -> Result<ContainerObj> {
        if experimental_privileged_nesting || insecure_root_capabilities {
            return Err(async_graphql::Error::new(
                "terminal: experimentalPrivilegedNesting and insecureRootCapabilities are not supported: tanto's steps run rootless, without nesting",
            ));
        }
        self.0.terminal(&cmd).await.map_err(fail)?;
        Ok(ContainerObj(self.0.clone()))
    }

    async fn from(&self, address: String) -> ContainerObj {
        ContainerObj(self.0.from(&address))
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
        ContainerObj(self.0.with_exec_opts(
            args,
            engine::ExecOptions {
                use_entrypoint,
                stdin,
                redirect_stdout,
                redirect_stderr,
                expect: expect.into(),
                name: None,
            },
        ))
    }

    async fn with_env_variable(
        &self,
        name: String,
        value: String,
        #[graphql(default = false)] expand: bool,
    ) -> ContainerObj {
        ContainerObj(self.0.with_env_variable(&name, &value, expand))
    }

    async fn without_env_variable(&self, name: String) -> ContainerObj {
        ContainerObj(self.0.without_env_variable(&name))
    }

    async fn with_workdir(&self, path: String) -> ContainerObj {
        ContainerObj(self.0.with_workdir(&path))
    }

    async fn with_user(&self, name: String) -> ContainerObj {
        ContainerObj(self.0.with_user(&name))
    }

    async fn with_entrypoint(
        &self,
        args: Vec<String>,
        #[graphql(default = false)] keep_default_args: bool,
    ) -> ContainerObj {
        ContainerObj(self.0.with_entrypoint(args, keep_default_args))
    }

    async fn with_default_args(&self, args: Vec<String>) -> ContainerObj {
        ContainerObj(self.0.with_default_args(args))
    }

    async fn with_label(&self, name: String, value: String) -> ContainerObj {
        ContainerObj(self.0.with_label(&name, &value))
    }

    async fn without_label(&self, name: String) -> ContainerObj {
        ContainerObj(self.0.without_label(&name))
    }

    async fn with_exposed_port(
        &self,
        port: i32,
        #[graphql(default)] protocol: NetworkProtocol,
        description: Option<String>,
        #[graphql(default = false)] experimental_skip_healthcheck: bool,
    ) -> Result<ContainerObj> {
        // Descriptions and health checks matter to services, which tanto
        // does not run yet; the image records the port alone.
        let _ = (description, experimental_skip_healthcheck);
        Ok(ContainerObj(
            self.0
                .with_exposed_port(port_number(port)?, protocol.name()),
        ))
    }

    async fn without_exposed_port(
        &self,
        port: i32,
        #[graphql(default)] protocol: NetworkProtocol,
    ) -> Result<ContainerObj> {
        Ok(ContainerObj(
            self.0
                .without_exposed_port(port_number(port)?, protocol.name()),
        ))
    }

    async fn with_registry_auth(
        &self,
        ctx: &Context<'_>,
        address: String,
        username: String,
        secret: ID,
    ) -> Result<ContainerObj> {
        let secret = lookup!(ctx, secret, Secret, "Secret")?;
        Ok(ContainerObj(
            self.0.with_registry_auth(&address, &username, &secret),
        ))
    }

    async fn without_registry_auth(&self, address: String) -> ContainerObj {
        ContainerObj(self.0.without_registry_auth(&address))
    }

    /// Pushes the container as an image; returns `address@sha256:…`.
    async fn publish(
        &self,
        address: String,
        #[graphql(default)] platform_variants: Vec<ID>,
        forced_compression: Option<ImageLayerCompression>,
        #[graphql(default)] media_types: ImageMediaTypes,
    ) -> Result<String> {
        let options = image_options(
            "publish",
            &platform_variants,
            forced_compression,
            media_types,
        )?;
        self.0.publish(&address, options).await.map_err(fail)
    }

    /// Writes the image as an OCI tarball on the host; returns its path.
    async fn export(
        &self,
        path: String,
        #[graphql(default)] platform_variants: Vec<ID>,
        forced_compression: Option<ImageLayerCompression>,
        #[graphql(default)] media_types: ImageMediaTypes,
        #[graphql(default = false)] expand: bool,
    ) -> Result<String> {
        if expand {
            return Err(async_graphql::Error::new(
                "export: tanto does not support expand yet",
            ));
        }
        let options = image_options(
            "export",
            &platform_variants,
            forced_compression,
            media_types,
        )?;
        let written = self.0.export(&path, options).await.map_err(fail)?;
        Ok(written.display().to_string())
    }

    async fn as_tarball(
        &self,
        #[graphql(default)] platform_variants: Vec<ID>,
        forced_compression: Option<ImageLayerCompression>,
        #[graphql(default)] media_types: ImageMediaTypes,
    ) -> Result<FileObj> {
        let options = image_options(
            "asTarball",
            &platform_variants,
            forced_compression,
            media_types,
        )?;
        Ok(FileObj(self.0.as_tarball(options)))
    }

    /// The image in an OCI or `docker save` tarball.
    async fn import(
        &self,
        ctx: &Context<'_>,
        source: ID,
        #[graphql(default)] tag: String,
    ) -> Result<ContainerObj> {
        let source = lookup!(ctx, source, File, "File")?;
        let tag = (!tag.is_empty()).then_some(tag.as_str());
        Ok(ContainerObj(self.0.import(&source, tag)))
    }

    async fn with_directory(
        &self,
        ctx: &Context<'_>,
        path: String,
        source: ID,
        #[graphql(default)] exclude: Vec<String>,
        #[graphql(default)] include: Vec<String>,
    ) -> Result<ContainerObj> {
        let source = lookup!(ctx, source, Directory, "Directory")?;
        let (include, exclude) = (strs(&include), strs(&exclude));
        Ok(ContainerObj(
            self.0.with_directory(&path, &source, &include, &exclude),
        ))
    }

    async fn with_mounted_directory(
        &self,
        ctx: &Context<'_>,
        path: String,
        source: ID,
        #[graphql(default = false)] read_only: bool,
    ) -> Result<ContainerObj> {
        let source = lookup!(ctx, source, Directory, "Directory")?;
        Ok(ContainerObj(
            self.0.with_mounted_directory(&path, &source, read_only),
        ))
    }

    async fn with_file(
        &self,
        ctx: &Context<'_>,
        path: String,
        source: ID,
        permissions: Option<i32>,
    ) -> Result<ContainerObj> {
        let source = lookup!(ctx, source, File, "File")?;
        Ok(ContainerObj(self.0.with_file(
            &path,
            &source,
            permissions.map(|p| p as u32),
        )))
    }

    async fn with_new_file(
        &self,
        path: String,
        contents: String,
        #[graphql(default = 420)] permissions: i32,
    ) -> ContainerObj {
        ContainerObj(self.0.with_new_file(&path, contents, permissions as u32))
    }

    async fn with_mounted_file(
        &self,
        ctx: &Context<'_>,
        path: String,
        source: ID,
    ) -> Result<ContainerObj> {
        let source = lookup!(ctx, source, File, "File")?;
        Ok(ContainerObj(self.0.with_mounted_file(&path, &source)))
    }

    async fn with_mounted_cache(
        &self,
        ctx: &Context<'_>,
        path: String,
        cache: ID,
        source: Option<ID>,
        #[graphql(default)] sharing: CacheSharingMode,
    ) -> Result<ContainerObj> {
        if source.is_some() {
            return Err(async_graphql::Error::new(
                "withMountedCache: tanto does not support `source` (seeding a cache volume) yet",
            ));
        }
        let cache = lookup!(ctx, cache, CacheVolume, "CacheVolume")?;
        Ok(ContainerObj(self.0.with_mounted_cache(
            &path,
            &cache,
            sharing.into(),
        )))
    }

    async fn with_mounted_temp(&self, path: String) -> ContainerObj {
        ContainerObj(self.0.with_mounted_temp(&path))
    }

    async fn with_secret_variable(
        &self,
        ctx: &Context<'_>,
        name: String,
        secret: ID,
    ) -> Result<ContainerObj> {
        let secret = lookup!(ctx, secret, Secret, "Secret")?;
        Ok(ContainerObj(self.0.with_secret_variable(&name, &secret)))
    }

    async fn with_mounted_secret(
        &self,
        ctx: &Context<'_>,
        path: String,
        source: ID,
        #[graphql(default = 256)] mode: i32,
    ) -> Result<ContainerObj> {
        let secret = lookup!(ctx, source, Secret, "Secret")?;
        Ok(ContainerObj(self.0.with_mounted_secret(
            &path,
            &secret,
            mode as u32,
        )))
    }

    async fn without_file(
        &self,
        path: String,
        #[graphql(default = false)] expand: bool,
    ) -> Result<ContainerObj> {
        refuse_expand("withoutFile", expand)?;
        Ok(ContainerObj(self.0.without_file(&path)))
    }

    async fn without_directory(
        &self,
        path: String,
        #[graphql(default = false)] expand: bool,
    ) -> Result<ContainerObj> {
        refuse_expand("withoutDirectory", expand)?;
        Ok(ContainerObj(self.0.without_directory(&path)))
    }

    async fn without_files(
        &self,
        paths: Vec<String>,
        #[graphql(default = false)] expand: bool,
    ) -> Result<ContainerObj> {
        refuse_expand("withoutFiles", expand)?;
        Ok(ContainerObj(self.0.without_files(&strs(&paths))))
    }

    async fn with_files(
        &self,
        ctx: &Context<'_>,
        path: String,
        sources: Vec<ID>,
        permissions: Option<i32>,
        #[graphql(default)] owner: String,
        #[graphql(default = false)] expand: bool,
    ) -> Result<ContainerObj> {
        refuse_owner("withFiles", &owner)?;
        refuse_expand("withFiles", expand)?;
        let mut files = Vec::with_capacity(sources.len());
        for source in sources {
            files.push(lookup!(ctx, source, File, "File")?);
        }
        Ok(ContainerObj(self.0.with_files(
            &path,
            &files,
            permissions.map(|p| p as u32),
        )))
    }

    async fn with_symlink(
        &self,
        target: String,
        link_name: String,
        #[graphql(default = false)] expand: bool,
    ) -> Result<ContainerObj> {
        refuse_expand("withSymlink", expand)?;
        Ok(ContainerObj(self.0.with_symlink(&target, &link_name)))
    }

    async fn without_entrypoint(
        &self,
        #[graphql(default = false)] keep_default_args: bool,
    ) -> ContainerObj {
        ContainerObj(self.0.without_entrypoint(keep_default_args))
    }

    async fn without_default_args(&self) -> ContainerObj {
        ContainerObj(self.0.without_default_args())
    }

    async fn without_user(&self) -> ContainerObj {
        ContainerObj(self.0.without_user())
    }

    async fn without_workdir(&self) -> ContainerObj {
        ContainerObj(self.0.without_workdir())
    }

    async fn without_mount(
        &self,
        path: String,
        #[graphql(default = false)] expand: bool,
    ) -> Result<ContainerObj> {
        refuse_expand("withoutMount", expand)?;
        Ok(ContainerObj(self.0.without_mount(&path)))
    }

    async fn without_secret_variable(&self, name: String) -> ContainerObj {
        ContainerObj(self.0.without_secret_variable(&name))
    }

    /// Every variable of the env file, expanded as `EnvFile.variables`
    /// expands them, set as `withEnvVariable` sets one.
    async fn with_env_file_variables(&self, ctx: &Context<'_>, source: ID) -> Result<ContainerObj> {
        let file = lookup!(ctx, source, EnvFile, "EnvFile")?;
        let mut next = self.0.clone();
        for (name, value) in file.variables(false)? {
            next = next.with_env_variable(&name, &value, false);
        }
        Ok(ContainerObj(next))
    }

    /// Fails with `err`, or passes the container on when it is empty.
    async fn with_error(&self, err: String) -> Result<ContainerObj> {
        if err.is_empty() {
            return Ok(ContainerObj(self.0.clone()));
        }
        Err(async_graphql::Error::new(err))
    }

    async fn label(&self, name: String) -> Result<Option<String>> {
        Ok(self
            .0
            .settings()
            .await
            .map_err(fail)?
            .labels
            .get(&name)
            .cloned())
    }

    async fn labels(&self) -> Result<Vec<LabelObj>> {
        let settings = self.0.settings().await.map_err(fail)?;
        Ok(settings
            .labels
            .into_iter()
            .map(|(name, value)| LabelObj { name, value })
            .collect())
    }

    async fn exposed_ports(&self) -> Result<Vec<PortObj>> {
        let settings = self.0.settings().await.map_err(fail)?;
        Ok(settings.exposed_ports.into_iter().map(PortObj).collect())
    }

    async fn mounts(&self) -> Result<Vec<String>> {
        self.0.mount_targets().await.map_err(fail)
    }

    async fn exists(
        &self,
        path: String,
        expected_type: Option<ExistsType>,
        #[graphql(default = false)] do_not_follow_symlinks: bool,
        #[graphql(default = false)] expand: bool,
    ) -> Result<bool> {
        refuse_expand("exists", expand)?;
        let no_follow = no_follow(do_not_follow_symlinks, expected_type);
        let stat = self.0.lookup(&path, no_follow).await.map_err(fail)?;
        Ok(is_of(stat.as_ref(), expected_type))
    }

    async fn stat(
        &self,
        path: String,
        #[graphql(default = false)] do_not_follow_symlinks: bool,
    ) -> Result<Option<StatObj>> {
        match self
            .0
            .lookup(&path, do_not_follow_symlinks)
            .await
            .map_err(fail)?
        {
            Some(stat) => Ok(Some(StatObj(stat))),
            None => Err(fail(engine::Error::NotFound { path })),
        }
    }

    /// The host socket `source` bound at `path` for the steps from now on.
    async fn with_unix_socket(
        &self,
        ctx: &Context<'_>,
        path: String,
        source: ID,
        #[graphql(default)] owner: String,
        #[graphql(default = false)] expand: bool,
    ) -> Result<ContainerObj> {
        if !owner.is_empty() {
            return Err(async_graphql::Error::new(
                "withUnixSocket: tanto binds the host's socket as it is and cannot give it an owner; leave owner out",
            ));
        }
        refuse_expand("withUnixSocket", expand)?;
        let socket = lookup!(ctx, source, Socket, "Socket")?;
        Ok(ContainerObj(self.0.with_unix_socket(&path, &socket)))
    }

    async fn without_unix_socket(
        &self,
        path: String,
        #[graphql(default = false)] expand: bool,
    ) -> Result<ContainerObj> {
        refuse_expand("withoutUnixSocket", expand)?;
        Ok(ContainerObj(self.0.without_unix_socket(&path)))
    }

    async fn with_rootfs(&self, ctx: &Context<'_>, directory: ID) -> Result<ContainerObj> {
        let directory = lookup!(ctx, directory, Directory, "Directory")?;
        Ok(ContainerObj(self.0.with_rootfs(&directory)))
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

    async fn file(&self, path: String) -> FileObj {
        FileObj(self.0.file(&path))
    }

    async fn directory(&self, path: String) -> DirectoryObj {
        DirectoryObj(self.0.directory(&path))
    }

    async fn rootfs(&self) -> DirectoryObj {
        DirectoryObj(self.0.rootfs())
    }

    async fn env_variable(&self, name: String) -> Result<Option<String>> {
        self.0.env_variable(&name).await.map_err(fail)
    }

    async fn env_variables(&self) -> Result<Vec<EnvVariableObj>> {
        let settings = self.0.settings().await.map_err(fail)?;
        Ok(settings
            .env
            .into_iter()
            .map(|(name, value)| EnvVariableObj { name, value })
            .collect())
    }

    async fn workdir(&self) -> Result<String> {
        self.0.workdir().await.map_err(fail)
    }

    async fn user(&self) -> Result<String> {
        self.0.user().await.map_err(fail)
    }

    async fn entrypoint(&self) -> Result<Vec<String>> {
        Ok(self.0.settings().await.map_err(fail)?.entrypoint)
    }

    async fn default_args(&self) -> Result<Vec<String>> {
        Ok(self.0.settings().await.map_err(fail)?.default_args)
    }

    async fn platform(&self) -> Platform {
        Platform(engine::Platform::host().to_string())
    }

    async fn image_ref(&self) -> String {
        self.0.image_ref().unwrap_or_default().to_owned()
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
