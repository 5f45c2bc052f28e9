//! The loop node kind: a registered workflow (the body) run again and again,
//! each iteration in a frame of its own, under the node's path with the
//! iteration's index (`al[3].select`).
//!
//! Type rule ([`callee`]): the node's inputs are the body's inputs and bind
//! iteration 0; `carry` binds a body input of iteration i + 1 to a body
//! output of iteration i (same type); `until` is a bool condition over the
//! last iteration's outputs and the loop's inputs; `max_iterations` is
//! required. The loop's outputs are the body's (the last iteration's) and,
//! for each output `x`, `history.x`: a `list` of `x` over every iteration.
//! Inside the body, `${history.x}` is the same list over the iterations
//! before the current one.
//!
//! Run rule: iteration 0 starts when the loop's upstream nodes have
//! succeeded. When an iteration succeeds, its outputs are stored once, on
//! its frame; `until` is evaluated over them; the loop succeeds with them,
//! or (at `max_iterations`) succeeds or fails as `on_max` says, or starts
//! the next iteration. A failure inside an iteration (after its own nodes'
//! retries) runs the iteration again with the same inputs while
//! `retry_iteration` lasts, else fails the loop. The history is a view over
//! the iterations' frames: nothing is copied per iteration.

use std::sync::Arc;

use baton_model::condition::{self, Condition, Expr, Literal, Scope};
use baton_model::{Interface, LoopSpec, Type, Value, Values, Variable};
use serde::{Deserialize, Serialize};

use super::{subworkflow, Callee, Run};
use crate::compiler::{CompiledWorkflow, Control};
use crate::error::{Problem, ProblemCode};
use crate::state::{EventSubject, Execution, NodePhase};

/// The most iterations a loop may declare.
pub const MAX_ITERATIONS: u32 = 100_000;

/// What the compiler makes of a loop node.
#[derive(Clone, Debug)]
pub struct LoopCallee {
    /// The spec with the body's version pinned.
    pub spec: LoopSpec,
    pub body: Arc<CompiledWorkflow>,
    /// The body's inputs; its outputs and their histories.
    pub interface: Interface,
    pub compiled: CompiledLoop,
}

/// The run-time part of a loop node, checked at registration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompiledLoop {
    /// Over scopes `outputs` (the last iteration's) and `inputs` (the loop's).
    pub until: Condition,
}

