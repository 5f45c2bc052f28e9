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
//! an executor, with retries) and [`subworkflow`] (a frame of its own).
//! [`pool`] owns pin precedence; [`invariant`] checks an execution after
//! every apply in debug builds.

pub mod branch;
pub mod invariant;
pub mod looping;
pub mod map;
pub mod path;
pub mod pool;
pub mod readiness;
pub mod subworkflow;
pub mod task;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use baton_model::{Identifier, Interface, NodeKind, TaskSpec, Value, Values};

use crate::compiler::{CompiledBinding, CompiledNode, CompiledWorkflow};
use crate::state::{Effect, EventSubject, Execution, ExecutionPhase, NodePhase, NodeState};

/// What a node calls, as the compiler type-checks it: a task, a registered
/// workflow, or a loop over one, each offering an interface.
#[derive(Clone, Debug)]
pub enum Callee {
    Task(Arc<TaskSpec>),
    Workflow(Arc<CompiledWorkflow>),
    Loop(Box<looping::LoopCallee>),
    Branch(Box<branch::BranchCallee>),
    Map(Box<map::MapCallee>),
}

impl Callee {
    pub fn interface(&self) -> &Interface {
        match self {
            Callee::Task(task) => &task.interface,
            Callee::Workflow(workflow) => &workflow.spec.interface,
            Callee::Loop(looping) => &looping.interface,
            Callee::Branch(branch) => &branch.interface,
            Callee::Map(map) => &map.interface,
        }
    }

    pub fn id(&self) -> &Identifier {
        match self {
            Callee::Task(task) => &task.id,
            Callee::Workflow(workflow) => &workflow.spec.id,
            Callee::Loop(looping) => &looping.body.spec.id,
            Callee::Branch(branch) => &branch.compiled.cases.spec.id,
            Callee::Map(map) => map.callee.id(),
        }
    }

    /// `task`, `workflow` or `loop body`, as errors name it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Callee::Task(_) => "task",
            Callee::Workflow(_) => "workflow",
            Callee::Loop(_) => "loop body",
            Callee::Branch(_) => "branch",
            Callee::Map(map) => map.callee.kind_name(),
        }
    }

    /// The node kind with this exact version pinned.
    pub fn pinned(&self) -> NodeKind {
        match self {
            Callee::Task(task) => NodeKind::Task(task.id.clone()),
            Callee::Workflow(workflow) => NodeKind::Workflow(workflow.spec.id.clone()),
            Callee::Loop(looping) => NodeKind::Loop(Box::new(looping.spec.clone())),
            Callee::Branch(branch) => NodeKind::Branch(Box::new(branch.spec.clone())),
            Callee::Map(map) => NodeKind::Map(Box::new(map.spec.clone())),
        }
    }

    /// What the node needs at run time beyond its kind.
    pub fn control(&self) -> Option<Box<crate::compiler::Control>> {
        match self {
            Callee::Loop(looping) => Some(Box::new(crate::compiler::Control::Loop(
                looping.compiled.clone(),
            ))),
            Callee::Branch(branch) => Some(Box::new(crate::compiler::Control::Branch(
                branch.compiled.clone(),
            ))),
            Callee::Map(map) => Some(Box::new(crate::compiler::Control::Map(
                map.compiled.clone(),
            ))),
            Callee::Task(_) | Callee::Workflow(_) => None,
        }
    }
}

/// What the engine reads of the registry: tasks and compiled workflows by
/// exact version.
#[derive(Clone, Copy)]
pub struct Registry<'a> {
    pub tasks: &'a BTreeMap<Identifier, Arc<TaskSpec>>,
    pub workflows: &'a BTreeMap<Identifier, Arc<CompiledWorkflow>>,
}

