//! A service is healthy once each of its exposed TCP ports accepts a
//! connection, tried from the session network as Dagger's port check
//! does: a second per try, pauses growing by half up to 10 s. Dagger's
//! first pause is 100 ms; ours is 5 ms, so a service that listens within
//! milliseconds is not waited for a tenth of a second (a try costs a
//! thread and a connect). Racing its exit: a service that ends first is
//! not waited for.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use executor::session_network::in_namespace;
use tokio::sync::watch;

use super::Exit;

const DIAL: Duration = Duration::from_secs(1);
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const LONGEST_PAUSE: Duration = Duration::from_secs(10);

/// Waits until every port in `ports` on `address` accepts, or the
/// service exits (its [`Exit`]).
pub(crate) async fn wait_healthy(
    session: OwnedFd,
    address: Ipv4Addr,
    ports: &[u16],
    mut exited: watch::Receiver<Option<Exit>>,
) -> Result<(), Exit> {
    let session = Arc::new(session);
    for &port in ports {
        let mut pause = FIRST_PAUSE;
        loop {
            if let Some(exit) = exited.borrow().clone() {
                return Err(exit);
            }
            let target = SocketAddr::from((address, port));
            let dial = {
                let session = Arc::clone(&session);
                tokio::task::spawn_blocking(move || {
                    in_namespace(session.as_fd(), move || {
                        TcpStream::connect_timeout(&target, DIAL)
                    })
                })
            };
            if let Ok(Ok(Ok(_connected))) = dial.await {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = exited.changed() => {}
            }
            pause = (pause * 3 / 2).min(LONGEST_PAUSE);
        }
    }
    Ok(())
}
