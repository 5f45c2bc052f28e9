//! The transitions of the state machine: one function per command.
//!
//! A command that cannot apply changes nothing and answers
//! [`Response::Rejected`] (a bad request) or [`Response::Ignored`] (a stale
//! report, e.g. the result of an attempt that is no longer current).

use std::collections::BTreeMap;
use std::sync::Arc;

use baton_model::{Identifier, Runner, TaskSpec, Value, Values, WorkflowSpec};

use super::*;
use crate::compiler::{compile, NodePool};
use crate::error::{ErrorCode, SchedulerError};

/// The builtin functions every executor offers.
pub const BUILTINS: &[&str] = &["noop", "echo", "sleep", "fail"];

impl SchedulerState {
    pub fn apply_one(&mut self, command: Command, effects: &mut Vec<Effect>) -> Response {
        let result = match command {
            Command::Register { tasks, workflows } => self.register(tasks, workflows),
            Command::Launch {
                workflow,
                inputs,
                pool,
                request_id,
                now_ms,
            } => self.launch(&workflow, inputs, pool, request_id, None, now_ms, effects),
            Command::ReserveLaunches { count } => {
                let first = self.launches + 1;
                self.launches = self.launches.saturating_add(count);
                Ok(Response::Reserved {
                    first,
                    last: self.launches,
                })
            }
            Command::LaunchNumbered {
                number,
                workflow,
                inputs,
                pool,
                request_id,
                now_ms,
            } => self.launch(
                &workflow,
                inputs,
                pool,
                request_id,
                Some(number),
                now_ms,
                effects,
            ),
            Command::Assign {
                execution,
                node,
                executor,
                now_ms,
            } => Ok(self.assign(&execution, node, executor, now_ms, effects)),
            Command::Complete {
                execution,
                node,
                attempt,
                executor,
                outputs,
                log,
                now_ms,
            } => Ok(self.complete(
                &execution, node, attempt, &executor, outputs, log, now_ms, effects,
            )),
            Command::Fail {
                execution,
                node,
                attempt,
                executor,
                error,
                retryable,
                log,
                now_ms,
            } => Ok(self.fail(
                &execution, node, attempt, &executor, error, retryable, log, now_ms, effects,
            )),
            Command::LeaseLost {
                execution,
                node,
                attempt,
                now_ms,
            } => Ok(self.lease_lost(&execution, node, attempt, now_ms, effects)),
            Command::Cancel { execution, now_ms } => self.cancel(&execution, now_ms, effects),
        };
        result.unwrap_or_else(Response::Rejected)
    }

    // ------------------------------------------------------------ registry

    /// Checks and registers tasks, then workflows (which may use the tasks of
    /// the same request). All or nothing.
    fn register(
        &mut self,
        tasks: Vec<TaskSpec>,
        workflows: Vec<WorkflowSpec>,
    ) -> Result<Response, SchedulerError> {
        let mut problems = Vec::new();
        let mut registered = Vec::new();
        let mut new_tasks: BTreeMap<Identifier, Arc<TaskSpec>> = BTreeMap::new();
        for task in tasks {
            let task = task.normalized();
            if let Err(e) = check_task(&task) {
                problems.push(e);
                continue;
            }
            match self.tasks.get(&task.id).or_else(|| new_tasks.get(&task.id)) {
                Some(existing) if **existing == task => registered.push(("task".into(), task.id.clone(), false)),
                Some(_) => problems.push(format!(
                    "task `{}` is already registered with different content; a registered version never changes: register a new version",
                    task.id
                )),
                None => {
                    registered.push(("task".into(), task.id.clone(), true));
                    new_tasks.insert(task.id.clone(), Arc::new(task));
                }
            }
        }
        let mut new_latest_tasks: BTreeMap<Identifier, String> = BTreeMap::new();
        for id in new_tasks.keys() {
            new_latest_tasks.insert(id.unversioned(), id.version.clone());
        }

        let mut new_workflows: Vec<Arc<CompiledWorkflow>> = Vec::new();
        for workflow in workflows {
            let workflow = workflow.normalized();
            if let Err(e) = workflow.id.validate() {
                problems.push(e.to_string());
                continue;
            }
            let resolve = |id: &Identifier| -> Option<Arc<TaskSpec>> {
                let mut full = id.clone();
                if full.version.is_empty() {
                    full.version = new_latest_tasks
                        .get(&id.unversioned())
                        .or_else(|| self.latest_tasks.get(&id.unversioned()))?
                        .clone();
                }
                new_tasks
                    .get(&full)
                    .or_else(|| self.tasks.get(&full))
                    .cloned()
            };
            let compiled = match compile(workflow, resolve) {
                Ok(c) => c,
                Err(e) => {
                    problems.push(e.to_string());
                    continue;
                }
            };
            let id = &compiled.spec.id;
            let existing = self
                .workflows
                .get(id)
                .or_else(|| new_workflows.iter().find(|w| w.spec.id == *id));
            match existing {
                Some(existing) if existing.spec == compiled.spec => {
                    registered.push(("workflow".into(), id.clone(), false))
                }
                Some(_) => problems.push(format!(
                    "workflow `{}` is already registered with different content; a registered version never changes: register a new version",
                    id
                )),
                None => {
                    registered.push(("workflow".into(), id.clone(), true));
                    new_workflows.push(Arc::new(compiled));
                }
            }
        }

        if !problems.is_empty() {
            let code = if problems.iter().all(|p| p.contains("already registered")) {
                ErrorCode::AlreadyExists
            } else {
                ErrorCode::InvalidArgument
            };
            return Err(SchedulerError::new(code, problems.join("\n")));
        }
        for (id, task) in new_tasks {
            self.latest_tasks
                .insert(id.unversioned(), id.version.clone());
            self.tasks.insert(id, task);
        }
        for workflow in new_workflows {
            let id = workflow.spec.id.clone();
            self.latest_workflows
                .insert(id.unversioned(), id.version.clone());
            self.workflows.insert(id, workflow);
        }
        Ok(Response::Registered(registered))
    }

