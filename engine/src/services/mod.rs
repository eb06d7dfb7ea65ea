//! The services running in this engine (Dagger's `Service`, issue 18):
//! their lifetimes, apart from how one is started (`ops::service`).
//!
//! One instance per service key per engine, as Dagger has one per
//! definition per session. The first binder starts it; others wait for
//! that start and share it. When the last binder lets go, the service is
//! stopped after [`GRACE`], unless someone binds it again meanwhile, so
//! consecutive steps against one database do not restart it between
//! them; stopped means SIGTERM, then SIGKILL if it is still there after
//! [`TERMINATE_GRACE`]. `Service.start` holds a binding until `Service.stop`. Every
//! service is stopped when the engine goes, and, since each one's helper
//! dies with the thread that waits for it, when tanto is killed.
//!
//! They all run on one session network (`executor::session_network`),
//! made on first use: a namespace of its own per service and per step
//! that binds one.

mod dns;
mod health;
mod host_network;
mod hostname;
pub(crate) mod tunnel;
mod uplink;

use std::collections::HashMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use executor::session_network::{Attachment, SessionNetwork};
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::cache_key::CacheKey;
use crate::error::Error;

pub(crate) use health::wait_healthy;
pub(crate) use host_network::PortClaim;
pub(crate) use hostname::hostname_of;
pub use uplink::UPLINK_ENV;

/// How long a service outlives its last binder: Dagger's
/// `DetachGracePeriod`.
const GRACE: Duration = Duration::from_secs(10);

/// How long a service asked to stop (SIGTERM) has before it is killed:
/// Dagger's `TerminateGracePeriod`.
const TERMINATE_GRACE: Duration = Duration::from_secs(10);

/// Namespaces kept wired ahead of need, so that a step binding a service
/// does not wait for one (as BuildKit keeps a pool of CNI namespaces).
const SPARE_NAMESPACES: usize = 1;

/// How a service's process ended: its exit code and the end of its
/// output, for the error of whoever needed it.
#[derive(Clone, Debug)]
pub(crate) struct Exit {
    pub code: i32,
    pub output: String,
}

/// A started service: where it is, and its process.
pub(crate) struct Running {
    pub address: Ipv4Addr,
    pub hostname: String,
    /// A tunnel's ports as bound on the host (a random one resolved).
    pub ports: Vec<u16>,
    cancel: executor::Cancel,
    exited: watch::Receiver<Option<Exit>>,
    /// Asked to stop: its own thread kills it after the grace period, so
    /// dropping it must not kill it at once.
    terminating: std::sync::atomic::AtomicBool,
    /// What must live as long as it: its namespace, its own bindings.
    _kept: Vec<Box<dyn Send + Sync>>,
}

impl Running {
    /// A service at `address`, answering to `hostname`, whose process
    /// `cancel` stops and `exited` says the end of; `kept` lives as long
    /// as it (its namespace, its own bindings, its name in the DNS).
    pub fn new(
        address: Ipv4Addr,
        hostname: String,
        cancel: executor::Cancel,
        exited: watch::Receiver<Option<Exit>>,
        kept: Vec<Box<dyn Send + Sync>>,
    ) -> Running {
        Running {
            address,
            hostname,
            ports: Vec::new(),
            cancel,
            exited,
            terminating: Default::default(),
            _kept: kept,
        }
    }

    /// How it ended, once it has.
    pub fn exit(&self) -> Option<Exit> {
        self.exited.borrow().clone()
    }

    pub fn exited(&self) -> watch::Receiver<Option<Exit>> {
        self.exited.clone()
    }

    /// Kills its process (the helper's teardown).
    fn kill(&self) {
        self.cancel.cancel();
    }

    /// Asks its process to stop (SIGTERM), and kills it if it has not
    /// after [`TERMINATE_GRACE`].
    fn terminate(&self) {
        self.terminating
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.cancel.terminate();
        let (cancel, mut exited) = (self.cancel.clone(), self.exited.clone());
        let _ = std::thread::Builder::new()
            .name("tanto-service-stop".into())
            .spawn(move || {
                let deadline = std::time::Instant::now() + TERMINATE_GRACE;
                while exited.borrow_and_update().is_none() && std::time::Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
                cancel.cancel();
            });
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.terminating.load(std::sync::atomic::Ordering::SeqCst) {
            self.kill();
        }
    }
}

