//! The scheduler: runs steps once, in parallel, and reports what it did.
//!
//! It knows nothing about containers (BuildKit's lesson): a step is a cache
//! key, a name for people, and a job. The job solves its own inputs first (by
//! calling back into the scheduler, so independent inputs run concurrently), then
//! checks the persistent memo, and only then takes one of the scheduler's
//! parallelism permits for its real work. Permits are never held while waiting
//! for inputs, so deep graphs cannot deadlock on the limit.
//!
//! Within a process, one key is solved once: concurrent requests share the
//! same in-flight job, and later requests get its result. Across processes,
//! the job itself takes a per-key file lock (see `memo`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::sync::Semaphore;

mod job;

use job::Abandonment;
pub use job::Job;

use crate::cache_key::CacheKey;
use crate::error::Error;

/// What a job did to produce its value.
pub enum Outcome<T> {
    /// The work ran.
    Ran(T),
    /// A memoized result was found; nothing ran.
    Cached(T),
    /// The result was fetched from a registry cache; nothing ran.
    Fetched(T),
}

/// A step as the scheduler reports it.
#[derive(Clone, Debug)]
pub struct Step {
    /// Numbered in the order steps start, from 1.
    pub number: u64,
    pub key: CacheKey,
    pub name: String,
}

/// What an observer is told, as it happens. A step is `Started`, may wait
/// for a parallelism permit (`Waiting`, then `Running`), may produce
/// `Output` or `Pull` progress, and ends `Cached`, `Finished`, `Failed`, or
/// `Abandoned` when nobody wants it any more.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    Started(&'a Step),
    /// Its inputs are ready; it waits for a free parallelism permit.
    Waiting(&'a Step),
    /// It got its permit after waiting.
    Running(&'a Step),
    Cached(&'a Step),
    /// Its result came from a registry cache (`--cache-from`): nothing ran.
    Fetched(&'a Step),
    Finished(&'a Step, Duration),
    Failed(&'a Step, &'a Error),
    /// Output of a running step, as it comes, with every secret masked.
    Output(&'a Step, Stream, &'a [u8]),
    /// Bytes of an image layer arrived.
    Pull(&'a Step, &'a crate::pull::LayerProgress),
    /// Every caller gave up on it before it ended: it was cancelled.
    Abandoned(&'a Step),
}

/// Which of a step's output streams a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

pub type Observer = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// Counts of what the scheduler did, for summaries and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub ran: usize,
    pub cached: usize,
    pub failed: usize,
}

type SharedResult<T> = Shared<BoxFuture<'static, Result<T, Arc<Error>>>>;

/// A step this process has started: in flight, or solved and remembered.
struct Entry<T> {
    /// Tells this entry from a later one for the same key.
    id: u64,
    result: SharedResult<T>,
    /// Callers awaiting `result` now.
    waiters: usize,
    step: Step,
    task: tokio::task::AbortHandle,
    abandonment: Abandonment,
    /// Set by whoever reports the step's end first: its task, or its
    /// abandonment.
    ended: Arc<AtomicBool>,
}

pub struct Scheduler<T: Clone + Send + Sync + 'static> {
    steps: Mutex<HashMap<CacheKey, Entry<T>>>,
    permits: Arc<Semaphore>,
    observer: Option<Observer>,
    numbers: AtomicU64,
    ran: AtomicUsize,
    cached: AtomicUsize,
    failed: AtomicUsize,
}

impl<T: Clone + Send + Sync + 'static> Scheduler<T> {
    /// `parallelism`: how many jobs may do real work at once (at least 1).
    pub fn new(parallelism: usize, observer: Option<Observer>) -> Arc<Scheduler<T>> {
        Arc::new(Scheduler {
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
    ///
    /// Dropping the returned future gives up on the step: when every caller
    /// has, before it is done, the job is cancelled (its future dropped, its
    /// [`Job::on_abandon`] hooks run) and forgotten, and so, in turn, are
    /// the inputs that only it wanted.
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
        let (result, _waiter) = {
            let mut steps = self.steps.lock().unwrap();
            let entry = steps
                .entry(key)
                .or_insert_with(|| self.start(key, name.into(), job));
            entry.waiters += 1;
            let waiter = Waiter {
                scheduler: Arc::clone(self),
                key,
                id: entry.id,
            };
            (entry.result.clone(), waiter)
        };
        result.await
    }

    /// A job outside single flight, numbered and reported as started like
    /// a step: a service's start (`ops::service`), which is no result to
    /// share. Its caller reports how it ended ([`Job::ended`]).
    pub fn side_job(&self, key: CacheKey, name: String) -> Job {
        let step = Step {
            number: self.numbers.fetch_add(1, Ordering::Relaxed) + 1,
            key,
            name,
        };
        self.emit(&Event::Started(&step));
        Job {
            step,
            observer: self.observer.clone(),
            permits: Arc::clone(&self.permits),
            abandonment: Abandonment::default(),
        }
    }

    fn start<F, Fut>(self: &Arc<Self>, key: CacheKey, name: String, job: F) -> Entry<T>
    where
        F: FnOnce(Job) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Outcome<T>, Error>> + Send + 'static,
    {
        let id = self.numbers.fetch_add(1, Ordering::Relaxed) + 1;
        let step = Step {
            number: id,
            key,
            name,
        };
        let scheduler = Arc::clone(self);
        let abandonment = Abandonment::default();
        let ended = Arc::new(AtomicBool::new(false));
        let job_context = Job {
            step: step.clone(),
            observer: self.observer.clone(),
            permits: Arc::clone(&self.permits),
            abandonment: abandonment.clone(),
        };
        let (task_step, task_ended) = (step.clone(), Arc::clone(&ended));
        // A task of its own, so the work goes on when the first caller stops
        // waiting while others still wait.
        let task = tokio::spawn(async move {
            scheduler.emit(&Event::Started(&task_step));
            let started = Instant::now();
            let result = job(job_context).await;
            scheduler.finish(id, &task_step, started, result, &task_ended)
        });
        let abort = task.abort_handle();
        let result = async move {
            match task.await {
                Ok(result) => result,
                Err(join_error) if join_error.is_cancelled() => Err(Arc::new(Error::Abandoned)),
                Err(source) => Err(Arc::new(Error::StepPanicked { source })),
            }
        }
        .boxed()
        .shared();
        Entry {
            id,
            result,
            waiters: 0,
            step,
            task: abort,
            abandonment,
            ended,
        }
    }

    fn finish(
        &self,
        id: u64,
        step: &Step,
        started: Instant,
        result: Result<Outcome<T>, Error>,
        ended: &AtomicBool,
    ) -> Result<T, Arc<Error>> {
        let report = !ended.swap(true, Ordering::SeqCst);
        match result {
            Ok(Outcome::Ran(value)) => {
                if report {
                    self.ran.fetch_add(1, Ordering::Relaxed);
                    self.emit(&Event::Finished(step, started.elapsed()));
                }
                Ok(value)
            }
            Ok(Outcome::Cached(value)) => {
                if report {
                    self.cached.fetch_add(1, Ordering::Relaxed);
                    self.emit(&Event::Cached(step));
                }
                Ok(value)
            }
            Ok(Outcome::Fetched(value)) => {
                if report {
                    self.cached.fetch_add(1, Ordering::Relaxed);
                    self.emit(&Event::Fetched(step));
                }
                Ok(value)
            }
            Err(error) => {
                if report {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    self.emit(&Event::Failed(step, &error));
                }
                self.forget(step.key, id);
                Err(Arc::new(error))
            }
        }
    }

    /// Removes entry `id` of `key`, if it is still the one there.
    fn forget(&self, key: CacheKey, id: u64) -> Option<Entry<T>> {
        let mut steps = self.steps.lock().unwrap();
        match steps.get(&key) {
            Some(entry) if entry.id == id => steps.remove(&key),
            _ => None,
        }
    }

    /// A caller of entry `id` of `key` stopped waiting (answered, or gave up).
    fn leave(&self, key: CacheKey, id: u64) {
        let abandoned = {
            let mut steps = self.steps.lock().unwrap();
            let Some(entry) = steps.get_mut(&key).filter(|e| e.id == id) else {
                return;
            };
            entry.waiters -= 1;
            if entry.waiters > 0 || entry.result.peek().is_some() {
                return;
            }
            steps.remove(&key).expect("the entry is there")
        };
        abandoned.task.abort();
        abandoned.abandonment.abandon();
        if !abandoned.ended.swap(true, Ordering::SeqCst) {
            self.emit(&Event::Abandoned(&abandoned.step));
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
            Event::Fetched(step) => {
                tracing::debug!(step = step.number, name = %step.name, "registry cache hit")
            }
            Event::Finished(step, took) => {
                tracing::debug!(step = step.number, name = %step.name, ?took, "finished")
            }
            Event::Failed(step, error) => {
                tracing::debug!(step = step.number, name = %step.name, %error, "failed")
            }
            Event::Abandoned(step) => {
                tracing::debug!(step = step.number, name = %step.name, "abandoned: nobody waits for it")
            }
            _ => {}
        }
        if let Some(observer) = &self.observer {
            observer(event);
        }
    }
}

/// One caller awaiting a step; dropping it tells the scheduler.
struct Waiter<T: Clone + Send + Sync + 'static> {
    scheduler: Arc<Scheduler<T>>,
    key: CacheKey,
    id: u64,
}

impl<T: Clone + Send + Sync + 'static> Drop for Waiter<T> {
    fn drop(&mut self) {
        self.scheduler.leave(self.key, self.id);
    }
}

#[cfg(test)]
mod tests;
