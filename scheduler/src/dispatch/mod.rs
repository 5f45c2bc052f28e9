//! The leader's dispatcher (DESIGN.md §5): hands queued nodes to executors
//! with free slots, records their results, and re-queues the attempts of
//! executors whose lease ran out.
//!
//! One task owns all dispatch state ([`book::DispatchBook`]); everything
//! reaches it as an [`Input`] on one channel: effects of applied commands,
//! executor connections and messages, the outcome of its own proposals, and
//! leadership changes. A node is dispatched once its upstream nodes have
//! succeeded: their results are committed, or received and on their way
//! into the log ahead of the node's own assignment (see
//! [`Dispatcher::start_downstream`]); the `Assign` is sent while its own log
//! entry is in flight (see [`Dispatcher::place`]). Heartbeats never enter the
//! log (liveness is leader memory).

pub mod autoscale;
pub mod book;
mod control;
mod gates;
mod inputs;
mod placing;
mod proposing;
mod results;
mod retention;
pub mod share;
mod spans;
pub mod stats;

pub use control::{DispatchView, ExecutorView, SharedView};
pub(crate) use spans::ends_spans;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use baton_model::value::{values_from_proto, values_to_proto};
use baton_model::{Identifier, Values};
use baton_proto::scheduler_message::Kind as ToExecutor;
use baton_proto::{attempt_result, AttemptRef, AttemptResult, SchedulerMessage};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use self::book::{DispatchBook, NodeKey, Placement};
use crate::compiler::CompiledWorkflow;
use crate::engine::readiness::{self, RunView};
use crate::engine::{path, pool};
use crate::error::{ErrorCode, SchedulerError};
use crate::proposer::Proposer;
use crate::state::{
    check_outputs, Command, Effect, Execution, ExecutionId, ExecutionPhase, NodePhase, Response,
    SchedulerState,
};

/// How long an assignment already sent to its executor may wait for
/// company before it is proposed on its own (and so a launch whose first
/// nodes were placed). A short task's result usually comes back within it,
/// and then the assignment and the result share one log entry: one commit
/// per node instead of two, in a chain or for a single task (W2, W3), and
/// one commit for a launch and its first node's result. A long task's
/// assignment is recorded this much later, which changes nothing it does;
/// a launch is acknowledged this much later.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(2);

/// The outbound half of an executor's stream.
pub type ExecutorSender = mpsc::UnboundedSender<Result<SchedulerMessage, tonic::Status>>;

pub enum Input {
    Effect(Effect),
    Connected {
        executor: String,
        pool: String,
        labels: std::collections::BTreeMap<String, String>,
        version: String,
        slots: u32,
        max_slots: u32,
        connection: u64,
        running: Vec<AttemptRef>,
        sender: ExecutorSender,
    },
    Heartbeat {
        executor: String,
        /// `None` for a message that only shows it is alive (`Started`).
        draining: Option<bool>,
        /// Its workers now; 0 when it does not say.
        slots: u32,
    },
    Result {
        executor: String,
        result: AttemptResult,
    },
    Disconnected {
        executor: String,
        connection: u64,
    },
    /// The outcome of proposing a batch of assignments (with the attempt
    /// number each was sent under), under the leadership epoch that
    /// proposed them.
    Assigned(u64, Vec<((Placement, AttemptRef), Option<Response>)>),
    /// Results whose recording failed, to propose again (under the
    /// leadership epoch that first proposed them).
    RetryResults(u64, Vec<(String, AttemptRef, Command)>),
    /// Successful results whose log entry is settled (committed or not):
    /// their outputs are no longer provisional.
    Recorded(Vec<(NodeKey, u32)>),
    /// A launch to propose, whose first nodes start at once (see
    /// [`Dispatcher::start_launch`]); the reply is its response once
    /// committed.
    Launch(Box<NumberedLaunch>, LaunchReply),
    /// These launches' entry is settled (committed or not).
    Launched(Vec<ExecutionId>),
    /// This node became leader (its state is current) or stopped being it.
    Leader(bool),
}

#[derive(Clone)]
pub struct DispatcherHandle {
    tx: mpsc::UnboundedSender<Input>,
}

impl DispatcherHandle {
    pub fn send(&self, input: Input) {
        let _ = self.tx.send(input);
    }

    /// Proposes a numbered launch with its first nodes' work and waits for
    /// the state machine's response.
    pub async fn launch(&self, launch: NumberedLaunch) -> Result<Response, SchedulerError> {
        let (reply, response) = oneshot::channel();
        self.send(Input::Launch(Box::new(launch), reply));
        response.await.map_err(|_| {
            SchedulerError::unavailable("the scheduler is shutting down; the launch was not made")
        })?
    }
}