impl<'a> Registry<'a> {
    /// The compiled workflow that frame `frame` of `execution` runs.
    pub fn frame_workflow(
        &self,
        execution: &Execution,
        frame: u32,
    ) -> Option<&'a Arc<CompiledWorkflow>> {
        let entry = match frame {
            0 => return self.workflows.get(&execution.workflow),
            _ => execution.frames.get(frame as usize)?,
        };
        if let Some(workflow) = self.workflows.get(&entry.workflow) {
            return Some(workflow);
        }
        // A branch's cases: a workflow compiled into the branch node.
        let owner = self.locate(execution, entry.owner?)?;
        match owner.node().control.as_deref() {
            Some(crate::compiler::Control::Branch(branch)) => Some(&branch.cases),
            Some(crate::compiler::Control::Map(map)) => Some(&map.items),
            _ => None,
        }
    }

    /// Where instance `node` of `execution` sits: its frame, the frame's
    /// workflow and its index there.
    pub fn locate(&self, execution: &Execution, node: u32) -> Option<Located<'a>> {
        if node as usize >= execution.nodes.len() {
            return None;
        }
        let frame = execution.frame_of(node);
        let workflow = self.frame_workflow(execution, frame)?;
        let entry = execution.frames.get(frame as usize);
        let first = entry.map_or(0, |f| f.first);
        // A map's items are each an instance of its one node.
        let (local, item) = match entry.and_then(|f| f.items) {
            Some(_) => (0, Some(node - first)),
            None => (node - first, None),
        };
        workflow.nodes.get(local as usize)?;
        Some(Located {
            frame,
            first,
            local,
            item,
            workflow,
        })
    }

    /// The task instance `node` runs, if it is a task instance.
    pub fn task_of(&self, execution: &Execution, node: u32) -> Option<&'a Arc<TaskSpec>> {
        let located = self.locate(execution, node)?;
        self.tasks.get(located.node().task()?)
    }

    /// The interface whose inputs a compiled node binds (a loop's: its
    /// body's).
    pub fn interface_of<'n>(&self, node: &'n CompiledNode) -> Option<&'n Interface>
    where
        'a: 'n,
    {
        match &node.kind {
            NodeKind::Task(id) => self.tasks.get(id).map(|t| &t.interface),
            NodeKind::Workflow(id) => self.workflows.get(id).map(|w| &w.spec.interface),
            NodeKind::Loop(spec) => self.workflows.get(&spec.body).map(|w| &w.spec.interface),
            NodeKind::Branch(_) | NodeKind::Map(_) => match node.control.as_deref() {
                Some(crate::compiler::Control::Branch(branch)) => Some(&branch.interface),
                Some(crate::compiler::Control::Map(map)) => Some(&map.interface),
                _ => None,
            },
        }
    }

    /// The input values of node `local` of `workflow`, read through `env`
    /// (its frame's inputs, its upstream nodes' outputs, its loop's
    /// history), with the callee's defaults.
    pub fn bind_inputs(
        &self,
        workflow: &CompiledWorkflow,
        local: u32,
        env: &impl Env,
    ) -> Option<Values> {
        let compiled = workflow.nodes.get(local as usize)?;
        let interface = self.interface_of(compiled)?;
        let mut values = Values::new();
        for var in &interface.inputs {
            let value = match compiled.input(&var.name) {
                Some(binding) => evaluate(binding, env)?,
                None => match &var.default {
                    Some(default) => default.clone(),
                    None => Value::None,
                },
            };
            values.insert(var.name.clone(), value);
        }
        Some(values)
    }

    /// The input values of instance `node`, reading each upstream
    /// instance's outputs through `outputs_of` (the committed ones, or the
    /// dispatcher's provisional ones first).
    pub fn instance_inputs<'v>(
        &self,
        execution: &'v Execution,
        node: u32,
        outputs_of: &impl Fn(u32) -> Option<&'v Values>,
    ) -> Option<Values> {
        let located = self.locate(execution, node)?;
        let env = FrameEnv {
            execution,
            frame: located.frame,
            first: located.first,
            item: located.item,
            outputs_of,
        };
        self.bind_inputs(located.workflow, located.local, &env)
    }
}

