//! The state machine's side of gate nodes: a signal checked against the
//! state (by the leader before it proposes it, and again when it applies),
//! and a gate's timeout. The gate's rules are the engine's
//! ([`crate::engine::gate`]).

use std::collections::BTreeMap;

use baton_model::Values;

use super::*;
use crate::engine::{gate, Registry, Run};
use crate::error::{ErrorCode, Problem, ProblemCode, SchedulerError};

impl SchedulerState {
    /// Checks a signal for gate instance `node` of `id`, arriving at
    /// `now_ms`, against the state: the gate's outputs it would give, or
    /// why it is refused.
    pub fn check_signal(
        &self,
        id: &ExecutionId,
        node: u32,
        values: &BTreeMap<String, baton_model::Value>,
        now_ms: u64,
    ) -> Result<Values, SchedulerError> {
        let registry = self.registry();
        let execution = self.executions.get(id).ok_or_else(|| {
            SchedulerError::not_found(super::retention::missing(&self.expired, id))
        })?;
        let path = || crate::engine::path::path_of(&registry, execution, node);
        let Some(spec) = gate::spec_of(&registry, execution, node) else {
            return Err(SchedulerError::invalid(format!(
                "node `{}` of `{id}` is not a gate: only a gate node takes a signal",
                path()
            )));
        };
        if !gate::waiting(&registry, execution, node) {
            let phase = execution.nodes[node as usize].phase;
            let named = |phase: NodePhase| format!("{phase:?}").to_lowercase();
            let why = match phase {
                NodePhase::Pending => {
                    "it has not started waiting (its upstream nodes have not all succeeded)"
                        .to_string()
                }
                NodePhase::Succeeded => {
                    "it has succeeded already (signalled, timed out with its on_timeout signal, or recovered)".to_string()
                }
                other if execution.phase.is_terminal() => {
                    format!("the execution has ended (the gate is {})", named(other))
                }
                other => format!("it is {}", named(other)),
            };
            return Err(SchedulerError::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "gate `{}` of `{id}` is not waiting for a signal: {why}",
                    path()
                ),
            ));
        }
        let deadline = execution.nodes[node as usize].not_before_ms;
        if deadline > 0 && now_ms >= deadline {
            return Err(SchedulerError::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "gate `{}` of `{id}` timed out at {} (its timeout is being recorded): a signal no longer counts",
                    path(),
                    baton_model::value::format_datetime(deadline as i64 * 1_000_000)
                ),
            ));
        }
        let meets = |outputs: Values| {
            let compiled = gate::compiled_of(&registry, execution, node);
            let inputs = self.node_inputs(execution, node).unwrap_or_default();
            match compiled.map(|c| gate::check_meets(c, &outputs, &inputs)) {
                Some(Err(why)) => Err(why),
                _ => Ok(outputs),
            }
        };
        let refused = |code: ProblemCode, why: String| {
            SchedulerError::problem(
                ErrorCode::InvalidArgument,
                Problem::new(code, format!("gate `{}` of `{id}`: {why}", path()))
                    .node(path())
                    .field("signal"),
            )
        };
        let outputs = gate::check_signal(spec, values).map_err(|e| {
            let code = match e.mistyped {
                true => ProblemCode::TypeMismatch,
                false => ProblemCode::Invalid,
            };
            refused(code, e.message)
        })?;
        meets(outputs).map_err(|why| refused(ProblemCode::Invalid, why))
    }

    pub(super) fn signal(
        &mut self,
        id: &ExecutionId,
        node: u32,
        values: &BTreeMap<String, baton_model::Value>,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Response {
        let outputs = match self.check_signal(id, node, values, now_ms) {
            Ok(outputs) => outputs,
            Err(e) => return Response::Rejected(e),
        };
        let registry = Registry {
            tasks: &self.tasks,
            workflows: &self.workflows,
            cache: &self.cache,
            projects: &self.projects,
        };
        let Some(execution) = self.executions.get_mut(id) else {
            return Response::Ignored(format!("unknown execution `{id}`"));
        };
        let mut run = Run::new(registry, execution, now_ms, effects);
        run.signalled(node, outputs);
        let requests = std::mem::take(&mut run.cache_requests);
        self.settle_cache(id, requests, now_ms, effects);
        Response::Done
    }

    pub(super) fn gate_timed_out(
        &mut self,
        id: &ExecutionId,
        node: u32,
        attempt: u32,
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
        let mut run = Run::new(registry, execution, now_ms, effects);
        if !run.gate_timed_out(node, attempt) {
            return Response::Ignored(format!(
                "gate #{node} of `{id}` no longer waits under attempt {attempt}, or its deadline is ahead"
            ));
        }
        let requests = std::mem::take(&mut run.cache_requests);
        self.settle_cache(id, requests, now_ms, effects);
        Response::Done
    }
}
