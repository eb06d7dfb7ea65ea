//! From a policy and the state of the disk to how many bytes to free now:
//! arithmetic only, so every case is a row in a table test.

use std::time::Duration;

use super::GcPolicy;

/// The state GC decides on, all in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// The total size of the filesystem the store is on.
    pub disk_total: u64,
    /// Its free space, as an unprivileged user may use it (`f_bavail`).
    pub disk_free: u64,
    /// What the store's entries take on that disk.
    pub store_used: u64,
}

/// A policy's knobs in bytes, for one disk size: what Dagger's API reports
/// as `reservedSpace`, `maxUsedSpace`, `minFreeSpace` and `targetSpace`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub reserved_space: u64,
    pub max_used_space: u64,
    pub min_free_space: u64,
    pub target_space: Option<u64>,
}

/// The threshold that made GC prune.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The store uses more than `maxUsedSpace`.
    MaxUsedSpace,
    /// The disk has less free space than `minFreeSpace`.
    MinFreeSpace,
}

/// What GC should do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// How many bytes to free; 0 when there is nothing to do, or when the
    /// store is already within its reserved space.
    pub free_bytes: u64,
    /// What the store should use once they are freed.
    pub keep_bytes: u64,
    /// The threshold that asked for the most, when one was crossed; it
    /// stays set when the reserved space leaves nothing to free, so the
    /// caller can warn that the disk is short.
    pub trigger: Option<Trigger>,
    /// Only entries unused for at least this long may be removed; when they
    /// do not add up to `free_bytes`, GC frees less (BuildKit's
    /// `keepDuration`).
    pub unused_for: Option<Duration>,
    pub limits: Limits,
}

impl GcPolicy {
    /// The knobs in bytes on a disk of `disk_total` bytes.
    pub fn limits(&self, disk_total: u64) -> Limits {
        Limits {
            reserved_space: self.reserved_bytes(disk_total),
            max_used_space: self.max_used_space.resolve(disk_total),
            min_free_space: self.min_free_space.resolve(disk_total),
            target_space: self.target_space.map(|space| space.resolve(disk_total)),
        }
    }