/// What a binding reads.
pub trait Env {
    /// An input of the frame.
    fn input(&self, name: &str) -> Option<&Value>;
    /// Output `name` of node `local` of the frame (for a loop node,
    /// `history.X` too).
    fn output(&self, local: u32, name: &str) -> Option<Value>;
    /// Output `name` of the frame's workflow in every earlier iteration of
    /// the loop the frame is an iteration of.
    fn history(&self, name: &str) -> Value;
    /// In a map's items frame: this item's element of list input `name`.
    fn item(&self, name: &str) -> Option<Value>;
}

/// A frame of an execution, with the outputs of its instances read through
/// `outputs_of` (by instance).
pub struct FrameEnv<'v, F> {
    pub execution: &'v Execution,
    pub frame: u32,
    pub first: u32,
    /// The item, when the frame is a map's.
    pub item: Option<u32>,
    pub outputs_of: F,
}

impl<'v, F: Fn(u32) -> Option<&'v Values>> Env for FrameEnv<'v, F> {
    fn input(&self, name: &str) -> Option<&Value> {
        self.execution.frame_inputs(self.frame).get(name)
    }

    fn output(&self, local: u32, name: &str) -> Option<Value> {
        let instance = self.first + local;
        if let Some(value) = (self.outputs_of)(instance).and_then(|o| o.get(name)) {
            return Some(value.clone());
        }
        // What is not stored but read as a view: a loop's history, a map's
        // gathered outputs.
        if let Some(output) = name.strip_prefix("history.") {
            return Some(looping::history_of(self.execution, instance, output));
        }
        map::gathered(self.execution, instance, name)
    }

    fn history(&self, name: &str) -> Value {
        looping::history_before(self.execution, self.frame, name)
    }

    fn item(&self, name: &str) -> Option<Value> {
        match self.input(name)? {
            Value::List(items) => items.get(self.item? as usize).cloned(),
            _ => None,
        }
    }
}

/// A launch not yet applied: its inputs only.
pub struct LaunchEnv<'v>(pub &'v Values);

impl Env for LaunchEnv<'_> {
    fn input(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    fn output(&self, _: u32, _: &str) -> Option<Value> {
        None
    }

    fn history(&self, _: &str) -> Value {
        Value::List(Vec::new())
    }

    fn item(&self, _: &str) -> Option<Value> {
        None
    }
}

/// An instance's place: see [`Registry::locate`].
#[derive(Clone, Copy)]
pub struct Located<'a> {
    pub frame: u32,
    /// The frame's first instance.
    pub first: u32,
    /// The instance's index in its frame's workflow.
    pub local: u32,
    /// In a map's items frame: the item's index.
    pub item: Option<u32>,
    pub workflow: &'a Arc<CompiledWorkflow>,
}

impl<'a> Located<'a> {
    pub fn node(&self) -> &'a CompiledNode {
        &self.workflow.nodes[self.local as usize]
    }
}

/// Evaluates a binding in `env`.
pub fn evaluate(binding: &CompiledBinding, env: &impl Env) -> Option<Value> {
    Some(match binding {
        CompiledBinding::Input(name) => env.input(name)?.clone(),
        CompiledBinding::History(name) => env.history(name),
        CompiledBinding::Item(name) => env.item(name)?,
        CompiledBinding::Output { node, output } => env.output(*node, output)?,
        CompiledBinding::Constant(v) => v.clone(),
        CompiledBinding::List(items) => Value::List(
            items
                .iter()
                .map(|b| evaluate(b, env))
                .collect::<Option<_>>()?,
        ),
        CompiledBinding::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, b)| evaluate(b, env).map(|v| (k.clone(), v)))
                .collect::<Option<_>>()?,
        ),
    })
}