/// One service key's instance and who holds it.
#[derive(Default)]
struct Slot {
    running: tokio::sync::OnceCell<Arc<Running>>,
    /// Binders now, and binds ever: a grace timer stops the service only
    /// if nobody bound it since the timer was set.
    binders: Mutex<(usize, u64)>,
}

/// Where services run.
enum Network {
    /// The session network and its way out.
    Session {
        session: SessionNetwork,
        uplink: uplink::Uplink,
    },
    /// The host's (`host_network`): no namespace of their own.
    Host,
}

#[derive(Default)]
struct Inner {
    network: Mutex<Option<Network>>,
    /// Namespaces wired ahead of need ([`SPARE_NAMESPACES`]).
    spares: Mutex<Vec<Attachment>>,
    slots: Mutex<HashMap<CacheKey, Arc<Slot>>>,
    /// Services `Service.start` keeps running until `Service.stop`.
    started: Mutex<HashMap<CacheKey, Binding>>,
    /// Names this engine apart from every other run ([`Services::session`]).
    session: std::sync::OnceLock<String>,
    /// On the host's network, the ports services hold.
    claims: host_network::Claims,
}

/// The engine's services; every one is stopped when this goes.
#[derive(Default)]
pub(crate) struct Services(Arc<Inner>);

/// A hold on a running service; letting go of the last one stops it
/// after the grace period.
pub(crate) struct Binding {
    inner: Arc<Inner>,
    key: CacheKey,
    slot: Arc<Slot>,
    running: Option<Arc<Running>>,
}

impl Binding {
    pub fn running(&self) -> &Arc<Running> {
        self.running
            .as_ref()
            .expect("a binding is handed out started")
    }
}

impl Services {
    /// Holds the service `key`, started by `start` unless it is running
    /// already (or being started: then this waits for that start). A
    /// failed start is not kept: the next binder tries again, as does a
    /// binder that finds the instance exited.
    pub async fn bind<F, Fut>(&self, key: CacheKey, start: F) -> Result<Binding, Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Arc<Running>, Error>>,
    {
        loop {
            let slot = Arc::clone(self.0.slots.lock().unwrap().entry(key).or_default());
            {
                let mut binders = slot.binders.lock().unwrap();
                binders.0 += 1;
                binders.1 += 1;
            }
            let mut binding = Binding {
                inner: Arc::clone(&self.0),
                key,
                slot: Arc::clone(&slot),
                running: None,
            };
            let running = Arc::clone(slot.running.get_or_try_init(&start).await?);
            if running.exit().is_some() {
                // Gone since it started: start a fresh one.
                self.0.forget(&key, &slot);
                continue;
            }
            binding.running = Some(running);
            return Ok(binding);
        }
    }

    /// Keeps `binding` until [`Services::stop`] (`Service.start`).
    pub fn keep(&self, binding: Binding) {
        let key = binding.key;
        self.0.started.lock().unwrap().insert(key, binding);
    }

    /// Stops the service `key` now, whoever holds it (`Service.stop`):
    /// SIGTERM, then SIGKILL after a grace period, or SIGKILL at once with
    /// `kill`. Returns once it has exited.
    pub async fn stop(&self, key: &CacheKey, kill: bool) {
        let kept = self.0.started.lock().unwrap().remove(key);
        let slot = self.0.slots.lock().unwrap().remove(key);
        if let Some(running) = slot.as_ref().and_then(|slot| slot.running.get()) {
            match kill {
                true => running.kill(),
                false => running.terminate(),
            }
            let _ = running.exited().wait_for(Option::is_some).await;
        }
        drop(kept);
    }

    /// A new namespace on the session network, which is made on first
    /// use: a spare one if there is one, and another spare is then wired
    /// on a thread of its own. Blocking (netlink).
    pub fn attach(&self) -> Result<Attachment, Error> {
        let runtime = runtime()?;
        let spare = self.0.spares.lock().unwrap().pop();
        let attachment = match spare {
            Some(spare) => spare,
            None => self.0.wire(&runtime)?,
        };
        if !self.on_host_network() {
            self.0.refill(runtime);
        }
        Ok(attachment)
    }

