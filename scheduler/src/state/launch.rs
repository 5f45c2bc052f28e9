//! Launches: a workflow's (`Launch`, `LaunchNumbered`, `LaunchWith`), a
//! launch plan's, and a recovery or relaunch of an ended execution
//! (`Recover`); each checks its inputs, lays out the first frame and
//! queues what is ready.

use std::collections::BTreeMap;
use std::sync::Arc;

use baton_model::{Identifier, Value, Values};

use super::*;
use crate::engine::{gate, Run};
use crate::error::{ErrorCode, Problem, ProblemCode, SchedulerError};

impl SchedulerState {
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
    pub(super) fn launch_planned(
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
    pub(super) fn launch(
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
    pub(super) fn launch_with(
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
            trace: None,
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
}

/// What a launch may carry besides a workflow and its inputs.
#[derive(Default)]
pub(super) struct LaunchExtras {
    pub(super) plan: Option<Box<PlanApplied>>,
    pub(super) cache: baton_model::CacheMode,
    pub(super) origin: Option<Box<Origin>>,
}

impl SchedulerState {
    /// `baton recover` / `baton relaunch`: a new execution of `from`'s
    /// workflow version, inputs, pool, plan and cache mode; recovery
    /// reuses the outputs of every task instance that succeeded in `from`,
    /// and of every gate signalled or timed out there (nobody is asked again).
    pub(super) fn recover(
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
