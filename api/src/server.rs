//! The session's HTTP server: its connections, and what keeps a local
//! process without the token from starving the SDK's requests (any local
//! user can connect to 127.0.0.1):
//!
//! - a request's headers must arrive within [`HEADER_READ_TIMEOUT`], and a
//!   kept-alive connection idle that long is closed (the SDKs' clients keep
//!   idle connections 4–5 s, so they close theirs first);
//! - the token is checked as soon as the headers arrive (handler.rs);
//! - at most [`MAX_UNAUTHENTICATED`] connections may wait without having
//!   shown the token: a new one evicts the oldest, so the SDK's own
//!   connection, which shows it at once, is always served.
//!
//! A client that closes its connection while its request runs drops the
//! request's future (hyper's default, no half-close): that is how an
//! abandoned step learns nobody wants it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{mpsc, oneshot, watch};

use crate::Session;

/// How long a client may take to send a request's headers, and how long a
/// kept-alive connection may sit idle.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections that have not shown the token yet, at most.
pub const MAX_UNAUTHENTICATED: usize = 256;

/// Serves `session` on `listener` until `shutdown` completes; then stops
/// accepting, closes idle connections, and returns once the requests in
/// flight are answered.
pub async fn serve(
    listener: tokio::net::TcpListener,
    session: Arc<Session>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let gate = Arc::new(Gate::default());
    let (stop, stopped) = watch::channel(false);
    // Each connection holds a sender; all dropped means all done.
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: wait a little rather than spin.
                    tracing::debug!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (id, evicted) = gate.enter();
        tokio::spawn(connection(
            stream,
            Arc::clone(&session),
            Arc::clone(&gate),
            id,
            evicted,
            stopped.clone(),
            alive.clone(),
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    drop(alive);
    let _ = all_done.recv().await;
    Ok(())
}

/// Binds a free port on loopback.
pub async fn bind_loopback() -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    Ok((listener, address))
}

async fn connection(
    stream: tokio::net::TcpStream,
    session: Arc<Session>,
    gate: Arc<Gate>,
    id: u64,
    mut evicted: oneshot::Receiver<()>,
    mut stopped: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
) {
    // Once the token is shown, the eviction sender lives here, with the
    // connection, so it never fires.
    let admitted = Arc::new(Mutex::new(None));
    let service = {
        let gate = Arc::clone(&gate);
        service_fn(move |request| {
            let (session, gate, admitted) = (
                Arc::clone(&session),
                Arc::clone(&gate),
                Arc::clone(&admitted),
            );
            async move {
                let admit = || {
                    if let Some(sender) = gate.admit(id) {
                        *admitted.lock().expect("never poisoned") = Some(sender);
                    }
                };
                Ok::<_, Infallible>(crate::handler::handle(request, &session, admit).await)
            }
        })
    };
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let (mut evictable, mut stopping) = (true, false);
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("session connection ended: {e}");
                }
                break;
            }
            result = &mut evicted, if evictable => match result {
                Ok(()) => {
                    tracing::debug!("closing the oldest connection without the token: {MAX_UNAUTHENTICATED} are waiting");
                    break;
                }
                Err(_) => evictable = false,
            },
            _ = stopped.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
    gate.leave(id);
}

/// The connections that have not shown the token yet, oldest first.
#[derive(Default)]
struct Gate(Mutex<Waiting>);

#[derive(Default)]
struct Waiting {
    next: u64,
    connections: BTreeMap<u64, oneshot::Sender<()>>,
}

impl Gate {
    /// A new connection, evicting the oldest waiting one when full.
    fn enter(&self) -> (u64, oneshot::Receiver<()>) {
        let mut waiting = self.0.lock().expect("never poisoned");
        if waiting.connections.len() >= MAX_UNAUTHENTICATED {
            if let Some((_, oldest)) = waiting.connections.pop_first() {
                let _ = oldest.send(());
            }
        }
        let id = waiting.next;
        waiting.next += 1;
        let (sender, receiver) = oneshot::channel();
        waiting.connections.insert(id, sender);
        (id, receiver)
    }

    /// The connection showed the token: it may stay.
    fn admit(&self, id: u64) -> Option<oneshot::Sender<()>> {
        self.0
            .lock()
            .expect("never poisoned")
            .connections
            .remove(&id)
    }

    fn leave(&self, id: u64) {
        self.0
            .lock()
            .expect("never poisoned")
            .connections
            .remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_waiting_connection_is_evicted_and_admitted_ones_never() {
        let gate = Gate::default();
        let (first, mut first_evicted) = gate.enter();
        let (second, mut second_evicted) = gate.enter();
        let _kept = gate.admit(first).unwrap();
        let mut later = Vec::new();
        for _ in 0..MAX_UNAUTHENTICATED - 1 {
            later.push(gate.enter());
        }
        assert!(first_evicted.try_recv().is_err(), "admitted: never evicted");
        assert!(second_evicted.try_recv().is_err(), "still within the bound");
        later.push(gate.enter());
        assert_eq!(
            second_evicted.try_recv(),
            Ok(()),
            "the oldest waiting one goes"
        );
        assert!(later[0].1.try_recv().is_err());
        gate.leave(second);
    }
}
