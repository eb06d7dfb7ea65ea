//! `Directory`, `File`, `CacheVolume`, `Secret` and `EnvVariable` in
//! Dagger's schema.

use async_graphql::{Context, Object, Result, ID};

use super::changeset::ChangesetObj;
use super::search::{options, results, SearchResultObj};
use super::stat::{is_of, no_follow, ExistsType, StatObj};
use super::{fail, lookup, state, strs};
use crate::ids::Object as Value;

pub(crate) struct DirectoryObj(pub engine::Directory);
pub(crate) struct FileObj(pub engine::File);
pub(crate) struct CacheVolumeObj(pub engine::CacheVolume);
pub(crate) struct SecretObj(pub engine::Secret);
pub(crate) struct EnvVariableObj {
    pub name: String,
    pub value: String,
}

#[Object(name = "Directory")]
impl DirectoryObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::Directory(self.0.clone())))
    }

    async fn sync(&self, ctx: &Context<'_>) -> Result<ID> {
        let synced = self.0.sync().await.map_err(fail)?;
        Ok(ID(state(ctx).ids.register(Value::Directory(synced))))
    }

    async fn digest(&self) -> Result<String> {
        self.0.digest().await.map_err(fail)
    }

    async fn entries(&self, path: Option<String>) -> Result<Vec<String>> {
        match path {
            Some(path) => self.0.directory(&path).entries().await,
            None => self.0.entries().await,
        }
        .map_err(fail)
    }

    async fn glob(&self, pattern: String) -> Result<Vec<String>> {
        self.0.glob(&pattern).await.map_err(fail)
    }

    async fn file(&self, path: String) -> FileObj {
        FileObj(self.0.file(&path))
    }

    async fn directory(&self, path: String) -> DirectoryObj {
        DirectoryObj(self.0.directory(&path))
    }

    /// Builds the Dockerfile in this directory (the build context).
    #[allow(clippy::too_many_arguments)]
    async fn docker_build(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "String::from(\"Dockerfile\")")] dockerfile: String,
        platform: Option<crate::scalars::Platform>,
        #[graphql(default)] build_args: Vec<super::docker_build::BuildArg>,
        #[graphql(default)] target: String,
        #[graphql(default)] secrets: Vec<ID>,
        #[graphql(default)] no_init: bool,
        ssh: Option<ID>,
    ) -> Result<super::ContainerObj> {
        // Steps run without an injected init anyway: noInit changes nothing.
        let _ = no_init;
        super::docker_build::docker_build(
            ctx, &self.0, dockerfile, platform, build_args, target, secrets, ssh,
        )
        .await
    }

    async fn with_new_file(
        &self,
        path: String,
        contents: String,
        #[graphql(default = 420)] permissions: i32,
    ) -> DirectoryObj {
        DirectoryObj(self.0.with_new_file(&path, contents, permissions as u32))
    }

    async fn with_file(
        &self,
        ctx: &Context<'_>,
        path: String,
        source: ID,
        permissions: Option<i32>,
    ) -> Result<DirectoryObj> {
        let source = lookup!(ctx, source, File, "File")?;
        Ok(DirectoryObj(self.0.with_file(
            &path,
            &source,
            permissions.map(|p| p as u32),
        )))
    }

    async fn with_directory(
        &self,
        ctx: &Context<'_>,
        path: String,
        source: ID,
        #[graphql(default)] exclude: Vec<String>,
        #[graphql(default)] include: Vec<String>,
    ) -> Result<DirectoryObj> {
        let source = lookup!(ctx, source, Directory, "Directory")?;
        Ok(DirectoryObj(self.0.with_directory(
            &path,
            &source,
            &strs(&include),
            &strs(&exclude),
        )))
    }

    async fn with_new_directory(
        &self,
        path: String,
        #[graphql(default = 420)] permissions: i32,
    ) -> DirectoryObj {
        DirectoryObj(self.0.with_new_directory(&path, permissions as u32))
    }

    async fn without_file(&self, path: String) -> DirectoryObj {
        DirectoryObj(self.0.without_file(&path))
    }

    async fn without_directory(&self, path: String) -> DirectoryObj {
        DirectoryObj(self.0.without_directory(&path))
    }

    async fn without_files(&self, paths: Vec<String>) -> DirectoryObj {
        DirectoryObj(self.0.without_files(&strs(&paths)))
    }

    async fn with_files(
        &self,
        ctx: &Context<'_>,
        path: String,
        sources: Vec<ID>,
        permissions: Option<i32>,
    ) -> Result<DirectoryObj> {
        let mut files = Vec::with_capacity(sources.len());
        for source in sources {
            files.push(lookup!(ctx, source, File, "File")?);
        }
        Ok(DirectoryObj(self.0.with_files(
            &path,
            &files,
            permissions.map(|p| p as u32),
        )))
    }

    async fn with_symlink(&self, target: String, link_name: String) -> DirectoryObj {
        DirectoryObj(self.0.with_symlink(&target, &link_name))
    }

    async fn with_timestamps(&self, timestamp: i32) -> DirectoryObj {
        DirectoryObj(self.0.with_timestamps(i64::from(timestamp)))
    }

    async fn chown(&self, path: String, owner: String) -> DirectoryObj {
        DirectoryObj(self.0.chown(&path, &owner))
    }

    async fn exists(
        &self,
        path: String,
        expected_type: Option<ExistsType>,
        #[graphql(default = false)] do_not_follow_symlinks: bool,
    ) -> Result<bool> {
        let no_follow = no_follow(do_not_follow_symlinks, expected_type);
        let stat = self.0.lookup(&path, no_follow).await.map_err(fail)?;
        Ok(is_of(stat.as_ref(), expected_type))
    }

    async fn stat(
        &self,
        path: String,
        #[graphql(default = false)] do_not_follow_symlinks: bool,
    ) -> Result<Option<StatObj>> {
        let stat = self.0.stat(&path, do_not_follow_symlinks).await;
        Ok(Some(StatObj(stat.map_err(fail)?)))
    }

    async fn name(&self) -> Result<String> {
        self.0.name().await.map_err(fail)
    }

    async fn filter(
        &self,
        #[graphql(default)] exclude: Vec<String>,
        #[graphql(default)] include: Vec<String>,
        #[graphql(default = false)] gitignore: bool,
    ) -> Result<DirectoryObj> {
        if gitignore {
            return Err(async_graphql::Error::new(
                "filter: tanto does not apply .gitignore rules yet; leave gitignore out and list the patterns in exclude",
            ));
        }
        Ok(DirectoryObj(
            self.0.filter(&strs(&include), &strs(&exclude)),
        ))
    }

    async fn with_patch(&self, patch: String) -> DirectoryObj {
        DirectoryObj(self.0.with_patch(&patch))
    }

    /// The patch file is read when this field resolves.
    async fn with_patch_file(&self, ctx: &Context<'_>, patch: ID) -> Result<DirectoryObj> {
        let file = lookup!(ctx, patch, File, "File")?;
        let patch = file.contents().await.map_err(fail)?;
        Ok(DirectoryObj(self.0.with_patch(&patch)))
    }

    async fn diff(&self, ctx: &Context<'_>, other: ID) -> Result<DirectoryObj> {
        let other = lookup!(ctx, other, Directory, "Directory")?;
        Ok(DirectoryObj(self.0.diff(&other)))
    }

    /// What changed from `from` (the older directory) to this one.
    async fn changes(&self, ctx: &Context<'_>, from: ID) -> Result<ChangesetObj> {
        let from = lookup!(ctx, from, Directory, "Directory")?;
        Ok(ChangesetObj(self.0.changes(&from)))
    }

    async fn with_changes(&self, ctx: &Context<'_>, changes: ID) -> Result<DirectoryObj> {
        let changes = lookup!(ctx, changes, Changeset, "Changeset")?;
        Ok(DirectoryObj(self.0.with_changes(&changes)))
    }

    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        #[graphql(default)] paths: Vec<String>,
        #[graphql(default)] globs: Vec<String>,
        pattern: String,
        #[graphql(default = false)] literal: bool,
        #[graphql(default = false)] multiline: bool,
        #[graphql(default = false)] dotall: bool,
        #[graphql(default = false)] insensitive: bool,
        #[graphql(default = false)] skip_ignored: bool,
        #[graphql(default = false)] skip_hidden: bool,
        #[graphql(default = false)] files_only: bool,
        limit: Option<i32>,
    ) -> Result<Vec<SearchResultObj>> {
        let options = options(
            paths,
            globs,
            pattern,
            literal,
            multiline,
            dotall,
            insensitive,
            skip_ignored,
            skip_hidden,
            files_only,
            limit,
        )?;
        Ok(results(self.0.search(&options).await.map_err(fail)?))
    }

    async fn find_up(&self, name: String, start: String) -> Result<Option<String>> {
        self.0.find_up(&name, &start).await.map_err(fail)
    }

    /// Fails with `err`, or passes the directory on when it is empty.
    async fn with_error(&self, err: String) -> Result<DirectoryObj> {
        if err.is_empty() {
            return Ok(DirectoryObj(self.0.clone()));
        }
        Err(async_graphql::Error::new(err))
    }

    /// Opens an interactive shell (`cmd`, default `sh`) in `container`
    /// (default: Dagger's Alpine image) with this directory at `/src`, on
    /// the user's terminal; returns the directory unchanged.
    async fn terminal(
        &self,
        ctx: &Context<'_>,
        container: Option<ID>,
        #[graphql(default)] cmd: Vec<String>,
        #[graphql(default = false)] experimental_privileged_nesting: bool,
        #[graphql(default = false)] insecure_root_capabilities: bool,
    ) -> Result<DirectoryObj> {
        super::container::refuse_nesting(
            "terminal",
            experimental_privileged_nesting,
            insecure_root_capabilities,
        )?;
        let container = match container {
            Some(id) => Some(lookup!(ctx, id, Container, "Container")?),
            None => None,
        };
        self.0
            .terminal(container.as_ref(), &cmd)
            .await
            .map_err(fail)?;
        Ok(DirectoryObj(self.0.clone()))
    }

    /// Writes the directory to the host; returns the absolute path written.
    async fn export(&self, path: String, #[graphql(default = false)] wipe: bool) -> Result<String> {
        let written = self.0.export(&path, wipe).await.map_err(fail)?;
        Ok(written.display().to_string())
    }
}