    // ------------------------------------------------------------ launch

    /// Checks launch inputs against the workflow's interface and fills
    /// defaults. Also used by the leader to refuse bad launches early.
    pub fn check_launch(
        &self,
        workflow: &Identifier,
        mut inputs: Values,
    ) -> Result<(Arc<CompiledWorkflow>, Values), SchedulerError> {
        let workflow_id = workflow.clone().with_global_defaults();
        let compiled = self
            .workflow(&workflow_id)
            .ok_or_else(|| SchedulerError::not_found(format!("unknown workflow `{workflow_id}`")))?
            .clone();
        let interface = &compiled.spec.interface;
        let mut problems = Vec::new();
        for (name, value) in &inputs {
            match interface.input(name) {
                None => problems.push(format!(
                    "unknown input `{name}`; `{}` takes: {}",
                    compiled.spec.id,
                    describe_inputs(interface)
                )),
                Some(var) => {
                    if let Err(why) = value.check(&var.ty) {
                        problems.push(format!("input `{name}` ({}): {why}", var.ty));
                    }
                }
            }
        }
        for var in &interface.inputs {
            if inputs.contains_key(&var.name) {
                continue;
            }
            match (&var.default, var.ty.is_optional()) {
                (Some(default), _) => {
                    inputs.insert(var.name.clone(), default.clone());
                }
                (None, true) => {
                    inputs.insert(var.name.clone(), Value::None);
                }
                (None, false) => problems.push(format!(
                    "missing required input `{}` ({})",
                    var.name, var.ty
                )),
            }
        }
        if !problems.is_empty() {
            return Err(SchedulerError::invalid(problems.join("; ")));
        }
        Ok((compiled, inputs))
    }

