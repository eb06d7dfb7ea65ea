//! An exec on copies, where overlay cannot be mounted (the copying
//! snapshotter, `snapshotter_choice.rs`): the step's root and its
//! directory mounts are copies of their chains, and once the step is gone
//! what it changed in them is written as the layers overlay would have
//! left in its upper dirs, so results are stored and keyed alike.

use std::path::{Path, PathBuf};

use executor::MountKind;
use snapshotter::{ChainView, CopiedRoot};

use crate::error::Error;
use crate::memo::remove_tree;
use crate::spare_copies::{Spare, SpareCopies};

/// The copies made for one run of a step.
#[derive(Default)]
pub(super) struct Copies {
    copies: Vec<Copy>,
    /// Which of them is the step's root.
    root: Option<usize>,
}

struct Copy {
    chain: ChainView,
    copied: CopiedRoot,
    /// Where its changes go; none for a read-only mount.
    changes_to: Option<PathBuf>,
}

fn store_error(source: snapshotter::Error) -> Error {
    Error::Store {
        source: Box::new(source),
    }
}

impl Copies {
    /// A copy of `layers` in `dir/root` for the step's root, its changes to
    /// go to `upper`: a spare one an earlier step left on that chain, or a
    /// new one.
    pub(super) fn root(
        &mut self,
        layers: &[PathBuf],
        dir: &Path,
        upper: &Path,
        spares: &SpareCopies,
    ) -> Result<PathBuf, Error> {
        let dest = dir.join("root");
        let chain = ChainView::new(layers.to_vec());
        let copied = match spares.take(layers, &dest) {
            Some(copied) => {
                tracing::debug!("{}: a spare copy taken over", dest.display());
                copied
            }
            None => snapshotter::copy_chain(&chain, &dest).map_err(store_error)?,
        };
        self.root = Some(self.copies.len());
        self.copies.push(Copy {
            chain,
            copied,
            changes_to: Some(upper.to_owned()),
        });
        Ok(dest)
    }

    /// A directory mount of `layers` as a copy in `dir/root`, bound
    /// read-only or writable; a writable one's changes go to `upper`.
    pub(super) fn mount(
        &mut self,
        layers: &[PathBuf],
        dir: &Path,
        upper: Option<PathBuf>,
    ) -> Result<MountKind, Error> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Memo {
            path: dir.to_owned(),
            source,
        })?;
        let read_only = upper.is_none();
        let dest = dir.join("root");
        let chain = ChainView::new(layers.to_vec());
        let copied = snapshotter::copy_chain(&chain, &dest).map_err(store_error)?;
        self.copies.push(Copy {
            chain,
            copied,
            changes_to: upper,
        });
        Ok(MountKind::Bind {
            source: dest,
            read_only,
        })
    }

    /// Writes what the step changed in each writable copy to its layer,
    /// then removes the mounts' copies. Call once the step is gone. The
    /// root's copy, which now reads as the step's result on its chain, is
    /// the caller's, to keep as a spare or drop.
    pub(super) fn write_changes(mut self) -> Result<Option<UsedRoot>, Error> {
        let copies = std::mem::take(&mut self.copies);
        // Each copy removed on drop from here on, whatever fails.
        let mut used: Vec<Option<UsedRoot>> = copies
            .iter()
            .map(|copy| {
                Some(UsedRoot {
                    dir: copy.copied.dir().to_owned(),
                    parked: false,
                })
            })
            .collect();
        for copy in &copies {
            if let Some(upper) = &copy.changes_to {
                let changes = snapshotter::write_changes(&copy.chain, &copy.copied, upper)
                    .map_err(store_error)?;
                tracing::debug!(
                    "{}: {} entries written, {} removed",
                    upper.display(),
                    changes.written,
                    changes.removed
                );
            }
        }
        Ok(self.root.and_then(|index| used[index].take()))
    }
}

impl Drop for Copies {
    /// Copies never outlive their run (a shell's, a failed start's).
    fn drop(&mut self) {
        for copy in &self.copies {
            remove_tree(copy.copied.dir());
        }
    }
}

/// The copy a step ran as its root, its changes written: removed on drop,
/// unless parked as a spare for the next step on its result.
pub(super) struct UsedRoot {
    dir: PathBuf,
    parked: bool,
}

impl UsedRoot {
    /// Moves the copy out of the step's result directory (before that is
    /// committed) into a spare.
    pub(super) fn park(mut self, store: &snapshotter::Store) -> Option<Spare> {
        let spare = Spare::park(store, &self.dir)?;
        self.parked = true;
        Some(spare)
    }
}

impl Drop for UsedRoot {
    fn drop(&mut self) {
        if !self.parked {
            remove_tree(&self.dir);
        }
    }
}
