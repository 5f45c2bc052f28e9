//! Launch plans in the state: registering them (their workflow, inputs and
//! node overrides checked against the workflow version they pin) and
//! launching one (its defaults under the launch's inputs, its fixed inputs
//! untouchable, its overrides resolved into the tasks the execution runs).

use std::collections::BTreeMap;
use std::sync::Arc;

use baton_model::{
    CaseSpec, Identifier, LaunchPlanSpec, NodeKind, NodeOverride, TaskSpec, Values, WorkflowSpec,
};

use super::SchedulerState;
use crate::compiler::CompiledWorkflow;
use crate::error::{ErrorCode, Problem, ProblemCode, SchedulerError};

/// What a node path of a workflow names.
#[derive(Debug, PartialEq)]
pub enum Target {
    /// A task node (or a map's or branch case's task).
    Task(Identifier),
    /// A sub-workflow node.
    Workflow(Identifier),
    /// A loop, branch or map over a workflow: nothing to swap, only a pool to pin.
    Control(&'static str),
}

/// A case's id under its branch: its own, else the name of what it runs.
fn case_id(case: &CaseSpec, is_else: bool) -> String {
    if !case.id.is_empty() {
        return case.id.clone();
    }
    if is_else {
        return "else".into();
    }
    case.runs
        .target()
        .map(|t| t.name.clone())
        .unwrap_or_default()
}

/// Walks `path` (`iterate.select`, `pick.deploy`, `score`) from `root`
/// through sub-workflows, loop bodies, branch cases and map items.
pub fn node_at(
    root: &WorkflowSpec,
    path: &str,
    workflow: &dyn Fn(&Identifier) -> Option<Arc<CompiledWorkflow>>,
) -> Result<Target, String> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut current: Arc<WorkflowSpec> = Arc::new(root.clone());
    let mut i = 0;
    loop {
        let segment = segments[i];
        let node = current
            .nodes
            .iter()
            .find(|n| n.id == segment)
            .ok_or_else(|| {
                let known: Vec<&str> = current.nodes.iter().map(|n| n.id.as_str()).collect();
                format!(
                    "`{path}`: workflow `{}` has no node `{segment}` (its nodes: {})",
                    current.id,
                    known.join(", ")
                )
            })?;
        let mut kind = &node.kind;
        if let NodeKind::Map(map) = kind {
            kind = &map.runs;
        }
        if let NodeKind::Branch(branch) = kind {
            i += 1;
            let Some(case_segment) = segments.get(i) else {
                return Ok(Target::Control("branch"));
            };
            let cases = branch
                .cases
                .iter()
                .map(|c| (c, false))
                .chain(branch.otherwise.as_deref().map(|c| (c, true)));
            let found = cases
                .into_iter()
                .find(|(c, is_else)| case_id(c, *is_else) == *case_segment);
            let Some((case, _)) = found else {
                return Err(format!(
                    "`{path}`: branch `{segment}` has no case `{case_segment}`"
                ));
            };
            kind = &case.runs;
        }
        let last = i + 1 == segments.len();
        let inner = match kind {
            NodeKind::Task(id) if last => return Ok(Target::Task(id.clone())),
            NodeKind::Task(_) => {
                return Err(format!(
                    "`{path}`: `{}` is a task node, with no nodes inside",
                    segments[..=i].join(".")
                ))
            }
            NodeKind::Workflow(id) if last => return Ok(Target::Workflow(id.clone())),
            NodeKind::Workflow(id) => id,
            NodeKind::Loop(_) if last => return Ok(Target::Control("loop")),
            NodeKind::Loop(spec) => &spec.body,
            _ => return Ok(Target::Control("control")),
        };
        current = match workflow(inner) {
            Some(compiled) => Arc::new(compiled.spec.clone()),
            None => return Err(format!("`{path}`: workflow `{inner}` is not registered")),
        };
        i += 1;
    }
}

