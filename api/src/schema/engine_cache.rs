//! `Engine`, `EngineCache`, `EngineCacheEntrySet` and `EngineCacheEntry`:
//! Dagger's view of the local cache, over the store's metadata, so SDK
//! programs that list or prune the cache work unchanged.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};
use engine::gc_policy::Space;
use engine::{EntryInfo, EntryKind, PolicyOverrides};

use super::{fail, state};
use crate::ids::Object as Value;
use crate::scalars::Void;

pub(crate) struct EngineObj;

#[Object(name = "Engine")]
impl EngineObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::Engine))
    }

    /// The clients connected: this session's only, tanto has no daemon.
    async fn clients(&self) -> Vec<String> {
        Vec::new()
    }

    async fn name(&self) -> &str {
        "tanto"
    }

    async fn local_cache(&self) -> EngineCacheObj {
        EngineCacheObj
    }
}

pub(crate) struct EngineCacheObj;

/// A size argument as Dagger takes it (`"200GB"`, `"80%"`, `""` = unset).
fn size_argument(name: &str, value: &str) -> Result<Option<Space>> {
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse::<Space>()
        .map(Some)
        .map_err(|error| async_graphql::Error::new(format!("{name}: {}", engine::report(&error))))
}

#[Object(name = "EngineCache")]
impl EngineCacheObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::EngineCache))
    }

    /// The entries whose id contains `key` (all when empty), as they are now.
    async fn entry_set(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] key: String,
    ) -> Result<EngineCacheEntrySetObj> {
        let usage = state(ctx).engine.cache_usage().map_err(fail)?;
        Ok(EngineCacheEntrySetObj::of(key, usage.entries))
    }

    async fn max_used_space(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(state(ctx).engine.gc_limits().map_err(fail)?.max_used_space as i64)
    }

    async fn reserved_space(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(state(ctx).engine.gc_limits().map_err(fail)?.reserved_space as i64)
    }

    async fn min_free_space(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(state(ctx).engine.gc_limits().map_err(fail)?.min_free_space as i64)
    }

    async fn target_space(&self, ctx: &Context<'_>) -> Result<i64> {
        let limits = state(ctx).engine.gc_limits().map_err(fail)?;
        Ok(limits.target_space.unwrap_or(0) as i64)
    }

    /// Prunes what no running tanto uses: with `useDefaultPolicy` (or a
    /// size given), as much as the policy asks; else all of it.
    async fn prune(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] use_default_policy: bool,
        #[graphql(default)] max_used_space: String,
        #[graphql(default)] reserved_space: String,
        #[graphql(default)] min_free_space: String,
        #[graphql(default)] target_space: String,
    ) -> Result<Option<Void>> {
        let overrides = PolicyOverrides {
            max_used_space: size_argument("maxUsedSpace", &max_used_space)?,
            reserved_space: size_argument("reservedSpace", &reserved_space)?,
            min_free_space: size_argument("minFreeSpace", &min_free_space)?,
            target_space: size_argument("targetSpace", &target_space)?,
        };
        let engine = state(ctx).engine.clone();
        tokio::task::spawn_blocking(move || engine.prune_cache(use_default_policy, overrides))
            .await
            .map_err(|e| async_graphql::Error::new(format!("prune crashed: {e}")))?
            .map_err(fail)?;
        Ok(None)
    }
}

pub(crate) struct EngineCacheEntrySetObj {
    key: String,
    entries: Vec<Arc<EntryInfo>>,
}

impl EngineCacheEntrySetObj {
    /// The entries whose id contains `key` (all when empty).
    pub(crate) fn of(key: String, entries: Vec<EntryInfo>) -> EngineCacheEntrySetObj {
        let entries = entries
            .into_iter()
            .filter(|e| key.is_empty() || e.id.contains(&key))
            .map(Arc::new)
            .collect();
        EngineCacheEntrySetObj { key, entries }
    }
}

#[Object(name = "EngineCacheEntrySet")]
impl EngineCacheEntrySetObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx)
            .ids
            .register(Value::EngineCacheEntrySet(self.key.clone())))
    }

    async fn disk_space_bytes(&self) -> i64 {
        self.entries.iter().map(|e| e.size as i64).sum()
    }

    async fn entry_count(&self) -> i64 {
        self.entries.len() as i64
    }

    async fn entries(&self) -> Vec<EngineCacheEntryObj> {
        self.entries
            .iter()
            .map(|e| EngineCacheEntryObj(Arc::clone(e)))
            .collect()
    }
}

pub(crate) struct EngineCacheEntryObj(pub(crate) Arc<EntryInfo>);

/// BuildKit's record type for what an entry is (what Dagger reports).
fn record_type(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::ImageLayer | EntryKind::StepResult | EntryKind::FileOperation => "regular",
        EntryKind::HostDirectory => "source.local",
        EntryKind::CacheVolume => "exec.cachemount",
        EntryKind::Blob => "internal",
    }
}

#[Object(name = "EngineCacheEntry")]
impl EngineCacheEntryObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx)
            .ids
            .register(Value::EngineCacheEntry(Arc::clone(&self.0))))
    }

    async fn actively_used(&self) -> bool {
        self.0.in_use
    }

    async fn created_time_unix_nano(&self) -> i64 {
        self.0.created
    }

    async fn most_recent_use_time_unix_nano(&self) -> i64 {
        self.0.last_used
    }

    async fn description(&self) -> String {
        if self.0.description.is_empty() {
            self.0.id.clone()
        } else {
            self.0.description.clone()
        }
    }

    async fn disk_space_bytes(&self) -> i64 {
        self.0.size as i64
    }

    /// The API call that made it; tanto does not keep it.
    async fn dagql_call(&self) -> &str {
        ""
    }

    async fn record_type(&self) -> &str {
        record_type(self.0.kind)
    }

    async fn record_types(&self) -> Vec<&str> {
        vec![record_type(self.0.kind)]
    }
}
