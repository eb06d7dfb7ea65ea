//! The scheduler tested with arithmetic fake ops and call counters.

use super::*;
use crate::cache_key::KeyBuilder;
use std::sync::atomic::AtomicUsize;

fn key(name: &str) -> CacheKey {
    KeyBuilder::new("test.v1").str("name", name).finish()
}

/// A fake op: adds its inputs' values to its own, counting runs.
#[derive(Clone)]
struct Add {
    name: &'static str,
    own: u64,
    inputs: Vec<Add>,
    runs: Arc<HashMap<&'static str, AtomicUsize>>,
}

fn solve_add(
    scheduler: &Arc<Scheduler<u64>>,
    op: Add,
) -> BoxFuture<'static, Result<u64, Arc<Error>>> {
    let scheduler = Arc::clone(scheduler);
    async move {
        let inner = Arc::clone(&scheduler);
        scheduler
            .solve(key(op.name), op.name, move |job| async move {
                let inputs = op.inputs.iter().map(|i| solve_add(&inner, i.clone()));
                let mut sum = op.own;
                for value in futures::future::join_all(inputs).await {
                    sum += value.map_err(Error::Shared)?;
                }
                let _permit = job.acquire().await;
                op.runs[op.name].fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok(Outcome::Ran(sum))
            })
            .await
    }
    .boxed()
}