    /// How many bytes to free now. It ignores [`GcPolicy::enabled`], which
    /// only says whether GC runs by itself: `tanto prune` plans with a
    /// disabled policy too.
    ///
    /// Prune when the store uses more than `maxUsedSpace` (down to it) or
    /// the disk has less free than `minFreeSpace` (by the shortfall),
    /// whichever asks for more; further, down to `targetSpace`, when one is
    /// set; never below `reservedSpace`.
    pub fn resolve(&self, usage: Usage) -> Plan {
        let limits = self.limits(usage.disk_total);
        let used = usage.store_used;
        let mut wanted: Option<(u64, Trigger)> = None;
        if used > limits.max_used_space {
            wanted = Some((limits.max_used_space, Trigger::MaxUsedSpace));
        }
        if usage.disk_free < limits.min_free_space {
            let shortfall = limits.min_free_space - usage.disk_free;
            let keep = used.saturating_sub(shortfall);
            if wanted.is_none_or(|(other, _)| keep < other) {
                wanted = Some((keep, Trigger::MinFreeSpace));
            }
        }
        let Some((keep, trigger)) = wanted else {
            return Plan {
                free_bytes: 0,
                keep_bytes: used,
                trigger: None,
                unused_for: self.keep_duration,
                limits,
            };
        };
        let keep = limits
            .target_space
            .map_or(keep, |target| keep.min(target))
            .max(limits.reserved_space)
            .min(used);
        Plan {
            free_bytes: used - keep,
            keep_bytes: keep,
            trigger: Some(trigger),
            unused_for: self.keep_duration,
            limits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Space;
    use super::*;

    const GB: u64 = 1_000_000_000;

    fn with(edit: impl FnOnce(&mut GcPolicy)) -> GcPolicy {
        let mut policy = GcPolicy::default();
        edit(&mut policy);
        policy
    }

    #[test]
    fn the_defaults_resolve_to_daggers_numbers() {
        let on = |gb| GcPolicy::default().limits(gb * GB);
        let limits = on(100);
        assert_eq!(limits.reserved_space, 10 * GB);
        assert_eq!(limits.max_used_space, 75 * GB);
        assert_eq!(limits.min_free_space, 20 * GB);
        assert_eq!(limits.target_space, None);
        assert_eq!(on(20).reserved_space, 2 * GB);
        assert_eq!(on(1000).reserved_space, 10 * GB, "capped at 10 GB");
    }

    #[test]
    fn bytes_to_free_as_a_table() {
        use Trigger::{MaxUsedSpace, MinFreeSpace};
        let default = GcPolicy::default;
        // (what, policy, disk total, disk free, store used, to free: in GB; trigger)
        #[rustfmt::skip]
        let rows = [
            // The defaults on a 100 GB disk: reserved 10, max used 75, min free 20.
            ("100 GB: well within", default(), 100, 60, 30, 0, None),
            ("100 GB: exactly at max used", default(), 100, 25, 75, 0, None),
            ("100 GB: over max used, free is fine", default(), 100, 21, 78, 3, Some(MaxUsedSpace)),
            ("100 GB: other files fill the disk", default(), 100, 5, 40, 15, Some(MinFreeSpace)),
            ("100 GB: both; min free asks for more", default(), 100, 4, 80, 16, Some(MinFreeSpace)),
            ("100 GB: both; max used asks for more", default(), 100, 18, 82, 7, Some(MaxUsedSpace)),
            ("100 GB: disk full of other files, store kept at reserved", default(), 100, 0, 12, 2, Some(MinFreeSpace)),
            ("100 GB: store within reserved frees nothing", default(), 100, 0, 9, 0, Some(MinFreeSpace)),
            // The defaults on a 20 GB disk: reserved 2, max used 15, min free 4.
            ("20 GB: within", default(), 20, 8, 10, 0, None),
            ("20 GB: over max used", default(), 20, 4, 16, 1, Some(MaxUsedSpace)),
            ("20 GB: short of free space", default(), 20, 1, 6, 3, Some(MinFreeSpace)),
            ("20 GB: short, down to reserved only", default(), 20, 0, 3, 1, Some(MinFreeSpace)),
            // Target space: prune further once triggered, never when not.
            ("target below max used", with(|p| p.target_space = Some(Space::percent(50))), 100, 20, 80, 30, Some(MaxUsedSpace)),
            ("target not triggered", with(|p| p.target_space = Some(Space::percent(50))), 100, 30, 70, 0, None),
            ("target above the trigger's own does not prune less", with(|p| p.target_space = Some(Space::percent(90))), 100, 20, 80, 5, Some(MaxUsedSpace)),
            ("target below reserved stops at reserved", with(|p| p.target_space = Some(Space::Bytes(GB))), 100, 20, 80, 70, Some(MaxUsedSpace)),
            // Explicit knobs.
            ("reserved above max used wins", with(|p| { p.reserved_space = Some(Space::Bytes(50 * GB)); p.max_used_space = Space::Bytes(40 * GB) }), 100, 40, 60, 10, Some(MaxUsedSpace)),
            ("max used 0 prunes to reserved", with(|p| p.max_used_space = Space::Bytes(0)), 100, 80, 15, 5, Some(MaxUsedSpace)),
            ("min free 0 never triggers", with(|p| p.min_free_space = Space::Bytes(0)), 100, 0, 50, 0, None),
            ("shortfall larger than the store", default(), 100, 0, 5, 0, Some(MinFreeSpace)),
            ("no reserve: the whole store may go", with(|p| p.reserved_space = Some(Space::Bytes(0))), 100, 0, 5, 5, Some(MinFreeSpace)),
            ("1 TB: the reserve is capped at 10 GB", default(), 1000, 0, 15, 5, Some(MinFreeSpace)),
            ("empty disk stat", default(), 0, 0, 0, 0, None),
        ];
        for (what, policy, total, free, used, to_free, trigger) in rows {
            let usage = Usage {
                disk_total: total * GB,
                disk_free: free * GB,
                store_used: used * GB,
            };
            let plan = policy.resolve(usage);
            assert_eq!(plan.free_bytes, to_free * GB, "{what}");
            assert_eq!(plan.trigger, trigger, "{what}");
            assert_eq!(plan.keep_bytes, (used - to_free) * GB, "{what}");
        }
    }

    #[test]
    fn the_keep_duration_goes_into_the_plan() {
        let policy = with(|p| p.keep_duration = Some(Duration::from_secs(48 * 3600)));
        let usage = Usage {
            disk_total: 100 * GB,
            disk_free: 10 * GB,
            store_used: 80 * GB,
        };
        assert_eq!(
            policy.resolve(usage).unused_for,
            Some(Duration::from_secs(48 * 3600))
        );
        assert_eq!(GcPolicy::default().resolve(usage).unused_for, None);
    }
}
