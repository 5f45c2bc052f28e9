//! The replicated state machine (DESIGN.md §4): the registry of tasks and
//! workflows and every execution with its node states.
//!
//! It is pure: [`SchedulerState::apply`] takes a [`Command`] (time and ids
//! come inside it from the leader) and returns a [`Response`] plus
//! [`Effect`]s for the local node's services (the dispatcher, watchers). No
//! clock, no I/O, no randomness, so every replica computes the same state.
//! Command variants are part of the log format: only ever append.

mod admission;
mod apply;
pub mod blob_refs;
pub mod cache;
mod execution;
mod launch;
pub mod launch_plan;
pub mod pools;
mod register;
pub mod retention;
mod signal;
#[cfg(test)]
mod tests;
mod trace;

/// The `Register` command of the tasks and workflows in a YAML text, for
/// tests of the state and of what reads it.
#[cfg(test)]
pub(crate) fn register_command(text: &str) -> Command {
    use baton_model::spec::{parse_yaml, SpecDocument};
    let mut tasks = Vec::new();
    let mut workflows = Vec::new();
    let mut launch_plans = Vec::new();
    for doc in parse_yaml(text, "specs").unwrap() {
        match doc {
            SpecDocument::Task(t) => tasks.push(t),
            SpecDocument::Workflow(w) => workflows.push(w),
            SpecDocument::LaunchPlan(p) => launch_plans.push(p),
        }
    }
    Command::RegisterAt {
        tasks,
        workflows,
        launch_plans,
        now_ms: 0,
    }
}

use std::collections::BTreeMap;
use std::sync::Arc;

use baton_model::{Identifier, TaskSpec, Values};
use serde::{Deserialize, Serialize};

pub use execution::{
    AttemptLog, Event, EventSubject, Execution, ExecutionId, ExecutionPhase, Frame, NodePhase,
    NodeState, Origin, PlanApplied,
};
pub(crate) use launch::execution_id;

pub use crate::engine::task::{check_outputs, retry_backoff_ms, MAX_LOST_ATTEMPTS};

use crate::compiler::CompiledWorkflow;
use crate::error::SchedulerError;

