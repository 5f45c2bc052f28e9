//! The `Pool` actor: owns the executor's slots and its `Worker` actors.
//!
//! Assignments from the link go to an idle worker, or wait in a queue when
//! none is idle (the scheduler should not over-assign, but nothing is
//! dropped). A worker sends its result to the link itself and tells the
//! pool it is free (`Done`). The pool resizes live: growing spawns workers,
//! shrinking stops idle workers first and retires busy ones after their
//! attempt. It supervises its workers: a
//! worker that dies mid-attempt becomes a retryable "worker crashed" result
//! and is replaced. When draining it takes nothing new, finishes what it
//! has, stops its workers, tells the link (`PoolDrained`) and stops.
//! After every message it tells the link its capacity (slots, free slots).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, MessagingErr, SupervisionEvent};

use crate::attempt::{Assignment, AttemptKey, Failure, Report};
use crate::link::LinkMsg;
use crate::work_dir::WorkDirs;
use crate::worker::{Worker, WorkerId, WorkerMsg};

/// How long stopping the pool waits for each worker to stop.
const WORKER_STOP_LIMIT: Duration = Duration::from_secs(5);

pub struct Pool {
    pub link: ActorRef<LinkMsg>,
    pub dirs: Arc<WorkDirs>,
}

pub struct PoolArgs {
    pub workers: u32,
}

pub enum PoolMsg {
    Assign(Box<Assignment>),
    Cancel(AttemptKey),
    /// Grow or shrink to this many workers, without dropping running work.
    Resize(u32),
    /// Take nothing new, finish what is running and queued, then stop.
    Drain,
    /// From a worker: its attempt ended (the worker sent the result to the link).
    Done {
        worker: WorkerId,
    },
}

pub struct PoolState {
    workers: BTreeMap<WorkerId, WorkerEntry>,
    queue: VecDeque<Box<Assignment>>,
    target: u32,
    next_worker: WorkerId,
    draining: bool,
    /// Drained and stopping: worker exits are expected from now on.
    finished: bool,
    last_capacity: Option<(u32, u32)>,
}

struct WorkerEntry {
    actor: ActorRef<WorkerMsg>,
    busy: Option<AttemptKey>,
    /// Leaves the pool once its current attempt is done.
    retiring: bool,
}

impl WorkerEntry {
    fn is_available(&self) -> bool {
        self.busy.is_none() && !self.retiring
    }
}

impl Actor for Pool {
    type Msg = PoolMsg;
    type State = PoolState;
    type Arguments = PoolArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<PoolMsg>,
        args: PoolArgs,
    ) -> Result<PoolState, ActorProcessingErr> {
        let mut state = PoolState {
            workers: BTreeMap::new(),
            queue: VecDeque::new(),
            target: args.workers,
            next_worker: 1,
            draining: false,
            finished: false,
            last_capacity: None,
        };
        self.reconcile(&myself, &mut state).await?;
        Ok(state)
    }

    async fn post_start(
        &self,
        myself: ActorRef<PoolMsg>,
        state: &mut PoolState,
    ) -> Result<(), ActorProcessingErr> {
        self.settle(&myself, state);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<PoolMsg>,
        message: PoolMsg,
        state: &mut PoolState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PoolMsg::Assign(assignment) => self.accept(state, assignment),
            PoolMsg::Cancel(key) => self.cancel(state, key),
            PoolMsg::Resize(workers) => {
                tracing::info!(
                    from = state.target,
                    to = workers,
                    "resizing the worker pool"
                );
                state.target = workers;
                self.reconcile(&myself, state).await?;
            }
            PoolMsg::Drain => {
                if !state.draining {
                    tracing::info!(
                        running = state.busy_count(),
                        queued = state.queue.len(),
                        "draining"
                    );
                    state.draining = true;
                }
            }
            PoolMsg::Done { worker } => {
                if let Some(entry) = state.workers.get_mut(&worker) {
                    // A worker runs one attempt at a time and is sent another
                    // only once idle, so its `Done` is for the attempt it holds.
                    entry.busy = None;
                    if entry.retiring {
                        entry.actor.stop(Some("retired".into()));
                        state.workers.remove(&worker);
                    }
                }
            }
        }
        self.settle(&myself, state);
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<PoolMsg>,
        event: SupervisionEvent,
        state: &mut PoolState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match event {
            SupervisionEvent::ActorFailed(cell, error) => (cell, error.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.unwrap_or_else(|| "it stopped".to_owned()))
            }
            _ => return Ok(()),
        };
        if state.finished {
            return Ok(());
        }
        self.worker_exited(state, &cell, &why);
        self.reconcile(&myself, state).await?;
        self.settle(&myself, state);
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<PoolMsg>,
        state: &mut PoolState,
    ) -> Result<(), ActorProcessingErr> {
        state.finished = true;
        for (id, entry) in std::mem::take(&mut state.workers) {
            if let Some(key) = &entry.busy {
                tracing::warn!(worker = id, attempt = %key, "stopping a worker mid-attempt");
            }
            let _ = entry
                .actor
                .stop_and_wait(Some("executor stopping".into()), Some(WORKER_STOP_LIMIT))
                .await;
        }
        Ok(())
    }
}

