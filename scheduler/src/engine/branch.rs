//! The branch node kind: conditions over the node's inputs choose one of
//! several tasks or workflows (the first case that holds, else the `else`
//! case); the cases not taken are Skipped.
//!
//! Type rule ([`callee`]): the branch's inputs take their types from what
//! they bind; every `when` is a bool condition over them; each case is
//! compiled as a node of a workflow of its own (the branch's cases, whose
//! inputs are the branch's), so a case's inputs are checked like any
//! node's; and every case must offer each output the branch declares, of a
//! type the declaration accepts.
//! Run rule: when its upstream nodes have succeeded, the instance is
//! Running and lays out the cases' frame under its path (`pick.deploy`);
//! the chosen case is made ready and the others are Skipped. The branch
//! succeeds with the chosen case's outputs (those it declares). No case
//! holding and no `else` fails it.

use std::sync::Arc;

use baton_model::condition::{self, Condition, Scope};
use baton_model::{
    Binding, BranchSpec, CaseSpec, Identifier, Interface, NodeKind, NodeSpec, Type, Values,
    WorkflowSpec,
};
use serde::{Deserialize, Serialize};

use super::{subworkflow, Callee, Run};
use crate::compiler::{compile_with, CompiledWorkflow, Control, ResolveTask, ResolveWorkflow};
use crate::error::{Problem, ProblemCode};
use crate::state::NodePhase;

/// What the compiler makes of a branch node.
#[derive(Clone, Debug)]
pub struct BranchCallee {
    /// The spec with every case's version pinned.
    pub spec: BranchSpec,
    /// Inputs as bound (their types inferred), outputs as declared.
    pub interface: Interface,
    pub compiled: CompiledBranch,
}

/// The run-time part of a branch node, checked at registration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompiledBranch {
    /// A node per case, in order, then the else case's; their inputs are
    /// the branch's inputs.
    pub cases: Arc<CompiledWorkflow>,
    /// One per case (not the else case), over scope `inputs`.
    pub conditions: Vec<Condition>,
    pub has_else: bool,
    /// The branch's inputs, as the cases' frame binds them.
    pub interface: Interface,
}

