//! The map node kind: a task or workflow run once per element of a list
//! input, each item under the node's path with its index (`score[17]`).
//!
//! Type rule ([`callee`]): `over` names an input of the task or workflow;
//! the map binds it a `list` of that input's type, and binds the other
//! inputs as usual (every item shares them). Each output `o: T` of the task
//! or workflow is the map's output `o: list<T>`, in item order; a map that
//! tolerates failures offers `list<optional<T>>`, failed items being `null`.
//! Run rule: when its upstream nodes have succeeded, the instance is Running
//! and lays out one instance per item in a frame whose inputs are the
//! map's own (the list is stored once; an item reads its element when it
//! is bound). At most `concurrency` items run at once, started in order.
//! An item failing for good fails the map at once (running items are
//! cancelled) unless `tolerate` allows it. The map succeeds when every item
//! has ended; its outputs are gathered from its items when read, never
//! copied into the map.

use std::sync::Arc;

use baton_model::{Identifier, Interface, MapSpec, Tolerance, Type, Value, Variable};
use serde::{Deserialize, Serialize};

use super::{subworkflow, Callee, Run};
use crate::compiler::{CompiledBinding, CompiledNode, CompiledWorkflow, Control};
use crate::error::{Problem, ProblemCode};
use crate::state::{Execution, NodePhase};

/// What the compiler makes of a map node.
#[derive(Clone, Debug)]
pub struct MapCallee {
    /// The spec with the task's or workflow's version pinned.
    pub spec: MapSpec,
    /// The task or workflow each item runs.
    pub callee: Callee,
    /// `over` as a list, the other inputs as they are; outputs as lists.
    pub interface: Interface,
    pub compiled: CompiledMap,
}

/// The run-time part of a map node, checked at registration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompiledMap {
    /// One node, the task or workflow call, with `over` bound to the item's
    /// element and the other inputs to the map's.
    pub items: Arc<CompiledWorkflow>,
    pub over: String,
    pub concurrency: u32,
    pub tolerate: Tolerance,
    /// The map's inputs, as its items' frame holds them.
    pub interface: Interface,
}

/// Checks map node `node` (of workflow `workflow`) over `callee`, pushing
/// every problem; returns the callee even then.
pub fn callee(
    workflow: &Identifier,
    node: &str,
    spec: &MapSpec,
    callee: Callee,
    problems: &mut Vec<Problem>,
) -> Option<Callee> {
    let interface = callee.interface().clone();
    let Some(element) = interface.input(&spec.over) else {
        let message = format!(
            "node `{node}` map.over `{}`: {} `{}` has no input `{}`; it takes {}",
            spec.over,
            callee.kind_name(),
            callee.id(),
            spec.over,
            super::variable_names(&interface.inputs)
        );
        problems.push(
            Problem::new(ProblemCode::UnknownName, message)
                .node(node)
                .field("map.over"),
        );
        return Some(callee);
    };
    let mut inputs: Vec<Variable> = interface.inputs.clone();
    for var in &mut inputs {
        if var.name == spec.over {
            var.ty = Type::List(Box::new(element.ty.clone()));
            var.default = None;
        }
    }
    let tolerates = spec.tolerate.tolerates_any();
    let outputs = interface
        .outputs
        .iter()
        .map(|v| Variable {
            name: v.name.clone(),
            ty: Type::List(Box::new(if tolerates {
                Type::Optional(Box::new(v.ty.clone()))
            } else {
                v.ty.clone()
            })),
            default: None,
            description: format!("`{}` of every item, in order", v.name),
        })
        .collect();
    let map_interface = Interface { inputs, outputs };
    let item_inputs = interface
        .inputs
        .iter()
        .map(|v| {
            let binding = if v.name == spec.over {
                CompiledBinding::Item(v.name.clone())
            } else {
                CompiledBinding::Input(v.name.clone())
            };
            (v.name.clone(), binding)
        })
        .collect();
    let mut items_id = workflow.clone();
    // `#` is not allowed in a registered name: this one never collides.
    items_id.name = format!("{}#{node}", workflow.name);
    let pinned = callee.pinned();
    let items = CompiledWorkflow::synthetic(
        baton_model::WorkflowSpec {
            id: items_id,
            interface: Interface {
                inputs: map_interface.inputs.clone(),
                outputs: Vec::new(),
            },
            nodes: Vec::new(),
            outputs: Default::default(),
            pool: String::new(),
            selector: Default::default(),
            description: format!("the items of map node `{node}`"),
        },
        CompiledNode {
            id: node.to_owned(),
            kind: pinned.clone(),
            inputs: item_inputs,
            upstream: Vec::new(),
            downstream: Vec::new(),
            pool: String::new(),
            selector: None,
            control: None,
        },
        match &callee {
            Callee::Workflow(w) => w.nesting + 1,
            _ => 0,
        },
    );
    let mut spec = spec.clone();
    spec.runs = Box::new(pinned);
    Some(Callee::Map(Box::new(MapCallee {
        compiled: CompiledMap {
            items: Arc::new(items),
            over: spec.over.clone(),
            concurrency: spec.concurrency,
            tolerate: spec.tolerate,
            interface: map_interface.clone(),
        },
        spec,
        callee,
        interface: map_interface,
    })))
}

