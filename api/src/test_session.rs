//! One session over a fresh store, for unit tests that send documents as
//! a client would; nothing they send may need a step run.

use std::sync::Arc;

use crate::{Client, Session};

pub(crate) struct Fixture {
    pub(crate) session: Arc<Session>,
    runtime: tokio::runtime::Runtime,
    _store: tempfile::TempDir,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let store = tempfile::tempdir().unwrap();
        let engine = engine::Engine::new(engine::EngineConfig {
            store_root: store.path().to_owned(),
            ..Default::default()
        })
        .unwrap();
        Fixture {
            session: Arc::new(Session::new(engine, crate::new_token().unwrap()).unwrap()),
            runtime: crate::runtime().unwrap(),
            _store: store,
        }
    }

    /// The answer's `data`, failing on any error.
    pub(crate) fn data(&self, client: &Client, query: &str) -> serde_json::Value {
        let answer = self.answer(client, query);
        assert!(answer.get("errors").is_none(), "{query}\n{answer:#}");
        answer["data"].clone()
    }

    pub(crate) fn answer(&self, client: &Client, query: &str) -> serde_json::Value {
        let (session, client, query) =
            (Arc::clone(&self.session), client.clone(), query.to_owned());
        self.runtime
            .block_on(
                self.runtime
                    .spawn(async move { session.execute_as(&query, &client).await }),
            )
            .unwrap()
            .into_value()
            .unwrap()
    }

    /// The `id` at the end of the only chain in `query`'s answer.
    pub(crate) fn id(&self, client: &Client, query: &str) -> String {
        let mut value = self.data(client, query);
        while let serde_json::Value::Object(map) = value {
            value = map.into_iter().next().unwrap().1;
        }
        value.as_str().unwrap().to_owned()
    }
}