/// Checks loop node `node` over `body`, pushing every problem (each naming
/// the node and the field); the callee is returned even then, so that the
/// rest of the workflow is checked against the loop's interface.
pub fn callee(
    node: &str,
    spec: &LoopSpec,
    body: Arc<CompiledWorkflow>,
    problems: &mut Vec<Problem>,
) -> Option<Callee> {
    let interface = &body.spec.interface;
    let at = |code, field: &str, message: String| {
        Problem::new(code, message)
            .node(node)
            .field(format!("loop.{field}"))
    };
    if spec.max_iterations == 0 {
        problems.push(at(ProblemCode::Missing, "max_iterations", format!(
            "node `{node}`: loop.max_iterations is required (a loop must end); at most {MAX_ITERATIONS}"
        )));
    } else if spec.max_iterations > MAX_ITERATIONS {
        problems.push(at(
            ProblemCode::Invalid,
            "max_iterations",
            format!(
                "node `{node}`: loop.max_iterations {} is above the limit of {MAX_ITERATIONS}",
                spec.max_iterations
            ),
        ));
    }
    for (input, output) in &spec.carry {
        let place = format!("node `{node}` loop.carry `{input}: {output}`");
        let to = interface.input(input);
        let from = interface.output(output);
        match (to, from) {
            (None, _) => problems.push(at(
                ProblemCode::UnknownName,
                &format!("carry.{input}"),
                format!(
                    "{place}: the body `{}` has no input `{input}`; it takes {}",
                    body.spec.id,
                    super::variable_names(&interface.inputs)
                ),
            )),
            (_, None) => problems.push(at(
                ProblemCode::UnknownName,
                &format!("carry.{input}"),
                format!(
                    "{place}: the body `{}` has no output `{output}`; it offers {}",
                    body.spec.id,
                    super::variable_names(&interface.outputs)
                ),
            )),
            (Some(to), Some(from)) if !to.ty.accepts(&from.ty) => problems.push(at(
                ProblemCode::TypeMismatch,
                &format!("carry.{input}"),
                format!(
                    "{place}: type mismatch: input `{input}` is {}, but output `{output}` is {}",
                    to.ty, from.ty
                ),
            )),
            _ => {}
        }
    }
    let scopes = [
        Scope::of("outputs", "the body offers", &interface.outputs),
        Scope::of("inputs", "the loop takes", &interface.inputs),
    ];
    let until = match condition::check(&spec.until, &scopes) {
        Ok(until) => until,
        Err(e) => {
            problems.push(at(
                ProblemCode::Invalid,
                "until",
                format!("node `{node}`, until: {:?}: {e}", spec.until),
            ));
            Condition {
                text: spec.until.clone(),
                expr: Expr::Literal(Literal::Bool(true)),
            }
        }
    };
    let mut outputs = interface.outputs.clone();
    outputs.extend(interface.outputs.iter().map(|v| Variable {
        name: format!("history.{}", v.name),
        ty: Type::List(Box::new(v.ty.clone())),
        default: None,
        description: format!("`{}` of every iteration", v.name),
    }));
    outputs.sort_by(|a, b| a.name.cmp(&b.name));
    let mut pinned = spec.clone();
    pinned.body = body.spec.id.clone();
    Some(Callee::Loop(Box::new(LoopCallee {
        spec: pinned,
        interface: Interface {
            inputs: interface.inputs.clone(),
            outputs,
        },
        compiled: CompiledLoop { until },
        body,
    })))
}

/// Starts loop instance `node`: its iteration 0.
pub(super) fn start(run: &mut Run<'_>, node: u32, spec: &LoopSpec) {
    let Some(body) = run.registry.workflows.get(&spec.body).cloned() else {
        run.node_failed(
            node,
            0,
            format!("workflow `{}` is not registered", spec.body),
        );
        return;
    };
    let Some(inputs) = super::bound_inputs(run, node) else {
        return;
    };
    let message = format!(
        "loops over {} (at most {} iterations); iteration 0 starts",
        spec.body, spec.max_iterations
    );
    run.start_control(node, message);
    start_iteration(run, node, &body, 0, inputs);
}

fn start_iteration(
    run: &mut Run<'_>,
    node: u32,
    body: &Arc<CompiledWorkflow>,
    index: u32,
    inputs: Values,
) {
    let pinned_above = subworkflow::pinned_pool(run, node);
    let frame = run.lay_out_frame(body, Some(node), index, inputs, pinned_above, None);
    run.start_frame(frame, body);
}

/// Iteration `frame` of loop instance `owner` has succeeded with `outputs`.
pub(super) fn iteration_finished(run: &mut Run<'_>, owner: u32, frame: u32, outputs: Values) {
    let Some(located) = run.registry.locate(run.execution, owner) else {
        return;
    };
    let (Some(Control::Loop(compiled)), baton_model::NodeKind::Loop(spec)) =
        (located.node().control.as_deref(), &located.node().kind)
    else {
        return;
    };
    let index = run.execution.frames[frame as usize].index;
    run.execution.frames[frame as usize].outputs = Some(outputs.clone());
    let loop_inputs = loop_inputs(run.execution, owner);
    let done = compiled.until.evaluate(&[&outputs, &loop_inputs]);
    let attempt = run.execution.nodes[owner as usize].attempt;
    let done = match done {
        Ok(done) => done,
        Err(why) => {
            let why = format!(
                "iteration {index}: until {:?} could not be evaluated: {why}",
                compiled.until.text
            );
            run.node_failed(owner, attempt, why);
            return;
        }
    };
    if done {
        finished(
            run,
            owner,
            attempt,
            outputs,
            format!("until holds after iteration {index}"),
        );
        return;
    }
    if index + 1 >= spec.max_iterations {
        let why = format!(
            "ran its {} iterations (max_iterations) without until {:?} holding",
            spec.max_iterations, compiled.until.text
        );
        if spec.fail_on_max {
            run.node_failed(owner, attempt, why);
        } else {
            finished(run, owner, attempt, outputs, why);
        }
        return;
    }
    let Some(body) = run.registry.workflows.get(&spec.body).cloned() else {
        return;
    };
    let mut inputs = run.execution.frames[frame as usize].inputs.clone();
    for (input, output) in &spec.carry {
        if let Some(value) = outputs.get(output) {
            inputs.insert(input.clone(), value.clone());
        }
    }
    let message = format!(
        "iteration {index} succeeded; iteration {} starts",
        index + 1
    );
    run.record_node(owner, NodePhase::Running, attempt, message);
    start_iteration(run, owner, &body, index + 1, inputs);
}