/// Checks a plan against its (pinned) workflow: inputs and fixed inputs of
/// the workflow's interface and types, overrides naming real nodes and
/// swapping in tasks and workflows of the same interface. Fills the typed
/// inputs in.
pub fn check_plan(
    plan: &mut LaunchPlanSpec,
    compiled: &CompiledWorkflow,
    task: &dyn Fn(&Identifier) -> Option<Arc<TaskSpec>>,
    workflow: &dyn Fn(&Identifier) -> Option<Arc<CompiledWorkflow>>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let interface = &compiled.spec.interface;
    for (field, values) in [("inputs", &mut plan.inputs), ("fixed", &mut plan.fixed)] {
        for (name, value) in values.iter_mut() {
            let at = format!("{field}.{name}");
            match interface.input(name) {
                None => problems.push(
                    Problem::new(
                        ProblemCode::UnknownName,
                        format!(
                            "input `{name}`: workflow `{}` has no such input",
                            compiled.spec.id
                        ),
                    )
                    .field(at),
                ),
                Some(var) => match value.coerce(&var.ty) {
                    Ok(typed) => *value = typed,
                    Err(why) => problems.push(
                        Problem::new(
                            ProblemCode::TypeMismatch,
                            format!("input `{name}` ({}): {why}", var.ty),
                        )
                        .field(at),
                    ),
                },
            }
        }
    }
    for (path, over) in &plan.overrides {
        let at = format!("overrides.{path}");
        let problem = |code, why: String| {
            Problem::new(code, format!("override `{path}`: {why}")).field(at.clone())
        };
        // A node inside a sub-workflow the plan swaps is a node of the
        // swapped-in workflow, which the path walk does not follow.
        let swapped_above = plan
            .overrides
            .iter()
            .find(|(other, o)| o.workflow.is_some() && path.starts_with(&format!("{other}.")));
        if let Some((above, _)) = swapped_above {
            problems.push(problem(
                ProblemCode::Invalid,
                format!("`{path}` is inside `{above}`, whose workflow this plan swaps: override the nodes of the swapped-in workflow with a plan of their own, or give that workflow the change"),
            ));
            continue;
        }
        let target = match node_at(&compiled.spec, path, workflow) {
            Ok(target) => target,
            Err(why) => {
                problems.push(problem(ProblemCode::NotFound, why));
                continue;
            }
        };
        match (&target, over) {
            (Target::Task(current), NodeOverride { task: Some(new), .. }) => {
                match (task(current), task(new)) {
                    (_, None) => problems.push(problem(
                        ProblemCode::NotFound,
                        format!("task `{new}` is not registered"),
                    )),
                    (Some(old), Some(new_task)) if old.interface != new_task.interface => {
                        problems.push(problem(
                            ProblemCode::TypeMismatch,
                            format!(
                                "task `{new}` has another interface than `{current}`, which the node runs: {}",
                                interface_difference(&old.interface, &new_task.interface)
                            ),
                        ))
                    }
                    _ => {}
                }
            }
            (Target::Workflow(current), NodeOverride { workflow: Some(new), .. }) => {
                match (workflow(current), workflow(new)) {
                    (_, None) => problems.push(problem(
                        ProblemCode::NotFound,
                        format!("workflow `{new}` is not registered"),
                    )),
                    (Some(old), Some(new_workflow))
                        if old.spec.interface != new_workflow.spec.interface =>
                    {
                        problems.push(problem(
                            ProblemCode::TypeMismatch,
                            format!(
                                "workflow `{new}` has another interface than `{current}`, which the node runs: {}",
                                interface_difference(&old.spec.interface, &new_workflow.spec.interface)
                            ),
                        ))
                    }
                    _ => {}
                }
            }
            (target, _) => {
                let what = match target {
                    Target::Task(_) => "a task node",
                    Target::Workflow(_) => "a sub-workflow node",
                    Target::Control(kind) => kind,
                };
                let allowed = match target {
                    Target::Task(_) => over.workflow.is_none(),
                    Target::Workflow(_) => {
                        over.task.is_none() && over.retries.is_none() && over.timeout_ms.is_none()
                    }
                    Target::Control(_) => !over.changes_task() && over.workflow.is_none(),
                };
                if !allowed {
                    let may = match target {
                        Target::Task(_) => "task, retries, timeout and pool",
                        Target::Workflow(_) => "workflow and pool",
                        Target::Control(_) => "pool, or a node inside it by its path",
                    };
                    problems.push(problem(
                        ProblemCode::Invalid,
                        format!("`{path}` is {what}: an override of it may change {may}"),
                    ));
                }
            }
        }
    }
    problems
}

