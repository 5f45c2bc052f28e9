//! The execution engine: the single, pure owner of workflow semantics.
//!
//! No I/O, no clock, no tokio. The state machine (`state/`) decodes a
//! command, finds the execution and checks that the attempt it names is
//! current; then it hands the event to a [`Run`], which changes the
//! execution and pushes the [`Effect`]s that follow (a node instance to
//! queue, an attempt to cancel, an event for the history). The dispatcher's
//! pipelined readiness (a node started on a result not yet committed) asks
//! the same rule, [`readiness::ready_after`], over a [`readiness::RunView`]
//! that adds its uncommitted results: there is one rule for "this node may
//! run now", and it lives in [`readiness`].
//!
//! An execution is a tree of frames (`state::Frame`): frame 0 runs the
//! launched workflow, and every sub-workflow node instance runs a frame of
//! its own, whose nodes are appended to the execution's flat array of
//! instances when it starts. An instance is addressed by its index in that
//! array in commands, and by its path (`sub.child`, [`path`]) in the API.
//!
//! One module per node kind, each owning its type rule (what the compiler
//! checks it against: [`Callee`]) and its run rule: [`task`] (an attempt on
//! an executor, with retries), [`subworkflow`] (a frame of its own) and
//! [`gate`] (a wait for a signal from outside).
//! [`pool`] owns pin precedence; [`invariant`] checks an execution after
//! every apply in debug builds.

mod bind;
pub mod branch;
pub mod cache;
mod callee;
pub mod gate;
pub mod invariant;
pub mod looping;
pub mod map;
pub mod path;
pub mod pool;
pub mod readiness;
mod registry;
pub mod subworkflow;
pub mod task;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use baton_model::{NodeKind, Values};

pub use bind::{evaluate, Env, FrameEnv, LaunchEnv};
pub use callee::Callee;
pub use registry::{Located, Registry};

use crate::compiler::{CompiledNode, CompiledWorkflow};
use crate::state::{Effect, EventSubject, Execution, ExecutionPhase, NodePhase, NodeState};