#[Object(name = "File")]
impl FileObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::File(self.0.clone())))
    }

    async fn sync(&self, ctx: &Context<'_>) -> Result<ID> {
        let synced = self.0.sync().await.map_err(fail)?;
        Ok(ID(state(ctx).ids.register(Value::File(synced))))
    }

    async fn name(&self) -> String {
        self.0.name()
    }

    async fn size(&self) -> Result<i32> {
        let size = self.0.size().await.map_err(fail)?;
        i32::try_from(size).map_err(|_| {
            async_graphql::Error::new(format!(
                "the file is {size} bytes, more than GraphQL's Int can say"
            ))
        })
    }

    async fn contents(&self) -> Result<String> {
        self.0.contents().await.map_err(fail)
    }

    async fn digest(&self) -> Result<String> {
        self.0.digest().await.map_err(fail)
    }

    async fn with_name(&self, name: String) -> FileObj {
        FileObj(self.0.with_name(&name))
    }

    async fn with_timestamps(&self, timestamp: i32) -> FileObj {
        FileObj(self.0.with_timestamps(i64::from(timestamp)))
    }

    async fn chown(&self, owner: String) -> FileObj {
        FileObj(self.0.chown(&owner))
    }

    async fn with_replaced(
        &self,
        search: String,
        replacement: String,
        #[graphql(default = false)] all: bool,
        first_from: Option<i32>,
    ) -> FileObj {
        // A line before the first is the first.
        let first_from = first_from.map(|line| line.max(1) as u32);
        FileObj(self.0.with_replaced(&search, &replacement, all, first_from))
    }

    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        pattern: String,
        #[graphql(default = false)] literal: bool,
        #[graphql(default = false)] multiline: bool,
        #[graphql(default = false)] dotall: bool,
        #[graphql(default = false)] insensitive: bool,
        #[graphql(default = false)] skip_ignored: bool,
        #[graphql(default = false)] skip_hidden: bool,
        #[graphql(default = false)] files_only: bool,
        limit: Option<i32>,
        #[graphql(default)] paths: Vec<String>,
        #[graphql(default)] globs: Vec<String>,
    ) -> Result<Vec<SearchResultObj>> {
        // One file is searched whatever the paths and globs say, as in
        // Dagger, where ripgrep is handed the file alone.
        let options = options(
            paths,
            globs,
            pattern,
            literal,
            multiline,
            dotall,
            insensitive,
            skip_ignored,
            skip_hidden,
            files_only,
            limit,
        )?;
        Ok(results(self.0.search(&options).await.map_err(fail)?))
    }

    /// `expand` is deprecated in Dagger and changes nothing there either.
    async fn as_env_file(
        &self,
        #[graphql(deprecation = "Variables are expanded when read")] expand: Option<bool>,
    ) -> Result<super::env_file::EnvFileObj> {
        let _ = expand;
        let contents = self.0.contents().await.map_err(fail)?;
        Ok(super::env_file::EnvFileObj(
            super::env_file::EnvFileData::parse(&contents),
        ))
    }

    #[graphql(name = "asJSON")]
    async fn as_json(&self) -> Result<super::json_value::JsonValueObj> {
        let contents = self.0.contents().await.map_err(fail)?;
        let what = format!("the file {}", self.0.name());
        super::json_value::JsonValueObj::parsed(contents, &what)
    }

    async fn stat(&self) -> Result<Option<StatObj>> {
        Ok(Some(StatObj(self.0.stat().await.map_err(fail)?)))
    }

    /// Writes the file to the host; returns the absolute path written.
    async fn export(&self, path: String) -> Result<String> {
        let written = self.0.export(&path).await.map_err(fail)?;
        Ok(written.display().to_string())
    }
}

#[Object(name = "CacheVolume")]
impl CacheVolumeObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::CacheVolume(self.0.clone())))
    }
}

#[Object(name = "Secret")]
impl SecretObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::Secret(self.0.clone())))
    }

    async fn name(&self) -> String {
        self.0.name().to_owned()
    }

    async fn plaintext(&self) -> String {
        String::from_utf8_lossy(self.0.plaintext()).into_owned()
    }

    /// Where the value was read from; empty for `setSecret`'s.
    async fn uri(&self) -> String {
        self.0.uri().unwrap_or_default().to_owned()
    }
}

#[Object(name = "EnvVariable")]
impl EnvVariableObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx)
            .ids
            .register(Value::EnvVariable(self.name.clone(), self.value.clone())))
    }

    async fn name(&self) -> &str {
        &self.name
    }

    async fn value(&self) -> &str {
        &self.value
    }
}
