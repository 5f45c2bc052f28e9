//! Checking a launch on the leader's state before it is proposed, so that
//! a bad launch never reaches the log: the workflow (or launch plan)
//! exists, text and file inputs read as their declared types, a plan's
//! fixed inputs are left alone, and the inputs fit the interface.

use std::sync::Arc;

use baton_model::value::values_from_proto;
use baton_model::{CacheMode, Identifier, Value};
use baton_proto::{LaunchRequest, LaunchResponse};
use tonic::Status;

use crate::compiler::CompiledWorkflow;
use crate::dispatch::now_ms;
use crate::error::{ErrorCode, Problem, ProblemCode, SchedulerError};
use crate::state::{Command, SchedulerState};

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
    let mut problems = Vec::new();
    for (name, text) in request.text_inputs {
        match compiled.spec.interface.input(&name) {
            Some(var) => match Value::parse_text(&var.ty, &text) {
                Ok(v) => {
                    inputs.insert(name, v);
                }
                Err(e) => {
                    let code = if e.path.is_empty() {
                        ProblemCode::Invalid
                    } else {
                        ProblemCode::TypeMismatch
                    };
                    let message = format!("input `{name}{}` ({}): {}", e.path, var.ty, e.why);
                    problems.push(
                        Problem::new(code, message)
                            .field(format!("inputs.{name}"))
                            .path(e.path),
                    );
                }
            },
            None => {
                // Reported by check_launch with the list of inputs.
                inputs.insert(name, Value::String(text));
            }
        }
    }
    for (name, file) in request.file_inputs {
        let Some(var) = compiled.spec.interface.input(&name) else {
            // Reported by check_launch with the list of inputs.
            inputs.insert(name, Value::String(file.path));
            continue;
        };
        let blob = file.blob.as_ref().map(|b| baton_model::BlobRef {
            uri: b.uri.clone(),
            size: b.size,
            sha256: b.sha256.clone(),
        });
        let Some(blob) = blob else {
            let message = format!("input `{name}`: the file `{}` was not uploaded", file.path);
            problems
                .push(Problem::new(ProblemCode::Invalid, message).field(format!("inputs.{name}")));
            continue;
        };
        let value = match (is_blob(&var.ty), file.text) {
            (true, _) => Value::Blob(blob),
            (false, Some(text)) => match Value::parse_text(&var.ty, &text) {
                Ok(v) => v,
                Err(e) => {
                    let message = format!(
                        "input `{name}{}` ({}), read from `{}`: {}",
                        e.path, var.ty, file.path, e.why
                    );
                    problems.push(
                        Problem::new(ProblemCode::TypeMismatch, message)
                            .field(format!("inputs.{name}"))
                            .path(e.path),
                    );
                    continue;
                }
            },
            // Too large to send as text: the file is the value's JSON form,
            // read when a task needs it. Text itself has no JSON form here.
            (false, None) if is_text(&var.ty) => {
                let message = format!(
                    "input `{name}` ({}): `{}` ({} bytes) could not travel as text: it is above the inline limit or not UTF-8; such a file goes in a blob input",
                    var.ty, file.path, blob.size
                );
                problems.push(
                    Problem::new(ProblemCode::Invalid, message).field(format!("inputs.{name}")),
                );
                continue;
            }
            (false, None) => Value::Offloaded(blob),
        };
        inputs.insert(name, value);
    }
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

/// Whether `ty` is text read as itself (`string`, `bytes`), not as JSON.
fn is_text(ty: &baton_model::Type) -> bool {
    match ty {
        baton_model::Type::String | baton_model::Type::Bytes => true,
        baton_model::Type::Optional(inner) => is_text(inner),
        _ => false,
    }
}

/// Whether a value of `ty` is a blob (or an optional one): a file input is then the file itself.
fn is_blob(ty: &baton_model::Type) -> bool {
    match ty {
        baton_model::Type::Blob => true,
        baton_model::Type::Optional(inner) => is_blob(inner),
        _ => false,
    }
}
