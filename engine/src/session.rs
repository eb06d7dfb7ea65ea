//! [`Engine`]: the entry point of the Rust API, and what every value shares.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use registry::{Client, ClientConfig, Credentials};
use snapshotter::{Limits, Store};

use crate::mask::Masker;
use crate::memo::Memo;
use crate::node::Node;
use crate::secret::{self, Secret};
use crate::solve::Solved;
use crate::solver::{Observer, Solver, Stats};
use crate::values::{CacheVolume, Container, Directory, File, Host};
use crate::Error;

/// How to start an [`Engine`].
#[derive(Clone, Default)]
pub struct EngineConfig {
    /// The store; see [`crate::default_store_root`].
    pub store_root: PathBuf,
    /// Registries (`host[:port]`) that may be reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Steps that may run at once. Default: the number of CPUs.
    pub parallelism: Option<usize>,
    /// Told about every step as it starts, is found cached, ends or fails.
    pub observer: Option<Observer>,
    /// Where relative host paths start. Default: the current directory.
    pub workdir: Option<PathBuf>,
}

/// A pipeline engine over one store. Cheap to clone; values made from it
/// (`engine.container()…`) keep it alive.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub store: Store,
    pub client: Client,
    pub memo: Memo,
    pub solver: Arc<Solver<Solved>>,
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
}

impl Inner {
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

impl Engine {
    /// Opens the store. Call [`crate::bootstrap`] first, at the top of `main`.
    pub fn new(config: EngineConfig) -> Result<Engine, Error> {
        let store =
            Store::open(&config.store_root, Limits::default()).map_err(|source| Error::Store {
                source: Box::new(source),
            })?;
        let client = Client::new(ClientConfig {
            credentials: Credentials::from_environment().map_err(|source| Error::Credentials {
                source: Box::new(source),
            })?,
            insecure_registries: config.insecure_registries,
        });
        let parallelism = config.parallelism.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        let workdir = match config.workdir {
            Some(dir) => dir,
            None => std::env::current_dir().map_err(|source| Error::Workdir { source })?,
        };
        Ok(Engine {
            inner: Arc::new(Inner {
                secret_key: secret::store_key(store.root())?,
                memo: Memo::new(store.root()),
                store,
                client,
                solver: Solver::new(parallelism, config.observer),
                workdir,
                cancels: Mutex::new(HashMap::new()),
                next_cancel: AtomicU64::new(0),
                cancelled: AtomicBool::new(false),
                layer_names: Mutex::new(HashMap::new()),
                secrets: Mutex::new(Vec::new()),
            }),
        })
    }

    /// An empty container (Dagger's `container`); start it with `from`.
    pub fn container(&self) -> Container {
        Container::new(self.clone())
    }

    /// An empty directory.
    pub fn directory(&self) -> Directory {
        Directory::new(
            self.clone(),
            Node::scratch(),
            crate::paths::ContainerPath::known("/"),
        )
    }

    /// A new file named `name` (Dagger's `Query.file`).
    pub fn file(&self, name: &str, contents: impl Into<Vec<u8>>, permissions: u32) -> File {
        self.directory()
            .with_new_file(name, contents, permissions)
            .file(name)
    }

    /// The machine tanto runs on: its directories and files.
    pub fn host(&self) -> Host {
        Host::new(self.clone())
    }

    /// A cache volume: a directory kept between runs, shared by name.
    pub fn cache_volume(&self, key: &str) -> CacheVolume {
        CacheVolume::new(key)
    }

    /// A secret. Its value never reaches the store, logs or cache keys.
    /// Its value is masked (`***`) in every step's output from then on.
    pub fn set_secret(&self, name: &str, plaintext: impl AsRef<[u8]>) -> Secret {
        let plaintext = plaintext.as_ref();
        let mut secrets = self.inner.secrets.lock().unwrap();
        if !secrets.iter().any(|s| s == plaintext) {
            secrets.push(plaintext.to_vec());
        }
        Secret::new(name, plaintext, &self.inner.secret_key)
    }

    /// What the solver has done so far.
    pub fn stats(&self) -> Stats {
        self.inner.solver.stats()
    }

    /// Kills every running step, and fails every step that would start
    /// later: they fail as cancelled. For Ctrl-C and timeouts of a whole run.
    pub fn cancel_all(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        for cancel in self.inner.cancels.lock().unwrap().values() {
            cancel.cancel();
        }
    }
}