/// A launch under a number its leader reserved, so that its execution id is
/// known before it commits.
pub struct NumberedLaunch {
    pub id: ExecutionId,
    pub workflow: Arc<CompiledWorkflow>,
    /// As checked and completed with defaults: what the launch records.
    pub inputs: Values,
    pub pool: String,
    /// The [`Command::LaunchNumbered`] to propose (maybe [`Command::Traced`]).
    pub command: Command,
    /// The trace its execution continues, when the leader exports traces.
    pub trace: Option<baton_telemetry::TraceParent>,
}

type LaunchReply = oneshot::Sender<Result<Response, SchedulerError>>;

/// A launch whose entry is not settled yet, known to the dispatcher so that
/// its first nodes can run before it commits.
struct Launching {
    workflow: Arc<CompiledWorkflow>,
    inputs: Values,
    request_id: String,
    /// Whether one of its first nodes has been placed on an executor.
    placed: bool,
    trace: Option<baton_telemetry::TraceParent>,
}

/// Something the dispatcher did that the log must record.
// Results are most of them (and as large inline as they were as tuples);
// boxing them would cost an allocation per result.
#[allow(clippy::large_enum_variant)]
enum Pending {
    /// An assignment sent to its executor, under this attempt.
    Assign(Placement, AttemptRef),
    /// A result received from an executor; `provisional` when its outputs
    /// are in [`Dispatcher::provisional`].
    Result {
        executor: String,
        attempt: AttemptRef,
        command: Command,
        provisional: bool,
    },
    /// A launch, ahead of its first nodes' assignments.
    Launch {
        id: ExecutionId,
        command: Command,
        reply: LaunchReply,
    },
}

/// A proposed [`Pending`], waiting for its response: the command has gone
/// into the entry (a result keeps a copy, to propose again on failure).
#[allow(clippy::large_enum_variant)]
enum Proposed {
    Assign(Placement, AttemptRef),
    Result {
        executor: String,
        attempt: AttemptRef,
        command: Command,
        provisional: bool,
    },
    Launch {
        id: ExecutionId,
        reply: LaunchReply,
    },
}

