//! The `Worker` actor: runs one attempt at a time through a runner.
//!
//! The run itself is a tokio task, so the worker's mailbox stays free for
//! `Cancel` while an attempt runs; the worker keeps the attempt's
//! [`Control`] (to cancel it, or to kill its process group) and the task's
//! abort handle. When the run ends the worker sends the result to the link
//! and tells its pool it is free (`Done`). If the
//! runner panicked, the worker fails on purpose so the pool's supervision
//! reports the attempt as crashed and replaces the worker. Whenever a worker
//! goes away (stopped, killed or failed) its state is dropped, and dropping
//! a running attempt kills its process group.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::AbortHandle;
use tracing::Instrument;

use crate::attempt::{Assignment, AttemptKey, Failure, Report};
use crate::link::LinkMsg;
use crate::pool::PoolMsg;
use crate::runner::{self, Control};
use crate::work_dir::WorkDirs;

/// A worker's number within its pool (stable for the worker's life).
pub type WorkerId = u64;

pub struct Worker {
    pub id: WorkerId,
    pub pool: ActorRef<PoolMsg>,
    /// Where results go (the pool's link).
    pub link: ActorRef<LinkMsg>,
    pub dirs: Arc<WorkDirs>,
}

pub enum WorkerMsg {
    /// Run this attempt (the pool only sends it to an idle worker).
    Run(Box<Assignment>),
    /// Cancel this attempt if it is the one running.
    Cancel(AttemptKey),
    /// From the task running attempt number `run`: it ended. `Err` carries
    /// the panic message of a runner that panicked.
    Ended {
        run: u64,
        result: Result<Report, String>,
    },
}

#[derive(Default)]
pub struct WorkerState {
    current: Option<CurrentRun>,
    runs: u64,
}

/// The attempt a worker is running. Dropping it stops the attempt for good.
struct CurrentRun {
    run: u64,
    key: AttemptKey,
    control: Control,
    /// The task that runs the attempt and then reports `Ended`.
    running: AbortHandle,
}

impl Drop for CurrentRun {
    fn drop(&mut self) {
        self.control.kill_process_group();
        self.running.abort();
    }
}

impl Actor for Worker {
    type Msg = WorkerMsg;
    type State = WorkerState;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<WorkerMsg>,
        _: (),
    ) -> Result<WorkerState, ActorProcessingErr> {
        Ok(WorkerState::default())
    }

    async fn handle(
        &self,
        myself: ActorRef<WorkerMsg>,
        message: WorkerMsg,
        state: &mut WorkerState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            WorkerMsg::Run(assignment) => self.start_run(myself, state, assignment),
            WorkerMsg::Cancel(key) => match &state.current {
                Some(current) if current.key == key => {
                    tracing::info!(worker = self.id, attempt = %key, "cancelling");
                    current.control.cancel();
                }
                _ => {
                    tracing::debug!(worker = self.id, attempt = %key, "cancel for an attempt this worker does not run")
                }
            },
            WorkerMsg::Ended { run, result } => {
                let Some(current) = state.current.take_if(|current| current.run == run) else {
                    return Ok(()); // a run already abandoned
                };
                let key = current.key.clone();
                drop(current);
                match result {
                    Ok(report) => {
                        // The result goes straight to the link, which sends it
                        // on; the pool only needs to know the worker is free.
                        // Sent in this order, the link has the result before
                        // anything the pool sends after `Done` (its capacity,
                        // `PoolDrained`).
                        let _ = self.link.send_message(LinkMsg::Finished { key, report });
                        let _ = self.pool.send_message(PoolMsg::Done { worker: self.id });
                    }
                    Err(panic) => {
                        return Err(
                            format!("the runner panicked while running {key}: {panic}").into()
                        )
                    }
                }
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<WorkerMsg>,
        state: &mut WorkerState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(current) = state.current.take() {
            tracing::warn!(worker = self.id, attempt = %current.key, "worker stopped mid-attempt; killing it");
        }
        Ok(())
    }
}

