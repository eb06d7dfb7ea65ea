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

/// The copies made for one run of a step.
#[derive(Default)]
pub(super) struct Copies {
    copies: Vec<Copy>,
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
    /// go to `upper`.
    pub(super) fn root(
        &mut self,
        layers: &[PathBuf],
        dir: &Path,
        upper: &Path,
    ) -> Result<PathBuf, Error> {
        self.copy(layers, &dir.join("root"), Some(upper.to_owned()))
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
        let source = self.copy(layers, &dir.join("root"), upper)?;
        Ok(MountKind::Bind { source, read_only })
    }

    fn copy(
        &mut self,
        layers: &[PathBuf],
        dest: &Path,
        changes_to: Option<PathBuf>,
    ) -> Result<PathBuf, Error> {
        let chain = ChainView::new(layers.to_vec());
        let copied = snapshotter::copy_chain(&chain, dest).map_err(store_error)?;
        self.copies.push(Copy {
            chain,
            copied,
            changes_to,
        });
        Ok(dest.to_owned())
    }

    /// Writes what the step changed in each writable copy to its layer,
    /// then removes the copies. Call once the step is gone.
    pub(super) fn write_changes(mut self) -> Result<(), Error> {
        for copy in std::mem::take(&mut self.copies) {
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
            remove_tree(copy.copied.dir());
        }
        Ok(())
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