fn finished(run: &mut Run<'_>, owner: u32, attempt: u32, outputs: Values, why: String) {
    run.record(
        EventSubject::Node {
            node: owner,
            phase: NodePhase::Running,
            attempt,
        },
        why,
    );
    run.node_succeeded(owner, attempt, outputs);
}

/// A node inside iteration `frame` of loop instance `owner` failed for good
/// (`message` says which and why): runs the iteration again with the same
/// inputs if `retry_iteration` allows. Returns whether it did.
pub(super) fn retry_iteration(
    run: &mut Run<'_>,
    owner: u32,
    frame: u32,
    spec: &LoopSpec,
    message: &str,
) -> bool {
    let state = &run.execution.nodes[owner as usize];
    if state.retries_used >= spec.retry_iteration || run.execution.phase.is_terminal() {
        return false;
    }
    let Some(body) = run.registry.workflows.get(&spec.body).cloned() else {
        return false;
    };
    let retry = state.retries_used + 1;
    let attempt = state.attempt;
    run.execution.nodes[owner as usize].retries_used = retry;
    run.abandon_frame(frame);
    let index = run.execution.frames[frame as usize].index;
    let inputs = run.execution.frames[frame as usize].inputs.clone();
    let note = format!(
        "iteration {index} failed: {message}; running it again (retry {retry} of {})",
        spec.retry_iteration
    );
    run.record_node(owner, NodePhase::Running, attempt, note);
    start_iteration(run, owner, &body, index, inputs);
    true
}

/// The loop's own inputs: those of its first iteration.
fn loop_inputs(execution: &Execution, owner: u32) -> Values {
    execution
        .frames
        .iter()
        .find(|f| f.owner == Some(owner))
        .map(|f| f.inputs.clone())
        .unwrap_or_default()
}

/// Output `output` of every succeeded iteration of loop instance `owner`,
/// in order: the loop's `history.output`.
pub fn history_of(execution: &Execution, owner: u32, output: &str) -> Value {
    Value::List(
        execution
            .frames
            .iter()
            .filter(|f| f.owner == Some(owner))
            .filter_map(|f| f.outputs.as_ref())
            .map(|outputs| outputs.get(output).cloned().unwrap_or(Value::None))
            .collect(),
    )
}

/// Output `output` of the iterations of frame `frame`'s loop before it:
/// `${history.output}` inside the body (empty outside a loop).
pub fn history_before(execution: &Execution, frame: u32, output: &str) -> Value {
    let Some(current) = execution.frames.get(frame as usize) else {
        return Value::List(Vec::new());
    };
    let Some(owner) = current.owner else {
        return Value::List(Vec::new());
    };
    Value::List(
        execution
            .frames
            .iter()
            .filter(|f| f.owner == Some(owner) && f.index < current.index)
            .filter_map(|f| f.outputs.as_ref())
            .map(|outputs| outputs.get(output).cloned().unwrap_or(Value::None))
            .collect(),
    )
}

/// How many iterations loop instance `owner` has started.
pub fn iterations(execution: &Execution, owner: u32) -> u32 {
    execution
        .frames
        .iter()
        .filter(|f| f.owner == Some(owner))
        .map(|f| f.index + 1)
        .max()
        .unwrap_or(0)
}