/// "a, b, c" (or "nothing") for an error that lists what an interface
/// offers or takes.
fn variable_names(vars: &[baton_model::Variable]) -> String {
    if vars.is_empty() {
        return "nothing".into();
    }
    vars.iter()
        .map(|v| v.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The input values of control-flow instance `node` (a sub-workflow, loop,
/// branch or map) as its upstream instances' committed outputs bind them;
/// when a binding cannot be evaluated, the instance fails saying so.
fn bound_inputs(run: &mut Run<'_>, node: u32) -> Option<Values> {
    let nodes = &run.execution.nodes;
    let inputs = run.registry.instance_inputs(run.execution, node, &|up| {
        nodes.get(up as usize).map(|s| &s.outputs)
    });
    if inputs.is_none() {
        let attempt = run.execution.nodes[node as usize].attempt;
        run.node_failed(
            node,
            attempt,
            "an input binding could not be evaluated".into(),
        );
    }
    inputs
}

/// One event's transitions of one execution: what the engine changes, with
/// the effects it pushes for the local node's services.
pub struct Run<'a> {
    pub registry: Registry<'a>,
    pub execution: &'a mut Execution,
    pub now_ms: u64,
    pub effects: &'a mut Vec<Effect>,
    /// The launch's pool pin, shared by every instance it applies to in
    /// this run (set when the run first lays out a frame).
    launch_pool: Option<Arc<str>>,
    /// What the run asks of the task cache, for the state machine to apply.
    pub cache_requests: Vec<cache::CacheRequest>,
    /// Instances that succeed without running (cached, recovered), settled
    /// one after the other: each may make the next ready, and a chain of
    /// them must not nest a call per instance.
    unrun: std::collections::VecDeque<Unrun>,
    settling: bool,
}

/// An instance that succeeds without running, and why.
struct Unrun {
    node: u32,
    outputs: Values,
    message: String,
    recovered: bool,
}

impl<'a> Run<'a> {
    pub fn new(
        registry: Registry<'a>,
        execution: &'a mut Execution,
        now_ms: u64,
        effects: &'a mut Vec<Effect>,
    ) -> Self {
        Run {
            registry,
            execution,
            now_ms,
            effects,
            launch_pool: None,
            cache_requests: Vec::new(),
            unrun: Default::default(),
            settling: false,
        }
    }

    /// Starts a launched execution (which has no frames yet): records the
    /// launch, lays out frame 0 and makes its first nodes ready.
    pub fn start(&mut self, workflow: &Arc<CompiledWorkflow>) {
        self.record(
            EventSubject::Execution(ExecutionPhase::Running),
            "launched".into(),
        );
        let frame = self.lay_out_frame(workflow, None, 0, Values::new(), None, None);
        self.start_frame(frame, workflow);
    }

    /// Appends a frame running `workflow` with its nodes, every one Pending,
    /// each in the pool pin precedence gives it (`pinned_above`: the pin of
    /// the nearest enclosing node that has one). A map's items frame
    /// (`items`: how many) holds that many instances of the workflow's one
    /// node instead. Returns the frame's index.
    fn lay_out_frame(
        &mut self,
        workflow: &CompiledWorkflow,
        owner: Option<u32>,
        index: u32,
        inputs: Values,
        pinned_above: Option<pool::Above>,
        items: Option<u32>,
    ) -> u32 {
        let tasks = self.registry.tasks;
        let node_pools = workflow.node_pools(|task| tasks.get(task).map(|t| &**t));
        let fallback = self.fallback_pool();
        // Every frame of the execution, whichever command lays it out (a
        // loop's next iteration, a sub-workflow started by a result), is
        // under the launch's pin.
        if self.launch_pool.is_none() && !self.execution.pool.is_empty() {
            self.launch_pool = Some(self.execution.pool.as_str().into());
        }
        let pins = pool::LaunchPins {
            above: pinned_above.as_ref(),
            launch: self.launch_pool.as_ref(),
            fallback: &fallback,
        };
        // Whether a node's own task picks its pool (nothing above it pins one).
        let task_picks = pinned_above.as_ref().is_none_or(|a| a.pool.is_none())
            && self.launch_pool.is_none()
            && workflow.spec.pool.is_empty();
        let first = self.execution.nodes.len() as u32;
        let attempt = self.execution.attempt_floor;
        let pending = |node: &CompiledNode, node_pool| {
            let placed = pool::settle(node_pool, &pins);
            NodeState {
                phase: NodePhase::Pending,
                attempt,
                retries_used: 0,
                lost_attempts: 0,
                waiting_on: node.upstream.len() as u32,
                pool: placed.pool,
                selector: placed.selector,
                executor: String::new(),
                not_before_ms: 0,
                outputs: Values::new(),
                error: String::new(),
                started_at_ms: 0,
                finished_at_ms: 0,
                logs: Vec::new(),
                cached: false,
                recovered: false,
            }
        };
        let nodes = &mut self.execution.nodes;
        match items {
            None => nodes.extend(
                workflow
                    .nodes
                    .iter()
                    .zip(node_pools)
                    .map(|(n, p)| pending(n, p)),
            ),
            Some(count) => {
                let item = pending(&workflow.nodes[0], &node_pools[0]);
                nodes.extend((0..count).map(|_| item.clone()));
            }
        }
        let frame = self.execution.frames.len() as u32;
        let overrides_pools = self.execution.plan.as_ref().is_some_and(|p| {
            p.overrides.values().any(|o| o.pool.is_some()) || (task_picks && !p.tasks.is_empty())
        });
        self.execution.frames.push(crate::state::Frame {
            workflow: workflow.spec.id.clone(),
            owner,
            index,
            first,
            inputs,
            unfinished: items.unwrap_or(workflow.nodes.len() as u32),
            outputs: None,
            items,
            started: 0,
            failed: 0,
        });
        if overrides_pools {
            self.apply_plan_pools(first, task_picks, &fallback);
        }
        frame
    }

    /// The pool of nodes nothing pins: the launched workflow's project's
    /// default pool, else `default`.
    fn fallback_pool(&self) -> Arc<str> {
        static DEFAULT: std::sync::LazyLock<Arc<str>> =
            std::sync::LazyLock::new(|| pool::DEFAULT_POOL.into());
        match self.registry.projects.get(&self.execution.workflow.project) {
            Some(project) if !project.default_pool.is_empty() => {
                project.default_pool.as_str().into()
            }
            _ => DEFAULT.clone(),
        }
    }

    /// A launch plan's levels for the nodes of a frame laid out from
    /// `first` on: its pool for a node outranks every other pin, and a task
    /// it swaps in decides the pool where the task does.
    fn apply_plan_pools(&mut self, first: u32, task_picks: bool, fallback: &Arc<str>) {
        let end = self.execution.nodes.len() as u32;
        for node in first..end {
            let pool = path::override_of(&self.registry, self.execution, node)
                .and_then(|o| o.pool.clone());
            if let Some(pool) = pool {
                self.execution.nodes[node as usize].pool = pool.as_str().into();
                continue;
            }
            let unpinned = self
                .registry
                .locate(self.execution, node)
                .is_some_and(|l| l.node().pool.is_empty() && l.node().task().is_some());
            if task_picks && unpinned {
                let pool = self
                    .registry
                    .task_of(self.execution, node)
                    .map(|task| pool::task_pool(task, fallback));
                if let Some(pool) = pool {
                    if self.execution.nodes[node as usize].pool != pool {
                        self.execution.nodes[node as usize].pool = pool;
                    }
                }
            }
        }
    }

    /// Control-flow instance `node` (a sub-workflow, loop, branch or map)
    /// starts: Running under its next attempt, recorded with `message`.
    /// Returns the attempt.
    fn start_control(&mut self, node: u32, message: String) -> u32 {
        let state = &mut self.execution.nodes[node as usize];
        state.phase = NodePhase::Running;
        state.attempt += 1;
        state.started_at_ms = self.now_ms;
        let attempt = state.attempt;
        self.record_node(node, NodePhase::Running, attempt, message);
        attempt
    }

    /// Makes ready the nodes of a new frame that wait for nothing.
    fn start_frame(&mut self, frame: u32, workflow: &CompiledWorkflow) {
        let first = self.execution.frames[frame as usize].first;
        for (i, node) in workflow.nodes.iter().enumerate() {
            if node.upstream.is_empty() {
                self.make_ready(first + i as u32);
            }
        }
    }

    /// An instance whose upstream instances have all succeeded starts, by
    /// its kind's rule.
    fn make_ready(&mut self, node: u32) {
        // Something made ready before it may already have failed the
        // execution or ended this instance's frame.
        if self.execution.phase.is_terminal()
            || self.execution.nodes[node as usize].phase != NodePhase::Pending
        {
            return;
        }
        let Some(located) = self.registry.locate(self.execution, node) else {
            return;
        };
        match &located.node().kind {
            NodeKind::Task(_) => {
                if !self.reuse_recovered(node) && !cache::lookup(self, node) {
                    self.queue(node, self.now_ms, String::new());
                }
            }
            NodeKind::Workflow(id) => subworkflow::start(self, node, id),
            NodeKind::Loop(spec) => looping::start(self, node, spec),
            NodeKind::Branch(_) => branch::start(self, node),
            NodeKind::Map(_) => map::start(self, node),
            NodeKind::Gate(spec) => gate::start(self, node, spec),
        }
    }

    /// In a recovery: a task instance that succeeded in the recovered
    /// execution (at the same path) succeeds with its outputs, unrun.
    fn reuse_recovered(&mut self, node: u32) -> bool {
        if self
            .execution
            .origin
            .as_ref()
            .is_none_or(|o| o.reuse.is_empty())
        {
            return false;
        }
        let path = path::path_of(&self.registry, self.execution, node);
        let Some(origin) = self.execution.origin.as_mut() else {
            return false;
        };
        let Some(outputs) = origin.reuse.remove(&path) else {
            return false;
        };
        let message = format!("recovered: the result of {} node {path}", origin.from);
        self.succeed_unrun(node, outputs, message, true);
        true
    }

    /// Instance `node` succeeds with `outputs` without running (from the
    /// cache, or `recovered` from the execution this one recovers). What
    /// that makes ready is settled in a loop here, not by nesting.
    fn succeed_unrun(&mut self, node: u32, outputs: Values, message: String, recovered: bool) {
        self.unrun.push_back(Unrun {
            node,
            outputs,
            message,
            recovered,
        });
        if self.settling {
            return; // the loop below, further up the stack, takes it
        }
        self.settling = true;
        while let Some(next) = self.unrun.pop_front() {
            if self.execution.phase.is_terminal()
                || self.execution.nodes[next.node as usize].phase != NodePhase::Pending
            {
                continue;
            }
            let state = &mut self.execution.nodes[next.node as usize];
            if next.recovered {
                state.recovered = true;
            } else {
                state.cached = true;
            }
            state.started_at_ms = self.now_ms;
            self.node_succeeded_with(next.node, 0, next.outputs, next.message);
        }
        self.settling = false;
    }

    /// What instance `node` runs.
    fn kind_of(&self, node: u32) -> Option<&'a NodeKind> {
        self.registry
            .locate(self.execution, node)
            .map(|located| &located.node().kind)
    }

    /// Records an instance's success with its outputs, and what follows:
    /// downstream instances whose upstream have all succeeded become ready,
    /// and a frame whose nodes have all finished ends.
    fn node_succeeded(&mut self, node: u32, attempt: u32, outputs: Values) {
        self.node_succeeded_with(node, attempt, outputs, String::new());
    }

    /// [`Run::node_succeeded`], the event saying `message`.
    fn node_succeeded_with(&mut self, node: u32, attempt: u32, outputs: Values, message: String) {
        let state = &mut self.execution.nodes[node as usize];
        state.phase = NodePhase::Succeeded;
        state.outputs = outputs;
        state.finished_at_ms = self.now_ms;
        self.record_node(node, NodePhase::Succeeded, attempt, message);
        let Some(located) = self.registry.locate(self.execution, node) else {
            return;
        };
        let frame = located.frame;
        for &down in &located.node().downstream {
            let down = located.first + down;
            let state = &mut self.execution.nodes[down as usize];
            state.waiting_on -= 1;
            if state.waiting_on == 0 && state.phase == NodePhase::Pending {
                self.make_ready(down);
            }
        }
        self.node_finished(frame, located.workflow);
    }

    /// One node of `frame` reached a terminal phase; the frame ends with
    /// the last of them.
    fn node_finished(&mut self, frame: u32, workflow: &Arc<CompiledWorkflow>) {
        let entry = &mut self.execution.frames[frame as usize];
        // An ended execution, or a frame already ended (abandoned with its
        // retried loop iteration): nothing more to count.
        if self.execution.phase.is_terminal() || entry.unfinished == 0 {
            return;
        }
        entry.unfinished -= 1;
        if entry.unfinished > 0 {
            if let (Some(_), Some(owner)) = (entry.items, entry.owner) {
                // A map's slot is free: its next item starts. Only the call
                // that counts the frame's last node ends the frame.
                map::start_next(self, owner, frame);
            }
            return;
        }
        let first = entry.first;
        let owner = entry.owner;
        let nodes = &self.execution.nodes;
        let env = FrameEnv {
            execution: self.execution,
            frame,
            first,
            item: None,
            outputs_of: |n: u32| nodes.get(n as usize).map(|s| &s.outputs),
        };
        let outputs: Option<Values> = workflow
            .outputs
            .iter()
            .map(|(name, binding)| evaluate(binding, &env).map(|v| (name.clone(), v)))
            .collect();
        match (owner, outputs) {
            (None, Some(outputs)) => {
                self.execution.outputs = outputs;
                self.finish(ExecutionPhase::Succeeded, String::new());
            }
            (Some(owner), Some(outputs)) => match self.kind_of(owner) {
                Some(NodeKind::Loop(_)) => looping::iteration_finished(self, owner, frame, outputs),
                Some(NodeKind::Branch(_)) => branch::finished(self, owner, frame),
                Some(NodeKind::Map(_)) => map::finished(self, owner),
                _ => subworkflow::finished(self, owner, outputs),
            },
            (_, None) => {
                let why = "an output binding could not be evaluated".to_string();
                match owner {
                    None => self.finish(ExecutionPhase::Failed, why),
                    Some(owner) => {
                        // A loop iteration that ends without its outputs is
                        // a failed iteration, retried like any other.
                        if let Some(NodeKind::Loop(spec)) = self.kind_of(owner) {
                            if looping::retry_iteration(self, owner, frame, spec, &why) {
                                return;
                            }
                        }
                        let attempt = self.execution.nodes[owner as usize].attempt;
                        self.node_failed(owner, attempt, why);
                    }
                }
            }
        }
    }

    /// Fails an instance for good, and with it every instance that encloses
    /// it and the execution: running instances are cancelled, waiting ones
    /// skipped.
    fn node_failed(&mut self, node: u32, attempt: u32, why: String) {
        let state = &mut self.execution.nodes[node as usize];
        state.phase = NodePhase::Failed;
        state.error = why.clone();
        state.finished_at_ms = self.now_ms;
        self.record_node(node, NodePhase::Failed, attempt, why.clone());
        let mut failed = node;
        let mut message = why;
        while let Some(owner) =
            self.execution.frames[self.execution.frame_of(failed) as usize].owner
        {
            message = format!(
                "node `{}` failed: {message}",
                path::path_of(&self.registry, self.execution, failed)
            );
            if let Some(NodeKind::Loop(spec)) = self.kind_of(owner) {
                let frame = self.execution.frame_of(failed);
                if looping::retry_iteration(self, owner, frame, spec, &message) {
                    return;
                }
            }
            if let Some(NodeKind::Map(spec)) = self.kind_of(owner) {
                let frame = self.execution.frame_of(failed);
                if map::tolerated(self, owner, frame, failed, spec, &message) {
                    return;
                }
            }
            let state = &mut self.execution.nodes[owner as usize];
            state.phase = NodePhase::Failed;
            state.error = message.clone();
            state.finished_at_ms = self.now_ms;
            let attempt = state.attempt;
            self.record_node(owner, NodePhase::Failed, attempt, message.clone());
            failed = owner;
        }
        self.end_unfinished(NodePhase::Skipped);
        self.finish(ExecutionPhase::Failed, message);
    }

    /// Cancels a running execution at every depth.
    pub fn cancel(&mut self) {
        self.end_unfinished(NodePhase::Cancelled);
        self.finish(ExecutionPhase::Cancelled, "cancelled".into());
    }

    /// Ends every instance not yet finished, at every depth: running task
    /// attempts are cancelled (and their executors told to stop), running
    /// sub-workflow instances cancelled, waiting ones take `waiting_becomes`.
    fn end_unfinished(&mut self, waiting_becomes: NodePhase) {
        let id = self.execution.id.clone();
        for node in 0..self.execution.nodes.len() as u32 {
            let state = &mut self.execution.nodes[node as usize];
            let phase = match state.phase {
                NodePhase::Running => {
                    if !state.executor.is_empty() {
                        self.effects.push(Effect::CancelAttempt {
                            execution: id.clone(),
                            node,
                            attempt: state.attempt,
                            executor: state.executor.clone(),
                        });
                    }
                    NodePhase::Cancelled
                }
                NodePhase::Queued => {
                    self.effects.push(Effect::NodeDequeued {
                        execution: id.clone(),
                        node,
                    });
                    waiting_becomes
                }
                NodePhase::Pending => waiting_becomes,
                _ => continue,
            };
            state.phase = phase;
            state.finished_at_ms = self.now_ms;
            let attempt = state.attempt;
            self.record_node(node, phase, attempt, String::new());
        }
        for frame in &mut self.execution.frames {
            frame.unfinished = 0;
        }
    }

    /// Ends every unfinished instance of `frame` and of the frames inside
    /// it (a failed loop iteration that runs again): running task attempts
    /// are cancelled, the rest Cancelled. Instances laid out from now on
    /// start above every attempt of the abandoned ones.
    fn abandon_frame(&mut self, frame: u32) {
        let id = self.execution.id.clone();
        let mut inside = vec![frame];
        for index in frame as usize + 1..self.execution.frames.len() {
            let owner = self.execution.frames[index].owner;
            if owner.is_some_and(|o| inside.contains(&self.execution.frame_of(o))) {
                inside.push(index as u32);
            }
        }
        for &f in &inside {
            let first = self.execution.frames[f as usize].first;
            for node in first..self.execution.frame_end(f) {
                let floor = &mut self.execution.attempt_floor;
                *floor = (*floor).max(self.execution.nodes[node as usize].attempt);
                let state = &mut self.execution.nodes[node as usize];
                if state.phase.is_terminal() {
                    continue;
                }
                if state.phase == NodePhase::Running && !state.executor.is_empty() {
                    self.effects.push(Effect::CancelAttempt {
                        execution: id.clone(),
                        node,
                        attempt: state.attempt,
                        executor: state.executor.clone(),
                    });
                }
                if state.phase == NodePhase::Queued {
                    self.effects.push(Effect::NodeDequeued {
                        execution: id.clone(),
                        node,
                    });
                }
                state.phase = NodePhase::Cancelled;
                state.finished_at_ms = self.now_ms;
                let attempt = state.attempt;
                self.record_node(node, NodePhase::Cancelled, attempt, String::new());
            }
            self.execution.frames[f as usize].unfinished = 0;
        }
    }

    fn finish(&mut self, phase: ExecutionPhase, error: String) {
        let execution = &mut *self.execution;
        execution.phase = phase;
        execution.error = error.clone();
        execution.finished_at_ms = self.now_ms;
        let event = execution.record(self.now_ms, EventSubject::Execution(phase), error);
        // The history is complete: give back the slack of its doublings (up to
        // half of it; 12 MB for a 100,000-node execution), so what a finished
        // execution holds is proportional to its size.
        execution.events.shrink_to_fit();
        self.effects.push(Effect::Event {
            execution: execution.id.clone(),
            event,
            finished: true,
        });
    }

    /// Moves a task instance to Queued, to be dispatched at or after
    /// `not_before_ms`.
    fn queue(&mut self, node: u32, not_before_ms: u64, message: String) {
        let state = &mut self.execution.nodes[node as usize];
        state.phase = NodePhase::Queued;
        state.not_before_ms = not_before_ms;
        let pool = state.pool.clone();
        let selector = state.selector.clone();
        let attempt = state.attempt;
        self.record_node(node, NodePhase::Queued, attempt, message);
        self.effects.push(Effect::NodeQueued {
            execution: self.execution.id.clone(),
            node,
            project: self.execution.project.clone(),
            pool,
            selector,
            not_before_ms,
        });
    }

    fn record_node(&mut self, node: u32, phase: NodePhase, attempt: u32, message: String) {
        self.record(
            EventSubject::Node {
                node,
                phase,
                attempt,
            },
            message,
        );
    }

    fn record(&mut self, subject: EventSubject, message: String) {
        let event = self.execution.record(self.now_ms, subject, message);
        self.effects.push(Effect::Event {
            execution: self.execution.id.clone(),
            event,
            finished: false,
        });
    }
}
