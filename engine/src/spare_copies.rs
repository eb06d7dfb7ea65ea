//! Spare copies, for the copying snapshotter: once a step's changes are
//! written and its result committed, the copy it ran on reads exactly as
//! the chain of that result (its layer on top of the step's own chain). The
//! next step on that chain takes the copy over, a rename, instead of
//! copying the whole chain again while the old copy is deleted. A chain of
//! steps then copies its image once. On ext4 this matters more than the
//! bytes: deleting thousands of inodes and at once creating as many sends
//! its inode allocator scanning past every recently freed one.
//!
//! What a taken-over copy shows differs from a fresh copy only where
//! overlay would not be faithful either: a directory's mtime where the
//! step made and removed entries (a mount point, an extra CA certificate),
//! and hard links the step made, which its layer holds as separate files.
//!
//! A process keeps a few, in throwaway directories: removed when they are
//! pushed out or the engine is dropped, swept when the process dies.

use std::collections::VecDeque;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use snapshotter::Throwaway;

/// How many spare copies one process keeps: each is a whole root file
/// system, and one is what a chain of steps needs.
const KEPT: usize = 2;

#[derive(Default)]
pub(crate) struct SpareCopies {
    spares: Mutex<VecDeque<Offered>>,
}

/// A step's copy, parked out of its result's directory before the commit.
pub(crate) struct Spare {
    /// Holds the copy in `root`; removes it on drop.
    parked: Throwaway,
}

impl Spare {
    /// Moves `copy` into a fresh throwaway directory of `store`.
    pub fn park(store: &snapshotter::Store, copy: &Path) -> Option<Spare> {
        let parked = store.throwaway("spare-copy").ok()?;
        std::fs::rename(copy, parked.dir().join("root")).ok()?;
        Some(Spare { parked })
    }

    fn root(&self) -> PathBuf {
        self.parked.dir().join("root")
    }
}

/// A spare copy that reads as `chain`, its top layer being the one it had
/// when offered.
struct Offered {
    spare: Spare,
    chain: Vec<PathBuf>,
    top: Option<Identity>,
}

/// A layer directory's device, inode and change time: a layer collected
/// and made anew (perhaps with other bytes) under the same path is another
/// one, even where its inode number is reused.
type Identity = (u64, u64, i64, i64);

fn identity(layer: Option<&PathBuf>) -> Option<Identity> {
    let meta = layer?.symlink_metadata().ok()?;
    Some((meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec()))
}

impl SpareCopies {
    /// Keeps `spare`, which reads as `chain` (top layer first), pushing
    /// out the oldest beyond [`KEPT`].
    pub fn offer(&self, spare: Spare, chain: Vec<PathBuf>) {
        let top = identity(chain.first());
        let pushed_out = {
            let mut spares = self.spares.lock().unwrap();
            spares.push_back(Offered { spare, chain, top });
            (spares.len() > KEPT).then(|| spares.pop_front())
        };
        // Removed outside the lock (a whole tree).
        drop(pushed_out);
    }

    /// Moves a spare copy that reads as `chain` to `dest`, as a step's
    /// copy; none when there is none.
    pub fn take(&self, chain: &[PathBuf], dest: &Path) -> Option<snapshotter::CopiedRoot> {
        let offered = {
            let mut spares = self.spares.lock().unwrap();
            let at = spares.iter().position(|o| o.chain == chain)?;
            spares.remove(at)?
        };
        if offered.top.is_none() || offered.top != identity(chain.first()) {
            return None;
        }
        match snapshotter::take_over_copy(&offered.spare.root(), dest) {
            Ok(copied) => Some(copied),
            Err(e) => {
                tracing::debug!("spare copy not taken over: {e:#}");
                if dest.exists() {
                    crate::memo::remove_tree(dest);
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Setup {
        root: tempfile::TempDir,
        store: snapshotter::Store,
    }

    fn setup() -> Setup {
        let root = tempfile::tempdir().unwrap();
        let store = snapshotter::Store::open(root.path(), snapshotter::Limits::default()).unwrap();
        Setup { root, store }
    }

    impl Setup {
        /// A layer directory and a step's copy holding `text`.
        fn step(&self, name: &str, text: &str) -> (PathBuf, Spare) {
            let layer = self.root.path().join(name);
            std::fs::create_dir(&layer).unwrap();
            let copy = self.root.path().join(format!("{name}-copy"));
            std::fs::create_dir(&copy).unwrap();
            std::fs::write(copy.join("file"), text).unwrap();
            (layer, Spare::park(&self.store, &copy).unwrap())
        }

        fn parked(&self) -> usize {
            std::fs::read_dir(self.root.path().join("snapshots/tmp"))
                .unwrap()
                .count()
        }
    }

    #[test]
    fn a_spare_is_taken_over_by_the_next_step_on_its_chain_only() {
        let setup = setup();
        let image = setup.root.path().join("image");
        let (layer, spare) = setup.step("a", "a's copy");
        let spares = SpareCopies::default();
        spares.offer(spare, vec![layer.clone(), image.clone()]);
        let dest = setup.root.path().join("dest");
        assert!(
            spares.take(std::slice::from_ref(&image), &dest).is_none(),
            "another chain"
        );
        assert!(!dest.exists());
        let taken = spares.take(&[layer.clone(), image.clone()], &dest).unwrap();
        assert_eq!(taken.dir(), dest);
        assert_eq!(
            std::fs::read_to_string(dest.join("file")).unwrap(),
            "a's copy"
        );
        assert!(spares.take(&[layer, image], &dest).is_none(), "taken once");
    }

    #[test]
    fn a_layer_made_anew_under_the_same_path_is_another_chain() {
        let setup = setup();
        let (layer, spare) = setup.step("a", "a's copy");
        let spares = SpareCopies::default();
        spares.offer(spare, vec![layer.clone()]);
        // Collected, and built again by another process (later than the
        // kernel's coarse clock can tell apart).
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::remove_dir(&layer).unwrap();
        let elsewhere = setup.root.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::rename(&elsewhere, &layer).unwrap();
        let dest = setup.root.path().join("dest");
        assert!(spares.take(&[layer], &dest).is_none());
        assert!(!dest.exists());
        assert_eq!(setup.parked(), 0, "the stale spare is removed");
    }

    #[test]
    fn only_the_newest_spares_are_kept_and_all_go_with_their_keeper() {
        let setup = setup();
        let spares = SpareCopies::default();
        let mut layers = Vec::new();
        for name in ["a", "b", "c"] {
            let (layer, spare) = setup.step(name, name);
            spares.offer(spare, vec![layer.clone()]);
            layers.push(layer);
        }
        assert_eq!(setup.parked(), KEPT);
        let dest = setup.root.path().join("dest");
        assert!(spares.take(&layers[..1], &dest).is_none(), "pushed out");
        assert!(spares.take(&layers[2..], &dest).is_some());
        drop(spares);
        assert_eq!(setup.parked(), 0);
    }
}
