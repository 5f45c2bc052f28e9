//! Checking a launch on the leader's state before it is proposed, so that
//! a bad launch never reaches the log: the workflow (or launch plan)
//! exists, text and file inputs read as their declared types, a plan's
//! fixed inputs are left alone, and the inputs fit the interface.

use std::sync::Arc;

use baton_model::value::values_from_proto;
use baton_model::{CacheMode, Identifier};
use baton_proto::{LaunchRequest, LaunchResponse};
use tonic::Status;

use crate::compiler::CompiledWorkflow;
use crate::dispatch::now_ms;
use crate::error::{ErrorCode, Problem, ProblemCode, SchedulerError};
use crate::state::{Command, SchedulerState};

use super::typed;

/// A launch checked against the leader's state.
pub(super) enum PreparedLaunch {
    /// Launched before under the same request id: that launch's answer.
    Known(LaunchResponse),
    /// New and valid: the command to propose, and the workflow it launches.
    New(Command, Arc<CompiledWorkflow>),
}

/// Checks a launch on the current state, so that a bad launch never
/// reaches the log: the workflow exists, text inputs parse as their
/// declared types, and the inputs fit the workflow's interface.
pub(super) fn prepare(
    state: &SchedulerState,
    request: LaunchRequest,
) -> std::result::Result<PreparedLaunch, Status> {
    let named: Identifier = request
        .workflow
        .as_ref()
        .map(Into::into)
        .unwrap_or_default();
    let plan_named: Identifier = request
        .launch_plan
        .as_ref()
        .map(Into::into)
        .unwrap_or_default();
    if named.name.is_empty() && plan_named.name.is_empty() {
        let problem = Problem::new(ProblemCode::Missing, "no workflow named").field("workflow");
        return Err(SchedulerError::problem(ErrorCode::InvalidArgument, problem).into());
    }
    // A retried launch whose first attempt went through: answer with its execution.
    if let Some(id) = state.launch_requests.get(&request.request_id) {
        return Ok(PreparedLaunch::Known(LaunchResponse {
            execution_id: id.to_string(),
            workflow: state.execution(id).map(|e| (&e.workflow).into()),
        }));
    }
    // `baton run NAME` names a workflow or a launch plan.
    let plan = match (named.name.is_empty(), plan_named.name.is_empty()) {
        (true, _) => Some(plan_named.with_global_defaults()),
        (false, _) => {
            let named = named.clone().with_global_defaults();
            match (state.workflow(&named), state.launch_plan(&named)) {
                (None, Some(_)) => Some(named),
                (Some(_), Some(_)) => {
                    return Err(SchedulerError::invalid(format!(
                    "`{named}` names both a workflow and a launch plan: run the plan with --plan"
                ))
                    .into())
                }
                _ => None,
            }
        }
    };
    let plan = match plan {
        Some(id) => Some(
            state
                .launch_plan(&id)
                .ok_or_else(|| {
                    SchedulerError::problem(
                        ErrorCode::NotFound,
                        Problem::new(ProblemCode::NotFound, format!("unknown launch plan `{id}`"))
                            .field("launch_plan"),
                    )
                })?
                .clone(),
        ),
        None => None,
    };
    let workflow = match &plan {
        Some(plan) => plan.workflow.clone(),
        None => named.with_global_defaults(),
    };
    let cache = baton_proto::CacheMode::try_from(request.cache)
        .map(CacheMode::from)
        .unwrap_or_default();
    let mut inputs = values_from_proto(&request.inputs).map_err(|e| {
        let problem = Problem::new(ProblemCode::Invalid, e.to_string()).field("inputs");
        Status::from(SchedulerError::problem(ErrorCode::InvalidArgument, problem))
    })?;
    let compiled = state
        .workflow(&workflow)
        .ok_or_else(|| SchedulerError::not_found(format!("unknown workflow `{workflow}`")))?;
    let problems = typed::read_values(
        &compiled.spec.interface.inputs,
        "input",
        "inputs",
        &mut inputs,
        request.text_inputs,
        request.file_inputs,
    );
    if !problems.is_empty() {
        return Err(SchedulerError::refused(ErrorCode::InvalidArgument, problems).into());
    }
    if let Some(plan) = plan {
        // The plan's defaults under these inputs, its fixed ones untouched:
        // checked now as the state machine will check them.
        let planned = state.plan_launch(&plan.id, inputs.clone())?;
        let (compiled, _) = state.check_launch(&workflow, planned.inputs)?;
        let command = Command::LaunchWith {
            workflow,
            plan: Some(plan.id.clone()),
            inputs,
            pool: request.pool,
            request_id: request.request_id,
            cache,
            now_ms: now_ms(),
        };
        return Ok(PreparedLaunch::New(command, compiled));
    }
    // The checked inputs (defaults filled in) are what the state machine
    // would compute again at apply.
    let (compiled, inputs) = state.check_launch(&workflow, inputs)?;
    if cache != CacheMode::Use {
        let command = Command::LaunchWith {
            workflow,
            plan: None,
            inputs,
            pool: request.pool,
            request_id: request.request_id,
            cache,
            now_ms: now_ms(),
        };
        return Ok(PreparedLaunch::New(command, compiled));
    }
    let command = Command::Launch {
        workflow,
        inputs,
        pool: request.pool,
        request_id: request.request_id,
        now_ms: now_ms(),
    };
    Ok(PreparedLaunch::New(command, compiled))
}
