//! Reading a `Container`: its config (environment, labels, ports, user,
//! entrypoint…) and its file system (`file`, `directory`, `exists`,
//! `stat`, the mounts).

use async_graphql::{Object, Result};

use super::super::container_info::{HealthcheckConfigObj, LabelObj, PortObj};
use super::super::stat::{is_of, no_follow, ExistsType, StatObj};
use super::super::{fail, DirectoryObj, EnvVariableObj, FileObj};
use super::args::refuse_expand;

pub(crate) struct ContainerInspect(pub(super) engine::Container);

#[Object]
impl ContainerInspect {
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

    async fn file(&self, path: String) -> FileObj {
        FileObj(self.0.file(&path))
    }

    async fn directory(&self, path: String) -> DirectoryObj {
        DirectoryObj(self.0.directory(&path))
    }

    async fn rootfs(&self) -> DirectoryObj {
        DirectoryObj(self.0.rootfs())
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

    /// The image config's `Healthcheck`, if it has one.
    async fn docker_healthcheck(&self) -> Result<Option<HealthcheckConfigObj>> {
        HealthcheckConfigObj::of(self.0.settings().await.map_err(fail)?.healthcheck)
    }
}