/// One change to the replicated state. Only ever append variants.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Command {
    /// Registers tasks, then workflows, all or nothing.
    Register {
        tasks: Vec<TaskSpec>,
        workflows: Vec<baton_model::WorkflowSpec>,
    },
    /// `request_id`, when not empty, makes the launch idempotent.
    Launch {
        workflow: Identifier,
        inputs: Values,
        pool: String,
        request_id: String,
        now_ms: u64,
    },
    /// Hands a queued node to an executor under the next attempt number.
    Assign {
        execution: ExecutionId,
        node: u32,
        executor: String,
        now_ms: u64,
    },
    Complete {
        execution: ExecutionId,
        node: u32,
        attempt: u32,
        /// The executor that ran the attempt: a result counts only if it
        /// comes from the executor the attempt was assigned to.
        executor: String,
        outputs: Values,
        /// The attempt's log stays on its executor: only its size is recorded.
        log_size: u64,
        now_ms: u64,
    },
    Fail {
        execution: ExecutionId,
        node: u32,
        attempt: u32,
        executor: String,
        error: String,
        retryable: bool,
        log_size: u64,
        now_ms: u64,
    },
    /// The attempt's executor is gone (lease expired): run it again.
    LeaseLost {
        execution: ExecutionId,
        node: u32,
        attempt: u32,
        now_ms: u64,
    },
    Cancel {
        execution: ExecutionId,
        now_ms: u64,
    },
    /// Sets aside `count` launch numbers for the leader that proposes it:
    /// no other launch ever takes them (see [`Command::LaunchNumbered`]).
    ReserveLaunches {
        count: u64,
    },
    /// A launch under a number its leader reserved, so that its execution
    /// id is known before it commits and its first nodes can start while it
    /// is being committed. A number is never given twice, even by leaders
    /// that lost their launches in a crash: an executor's late result for
    /// such a launch can only name an execution that does not exist.
    LaunchNumbered {
        number: u64,
        workflow: Identifier,
        inputs: Values,
        pool: String,
        request_id: String,
        now_ms: u64,
    },
    /// [`Command::Register`] at a time (what `baton versions` shows), with
    /// launch plans after the workflows.
    RegisterAt {
        tasks: Vec<TaskSpec>,
        workflows: Vec<baton_model::WorkflowSpec>,
        launch_plans: Vec<baton_model::LaunchPlanSpec>,
        now_ms: u64,
    },
    /// A launch with options a plain [`Command::Launch`] has not: a launch
    /// plan (its workflow, with the plan's inputs under these, its pool
    /// unless this one is set, its labels and overrides; `workflow` is then
    /// ignored) and the cache mode.
    LaunchWith {
        workflow: Identifier,
        plan: Option<Identifier>,
        inputs: Values,
        pool: String,
        request_id: String,
        cache: baton_model::CacheMode,
        now_ms: u64,
    },
    /// A new execution of `from`'s workflow version, inputs, plan and
    /// cache mode, reusing the outputs of every task instance that
    /// succeeded in it (`baton recover`), or of none (`baton relaunch`).
    Recover {
        from: ExecutionId,
        relaunch: bool,
        request_id: String,
        now_ms: u64,
    },
    /// A draining executor handed the attempt back unstarted: it runs
    /// again, without using a retry.
    HandBack {
        execution: ExecutionId,
        node: u32,
        attempt: u32,
        executor: String,
        now_ms: u64,
    },
    /// Sets a pool's desired worker count (`None`: each executor's own).
    ScalePool {
        pool: String,
        scale: Option<pools::Scale>,
        now_ms: u64,
    },
    /// Sets a project's default pool (empty: `default`).
    SetProject {
        project: String,
        default_pool: Option<String>,
        now_ms: u64,
    },
    /// Tells an executor to drain, by a deadline or not.
    DrainExecutor {
        executor: String,
        deadline_ms: Option<u64>,
        now_ms: u64,
    },
    /// The drained executor is gone: its order is done.
    ForgetDrain {
        executor: String,
    },
    /// Sets how many assignments may wait on each executor of a pool.
    PrefetchPool {
        pool: String,
        prefetch: u32,
        now_ms: u64,
    },
    /// Turns a pool's autoscaler on (with its policy) or off (`None`).
    AutoscalePool {
        pool: String,
        autoscale: Option<pools::Autoscale>,
        now_ms: u64,
    },
    /// The leader's autoscaler gives an autoscaled pool `to` workers.
    Autoscaled {
        pool: String,
        to: u32,
        reason: String,
        now_ms: u64,
    },
    /// Changes a project's settings (default pool, weight, caps).
    ConfigureProject {
        project: String,
        change: pools::ProjectChange,
        now_ms: u64,
    },
    /// A signal for gate instance `node`, which waits (`baton signal`):
    /// checked on the leader before it is proposed, and again here.
    Signal {
        execution: ExecutionId,
        node: u32,
        values: BTreeMap<String, baton_model::Value>,
        now_ms: u64,
    },
    /// The leader saw the deadline of gate instance `node` pass without a
    /// signal.
    GateTimedOut {
        execution: ExecutionId,
        node: u32,
        attempt: u32,
        now_ms: u64,
    },
    /// Finished executions whose retention has passed, as the leader saw
    /// it: each leaves the state with its history (see [`retention`]).
    Expire {
        executions: Vec<ExecutionId>,
        now_ms: u64,
    },
    /// Sets a project's retention (`None`: the leader's `--retention`).
    SetRetention {
        project: String,
        retention: Option<retention::Retention>,
        now_ms: u64,
    },
    /// A launch (any launch command) whose execution continues the trace
    /// of span `trace` (docs/operations.md, "Traces"): proposed only by a
    /// leader that exports traces. A new variant, not a field of each
    /// launch, so that logs written before it still read.
    Traced {
        trace: baton_telemetry::TraceParent,
        launch: Box<Command>,
    },
}

impl Command {
    /// The launch inside a [`Command::Traced`]; any other command itself.
    pub fn untraced(&self) -> &Command {
        match self {
            Command::Traced { launch, .. } => launch,
            other => other,
        }
    }