impl Pool {
    fn accept(&self, state: &mut PoolState, assignment: Box<Assignment>) {
        let key = assignment.key.clone();
        if state.draining {
            tracing::info!(attempt = %key, "refusing an assignment while draining");
            let failure =
                Failure::handed_back("the executor is draining; the attempt was not started");
            self.report(key, Report::failed(failure, 0));
            return;
        }
        let known = state
            .workers
            .values()
            .any(|w| w.busy.as_ref() == Some(&key))
            || state.queue.iter().any(|queued| queued.key == key);
        if known {
            tracing::warn!(attempt = %key, "ignoring a duplicate assignment");
            return;
        }
        tracing::debug!(attempt = %key, "assigned");
        state.queue.push_back(assignment);
    }

    fn cancel(&self, state: &mut PoolState, key: AttemptKey) {
        if let Some(entry) = state
            .workers
            .values()
            .find(|w| w.busy.as_ref() == Some(&key))
        {
            let _ = entry.actor.send_message(WorkerMsg::Cancel(key));
        } else if let Some(position) = state.queue.iter().position(|queued| queued.key == key) {
            state.queue.remove(position);
            tracing::info!(attempt = %key, "cancelled before it started");
            self.report(key, Report::failed(Failure::cancelled(), 0));
        } else {
            tracing::debug!(attempt = %key, "cancel for an attempt this executor does not hold");
        }
    }

    fn report(&self, key: AttemptKey, report: Report) {
        let _ = self.link.send_message(LinkMsg::Finished { key, report });
    }

    /// Forgets an exited worker; its attempt, if any, is reported as crashed.
    fn worker_exited(&self, state: &mut PoolState, cell: &ActorCell, why: &str) {
        let id = cell.get_id();
        let Some(worker) = state
            .workers
            .iter()
            .find(|(_, w)| w.actor.get_id() == id)
            .map(|(id, _)| *id)
        else {
            return; // a worker already removed (retired)
        };
        let Some(entry) = state.workers.remove(&worker) else {
            return;
        };
        match entry.busy {
            Some(key) => {
                tracing::error!(worker, attempt = %key, reason = why, "worker crashed mid-attempt; replacing it");
                let failure = Failure::retryable(format!("worker crashed: {why}"));
                self.report(key, Report::failed(failure, 0));
            }
            None => tracing::warn!(worker, reason = why, "idle worker exited; replacing it"),
        }
    }

