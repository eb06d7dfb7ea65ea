//! The solver: runs steps once, in parallel, and reports what it did.
//!
//! It knows nothing about containers (BuildKit's lesson): a step is a cache
//! key, a name for people, and a job. The job solves its own inputs first (by
//! calling back into the solver, so independent inputs run concurrently), then
//! checks the persistent memo, and only then takes one of the solver's
//! parallelism permits for its real work. Permits are never held while waiting
//! for inputs, so deep graphs cannot deadlock on the limit.
//!
//! Within a process, one key is solved once: concurrent requests share the
//! same in-flight job, and later requests get its result. Across processes,
//! the job itself takes a per-key file lock (see `memo`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::cache_key::CacheKey;
use crate::Error;

/// What a job did to produce its value.
pub enum Outcome<T> {
    /// The work ran.
    Ran(T),
    /// A memoized result was found; nothing ran.
    Cached(T),
}

/// A step as the solver reports it.
#[derive(Clone, Debug)]
pub struct Step {
    /// Numbered in the order steps start, from 1.
    pub number: u64,
    pub key: CacheKey,
    pub name: String,
}

/// What an observer is told, as it happens. A step is `Started`, may wait
/// for a parallelism permit (`Waiting`, then `Running`), may produce
/// `Output` or `Pull` progress, and ends `Cached`, `Finished` or `Failed`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    Started(&'a Step),
    /// Its inputs are ready; it waits for a free parallelism permit.
    Waiting(&'a Step),
    /// It got its permit after waiting.
    Running(&'a Step),
    Cached(&'a Step),
    Finished(&'a Step, Duration),
    Failed(&'a Step, &'a Error),
    /// Output of a running step, as it comes, with every secret masked.
    Output(&'a Step, Stream, &'a [u8]),
    /// Bytes of an image layer arrived.
    Pull(&'a Step, &'a crate::LayerProgress),
}

/// Which of a step's output streams a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

pub type Observer = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// Counts of what the solver did, for summaries and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub ran: usize,
    pub cached: usize,
    pub failed: usize,
}

/// What a job gets: the step it is, a way to report progress, and the
/// parallelism permits to take around its real work.
#[derive(Clone)]
pub struct Job {
    step: Step,
    observer: Option<Observer>,
    permits: Arc<Semaphore>,
}

impl Job {
    /// A job outside any solver, reporting to `observer`: for tests.
    #[cfg(test)]
    pub(crate) fn detached(step: Step, observer: Observer) -> Job {
        Job {
            step,
            observer: Some(observer),
            permits: Arc::new(Semaphore::new(1)),
        }
    }

    pub fn step(&self) -> &Step {
        &self.step
    }

    /// A permit to do real work; reported as waiting when none is free.
    pub async fn acquire(&self) -> OwnedSemaphorePermit {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return permit;
        }
        self.emit(&Event::Waiting(&self.step));
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the solver never closes its semaphore");
        self.emit(&Event::Running(&self.step));
        permit
    }

    /// A chunk of the step's output (already masked).
    pub fn output(&self, stream: Stream, bytes: &[u8]) {
        self.emit(&Event::Output(&self.step, stream, bytes));
    }

    /// Progress of one of the step's image layers.
    pub fn pull(&self, layer: &crate::LayerProgress) {
        self.emit(&Event::Pull(&self.step, layer));
    }

    fn emit(&self, event: &Event<'_>) {
        if let Some(observer) = &self.observer {
            observer(event);
        }
    }
}

type SharedResult<T> = Shared<BoxFuture<'static, Result<T, Arc<Error>>>>;

pub struct Solver<T: Clone + Send + Sync + 'static> {
    steps: Mutex<HashMap<CacheKey, SharedResult<T>>>,
    permits: Arc<Semaphore>,
    observer: Option<Observer>,
    numbers: AtomicU64,
    ran: AtomicUsize,
    cached: AtomicUsize,
    failed: AtomicUsize,
}

