//! Registration: tasks, then workflows, then launch plans, checked and stored all or nothing.
//! A registration's workflows compile in inclusion order, so that a batch
//! may register a workflow with the workflows it runs; a workflow that
//! includes itself is refused naming the chain.

use std::collections::BTreeMap;
use std::sync::Arc;

use baton_model::{Identifier, LaunchPlanSpec, Reference, Runner, TaskSpec, WorkflowSpec};

use super::apply::BUILTINS;
use super::*;
use crate::compiler::compile;
use crate::error::{ErrorCode, Problem, ProblemCode, SchedulerError};

impl SchedulerState {
    /// Checks and registers tasks, then workflows (which may use the tasks of
    /// the same request). All or nothing.
    pub(super) fn register(
        &mut self,
        tasks: Vec<TaskSpec>,
        workflows: Vec<WorkflowSpec>,
        launch_plans: Vec<LaunchPlanSpec>,
        now_ms: u64,
    ) -> Result<Response, SchedulerError> {
        let mut problems: Vec<Problem> = Vec::new();
        let mut registered = Vec::new();
        let mut new_tasks: BTreeMap<Identifier, Arc<TaskSpec>> = BTreeMap::new();
        for (index, task) in tasks.into_iter().enumerate() {
            let task = task.normalized();
            if let Err(e) = check_task(&task) {
                problems.push((*e).item("task", index));
                continue;
            }
            match self.tasks.get(&task.id).or_else(|| new_tasks.get(&task.id)) {
                Some(existing) if **existing == task => registered.push(("task".into(), task.id.clone(), false)),
                Some(_) => problems.push(Problem::new(ProblemCode::VersionConflict, format!(
                    "task `{}` is already registered with different content; a registered version never changes: register a new version",
                    task.id
                )).field("version").item("task", index)),
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
        let workflows: Vec<WorkflowSpec> = workflows
            .into_iter()
            .map(WorkflowSpec::normalized)
            .collect();
        let (order, cycles) = inclusion_order(&workflows);
        problems.extend(cycles.into_iter().map(|(index, message)| {
            Problem::new(ProblemCode::Cycle, message).item("workflow", index)
        }));
        let mut workflows: Vec<Option<WorkflowSpec>> = workflows.into_iter().map(Some).collect();
        for index in order {
            let Some(mut workflow) = workflows[index].take() else {
                continue;
            };
            if let Err(e) = workflow.id.validate() {
                problems.push(
                    Problem::new(ProblemCode::Invalid, e.to_string())
                        .field("name")
                        .item("workflow", index),
                );
                continue;
            }
            // The batch's own workflows first: they are the latest.
            let in_batch = |id: &Identifier| {
                new_workflows.iter().rev().find(|w| {
                    w.spec.id.unversioned() == id.unversioned()
                        && (id.version.is_empty() || w.spec.id.version == id.version)
                })
            };
            let earlier = (!workflow.id.version.is_empty())
                .then(|| self.workflows.get(&workflow.id))
                .flatten()
                .map(|w| &w.spec);
            workflow.pin_references(earlier, |kind, id| match kind {
                Reference::Task => new_latest_tasks
                    .get(id)
                    .or_else(|| self.latest_tasks.get(id))
                    .cloned(),
                Reference::Workflow => in_batch(id)
                    .map(|w| w.spec.id.version.clone())
                    .or_else(|| self.latest_workflows.get(id).cloned()),
            });
            // Every reference is pinned by now; one still without a version
            // names no registered task, and the compiler refuses it.
            let resolve = |id: &Identifier| -> Option<Arc<TaskSpec>> {
                new_tasks.get(id).or_else(|| self.tasks.get(id)).cloned()
            };
            let resolve_workflow = |id: &Identifier| -> Option<Arc<CompiledWorkflow>> {
                in_batch(id).cloned().or_else(|| self.workflow(id).cloned())
            };
            let compiled = match compile(workflow, resolve, resolve_workflow) {
                Ok(c) => c,
                Err(e) => {
                    let workflow = e.workflow;
                    problems.extend(e.problems.into_iter().map(|p| Problem {
                        message: format!("workflow `{workflow}`: {}", p.message),
                        ..p.item("workflow", index)
                    }));
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
                Some(_) => problems.push(Problem::new(ProblemCode::VersionConflict, format!(
                    "workflow `{}` is already registered with different content; a registered version never changes: register a new version",
                    id
                )).field("version").item("workflow", index)),
                None => {
                    registered.push(("workflow".into(), id.clone(), true));
                    new_workflows.push(Arc::new(compiled));
                }
            }
        }

        let mut new_plans: Vec<Arc<LaunchPlanSpec>> = Vec::new();
        for (index, plan) in launch_plans.into_iter().enumerate() {
            let mut plan = plan.normalized();
            if let Err(e) = plan.id.validate() {
                problems.push(
                    Problem::new(ProblemCode::Invalid, e.to_string())
                        .field("name")
                        .item("launch_plan", index),
                );
                continue;
            }
            let batch_workflow = |id: &Identifier| {
                new_workflows.iter().rev().find(|w| {
                    w.spec.id.unversioned() == id.unversioned()
                        && (id.version.is_empty() || w.spec.id.version == id.version)
                })
            };
            plan.pin_references(|is_task, id| match is_task {
                true => new_latest_tasks
                    .get(id)
                    .or_else(|| self.latest_tasks.get(id))
                    .cloned(),
                false => batch_workflow(id)
                    .map(|w| w.spec.id.version.clone())
                    .or_else(|| self.latest_workflows.get(id).cloned()),
            });
            let workflow_of = |id: &Identifier| -> Option<Arc<CompiledWorkflow>> {
                batch_workflow(id)
                    .cloned()
                    .or_else(|| self.workflows.get(id).cloned())
            };
            let Some(compiled) = workflow_of(&plan.workflow) else {
                problems.push(
                    Problem::new(
                        ProblemCode::NotFound,
                        format!(
                            "launch plan `{}`: workflow `{}` is not registered",
                            plan.id, plan.workflow
                        ),
                    )
                    .field("workflow")
                    .item("launch_plan", index),
                );
                continue;
            };
            let task_of = |id: &Identifier| -> Option<Arc<TaskSpec>> {
                new_tasks.get(id).or_else(|| self.tasks.get(id)).cloned()
            };
            let plan_problems =
                launch_plan::check_plan(&mut plan, &compiled, &task_of, &workflow_of);
            if !plan_problems.is_empty() {
                let id = plan.id.clone();
                problems.extend(plan_problems.into_iter().map(|p| Problem {
                    message: format!("launch plan `{id}`: {}", p.message),
                    ..p.item("launch_plan", index)
                }));
                continue;
            }
            let existing = self
                .launch_plans
                .get(&plan.id)
                .or_else(|| new_plans.iter().find(|p| p.id == plan.id));
            match existing {
                Some(existing) if **existing == plan => {
                    registered.push(("launch-plan".into(), plan.id.clone(), false))
                }
                Some(_) => problems.push(Problem::new(ProblemCode::VersionConflict, format!(
                    "launch plan `{}` is already registered with different content; a registered version never changes: register a new version",
                    plan.id
                )).field("version").item("launch_plan", index)),
                None => {
                    registered.push(("launch-plan".into(), plan.id.clone(), true));
                    new_plans.push(Arc::new(plan));
                }
            }
        }

        if !problems.is_empty() {
            let code = if problems
                .iter()
                .all(|p| p.code == ProblemCode::VersionConflict)
            {
                ErrorCode::AlreadyExists
            } else {
                ErrorCode::InvalidArgument
            };
            return Err(SchedulerError::refused(code, problems));
        }
        for (id, task) in new_tasks {
            self.latest_tasks
                .insert(id.unversioned(), id.version.clone());
            self.registered_at
                .insert(("task".into(), id.clone()), now_ms);
            self.tasks.insert(id, task);
        }
        for workflow in new_workflows {
            let id = workflow.spec.id.clone();
            self.latest_workflows
                .insert(id.unversioned(), id.version.clone());
            self.registered_at
                .insert(("workflow".into(), id.clone()), now_ms);
            self.workflows.insert(id, workflow);
        }
        for plan in new_plans {
            let id = plan.id.clone();
            self.latest_launch_plans
                .insert(id.unversioned(), id.version.clone());
            self.registered_at
                .insert(("launch-plan".into(), id.clone()), now_ms);
            self.launch_plans.insert(id, plan);
        }
        Ok(Response::Registered(registered))
    }
}

/// The order in which to compile a registration's workflows, so that a
/// workflow another of the batch includes compiles first; and a problem for
/// each workflow that includes itself, directly or through others, naming
/// the chain (with the workflow's index).
fn inclusion_order(workflows: &[WorkflowSpec]) -> (Vec<usize>, Vec<(usize, String)>) {
    let includes = |w: &WorkflowSpec| -> Vec<usize> {
        let mut found: Vec<usize> = w
            .nodes
            .iter()
            .flat_map(|n| n.kind.included_workflows())
            .filter_map(|id| {
                workflows.iter().position(|other| {
                    other.id.unversioned() == id.unversioned()
                        && (id.version.is_empty() || other.id.version == id.version)
                })
            })
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    };
    let edges: Vec<Vec<usize>> = workflows.iter().map(includes).collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let mut marks = vec![Mark::New; workflows.len()];
    let mut order = Vec::with_capacity(workflows.len());
    let mut problems = Vec::new();
    for start in 0..workflows.len() {
        if marks[start] != Mark::New {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::OnStack;
        while let Some(&mut (at, ref mut edge)) = stack.last_mut() {
            if let Some(&next) = edges[at].get(*edge) {
                *edge += 1;
                match marks[next] {
                    Mark::New => {
                        marks[next] = Mark::OnStack;
                        stack.push((next, 0));
                    }
                    Mark::OnStack => {
                        let from = stack.iter().position(|&(n, _)| n == next).unwrap_or(0);
                        let mut chain: Vec<String> = stack[from..]
                            .iter()
                            .map(|&(n, _)| workflows[n].id.to_string())
                            .collect();
                        chain.push(workflows[next].id.to_string());
                        problems.push((
                            next,
                            format!(
                                "workflow `{}` includes itself: {}",
                                workflows[next].id,
                                chain.join(" -> ")
                            ),
                        ));
                    }
                    Mark::Done => {}
                }
            } else {
                marks[at] = Mark::Done;
                order.push(at);
                stack.pop();
            }
        }
    }
    (order, problems)
}

/// The problem is boxed: it is the rare path, and a `Problem` is large.
fn check_task(task: &TaskSpec) -> Result<(), Box<Problem>> {
    let invalid =
        |field: &str, message: String| Problem::new(ProblemCode::Invalid, message).field(field);
    task.id
        .validate()
        .map_err(|e| invalid("name", e.to_string()))?;
    crate::compiler::check_names(&task.interface)
        .map_err(|why| invalid("interface", format!("task `{}`: {why}", task.id)))?;
    if let Runner::Builtin(name) = &task.runner {
        if !BUILTINS.contains(&name.as_str()) {
            return Err(Box::new(
                Problem::new(
                    ProblemCode::NotFound,
                    format!(
                        "task `{}`: unknown builtin `{name}`; known: {}",
                        task.id,
                        BUILTINS.join(", ")
                    ),
                )
                .field("runner.builtin"),
            ));
        }
    }
    for var in &task.interface.inputs {
        if let Some(default) = &var.default {
            default.check(&var.ty).map_err(|why| {
                Box::new(
                    Problem::new(
                        ProblemCode::TypeMismatch,
                        format!(
                            "task `{}` input `{}`: bad default: {why}",
                            task.id, var.name
                        ),
                    )
                    .field(format!("interface.inputs.{}.default", var.name)),
                )
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::register_command;
    use baton_model::NodeKind;

    const TASK_V1: &str = "kind: Task\nname: t\nversion: v1\ninterface: {inputs: {x: int}, outputs: {x: int}}\nrunner: {builtin: noop}\n";
    const UNVERSIONED: &str = "kind: Workflow\nname: w\ninterface: {inputs: {x: int}}\nnodes: [{id: a, task: t, inputs: {x: \"${inputs.x}\"}}]\n";

    fn register(
        state: &mut SchedulerState,
        text: &str,
    ) -> Result<Vec<(String, Identifier, bool)>, String> {
        match state.apply_one(register_command(text), &mut Vec::new()) {
            Response::Registered(items) => Ok(items),
            Response::Rejected(e) => Err(e.message),
            other => panic!("{other:?}"),
        }
    }

    fn task_of(state: &SchedulerState, workflow: &Identifier) -> String {
        match &state.workflows[workflow].spec.nodes[0].kind {
            NodeKind::Task(id) => id.version.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_omitted_version_is_the_hash_of_the_pinned_content() {
        let mut state = SchedulerState::default();
        register(&mut state, TASK_V1).unwrap();
        let first = register(&mut state, UNVERSIONED).unwrap().remove(0);
        assert!(first.2, "created");
        assert_eq!(first.1.version.len(), 16);
        assert_eq!(task_of(&state, &first.1), "v1");
        // The same file again: the same version, a no-op.
        let again = register(&mut state, UNVERSIONED).unwrap().remove(0);
        assert_eq!((again.1.clone(), again.2), (first.1.clone(), false));
        // After a new task version, the same file is a new workflow version
        // that uses it; the first one still runs v1.
        register(&mut state, &TASK_V1.replace("v1", "v2")).unwrap();
        let newer = register(&mut state, UNVERSIONED).unwrap().remove(0);
        assert!(newer.2, "created");
        assert_ne!(newer.1.version, first.1.version);
        assert_eq!(task_of(&state, &newer.1), "v2");
        assert_eq!(task_of(&state, &first.1), "v1");
        assert_eq!(
            state.latest_workflows[&first.1.unversioned()],
            newer.1.version
        );
    }

    #[test]
    fn a_named_version_keeps_the_references_it_was_registered_with() {
        let mut state = SchedulerState::default();
        register(&mut state, TASK_V1).unwrap();
        let named = UNVERSIONED.replace("name: w\n", "name: w\nversion: v1\n");
        let first = register(&mut state, &named).unwrap().remove(0);
        register(&mut state, &TASK_V1.replace("v1", "v2")).unwrap();
        // The same content under the same version: a no-op, still on t@v1.
        let again = register(&mut state, &named).unwrap().remove(0);
        assert_eq!((again.1.clone(), again.2), (first.1.clone(), false));
        assert_eq!(task_of(&state, &first.1), "v1");
        // `@latest` is the same reference written out.
        let latest = named.replace("task: t,", "task: t@latest,");
        assert!(!register(&mut state, &latest).unwrap()[0].2);
        // Other content under the same version is refused, naming it.
        let changed = named.replace("id: a", "id: b");
        let err = register(&mut state, &changed).unwrap_err();
        assert!(
            err.contains(
                "workflow `default/development/w@v1` is already registered with different content"
            ),
            "{err}"
        );
    }
}
