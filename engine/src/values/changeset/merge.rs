//! `Changeset.withChangeset` and `withChangesets`: two changesets merged
//! into one, as Dagger merges them with git (a branch per changeset on the
//! merged `before` directories, then `git merge`). Changes to different
//! paths are taken together; a path both sides changed is merged line by
//! line (`three_way.rs`); what is left in conflict is settled as asked.
//!
//! The merged `before` is both `before` directories, the second over the
//! first, without `.git`; the merged `after` is that with each side's
//! changes applied (`withChanges`), and every path both sides touched then
//! written as the merge says.

use std::sync::Arc;

use snapshotter::ChangedPaths;

use super::patch::Blob;
use super::three_way::{self, Merged, Settle};
use super::{Changeset, Trees};
use crate::error::Error;
use crate::node::{ContainerPath, Node};
use crate::solved::blocking;
use crate::values::Directory;

/// What to do where both changesets changed the same path (Dagger's
/// `ChangesetMergeConflict`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeConflict {
    /// Fail before merging when both changed one path at all.
    FailEarly,
    /// Merge, and fail where both changed the same lines.
    Fail,
    /// Git's conflict markers in the file; of a file modified on one side
    /// and removed on the other, the modified one.
    LeaveConflictMarkers,
    /// This changeset's side of every conflict.
    PreferOurs,
    /// The other changeset's side of every conflict.
    PreferTheirs,
}

/// A path both sides touched, settled: what the merged `after` has there.
enum Resolution {
    Write {
        bytes: Vec<u8>,
        mode: u32,
    },
    /// The file of one side's `after`, as it is (a binary file, a symlink).
    FromOurs,
    Remove,
}

impl Changeset {
    /// This changeset and `other` merged into one.
    pub async fn with_changeset(
        &self,
        other: &Changeset,
        on_conflict: MergeConflict,
    ) -> Result<Changeset, Error> {
        let (ours, theirs) = futures::future::join(self.paths(), other.paths()).await;
        let (ours, theirs) = (ours?, theirs?);
        let touched = touched_by_both(&ours, &theirs);
        if on_conflict == MergeConflict::FailEarly {
            if let Some(message) = path_conflicts(&touched) {
                return Err(Error::ChangesetConflict { detail: message });
            }
        }
        let (our_trees, their_trees) = futures::future::join(self.trees(), other.trees()).await;
        let (our_trees, their_trees) = (our_trees?, their_trees?);
        let resolutions = blocking(move || {
            touched
                .into_iter()
                .filter_map(|(path, _)| {
                    resolve(&path, &our_trees, &their_trees, on_conflict)
                        .transpose()
                        .map(|resolved| resolved.map(|r| (path, r)))
                })
                .collect::<Result<Vec<_>, Error>>()
        })
        .await?;

        let ctx = Arc::clone(&self.after.ctx);
        let before = Directory::new(ctx, Node::scratch(), ContainerPath::known("/"))
            .with_directory("/", &self.before, &[], &[])
            .with_directory("/", &other.before, &[], &[])
            .without_directory(".git");
        let mut after = before.with_changes(self).with_changes(other);
        for (path, resolution) in resolutions {
            after = match resolution {
                Resolution::Write { bytes, mode } => after.with_new_file(&path, bytes, mode),
                Resolution::FromOurs => after.with_file(&path, &self.after.file(&path), None),
                Resolution::Remove => after.without_file(&path),
            };
        }
        Ok(after.changes(&before))
    }

    /// This changeset and every one of `others` merged into one, in order
    /// (Dagger's octopus merge, which settles no conflict: `on_conflict` is
    /// `FailEarly` or `Fail`).
    pub async fn with_changesets(
        &self,
        others: &[Changeset],
        on_conflict: MergeConflict,
    ) -> Result<Changeset, Error> {
        if on_conflict == MergeConflict::FailEarly {
            let mut all = vec![self.paths().await?];
            for other in others {
                all.push(other.paths().await?);
            }
            for (i, first) in all.iter().enumerate() {
                for second in &all[i + 1..] {
                    if let Some(message) = path_conflicts(&touched_by_both(first, second)) {
                        return Err(Error::ChangesetConflict { detail: message });
                    }
                }
            }
        }
        let mut merged = self.clone();
        for other in others {
            merged = merged.with_changeset(other, MergeConflict::Fail).await?;
        }
        Ok(merged)
    }
}

/// How each side changed a path both touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Touch {
    Added,
    Modified,
    Removed,
}

/// The files both sides touched, with how (ours, theirs). A file removed
/// with its directory counts as removed.
fn touched_by_both(ours: &ChangedPaths, theirs: &ChangedPaths) -> Vec<(String, (Touch, Touch))> {
    let touches = |paths: &ChangedPaths| {
        let files = |list: &[String], touch| {
            list.iter()
                .filter(|p| !p.ends_with('/'))
                .map(move |p| (p.clone(), touch))
                .collect::<Vec<_>>()
        };
        let mut all = files(&paths.added, Touch::Added);
        all.extend(files(&paths.modified, Touch::Modified));
        all.extend(files(&paths.removed_files, Touch::Removed));
        all
    };
    let theirs = touches(theirs);
    touches(ours)
        .into_iter()
        .filter_map(|(path, our_touch)| {
            let (_, their_touch) = theirs.iter().find(|(p, _)| *p == path)?;
            match (our_touch, *their_touch) {
                // Both removed it: no conflict, and nothing to settle.
                (Touch::Removed, Touch::Removed) => None,
                both => Some((path, both)),
            }
        })
        .collect()
}