impl<T: Clone + Send + Sync + 'static> Solver<T> {
    /// `parallelism`: how many jobs may do real work at once (at least 1).
    pub fn new(parallelism: usize, observer: Option<Observer>) -> Arc<Solver<T>> {
        Arc::new(Solver {
            steps: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(parallelism.max(1))),
            observer,
            numbers: AtomicU64::new(0),
            ran: AtomicUsize::new(0),
            cached: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
        })
    }

    pub fn stats(&self) -> Stats {
        Stats {
            ran: self.ran.load(Ordering::Relaxed),
            cached: self.cached.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    /// The value of step `key`: from this process's memory, from a job already
    /// in flight, or by running `job`. A failed job is forgotten, so a later
    /// request tries again; requests that were already waiting share its error.
    pub async fn solve<F, Fut>(
        self: &Arc<Self>,
        key: CacheKey,
        name: impl Into<String>,
        job: F,
    ) -> Result<T, Arc<Error>>
    where
        F: FnOnce(Job) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Outcome<T>, Error>> + Send + 'static,
    {
        let shared = {
            let mut steps = self.steps.lock().unwrap();
            match steps.get(&key) {
                Some(shared) => shared.clone(),
                None => {
                    let shared = self.start(key, name.into(), job);
                    steps.insert(key, shared.clone());
                    shared
                }
            }
        };
        shared.await
    }

    fn start<F, Fut>(self: &Arc<Self>, key: CacheKey, name: String, job: F) -> SharedResult<T>
    where
        F: FnOnce(Job) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Outcome<T>, Error>> + Send + 'static,
    {
        let step = Step {
            number: self.numbers.fetch_add(1, Ordering::Relaxed) + 1,
            key,
            name,
        };
        let solver = Arc::clone(self);
        let job_context = Job {
            step: step.clone(),
            observer: self.observer.clone(),
            permits: Arc::clone(&self.permits),
        };
        // A task of its own, so the work goes on when the first caller stops
        // waiting while others still wait.
        let task = tokio::spawn(async move {
            solver.emit(&Event::Started(&step));
            let started = Instant::now();
            let result = job(job_context).await;
            solver.finish(&step, started, result)
        });
        async move {
            match task.await {
                Ok(result) => result,
                Err(join_error) => Err(Arc::new(Error::StepPanicked {
                    detail: join_error.to_string(),
                })),
            }
        }
        .boxed()
        .shared()
    }

    fn finish(
        &self,
        step: &Step,
        started: Instant,
        result: Result<Outcome<T>, Error>,
    ) -> Result<T, Arc<Error>> {
        match result {
            Ok(Outcome::Ran(value)) => {
                self.ran.fetch_add(1, Ordering::Relaxed);
                self.emit(&Event::Finished(step, started.elapsed()));
                Ok(value)
            }
            Ok(Outcome::Cached(value)) => {
                self.cached.fetch_add(1, Ordering::Relaxed);
                self.emit(&Event::Cached(step));
                Ok(value)
            }
            Err(error) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.emit(&Event::Failed(step, &error));
                self.steps.lock().unwrap().remove(&step.key);
                Err(Arc::new(error))
            }
        }
    }

    fn emit(&self, event: &Event<'_>) {
        match event {
            Event::Started(step) => {
                tracing::debug!(step = step.number, name = %step.name, key = %step.key.short(), "started")
            }
            Event::Cached(step) => {
                tracing::debug!(step = step.number, name = %step.name, "cache hit")
            }
            Event::Finished(step, took) => {
                tracing::debug!(step = step.number, name = %step.name, ?took, "finished")
            }
            Event::Failed(step, error) => {
                tracing::debug!(step = step.number, name = %step.name, %error, "failed")
            }
            _ => {}
        }
        if let Some(observer) = &self.observer {
            observer(event);
        }
    }
}

#[cfg(test)]
mod tests {
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
        solver: &Arc<Solver<u64>>,
        op: Add,
    ) -> BoxFuture<'static, Result<u64, Arc<Error>>> {
        let solver = Arc::clone(solver);
        async move {
            let inner = Arc::clone(&solver);
            solver
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
        let solver = Solver::new(4, None);
        let (top, runs) = diamond();
        assert_eq!(solve_add(&solver, top.clone()).await.unwrap(), 1112);
        for name in ["base", "left", "right", "top"] {
            assert_eq!(runs[name].load(Ordering::SeqCst), 1, "{name}");
        }
        assert_eq!(solve_add(&solver, top).await.unwrap(), 1112);
        assert_eq!(runs["top"].load(Ordering::SeqCst), 1);
        assert_eq!(
            solver.stats(),
            Stats {
                ran: 4,
                cached: 0,
                failed: 0
            }
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_memoized_step_is_reported_cached_and_runs_nothing() {
        let solver: Arc<Solver<u64>> = Solver::new(2, None);
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = ran.clone();
        let value = solver
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
            solver.stats(),
            Stats {
                ran: 0,
                cached: 1,
                failed: 0
            }
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn identical_concurrent_requests_run_once() {
        let solver: Arc<Solver<u64>> = Solver::new(4, None);
        let runs = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let request = || {
            let (solver, runs, gate) = (solver.clone(), runs.clone(), gate.clone());
            tokio::spawn(async move {
                solver
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
        let solver: Arc<Solver<u64>> = Solver::new(parallelism, None);
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let branch = |name: &'static str| {
            let (solver, barrier) = (solver.clone(), barrier.clone());
            tokio::spawn(async move {
                solver
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
        let solver: Arc<Solver<u64>> = Solver::new(2, None);
        let attempts = Arc::new(AtomicUsize::new(0));
        for expected_attempts in [1, 2] {
            let counter = attempts.clone();
            let error = solver
                .solve(key("fails"), "fails", move |_| async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    Err(Error::StepPanicked {
                        detail: "boom".into(),
                    })
                })
                .await
                .unwrap_err();
            assert!(error.to_string().contains("boom"));
            assert_eq!(attempts.load(Ordering::SeqCst), expected_attempts);
        }
        assert_eq!(solver.stats().failed, 2);
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
        let solver: Arc<Solver<u64>> = Solver::new(1, Some(observer));
        solver
            .solve(key("x"), "x", |_| async { Ok(Outcome::Ran(1)) })
            .await
            .unwrap();
        solver
            .solve(key("y"), "y", |_| async { Ok(Outcome::Cached(1)) })
            .await
            .unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            ["start 1 x", "done x", "start 2 y", "cached y"]
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
        let solver: Arc<Solver<u64>> = Solver::new(1, Some(observer));
        let (held_tx, held_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let holder = {
            let solver = solver.clone();
            tokio::spawn(async move {
                solver
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
            let solver = solver.clone();
            tokio::spawn(async move {
                solver
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
}
