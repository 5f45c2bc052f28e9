//! Rendering replicated state on the wire (Admin API answers and events).

use baton_model::value::values_to_proto;

use std::collections::HashMap;

use baton_model::NodeKind;

use crate::compiler::Control;
use crate::engine::path;
use crate::state::{Event, EventSubject, Execution, NodePhase, SchedulerState};

pub fn execution_to_proto(
    state: &SchedulerState,
    execution: &Execution,
    with_nodes: bool,
) -> baton_proto::Execution {
    let workflow = state.workflow_of(execution);
    let registry = state.registry();
    let nodes = match with_nodes {
        true => tree_order(execution)
            .into_iter()
            .filter_map(|instance| {
                let node = &execution.nodes[instance as usize];
                let compiled = registry.locate(execution, instance)?.node();
                let (task, workflow, iterations, max_iterations) = match &compiled.kind {
                    // What the instance runs: a launch plan may have swapped it.
                    NodeKind::Task(_) => registry
                        .task_of(execution, instance)
                        .map_or((None, None, 0, 0), |t| (Some((&t.id).into()), None, 0, 0)),
                    NodeKind::Workflow(workflow) => (None, Some(workflow.into()), 0, 0),
                    NodeKind::Loop(spec) => (
                        None,
                        Some((&spec.body).into()),
                        crate::engine::looping::iterations(execution, instance),
                        spec.max_iterations,
                    ),
                    NodeKind::Branch(_) | NodeKind::Gate(_) => (None, None, 0, 0),
                    NodeKind::Map(spec) => match spec.runs.as_ref() {
                        NodeKind::Task(task) => (Some(task.into()), None, 0, 0),
                        other => (None, other.target().map(Into::into), 0, 0),
                    },
                };
                let (items, items_succeeded, items_running, items_failed) =
                    crate::engine::map::counts(execution, instance).unwrap_or_default();
                // A map's outputs are its items', gathered when read.
                let outputs = match compiled.control.as_deref() {
                    Some(Control::Map(map)) if node.phase == NodePhase::Succeeded => {
                        let mut gathered = baton_model::Values::new();
                        for var in registry
                            .interface_of(&map.items.nodes[0])
                            .map(|i| i.outputs.as_slice())
                            .unwrap_or_default()
                        {
                            if let Some(value) =
                                crate::engine::map::gathered(execution, instance, &var.name)
                            {
                                gathered.insert(var.name.clone(), value);
                            }
                        }
                        values_to_proto(&gathered)
                    }
                    _ => values_to_proto(&node.outputs),
                };
                let path = path::path_of(&registry, execution, instance);
                let (gate, waiting) = match &compiled.kind {
                    NodeKind::Gate(spec) => gate_status(state, execution, instance, spec, &path),
                    _ => (None, String::new()),
                };
                Some(baton_proto::NodeStatus {
                    id: path,
                    phase: node.phase.to_proto() as i32,
                    attempt: node.attempt,
                    executor: node.executor.clone(),
                    pool: node.pool.to_string(),
                    selector: node
                        .selector
                        .as_deref()
                        .map(crate::engine::pool::describe)
                        .unwrap_or_default(),
                    error: node.error.clone(),
                    outputs,
                    started_at_ms: node.started_at_ms,
                    finished_at_ms: node.finished_at_ms,
                    cached: node.cached,
                    recovered: node.recovered,
                    task,
                    workflow,
                    depth: path::depth_of(execution, instance),
                    iterations,
                    max_iterations,
                    items,
                    items_succeeded,
                    items_running,
                    items_failed,
                    waiting,
                    gate,
                })
            })
            .collect(),
        false => Vec::new(),
    };
    baton_proto::Execution {
        id: execution.id.to_string(),
        workflow: Some((&execution.workflow).into()),
        phase: execution.phase.to_proto() as i32,
        inputs: values_to_proto(&execution.inputs),
        outputs: values_to_proto(&execution.outputs),
        error: execution.error.clone(),
        created_at_ms: execution.created_at_ms,
        finished_at_ms: execution.finished_at_ms,
        nodes,
        pool: execution.pool.clone(),
        interface: workflow.map(|w| (&w.spec.interface).into()),
        launch_plan: execution.plan.as_ref().map(|p| (&p.plan).into()),
        labels: execution
            .plan
            .as_ref()
            .map(|p| p.labels.clone().into_iter().collect())
            .unwrap_or_default(),
        origin: execution
            .origin
            .as_ref()
            .map(|o| o.from.to_string())
            .unwrap_or_default(),
        relaunch: execution.origin.as_ref().is_some_and(|o| o.relaunch),
        waiting: state.waiting_reason(execution).unwrap_or_default(),
        trace_id: execution
            .trace
            .map(|t| t.trace_id_hex())
            .unwrap_or_default(),
        overrides: execution
            .plan
            .as_ref()
            .map(|p| {
                p.overrides
                    .iter()
                    .map(|(k, o)| (k.clone(), o.into()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// What gate instance `instance` shows (its inputs, its signal's fields,
/// its deadline) and, while it waits, the command that signals it.
fn gate_status(
    state: &SchedulerState,
    execution: &Execution,
    instance: u32,
    spec: &baton_model::GateSpec,
    path: &str,
) -> (Option<baton_proto::GateStatus>, String) {
    let registry = state.registry();
    let nodes = &execution.nodes;
    let inputs = registry
        .instance_inputs(execution, instance, &|up| {
            nodes.get(up as usize).map(|s| &s.outputs)
        })
        .unwrap_or_default();
    let waiting = crate::engine::gate::waiting(&registry, execution, instance);
    let node = &execution.nodes[instance as usize];
    let status = baton_proto::GateStatus {
        inputs: values_to_proto(&inputs),
        signal: baton_proto::Interface::from(&baton_model::Interface {
            inputs: Vec::new(),
            outputs: spec.signal.clone(),
        })
        .outputs,
        deadline_ms: if waiting { node.not_before_ms } else { 0 },
        continue_on_timeout: spec.on_timeout.is_some(),
        timeout_ms: spec.timeout_ms,
    };
    let how = match waiting {
        true => {
            let fields: Vec<String> = spec
                .signal
                .iter()
                .map(|v| format!("-i {}={}", v.name, v.ty.to_string().to_uppercase()))
                .collect();
            format!(
                "waiting for a signal: baton signal {} {path} {}",
                execution.id,
                fields.join(" ")
            )
        }
        false => String::new(),
    };
    (Some(status), how)
}

/// Every instance of an execution, each followed by the instances of the
/// frame it runs: the tree, depth first, in each workflow's node order.
fn tree_order(execution: &Execution) -> Vec<u32> {
    // A loop instance runs a frame per iteration (and per retry of one).
    let mut run_by: HashMap<u32, Vec<u32>> = HashMap::new();
    for (index, frame) in execution.frames.iter().enumerate() {
        if let Some(owner) = frame.owner {
            run_by.entry(owner).or_default().push(index as u32);
        }
    }
    let frame_nodes =
        |frame: u32| execution.frames[frame as usize].first..execution.frame_end(frame);

    let mut order = Vec::with_capacity(execution.nodes.len());
    if execution.frames.is_empty() {
        return order;
    }
    let mut stack: Vec<std::ops::Range<u32>> = vec![frame_nodes(0)];
    while let Some(range) = stack.last_mut() {
        let Some(instance) = range.next() else {
            stack.pop();
            continue;
        };
        order.push(instance);
        if let Some(frames) = run_by.get(&instance) {
            // Pushed last first, so that they come out in order.
            stack.extend(frames.iter().rev().map(|&frame| frame_nodes(frame)));
        }
    }
    order
}

/// An event of `execution` (when the state still holds it: its node
/// instances are named by path).
pub fn event_to_proto(
    state: &SchedulerState,
    execution: Option<&Execution>,
    execution_id: &str,
    event: &Event,
) -> baton_proto::ExecutionEvent {
    let mut out = baton_proto::ExecutionEvent {
        seq: event.seq,
        time_ms: event.time_ms,
        execution_id: execution_id.to_owned(),
        message: event.message.clone(),
        ..Default::default()
    };
    match &event.subject {
        EventSubject::Execution(phase) => out.execution_phase = phase.to_proto() as i32,
        EventSubject::Node {
            node,
            phase,
            attempt,
        } => {
            out.node_id = match execution {
                Some(execution) => state.node_path(execution, *node),
                None => format!("#{node}"),
            };
            out.node_phase = phase.to_proto() as i32;
            out.attempt = *attempt;
        }
    }
    out
}