    /// Whether services run on the host's network here (no session
    /// network could be made, or the user asked).
    pub fn on_host_network(&self) -> bool {
        matches!(*self.0.network.lock().unwrap(), Some(Network::Host))
    }

    /// On the host's network, holds `ports` for `service` while the claim
    /// is kept; refused if another service or something else holds one.
    /// Elsewhere, nothing to hold.
    pub fn claim_ports(
        &self,
        service: &str,
        ports: &[u16],
    ) -> Result<Option<host_network::PortClaim>, Error> {
        let on_host = self
            .0
            .on_network(&runtime()?, |network| Ok(matches!(network, Network::Host)))?;
        match on_host {
            true => self.0.claims.claim(service, ports).map(Some),
            false => Ok(None),
        }
    }

    /// A name of this engine's session no other run has: in the keys of
    /// what must not outlive it (`Host.service`).
    pub fn session(&self) -> &str {
        self.0.session.get_or_init(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            format!("{}-{}", std::process::id(), now.as_nanos())
        })
    }

    /// The `/etc/resolv.conf` of namespaces on the session network: its
    /// DNS server. Once the network is made.
    pub fn resolv_conf(&self) -> Option<String> {
        match &*self.0.network.lock().unwrap() {
            Some(Network::Session { uplink, .. }) => Some(uplink.resolv_conf.clone()),
            _ => None,
        }
    }

    /// Makes `hostname` answer `address` in the session's DNS for as long
    /// as the returned entry is kept.
    pub fn name(&self, hostname: &str, address: Ipv4Addr) -> Option<NameEntry> {
        let names = match &*self.0.network.lock().unwrap() {
            Some(Network::Session { uplink, .. }) => uplink.names.clone(),
            _ => return None,
        };
        let hostname = hostname.to_ascii_lowercase();
        names.lock().unwrap().insert(hostname.clone(), address);
        Some(NameEntry {
            names,
            hostname,
            address,
        })
    }

    /// The session namespace, to check services' ports from.
    pub fn session_namespace(&self) -> Result<OwnedFd, Error> {
        let network = self.0.network.lock().unwrap();
        let session = match network.as_ref() {
            Some(Network::Session { session, .. }) => session,
            Some(Network::Host) => {
                return executor::session_network::own_namespace()
                    .map_err(|source| Error::ServiceNetwork { source })
            }
            None => {
                return Err(Error::ServiceNetwork {
                    source: std::io::Error::other("the session network is not made yet"),
                })
            }
        };
        session
            .namespace()
            .try_clone_to_owned()
            .map_err(|source| Error::ServiceNetwork { source })
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        self.0.started.lock().unwrap().clear();
        let slots: Vec<Arc<Slot>> = self
            .0
            .slots
            .lock()
            .unwrap()
            .drain()
            .map(|(_, s)| s)
            .collect();
        // Killed, as Dagger's session end does.
        for slot in slots {
            if let Some(running) = slot.running.get() {
                running.kill();
            }
        }
    }
}

impl Network {
    /// The session network and its way out; the host's network if the
    /// user asks, or if network namespaces cannot be made here at all.
    fn make(runtime: &Handle) -> Result<Network, Error> {
        let failed = |source| Error::ServiceNetwork { source };
        if host_network::asked()? {
            return Ok(Network::Host);
        }
        let session = match SessionNetwork::create() {
            Ok(session) => session,
            Err(e) if host_network::refused(&e) => {
                tracing::warn!(
                    "services run on the host's network: no network namespace can be made here ({e}); they are reached at 127.0.0.1, two cannot expose one port, and none can listen below 1024"
                );
                return Ok(Network::Host);
            }
            Err(e) => return Err(failed(e)),
        };
        let choice = uplink::Choice::from_env()?;
        let uplink = uplink::Uplink::start(&session, runtime, choice).map_err(failed)?;
        Ok(Network::Session { session, uplink })
    }
}

impl Inner {
    /// `work` on the network services run on, made on first use.
    fn on_network<T>(
        &self,
        runtime: &Handle,
        work: impl FnOnce(&mut Network) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut network = self.network.lock().unwrap();
        if network.is_none() {
            *network = Some(Network::make(runtime)?);
        }
        work(network.as_mut().expect("made above"))
    }