/// The first difference between two interfaces, in words.
fn interface_difference(old: &baton_model::Interface, new: &baton_model::Interface) -> String {
    let side = |name: &str, a: &[baton_model::Variable], b: &[baton_model::Variable]| {
        for var in a {
            match b.iter().find(|v| v.name == var.name) {
                None => return Some(format!("{name} `{}` ({}) is missing", var.name, var.ty)),
                Some(other) if other.ty != var.ty => {
                    return Some(format!(
                        "{name} `{}` is {} there, {} here",
                        var.name, other.ty, var.ty
                    ))
                }
                Some(other) if other.default != var.default => {
                    return Some(format!("{name} `{}` has another default", var.name))
                }
                _ => {}
            }
        }
        b.iter()
            .find(|v| !a.iter().any(|o| o.name == v.name))
            .map(|v| format!("{name} `{}` ({}) is extra", v.name, v.ty))
    };
    side("input", &old.inputs, &new.inputs)
        .or_else(|| side("output", &old.outputs, &new.outputs))
        .unwrap_or_else(|| "descriptions differ".into())
}

/// What a launch of a plan runs: the inputs (the plan's defaults under the
/// launch's own, the fixed ones on top), and per overridden node path the
/// task it runs (swapped, with retries and timeout applied).
pub struct PlannedLaunch {
    pub plan: Arc<LaunchPlanSpec>,
    pub inputs: Values,
    pub override_tasks: BTreeMap<String, Arc<TaskSpec>>,
}

impl SchedulerState {
    /// A launch plan by id; an empty version means the latest registered one.
    pub fn launch_plan(&self, id: &Identifier) -> Option<&Arc<LaunchPlanSpec>> {
        if id.version.is_empty() || id.version == "latest" {
            let version = self.latest_launch_plans.get(&id.unversioned())?;
            let mut full = id.clone();
            full.version = version.clone();
            return self.launch_plans.get(&full);
        }
        self.launch_plans.get(id)
    }

