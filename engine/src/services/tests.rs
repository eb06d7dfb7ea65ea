//! The services' lifetimes with fake starts: no namespace, no process.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::cache_key::KeyBuilder;

fn key(name: &str) -> CacheKey {
    KeyBuilder::new("test.service.v1")
        .str("name", name)
        .finish()
}

/// A running service with no process: its cancel flag, and the sender
/// that says it exited.
fn fake() -> (Arc<Running>, executor::Cancel, watch::Sender<Option<Exit>>) {
    let (said, exited) = watch::channel(None);
    let cancel = executor::Cancel::default();
    let netns = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
    let attachment = Attachment::unmanaged(netns, Ipv4Addr::new(10, 87, 0, 2));
    let running = Running::new(
        attachment.address,
        "svc".into(),
        cancel.clone(),
        exited,
        vec![Box::new(attachment)],
    );
    (Arc::new(running), cancel, said)
}

#[tokio::test]
async fn concurrent_binders_share_one_start() {
    let services = Services::default();
    let starts = AtomicUsize::new(0);
    let (running, cancel, _said) = fake();
    let start = || async {
        starts.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(Arc::clone(&running))
    };
    let (one, two) = tokio::join!(
        services.bind(key("db"), start),
        services.bind(key("db"), start)
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(starts.load(Ordering::SeqCst), 1);
    assert!(Arc::ptr_eq(one.running(), two.running()));
    drop(one);
    assert!(!cancel.is_cancelled(), "another binder still holds it");
}

#[tokio::test]
async fn a_failed_start_is_not_kept() {
    let services = Services::default();
    let starts = AtomicUsize::new(0);
    let (running, _cancel, _said) = fake();
    let start = || async {
        match starts.fetch_add(1, Ordering::SeqCst) {
            0 => Err(Error::NoPortsExposed {
                service: "db".into(),
            }),
            _ => Ok(Arc::clone(&running)),
        }
    };
    assert!(services.bind(key("db"), start).await.is_err());
    assert!(services.bind(key("db"), start).await.is_ok());
    assert_eq!(starts.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_service_found_exited_is_started_afresh() {
    let services = Services::default();
    let starts = AtomicUsize::new(0);
    let (first, _, said) = fake();
    let (second, _, _said) = fake();
    let start = || async {
        Ok(match starts.fetch_add(1, Ordering::SeqCst) {
            0 => Arc::clone(&first),
            _ => Arc::clone(&second),
        })
    };
    let held = services.bind(key("db"), start).await.unwrap();
    said.send(Some(Exit {
        code: 1,
        output: String::new(),
    }))
    .unwrap();
    let again = services.bind(key("db"), start).await.unwrap();
    assert!(Arc::ptr_eq(again.running(), &second));
    drop(held);
}

#[tokio::test]
async fn stop_ends_a_kept_service_and_dropping_the_services_ends_them_all() {
    let services = Services::default();
    let (kept, kept_cancel, kept_said) = fake();
    let (bound, bound_cancel, _said2) = fake();
    let binding = services
        .bind(key("kept"), || async { Ok(Arc::clone(&kept)) })
        .await
        .unwrap();
    services.keep(binding);
    let held = services
        .bind(key("bound"), || async { Ok(Arc::clone(&bound)) })
        .await
        .unwrap();
    // It has exited already: stop does not wait.
    kept_said
        .send(Some(Exit {
            code: 0,
            output: String::new(),
        }))
        .unwrap();
    services.stop(&key("kept"), true).await;
    assert!(kept_cancel.is_cancelled());
    assert!(!bound_cancel.is_cancelled());
    drop(services);
    assert!(bound_cancel.is_cancelled(), "held, but the engine is gone");
    drop(held);
}

#[test]
fn a_service_asked_to_stop_is_not_killed_when_let_go() {
    let (running, cancel, said) = fake();
    running.terminate();
    // The grace timer's stop lets go of the service at once: its SIGTERM
    // must have its time.
    drop(running);
    assert!(!cancel.is_cancelled());
    // Once it has exited, its stopper ends (and kills what is left).
    said.send(Some(Exit {
        code: 0,
        output: String::new(),
    }))
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !cancel.is_cancelled() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
}
