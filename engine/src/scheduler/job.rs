//! What a job gets from the scheduler: the step it is, a way to report
//! progress, the parallelism permits to take around its real work, and
//! word when nobody wants its result any more.

use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Event, Observer, Step, Stream};

#[derive(Clone)]
pub struct Job {
    pub(super) step: Step,
    pub(super) observer: Option<Observer>,
    pub(super) permits: Arc<Semaphore>,
    pub(super) abandonment: Abandonment,
}

impl Job {
    /// A job outside any scheduler, reporting to `observer`: for tests.
    #[cfg(test)]
    pub(crate) fn detached(step: Step, observer: Observer) -> Job {
        Job {
            step,
            observer: Some(observer),
            permits: Arc::new(Semaphore::new(1)),
            abandonment: Abandonment::default(),
        }
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
            .expect("the scheduler never closes its semaphore");
        self.emit(&Event::Running(&self.step));
        permit
    }

    /// A chunk of the step's output (already masked).
    pub fn output(&self, stream: Stream, bytes: &[u8]) {
        self.emit(&Event::Output(&self.step, stream, bytes));
    }

    /// Progress of one of the step's image layers.
    pub fn pull(&self, layer: &crate::pull::LayerProgress) {
        self.emit(&Event::Pull(&self.step, layer));
    }

    /// Runs `stop` when every caller that wanted this step has gone (at once
    /// if they already have). The scheduler drops the job's future then, but
    /// work on other threads — a running process — only stops through this.
    pub fn on_abandon(&self, stop: impl FnOnce() + Send + 'static) {
        self.abandonment.on_abandon(Box::new(stop));
    }

    /// How a [`side_job`](super::Scheduler::side_job) ended: done after
    /// `took`, or failed.
    pub fn ended(&self, outcome: Result<std::time::Duration, &crate::error::Error>) {
        match outcome {
            Ok(took) => self.emit(&Event::Finished(&self.step, took)),
            Err(error) => self.emit(&Event::Failed(&self.step, error)),
        }
    }

    fn emit(&self, event: &Event<'_>) {
        if let Some(observer) = &self.observer {
            observer(event);
        }
    }
}

type Stop = Box<dyn FnOnce() + Send>;

/// Whether a step was abandoned, and what to run when it is.
#[derive(Clone, Default)]
pub(super) struct Abandonment(Arc<Mutex<AbandonState>>);

#[derive(Default)]
struct AbandonState {
    abandoned: bool,
    stops: Vec<Stop>,
}

impl Abandonment {
    fn on_abandon(&self, stop: Stop) {
        let mut state = self.0.lock().unwrap();
        if state.abandoned {
            drop(state);
            stop();
        } else {
            state.stops.push(stop);
        }
    }

    /// Runs every registered stop, once.
    pub(super) fn abandon(&self) {
        let stops = {
            let mut state = self.0.lock().unwrap();
            state.abandoned = true;
            std::mem::take(&mut state.stops)
        };
        for stop in stops {
            stop();
        }
    }
}
