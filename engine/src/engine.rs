//! [`Engine`]: the entry point of the Rust API. It opens the store and
//! makes the values pipelines are built from.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use registry::{Client, ClientConfig, Credentials, Platform, RegistriesConf};
use snapshotter::{Limits, Store};

use crate::context::Context;
use crate::error::Error;
use crate::image::ArchiveSource;
use crate::memo::Memo;
use crate::node::{ContainerPath, ImportSource, Node, Op};
use crate::random::random_bytes;
use crate::scheduler::{Observer, Scheduler, Stats};
use crate::secret::Secret;
use crate::solved::PullReport;
use crate::values::{CacheVolume, Changeset, Container, Directory, File, Host};

/// The variable that bounds how many bytes one image layer may expand to.
pub const MAX_LAYER_BYTES_ENV: &str = "TANTO_MAX_LAYER_BYTES";
/// Steps that may do real work at once, when not the number of CPUs (a
/// shared runner's share of them, say).
pub const PARALLELISM_ENV: &str = "TANTO_PARALLELISM";

/// How to start an [`Engine`].
#[derive(Clone, Default)]
pub struct EngineConfig {
    /// The store; see [`crate::default_store_root`].
    pub store_root: PathBuf,
    /// Registries (`host[:port]`) that may be reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Steps that may run at once. Default: `TANTO_PARALLELISM`, else the
    /// number of CPUs.
    pub parallelism: Option<usize>,
    /// Told about every step as it starts, is found cached, ends or fails.
    pub observer: Option<Observer>,
    /// Where relative host paths start. Default: the current directory.
    pub workdir: Option<PathBuf>,
    /// Bytes one image layer may expand to; beyond, it is refused as a
    /// decompression bomb. Default: `TANTO_MAX_LAYER_BYTES`, else the
    /// store's own bound.
    pub max_layer_bytes: Option<u64>,
    /// The user's terminal, for interactive shells (`Container::terminal`,
    /// a shell where a step failed). Default: none, and asking for a shell
    /// is an error.
    pub terminal: Option<crate::terminal::TerminalAccess>,
    /// Registry caches results are looked up in before steps run
    /// (`--cache-from`).
    pub cache_from: Vec<crate::registry_cache::CacheImport>,
    /// Registry caches [`Engine::export_cache`] pushes the run's results to
    /// (`--cache-to`).
    pub cache_to: Vec<crate::registry_cache::CacheExport>,
}

/// A pipeline engine over one store. Cheap to clone; values made from it
/// (`engine.container()…`) keep it alive.
#[derive(Clone)]
pub struct Engine {
    pub(crate) ctx: Arc<Context>,
}