/// Starts map instance `node`: lays out its items and starts the first
/// `concurrency` of them.
pub(super) fn start(run: &mut Run<'_>, node: u32) {
    let Some(located) = run.registry.locate(run.execution, node) else {
        return;
    };
    let Some(Control::Map(map)) = located.node().control.as_deref() else {
        return;
    };
    let Some(inputs) = super::bound_inputs(run, node) else {
        return;
    };
    let count = match inputs.get(&map.over) {
        Some(Value::List(items)) => items.len() as u32,
        Some(Value::Offloaded(blob)) => {
            // The scheduler never reads the blob store: a list it must lay
            // out has to travel inline.
            let why = format!(
                "cannot map over `{}`: the list is in the blob store ({} bytes, above the \
                 inline limit); raise the scheduler's --inline-limit or map over a shorter list",
                map.over, blob.size
            );
            run.node_failed(node, 0, why);
            return;
        }
        _ => 0,
    };
    let items = map.items.clone();
    let pinned_above = subworkflow::pinned_pool(run, node);
    let what = items.nodes[0]
        .kind
        .target()
        .map(|t| t.to_string())
        .unwrap_or_default();
    let limit = match map.concurrency {
        0 => String::new(),
        n => format!(", at most {n} at once"),
    };
    run.start_control(node, format!("maps {what} over {count} items{limit}"));
    // The items' frame: the map's inputs once, and an instance per item.
    let frame = run.lay_out_frame(&items, Some(node), 0, inputs, pinned_above, Some(count));
    let first = run.execution.frames[frame as usize].first;
    let now = match map.concurrency {
        0 => count,
        n => n.min(count),
    };
    run.execution.frames[frame as usize].started = now;
    for item in 0..now {
        run.make_ready(first + item);
    }
    if count == 0 {
        finished(run, node);
    }
}

/// An item of map `owner`'s frame ended: the next item not yet started
/// starts, if the concurrency allows.
pub(super) fn start_next(run: &mut Run<'_>, owner: u32, frame: u32) {
    let Some(Control::Map(map)) = run
        .registry
        .locate(run.execution, owner)
        .and_then(|l| l.node().control.as_deref())
    else {
        return;
    };
    let entry = &run.execution.frames[frame as usize];
    let count = entry.items.unwrap_or(0);
    if entry.started >= count {
        return;
    }
    let ended = count - entry.unfinished;
    let running = entry.started - ended;
    if map.concurrency > 0 && running >= map.concurrency {
        return;
    }
    let next = entry.first + entry.started;
    run.execution.frames[frame as usize].started += 1;
    run.make_ready(next);
}

/// An item of map `owner` (instance `failed` of its frame) failed for good:
/// if the map tolerates one more failure, the item ends there (what it ran
/// inside is cancelled) and the map goes on. Returns whether it did.
pub(super) fn tolerated(
    run: &mut Run<'_>,
    owner: u32,
    frame: u32,
    failed: u32,
    spec: &MapSpec,
    message: &str,
) -> bool {
    let entry = &run.execution.frames[frame as usize];
    let count = entry.items.unwrap_or(0);
    let allowed = spec.tolerate.allowed(count);
    if entry.failed >= allowed || run.execution.phase.is_terminal() {
        return false;
    }
    let failures = entry.failed + 1;
    run.execution.frames[frame as usize].failed = failures;
    if let Some(inside) = run.execution.frame_run_by(failed) {
        run.abandon_frame(inside);
    }
    let attempt = run.execution.nodes[owner as usize].attempt;
    let note = format!("{message}; {failures} of at most {allowed} failed items tolerated");
    run.record_node(owner, NodePhase::Running, attempt, note);
    let Some(items) = run.registry.frame_workflow(run.execution, frame).cloned() else {
        return true;
    };
    run.node_finished(frame, &items);
    true
}

/// Every item of map `owner` has ended: the map succeeds (its outputs are
/// gathered from its items when read).
pub(super) fn finished(run: &mut Run<'_>, owner: u32) {
    let attempt = run.execution.nodes[owner as usize].attempt;
    run.node_succeeded(owner, attempt, Default::default());
}

/// Output `name` of every item of map instance `owner`, in order (`null`
/// for an item that did not succeed); `None` when `owner` is no map.
pub fn gathered(execution: &Execution, owner: u32, name: &str) -> Option<Value> {
    let frame = execution.frame_run_by(owner)?;
    let entry = &execution.frames[frame as usize];
    let count = entry.items?;
    let items = &execution.nodes[entry.first as usize..(entry.first + count) as usize];
    Some(Value::List(
        items
            .iter()
            .map(|item| match item.phase {
                NodePhase::Succeeded => item.outputs.get(name).cloned().unwrap_or(Value::None),
                _ => Value::None,
            })
            .collect(),
    ))
}

/// How many items map instance `owner` has, and how many of them have
/// succeeded, are queued or running, and have failed.
pub fn counts(execution: &Execution, owner: u32) -> Option<(u32, u32, u32, u32)> {
    let frame = execution.frame_run_by(owner)?;
    let entry = &execution.frames[frame as usize];
    let count = entry.items?;
    let items = &execution.nodes[entry.first as usize..(entry.first + count) as usize];
    let of =
        |phases: &[NodePhase]| items.iter().filter(|i| phases.contains(&i.phase)).count() as u32;
    Some((
        count,
        of(&[NodePhase::Succeeded]),
        of(&[NodePhase::Queued, NodePhase::Running]),
        of(&[NodePhase::Failed]),
    ))
}