/// Dagger's words for the paths both touched, when any was (for
/// `FAIL_EARLY`).
fn path_conflicts(touched: &[(String, (Touch, Touch))]) -> Option<String> {
    let lines: Vec<String> = touched
        .iter()
        .map(|(path, touches)| {
            let why = match touches {
                (Touch::Added, Touch::Added) => "path added in both changesets",
                (Touch::Modified, Touch::Modified) => "path modified in both changesets",
                _ => "path modified in one changeset and removed in the other",
            };
            format!("conflict between changesets at path {path:?}: {why}")
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// What the merged `after` has at `path`, which both sides touched; `None`
/// where applying both sides' changes already made it right.
fn resolve(
    path: &str,
    ours: &Trees,
    theirs: &Trees,
    on_conflict: MergeConflict,
) -> Result<Option<Resolution>, Error> {
    let read = |view: &snapshotter::ChainView, root: &str| {
        let full = format!("{}/{path}", root.trim_end_matches('/'));
        Blob::read(view, &full).map_err(|source| Error::FileOp {
            path: path.to_owned(),
            source: Box::new(source),
        })
    };
    let our_file = read(&ours.after, &ours.after_path)?;
    let their_file = read(&theirs.after, &theirs.after_path)?;
    let conflict = |why: &str| Error::ChangesetConflict {
        detail: format!("merge conflict in {path:?}: {why}"),
    };
    // `withChanges` applied ours, then theirs: theirs' state is there now.
    let (ours_file, theirs_file) = match (our_file, their_file) {
        (None, None) => return Ok(None),
        (Some(ours_file), Some(theirs_file)) => (ours_file, theirs_file),
        // Modified on one side, removed on the other.
        (ours_file, _) => {
            let keep_ours = match on_conflict {
                MergeConflict::PreferOurs => true,
                MergeConflict::PreferTheirs => false,
                MergeConflict::LeaveConflictMarkers => ours_file.is_some(),
                MergeConflict::FailEarly | MergeConflict::Fail => {
                    return Err(conflict(
                        "modified in one changeset and removed in the other",
                    ))
                }
            };
            return Ok(match (keep_ours, ours_file) {
                (false, _) => None,
                (true, Some(_)) => Some(Resolution::FromOurs),
                (true, None) => Some(Resolution::Remove),
            });
        }
    };
    if ours_file.bytes == theirs_file.bytes && ours_file.mode == theirs_file.mode {
        return Ok(None);
    }
    let base = read(&theirs.before, &theirs.before_path)?
        .or(read(&ours.before, &ours.before_path)?)
        .unwrap_or(Blob {
            mode: ours_file.mode,
            bytes: Vec::new(),
        });
    let settle = match on_conflict {
        MergeConflict::FailEarly | MergeConflict::Fail => Settle::Refuse,
        MergeConflict::LeaveConflictMarkers => Settle::Markers,
        MergeConflict::PreferOurs => Settle::Ours,
        MergeConflict::PreferTheirs => Settle::Theirs,
    };
    // A mode changed on one side only is taken; on both, as settled.
    let mode = if ours_file.mode == base.mode || settle == Settle::Theirs {
        theirs_file.mode
    } else {
        ours_file.mode
    };
    let texts = (base.text(), ours_file.text(), theirs_file.text());
    let symlink = ours_file.mode == 0o120000 || theirs_file.mode == 0o120000;
    let (Some(base_text), Some(our_text), Some(their_text)) = texts else {
        return match settle {
            Settle::Ours => Ok(Some(Resolution::FromOurs)),
            Settle::Theirs => Ok(None),
            Settle::Refuse | Settle::Markers => {
                Err(conflict("a binary file changed on both sides"))
            }
        };
    };
    if symlink {
        return match settle {
            Settle::Ours => Ok(Some(Resolution::FromOurs)),
            Settle::Theirs => Ok(None),
            Settle::Refuse | Settle::Markers => {
                Err(conflict("a symlink changed differently on both sides"))
            }
        };
    }
    let bytes = match three_way::merge(base_text, our_text, their_text, settle) {
        Merged::Clean(text) | Merged::Settled(text) => text.into_bytes(),
        Merged::Conflict { line } => {
            return Err(conflict(&format!(
                "both changesets changed the lines at line {line} differently (onConflict: LEAVE_CONFLICT_MARKERS, PREFER_OURS or PREFER_THEIRS settle it)"
            )))
        }
    };
    Ok(Some(Resolution::Write {
        bytes,
        mode: mode & 0o7777,
    }))
}
