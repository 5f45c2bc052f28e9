//! Reads of the registry: the versions of a task or workflow (newest first,
//! with their registration time) and one version as stored, its references
//! pinned to the versions registration resolved.

use baton_model::Identifier;
use baton_proto::{
    describe_response, DescribeRequest, DescribeResponse, ListVersionsRequest,
    ListVersionsResponse, VersionInfo,
};

use crate::error::SchedulerError;
use crate::state::SchedulerState;

/// What the request's `kind` allows: `task`, `workflow`, or both when empty.
fn kinds(kind: &str) -> Result<&'static [&'static str], SchedulerError> {
    match kind {
        "" => Ok(&["task", "workflow", "launch-plan"]),
        "task" => Ok(&["task"]),
        "workflow" => Ok(&["workflow"]),
        "launch-plan" => Ok(&["launch-plan"]),
        other => Err(SchedulerError::invalid(format!(
            "unknown kind `{other}`: use task, workflow or launch-plan"
        ))),
    }
}

fn requested_id(id: Option<&baton_proto::Identifier>) -> Result<Identifier, SchedulerError> {
    let id = id.ok_or_else(|| SchedulerError::invalid("no id given"))?;
    Ok(Identifier::from(id).with_global_defaults())
}

fn info(state: &SchedulerState, kind: &str, id: &Identifier) -> VersionInfo {
    let latest = match kind {
        "task" => state.latest_tasks.get(&id.unversioned()),
        "workflow" => state.latest_workflows.get(&id.unversioned()),
        _ => state.latest_launch_plans.get(&id.unversioned()),
    };
    VersionInfo {
        kind: kind.to_owned(),
        id: Some(id.into()),
        registered_at_ms: state
            .registered_at
            .get(&(kind.to_owned(), id.clone()))
            .copied()
            .unwrap_or(0),
        latest: latest == Some(&id.version),
    }
}

pub fn list_versions(
    state: &SchedulerState,
    request: &ListVersionsRequest,
) -> Result<ListVersionsResponse, SchedulerError> {
    let id = requested_id(request.id.as_ref())?.unversioned();
    let mut versions = Vec::new();
    for kind in kinds(&request.kind)? {
        let ids: Vec<&Identifier> = match *kind {
            "task" => state
                .tasks
                .range(id.clone()..)
                .take_while(|(k, _)| k.unversioned() == id)
                .map(|(k, _)| k)
                .collect(),
            "workflow" => state
                .workflows
                .range(id.clone()..)
                .take_while(|(k, _)| k.unversioned() == id)
                .map(|(k, _)| k)
                .collect(),
            _ => state
                .launch_plans
                .range(id.clone()..)
                .take_while(|(k, _)| k.unversioned() == id)
                .map(|(k, _)| k)
                .collect(),
        };
        versions.extend(ids.into_iter().map(|v| info(state, kind, v)));
    }
    if versions.is_empty() {
        return Err(SchedulerError::not_found(format!(
            "no task, workflow or launch plan `{id}` is registered"
        )));
    }
    // Newest first; versions registered at the same time by their name.
    versions.sort_by(|a, b| {
        b.registered_at_ms
            .cmp(&a.registered_at_ms)
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| version_of(b).cmp(version_of(a)))
    });
    Ok(ListVersionsResponse { versions })
}

fn version_of(info: &VersionInfo) -> &str {
    info.id.as_ref().map_or("", |id| id.version.as_str())
}

pub fn describe(
    state: &SchedulerState,
    request: &DescribeRequest,
) -> Result<DescribeResponse, SchedulerError> {
    let id = requested_id(request.id.as_ref())?;
    let mut found = Vec::new();
    for kind in kinds(&request.kind)? {
        match *kind {
            "task" => {
                if let Some(task) = state.task(&id) {
                    let spec = describe_response::Spec::Task(task.as_ref().into());
                    found.push((info(state, kind, &task.id), spec));
                }
            }
            "workflow" => {
                if let Some(workflow) = state.workflow(&id) {
                    let spec = describe_response::Spec::Workflow((&workflow.spec).into());
                    found.push((info(state, kind, &workflow.spec.id), spec));
                }
            }
            _ => {
                if let Some(plan) = state.launch_plan(&id) {
                    let spec = describe_response::Spec::LaunchPlan(plan.as_ref().into());
                    found.push((info(state, kind, &plan.id), spec));
                }
            }
        }
    }
    match found.len() {
        0 => {
            let what = match request.kind.as_str() {
                "" => "task, workflow or launch plan",
                other => other,
            };
            Err(SchedulerError::not_found(format!(
                "no {what} `{id}` is registered"
            )))
        }
        1 => {
            let (version, spec) = found.remove(0);
            Ok(DescribeResponse {
                version: Some(version),
                spec: Some(spec),
            })
        }
        _ => Err(SchedulerError::invalid(format!(
            "`{id}` names more than one of a task, a workflow and a launch plan: say which (--kind task, workflow or launch-plan)"
        ))),
    }
}
