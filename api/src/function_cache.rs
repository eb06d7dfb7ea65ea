//! Function results cached as Dagger caches them (dagger-modules.md §6):
//! by the module's implementation digest, the receiving object's state,
//! the function and its arguments — objects among them by their content,
//! never by their session's IDs. `Default` results are kept in the store
//! for seven days (or the function's `timeToLive`) so the next `tanto call`
//! runs nothing; `PerSession` ones (and `Default` ones when `dagger.json`
//! says `disableDefaultFunctionCaching`) only for this session; `Never`
//! ones not at all.
//!
//! Kept in the store are only results that name no object of the session
//! (a string, a number, a module object whose state is such values): an
//! ID means nothing to the next process. The others are kept for the
//! session.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::module::model::{CachePolicy, FunctionDef};
use crate::module::CoreValue;
use crate::module::FunctionCall;
use crate::Session;

/// Dagger's `MaxFunctionCacheTTLSeconds`: a week.
const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Where results are kept in the store; the version changes with the key.
const RESULTS_RECORD: &str = "function-results.v1";

/// How long a call's result may be reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    Persistent(Duration),
    Session,
    Never,
}

/// The scope of `function` (`None`: a function the module did not
/// declare, such as an implicit constructor: not cached).
pub(crate) fn scope(function: Option<&FunctionDef>, disable_default: bool) -> Scope {
    let Some(function) = function else {
        return Scope::Never;
    };
    match function.cache_policy {
        CachePolicy::Never => Scope::Never,
        CachePolicy::PerSession => Scope::Session,
        CachePolicy::Default if disable_default => Scope::Session,
        CachePolicy::Default => Scope::Persistent(
            function
                .time_to_live
                .as_deref()
                .and_then(|ttl| engine::gc_policy::parse_duration(ttl).ok())
                .map(|ttl| ttl.clamp(Duration::from_secs(1), DEFAULT_TTL))
                .unwrap_or(DEFAULT_TTL),
        ),
    }
}

#[derive(Default)]
pub(crate) struct FunctionCache {
    session: Mutex<HashMap<String, serde_json::Value>>,
}

/// What the store keeps for a result.
#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    value: serde_json::Value,
    /// Seconds since the epoch after which it is stale.
    expires: u64,
}

impl FunctionCache {
    /// The call's key, or `None` when something it is given cannot be
    /// named by content (a container, a secret, a cache volume).
    pub async fn key(
        &self,
        session: &Session,
        module_digest: &str,
        call: &FunctionCall,
    ) -> Option<String> {
        let mut hasher = blake3::Hasher::new();
        let mut part = |text: &str| {
            hasher.update(&(text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
        };
        part("tanto.function-call.v1");
        part(module_digest);
        part(&call.parent_name);
        part(&call.name);
        part(&by_content(session, &call.parent).await?.to_string());
        let mut args = call.input_args.clone();
        args.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, value) in &args {
            part(name);
            part(&by_content(session, value).await?.to_string());
        }
        Some(hasher.finalize().to_hex().to_string())
    }

    pub fn get(
        &self,
        engine: &engine::Engine,
        key: &str,
        scope: Scope,
    ) -> Option<serde_json::Value> {
        if scope == Scope::Never {
            return None;
        }
        if let Some(value) = self.session.lock().expect("never poisoned").get(key) {
            return Some(value.clone());
        }
        let Scope::Persistent(_) = scope else {
            return None;
        };
        let kept: Kept = serde_json::from_slice(&engine.record(RESULTS_RECORD, key).ok()??).ok()?;
        (now() < kept.expires).then_some(kept.value)
    }

    pub fn put(
        &self,
        session: &Session,
        key: &str,
        scope: Scope,
        value: &serde_json::Value,
        description: &str,
    ) {
        if scope == Scope::Never {
            return;
        }
        self.session
            .lock()
            .expect("never poisoned")
            .insert(key.to_owned(), value.clone());
        let Scope::Persistent(ttl) = scope else {
            return;
        };
        if names_an_object(session, value) {
            return;
        }
        let kept = Kept {
            value: value.clone(),
            expires: now() + ttl.as_secs(),
        };
        let bytes = serde_json::to_vec(&kept).expect("JSON encodes");
        if let Err(error) = session
            .engine()
            .keep_record(RESULTS_RECORD, key, description, &bytes)
        {
            tracing::warn!("cannot keep {description}: {}", engine::report(&error));
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `value` with every object ID replaced by what the object is: a
/// directory or file by its content digest. `None` when an object has no
/// content to name it by.
async fn by_content(session: &Session, value: &serde_json::Value) -> Option<serde_json::Value> {
    Some(match value {
        serde_json::Value::String(text) => match session.core_value(text) {
            Err(_) => value.clone(),
            Ok(CoreValue::Directory(directory)) => {
                serde_json::json!({ "directory": directory.digest().await.ok()? })
            }
            Ok(CoreValue::File(file)) => serde_json::json!({ "file": file.digest().await.ok()? }),
            Ok(_) => return None,
        },
        serde_json::Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(Box::pin(by_content(session, item)).await?);
            }
            serde_json::Value::Array(out)
        }
        serde_json::Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (name, item) in map {
                out.insert(name.clone(), Box::pin(by_content(session, item)).await?);
            }
            serde_json::Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Whether `value` holds an ID of this session's objects.
fn names_an_object(session: &Session, value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => session.core_value(text).is_ok(),
        serde_json::Value::Array(items) => items.iter().any(|i| names_an_object(session, i)),
        serde_json::Value::Object(map) => map.values().any(|i| names_an_object(session, i)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::model::TypeRef;

    fn function(policy: CachePolicy, ttl: Option<&str>) -> FunctionDef {
        let mut def: FunctionDef = serde_json::from_value(serde_json::json!({
            "name": "f", "description": "", "args": [],
            "return_type": serde_json::to_value(TypeRef::default()).unwrap(),
            "cache_policy": "Default", "time_to_live": null, "deprecated": null, "source_map": null
        }))
        .unwrap();
        def.cache_policy = policy;
        def.time_to_live = ttl.map(str::to_owned);
        def
    }

    #[test]
    fn the_scope_follows_daggers_policies() {
        let week = Scope::Persistent(DEFAULT_TTL);
        assert_eq!(
            scope(Some(&function(CachePolicy::Default, None)), false),
            week
        );
        assert_eq!(
            scope(Some(&function(CachePolicy::Default, Some("10m"))), false),
            Scope::Persistent(Duration::from_secs(600))
        );
        assert_eq!(
            scope(Some(&function(CachePolicy::Default, Some("9999h"))), false),
            week
        );
        assert_eq!(
            scope(Some(&function(CachePolicy::Default, None)), true),
            Scope::Session
        );
        assert_eq!(
            scope(Some(&function(CachePolicy::PerSession, None)), false),
            Scope::Session
        );
        assert_eq!(
            scope(Some(&function(CachePolicy::Never, None)), false),
            Scope::Never
        );
        assert_eq!(scope(None, false), Scope::Never);
    }
}