pub struct DispatcherConfig {
    /// How long an executor may stay silent (or an attempt unconfirmed)
    /// before its attempts run again elsewhere.
    pub lease: Duration,
    /// How long an assignment waits for a result to share its log entry
    /// ([`DEFAULT_LINGER`]).
    pub linger: Duration,
    /// Where the dispatcher publishes its pools and executors.
    pub view: SharedView,
    /// What it records for the metrics endpoint.
    pub instruments: crate::metrics::Instruments,
    /// How long finished executions stay when their project sets nothing.
    pub retention: crate::state::retention::Retention,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub fn start(
    config: DispatcherConfig,
    state: Arc<RwLock<SchedulerState>>,
    proposer: Proposer,
    handle: &DispatcherHandle,
    inbox: DispatcherInbox,
) {
    let dispatcher = Dispatcher {
        lease_ms: config.lease.as_millis() as u64,
        linger: config.linger,
        state,
        proposer,
        book: DispatchBook::new(config.lease.as_millis() as u64),
        senders: HashMap::new(),
        task_protos: HashMap::new(),
        leader: false,
        self_tx: handle.tx.clone(),
        pending: Vec::new(),
        pending_results: 0,
        assigns_due: None,
        provisional: HashMap::new(),
        early: HashSet::new(),
        launching: HashMap::new(),
        launch_requests: HashSet::new(),
        pending_launches: 0,
        epoch: 0,
        settings_dirty: false,
        told_to_drain: HashSet::new(),
        sent_sizes: HashMap::new(),
        desired: Default::default(),
        view: config.view,
        view_due_ms: 0,
        autoscale_memory: Default::default(),
        autoscale_due_ms: 0,
        gates: Default::default(),
        instruments: config.instruments,
        retention: config.retention,
        sweep_due_ms: 0,
        expiring: Default::default(),
        spans: Default::default(),
    };
    tokio::spawn(dispatcher.run(inbox.0));
}

/// The dispatcher's input channel. It is made before the dispatcher, which needs the cluster,
/// because the cluster's effect sink feeds it from the first applied entry on.
pub fn channel() -> (DispatcherHandle, DispatcherInbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    (DispatcherHandle { tx }, DispatcherInbox(rx))
}

/// The receiving end of [`channel`], handed to [`start`].
pub struct DispatcherInbox(mpsc::UnboundedReceiver<Input>);

struct Dispatcher {
    lease_ms: u64,
    linger: Duration,
    state: Arc<RwLock<SchedulerState>>,
    proposer: Proposer,
    book: DispatchBook,
    senders: HashMap<String, ExecutorSender>,
    /// Wire form of each task, built once.
    task_protos: HashMap<Identifier, Arc<baton_proto::TaskSpec>>,
    leader: bool,
    self_tx: mpsc::UnboundedSender<Input>,
    /// Assignments sent and results received, not yet proposed, in the
    /// order they happened: the order they must take in the log.
    pending: Vec<Pending>,
    /// How many of `pending` are results.
    pending_results: usize,
    /// When the oldest pending assignment is to be proposed even alone.
    assigns_due: Option<Instant>,
    /// Outputs of successful results proposed and not yet settled, for
    /// nodes with downstream nodes, by node (with the attempt).
    provisional: HashMap<NodeKey, (u32, Values)>,
    /// Nodes placed before the state queued them (`start_downstream`,
    /// `start_launch`), until it does or their assignment is refused.
    early: HashSet<NodeKey>,
    /// Launches not yet settled, by execution id (`start_launch`).
    launching: HashMap<ExecutionId, Launching>,
    /// Their request ids (those that have one).
    launch_requests: HashSet<String>,
    /// How many of `pending` are launches.
    pending_launches: usize,
    /// Counts leadership changes. Results that failed to commit are retried
    /// only under the leadership that proposed them: within one term the
    /// log keeps proposal order, which is what lets a result be proposed
    /// before its assignment has committed.
    epoch: u64,
    /// Pool settings, drain orders or executors changed since
    /// `apply_settings` last ran.
    settings_dirty: bool,
    /// Executors sent `Drain` on this leadership (per connection).
    told_to_drain: HashSet<String>,
    /// The worker count last sent to each executor of a scaled pool.
    sent_sizes: HashMap<String, u32>,
    /// Each executor's worker count under its pool's desired size.
    desired: std::collections::BTreeMap<String, u32>,
    view: SharedView,
    /// When the published view and drain deadlines are next looked at.
    view_due_ms: u64,
    /// What the autoscaler remembers of each autoscaled pool, and when it
    /// next looks.
    autoscale_memory: autoscale::Memories,
    autoscale_due_ms: u64,
    /// Deadlines of the gates that wait for a signal with a timeout.
    gates: gates::GateTimers,
    instruments: crate::metrics::Instruments,
    /// The default retention, and when the next retention sweep is due.
    retention: crate::state::retention::Retention,
    sweep_due_ms: u64,
    /// Whether an `Expire` this leader proposed is still on its way.
    expiring: Arc<std::sync::atomic::AtomicBool>,
    /// Trace spans of the nodes and attempts this leader dispatched.
    spans: spans::Spans,
}

impl Dispatcher {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Input>) {
        let tick = Duration::from_millis((self.lease_ms / 4).clamp(20, 1000));
        loop {
            let now = now_ms();
            let mut wake = self.book.next_wakeup_ms().map_or(tick, |t| {
                Duration::from_millis(t.saturating_sub(now)).min(tick)
            });
            if let Some(due) = self.assigns_due {
                wake = wake.min(due.saturating_duration_since(Instant::now()));
            }
            if let Some(deadline) = self.gates.next_ms().filter(|_| self.leader) {
                wake = wake.min(Duration::from_millis(deadline.saturating_sub(now)));
            }
            let input = tokio::select! {
                input = rx.recv() => match input {
                    Some(input) => Some(input),
                    None => return,
                },
                _ = tokio::time::sleep(wake) => None,
            };
            if let Some(input) = input {
                self.handle(input);
                // Drain what else is waiting, so one round serves many inputs.
                for _ in 0..4096 {
                    match rx.try_recv() {
                        Ok(input) => self.handle(input),
                        Err(_) => break,
                    }
                }
            }
            if self.leader {
                self.expire_leases();
                self.apply_settings();
                let now = now_ms();
                let due = now >= self.view_due_ms;
                if due {
                    self.enforce_drain_deadlines(now);
                }
                self.autoscale(now);
                self.sweep_expired(now);
                self.fire_gate_timeouts(now);
                self.place();
                self.propose_round();
                // After placing: a view taken between results freeing
                // slots and the same round filling them again would show
                // a busy pool idle.
                if due {
                    self.publish_view(now, false);
                }
            }
        }
    }