    /// A namespace wired to the session network, made on first use.
    fn wire(&self, runtime: &Handle) -> Result<Attachment, Error> {
        let failed = |source| Error::ServiceNetwork { source };
        self.on_network(runtime, |network| match network {
            Network::Session { session, .. } => session.attach().map_err(failed),
            Network::Host => Ok(Attachment::unmanaged(
                executor::session_network::own_namespace().map_err(failed)?,
                Ipv4Addr::LOCALHOST,
            )),
        })
    }

    /// Wires a spare namespace in the background unless there are enough.
    fn refill(self: &Arc<Self>, runtime: Handle) {
        if self.spares.lock().unwrap().len() >= SPARE_NAMESPACES {
            return;
        }
        let inner = Arc::clone(self);
        let _ = std::thread::Builder::new()
            .name("tanto-netns-spare".into())
            .spawn(move || {
                if let Ok(spare) = inner.wire(&runtime) {
                    let mut spares = inner.spares.lock().unwrap();
                    if spares.len() < SPARE_NAMESPACES {
                        spares.push(spare);
                    }
                }
            });
    }

    /// Drops `slot` from the table if it is still `key`'s.
    fn forget(&self, key: &CacheKey, slot: &Arc<Slot>) {
        let mut slots = self.slots.lock().unwrap();
        if slots.get(key).is_some_and(|now| Arc::ptr_eq(now, slot)) {
            slots.remove(key);
        }
    }
}

impl Drop for Binding {
    fn drop(&mut self) {
        let generation = {
            let mut binders = self.slot.binders.lock().unwrap();
            binders.0 -= 1;
            if binders.0 > 0 {
                return;
            }
            binders.1
        };
        if self.slot.running.get().is_none() {
            // Never started (its start failed): nothing to wait for.
            self.inner.forget(&self.key, &self.slot);
            return;
        }
        let (inner, key, slot) = (Arc::clone(&self.inner), self.key, Arc::clone(&self.slot));
        let _ = std::thread::Builder::new()
            .name("tanto-service-grace".into())
            .spawn(move || {
                std::thread::sleep(GRACE);
                let idle = *slot.binders.lock().unwrap() == (0, generation);
                if idle {
                    inner.forget(&key, &slot);
                    if let Some(running) = slot.running.get() {
                        running.terminate();
                    }
                }
            });
    }
}

/// The runtime a caller runs on: relays and the DNS server are its tasks.
fn runtime() -> Result<Handle, Error> {
    Handle::try_current().map_err(|e| Error::ServiceNetwork {
        source: std::io::Error::other(e),
    })
}

/// A service that is tanto's own tasks (`relays`: forwards, no process),
/// stopped as a process is: what stops it, and what says it ended.
pub(crate) fn in_process(
    mut relays: tokio::task::JoinSet<()>,
) -> (executor::Cancel, watch::Receiver<Option<Exit>>) {
    /// How often a stop asked of it is looked for.
    const STOP_POLL: Duration = Duration::from_millis(100);
    let cancel = executor::Cancel::default();
    let (said, exited) = watch::channel(None);
    let stop = cancel.clone();
    tokio::spawn(async move {
        while !stop.is_cancelled() && !stop.terminate_asked() {
            tokio::time::sleep(STOP_POLL).await;
        }
        relays.abort_all();
        while relays.join_next().await.is_some() {}
        let _ = said.send(Some(Exit {
            code: 0,
            output: String::new(),
        }));
    });
    (cancel, exited)
}

/// A name in the session's DNS, taken out when this goes.
pub(crate) struct NameEntry {
    names: dns::Names,
    hostname: String,
    address: Ipv4Addr,
}

impl Drop for NameEntry {
    fn drop(&mut self) {
        let mut names = self.names.lock().unwrap();
        if names.get(&self.hostname) == Some(&self.address) {
            names.remove(&self.hostname);
        }
    }
}

/// The path a step's helper opens to join `netns`, held by this process.
pub(crate) fn namespace_path(netns: &impl AsFd) -> PathBuf {
    PathBuf::from(format!(
        "/proc/{}/fd/{}",
        std::process::id(),
        netns.as_fd().as_raw_fd()
    ))
}

#[cfg(test)]
mod tests;