fn diamond() -> (Add, Arc<HashMap<&'static str, AtomicUsize>>) {
    let runs: Arc<HashMap<_, _>> = Arc::new(
        ["base", "left", "right", "top"]
            .into_iter()
            .map(|n| (n, AtomicUsize::new(0)))
            .collect(),
    );
    let base = Add {
        name: "base",
        own: 1,
        inputs: vec![],
        runs: runs.clone(),
    };
    let left = Add {
        name: "left",
        own: 10,
        inputs: vec![base.clone()],
        runs: runs.clone(),
    };
    let right = Add {
        name: "right",
        own: 100,
        inputs: vec![base],
        runs: runs.clone(),
    };
    let top = Add {
        name: "top",
        own: 1000,
        inputs: vec![left, right],
        runs: runs.clone(),
    };
    (top, runs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_input_runs_once_and_a_solved_step_runs_zero_times_again() {
    let scheduler = Scheduler::new(4, None);
    let (top, runs) = diamond();
    assert_eq!(solve_add(&scheduler, top.clone()).await.unwrap(), 1112);
    for name in ["base", "left", "right", "top"] {
        assert_eq!(runs[name].load(Ordering::SeqCst), 1, "{name}");
    }
    assert_eq!(solve_add(&scheduler, top).await.unwrap(), 1112);
    assert_eq!(runs["top"].load(Ordering::SeqCst), 1);
    assert_eq!(
        scheduler.stats(),
        Stats {
            ran: 4,
            cached: 0,
            failed: 0
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memoized_step_is_reported_cached_and_runs_nothing() {
    let scheduler: Arc<Scheduler<u64>> = Scheduler::new(2, None);
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = ran.clone();
    let value = scheduler
        .solve(key("memo"), "memo", move |_| async move {
            // What a job does when the store already has its result.
            let _ = counter;
            Ok(Outcome::Cached(7))
        })
        .await
        .unwrap();
    assert_eq!(value, 7);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(
        scheduler.stats(),
        Stats {
            ran: 0,
            cached: 1,
            failed: 0
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_requests_run_once() {
    let scheduler: Arc<Scheduler<u64>> = Scheduler::new(4, None);
    let runs = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Notify::new());
    let request = || {
        let (scheduler, runs, gate) = (scheduler.clone(), runs.clone(), gate.clone());
        tokio::spawn(async move {
            scheduler
                .solve(key("same"), "same", move |_| async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    gate.notified().await;
                    Ok(Outcome::Ran(42))
                })
                .await
        })
    };
    let (a, b) = (request(), request());
    // Both requests are in before the job may finish.
    while runs.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    gate.notify_one();
    assert_eq!(a.await.unwrap().unwrap(), 42);
    assert_eq!(b.await.unwrap().unwrap(), 42);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// Two branches that can only both finish if they run at the same time.
async fn branches_meet(parallelism: usize) -> bool {
    let scheduler: Arc<Scheduler<u64>> = Scheduler::new(parallelism, None);
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let branch = |name: &'static str| {
        let (scheduler, barrier) = (scheduler.clone(), barrier.clone());
        tokio::spawn(async move {
            scheduler
                .solve(key(name), name, move |job| async move {
                    let _permit = job.acquire().await;
                    barrier.wait().await;
                    Ok(Outcome::Ran(1))
                })
                .await
        })
    };
    let both = futures::future::join(branch("a"), branch("b"));
    tokio::time::timeout(Duration::from_secs(2), both)
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_branches_overlap_in_time_up_to_the_limit() {
    assert!(
        branches_meet(2).await,
        "two permits: the branches run together"
    );
    assert!(
        !branches_meet(1).await,
        "one permit: the branches must not overlap"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_is_shared_by_waiters_and_forgotten_for_later_requests() {
    let scheduler: Arc<Scheduler<u64>> = Scheduler::new(2, None);
    let attempts = Arc::new(AtomicUsize::new(0));
    for expected_attempts in [1, 2] {
        let counter = attempts.clone();
        let error = scheduler
            .solve(key("fails"), "fails", move |_| async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Err(Error::NotFound {
                    path: "boom".into(),
                })
            })
            .await
            .unwrap_err();
        assert!(error.to_string().contains("boom"));
        assert_eq!(attempts.load(Ordering::SeqCst), expected_attempts);
    }
    assert_eq!(scheduler.stats().failed, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observer_sees_every_step_with_its_number() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let observer: Observer = Arc::new(move |event| {
        let line = match event {
            Event::Started(s) => format!("start {} {}", s.number, s.name),
            Event::Cached(s) => format!("cached {}", s.name),
            Event::Finished(s, _) => format!("done {}", s.name),
            Event::Failed(s, _) => format!("failed {}", s.name),
            _ => return,
        };
        log.lock().unwrap().push(line);
    });
    let scheduler: Arc<Scheduler<u64>> = Scheduler::new(1, Some(observer));
    scheduler
        .solve(key("x"), "x", |_| async { Ok(Outcome::Ran(1)) })
        .await
        .unwrap();
    scheduler
        .solve(key("y"), "y", |_| async { Ok(Outcome::Cached(1)) })
        .await
        .unwrap();
    // A side job (a service's start) is numbered among them, its end told
    // by its caller; the same key twice is two jobs.
    scheduler
        .side_job(key("s"), "s".into())
        .ended(Ok(Duration::ZERO));
    scheduler
        .side_job(key("s"), "s".into())
        .ended(Err(&Error::Abandoned));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "start 1 x",
            "done x",
            "start 2 y",
            "cached y",
            "start 3 s",
            "done s",
            "start 4 s",
            "failed s"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_reports_waiting_for_a_permit_and_its_output() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let observer: Observer = Arc::new(move |event| {
        let line = match event {
            Event::Waiting(s) => format!("waiting {}", s.name),
            Event::Running(s) => format!("running {}", s.name),
            Event::Output(s, Stream::Stdout, bytes) => {
                format!("{} says {}", s.number, String::from_utf8_lossy(bytes))
            }
            _ => return,
        };
        log.lock().unwrap().push(line);
    });
    let scheduler: Arc<Scheduler<u64>> = Scheduler::new(1, Some(observer));
    let (held_tx, held_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let holder = {
        let scheduler = scheduler.clone();
        tokio::spawn(async move {
            scheduler
                .solve(key("holder"), "holder", move |job| async move {
                    let _permit = job.acquire().await;
                    job.output(Stream::Stdout, b"hi");
                    let _ = held_tx.send(());
                    let _ = release_rx.await;
                    Ok(Outcome::Ran(1))
                })
                .await
        })
    };
    held_rx.await.unwrap();
    let waiter = {
        let scheduler = scheduler.clone();
        tokio::spawn(async move {
            scheduler
                .solve(key("waiter"), "waiter", |job| async move {
                    let _permit = job.acquire().await;
                    Ok(Outcome::Ran(2))
                })
                .await
        })
    };
    while !seen.lock().unwrap().iter().any(|l| l == "waiting waiter") {
        tokio::task::yield_now().await;
    }
    release_tx.send(()).unwrap();
    holder.await.unwrap().unwrap();
    waiter.await.unwrap().unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        ["1 says hi", "waiting waiter", "running waiter"]
    );
}

/// A job that never ends on its own; says when it started and when it was
/// abandoned.
fn endless(
    started: Arc<tokio::sync::Notify>,
    stopped: Arc<AtomicUsize>,
) -> impl FnOnce(Job) -> BoxFuture<'static, Result<Outcome<u64>, Error>> {
    move |job| {
        async move {
            job.on_abandon(move || {
                stopped.fetch_add(1, Ordering::SeqCst);
            });
            started.notify_one();
            futures::future::pending::<()>().await;
            Ok(Outcome::Ran(0))
        }
        .boxed()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_nobody_waits_for_is_cancelled_with_the_inputs_only_it_wanted() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let observer: Observer = Arc::new(move |event| {
        if let Event::Abandoned(s) = event {
            log.lock().unwrap().push(s.name.clone());
        }
    });
    let scheduler: Arc<Scheduler<u64>> = Scheduler::new(2, Some(observer));
    let (input_started, stopped) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(AtomicUsize::new(0)),
    );
    let outer = {
        let (scheduler, input_started, stopped) =
            (scheduler.clone(), input_started.clone(), stopped.clone());
        tokio::spawn(async move {
            let inner = scheduler.clone();
            scheduler
                .solve(key("outer"), "outer", move |job| async move {
                    let counter = stopped.clone();
                    job.on_abandon(move || {
                        counter.fetch_add(1, Ordering::SeqCst);
                    });
                    let input = inner
                        .solve(key("input"), "input", endless(input_started, stopped))
                        .await
                        .map_err(Error::Shared)?;
                    Ok(Outcome::Ran(input + 1))
                })
                .await
        })
    };
    input_started.notified().await;
    outer.abort();
    let _ = outer.await;
    // The input hears of it once the aborted job's future has been dropped.
    let both_told = async {
        while stopped.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), both_told)
        .await
        .expect("both jobs are told they were abandoned");
    let mut abandoned = seen.lock().unwrap().clone();
    abandoned.sort();
    assert_eq!(abandoned, ["input", "outer"]);

    // Forgotten: the next request starts it again, and it can finish.
    let value = scheduler
        .solve(key("input"), "input", |_| async { Ok(Outcome::Ran(5)) })
        .await
        .unwrap();
    assert_eq!(value, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_goes_on_while_one_caller_still_waits() {
    let scheduler: Arc<Scheduler<u64>> = Scheduler::new(2, None);
    let (started, stopped) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(AtomicUsize::new(0)),
    );
    let gate = Arc::new(tokio::sync::Notify::new());
    let job = {
        let (started, stopped, gate) = (started.clone(), stopped.clone(), gate.clone());
        move |job: Job| async move {
            job.on_abandon(move || {
                stopped.fetch_add(1, Ordering::SeqCst);
            });
            started.notify_one();
            gate.notified().await;
            Ok(Outcome::Ran(9))
        }
    };
    let first = {
        let scheduler = scheduler.clone();
        tokio::spawn(async move { scheduler.solve(key("shared"), "shared", job).await })
    };
    started.notified().await;
    let second = {
        let scheduler = scheduler.clone();
        tokio::spawn(async move {
            scheduler
                .solve(key("shared"), "shared", |_| async { Ok(Outcome::Ran(0)) })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    first.abort();
    let _ = first.await;
    gate.notify_one();
    assert_eq!(second.await.unwrap().unwrap(), 9);
    assert_eq!(stopped.load(Ordering::SeqCst), 0);
}
