//! `Service` (Dagger's): a container's command run as a long-lived
//! process, which steps reach over the session network by the alias they
//! bind it as (`Container::with_service_binding`) or by its hostname.
//! Building one runs nothing: a step that binds it starts it when that
//! step runs (a cached step starts nothing), or `start` does.

use std::sync::Arc;

use crate::context::Context;
use crate::error::Error;
use crate::node::{ServiceProcess, ServiceSpec};
use crate::ops::{bind, service_key, service_settings, TUNNEL_HOST};
use crate::services::tunnel;
use crate::services::Running;

#[derive(Clone)]
pub struct Service {
    pub(crate) ctx: Arc<Context>,
    pub(crate) spec: Arc<ServiceSpec>,
}

impl Service {
    /// The name it answers to: `withHostname`'s, else 13 characters from
    /// its key (the same on every run of the same definition).
    pub async fn hostname(&self) -> Result<String, Error> {
        if let Some(name) = &self.spec.hostname {
            return Ok(name.clone());
        }
        if self.is_tunnel() {
            return Ok(TUNNEL_HOST.to_string());
        }
        let key = service_key(&self.ctx, &self.spec).await?;
        Ok(crate::services::hostname_of(&key))
    }

    /// Its exposed ports, as image configs write them (`80/tcp`), in order.
    /// A tunnel's are those it listens on, so asking starts it.
    pub async fn ports(&self) -> Result<Vec<String>, Error> {
        if self.is_tunnel() {
            let running = self.started().await?;
            return Ok(running.ports.iter().map(|p| format!("{p}/tcp")).collect());
        }
        let settings = service_settings(&self.ctx, &self.spec).await?;
        Ok(settings.exposed_ports.iter().cloned().collect())
    }

    /// `host:port`, or `scheme://host:port`: `port` defaults to the first
    /// exposed one.
    pub async fn endpoint(&self, port: Option<u16>, scheme: &str) -> Result<String, Error> {
        let port = match port {
            Some(port) => port,
            None => self
                .ports()
                .await?
                .first()
                .and_then(|p| p.split('/').next()?.parse().ok())
                .ok_or_else(|| Error::NoPortsExposed {
                    service: self.spec.name(),
                })?,
        };
        let host = self.hostname().await?;
        Ok(match scheme {
            "" => format!("{host}:{port}"),
            scheme => format!("{scheme}://{host}:{port}"),
        })
    }

    /// Starts it (unless it runs already) and keeps it running until
    /// [`Service::stop`] or the engine's end.
    pub async fn start(&self) -> Result<(), Error> {
        self.started().await.map(drop)
    }

    /// [`Service::start`], and the instance it started or found.
    async fn started(&self) -> Result<Arc<Running>, Error> {
        let key = service_key(&self.ctx, &self.spec).await?;
        let binding = bind(&self.ctx, &self.spec, key).await?;
        let running = Arc::clone(binding.running());
        self.ctx.services.keep(binding);
        Ok(running)
    }

    fn is_tunnel(&self) -> bool {
        matches!(self.spec.process, ServiceProcess::Tunnel(_))
    }

    /// Stops it now, whoever binds it, and waits until it has: SIGTERM,
    /// then SIGKILL 10 s later if it is still there, or SIGKILL at once
    /// with `kill`. Stopping one that is not running does nothing.
    pub async fn stop(&self, kill: bool) -> Result<(), Error> {
        let key = service_key(&self.ctx, &self.spec).await?;
        self.ctx.services.stop(&key, kill).await;
        Ok(())
    }

    /// Makes the service's ports reachable on this machine's loopback
    /// (`Service.up`) until the returned future is dropped; it ends only
    /// on an error. `ports` are `(frontend, backend)`, a frontend of 0 for
    /// any free port; none given means every exposed TCP port, on the same
    /// number, or a free one with `random`. Starts the service first, and
    /// says in progress where each port is.
    pub async fn up(&self, ports: &[(u16, u16)], random: bool) -> Result<(), Error> {
        if self.is_tunnel() {
            return Err(Error::TunnelUp);
        }
        let key = service_key(&self.ctx, &self.spec).await?;
        let forwards: Vec<(u16, u16)> = match ports {
            [] => {
                let exposed = self.ports().await?;
                let tcp: Vec<u16> = exposed
                    .iter()
                    .filter_map(|p| p.strip_suffix("/tcp").unwrap_or(p).parse().ok())
                    .collect();
                if tcp.is_empty() {
                    return Err(Error::NoPortsExposed {
                        service: self.spec.name(),
                    });
                }
                tcp.into_iter()
                    .map(|port| (if random { 0 } else { port }, port))
                    .collect()
            }
            given => given.to_vec(),
        };
        let binding = bind(&self.ctx, &self.spec, key).await?;
        let service = binding.running().address;
        let session = Arc::new(self.ctx.services.session_namespace()?);
        let listen_on = tunnel::listen_address()?;
        let mut relays = Vec::new();
        for (frontend, backend) in forwards {
            let forward = tunnel::listen(listen_on, frontend, backend).await?;
            let name = format!(
                "up {}: {} → port {backend}",
                binding.running().hostname,
                forward.address
            );
            self.ctx
                .scheduler
                .side_job(key, name)
                .ended(Ok(std::time::Duration::ZERO));
            relays.push(tunnel::relay(forward, Arc::clone(&session), service));
        }
        futures::future::join_all(relays).await;
        drop(binding);
        Ok(())
    }

    /// The same service answering to `hostname` (`withHostname`).
    pub fn with_hostname(&self, hostname: &str) -> Service {
        Service {
            ctx: Arc::clone(&self.ctx),
            spec: Arc::new(ServiceSpec {
                process: self.spec.process.clone(),
                hostname: Some(hostname.to_owned()),
            }),
        }
    }
}