    /// The execution the command changes, when it names one.
    pub fn execution(&self) -> Option<&ExecutionId> {
        match self {
            Command::Assign { execution, .. }
            | Command::Complete { execution, .. }
            | Command::Fail { execution, .. }
            | Command::LeaseLost { execution, .. }
            | Command::HandBack { execution, .. }
            | Command::Signal { execution, .. }
            | Command::GateTimedOut { execution, .. }
            | Command::Cancel { execution, .. } => Some(execution),
            Command::Register { .. }
            | Command::RegisterAt { .. }
            | Command::LaunchWith { .. }
            | Command::Recover { .. }
            | Command::Launch { .. }
            | Command::ReserveLaunches { .. }
            | Command::ScalePool { .. }
            | Command::SetProject { .. }
            | Command::DrainExecutor { .. }
            | Command::ForgetDrain { .. }
            | Command::AutoscalePool { .. }
            | Command::PrefetchPool { .. }
            | Command::Autoscaled { .. }
            | Command::ConfigureProject { .. }
            | Command::Expire { .. }
            | Command::SetRetention { .. }
            | Command::Traced { .. }
            | Command::LaunchNumbered { .. } => None,
        }
    }
}

/// What applying one command did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Response {
    #[default]
    Done,
    /// (kind, id, created) for each registered entity.
    Registered(Vec<(String, Identifier, bool)>),
    Launched {
        execution: ExecutionId,
        workflow: Identifier,
    },
    Assigned {
        attempt: u32,
    },
    /// The command no longer applies (a stale attempt, a node no longer
    /// queued); nothing changed.
    Ignored(String),
    Cancelled(ExecutionPhase),
    Rejected(SchedulerError),
    /// Launch numbers `first..=last` are the proposer's.
    Reserved {
        first: u64,
        last: u64,
    },
}

/// What the local node's services must do after an apply.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// A node became ready for dispatch (at or after `not_before_ms`).
    NodeQueued {
        execution: ExecutionId,
        node: u32,
        /// The execution's project: its share of the pool.
        project: Arc<str>,
        pool: Arc<str>,
        selector: Option<Arc<baton_model::Selector>>,
        not_before_ms: u64,
    },
    /// A running attempt must be stopped on its executor.
    CancelAttempt {
        execution: ExecutionId,
        node: u32,
        attempt: u32,
        executor: String,
    },
    /// An event was added to an execution's history.
    Event {
        execution: ExecutionId,
        event: Event,
        finished: bool,
    },
    /// A pool's desired size or an executor's drain order changed.
    PoolSettings,
    /// A queued node will not run (its execution ended): the dispatcher
    /// may forget it.
    NodeDequeued { execution: ExecutionId, node: u32 },
    /// A project's retention changed: the leader's next sweep is due now
    /// (its pace follows the shortest retention).
    RetentionChanged,
    /// A gate instance waits for a signal until `deadline_ms`: the leader
    /// proposes its timeout then.
    GateWaiting {
        execution: ExecutionId,
        node: u32,
        attempt: u32,
        deadline_ms: u64,
    },
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SchedulerState {
    pub tasks: BTreeMap<Identifier, Arc<TaskSpec>>,
    pub workflows: BTreeMap<Identifier, Arc<CompiledWorkflow>>,
    /// Unversioned id -> the latest registered version.
    pub latest_tasks: BTreeMap<Identifier, String>,
    pub latest_workflows: BTreeMap<Identifier, String>,
    pub executions: BTreeMap<ExecutionId, Execution>,
    /// Ids of executions in launch order.
    pub execution_order: Vec<ExecutionId>,
    /// The highest launch number given or reserved.
    pub launches: u64,
    /// Launch request ids -> the execution each created.
    pub launch_requests: BTreeMap<String, ExecutionId>,
    /// (`task`, `workflow` or `launch-plan`, full id) -> when it was
    /// registered (Unix ms; 0 for what a `Register` without a time registered).
    pub registered_at: BTreeMap<(String, Identifier), u64>,
    pub launch_plans: BTreeMap<Identifier, Arc<baton_model::LaunchPlanSpec>>,
    pub latest_launch_plans: BTreeMap<Identifier, String>,
    /// Outputs of cacheable tasks by key (bounded: see [`cache`]).
    pub cache: cache::TaskCache,
    /// Pools with settings (a desired size), by name.
    pub pools: BTreeMap<String, pools::PoolSettings>,
    /// Projects with settings (a default pool), by name.
    pub projects: BTreeMap<String, pools::ProjectSettings>,
    /// Executors told to drain, by id.
    pub drains: BTreeMap<String, pools::DrainOrder>,
    /// Per project, its executions that run, and those a cap holds back
    /// (see [`admission`]).
    pub running_executions: BTreeMap<String, u32>,
    pub held_launches: BTreeMap<String, std::collections::VecDeque<ExecutionId>>,
    /// Launch numbers of the executions that expired (see [`retention`]).
    pub expired: retention::ExpiredNumbers,
}