    /// Launches an execution under `number` (reserved by its leader) or
    /// under the next number.
    #[allow(clippy::too_many_arguments)]
    fn launch(
        &mut self,
        workflow: &Identifier,
        inputs: Values,
        pool: String,
        request_id: String,
        number: Option<u64>,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Result<Response, SchedulerError> {
        if let Some(existing) = self.launch_requests.get(&request_id) {
            let workflow = self
                .executions
                .get(existing)
                .map(|e| e.workflow.clone())
                .unwrap_or_default();
            return Ok(Response::Launched {
                execution: existing.clone(),
                workflow,
            });
        }
        let (compiled, inputs) = self.check_launch(workflow, inputs)?;
        let id = match number {
            Some(number) => {
                let id = execution_id(&compiled.spec.id.name, number);
                if number > self.launches || self.executions.contains_key(&id) {
                    return Err(SchedulerError::invalid(format!(
                        "launch number {number} was not reserved, or is taken"
                    )));
                }
                id
            }
            None => {
                self.launches += 1;
                execution_id(&compiled.spec.id.name, self.launches)
            }
        };
        let tasks = &self.tasks;
        let node_pools = compiled.node_pools(|task| tasks.get(task).map(|t| t.pool.as_str()));
        let launch_pool: Option<Arc<str>> = (!pool.is_empty()).then(|| pool.as_str().into());
        let nodes = compiled
            .nodes
            .iter()
            .zip(node_pools)
            .map(|(n, node_pool)| NodeState {
                phase: NodePhase::Pending,
                attempt: 0,
                retries_used: 0,
                lost_attempts: 0,
                waiting_on: n.upstream.len() as u32,
                pool: settle_pool(node_pool, launch_pool.as_ref()),
                executor: String::new(),
                not_before_ms: 0,
                outputs: Values::new(),
                error: String::new(),
                started_at_ms: 0,
                finished_at_ms: 0,
                logs: Vec::new(),
            })
            .collect();
        let mut execution = Execution {
            id: id.clone(),
            workflow: compiled.spec.id.clone(),
            inputs,
            pool,
            phase: ExecutionPhase::Running,
            nodes,
            unfinished: compiled.nodes.len() as u32,
            outputs: Values::new(),
            error: String::new(),
            created_at_ms: now_ms,
            finished_at_ms: 0,
            // Launched, then queued, running and succeeded for each node,
            // then finished: the history's usual length, reserved at once.
            events: Vec::with_capacity(2 + 3 * compiled.nodes.len()),
        };
        let event = execution.record(
            now_ms,
            EventSubject::Execution(ExecutionPhase::Running),
            "launched".into(),
        );
        effects.push(Effect::Event {
            execution: id.clone(),
            event,
            finished: false,
        });
        for (i, node) in compiled.nodes.iter().enumerate() {
            if node.upstream.is_empty() {
                self.queue_node(
                    &mut execution,
                    i as u32,
                    now_ms,
                    now_ms,
                    String::new(),
                    effects,
                );
            }
        }
        self.executions.insert(id.clone(), execution);
        self.execution_order.push(id.clone());
        if !request_id.is_empty() {
            self.launch_requests.insert(request_id, id.clone());
        }
        Ok(Response::Launched {
            execution: id,
            workflow: compiled.spec.id.clone(),
        })
    }

    /// The pool of a node whose pool was not settled at launch.
    fn unsettled_pool(&self, execution: &Execution, node: u32) -> Arc<str> {
        let tasks = &self.tasks;
        let launch_pool: Option<Arc<str>> =
            (!execution.pool.is_empty()).then(|| execution.pool.as_str().into());
        self.workflows
            .get(&execution.workflow)
            .and_then(|compiled| {
                let pools = compiled.node_pools(|task| tasks.get(task).map(|t| t.pool.as_str()));
                pools
                    .get(node as usize)
                    .map(|p| settle_pool(p, launch_pool.as_ref()))
            })
            .unwrap_or_else(|| "default".into())
    }

    /// Moves a node to Queued in the pool settled at launch.
    fn queue_node(
        &self,
        execution: &mut Execution,
        node: u32,
        now_ms: u64,
        not_before_ms: u64,
        message: String,
        effects: &mut Vec<Effect>,
    ) {
        if execution.nodes[node as usize].pool.is_empty() {
            // Left waiting by a version that settled pools at queueing (a
            // snapshot written before a24bcd7): settle it now.
            let pool = self.unsettled_pool(execution, node);
            execution.nodes[node as usize].pool = pool;
        }
        let state = &mut execution.nodes[node as usize];
        state.phase = NodePhase::Queued;
        let pool = state.pool.clone();
        state.not_before_ms = not_before_ms;
        let attempt = state.attempt;
        let event = execution.record(
            now_ms,
            EventSubject::Node {
                node,
                phase: NodePhase::Queued,
                attempt,
            },
            message,
        );
        effects.push(Effect::Event {
            execution: execution.id.clone(),
            event,
            finished: false,
        });
        effects.push(Effect::NodeQueued {
            execution: execution.id.clone(),
            node,
            pool,
            not_before_ms,
        });
    }

    // ------------------------------------------------------------ attempts

    fn assign(
        &mut self,
        id: &ExecutionId,
        node: u32,
        executor: String,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Response {
        let Some(execution) = self.executions.get_mut(id) else {
            return Response::Ignored(format!("unknown execution `{id}`"));
        };
        let Some(state) = execution.nodes.get_mut(node as usize) else {
            return Response::Ignored(format!("execution `{id}` has no node #{node}"));
        };
        if execution.phase != ExecutionPhase::Running || state.phase != NodePhase::Queued {
            return Response::Ignored(format!("node #{node} of `{id}` is not queued"));
        }
        state.phase = NodePhase::Running;
        state.attempt += 1;
        state.executor = executor;
        state.started_at_ms = now_ms;
        let attempt = state.attempt;
        let message = format!("on {}", state.executor);
        let event = execution.record(
            now_ms,
            EventSubject::Node {
                node,
                phase: NodePhase::Running,
                attempt,
            },
            message,
        );
        effects.push(Effect::Event {
            execution: id.clone(),
            event,
            finished: false,
        });
        Response::Assigned { attempt }
    }

    /// Takes an execution out of the state (to change it alongside the rest
    /// of the state) with its workflow, if `attempt` is the current, running
    /// attempt of `node`; the caller puts it back.
    fn take_running(
        &mut self,
        id: &ExecutionId,
        node: u32,
        attempt: u32,
        executor: Option<&str>,
    ) -> Result<(Execution, Arc<CompiledWorkflow>), Response> {
        self.running_attempt(id, node, attempt, executor)
            .map_err(Response::Ignored)?;
        let workflow = self
            .executions
            .get(id)
            .and_then(|e| self.workflows.get(&e.workflow))
            .cloned()
            .ok_or_else(|| Response::Ignored(format!("workflow of `{id}` is missing")))?;
        let execution = self
            .executions
            .remove(id)
            .expect("checked by running_attempt");
        Ok((execution, workflow))
    }

    /// Whether `attempt` is the node's current, running attempt (and, when
    /// `executor` is given, whether it was assigned to that executor: a
    /// result re-sent by an executor that ran an assignment which never
    /// committed must not count for another executor's attempt of the same
    /// number).
    fn running_attempt(
        &mut self,
        id: &ExecutionId,
        node: u32,
        attempt: u32,
        executor: Option<&str>,
    ) -> Result<(), String> {
        let execution = self
            .executions
            .get(id)
            .ok_or_else(|| format!("unknown execution `{id}`"))?;
        let state = execution
            .nodes
            .get(node as usize)
            .ok_or_else(|| format!("execution `{id}` has no node #{node}"))?;
        if state.phase != NodePhase::Running || state.attempt != attempt {
            return Err(format!(
                "attempt {attempt} of node #{node} of `{id}` is not current (node is {:?}, attempt {})",
                state.phase, state.attempt
            ));
        }
        if let Some(executor) = executor {
            if state.executor != executor {
                return Err(format!(
                    "attempt {attempt} of node #{node} of `{id}` runs on `{}`, not on `{executor}`",
                    state.executor
                ));
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn complete(
        &mut self,
        id: &ExecutionId,
        node: u32,
        attempt: u32,
        executor: &str,
        outputs: Values,
        log: String,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Response {
        if let Err(why) = self.running_attempt(id, node, attempt, Some(executor)) {
            return Response::Ignored(why);
        }
        let execution = &self.executions[id];
        let Some(workflow) = self.workflows.get(&execution.workflow).cloned() else {
            return Response::Ignored(format!("workflow of `{id}` is missing"));
        };
        let compiled = &workflow.nodes[node as usize];
        if let Some(task) = self.tasks.get(&compiled.task) {
            if let Err(why) = check_outputs(task, &outputs) {
                return self.fail(
                    id, node, attempt, executor, why, false, log, now_ms, effects,
                );
            }
        }
        let Some(execution) = self.executions.get_mut(id) else {
            return Response::Ignored(format!("unknown execution `{id}`"));
        };
        let state = &mut execution.nodes[node as usize];
        state.phase = NodePhase::Succeeded;
        state.outputs = outputs;
        state.finished_at_ms = now_ms;
        push_log(state, attempt, log);
        execution.unfinished -= 1;
        let event = execution.record(
            now_ms,
            EventSubject::Node {
                node,
                phase: NodePhase::Succeeded,
                attempt,
            },
            String::new(),
        );
        effects.push(Effect::Event {
            execution: id.clone(),
            event,
            finished: false,
        });

        let mut execution = self.executions.remove(id).expect("checked above");
        for &down in &compiled.downstream {
            let state = &mut execution.nodes[down as usize];
            state.waiting_on -= 1;
            if state.waiting_on == 0 && state.phase == NodePhase::Pending {
                self.queue_node(&mut execution, down, now_ms, now_ms, String::new(), effects);
            }
        }
        if execution.unfinished == 0 {
            let outputs: Option<Values> = workflow
                .outputs
                .iter()
                .map(|(k, b)| evaluate(b, &execution).map(|v| (k.clone(), v)))
                .collect();
            match outputs {
                Some(outputs) => {
                    execution.outputs = outputs;
                    finish(
                        &mut execution,
                        ExecutionPhase::Succeeded,
                        String::new(),
                        now_ms,
                        effects,
                    );
                }
                None => finish(
                    &mut execution,
                    ExecutionPhase::Failed,
                    "an output binding could not be evaluated".into(),
                    now_ms,
                    effects,
                ),
            }
        }
        self.executions.insert(id.clone(), execution);
        Response::Done
    }

    #[allow(clippy::too_many_arguments)]
    fn fail(
        &mut self,
        id: &ExecutionId,
        node: u32,
        attempt: u32,
        executor: &str,
        error: String,
        retryable: bool,
        log: String,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Response {
        let (mut execution, workflow) = match self.take_running(id, node, attempt, Some(executor)) {
            Ok(taken) => taken,
            Err(ignored) => return ignored,
        };
        let retries = self
            .tasks
            .get(&workflow.nodes[node as usize].task)
            .map_or(0, |t| t.retries);
        let state = &mut execution.nodes[node as usize];
        push_log(state, attempt, log);
        state.error = error.clone();
        if retryable && state.retries_used < retries {
            let backoff = retry_backoff_ms(state.retries_used);
            state.retries_used += 1;
            let message = format!(
                "attempt {attempt} failed: {error}; retry {} of {retries} in {backoff} ms",
                state.retries_used
            );
            self.queue_node(
                &mut execution,
                node,
                now_ms,
                now_ms + backoff,
                message,
                effects,
            );
        } else {
            let why = if retryable && retries > 0 {
                format!("{error} (after {} retries)", retries)
            } else {
                error
            };
            fail_node(&mut execution, node, attempt, why, now_ms, effects);
        }
        self.executions.insert(id.clone(), execution);
        Response::Done
    }

    fn lease_lost(
        &mut self,
        id: &ExecutionId,
        node: u32,
        attempt: u32,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Response {
        let (mut execution, _) = match self.take_running(id, node, attempt, None) {
            Ok(taken) => taken,
            Err(ignored) => return ignored,
        };
        let state = &mut execution.nodes[node as usize];
        state.lost_attempts += 1;
        let executor = state.executor.clone();
        if state.lost_attempts > MAX_LOST_ATTEMPTS {
            let why = format!(
                "lost its executor {} times (last: {executor})",
                state.lost_attempts
            );
            fail_node(&mut execution, node, attempt, why, now_ms, effects);
        } else {
            let message = format!("attempt {attempt} lost with executor {executor}; running again");
            self.queue_node(&mut execution, node, now_ms, now_ms, message, effects);
        }
        self.executions.insert(id.clone(), execution);
        Response::Done
    }

    // ------------------------------------------------------------ cancel

    fn cancel(
        &mut self,
        id: &ExecutionId,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Result<Response, SchedulerError> {
        let execution = self
            .executions
            .get_mut(id)
            .ok_or_else(|| SchedulerError::not_found(format!("unknown execution `{id}`")))?;
        if execution.phase.is_terminal() {
            return Ok(Response::Cancelled(execution.phase));
        }
        end_unfinished_nodes(execution, NodePhase::Cancelled, now_ms, effects);
        finish(
            execution,
            ExecutionPhase::Cancelled,
            "cancelled".into(),
            now_ms,
            effects,
        );
        Ok(Response::Cancelled(ExecutionPhase::Cancelled))
    }
}

/// Fails a node for good and with it the execution: running nodes are
/// cancelled, waiting ones skipped.
fn fail_node(
    execution: &mut Execution,
    node: u32,
    attempt: u32,
    why: String,
    now_ms: u64,
    effects: &mut Vec<Effect>,
) {
    let id = execution.id.clone();
    let state = &mut execution.nodes[node as usize];
    state.phase = NodePhase::Failed;
    state.error = why.clone();
    state.finished_at_ms = now_ms;
    let event = execution.record(
        now_ms,
        EventSubject::Node {
            node,
            phase: NodePhase::Failed,
            attempt,
        },
        why.clone(),
    );
    effects.push(Effect::Event {
        execution: id.clone(),
        event,
        finished: false,
    });
    end_unfinished_nodes(execution, NodePhase::Skipped, now_ms, effects);
    finish(execution, ExecutionPhase::Failed, why, now_ms, effects);
}

/// Ends every node not yet finished: running ones are cancelled (and their
/// executors told to stop), waiting ones take `waiting_becomes`.
fn end_unfinished_nodes(
    execution: &mut Execution,
    waiting_becomes: NodePhase,
    now_ms: u64,
    effects: &mut Vec<Effect>,
) {
    let id = execution.id.clone();
    for node in 0..execution.nodes.len() as u32 {
        let state = &mut execution.nodes[node as usize];
        let phase = match state.phase {
            NodePhase::Running => {
                effects.push(Effect::CancelAttempt {
                    execution: id.clone(),
                    node,
                    attempt: state.attempt,
                    executor: state.executor.clone(),
                });
                NodePhase::Cancelled
            }
            NodePhase::Pending | NodePhase::Queued => waiting_becomes,
            _ => continue,
        };
        state.phase = phase;
        state.finished_at_ms = now_ms;
        let attempt = state.attempt;
        let event = execution.record(
            now_ms,
            EventSubject::Node {
                node,
                phase,
                attempt,
            },
            String::new(),
        );
        effects.push(Effect::Event {
            execution: id.clone(),
            event,
            finished: false,
        });
    }
    execution.unfinished = 0;
}

fn finish(
    execution: &mut Execution,
    phase: ExecutionPhase,
    error: String,
    now_ms: u64,
    effects: &mut Vec<Effect>,
) {
    execution.phase = phase;
    execution.error = error.clone();
    execution.finished_at_ms = now_ms;
    let event = execution.record(now_ms, EventSubject::Execution(phase), error);
    // The history is complete: give back the slack of its doublings (up to
    // half of it; 12 MB for a 100,000-node execution), so what a finished
    // execution holds is proportional to its size.
    execution.events.shrink_to_fit();
    effects.push(Effect::Event {
        execution: execution.id.clone(),
        event,
        finished: true,
    });
}

const MAX_LOGS_PER_NODE: usize = 4;

fn push_log(state: &mut NodeState, attempt: u32, text: String) {
    if text.is_empty() {
        return;
    }
    if state.logs.len() >= MAX_LOGS_PER_NODE {
        state.logs.remove(0);
    }
    state.logs.push(AttemptLog { attempt, text });
}

fn describe_inputs(interface: &baton_model::Interface) -> String {
    if interface.inputs.is_empty() {
        return "no inputs".into();
    }
    interface
        .inputs
        .iter()
        .map(|v| format!("{} ({})", v.name, v.ty))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_task(task: &TaskSpec) -> Result<(), String> {
    task.id.validate().map_err(|e| e.to_string())?;
    if let Runner::Builtin(name) = &task.runner {
        if !BUILTINS.contains(&name.as_str()) {
            return Err(format!(
                "task `{}`: unknown builtin `{name}`; known: {}",
                task.id,
                BUILTINS.join(", ")
            ));
        }
    }
    for var in &task.interface.inputs {
        if let Some(default) = &var.default {
            default.check(&var.ty).map_err(|why| {
                format!(
                    "task `{}` input `{}`: bad default: {why}",
                    task.id, var.name
                )
            })?;
        }
    }
    Ok(())
}

/// Checks reported outputs against the task's interface.
pub fn check_outputs(task: &TaskSpec, outputs: &Values) -> Result<(), String> {
    for var in &task.interface.outputs {
        match outputs.get(&var.name) {
            Some(value) => value
                .check(&var.ty)
                .map_err(|why| format!("output `{}` ({}): {why}", var.name, var.ty))?,
            None if var.ty.is_optional() => {}
            None => return Err(format!("output `{}` ({}) is missing", var.name, var.ty)),
        }
    }
    Ok(())
}

/// A node's pool: its own pin, else the launch's, else its workflow's, its
/// task's or `default` (what `node_pool` already holds).
pub(crate) fn settle_pool(node_pool: &NodePool, launch_pool: Option<&Arc<str>>) -> Arc<str> {
    match launch_pool {
        Some(launch_pool) if !node_pool.pinned => launch_pool.clone(),
        _ => node_pool.name.clone(),
    }
}

/// The id of the execution launched under `number`.
pub(crate) fn execution_id(workflow_name: &str, number: u64) -> ExecutionId {
    ExecutionId(format!("{workflow_name}-{number}").into())
}