/// Checks branch node `node` of workflow `workflow`, pushing every problem;
/// `type_of` gives the type of what an input binds.
pub fn callee(
    workflow: &Identifier,
    node: &NodeSpec,
    spec: &BranchSpec,
    type_of: &dyn Fn(&Binding) -> Result<Type, String>,
    resolve_task: ResolveTask<'_>,
    resolve_workflow: ResolveWorkflow<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Callee> {
    let at = |what: &str| format!("node `{}` {what}", node.id);
    let problem = |code, field: String, message: String| {
        Problem::new(code, message).node(&node.id).field(field)
    };
    let inputs = super::callee::typed_inputs(node, "branch", type_of, problems);
    if spec.cases.is_empty() {
        problems.push(problem(
            ProblemCode::Missing,
            "branch.cases".into(),
            format!("{}: a branch needs at least one case", at("branch")),
        ));
    }
    let scopes = [Scope::of("inputs", "the branch takes", &inputs)];
    let mut conditions = Vec::new();
    for (i, case) in spec.cases.iter().enumerate() {
        match condition::check(&case.when, &scopes) {
            Ok(c) => conditions.push(c),
            Err(e) => problems.push(problem(
                ProblemCode::Invalid,
                format!("branch.cases[{i}].when"),
                format!(
                    "{}, when: {:?}: {e}",
                    at(&format!("branch.cases[{i}]")),
                    case.when
                ),
            )),
        }
    }
    let all_cases: Vec<(String, &CaseSpec)> = spec
        .cases
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("branch.cases[{i}]"), c))
        .chain(
            spec.otherwise
                .as_deref()
                .map(|c| ("branch.else".to_string(), c)),
        )
        .collect();
    let case_ids: Vec<String> = all_cases
        .iter()
        .map(|(place, case)| case_id(place, case))
        .collect();
    // The cases as the nodes of a workflow of their own, each bound to the
    // branch's inputs it takes: compiled like any workflow, so that a case's
    // inputs are checked like any node's.
    let callee_inputs = |kind: &NodeKind| -> Vec<String> {
        let interface = match kind {
            NodeKind::Task(id) => resolve_task(id).map(|t| t.interface.clone()),
            NodeKind::Workflow(id) => resolve_workflow(id).map(|w| w.spec.interface.clone()),
            NodeKind::Loop(_) | NodeKind::Branch(_) | NodeKind::Map(_) | NodeKind::Gate(_) => None,
        };
        interface
            .map(|i| i.inputs.into_iter().map(|v| v.name).collect())
            .unwrap_or_default()
    };
    let nodes = all_cases
        .iter()
        .zip(&case_ids)
        .map(|((_, case), id)| {
            let takes = callee_inputs(&case.runs);
            NodeSpec {
                id: id.clone(),
                kind: case.runs.clone(),
                inputs: inputs
                    .iter()
                    .filter(|v| takes.contains(&v.name))
                    .map(|v| (v.name.clone(), Binding::Input(v.name.clone())))
                    .collect(),
                pool: String::new(),
                selector: Default::default(),
            }
        })
        .collect();
    let mut cases_id = workflow.clone();
    // `#` is not allowed in a registered name: this one never collides.
    cases_id.name = format!("{}#{}", workflow.name, node.id);
    let cases_spec = WorkflowSpec {
        id: cases_id,
        interface: Interface {
            inputs: inputs.clone(),
            outputs: Vec::new(),
        },
        nodes,
        outputs: Default::default(),
        pool: String::new(),
        selector: Default::default(),
        description: format!("the cases of branch node `{}`", node.id),
    };
    let cases = match compile_with(cases_spec, resolve_task, resolve_workflow) {
        Ok(cases) => cases,
        Err(e) => {
            // A case's problem is about the branch node, and the case's
            // field where the case workflow names one.
            for case_problem in e.problems {
                let field = all_cases
                    .iter()
                    .zip(&case_ids)
                    .find(|(_, id)| **id == case_problem.node)
                    .map(|((place, _), _)| place.clone())
                    .unwrap_or_else(|| "branch".into());
                problems.push(Problem {
                    node: node.id.clone(),
                    field,
                    message: format!("{}: case {}", at("branch"), case_problem.message),
                    ..case_problem
                });
            }
            return None;
        }
    };
    // Every case offers every declared output.
    for (((place, _), id), compiled) in all_cases.iter().zip(&case_ids).zip(&cases.nodes) {
        let offered = match &compiled.kind {
            NodeKind::Task(task) => resolve_task(task).map(|t| t.interface.outputs.clone()),
            NodeKind::Workflow(w) => resolve_workflow(w).map(|w| w.spec.interface.outputs.clone()),
            _ => None,
        }
        .unwrap_or_default();
        for declared in &spec.outputs {
            match offered.iter().find(|v| v.name == declared.name) {
                None => problems.push(problem(
                    ProblemCode::Missing,
                    place.clone(),
                    format!(
                        "{} (`{id}`): offers no output `{}` ({}), which the branch declares; it offers {}",
                        at(place),
                        declared.name,
                        declared.ty,
                        super::variable_names(&offered)
                    ),
                )),
                Some(v) if !declared.ty.accepts(&v.ty) => problems.push(problem(
                    ProblemCode::TypeMismatch,
                    place.clone(),
                    format!(
                        "{} (`{id}`): output `{}` is {}, but the branch declares it {}",
                        at(place),
                        declared.name,
                        v.ty,
                        declared.ty
                    ),
                )),
                Some(_) => {}
            }
        }
    }
    let mut pinned = spec.clone();
    for (case, compiled) in pinned
        .cases
        .iter_mut()
        .chain(pinned.otherwise.as_deref_mut())
        .zip(&cases.nodes)
    {
        case.runs = compiled.kind.clone();
    }
    let interface = Interface {
        inputs,
        outputs: spec.outputs.clone(),
    };
    Some(Callee::Branch(Box::new(BranchCallee {
        spec: pinned,
        interface: interface.clone(),
        compiled: CompiledBranch {
            cases: Arc::new(cases),
            conditions,
            has_else: spec.otherwise.is_some(),
            interface,
        },
    })))
}