impl Engine {
    /// Opens the store. Call [`crate::bootstrap`] first, at the top of `main`.
    pub fn new(config: EngineConfig) -> Result<Engine, Error> {
        let limits = Limits {
            max_layer_bytes: match config.max_layer_bytes {
                Some(bytes) => Some(bytes),
                None => max_layer_bytes_from_env()?,
            },
        };
        let owners = crate::single_id::SingleId::load()
            .map_err(|source| Error::SingleId {
                source: Box::new(source),
            })?
            .owners(executor::userns::maps_single_id());
        let store = Store::open(&config.store_root, limits)
            .map_err(|source| Error::Store {
                source: Box::new(source),
            })?
            .with_owners(owners);
        let setting =
            crate::snapshotter_choice::Setting::load().map_err(|source| Error::Snapshotter {
                source: Box::new(source),
            })?;
        let snapshotter = crate::snapshotter_choice::choose(&store, setting, || {
            crate::isolation::probe_store(&store)
        })
        .map_err(|source| Error::Snapshotter {
            source: Box::new(source),
        })?;
        let client = Client::new(ClientConfig {
            credentials: Credentials::from_environment().map_err(|source| Error::Credentials {
                source: Box::new(source),
            })?,
            insecure_registries: config.insecure_registries,
            registries: RegistriesConf::from_environment().map_err(|source| {
                Error::RegistriesConf {
                    source: Box::new(source),
                }
            })?,
        });
        let parallelism = match config.parallelism {
            Some(n) => n,
            None => parallelism_from_env()?.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            }),
        };
        let ca_certificates =
            crate::ca_certs::CaCertificates::load().map_err(|source| Error::CaCertificates {
                source: Box::new(source),
            })?;
        if let Some(source) = &ca_certificates.source {
            tracing::debug!(
                "steps trust {} extra CA certificates from {}",
                ca_certificates.certificates.len(),
                source.display()
            );
        }
        let registry_cache = Arc::new(crate::registry_cache::RegistryCache::new(
            client.clone(),
            store.clone(),
            config.cache_from,
            config.cache_to,
        ));
        let workdir = match config.workdir {
            Some(dir) => dir,
            None => std::env::current_dir().map_err(|source| Error::Workdir { source })?,
        };
        Ok(Engine {
            ctx: Arc::new(Context {
                secret_key: store
                    .secret_key(random_bytes()?)
                    .map_err(|source| Error::Store {
                        source: Box::new(source),
                    })?,
                memo: Memo::new(store.clone()).with_registry_cache(Arc::clone(&registry_cache)),
                registry_cache,
                store,
                client,
                scheduler: Scheduler::new(parallelism, config.observer),
                workdir,
                cancels: Mutex::new(HashMap::new()),
                next_cancel: AtomicU64::new(0),
                cancelled: AtomicBool::new(false),
                layer_names: Mutex::new(HashMap::new()),
                secrets: Mutex::new(Vec::new()),
                gc_policy: crate::gc_policy::GcPolicy::load().map_err(|source| {
                    Error::GcPolicy {
                        source: Box::new(source),
                    }
                })?,
                gc_last_run: Mutex::new(None),
                ca_certificates: ca_certificates.certificates,
                terminal: crate::terminal::Terminal::new(config.terminal),
                snapshotter: snapshotter.snapshotter,
                spare_copies: Default::default(),
                fetched_outputs: std::sync::OnceLock::new(),
                services: Default::default(),
            }),
        })
    }

    /// An empty container (Dagger's `container`); start it with `from`.
    pub fn container(&self) -> Container {
        Container::new(Arc::clone(&self.ctx))
    }

    /// An empty directory.
    pub fn directory(&self) -> Directory {
        Directory::new(
            Arc::clone(&self.ctx),
            Node::scratch(),
            ContainerPath::known("/"),
        )
    }

    /// A changeset with no changes (Dagger's `Query.changeset`).
    pub fn changeset(&self) -> Changeset {
        self.directory().changes(&self.directory())
    }

    /// A new file named `name` (Dagger's `Query.file`).
    pub fn file(&self, name: &str, contents: impl Into<Vec<u8>>, permissions: u32) -> File {
        self.directory()
            .with_new_file(name, contents, permissions)
            .file(name)
    }

    /// The machine tanto runs on: its directories and files.
    pub fn host(&self) -> Host {
        Host::new(Arc::clone(&self.ctx))
    }

    /// A cache volume: a directory kept between runs, shared by name.
    pub fn cache_volume(&self, key: &str) -> CacheVolume {
        CacheVolume::new(key)
    }

    /// A secret. Its value never reaches the store, logs or cache keys.
    /// Its value is masked (`***`) in every step's output from then on.
    pub fn set_secret(&self, name: &str, plaintext: impl AsRef<[u8]>) -> Secret {
        let plaintext = plaintext.as_ref();
        self.mask(plaintext);
        Secret::new(name, plaintext, &self.ctx.secret_key)
    }

    /// A secret read from `uri` (Dagger's `secret`): `env://NAME`,
    /// `file://PATH` or `cmd://COMMAND`, read now, where tanto runs. Keyed
    /// and masked as `set_secret`'s are; with `cache_key`, keyed by it.
    pub async fn secret(&self, uri: &str, cache_key: Option<&str>) -> Result<Secret, Error> {
        let (owned_uri, workdir) = (uri.to_owned(), self.ctx.workdir.clone());
        let plaintext =
            tokio::task::spawn_blocking(move || crate::secret_uri::read(&owned_uri, &workdir))
                .await
                .map_err(|source| Error::StepPanicked { source })??;
        self.mask(&plaintext);
        Ok(Secret::from_uri(
            uri,
            &plaintext,
            cache_key,
            &self.ctx.secret_key,
        ))
    }

    /// The file at `url` (Dagger's `http`), downloaded by tanto when first
    /// used, once per process, and keyed by its content. `name` defaults to
    /// the URL's last part; `permissions` to 0o600, as BuildKit's; with
    /// `checksum` (`sha256:…`) other content fails; `auth` is the
    /// `Authorization` header's value.
    pub fn http(
        &self,
        url: &str,
        name: Option<&str>,
        permissions: Option<u32>,
        checksum: Option<&str>,
        auth: Option<&Secret>,
    ) -> File {
        File::http(
            Arc::clone(&self.ctx),
            url,
            name,
            permissions,
            checksum,
            auth,
        )
    }

    /// Masks `plaintext` in every step's output from now on.
    fn mask(&self, plaintext: &[u8]) {
        let mut secrets = self.ctx.secrets.lock().unwrap();
        for form in crate::secret::masked_forms(plaintext) {
            if !secrets.iter().any(|s| s == form) {
                secrets.push(form.to_vec());
            }
        }
    }

    /// Pulls an image into the store as a step of its own, named `pull
    /// ADDRESS`, its layers' downloads reported to the observer. `address`
    /// is a registry reference, or `oci-archive:PATH[:TAG]` /
    /// `oci:DIR[:TAG]`; `platform` picks from a multi-platform image
    /// (default: this machine's).
    pub async fn pull(
        &self,
        address: &str,
        platform: Option<Platform>,
    ) -> Result<Arc<PullReport>, Error> {
        let platform = platform.unwrap_or_else(Platform::host);
        let name = format!("pull {address}");
        let Some((archive, tag)) = ArchiveSource::parse(address) else {
            // Refused here, before a step starts, when it cannot parse.
            address
                .parse::<registry::Reference>()
                .map_err(|source| Error::Reference {
                    address: address.to_owned(),
                    source: Box::new(source),
                })?;
            return crate::ops::pull_image(&self.ctx, &name, address, &platform).await;
        };
        let op = Op::Import {
            source: ImportSource::Host(archive.relative_to(&self.ctx.workdir)),
            tag,
            platform,
        };
        let solved = crate::ops::solve(&self.ctx, &Node::new(op, name)).await?;
        Ok(solved.pulled.expect("an image step reports its layers"))
    }

    /// Pushes every result this engine made or used to the `cache_to`
    /// caches (`--cache-to`), skipping what they have; one report per cache.
    /// Blocking: it uploads.
    pub fn export_cache(&self) -> Result<Vec<crate::registry_cache::ExportReport>, Error> {
        self.ctx.registry_cache.export()
    }

    /// What the scheduler has done so far.
    pub fn stats(&self) -> Stats {
        self.ctx.scheduler.stats()
    }

    /// Kills every running step, and fails every step that would start
    /// later: they fail as cancelled. For Ctrl-C and timeouts of a whole run.
    pub fn cancel_all(&self) {
        self.ctx.cancelled.store(true, Ordering::SeqCst);
        for cancel in self.ctx.cancels.lock().unwrap().values() {
            cancel.cancel();
        }
    }
}

/// `TANTO_PARALLELISM`, when set: a whole number of steps, at least 1.
fn parallelism_from_env() -> Result<Option<usize>, Error> {
    match std::env::var(PARALLELISM_ENV) {
        Ok(value) => match value.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(Error::Config {
                variable: PARALLELISM_ENV,
                value,
                expected: "how many steps may run at once, a whole number such as 2",
            }),
        },
        Err(_) => Ok(None),
    }
}

/// `TANTO_MAX_LAYER_BYTES`, when set.
fn max_layer_bytes_from_env() -> Result<Option<u64>, Error> {
    match std::env::var(MAX_LAYER_BYTES_ENV) {
        Ok(value) => value.trim().parse().map(Some).map_err(|_| Error::Config {
            variable: MAX_LAYER_BYTES_ENV,
            value,
            expected: "a number of bytes, such as 4294967296",
        }),
        Err(_) => Ok(None),
    }
}
