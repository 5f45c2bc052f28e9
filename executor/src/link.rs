//! The `Link` actor: the executor's one connection to the scheduler
//! (DESIGN.md §5) and the root of its actors (it spawns and supervises the
//! `Pool`).
//!
//! A session is a tokio task that dials an address, opens the `Session`
//! stream with `RegisterExecutor` as its first message, and turns every
//! inbound `SchedulerMessage` into a [`LinkMsg::Inbound`] tagged with the
//! session number, so messages of a dead session are recognised and ignored.
//! Outbound messages go through an mpsc channel the request stream reads
//! from: the actor never awaits the network, and tonic writes out whatever
//! has queued up together. The channel is unbounded: what can queue is
//! bounded by the assigned attempts (the results are kept until acknowledged
//! anyway) plus one heartbeat per interval, and a dead connection is found
//! by HTTP/2 keep-alive and replaced.
//!
//! `Assign`, `Cancel` and `Drain` go to the pool; `Started`, results and a
//! `Heartbeat` every interval go to the scheduler. Results stay buffered
//! until a `ResultAck` names them and are all re-sent after a reconnect. A
//! `NotLeader` answer sends the link to the leader it names (or the next
//! configured address); a lost stream or a failed dial is retried with
//! jittered exponential backoff, cycling through the configured addresses.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_proto::executor_message::Kind as Outbound;
use baton_proto::scheduler_message::Kind as Inbound;
use baton_proto::{ExecutorMessage, SchedulerMessage};
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

mod backoff;
mod session;

pub use backoff::{backoff_delay, INITIAL_BACKOFF, MAX_BACKOFF};

use crate::attempt::{Assignment, AttemptKey, BadAssignment, Failure, Report};
use crate::error::ExecutorError;
use crate::pool::{Pool, PoolArgs, PoolMsg};
use crate::runner::RUNNER_KINDS;
use crate::work_dir::WorkDirs;

/// Leader redirects followed at once before backoff applies (a guard
/// against two nodes naming each other).
const IMMEDIATE_REDIRECTS: u32 = 2;

/// What the link is configured with.
#[derive(Clone, Debug)]
pub struct LinkSettings {
    pub executor_id: String,
    pub pool: String,
    pub labels: BTreeMap<String, String>,
    /// The most workers the scheduler may resize it to.
    pub max_workers: u32,
    pub schedulers: Vec<String>,
    pub heartbeat_interval: Duration,
    pub connect_timeout: Duration,
    /// How long a drained executor waits for its last results to be acknowledged.
    pub drain_grace: Duration,
    /// Ids of earlier executors of this work directory, whose logs it serves.
    pub earlier_ids: Vec<String>,
    /// Whether this executor was given a blob store of its own; if not, it
    /// writes to the one the scheduler advertises.
    pub own_blob_store: bool,
    /// How to reach S3 (the scheduler may add the endpoint and region).
    pub s3: crate::blob::S3Options,
}

