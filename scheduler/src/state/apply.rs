//! The transitions of the state machine: one function per command.
//!
//! A command that cannot apply changes nothing and answers
//! [`Response::Rejected`] (a bad request) or [`Response::Ignored`] (a stale
//! report, e.g. the result of an attempt that is no longer current).

use std::collections::BTreeMap;
use std::sync::Arc;

use baton_model::{Identifier, Value, Values};

use super::*;
use crate::engine::cache::CacheRequest;
use crate::engine::{gate, Registry, Run};
use crate::error::{ErrorCode, Problem, ProblemCode, SchedulerError};
use crate::state::cache::CacheEntry;

/// The builtin functions every executor offers.
pub const BUILTINS: &[&str] = &["noop", "echo", "sleep", "fail"];

impl SchedulerState {
    /// Applies one command; in debug builds, then checks the engine's
    /// invariants on the execution it changed.
    pub fn apply_one(&mut self, command: Command, effects: &mut Vec<Effect>) -> Response {
        #[cfg(debug_assertions)]
        let touched = command.execution().cloned();
        let first_effect = effects.len();
        let response = self.apply_command(command, effects);
        self.count_ended(first_effect, effects);
        #[cfg(debug_assertions)]
        match &response {
            Response::Launched { execution, .. } => self.check_invariants(Some(execution)),
            _ => self.check_invariants(touched.as_ref()),
        }
        response
    }

