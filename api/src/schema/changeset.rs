//! `Changeset` in Dagger's schema: a directory and an older one, compared
//! path by path (`Directory.changes`), and applied elsewhere
//! (`Directory.withChanges`).

use async_graphql::{Context, Enum, Object, Result, ID};

use super::files::{DirectoryObj, FileObj};
use super::{fail, lookup, state};
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

    /// Per path, what happened to it and how many lines were added and
    /// removed, sorted by path.
    async fn diff_stats(&self) -> Result<Vec<DiffStatObj>> {
        let stats = self.0.diff_stats().await.map_err(fail)?;
        Ok(stats.into_iter().map(DiffStatObj).collect())
    }

    /// The changes as a git-style unified diff, `diff.patch`.
    async fn as_patch(&self) -> Result<FileObj> {
        Ok(FileObj(self.0.as_patch().await.map_err(fail)?))
    }

    /// Whether no file changed.
    async fn is_empty(&self) -> Result<bool> {
        self.0.is_empty().await.map_err(fail)
    }

    /// This changeset and `changes` merged, as `git merge` merges them.
    async fn with_changeset(
        &self,
        ctx: &Context<'_>,
        changes: ID,
        #[graphql(default_with = "ChangesetMergeConflict::Fail")]
        on_conflict: ChangesetMergeConflict,
    ) -> Result<ChangesetObj> {
        let other = lookup!(ctx, changes, Changeset, "Changeset")?;
        let merged = self.0.with_changeset(&other, on_conflict.into()).await;
        Ok(ChangesetObj(merged.map_err(fail)?))
    }

    /// This changeset and every one of `changes` merged, as git's octopus
    /// merge merges them: a conflict fails it.
    async fn with_changesets(
        &self,
        ctx: &Context<'_>,
        changes: Vec<ID>,
        #[graphql(default_with = "ChangesetsMergeConflict::Fail")]
        on_conflict: ChangesetsMergeConflict,
    ) -> Result<ChangesetObj> {
        let others = changes
            .into_iter()
            .map(|id| lookup!(ctx, id, Changeset, "Changeset"))
            .collect::<Result<Vec<_>>>()?;
        let on_conflict = match on_conflict {
            ChangesetsMergeConflict::FailEarly => engine::MergeConflict::FailEarly,
            ChangesetsMergeConflict::Fail => engine::MergeConflict::Fail,
        };
        let merged = self.0.with_changesets(&others, on_conflict).await;
        Ok(ChangesetObj(merged.map_err(fail)?))
    }

    /// Applies the changes to the host directory `path`; returns its
    /// absolute path.
    async fn export(&self, path: String) -> Result<String> {
        let written = self.0.export(&path).await.map_err(fail)?;
        Ok(written.display().to_string())
    }
}

/// One path's line of `Changeset.diffStats`.
pub(crate) struct DiffStatObj(pub engine::DiffStat);

#[Object(name = "DiffStat")]
impl DiffStatObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::DiffStat(self.0.clone())))
    }

    /// Path of the changed file or directory (a directory's ends with `/`).
    async fn path(&self) -> &str {
        &self.0.path
    }

    /// Where a renamed file was; null otherwise.
    async fn old_path(&self) -> Option<&str> {
        self.0.old_path.as_deref()
    }

    async fn kind(&self) -> DiffStatKind {
        match self.0.kind {
            engine::DiffStatKind::Added => DiffStatKind::Added,
            engine::DiffStatKind::Modified => DiffStatKind::Modified,
            engine::DiffStatKind::Removed => DiffStatKind::Removed,
            engine::DiffStatKind::Renamed => DiffStatKind::Renamed,
        }
    }

    async fn added_lines(&self) -> i32 {
        i32::try_from(self.0.added_lines).unwrap_or(i32::MAX)
    }

    async fn removed_lines(&self) -> i32 {
        i32::try_from(self.0.removed_lines).unwrap_or(i32::MAX)
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "DiffStatKind")]
pub(crate) enum DiffStatKind {
    #[graphql(name = "ADDED")]
    Added,
    #[graphql(name = "MODIFIED")]
    Modified,
    #[graphql(name = "REMOVED")]
    Removed,
    #[graphql(name = "RENAMED")]
    Renamed,
}

/// What `withChangeset` does where both changesets changed the same path.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ChangesetMergeConflict")]
pub(crate) enum ChangesetMergeConflict {
    #[graphql(name = "FAIL_EARLY")]
    FailEarly,
    #[graphql(name = "FAIL")]
    Fail,
    #[graphql(name = "LEAVE_CONFLICT_MARKERS")]
    LeaveConflictMarkers,
    #[graphql(name = "PREFER_OURS")]
    PreferOurs,
    #[graphql(name = "PREFER_THEIRS")]
    PreferTheirs,
}

impl From<ChangesetMergeConflict> for engine::MergeConflict {
    fn from(choice: ChangesetMergeConflict) -> Self {
        match choice {
            ChangesetMergeConflict::FailEarly => engine::MergeConflict::FailEarly,
            ChangesetMergeConflict::Fail => engine::MergeConflict::Fail,
            ChangesetMergeConflict::LeaveConflictMarkers => {
                engine::MergeConflict::LeaveConflictMarkers
            }
            ChangesetMergeConflict::PreferOurs => engine::MergeConflict::PreferOurs,
            ChangesetMergeConflict::PreferTheirs => engine::MergeConflict::PreferTheirs,
        }
    }
}

/// What `withChangesets` does on a conflict: fail, before or while merging.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ChangesetsMergeConflict")]
pub(crate) enum ChangesetsMergeConflict {
    #[graphql(name = "FAIL_EARLY")]
    FailEarly,
    #[graphql(name = "FAIL")]
    Fail,
}
