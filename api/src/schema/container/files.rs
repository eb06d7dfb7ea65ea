//! `Container`'s root file system and mounts: files and directories copied
//! in or taken out, and what is mounted at a path for the steps (directories,
//! files, caches, temp dirs, secrets, the host's sockets).

use async_graphql::{Context, Object, Result, ID};

use super::super::{lookup, strs, CacheSharingMode};
use super::args::{refuse_expand, refuse_owner};
use super::ContainerObj;

pub(crate) struct ContainerFiles(pub(super) engine::Container);

#[Object]
impl ContainerFiles {
    async fn with_rootfs(&self, ctx: &Context<'_>, directory: ID) -> Result<ContainerObj> {
        let directory = lookup!(ctx, directory, Directory, "Directory")?;
        Ok(ContainerObj::new(self.0.with_rootfs(&directory)))
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
        Ok(ContainerObj::new(
            self.0.with_directory(&path, &source, &include, &exclude),
        ))
    }

    async fn without_directory(
        &self,
        path: String,
        #[graphql(default = false)] expand: bool,
    ) -> Result<ContainerObj> {
        refuse_expand("withoutDirectory", expand)?;
        Ok(ContainerObj::new(self.0.without_directory(&path)))
    }

    async fn with_file(
        &self,
        ctx: &Context<'_>,
        path: String,
        source: ID,
        permissions: Option<i32>,
    ) -> Result<ContainerObj> {
        let source = lookup!(ctx, source, File, "File")?;
        Ok(ContainerObj::new(self.0.with_file(
            &path,
            &source,
            permissions.map(|p| p as u32),
        )))
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
        Ok(ContainerObj::new(self.0.with_files(
            &path,
            &files,
            permissions.map(|p| p as u32),
        )))
    }

    async fn with_new_file(
        &self,
        path: String,
        contents: String,
        #[graphql(default = 420)] permissions: i32,
    ) -> ContainerObj {
        ContainerObj::new(self.0.with_new_file(&path, contents, permissions as u32))
    }

    async fn without_file(
        &self,
        path: String,
        #[graphql(default = false)] expand: bool,
    ) -> Result<ContainerObj> {
        refuse_expand("withoutFile", expand)?;
        Ok(ContainerObj::new(self.0.without_file(&path)))
    }

    async fn without_files(
        &self,
        paths: Vec<String>,
        #[graphql(default = false)] expand: bool,
    ) -> Result<ContainerObj> {
        refuse_expand("withoutFiles", expand)?;
        Ok(ContainerObj::new(self.0.without_files(&strs(&paths))))
    }

    async fn with_symlink(
        &self,
        target: String,
        link_name: String,
        #[graphql(default = false)] expand: bool,
    ) -> Result<ContainerObj> {
        refuse_expand("withSymlink", expand)?;
        Ok(ContainerObj::new(self.0.with_symlink(&target, &link_name)))
    }

    async fn with_mounted_directory(
        &self,
        ctx: &Context<'_>,
        path: String,
        source: ID,
        #[graphql(default = false)] read_only: bool,
    ) -> Result<ContainerObj> {
        let source = lookup!(ctx, source, Directory, "Directory")?;
        Ok(ContainerObj::new(
            self.0.with_mounted_directory(&path, &source, read_only),
        ))
    }

    async fn with_mounted_file(
        &self,
        ctx: &Context<'_>,
        path: String,
        source: ID,
    ) -> Result<ContainerObj> {
        let source = lookup!(ctx, source, File, "File")?;
        Ok(ContainerObj::new(self.0.with_mounted_file(&path, &source)))
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
        Ok(ContainerObj::new(self.0.with_mounted_cache(
            &path,
            &cache,
            sharing.into(),
        )))
    }

    async fn with_mounted_temp(&self, path: String) -> ContainerObj {
        ContainerObj::new(self.0.with_mounted_temp(&path))
    }

    async fn with_mounted_secret(
        &self,
        ctx: &Context<'_>,
        path: String,
        source: ID,
        #[graphql(default = 256)] mode: i32,
    ) -> Result<ContainerObj> {
        let secret = lookup!(ctx, source, Secret, "Secret")?;
        Ok(ContainerObj::new(self.0.with_mounted_secret(
            &path,
            &secret,
            mode as u32,
        )))
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
        Ok(ContainerObj::new(self.0.with_unix_socket(&path, &socket)))
    }

    async fn without_unix_socket(
        &self,
        path: String,
        #[graphql(default = false)] expand: bool,
    ) -> Result<ContainerObj> {
        refuse_expand("withoutUnixSocket", expand)?;
        Ok(ContainerObj::new(self.0.without_unix_socket(&path)))
    }

    async fn without_mount(
        &self,
        path: String,
        #[graphql(default = false)] expand: bool,
    ) -> Result<ContainerObj> {
        refuse_expand("withoutMount", expand)?;
        Ok(ContainerObj::new(self.0.without_mount(&path)))
    }
}
