//! Running a service (`values::Service`; their lifetimes are
//! `crate::services`'): its exec prepared as a step's, its process started
//! in a namespace of the session network under its hostname, healthy once
//! its exposed TCP ports answer. Never memoized: what it writes is thrown
//! away with it. And the other side: a step that binds services joins the
//! session network and finds them by alias in its `/etc/hosts`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use executor::session_network::Attachment;
use executor::{Cancel, ExecRequest};
use futures::future::{BoxFuture, FutureExt};
use tokio::sync::watch;

use super::exec::{error_output, prepare, Prepared};
use super::exec_request::request;
use crate::cache_key::{CacheKey, KeyBuilder};
use crate::capture::Capture;
use crate::config::Settings;
use crate::context::Context;
use crate::error::Error;
use crate::node::{ServiceProcess, ServiceSpec};
use crate::scheduler::Job;
use crate::services::{
    hostname_of, namespace_path, wait_healthy, Binding, Exit, PortClaim, Running,
};
use crate::solved::blocking;

/// How much of a service's output its early exit's error keeps.
const EXIT_OUTPUT_BYTES: u64 = 4 * 1024;

/// A binding of a step (or of a service) as its key knows it.
pub(crate) struct ServiceUse {
    pub alias: String,
    pub spec: Arc<ServiceSpec>,
    pub key: CacheKey,
}

/// A service's key: its exec's (everything a step's covers), the ports it
/// exposes (they decide when it is up) and the hostname it was given.
/// Never an address: those change from run to run.
pub(crate) fn service_key<'a>(
    ctx: &'a Arc<Context>,
    spec: &'a ServiceSpec,
) -> BoxFuture<'a, Result<CacheKey, Error>> {
    async move {
        let exec = match &spec.process {
            ServiceProcess::Exec(exec) => exec,
            ServiceProcess::Host(forwards) => {
                return Ok(super::host_service::key(forwards, spec.hostname.as_deref()))
            }
            ServiceProcess::Tunnel(tunnel) => return super::tunnel::key(ctx, tunnel).await,
        };
        let (prepared, exec_key) = prepare(ctx, exec).await?;
        let settings = &prepared.settings;
        let ports: Vec<String> = settings.exposed_ports.iter().cloned().collect();
        let unchecked: Vec<String> = settings.unchecked_ports.iter().cloned().collect();
        Ok(KeyBuilder::new("tanto.service.v1")
            .key("exec", &exec_key)
            .strs("ports", &ports)
            .strs("unchecked-ports", &unchecked)
            .str("hostname", spec.hostname.as_deref().unwrap_or(""))
            .finish())
    }
    .boxed()
}

/// The settings a service runs with: its exposed ports among them.
pub(crate) async fn service_settings(
    ctx: &Arc<Context>,
    spec: &ServiceSpec,
) -> Result<Arc<Settings>, Error> {
    match &spec.process {
        ServiceProcess::Exec(exec) => Ok(prepare(ctx, exec).await?.0.settings),
        ServiceProcess::Host(forwards) => Ok(Arc::new(Settings {
            exposed_ports: forwards
                .ports
                .iter()
                .map(|(frontend, _)| format!("{frontend}/tcp"))
                .collect(),
            ..Settings::default()
        })),
        // Known once it listens (`Service::ports`).
        ServiceProcess::Tunnel(_) => Ok(Arc::new(Settings::default())),
    }
}

/// Holds each service of `uses` (starting those not running), side by
/// side; with the alias each is bound as.
pub(crate) async fn bind_all(
    ctx: &Arc<Context>,
    uses: &[ServiceUse],
) -> Result<Vec<(String, Binding)>, Error> {
    futures::future::try_join_all(uses.iter().map(|service| async move {
        let binding = bind(ctx, &service.spec, service.key).await?;
        Ok((service.alias.clone(), binding))
    }))
    .await
}

/// Holds the service `spec` of key `key`, started unless it runs already.
pub(crate) async fn bind(
    ctx: &Arc<Context>,
    spec: &Arc<ServiceSpec>,
    key: CacheKey,
) -> Result<Binding, Error> {
    ctx.services
        .bind(key, || start(Arc::clone(ctx), Arc::clone(spec), key))
        .await
}