/// A case's id: its own, else its task's or workflow's name, `else` for
/// the else case.
fn case_id(place: &str, case: &CaseSpec) -> String {
    if !case.id.is_empty() {
        return case.id.clone();
    }
    if place == "branch.else" {
        return "else".into();
    }
    case.runs
        .target()
        .map(|t| t.name.clone())
        .unwrap_or_default()
}

/// Starts branch instance `node`: evaluates the cases in order, lays out
/// the cases' frame, runs the chosen one and skips the rest.
pub(super) fn start(run: &mut Run<'_>, node: u32) {
    let Some(located) = run.registry.locate(run.execution, node) else {
        return;
    };
    let Some(Control::Branch(branch)) = located.node().control.as_deref() else {
        return;
    };
    let Some(inputs) = super::bound_inputs(run, node) else {
        return;
    };
    let mut chosen = None;
    for (i, condition) in branch.conditions.iter().enumerate() {
        match condition.evaluate(&[&inputs]) {
            Ok(true) => {
                chosen = Some(i);
                break;
            }
            Ok(false) => {}
            Err(why) => {
                let why = format!(
                    "case {i}: when {:?} could not be evaluated: {why}",
                    condition.text
                );
                run.node_failed(node, 0, why);
                return;
            }
        }
    }
    let chosen = match (chosen, branch.has_else) {
        (Some(i), _) => i,
        (None, true) => branch.conditions.len(),
        (None, false) => {
            run.node_failed(
                node,
                0,
                "no case's condition held, and the branch has no else".into(),
            );
            return;
        }
    };
    let cases = branch.cases.clone();
    let case = &cases.nodes[chosen];
    let why = match branch.conditions.get(chosen) {
        Some(condition) => format!("case `{}`: {}", case.id, condition.text),
        None => "else: no case's condition held".to_string(),
    };
    let pinned_above = subworkflow::pinned_pool(run, node);
    run.start_control(node, why);
    let frame = run.lay_out_frame(&cases, Some(node), 0, inputs, pinned_above, None);
    let first = run.execution.frames[frame as usize].first;
    for i in 0..cases.nodes.len() as u32 {
        if i as usize != chosen {
            let state = &mut run.execution.nodes[(first + i) as usize];
            state.phase = NodePhase::Skipped;
            state.finished_at_ms = run.now_ms;
            run.record_node(first + i, NodePhase::Skipped, 0, "not chosen".into());
            run.execution.frames[frame as usize].unfinished -= 1;
        }
    }
    run.make_ready(first + chosen as u32);
}

/// The cases' frame of branch instance `owner` has finished: the branch
/// succeeds with the chosen case's declared outputs.
pub(super) fn finished(run: &mut Run<'_>, owner: u32, frame: u32) {
    let Some(located) = run.registry.locate(run.execution, owner) else {
        return;
    };
    let declared: Vec<String> = match located.node().control.as_deref() {
        Some(Control::Branch(branch)) => branch
            .interface
            .outputs
            .iter()
            .map(|v| v.name.clone())
            .collect(),
        _ => Vec::new(),
    };
    let entry = &run.execution.frames[frame as usize];
    let end = run.execution.frame_end(frame);
    let chosen =
        (entry.first..end).find(|&i| run.execution.nodes[i as usize].phase == NodePhase::Succeeded);
    let mut outputs = Values::new();
    if let Some(chosen) = chosen {
        let offered = &run.execution.nodes[chosen as usize].outputs;
        for name in &declared {
            let value = offered
                .get(name)
                .cloned()
                .unwrap_or(baton_model::Value::None);
            outputs.insert(name.clone(), value);
        }
    }
    let attempt = run.execution.nodes[owner as usize].attempt;
    run.node_succeeded(owner, attempt, outputs);
}
