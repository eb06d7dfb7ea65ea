//! Object IDs: opaque, URL-safe handles on the session's values.
//!
//! The SDKs turn every object argument into an ID first (`{ host {
//! directory(path: ".") { id } } }`) and inline it later, so `id` must be
//! cheap and lazy: it names the value, it does not run it. An ID is the
//! session's random prefix plus a counter; only this session's table
//! resolves it, so a tampered or foreign ID is an error, never another
//! session's value.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use std::sync::Arc;

use engine::{CacheVolume, Changeset, Container, DiffStat, Directory, EntryInfo, File, Secret};

use crate::random::random_bytes;
use crate::Error;

#[derive(Clone)]
pub(crate) enum Object {
    Container(Container),
    Directory(Directory),
    Changeset(Changeset),
    DiffStat(DiffStat),
    File(File),
    Secret(Secret),
    CacheVolume(CacheVolume),
    EnvVariable(String, String),
    Stat(engine::Stat),
    SearchResult(engine::SearchResult),
    SearchSubmatch(engine::Submatch),
    /// A `JSONValue`'s text.
    JsonValue(String),
    EnvFile(crate::schema::EnvFileData),
    Socket(engine::Socket),
    Service(engine::Service),
    /// An `Address`'s value.
    Address(String),
    /// A `Label`'s name and value.
    Label(String, String),
    /// A `Port` as image configs key it: `8080/tcp`.
    Port(String),
    /// A `HealthcheckConfig`: the image config's `Healthcheck`.
    Healthcheck(engine::Healthcheck),
    /// The root: `Query.id`, for `node(id:)` to give back.
    Query,
    Host,
    Engine,
    EngineCache,
    /// The entries of the cache whose id contains this key.
    EngineCacheEntrySet(String),
    EngineCacheEntry(Arc<EntryInfo>),
    /// A module-definition value (`TypeDef`, `Function`, `Module`, …).
    ModuleValue(crate::module::ModuleValue),
}

impl Object {
    pub fn type_name(&self) -> &'static str {
        match self {
            Object::Container(_) => "Container",
            Object::Directory(_) => "Directory",
            Object::Changeset(_) => "Changeset",
            Object::DiffStat(_) => "DiffStat",
            Object::File(_) => "File",
            Object::Secret(_) => "Secret",
            Object::CacheVolume(_) => "CacheVolume",
            Object::EnvVariable(..) => "EnvVariable",
            Object::Stat(_) => "Stat",
            Object::SearchResult(_) => "SearchResult",
            Object::SearchSubmatch(_) => "SearchSubmatch",
            Object::JsonValue(_) => "JSONValue",
            Object::EnvFile(_) => "EnvFile",
            Object::Socket(_) => "Socket",
            Object::Service(_) => "Service",
            Object::Address(_) => "Address",
            Object::Label(..) => "Label",
            Object::Port(_) => "Port",
            Object::Healthcheck(_) => "HealthcheckConfig",
            Object::Query => "Query",
            Object::Host => "Host",
            Object::Engine => "Engine",
            Object::EngineCache => "EngineCache",
            Object::EngineCacheEntrySet(_) => "EngineCacheEntrySet",
            Object::EngineCacheEntry(_) => "EngineCacheEntry",
            Object::ModuleValue(def) => def.type_name(),
        }
    }
}

pub(crate) struct Ids {
    prefix: String,
    next: AtomicU64,
    objects: Mutex<HashMap<String, Object>>,
}

impl Ids {
    pub fn new() -> Result<Ids, Error> {
        use base64::Engine as _;
        let random = random_bytes::<9>("ID prefix")?;
        Ok(Ids {
            prefix: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random),
            next: AtomicU64::new(1),
            objects: Mutex::new(HashMap::new()),
        })
    }

    pub fn register(&self, object: Object) -> String {
        let id = format!(
            "{}.{}.{}",
            object.type_name(),
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        self.objects.lock().unwrap().insert(id.clone(), object);
        id
    }

    pub fn get(&self, id: &str) -> Result<Object, Error> {
        self.objects
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::UnknownId { id: id.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_url_safe_and_foreign_ones_are_refused() {
        let ids = Ids::new().unwrap();
        let other = Ids::new().unwrap();
        let id = ids.register(Object::EnvVariable("A".into(), "b".into()));
        assert!(id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        assert!(ids.get(&id).is_ok());
        assert!(other.get(&id).is_err());
        assert!(ids.get(&format!("{id}0")).is_err());
    }
}
