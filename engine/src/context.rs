//! [`Context`]: what every op of one engine shares — the store, the
//! registry client, the memo, the scheduler, the secrets to mask and the
//! steps to cancel. Values and ops hold it;
//! ops get it as `ctx`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

use registry::Client;
use snapshotter::Store;

use crate::mask::Masker;
use crate::memo::Memo;
use crate::scheduler::Scheduler;
use crate::solved::Solved;

pub(crate) struct Context {
    pub store: Store,
    pub client: Client,
    pub memo: Memo,
    /// `--cache-from` and `--cache-to`: the memo looks results up there,
    /// `Engine::export_cache` pushes to it.
    pub registry_cache: Arc<crate::registry_cache::RegistryCache>,
    pub scheduler: Arc<Scheduler<Solved>>,
    pub secret_key: [u8; 32],
    pub workdir: PathBuf,
    /// Cancels every running step when the engine shuts down.
    pub cancels: Mutex<HashMap<u64, executor::Cancel>>,
    pub next_cancel: AtomicU64,
    /// Set by `cancel_all`: steps that start later fail at once.
    pub cancelled: AtomicBool,
    /// The step that made each layer directory solved so far, for the
    /// history of published images.
    pub layer_names: Mutex<HashMap<PathBuf, String>>,
    /// Every secret value set in this engine: masked in all step output.
    pub secrets: Mutex<Vec<Vec<u8>>>,
    /// The garbage collector's policy, read when the engine started; when
    /// the disk runs low during a run, GC does not wait for its end.
    pub gc_policy: crate::gc_policy::GcPolicy,
    /// When GC last ran during this run, so it runs at most now and then.
    pub gc_last_run: Mutex<Option<std::time::Instant>>,
    /// The extra CA certificates every step trusts while it runs, read
    /// when the engine started.
    pub ca_certificates: Vec<executor::Certificate>,
    /// The user's terminal, when the embedder lent it.
    pub terminal: crate::terminal::Terminal,
    /// How steps get their root file system: overlay, or copies where
    /// overlay cannot be mounted (`snapshotter_choice.rs`).
    pub snapshotter: crate::snapshotter_choice::Snapshotter,
    /// Copies steps ran on, kept for the next step on their result.
    pub spare_copies: crate::spare_copies::SpareCopies,
    /// Where the outputs of steps whose results stay in a registry cache
    /// are fetched to (lazy import); made on first use, removed with the
    /// engine.
    pub fetched_outputs: std::sync::OnceLock<snapshotter::Throwaway>,
    /// The services running for this engine's steps; all stopped with it.
    pub services: crate::services::Services,
}

impl Context {
    pub(crate) fn name_layer(&self, layer: PathBuf, name: &str) {
        self.layer_names
            .lock()
            .unwrap()
            .entry(layer)
            .or_insert_with(|| name.to_owned());
    }

    /// Masks the secrets known now.
    pub fn masker(&self) -> Masker {
        Masker::new(self.secrets.lock().unwrap().iter())
    }
}