    fn apply_command(&mut self, command: Command, effects: &mut Vec<Effect>) -> Response {
        let result = match command {
            Command::Register { tasks, workflows } => {
                self.register(tasks, workflows, Vec::new(), 0)
            }
            Command::RegisterAt {
                tasks,
                workflows,
                launch_plans,
                now_ms,
            } => self.register(tasks, workflows, launch_plans, now_ms),
            Command::Launch {
                workflow,
                inputs,
                pool,
                request_id,
                now_ms,
            } => self.launch(&workflow, inputs, pool, request_id, None, now_ms, effects),
            Command::LaunchWith {
                workflow,
                plan,
                inputs,
                pool,
                request_id,
                cache,
                now_ms,
            } => match plan {
                Some(plan) => {
                    self.launch_planned(&plan, inputs, pool, request_id, cache, now_ms, effects)
                }
                None => {
                    let extras = LaunchExtras {
                        cache,
                        ..LaunchExtras::default()
                    };
                    self.launch_with(
                        &workflow, inputs, pool, request_id, None, now_ms, extras, effects,
                    )
                }
            },
            Command::Recover {
                from,
                relaunch,
                request_id,
                now_ms,
            } => self.recover(&from, relaunch, request_id, now_ms, effects),
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
                log_size,
                now_ms,
            } => Ok(self.complete(
                &execution, node, attempt, &executor, outputs, log_size, now_ms, effects,
            )),
            Command::Fail {
                execution,
                node,
                attempt,
                executor,
                error,
                retryable,
                log_size,
                now_ms,
            } => Ok(self.fail(
                &execution, node, attempt, &executor, error, retryable, log_size, now_ms, effects,
            )),
            Command::LeaseLost {
                execution,
                node,
                attempt,
                now_ms,
            } => Ok(self.lease_lost(&execution, node, attempt, now_ms, effects)),
            Command::Cancel { execution, now_ms } => self.cancel(&execution, now_ms, effects),
            Command::HandBack {
                execution,
                node,
                attempt,
                executor,
                now_ms,
            } => Ok(self.hand_back(&execution, node, attempt, &executor, now_ms, effects)),
            Command::ScalePool {
                pool,
                scale,
                now_ms,
            } => self.scale_pool(pool, scale, now_ms, effects),
            Command::AutoscalePool {
                pool,
                autoscale,
                now_ms,
            } => self.autoscale_pool(pool, autoscale, now_ms, effects),
            Command::PrefetchPool {
                pool,
                prefetch,
                now_ms,
            } => self.prefetch_pool(pool, prefetch, now_ms, effects),
            Command::Autoscaled {
                pool,
                to,
                reason,
                now_ms,
            } => Ok(self.autoscaled(pool, to, reason, now_ms, effects)),
            Command::SetProject {
                project,
                default_pool,
                now_ms,
            } => {
                let change = pools::ProjectChange {
                    default_pool,
                    ..Default::default()
                };
                self.configure_project(project, change, now_ms, effects)
            }
            Command::Signal {
                execution,
                node,
                values,
                now_ms,
            } => Ok(self.signal(&execution, node, &values, now_ms, effects)),
            Command::GateTimedOut {
                execution,
                node,
                attempt,
                now_ms,
            } => Ok(self.gate_timed_out(&execution, node, attempt, now_ms, effects)),
            Command::ConfigureProject {
                project,
                change,
                now_ms,
            } => self.configure_project(project, change, now_ms, effects),
            Command::Expire { executions, .. } => Ok(self.expire(executions)),
            Command::SetRetention {
                project, retention, ..
            } => self.set_retention(project, retention, effects),
            Command::DrainExecutor {
                executor,
                deadline_ms,
                now_ms,
            } => self.drain_executor(executor, deadline_ms, now_ms, effects),
            Command::ForgetDrain { executor } => {
                self.drains.remove(&executor);
                Ok(Response::Done)
            }
        };
        result.unwrap_or_else(Response::Rejected)
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
            .ok_or_else(|| {
                SchedulerError::problem(
                    ErrorCode::NotFound,
                    Problem::new(
                        ProblemCode::NotFound,
                        format!("unknown workflow `{workflow_id}`"),
                    )
                    .field("workflow"),
                )
            })?
            .clone();
        let interface = &compiled.spec.interface;
        let mut problems = Vec::new();
        for (name, value) in &inputs {
            match interface.input(name) {
                None => problems.push(
                    Problem::new(
                        ProblemCode::UnknownName,
                        format!(
                            "unknown input `{name}`; `{}` takes: {}",
                            compiled.spec.id,
                            describe_inputs(interface)
                        ),
                    )
                    .field(format!("inputs.{name}")),
                ),
                Some(var) => {
                    if let Err(e) = value.check(&var.ty) {
                        problems.push(
                            Problem::new(
                                ProblemCode::TypeMismatch,
                                format!("input `{name}{}` ({}): {}", e.path, var.ty, e.why),
                            )
                            .field(format!("inputs.{name}"))
                            .path(e.path),
                        );
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
                (None, false) => problems.push(
                    Problem::new(
                        ProblemCode::Missing,
                        format!("missing required input `{}` ({})", var.name, var.ty),
                    )
                    .field(format!("inputs.{}", var.name)),
                ),
            }
        }
        if !problems.is_empty() {
            return Err(SchedulerError::refused(
                ErrorCode::InvalidArgument,
                problems,
            ));
        }
        Ok((compiled, inputs))
    }

    /// Launches an execution under `number` (reserved by its leader) or
    /// under the next number.
    #[allow(clippy::too_many_arguments)]
    /// A launch of plan `plan`: see [`SchedulerState::plan_launch`].
    #[allow(clippy::too_many_arguments)]
    fn launch_planned(
        &mut self,
        plan: &Identifier,
        inputs: Values,
        pool: String,
        request_id: String,
        cache: baton_model::CacheMode,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Result<Response, SchedulerError> {
        if self.launch_requests.contains_key(&request_id) {
            return self.launch(plan, inputs, pool, request_id, None, now_ms, effects);
        }
        let planned = self.plan_launch(plan, inputs)?;
        let pool = if pool.is_empty() {
            planned.plan.pool.clone()
        } else {
            pool
        };
        let applied = PlanApplied {
            plan: planned.plan.id.clone(),
            labels: planned.plan.labels.clone(),
            overrides: planned.plan.overrides.clone(),
            tasks: planned.override_tasks,
        };
        let workflow = planned.plan.workflow.clone();
        self.launch_with(
            &workflow,
            planned.inputs,
            pool,
            request_id,
            None,
            now_ms,
            LaunchExtras {
                plan: Some(Box::new(applied)),
                cache,
                origin: None,
            },
            effects,
        )
    }

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
        let extras = LaunchExtras::default();
        self.launch_with(
            workflow, inputs, pool, request_id, number, now_ms, extras, effects,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn launch_with(
        &mut self,
        workflow: &Identifier,
        inputs: Values,
        pool: String,
        request_id: String,
        number: Option<u64>,
        now_ms: u64,
        extras: LaunchExtras,
        effects: &mut Vec<Effect>,
    ) -> Result<Response, SchedulerError> {
        let LaunchExtras {
            plan,
            cache,
            origin,
        } = extras;
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
        let mut execution = Execution {
            id: id.clone(),
            workflow: compiled.spec.id.clone(),
            project: compiled.spec.id.project.as_str().into(),
            inputs,
            pool,
            phase: ExecutionPhase::Running,
            nodes: Vec::with_capacity(compiled.nodes.len()),
            frames: Vec::with_capacity(1),
            attempt_floor: 0,
            outputs: Values::new(),
            error: String::new(),
            created_at_ms: now_ms,
            finished_at_ms: 0,
            // Launched, then queued, running and succeeded for each node,
            // then finished: the history's usual length, reserved at once.
            events: Vec::with_capacity(2 + 3 * compiled.nodes.len()),
            plan,
            cache,
            origin,
        };
        if let Some(cap) = self.must_wait(&execution.workflow.project) {
            self.hold(&mut execution, cap, now_ms, effects);
            self.executions.insert(id.clone(), execution);
        } else {
            self.started(&execution.workflow.project);
            let mut run = Run::new(self.registry(), &mut execution, now_ms, effects);
            run.start(&compiled);
            let requests = std::mem::take(&mut run.cache_requests);
            self.executions.insert(id.clone(), execution);
            self.settle_cache(&id, requests, now_ms, effects);
        }
        self.execution_order.push(id.clone());
        if !request_id.is_empty() {
            self.launch_requests.insert(request_id, id.clone());
        }
        Ok(Response::Launched {
            execution: id,
            workflow: compiled.spec.id.clone(),
        })
    }

    // ------------------------------------------------------------ attempts

    /// What the engine reads of the registry.
    pub fn registry(&self) -> Registry<'_> {
        Registry {
            tasks: &self.tasks,
            workflows: &self.workflows,
            cache: &self.cache,
            projects: &self.projects,
        }
    }

    /// The execution `id` with the registry, to change it through the
    /// engine, if `attempt` is the current, running attempt of `node` (and,
    /// when `executor` is given, was assigned to that executor: a result
    /// re-sent by an executor that ran an assignment which never committed
    /// must not count for another executor's attempt of the same number).
    fn running_attempt(
        &mut self,
        id: &ExecutionId,
        node: u32,
        attempt: u32,
        executor: Option<&str>,
    ) -> Result<(Registry<'_>, &mut Execution), String> {
        let registry = Registry {
            tasks: &self.tasks,
            workflows: &self.workflows,
            cache: &self.cache,
            projects: &self.projects,
        };
        let execution = self
            .executions
            .get_mut(id)
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
        if state.executor.is_empty() {
            // A running sub-workflow instance: no executor runs it.
            return Err(format!(
                "node #{node} of `{id}` is not a task attempt on an executor"
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
        Ok((registry, execution))
    }

    fn assign(
        &mut self,
        id: &ExecutionId,
        node: u32,
        executor: String,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Response {
        let registry = Registry {
            tasks: &self.tasks,
            workflows: &self.workflows,
            cache: &self.cache,
            projects: &self.projects,
        };
        let Some(execution) = self.executions.get_mut(id) else {
            return Response::Ignored(format!("unknown execution `{id}`"));
        };
        if node as usize >= execution.nodes.len() {
            return Response::Ignored(format!("execution `{id}` has no node #{node}"));
        }
        match Run::new(registry, execution, now_ms, effects).assigned(node, executor) {
            Some(attempt) => Response::Assigned { attempt },
            None => Response::Ignored(format!("node #{node} of `{id}` is not queued")),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn complete(
        &mut self,
        id: &ExecutionId,
        node: u32,
        attempt: u32,
        executor: &str,
        outputs: Values,
        log_size: u64,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Response {
        match self.running_attempt(id, node, attempt, Some(executor)) {
            Ok((registry, execution)) => {
                let mut run = Run::new(registry, execution, now_ms, effects);
                run.attempt_succeeded(node, attempt, outputs, log_size);
                let requests = std::mem::take(&mut run.cache_requests);
                self.settle_cache(id, requests, now_ms, effects);
                Response::Done
            }
            Err(why) => Response::Ignored(why),
        }
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
        log_size: u64,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Response {
        match self.running_attempt(id, node, attempt, Some(executor)) {
            Ok((registry, execution)) => {
                let mut run = Run::new(registry, execution, now_ms, effects);
                run.attempt_failed(node, attempt, error, retryable, log_size);
                let requests = std::mem::take(&mut run.cache_requests);
                self.settle_cache(id, requests, now_ms, effects);
                Response::Done
            }
            Err(why) => Response::Ignored(why),
        }
    }

    fn hand_back(
        &mut self,
        id: &ExecutionId,
        node: u32,
        attempt: u32,
        executor: &str,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Response {
        match self.running_attempt(id, node, attempt, Some(executor)) {
            Ok((registry, execution)) => {
                let mut run = Run::new(registry, execution, now_ms, effects);
                run.attempt_handed_back(node, attempt);
                let requests = std::mem::take(&mut run.cache_requests);
                self.settle_cache(id, requests, now_ms, effects);
                Response::Done
            }
            Err(why) => Response::Ignored(why),
        }
    }

    fn lease_lost(
        &mut self,
        id: &ExecutionId,
        node: u32,
        attempt: u32,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Response {
        match self.running_attempt(id, node, attempt, None) {
            Ok((registry, execution)) => {
                let mut run = Run::new(registry, execution, now_ms, effects);
                run.attempt_lost(node, attempt);
                let requests = std::mem::take(&mut run.cache_requests);
                self.settle_cache(id, requests, now_ms, effects);
                Response::Done
            }
            Err(why) => Response::Ignored(why),
        }
    }

    // ------------------------------------------------------------ cancel

    fn cancel(
        &mut self,
        id: &ExecutionId,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Result<Response, SchedulerError> {
        let registry = Registry {
            tasks: &self.tasks,
            workflows: &self.workflows,
            cache: &self.cache,
            projects: &self.projects,
        };
        let execution = self
            .executions
            .get_mut(id)
            .ok_or_else(|| SchedulerError::not_found(retention::missing(&self.expired, id)))?;
        if execution.phase.is_terminal() {
            return Ok(Response::Cancelled(execution.phase));
        }
        if execution.phase == ExecutionPhase::Queued {
            self.cancel_held(id, now_ms, effects);
            return Ok(Response::Cancelled(ExecutionPhase::Cancelled));
        }
        let mut run = Run::new(registry, execution, now_ms, effects);
        run.cancel();
        let requests = std::mem::take(&mut run.cache_requests);
        self.settle_cache(id, requests, now_ms, effects);
        Ok(Response::Cancelled(ExecutionPhase::Cancelled))
    }
}

/// What a launch may carry besides a workflow and its inputs.
#[derive(Default)]
struct LaunchExtras {
    plan: Option<Box<PlanApplied>>,
    cache: baton_model::CacheMode,
    origin: Option<Box<Origin>>,
}

impl SchedulerState {
    /// `baton recover` / `baton relaunch`: a new execution of `from`'s
    /// workflow version, inputs, pool, plan and cache mode; recovery
    /// reuses the outputs of every task instance that succeeded in `from`,
    /// and of every gate signalled or timed out there (nobody is asked again).
    fn recover(
        &mut self,
        from: &ExecutionId,
        relaunch: bool,
        request_id: String,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Result<Response, SchedulerError> {
        let old = self
            .executions
            .get(from)
            .ok_or_else(|| SchedulerError::not_found(retention::missing(&self.expired, from)))?;
        if !self.launch_requests.contains_key(&request_id) && !relaunch {
            match old.phase {
                ExecutionPhase::Running => {
                    return Err(SchedulerError::invalid(format!(
                        "execution `{from}` is still running: recover it once it has ended (or cancel it first)"
                    )))
                }
                ExecutionPhase::Succeeded => {
                    return Err(SchedulerError::invalid(format!(
                        "execution `{from}` succeeded: there is nothing to recover (`baton relaunch` runs it again)"
                    )))
                }
                _ => {}
            }
        }
        let registry = self.registry();
        // What an iteration's replaced run left is not reused: the run
        // that replaced it is the iteration.
        let replaced = old.replaced_frames();
        let reuse = match relaunch {
            true => BTreeMap::new(),
            false => (0..old.nodes.len() as u32)
                .filter(|&n| {
                    old.nodes[n as usize].phase == NodePhase::Succeeded
                        && !replaced[old.frame_of(n) as usize]
                        && (registry.task_of(old, n).is_some()
                            || gate::spec_of(&registry, old, n).is_some())
                })
                .map(|n| {
                    (
                        self.node_path(old, n),
                        old.nodes[n as usize].outputs.clone(),
                    )
                })
                .collect(),
        };
        let extras = LaunchExtras {
            plan: old.plan.clone(),
            cache: old.cache,
            origin: Some(Box::new(Origin {
                from: from.clone(),
                relaunch,
                reuse,
            })),
        };
        let (workflow, inputs, pool) = (old.workflow.clone(), old.inputs.clone(), old.pool.clone());
        self.launch_with(
            &workflow, inputs, pool, request_id, None, now_ms, extras, effects,
        )
    }

    /// Applies what a run of execution `id` asked of the cache, then ends
    /// the claims of its instances that finished: their waiters are served
    /// from the stored result, or (if the claimant did not succeed) the
    /// first of them runs it, and the others wait for that one.
    pub(super) fn settle_cache(
        &mut self,
        id: &ExecutionId,
        requests: Vec<CacheRequest>,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) {
        for request in requests {
            match request {
                CacheRequest::Store {
                    node,
                    key,
                    expires_ms,
                } => {
                    let Some(execution) = self.executions.get(id) else {
                        continue;
                    };
                    let entry = CacheEntry {
                        outputs: execution.nodes[node as usize].outputs.clone(),
                        at_ms: now_ms,
                        expires_ms,
                        execution: id.clone(),
                        path: self.node_path(execution, node),
                    };
                    self.cache.put(key, entry);
                }
                CacheRequest::Claim { node, key } => self.cache.claim(key, (id.clone(), node)),
                CacheRequest::Wait { node, key } => self.cache.wait(key, (id.clone(), node)),
            }
        }
        let Some(execution) = self.executions.get(id) else {
            return;
        };
        let ended: Vec<String> = self
            .cache
            .claims_of(id)
            .into_iter()
            .filter(|(_, node)| {
                execution.phase.is_terminal() || execution.nodes[*node as usize].phase.is_terminal()
            })
            .map(|(key, _)| key)
            .collect();
        for key in ended {
            let waiters = self.cache.release(&key);
            let entry = self.cache.get(&key, now_ms).cloned();
            let mut waiters = waiters.into_iter();
            while let Some(waiter) = waiters.next() {
                match &entry {
                    Some(entry) => {
                        let from = format!(
                            "cached: the result of {} node {}",
                            entry.execution, entry.path
                        );
                        self.wake(
                            &waiter,
                            Some((entry.outputs.clone(), from)),
                            now_ms,
                            effects,
                        );
                    }
                    None => {
                        // The first waiter still waiting runs it; the rest wait for it.
                        if self.wake(&waiter, None, now_ms, effects) {
                            for rest in waiters.by_ref() {
                                self.cache.wait(key.clone(), rest);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Ends the wait of `waiter`: served `outputs`, or run. `false` if it
    /// no longer waits (its execution ended meanwhile).
    fn wake(
        &mut self,
        (id, node): &(ExecutionId, u32),
        outputs: Option<(Values, String)>,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> bool {
        let registry = Registry {
            tasks: &self.tasks,
            workflows: &self.workflows,
            cache: &self.cache,
            projects: &self.projects,
        };
        let Some(execution) = self.executions.get_mut(id) else {
            return false;
        };
        if execution.phase.is_terminal()
            || execution.nodes.get(*node as usize).map(|n| n.phase) != Some(NodePhase::Pending)
        {
            return false;
        }
        let mut run = Run::new(registry, execution, now_ms, effects);
        match outputs {
            Some((outputs, from)) => run.cached(*node, outputs, from),
            None => run.run_after_wait(*node),
        }
        let requests = std::mem::take(&mut run.cache_requests);
        self.settle_cache(id, requests, now_ms, effects);
        true
    }
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

/// The id of the execution launched under `number`.
pub(crate) fn execution_id(workflow_name: &str, number: u64) -> ExecutionId {
    ExecutionId(format!("{workflow_name}-{number}").into())
}