impl SchedulerState {
    /// A task by id; an empty version means the latest registered one.
    pub fn task(&self, id: &Identifier) -> Option<&Arc<TaskSpec>> {
        if id.version.is_empty() {
            let version = self.latest_tasks.get(&id.unversioned())?;
            let mut full = id.clone();
            full.version = version.clone();
            return self.tasks.get(&full);
        }
        self.tasks.get(id)
    }

    /// A workflow by id; an empty version means the latest registered one.
    pub fn workflow(&self, id: &Identifier) -> Option<&Arc<CompiledWorkflow>> {
        if id.version.is_empty() {
            let version = self.latest_workflows.get(&id.unversioned())?;
            let mut full = id.clone();
            full.version = version.clone();
            return self.workflows.get(&full);
        }
        self.workflows.get(id)
    }

    pub fn execution(&self, id: &ExecutionId) -> Option<&Execution> {
        self.executions.get(id)
    }

    /// The compiled workflow an execution runs.
    pub fn workflow_of(&self, execution: &Execution) -> Option<&Arc<CompiledWorkflow>> {
        self.workflows.get(&execution.workflow)
    }

    /// The task a node instance of an execution runs.
    pub fn task_of<'e>(&'e self, execution: &'e Execution, node: u32) -> Option<&'e Arc<TaskSpec>> {
        self.registry().task_of(execution, node)
    }

    /// The input values of a node instance, from its bindings and the
    /// callee's defaults.
    pub fn node_inputs(&self, execution: &Execution, node: u32) -> Option<Values> {
        self.registry().instance_inputs(execution, node, &|up| {
            execution.nodes.get(up as usize).map(|s| &s.outputs)
        })
    }

    /// The path of a node instance (`sub.child`).
    pub fn node_path(&self, execution: &Execution, node: u32) -> String {
        crate::engine::path::path_of(&self.registry(), execution, node)
    }

    /// Checks the engine's invariants on an execution a command changed
    /// (debug builds; large executions only when tests ask).
    #[cfg(debug_assertions)]
    fn check_invariants(&self, id: Option<&ExecutionId>) {
        let Some(execution) = id.and_then(|id| self.executions.get(id)) else {
            return;
        };
        if execution.nodes.len() <= crate::engine::invariant::CHECK_LIMIT {
            crate::engine::invariant::check(&self.registry(), execution);
        }
    }
}

/// A log entry's commands. Shared, because openraft clones an entry each time
/// it reads it back (the leader once per follower to replicate it, every node
/// to apply it): a clone is then a count, not a copy of every command. The
/// encoding is the vector's own.
pub type Commands = Arc<Vec<Command>>;

impl baton_cluster::StateMachine for SchedulerState {
    type Command = Commands;
    type Response = Vec<Response>;
    type Effect = Effect;

    fn apply(&mut self, commands: Commands, effects: &mut Vec<Effect>) -> Vec<Response> {
        // The log's recent entries still hold the entry, so this is usually
        // the one copy of the commands a node makes.
        let commands = Arc::try_unwrap(commands).unwrap_or_else(|shared| (*shared).clone());
        commands
            .into_iter()
            .map(|c| self.apply_one(c, effects))
            .collect()
    }
}