    /// Drops what this leadership had not proposed or settled. Launches not
    /// yet proposed are refused, to be retried where the leader now is.
    fn forget_pending(&mut self) {
        for item in self.pending.drain(..) {
            if let Pending::Launch { reply, .. } = item {
                let _ = reply.send(Err(SchedulerError::new(
                    ErrorCode::NotLeader,
                    "leadership moved before the launch was proposed; it was not made",
                )));
            }
        }
        self.pending_results = 0;
        self.pending_launches = 0;
        self.assigns_due = None;
        self.provisional.clear();
        self.early.clear();
        self.launching.clear();
        self.launch_requests.clear();
    }

    fn become_leader(&mut self, now: u64) {
        self.book.clear();
        self.senders.clear();
        self.told_to_drain.clear();
        self.sent_sizes.clear();
        self.autoscale_memory.clear();
        self.settings_dirty = true;
        self.forget_pending();
        self.epoch += 1;
        self.leader = true;
        self.gates.clear();
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let registry = state.registry();
        let mut queued = 0;
        let mut running = 0;
        for execution in state
            .executions
            .values()
            .filter(|e| e.phase == ExecutionPhase::Running)
        {
            for (i, node) in execution.nodes.iter().enumerate() {
                let key = (execution.id.clone(), i as u32);
                match node.phase {
                    NodePhase::Queued => {
                        let selector = node.selector.clone();
                        let project = &execution.project;
                        self.book.enqueue(
                            key,
                            &node.pool,
                            selector,
                            project,
                            node.not_before_ms,
                            now,
                        );
                        queued += 1;
                    }
                    // A running sub-workflow instance has no executor: its
                    // frame's instances are what runs.
                    NodePhase::Running if !node.executor.is_empty() => {
                        let lane =
                            self.book
                                .lane(&node.pool, node.selector.clone(), &execution.project);
                        self.book
                            .adopt(key, lane, node.attempt, &node.executor, now);
                        running += 1;
                    }
                    // A gate that waits for a signal with a deadline: its
                    // timeout is this leader's to propose.
                    NodePhase::Running
                        if node.not_before_ms > 0
                            && crate::engine::gate::waiting(&registry, execution, i as u32) =>
                    {
                        self.gates.watch(
                            execution.id.clone(),
                            i as u32,
                            node.attempt,
                            node.not_before_ms,
                        );
                    }
                    _ => {}
                }
            }
        }
        drop(state);
        let gates = self.gates.len();
        info!(queued, running, gates, "leader: dispatch state rebuilt");
    }

    /// The phase and attempt the state holds for a node (for diagnostics).
    fn held(&self, key: &NodeKey) -> Option<(NodePhase, u32)> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let node = state.execution(&key.0)?.nodes.get(key.1 as usize)?;
        Some((node.phase, node.attempt))
    }

    /// The instance an attempt reference names by its path.
    fn node_key(&self, r: &AttemptRef) -> Option<NodeKey> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let id = ExecutionId(r.execution_id.as_str().into());
        let node = match state.execution(&id) {
            Some(execution) => path::resolve(&state.registry(), execution, &r.node_id).ok()?,
            None => self.launching.get(&id)?.workflow.node_index(&r.node_id)?,
        };
        Some((id, node))
    }

    fn attempt_ref(&self, key: &NodeKey, attempt: u32) -> AttemptRef {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let node_id = match state.execution(&key.0) {
            Some(execution) => state.node_path(execution, key.1),
            None => self
                .launching
                .get(&key.0)
                .and_then(|l| l.workflow.nodes.get(key.1 as usize))
                .map(|n| n.id.clone())
                .unwrap_or_default(),
        };
        AttemptRef {
            execution_id: key.0.to_string(),
            node_id,
            attempt,
        }
    }

    fn send_to(&mut self, executor: &str, message: ToExecutor) {
        if let Some(sender) = self.senders.get(executor) {
            if sender
                .send(Ok(SchedulerMessage {
                    kind: Some(message),
                }))
                .is_err()
            {
                self.senders.remove(executor);
            }
        }
    }

    fn expire_leases(&mut self) {
        let lost = self.book.expire(now_ms());
        if lost.is_empty() {
            return;
        }
        let now = now_ms();
        self.instruments.leases_expired.inc_by(lost.len() as u64);
        let commands: Vec<Command> = lost
            .into_iter()
            .map(|((execution, node), owned)| {
                warn!(%execution, node, attempt = owned.attempt, executor = %owned.executor, "lease lost");
                let key = (execution, node);
                self.spans.settled(&key, owned.attempt, "lease lost");
                let (execution, node) = key;
                Command::LeaseLost { execution, node, attempt: owned.attempt, now_ms: now }
            })
            .collect();
        let proposer = self.proposer.clone();
        tokio::spawn(async move {
            if let Err(e) = proposer.propose_many(commands).await {
                warn!(error = %e, "recording lost leases failed");
            }
        });
    }
}