/// How the executor ended, for [`crate::ExecutorHandle::wait`].
#[derive(Debug, Default)]
pub struct ExitReport {
    clean: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl ExitReport {
    fn fail(&self, why: String) {
        if let Ok(mut failure) = self.failure.lock() {
            failure.get_or_insert(why);
        }
    }

    /// `Ok` if the link stopped on purpose (drained or shut down).
    pub fn outcome(&self) -> Result<(), ExecutorError> {
        if let Some(why) = self.failure.lock().ok().and_then(|failure| failure.clone()) {
            return Err(ExecutorError::Crashed(why));
        }
        if !self.clean.load(Ordering::SeqCst) {
            return Err(ExecutorError::Crashed("the link actor failed".into()));
        }
        Ok(())
    }
}

pub struct Link {
    pub settings: LinkSettings,
    pub dirs: Arc<WorkDirs>,
    pub exit: Arc<ExitReport>,
}

pub struct LinkArgs {
    pub workers: u32,
}

pub enum LinkMsg {
    /// Dial the next address (sent by the reconnect timer).
    Connect,
    /// A session's stream is open; messages for the scheduler go to `outbound`.
    Connected {
        session: u64,
        outbound: mpsc::UnboundedSender<ExecutorMessage>,
    },
    ConnectFailed {
        session: u64,
        error: ExecutorError,
    },
    Inbound {
        session: u64,
        message: Box<SchedulerMessage>,
    },
    /// A session's stream ended (`error` is `None` when the scheduler closed it).
    Closed {
        session: u64,
        error: Option<String>,
    },
    HeartbeatTick,
    /// From the pool: a worker started this attempt.
    Started(AttemptKey),
    /// From the pool: this attempt ended.
    Finished {
        key: AttemptKey,
        report: Report,
    },
    /// From the pool: its slots and free slots.
    Capacity {
        slots: u32,
        free: u32,
    },
    /// From the pool: drained; it stops next.
    PoolDrained,
    /// From the embedding program: resize the worker pool.
    Resize(u32),
    /// From the embedding program (or the scheduler): drain, then stop.
    Drain,
    /// The drained executor waited long enough for acknowledgements.
    DrainGraceOver,
}

pub struct LinkState {
    pool: ActorRef<PoolMsg>,
    /// The number of the latest session (each dial is a new session).
    session_counter: u64,
    session: Option<Session>,
    /// Index into the configured addresses of the next one to dial.
    next_address: usize,
    /// A leader named by a follower: dialled next.
    leader_hint: Option<String>,
    /// Failed dials, lost streams and redirects since the last registration.
    failures: u32,
    running: BTreeSet<AttemptKey>,
    unacked: BTreeMap<AttemptKey, baton_proto::AttemptResult>,
    slots: u32,
    free_slots: u32,
    draining: bool,
    pool_drained: bool,
    heartbeat: Option<JoinHandle<()>>,
    reconnect: Option<JoinHandle<Result<(), ractor::MessagingErr<LinkMsg>>>>,
}

/// One dial of one address; dropping it closes the stream.
struct Session {
    id: u64,
    address: String,
    task: JoinHandle<()>,
    /// Set once the stream is open.
    outbound: Option<mpsc::UnboundedSender<ExecutorMessage>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where to dial after losing a session.
enum Retry {
    /// The leader a follower named: at once (for the first few redirects).
    Leader(String),
    /// The next configured address, after backoff.
    Next,
}

impl Actor for Link {
    type Msg = LinkMsg;
    type State = LinkState;
    type Arguments = LinkArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<LinkMsg>,
        args: LinkArgs,
    ) -> Result<LinkState, ActorProcessingErr> {
        let pool = Pool {
            link: myself.clone(),
            dirs: self.dirs.clone(),
        };
        let (pool, _) = Actor::spawn_linked(
            None,
            pool,
            PoolArgs {
                workers: args.workers,
            },
            myself.get_cell(),
        )
        .await?;
        Ok(LinkState {
            pool,
            session_counter: 0,
            session: None,
            next_address: 0,
            leader_hint: None,
            failures: 0,
            running: BTreeSet::new(),
            unacked: BTreeMap::new(),
            slots: args.workers,
            free_slots: args.workers,
            draining: false,
            pool_drained: false,
            heartbeat: None,
            reconnect: None,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<LinkMsg>,
        state: &mut LinkState,
    ) -> Result<(), ActorProcessingErr> {
        let interval = self.settings.heartbeat_interval;
        state.heartbeat = Some(myself.send_interval(interval, || LinkMsg::HeartbeatTick));
        self.connect(&myself, state);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<LinkMsg>,
        message: LinkMsg,
        state: &mut LinkState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            LinkMsg::Connect => self.connect(&myself, state),
            LinkMsg::Connected { session, outbound } => self.on_connected(state, session, outbound),
            LinkMsg::ConnectFailed { session, error } => {
                if state.is_current(session) {
                    let delay = self.lose_session(&myself, state, Retry::Next);
                    tracing::warn!(%error, retry_in = ?delay, "cannot reach the scheduler; retrying");
                }
            }
            LinkMsg::Inbound { session, message } => {
                if state.is_current(session) {
                    self.on_inbound(&myself, state, *message);
                }
            }
            LinkMsg::Closed { session, error } => {
                if state.is_current(session) {
                    let address = state
                        .session
                        .as_ref()
                        .map(|s| s.address.clone())
                        .unwrap_or_default();
                    let delay = self.lose_session(&myself, state, Retry::Next);
                    let error = error.unwrap_or_else(|| "the scheduler closed the stream".into());
                    tracing::warn!(scheduler = %address, %error, retry_in = ?delay, "lost the scheduler stream; reconnecting");
                }
            }
            LinkMsg::HeartbeatTick => self.heartbeat(state),
            LinkMsg::Started(key) => {
                self.send(state, Outbound::Started((&key).into()));
            }
            LinkMsg::Finished { key, report } => self.record_result(state, key, report),
            LinkMsg::Capacity { slots, free } => {
                let resized = slots != state.slots;
                state.slots = slots;
                state.free_slots = free;
                if resized {
                    self.heartbeat(state);
                }
            }
            LinkMsg::PoolDrained => {
                state.pool_drained = true;
                if !self.finish_drain_if_done(&myself, state) {
                    tracing::info!(
                        unacknowledged = state.unacked.len(),
                        "drained; waiting for the last acknowledgements"
                    );
                    myself.send_after(self.settings.drain_grace, || LinkMsg::DrainGraceOver);
                }
            }
            LinkMsg::Resize(workers) => {
                let _ = state.pool.send_message(PoolMsg::Resize(workers));
            }
            LinkMsg::Drain => self.begin_drain(state),
            LinkMsg::DrainGraceOver => {
                tracing::warn!(
                    unacknowledged = state.unacked.len(),
                    "stopping with results the scheduler did not acknowledge"
                );
                myself.stop(Some("drained".into()));
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<LinkMsg>,
        event: SupervisionEvent,
        state: &mut LinkState,
    ) -> Result<(), ActorProcessingErr> {
        let why = match event {
            SupervisionEvent::ActorFailed(cell, error) if cell.get_id() == state.pool.get_id() => {
                format!("the pool actor failed: {error}")
            }
            SupervisionEvent::ActorTerminated(cell, _, reason)
                if cell.get_id() == state.pool.get_id() =>
            {
                if state.draining {
                    return Ok(()); // expected: `PoolDrained` (in the mailbox) finishes the drain
                }
                format!("the pool actor stopped: {}", reason.unwrap_or_default())
            }
            _ => return Ok(()),
        };
        tracing::error!(reason = %why, "stopping the executor");
        self.exit.fail(why);
        myself.stop(Some("pool failed".into()));
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<LinkMsg>,
        state: &mut LinkState,
    ) -> Result<(), ActorProcessingErr> {
        state.session = None;
        if let Some(timer) = state.heartbeat.take() {
            timer.abort();
        }
        if let Some(timer) = state.reconnect.take() {
            timer.abort();
        }
        let _ = state
            .pool
            .stop_and_wait(
                Some("executor stopping".into()),
                Some(Duration::from_secs(10)),
            )
            .await;
        self.exit.clean.store(true, Ordering::SeqCst);
        tracing::info!(executor = %self.settings.executor_id, "executor stopped");
        Ok(())
    }
}

impl LinkState {
    fn is_current(&self, session: u64) -> bool {
        self.session.as_ref().is_some_and(|s| s.id == session)
    }
}

impl Link {
    /// Writes blobs where the scheduler says (unless told otherwise at
    /// start), and offloads above its inline limit.
    fn adopt_blob_store(&self, advertised: &baton_proto::BlobStoreSettings) {
        let blobs = self.dirs.blobs();
        let limit = match advertised.inline_limit {
            0 => blobs.inline_limit(),
            n => n,
        };
        if self.settings.own_blob_store
            || advertised.url.is_empty()
            || advertised.url == blobs.store().url()
        {
            blobs.replace_limit(limit);
            return;
        }
        let s3 = self
            .settings
            .s3
            .or_advertised(&advertised.s3_endpoint, &advertised.s3_region);
        match crate::blob::BlobStore::open(&advertised.url, &s3) {
            Ok(store) => {
                tracing::info!(blob_store = %store.url(), inline_limit = limit, "using the scheduler's blob store");
                blobs.replace(store, limit);
            }
            Err(error) => {
                tracing::error!(%error, "cannot use the blob store the scheduler advertises; keeping {}", blobs.store().url());
                blobs.replace_limit(limit);
            }
        }
    }

    /// Dials the leader named last, else the next configured address.
    fn connect(&self, myself: &ActorRef<LinkMsg>, state: &mut LinkState) {
        if state.session.is_some() {
            return;
        }
        let address = match state.leader_hint.take() {
            Some(leader) => leader,
            None => {
                let schedulers = &self.settings.schedulers;
                schedulers[state.next_address % schedulers.len()].clone()
            }
        };
        state.session_counter += 1;
        let id = state.session_counter;
        let register = self.register_message(state);
        tracing::debug!(scheduler = %address, session = id, "dialling the scheduler");
        let task = tokio::spawn(session::run_session(
            address.clone(),
            register,
            id,
            myself.clone(),
            self.settings.connect_timeout,
        ));
        state.session = Some(Session {
            id,
            address,
            task,
            outbound: None,
        });
    }

    fn register_message(&self, state: &LinkState) -> ExecutorMessage {
        let settings = &self.settings;
        ExecutorMessage {
            kind: Some(Outbound::Register(baton_proto::RegisterExecutor {
                executor_id: settings.executor_id.clone(),
                pool: settings.pool.clone(),
                labels: settings
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                slots: state.slots,
                runners: RUNNER_KINDS.iter().map(|kind| kind.to_string()).collect(),
                protocol_version: baton_proto::PROTOCOL_VERSION,
                running: state.running.iter().map(Into::into).collect(),
                earlier_ids: settings.earlier_ids.clone(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                max_slots: settings.max_workers,
            })),
        }
    }

    fn on_connected(
        &self,
        state: &mut LinkState,
        session: u64,
        outbound: mpsc::UnboundedSender<ExecutorMessage>,
    ) {
        let Some(current) = state.session.as_mut().filter(|s| s.id == session) else {
            return;
        };
        current.outbound = Some(outbound);
        tracing::info!(
            scheduler = %current.address,
            executor = %self.settings.executor_id,
            running = state.running.len(),
            unacknowledged = state.unacked.len(),
            "connected to the scheduler"
        );
        let pending: Vec<baton_proto::AttemptResult> = state.unacked.values().cloned().collect();
        for result in pending {
            if !self.send(state, Outbound::Result(result)) {
                break;
            }
        }
    }

    /// Answers a `ReadLog` from the attempt's log file, off the actor (the
    /// file may be large, and the disk slow).
    fn read_log(&self, state: &LinkState, read: baton_proto::ReadLog) {
        let Some(outbound) = state.session.as_ref().and_then(|s| s.outbound.clone()) else {
            return;
        };
        let path = read
            .attempt
            .as_ref()
            .map(|attempt| self.dirs.log_path(&AttemptKey::from(attempt)));
        tokio::spawn(async move {
            let mut chunk = baton_proto::LogChunk {
                request: read.request,
                ..Default::default()
            };
            match path {
                None => chunk.error = "the request names no attempt".into(),
                Some(path) => match crate::work_dir::read_log(&path, read.offset, read.limit).await
                {
                    Ok((data, size)) => {
                        chunk.data = data;
                        chunk.size = size;
                    }
                    Err(why) => chunk.error = why,
                },
            }
            let _ = outbound.send(ExecutorMessage {
                kind: Some(Outbound::LogChunk(chunk)),
            });
        });
    }

    fn on_inbound(
        &self,
        myself: &ActorRef<LinkMsg>,
        state: &mut LinkState,
        message: SchedulerMessage,
    ) {
        let Some(kind) = message.kind else {
            tracing::debug!("ignoring an empty scheduler message");
            return;
        };
        match kind {
            Inbound::Registered(registered) => {
                state.failures = 0;
                let scheduler = state
                    .session
                    .as_ref()
                    .map(|s| s.address.clone())
                    .unwrap_or_default();
                tracing::info!(%scheduler, lease_ms = registered.lease_ms, "registered with the scheduler");
                if let Some(advertised) = &registered.blob_store {
                    self.adopt_blob_store(advertised);
                }
                if registered.protocol_version != baton_proto::PROTOCOL_VERSION {
                    tracing::warn!(
                        ours = baton_proto::PROTOCOL_VERSION,
                        theirs = registered.protocol_version,
                        "the scheduler speaks another protocol version"
                    );
                }
                self.heartbeat(state);
            }
            Inbound::NotLeader(not_leader) => {
                let leader = not_leader.leader_address;
                let retry = if leader.is_empty() {
                    Retry::Next
                } else {
                    Retry::Leader(leader.clone())
                };
                let delay = self.lose_session(myself, state, retry);
                tracing::info!(%leader, retry_in = ?delay, "the scheduler is not the leader; redialling");
            }
            Inbound::Assign(assign) => self.on_assign(state, &assign),
            Inbound::Cancel(attempt) => {
                let key = AttemptKey::from(&attempt);
                tracing::info!(attempt = %key, "the scheduler cancels an attempt");
                let _ = state.pool.send_message(PoolMsg::Cancel(key));
            }
            Inbound::Drain(_) => {
                tracing::info!("the scheduler asks this executor to drain");
                self.begin_drain(state)
            }
            Inbound::Resize(resize) => {
                let workers = resize.workers.clamp(1, self.settings.max_workers.max(1));
                if workers != state.slots && !state.draining {
                    tracing::info!(
                        from = state.slots,
                        to = workers,
                        "the scheduler resizes this executor"
                    );
                    let _ = state.pool.send_message(PoolMsg::Resize(workers));
                }
            }
            Inbound::ReadLog(read) => self.read_log(state, read),
            Inbound::Ack(ack) => {
                for attempt in &ack.attempts {
                    state.unacked.remove(&AttemptKey::from(attempt));
                }
                self.finish_drain_if_done(myself, state);
            }
        }
    }

    fn on_assign(&self, state: &mut LinkState, assign: &baton_proto::Assign) {
        let assignment = match Assignment::try_from(assign) {
            Ok(assignment) => assignment,
            Err(BadAssignment {
                key: Some(key),
                reason,
            }) => {
                tracing::warn!(attempt = %key, %reason, "refusing a bad assignment");
                let failure = Failure::permanent(format!("bad assignment: {reason}"));
                self.record_result(state, key, Report::failed(failure, 0));
                return;
            }
            Err(BadAssignment { key: None, reason }) => {
                tracing::warn!(%reason, "ignoring an assignment without an attempt");
                return;
            }
        };
        if let Some(result) = state.unacked.get(&assignment.key).cloned() {
            tracing::info!(attempt = %assignment.key, "assigned an attempt already finished; re-sending its result");
            self.send(state, Outbound::Result(result));
            return;
        }
        if !state.running.insert(assignment.key.clone()) {
            tracing::warn!(attempt = %assignment.key, "ignoring a duplicate assignment");
            return;
        }
        if let Err(error) = state
            .pool
            .send_message(PoolMsg::Assign(Box::new(assignment)))
        {
            tracing::error!(%error, "the pool is gone; cannot run an assignment");
        }
    }

    fn record_result(&self, state: &mut LinkState, key: AttemptKey, report: Report) {
        state.running.remove(&key);
        match report.failure() {
            None => tracing::info!(attempt = %key, "attempt succeeded"),
            Some(failure) => tracing::info!(
                attempt = %key,
                error = %failure.message,
                retryable = failure.retryable,
                timed_out = failure.timed_out,
                "attempt failed"
            ),
        }
        let result = report.to_proto(&key);
        state.unacked.insert(key, result.clone());
        self.send(state, Outbound::Result(result));
    }

    fn heartbeat(&self, state: &LinkState) {
        let free_slots = if state.draining { 0 } else { state.free_slots };
        self.send(
            state,
            Outbound::Heartbeat(baton_proto::Heartbeat {
                free_slots,
                draining: state.draining,
                slots: state.slots,
            }),
        );
    }

    fn begin_drain(&self, state: &mut LinkState) {
        if state.draining {
            return;
        }
        tracing::info!(
            running = state.running.len(),
            "draining: taking nothing new"
        );
        state.draining = true;
        let _ = state.pool.send_message(PoolMsg::Drain);
        self.heartbeat(state);
    }

    /// Stops the link once the pool is drained and every result acknowledged.
    fn finish_drain_if_done(&self, myself: &ActorRef<LinkMsg>, state: &LinkState) -> bool {
        let done = state.pool_drained && state.unacked.is_empty();
        if done {
            tracing::info!("drained and every result acknowledged");
            myself.stop(Some("drained".into()));
        }
        done
    }

    /// Queues `message` for the scheduler; false when there is no open stream
    /// (the message then waits: results stay buffered, the rest is re-derived).
    fn send(&self, state: &LinkState, message: Outbound) -> bool {
        let Some(outbound) = state.session.as_ref().and_then(|s| s.outbound.as_ref()) else {
            return false;
        };
        // An error means the session task ended: its `Closed` is on the way.
        outbound
            .send(ExecutorMessage {
                kind: Some(message),
            })
            .is_ok()
    }

    /// Drops the current session and schedules the next dial; returns the delay.
    fn lose_session(
        &self,
        myself: &ActorRef<LinkMsg>,
        state: &mut LinkState,
        retry: Retry,
    ) -> Duration {
        state.session = None;
        state.failures = state.failures.saturating_add(1);
        let delay = match retry {
            Retry::Leader(leader) => {
                state.leader_hint = Some(leader);
                if state.failures <= IMMEDIATE_REDIRECTS {
                    Duration::ZERO
                } else {
                    backoff_delay(state.failures, backoff::random_unit())
                }
            }
            Retry::Next => {
                state.next_address = state.next_address.wrapping_add(1);
                backoff_delay(state.failures, backoff::random_unit())
            }
        };
        if let Some(timer) = state.reconnect.take() {
            timer.abort();
        }
        state.reconnect = Some(myself.send_after(delay, || LinkMsg::Connect));
        delay
    }
}
