//! Small records kept in the store under a key of the caller's, so that
//! work done once is not redone by the next process: a module's registered
//! types under its implementation digest. They are entries like any other
//! (a file operation's layer holding one file), so `du` counts them and GC
//! takes them.

use crate::cache_key::KeyBuilder;
use crate::engine::Engine;
use crate::error::Error;
use crate::memo::Kind;

/// The one file of a record's layer.
const RECORD_FILE: &str = "record";

impl Engine {
    /// The record kept under (`namespace`, `key`), if there is one.
    pub fn record(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let description = format!("record {namespace}");
        let Some(dir) =
            self.ctx
                .memo
                .find(Kind::Layer, &record_key(namespace, key), &description)?
        else {
            return Ok(None);
        };
        // Kept to answer with: mode=min exports it.
        self.ctx.registry_cache.returned([dir.clone()]);
        // A record whose file is gone (a crash between fill and commit
        // cannot leave one; a hand-edited store can) is no record.
        Ok(std::fs::read(dir.join("fs").join(RECORD_FILE)).ok())
    }

    /// Keeps `bytes` under (`namespace`, `key`); `description` says what it
    /// is in `tanto du`. A record already there stays as it is.
    pub fn keep_record(
        &self,
        namespace: &str,
        key: &str,
        description: &str,
        bytes: &[u8],
    ) -> Result<(), Error> {
        let entry = self.ctx.memo.get_or_build(
            Kind::Layer,
            &record_key(namespace, key),
            description,
            &[],
            |dir| {
                let fs = dir.join("fs");
                std::fs::create_dir_all(&fs)
                    .and_then(|()| std::fs::write(fs.join(RECORD_FILE), bytes))
                    .map_err(|source| Error::Memo {
                        path: fs.clone(),
                        source,
                    })
            },
        )?;
        self.ctx.registry_cache.returned([entry.dir]);
        Ok(())
    }
}

fn record_key(namespace: &str, key: &str) -> crate::cache_key::CacheKey {
    KeyBuilder::new("tanto.record.v1")
        .str("namespace", namespace)
        .str("key", key)
        .finish()
}

#[cfg(test)]
mod tests {
    use crate::engine::{Engine, EngineConfig};

    #[test]
    fn a_record_kept_is_found_by_the_next_engine_and_only_under_its_key() {
        let store = tempfile::tempdir().unwrap();
        let open = || {
            Engine::new(EngineConfig {
                store_root: store.path().to_owned(),
                ..Default::default()
            })
            .unwrap()
        };
        let engine = open();
        assert_eq!(engine.record("types", "digest-1").unwrap(), None);
        engine
            .keep_record("types", "digest-1", "module tiny: its types", b"{}")
            .unwrap();
        drop(engine);
        let engine = open();
        assert_eq!(
            engine.record("types", "digest-1").unwrap().as_deref(),
            Some(&b"{}"[..])
        );
        assert_eq!(engine.record("types", "digest-2").unwrap(), None);
        assert_eq!(engine.record("other", "digest-1").unwrap(), None);
    }
}
