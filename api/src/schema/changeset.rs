//! `Changeset` in Dagger's schema: a directory and an older one, compared
//! path by path (`Directory.changes`), and applied elsewhere
//! (`Directory.withChanges`).

use async_graphql::{Context, Object, Result, ID};

use super::files::{DirectoryObj, FileObj};
use super::{fail, state};
use crate::ids::Object as Value;

pub(crate) struct ChangesetObj(pub engine::Changeset);

#[Object(name = "Changeset")]
impl ChangesetObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::Changeset(self.0.clone())))
    }

    async fn sync(&self, ctx: &Context<'_>) -> Result<ID> {
        let synced = self.0.sync().await.map_err(fail)?;
        Ok(ID(state(ctx).ids.register(Value::Changeset(synced))))
    }

    /// Files and directories that were added in the newer directory
    /// (directories end with `/`).
    async fn added_paths(&self) -> Result<Vec<String>> {
        Ok(self.0.paths().await.map_err(fail)?.added.clone())
    }

    /// Files that exist in both and differ.
    async fn modified_paths(&self) -> Result<Vec<String>> {
        Ok(self.0.paths().await.map_err(fail)?.modified.clone())
    }

    /// Files and directories that were removed; a directory ends with `/`
    /// and its contents are not listed.
    async fn removed_paths(&self) -> Result<Vec<String>> {
        Ok(self.0.paths().await.map_err(fail)?.removed.clone())
    }

    /// The older directory.
    async fn before(&self) -> DirectoryObj {
        DirectoryObj(self.0.before())
    }

    /// The newer directory.
    async fn after(&self) -> DirectoryObj {
        DirectoryObj(self.0.after())
    }

    /// The new and changed entries only.
    async fn layer(&self) -> DirectoryObj {
        DirectoryObj(self.0.layer())
    }

    /// The changes as a git-style unified diff, `diff.patch`.
    async fn as_patch(&self) -> Result<FileObj> {
        Ok(FileObj(self.0.as_patch().await.map_err(fail)?))
    }

    /// Whether no file changed.
    async fn is_empty(&self) -> Result<bool> {
        self.0.is_empty().await.map_err(fail)
    }

    /// Applies the changes to the host directory `path`; returns its
    /// absolute path.
    async fn export(&self, path: String) -> Result<String> {
        let written = self.0.export(&path).await.map_err(fail)?;
        Ok(written.display().to_string())
    }
}