/// Starts the service: its chain on disk, its own bindings held, its
/// process spawned in a new namespace of the session network, then
/// waited for until its exposed TCP ports answer.
fn start(
    ctx: Arc<Context>,
    spec: Arc<ServiceSpec>,
    key: CacheKey,
) -> BoxFuture<'static, Result<Arc<Running>, Error>> {
    async move {
        let exec = match &spec.process {
            ServiceProcess::Exec(exec) => exec,
            ServiceProcess::Host(forwards) => {
                return super::host_service::start(&ctx, &spec, forwards, key).await
            }
            ServiceProcess::Tunnel(tunnel) => return super::tunnel::start(&ctx, tunnel, key).await,
        };
        let (prepared, exec_key) = prepare(&ctx, exec).await?;
        prepared.owed().settle().await?;
        prepared.runnable()?;
        let own = bind_all(&ctx, &prepared.services).await?;
        let hostname = spec.hostname.clone().unwrap_or_else(|| hostname_of(&key));
        let ports = tcp_ports(&prepared.settings);
        let name = prepared.name.clone();
        let claim = ctx
            .services
            .claim_ports(&name, &exposed_tcp(&prepared.settings))?;
        // In progress as a step from its start until it is healthy.
        let job = ctx
            .scheduler
            .side_job(key, format!("service {hostname}: {name}"));
        let started = Instant::now();
        let running = async {
            let running = blocking({
                let (ctx, job) = (Arc::clone(&ctx), job.clone());
                move || launch(&ctx, &prepared, &exec_key, hostname, (own, claim), &job)
            })
            .await?;
            let session = ctx.services.session_namespace()?;
            match wait_healthy(session, running.address, &ports, running.exited()).await {
                Ok(()) => Ok(Arc::new(running)),
                Err(Exit { code, output }) => Err(Error::ServiceExited {
                    service: name,
                    exit_code: code,
                    output,
                }),
            }
        }
        .await;
        job.ended(running.as_ref().map(|_| started.elapsed()));
        running
    }
    .boxed()
}

/// Every exposed TCP port.
fn exposed_tcp(settings: &Settings) -> Vec<u16> {
    settings
        .exposed_ports
        .iter()
        .filter_map(|p| tcp_port(p))
        .collect()
}

/// `80/tcp` or `80` as 80; another protocol's port as nothing.
fn tcp_port(port: &str) -> Option<u16> {
    match port.split_once('/') {
        Some((number, "tcp")) => number.parse().ok(),
        None => port.parse().ok(),
        Some(_) => None,
    }
}

/// The exposed TCP ports the health check dials: all but those it was
/// told to leave out.
pub(super) fn tcp_ports(settings: &Settings) -> Vec<u16> {
    settings
        .exposed_ports
        .difference(&settings.unchecked_ports)
        .filter_map(|p| tcp_port(p))
        .collect()
}

/// Spawns the service's process on a thread that waits for it (its
/// helper dies with that thread) and says how it ended. Its output goes
/// to progress as `job`'s for as long as it runs, as a step's does.
fn launch(
    ctx: &Arc<Context>,
    prepared: &Prepared,
    exec_key: &CacheKey,
    hostname: String,
    (own, claim): (Vec<(String, Binding)>, Option<PortClaim>),
    job: &Job,
) -> Result<Running, Error> {
    let scratch = ctx
        .store
        .throwaway("service")
        .map_err(|source| Error::Store {
            source: Box::new(source),
        })?;
    let (mut request, volumes_in_use, copies) =
        request(ctx, prepared, exec_key, scratch.dir(), None)?;
    let attachment = ctx.services.attach()?;
    join_session_network(ctx, &mut request, &attachment, &own);
    request.hostname = hostname.clone();
    let capture = Capture::start(scratch.dir(), &ctx.masker(), job)?;
    let (stdout, stderr) = (request.stdout_path.clone(), request.stderr_path.clone());
    request.stdout_path = capture.pipe(0);
    request.stderr_path = capture.pipe(1);
    let dns_name = ctx.services.name(&hostname, attachment.address);
    let cancel = Cancel::default();
    let (said, exited) = watch::channel(None);
    let waiting = cancel.clone();
    let name = prepared.name.clone();
    std::thread::Builder::new()
        .name("tanto-service".into())
        .spawn(move || {
            let outcome = executor::run(&request, &waiting);
            drop((volumes_in_use, copies));
            if let Err(e) = capture.finish() {
                tracing::warn!("service `{name}`: its output: {e}");
            }
            let code = match outcome {
                Ok(outcome) => outcome.exit_code,
                // Stopped, as it was asked to be.
                Err(executor::Error::Cancelled { .. }) => -1,
                Err(e) => {
                    tracing::warn!("service `{name}`: {e}");
                    -1
                }
            };
            let mut output = error_output(&stdout, EXIT_OUTPUT_BYTES);
            output.push_str(&error_output(&stderr, EXIT_OUTPUT_BYTES));
            let _ = said.send(Some(Exit { code, output }));
            drop(scratch);
        })
        .map_err(|source| Error::ServiceStart {
            service: prepared.name.clone(),
            source,
        })?;
    Ok(Running::new(
        attachment.address,
        hostname,
        cancel,
        exited,
        vec![
            Box::new(attachment),
            Box::new(own),
            Box::new(dns_name),
            Box::new(claim),
        ],
    ))
}