    /// Applies plan `id` to a launch's `inputs`, refusing any that sets a
    /// fixed input.
    pub fn plan_launch(
        &self,
        id: &Identifier,
        inputs: Values,
    ) -> Result<PlannedLaunch, SchedulerError> {
        let id = id.clone().with_global_defaults();
        let plan = self
            .launch_plan(&id)
            .ok_or_else(|| {
                SchedulerError::problem(
                    ErrorCode::NotFound,
                    Problem::new(ProblemCode::NotFound, format!("unknown launch plan `{id}`"))
                        .field("launch_plan"),
                )
            })?
            .clone();
        let problems: Vec<Problem> = inputs
            .keys()
            .filter(|name| plan.fixed.contains_key(*name))
            .map(|name| {
                Problem::new(
                    ProblemCode::Invalid,
                    format!(
                        "input `{name}` is fixed by launch plan `{}` (to {}): a launch may not set it",
                        plan.id, plan.fixed[name]
                    ),
                )
                .field(format!("inputs.{name}"))
            })
            .collect();
        if !problems.is_empty() {
            return Err(SchedulerError::refused(
                ErrorCode::InvalidArgument,
                problems,
            ));
        }
        let mut merged: Values = plan
            .inputs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (name, value) in inputs {
            merged.insert(name, value);
        }
        for (name, value) in &plan.fixed {
            merged.insert(name.clone(), value.clone());
        }
        let mut override_tasks = BTreeMap::new();
        let compiled = self.workflows.get(&plan.workflow).cloned();
        if let Some(compiled) = compiled {
            let workflow = |id: &Identifier| self.workflows.get(id).cloned();
            for (path, over) in plan.overrides.iter().filter(|(_, o)| o.changes_task()) {
                let Ok(Target::Task(current)) = node_at(&compiled.spec, path, &workflow) else {
                    continue;
                };
                let Some(base) = self.tasks.get(over.task.as_ref().unwrap_or(&current)) else {
                    continue;
                };
                let mut task = TaskSpec::clone(base);
                if let Some(retries) = over.retries {
                    task.retries = retries;
                }
                if let Some(timeout_ms) = over.timeout_ms {
                    task.timeout_ms = timeout_ms;
                }
                override_tasks.insert(path.clone(), Arc::new(task));
            }
        }
        Ok(PlannedLaunch {
            plan,
            inputs: merged,
            override_tasks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{register_command, Command, Response};

    const SPECS: &str = r#"
kind: Task
name: pick
version: a
interface: {inputs: {k: int}, outputs: {k: int}}
runner: {builtin: noop}
---
kind: Task
name: pick
version: b
interface: {inputs: {k: int}, outputs: {k: int}}
runner: {builtin: echo}
retries: 1
---
kind: Workflow
name: inner
version: v1
interface: {inputs: {k: int}, outputs: {k: int}}
nodes: [{id: p, task: pick@a, inputs: {k: "${inputs.k}"}}]
outputs: {k: "${p.k}"}
---
kind: Workflow
name: outer
version: v1
interface: {inputs: {k: int}, outputs: {k: int}}
nodes:
  - {id: first, task: pick@a, inputs: {k: "${inputs.k}"}}
  - {id: sub, workflow: inner@v1, inputs: {k: "${first.k}"}}
outputs: {k: "${sub.k}"}
---
kind: LaunchPlan
name: flavor
version: v1
workflow: outer@v1
overrides:
  first: {retries: 4, timeout: 2s, pool: gpu}
  sub.p: {task: pick@b}
"#;

    #[test]
    fn a_plans_overrides_are_the_tasks_and_pools_its_instances_get() {
        let mut state = SchedulerState::default();
        match state.apply_one(register_command(SPECS), &mut Vec::new()) {
            Response::Registered(items) => assert_eq!(items.len(), 5),
            other => panic!("{other:?}"),
        }
        let launch = Command::LaunchWith {
            workflow: Identifier::default(),
            plan: Some(Identifier::parse("flavor@v1").unwrap()),
            inputs: Values::from([("k".to_string(), baton_model::Value::Int(3))]),
            pool: String::new(),
            request_id: String::new(),
            cache: baton_model::CacheMode::Use,
            now_ms: 1,
        };
        let id = match state.apply_one(launch, &mut Vec::new()) {
            Response::Launched { execution, .. } => execution,
            other => panic!("{other:?}"),
        };
        let execution = state.execution(&id).unwrap();
        // `first`: its own task with the plan's retries and timeout, on the plan's pool.
        let first = state.task_of(execution, 0).unwrap();
        assert_eq!(first.id.version, "a");
        assert_eq!((first.retries, first.timeout_ms), (4, 2000));
        assert_eq!(&*execution.nodes[0].pool, "gpu");
        // The plan names the execution's plan; a launch without one has none.
        assert_eq!(execution.plan.as_ref().unwrap().plan.name, "flavor");
        let planned = state
            .plan_launch(&Identifier::parse("flavor@v1").unwrap(), Values::new())
            .unwrap();
        let swapped = &planned.override_tasks["sub.p"];
        assert_eq!((swapped.id.version.as_str(), swapped.retries), ("b", 1));
    }
}