    /// Brings the number of active (non-retiring) workers to the target.
    async fn reconcile(
        &self,
        myself: &ActorRef<PoolMsg>,
        state: &mut PoolState,
    ) -> Result<(), ActorProcessingErr> {
        let mut active = state.active_count();
        // Growing: keep retiring workers first, then spawn new ones.
        for entry in state.workers.values_mut() {
            if active >= state.target {
                break;
            }
            if entry.retiring && entry.busy.is_some() {
                entry.retiring = false;
                active += 1;
            }
        }
        while active < state.target {
            let id = state.next_worker;
            state.next_worker += 1;
            let worker = Worker {
                id,
                pool: myself.clone(),
                link: self.link.clone(),
                dirs: self.dirs.clone(),
            };
            let (actor, _) = Actor::spawn_linked(None, worker, (), myself.get_cell()).await?;
            state.workers.insert(
                id,
                WorkerEntry {
                    actor,
                    busy: None,
                    retiring: false,
                },
            );
            active += 1;
        }
        // Shrinking: stop idle workers first, then retire busy ones.
        let mut excess = active.saturating_sub(state.target);
        let idle: Vec<WorkerId> = state
            .workers
            .iter()
            .filter(|(_, w)| w.is_available())
            .map(|(id, _)| *id)
            .collect();
        for id in idle.into_iter().take(excess as usize) {
            if let Some(entry) = state.workers.remove(&id) {
                entry.actor.stop(Some("pool shrunk".into()));
                excess -= 1;
            }
        }
        for entry in state.workers.values_mut().filter(|w| !w.retiring) {
            if excess == 0 {
                break;
            }
            entry.retiring = true;
            excess -= 1;
        }
        Ok(())
    }

    /// After every change: hand queued work to idle workers, publish the
    /// capacity, and finish a drain that has nothing left to do.
    fn settle(&self, myself: &ActorRef<PoolMsg>, state: &mut PoolState) {
        self.dispatch(state);
        let capacity = state.capacity();
        let metrics = &crate::metrics::METRICS;
        metrics.workers.set(i64::from(capacity.0));
        metrics.busy.set(state.busy_count() as i64);
        if state.last_capacity != Some(capacity) {
            state.last_capacity = Some(capacity);
            let (slots, free) = capacity;
            let _ = self.link.send_message(LinkMsg::Capacity { slots, free });
        }
        if state.draining && !state.finished && state.queue.is_empty() && state.busy_count() == 0 {
            state.finished = true;
            for entry in std::mem::take(&mut state.workers).into_values() {
                entry.actor.stop(Some("drained".into()));
            }
            tracing::info!("drained: no attempt left");
            let _ = self.link.send_message(LinkMsg::PoolDrained);
            myself.stop(Some("drained".into()));
        }
    }

    fn dispatch(&self, state: &mut PoolState) {
        while !state.queue.is_empty() {
            let Some(entry) = state.workers.values_mut().find(|w| w.is_available()) else {
                return;
            };
            let Some(assignment) = state.queue.pop_front() else {
                return;
            };
            let key = assignment.key.clone();
            match entry.actor.send_message(WorkerMsg::Run(assignment)) {
                Ok(()) => {
                    entry.busy = Some(key.clone());
                    let _ = self.link.send_message(LinkMsg::Started(key));
                }
                Err(MessagingErr::SendErr(WorkerMsg::Run(assignment))) => {
                    // The worker is gone; its exit event will replace it.
                    entry.retiring = true;
                    state.queue.push_front(assignment);
                }
                Err(error) => {
                    entry.retiring = true;
                    let failure = Failure::retryable(format!("worker unavailable: {error}"));
                    self.report(key, Report::failed(failure, 0));
                }
            }
        }
    }
}

impl PoolState {
    fn active_count(&self) -> u32 {
        self.workers.values().filter(|w| !w.retiring).count() as u32
    }

    fn busy_count(&self) -> usize {
        self.workers.values().filter(|w| w.busy.is_some()).count()
    }

    /// (slots, free slots): free is zero while draining.
    fn capacity(&self) -> (u32, u32) {
        let slots = self.active_count();
        let idle = self.workers.values().filter(|w| w.is_available()).count();
        let free = if self.draining {
            0
        } else {
            idle.saturating_sub(self.queue.len()) as u32
        };
        (slots, free)
    }
}

#[cfg(test)]
mod tests;