/// Puts a step bound to services on the session network: a namespace of
/// its own there, their aliases and hostnames in its `/etc/hosts`. Keep
/// the attachment until the step is done.
pub(super) fn on_services(
    ctx: &Context,
    request: &mut ExecRequest,
    bound: &[(String, Binding)],
) -> Result<Option<Attachment>, Error> {
    if bound.is_empty() {
        return Ok(None);
    }
    let attachment = ctx.services.attach()?;
    join_session_network(ctx, request, &attachment, bound);
    Ok(Some(attachment))
}

/// Its namespace, its DNS server, its bindings in `/etc/hosts`.
fn join_session_network(
    ctx: &Context,
    request: &mut ExecRequest,
    attachment: &Attachment,
    bound: &[(String, Binding)],
) {
    if !ctx.services.on_host_network() {
        request.network_namespace = Some(namespace_path(&attachment.netns));
        request.resolv_conf = ctx.services.resolv_conf();
    }
    for (alias, binding) in bound {
        let running = binding.running();
        let address = running.address.to_string();
        request.extra_hosts.push((alias.clone(), address.clone()));
        if running.hostname != *alias {
            request
                .extra_hosts
                .push((running.hostname.clone(), address));
        }
    }
}

/// Watches the services a step binds while it runs: the first to exit
/// cancels the step, which fails of it.
pub(super) struct ExitWatch {
    task: tokio::task::JoinHandle<()>,
    first: Arc<Mutex<Option<(String, Exit)>>>,
}

impl ExitWatch {
    /// Starts watching `bound` for the step `cancel` stops. On a runtime's
    /// blocking thread (where steps run).
    pub(super) fn start(bound: &[(String, Binding)], cancel: &Cancel) -> Option<ExitWatch> {
        if bound.is_empty() {
            return None;
        }
        let first = Arc::new(Mutex::new(None));
        let watched: Vec<(String, watch::Receiver<Option<Exit>>)> = bound
            .iter()
            .map(|(alias, binding)| (alias.clone(), binding.running().exited()))
            .collect();
        let (cancel, said) = (cancel.clone(), Arc::clone(&first));
        let task = tokio::runtime::Handle::current().spawn(async move {
            let exits = watched.into_iter().map(|(alias, mut exited)| {
                Box::pin(async move {
                    let exit = exited.wait_for(Option::is_some).await.ok()?.clone()?;
                    Some((alias, exit))
                })
            });
            if let (Some(exited), _, _) = futures::future::select_all(exits).await {
                *said.lock().unwrap() = Some(exited);
                cancel.cancel();
            }
        });
        Some(ExitWatch { task, first })
    }

    /// The service that exited while the step ran, if one did.
    pub(super) fn finish(self) -> Option<(String, Exit)> {
        self.task.abort();
        self.first.lock().unwrap().take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_health_check_dials_exposed_tcp_ports_not_left_out() {
        let settings = Settings {
            exposed_ports: ["80/tcp", "9999/tcp", "53/udp", "8080"]
                .map(String::from)
                .into(),
            unchecked_ports: ["9999/tcp".to_owned()].into(),
            ..Settings::default()
        };
        assert_eq!(tcp_ports(&settings), [80, 8080]);
    }
}
