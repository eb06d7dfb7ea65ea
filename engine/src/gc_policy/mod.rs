//! The garbage collector's policy: when the store is pruned and how far,
//! with Dagger's knobs, Dagger's defaults and where a user sets them. This
//! module decides numbers only; it deletes nothing.
//!
//! # The knobs
//!
//! They mean what they mean in BuildKit's `buildkitd.toml`
//! (`docs/buildkitd.toml.md` in moby/buildkit) and in Dagger's engine
//! config (`GCSpace` in dagger/dagger `engine/config/config.go`), which
//! passes them to BuildKit unchanged. Each size is a [`Space`]: bytes,
//! bytes with a unit, or a percentage of the disk the store is on.
//!
//! - **`reservedSpace`**: what the store may always keep. GC never takes
//!   the store below it, whatever the other knobs ask; usage under it is
//!   never reclaimed.
//! - **`maxUsedSpace`**: the most the store may use. When it uses more,
//!   GC removes the excess.
//! - **`minFreeSpace`**: the free space GC tries to leave on the disk. When
//!   the disk has less free, GC removes from the store what is missing,
//!   but still not below `reservedSpace`. It reacts to whatever fills the
//!   disk, the store or other files.
//! - **`targetSpace`**: once one of the two thresholds above has set GC
//!   off, it prunes further, down to this size, so that it does not run
//!   again at the next step (Dagger's prune argument and the
//!   `EngineCache.targetSpace` field; Dagger's config derives it from
//!   `sweepSize`). It never starts GC by itself, and never makes GC free
//!   less than the threshold asked for.
//! - **`keepDuration`**: entries used more recently than this are never
//!   removed; GC frees what it can among the older ones (a BuildKit
//!   policy's `keepDuration`, which filters the records it may prune).
//!
//! BuildKit folds the three sizes into one "keep bytes" figure
//! (`calculateKeepBytes` in its `cache/manager.go`): start from
//! `maxUsedSpace`, lower it by what `minFreeSpace` is short of, and raise
//! it to `reservedSpace`. [`GcPolicy::resolve`] does the same and then
//! applies `targetSpace` the way Dagger's `pruneTargetBytes` does.
//!
//! # The defaults
//!
//! Dagger's (`DetectDefaultGCCap` in dagger/dagger `engine/server/gc.go`;
//! docs.dagger.io, Configuration › Cache, says the same in words: the
//! cache under 75% of the disk, 20% of it left free): `reservedSpace` 10% of the disk but at
//! most 10 GB (10^10 bytes), `minFreeSpace` 20%, `maxUsedSpace` 75%, no
//! `targetSpace` (Dagger leaves `sweepSize` unset), and GC on. No
//! `keepDuration`: Dagger's default list of BuildKit policies ends with a
//! catch-all that has none, and tanto has that one policy.
//!
//! Where tanto differs on purpose:
//! - a percentage is exact; BuildKit rounds one to a whole number of
//!   gigabytes in a way that makes Dagger's 75% of a 100 GB disk 70 GB;
//! - `MB` is 10^6 bytes and `MiB` 2^20; BuildKit's parser (go-units'
//!   `RAMInBytes`) reads both as 2^20, so tanto refuses the bare `M`;
//! - 0 is a size, not "unset": `max-used-space = 0` prunes down to the
//!   reserve. A threshold is turned off with `100%` (max used) or `0`
//!   (min free);
//! - a duration may be given in days (`7d`).
//!
//! # Where it is set
//!
//! [`GcPolicy::load`] reads `[gc]` in `$XDG_CONFIG_HOME/tanto/config.toml`
//! (else `~/.config/tanto/config.toml`), then lets the environment
//! override it; see `config.rs`:
//!
//! ```toml
//! [gc]
//! enabled = true            # TANTO_GC=off turns automatic GC off
//! keep-duration = "48h"     # TANTO_GC_KEEP_DURATION
//! reserved-space = "10GB"   # TANTO_GC_RESERVED_SPACE
//! max-used-space = "75%"    # TANTO_GC_MAX_USED_SPACE
//! min-free-space = "20%"    # TANTO_GC_MIN_FREE_SPACE
//! target-space = "50%"      # TANTO_GC_TARGET_SPACE
//! ```

mod config;
mod decimal;
mod duration;
mod error;
mod plan;
mod space;

use std::time::Duration;

pub use duration::parse_duration;
pub use error::{GcPolicyError, Malformed, Origin};
pub use plan::{Limits, Plan, Trigger, Usage};
pub use space::Space;

/// Dagger's default reserve: this share of the disk…
const DEFAULT_RESERVED_SHARE: Space = Space::percent(10);
/// …but no more than this (10 GB, as Dagger's `diskSpaceReserveBytes`).
const DEFAULT_RESERVED_CAP: u64 = 10_000_000_000;

/// When GC prunes the store and how far. The module doc says what each
/// knob means, as BuildKit and Dagger define it; [`Default`] is Dagger's
/// policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GcPolicy {
    /// Whether GC runs by itself (after a run, when the disk runs short);
    /// an explicit `tanto prune` runs either way.
    pub enabled: bool,
    /// `keepDuration`: entries used more recently are never collected.
    pub keep_duration: Option<Duration>,
    /// `reservedSpace`; `None` is Dagger's default, the lesser of 10% of
    /// the disk and 10 GB, which no single [`Space`] can say.
    pub reserved_space: Option<Space>,
    /// `maxUsedSpace`.
    pub max_used_space: Space,
    /// `minFreeSpace`.
    pub min_free_space: Space,
    /// `targetSpace`.
    pub target_space: Option<Space>,
}

impl Default for GcPolicy {
    fn default() -> GcPolicy {
        GcPolicy {
            enabled: true,
            keep_duration: None,
            reserved_space: None,
            max_used_space: Space::percent(75),
            min_free_space: Space::percent(20),
            target_space: None,
        }
    }
}

impl GcPolicy {
    /// `reservedSpace` in bytes on a disk of `disk_total` bytes.
    pub fn reserved_bytes(&self, disk_total: u64) -> u64 {
        match self.reserved_space {
            Some(space) => space.resolve(disk_total),
            None => DEFAULT_RESERVED_SHARE
                .resolve(disk_total)
                .min(DEFAULT_RESERVED_CAP),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_reserve_is_a_tenth_of_the_disk_up_to_ten_gigabytes() {
        let policy = GcPolicy::default();
        assert_eq!(policy.reserved_bytes(20_000_000_000), 2_000_000_000);
        assert_eq!(policy.reserved_bytes(100_000_000_000), 10_000_000_000);
        assert_eq!(policy.reserved_bytes(4_000_000_000_000), 10_000_000_000);
        let explicit = GcPolicy {
            reserved_space: Some(Space::percent(30)),
            ..policy
        };
        assert_eq!(
            explicit.reserved_bytes(4_000_000_000_000),
            1_200_000_000_000
        );
    }
}