/// One event's transitions of one execution: what the engine changes, with
/// the effects it pushes for the local node's services.
pub struct Run<'a> {
    pub registry: Registry<'a>,
    pub execution: &'a mut Execution,
    pub now_ms: u64,
    pub effects: &'a mut Vec<Effect>,
    /// The launch's pool pin, shared by every instance it applies to.
    launch_pool: Option<Arc<str>>,
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
        }
    }

    /// Starts a launched execution (which has no frames yet): records the
    /// launch, lays out frame 0 and makes its first nodes ready.
    pub fn start(&mut self, workflow: &Arc<CompiledWorkflow>) {
        self.launch_pool =
            (!self.execution.pool.is_empty()).then(|| self.execution.pool.as_str().into());
        self.record(
            EventSubject::Execution(ExecutionPhase::Running),
            "launched".into(),
        );
        let frame = self.lay_out_frame(workflow, None, 0, Values::new(), None);
        self.start_frame(frame, workflow);
    }

    /// Appends a frame running `workflow` with its nodes, every one Pending,
    /// each in the pool pin precedence gives it (`pinned_above`: the pin of
    /// the nearest enclosing node that has one). Returns the frame's index.
    fn lay_out_frame(
        &mut self,
        workflow: &CompiledWorkflow,
        owner: Option<u32>,
        index: u32,
        inputs: Values,
        pinned_above: Option<Arc<str>>,
    ) -> u32 {
        let tasks = self.registry.tasks;
        let node_pools = workflow.node_pools(|task| tasks.get(task).map(|t| t.pool.as_str()));
        let above = pinned_above.as_ref().or(self.launch_pool.as_ref());
        let first = self.execution.nodes.len() as u32;
        self.execution
            .nodes
            .extend(
                workflow
                    .nodes
                    .iter()
                    .zip(node_pools)
                    .map(|(node, node_pool)| NodeState {
                        phase: NodePhase::Pending,
                        attempt: 0,
                        retries_used: 0,
                        lost_attempts: 0,
                        waiting_on: node.upstream.len() as u32,
                        pool: pool::settle(node_pool, above),
                        executor: String::new(),
                        not_before_ms: 0,
                        outputs: Values::new(),
                        error: String::new(),
                        started_at_ms: 0,
                        finished_at_ms: 0,
                        logs: Vec::new(),
                    }),
            );
        let frame = self.execution.frames.len() as u32;
        self.execution.frames.push(crate::state::Frame {
            workflow: workflow.spec.id.clone(),
            owner,
            index,
            first,
            inputs,
            unfinished: workflow.nodes.len() as u32,
            outputs: None,
            items: None,
            started: 0,
            failed: 0,
        });
        frame
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
        let Some(located) = self.registry.locate(self.execution, node) else {
            return;
        };
        match &located.node().kind {
            NodeKind::Task(_) => self.queue(node, self.now_ms, String::new()),
            NodeKind::Workflow(id) => subworkflow::start(self, node, id),
            NodeKind::Loop(spec) => looping::start(self, node, spec),
            NodeKind::Branch(_) => branch::start(self, node),
            NodeKind::Map(_) => map::start(self, node),
        }
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
        let state = &mut self.execution.nodes[node as usize];
        state.phase = NodePhase::Succeeded;
        state.outputs = outputs;
        state.finished_at_ms = self.now_ms;
        self.record_node(node, NodePhase::Succeeded, attempt, String::new());
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
        entry.unfinished -= 1;
        if let (Some(_), Some(owner)) = (entry.items, entry.owner) {
            if !self.execution.phase.is_terminal() {
                // A map's slot is free: its next item starts.
                map::start_next(self, owner, frame);
            }
        }
        let entry = &self.execution.frames[frame as usize];
        if entry.unfinished > 0 || self.execution.phase.is_terminal() {
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
                NodePhase::Pending | NodePhase::Queued => waiting_becomes,
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
    /// are cancelled, the rest Cancelled.
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
            let end = self
                .execution
                .frames
                .get(f as usize + 1)
                .map_or(self.execution.nodes.len() as u32, |next| next.first);
            for node in first..end {
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
        let attempt = state.attempt;
        self.record_node(node, NodePhase::Queued, attempt, message);
        self.effects.push(Effect::NodeQueued {
            execution: self.execution.id.clone(),
            node,
            pool,
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
