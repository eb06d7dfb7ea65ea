//! Automatic garbage collection: after a session or a query, the store is
//! brought back within the policy (`gc_policy`: Dagger's knobs and
//! defaults, from `config.toml` and the environment), least recently used
//! first, cache volumes last, never what another running tanto uses.

use crate::collect::{collect_within, Collected};
use crate::engine::Engine;
use crate::error::Error;
use crate::store_admin::{store_error, PruneReport};

impl Engine {
    /// Collects garbage if the store is over the policy (read at start);
    /// `None` when the policy is off or nothing had to go. This engine's own
    /// leases end first: call it once its work is done.
    pub fn collect_garbage(&self) -> Result<Option<Collected>, Error> {
        let policy = self.ctx.gc_policy;
        if !policy.enabled {
            return Ok(None);
        }
        self.ctx.store.release_leases().map_err(store_error)?;
        collect_within(&self.ctx.store, &policy)
    }
}

/// Sizes that override the policy's for one prune (Dagger's
/// `EngineCache.prune` arguments); `None` keeps the policy's.
#[derive(Clone, Copy, Debug, Default)]
pub struct PolicyOverrides {
    pub max_used_space: Option<crate::gc_policy::Space>,
    pub reserved_space: Option<crate::gc_policy::Space>,
    pub min_free_space: Option<crate::gc_policy::Space>,
    pub target_space: Option<crate::gc_policy::Space>,
}

impl PolicyOverrides {
    fn any(&self) -> bool {
        self.max_used_space.is_some()
            || self.reserved_space.is_some()
            || self.min_free_space.is_some()
            || self.target_space.is_some()
    }
}

impl Engine {
    /// What the store holds (Dagger's `EngineCache.entrySet`).
    pub fn cache_usage(&self) -> Result<crate::store_admin::StoreUsage, Error> {
        crate::store_admin::usage_of(&self.ctx.store)
    }

    /// The policy's sizes in bytes for the store's disk (Dagger's
    /// `EngineCache.maxUsedSpace` and the others).
    pub fn gc_limits(&self) -> Result<crate::gc_policy::Limits, Error> {
        let policy = self.ctx.gc_policy;
        let (disk_total, _) =
            snapshotter::disk_space(self.ctx.store.root()).map_err(|source| Error::Store {
                source: Box::new(source),
            })?;
        Ok(policy.limits(disk_total))
    }

    /// Dagger's `EngineCache.prune`: with the policy (or sizes given), what
    /// it asks to free; else everything no running tanto uses. What this
    /// engine uses stays either way.
    pub fn prune_cache(
        &self,
        use_default_policy: bool,
        overrides: PolicyOverrides,
    ) -> Result<PruneReport, Error> {
        let store = &self.ctx.store;
        if !use_default_policy && !overrides.any() {
            return crate::store_admin::prune_store(
                store,
                &crate::store_admin::PruneOptions::default(),
            );
        }
        let mut policy = self.ctx.gc_policy;
        if let Some(space) = overrides.max_used_space {
            policy.max_used_space = space;
        }
        if let Some(space) = overrides.reserved_space {
            policy.reserved_space = Some(space);
        }
        if let Some(space) = overrides.min_free_space {
            policy.min_free_space = space;
        }
        if let Some(space) = overrides.target_space {
            policy.target_space = Some(space);
        }
        Ok(collect_within(store, &policy)?.map_or_else(PruneReport::default, |c| c.report))
    }
}