impl Worker {
    fn start_run(
        &self,
        myself: ActorRef<WorkerMsg>,
        state: &mut WorkerState,
        assignment: Box<Assignment>,
    ) {
        if let Some(current) = &state.current {
            tracing::error!(worker = self.id, running = %current.key, refused = %assignment.key, "worker got a second attempt");
            let report = Report::failed(Failure::retryable("the worker was busy"), 0);
            let _ = self.link.send_message(LinkMsg::Finished {
                key: assignment.key,
                report,
            });
            return;
        }
        state.runs += 1;
        let run = state.runs;
        let key = assignment.key.clone();
        let control = Control::new();
        let span = tracing::info_span!(
            "attempt",
            execution = %key.execution_id,
            node = %key.node_id,
            attempt = key.attempt,
            worker = self.id
        );
        let attempt = runner::run(self.dirs.clone(), *assignment, control.clone()).instrument(span);
        // One task runs the attempt and reports its end, catching a panic
        // itself: a second task awaiting the first would cost every attempt a
        // wake-up. Aborted (the worker dropped the attempt), it reports nothing.
        let running = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let result = AssertUnwindSafe(attempt)
                .catch_unwind()
                .await
                .map_err(panic_message);
            let outcome = match &result {
                Ok(report) => crate::metrics::outcome_of(report),
                Err(_) => "crashed",
            };
            crate::metrics::METRICS.attempt_ended(outcome, started.elapsed().as_secs_f64());
            let _ = myself.send_message(WorkerMsg::Ended { run, result });
        });
        state.current = Some(CurrentRun {
            run,
            key,
            control,
            running: running.abort_handle(),
        });
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(text) => (*text).to_owned(),
            Err(_) => "a panic without a message".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use baton_model::Value;
    use tokio::sync::mpsc;

    use super::*;
    use crate::attempt::Outcome;
    use crate::test_support::{noop_assignment, sleep_assignment, Forward, LinkInbox};

    struct Fixture {
        _dir: tempfile::TempDir,
        worker: ActorRef<WorkerMsg>,
        link: LinkInbox,
        /// What the worker told its pool.
        pool: mpsc::UnboundedReceiver<PoolMsg>,
    }

    async fn worker() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let dirs = Arc::new(WorkDirs::create(dir.path()).unwrap());
        let (link, inbox) = LinkInbox::spawn().await;
        let (sink, pool_inbox) = mpsc::unbounded_channel();
        let (pool, _) = Actor::spawn(None, Forward { sink }, ()).await.unwrap();
        let worker = Worker {
            id: 7,
            pool,
            link,
            dirs,
        };
        let (worker, _) = Actor::spawn(None, worker, ()).await.unwrap();
        Fixture {
            _dir: dir,
            worker,
            link: inbox,
            pool: pool_inbox,
        }
    }

    impl Fixture {
        fn run(&self, assignment: Assignment) {
            let run = WorkerMsg::Run(Box::new(assignment));
            self.worker.send_message(run).unwrap();
        }

        /// The worker that told the pool it is free.
        async fn done(&mut self) -> WorkerId {
            let message = tokio::time::timeout(Duration::from_secs(5), self.pool.recv())
                .await
                .expect("the worker told its pool it is free")
                .unwrap();
            let PoolMsg::Done { worker } = message else {
                panic!("a worker only ever tells its pool it is done");
            };
            worker
        }
    }

    #[tokio::test]
    async fn a_result_goes_to_the_link_and_the_pool_learns_the_worker_is_free() {
        let mut f = worker().await;
        f.run(noop_assignment("a", 3));
        let (key, report) = f.link.result().await;
        assert_eq!(key.node_id, "a");
        let Outcome::Succeeded(outputs) = report.outcome else {
            panic!("noop failed: {report:?}");
        };
        assert_eq!(outputs.get("x"), Some(&Value::Int(3)));
        assert_eq!(f.done().await, 7);
    }

    #[tokio::test]
    async fn a_second_attempt_while_one_runs_is_refused_as_retryable() {
        let mut f = worker().await;
        f.run(sleep_assignment("a", 0.3));
        f.run(noop_assignment("b", 3));
        let (key, report) = f.link.result().await;
        assert_eq!(key.node_id, "b", "the refusal comes first");
        let Outcome::Failed(failure) = &report.outcome else {
            panic!("the second attempt ran: {report:?}");
        };
        assert!(failure.retryable, "{failure:?}");
        assert!(failure.message.contains("busy"), "{failure:?}");
        let (key, report) = f.link.result().await;
        assert_eq!(key.node_id, "a", "the first attempt still ends");
        assert!(
            matches!(report.outcome, Outcome::Succeeded(_)),
            "{report:?}"
        );
        assert_eq!(f.done().await, 7, "one Done: for the attempt it ran");
        assert!(f.pool.try_recv().is_err());
    }
}
