//! Checking a signal on the leader's state before it is proposed, so that a
//! bad signal never reaches the log: the execution exists, the node names a
//! gate that waits, and the signal's fields are the gate's, of their types.

use baton_model::value::values_from_proto;
use baton_model::Values;
use baton_proto::SignalRequest;
use tonic::Status;

use super::typed;
use crate::dispatch::now_ms;
use crate::engine::{gate, path, Registry};
use crate::error::{ErrorCode, Problem, ProblemCode, SchedulerError};
use crate::state::{Command, Execution, ExecutionId, ExecutionPhase, SchedulerState};

/// The command for a signal checked against the state, and the gate's path.
pub(super) fn prepare(
    state: &SchedulerState,
    request: SignalRequest,
) -> Result<(Command, String), Status> {
    if request.execution_id.is_empty() {
        return Err(SchedulerError::invalid("no execution named").into());
    }
    if request.node.is_empty() {
        return Err(SchedulerError::invalid("no gate node named").into());
    }
    let id = ExecutionId(request.execution_id.as_str().into());
    let execution = state
        .execution(&id)
        .ok_or_else(|| SchedulerError::not_found(state.missing_execution(&id)))?;
    match execution.phase {
        ExecutionPhase::Running => {}
        ExecutionPhase::Queued => {
            return Err(SchedulerError::new(
                ErrorCode::FailedPrecondition,
                format!("execution `{id}` is queued (its project is at its cap of running executions): no gate of it waits yet"),
            )
            .into())
        }
        ended => {
            let ended = format!("{ended:?}").to_lowercase();
            return Err(SchedulerError::new(
                ErrorCode::FailedPrecondition,
                format!("execution `{id}` has ended ({ended}): no gate of it waits"),
            )
            .into());
        }
    }
    let registry = state.registry();
    let node = find_gate(&registry, execution, &request.node)?;
    let gate_path = path::path_of(&registry, execution, node);
    let spec = gate::spec_of(&registry, execution, node).ok_or_else(|| {
        SchedulerError::invalid(format!(
            "node `{gate_path}` of `{id}` is not a gate: only a gate node takes a signal"
        ))
    })?;
    let mut values: Values = values_from_proto(&request.values).map_err(|e| {
        let problem = Problem::new(ProblemCode::Invalid, e.to_string()).field("signal");
        Status::from(SchedulerError::problem(ErrorCode::InvalidArgument, problem))
    })?;
    let mut problems = typed::read_values(
        &spec.signal,
        "signal field",
        "signal",
        &mut values,
        request.text_values,
        request.file_values,
    );
    for problem in &mut problems {
        problem.message = format!("gate `{gate_path}` of `{id}`: {}", problem.message);
    }
    if !problems.is_empty() {
        return Err(SchedulerError::refused(ErrorCode::InvalidArgument, problems).into());
    }
    let values: std::collections::BTreeMap<_, _> = values.into_iter().collect();
    // Checked now as the state machine will check it again at apply.
    let now = now_ms();
    state.check_signal(&id, node, &values, now)?;
    let command = Command::Signal {
        execution: id,
        node,
        values,
        now_ms: now,
    };
    Ok((command, gate_path))
}

/// The instance `text` names: a path (`iterate[3].label.ask`), or the id
/// of a gate node of which exactly one instance waits (`ask`).
fn find_gate(registry: &Registry<'_>, execution: &Execution, text: &str) -> Result<u32, Status> {
    let by_path = path::resolve(registry, execution, text);
    if let Ok(node) = by_path {
        return Ok(node);
    }
    let waiting: Vec<u32> = (0..execution.nodes.len() as u32)
        .filter(|&n| {
            gate::waiting(registry, execution, n)
                && registry
                    .locate(execution, n)
                    .is_some_and(|l| l.node().id == text)
        })
        .collect();
    match waiting.as_slice() {
        [one] => Ok(*one),
        [] => {
            let waiting: Vec<String> = (0..execution.nodes.len() as u32)
                .filter(|&n| gate::waiting(registry, execution, n))
                .map(|n| path::path_of(registry, execution, n))
                .collect();
            let now = match waiting.is_empty() {
                true => "no gate of it waits now".to_string(),
                false => format!("gates waiting now: {}", waiting.join(", ")),
            };
            let why = by_path.err().unwrap_or_default();
            Err(SchedulerError::not_found(format!("{why}; {now}")).into())
        }
        several => {
            let paths: Vec<String> = several
                .iter()
                .map(|&n| path::path_of(registry, execution, n))
                .collect();
            Err(SchedulerError::invalid(format!(
                "{} instances of gate `{text}` wait in `{}`: name one by its path ({})",
                several.len(),
                execution.id,
                paths.join(", ")
            ))
            .into())
        }
    }
}
