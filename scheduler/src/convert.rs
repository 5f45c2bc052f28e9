//! Rendering replicated state on the wire (Admin API answers and events).

use baton_model::value::values_to_proto;

use crate::compiler::CompiledWorkflow;
use crate::state::{Event, EventSubject, Execution, SchedulerState};

pub fn execution_to_proto(
    state: &SchedulerState,
    execution: &Execution,
    with_nodes: bool,
) -> baton_proto::Execution {
    let workflow = state.workflow_of(execution);
    let nodes = match (with_nodes, workflow) {
        (true, Some(workflow)) => execution
            .nodes
            .iter()
            .zip(&workflow.nodes)
            .map(|(node, compiled)| baton_proto::NodeStatus {
                id: compiled.id.clone(),
                phase: node.phase.to_proto() as i32,
                attempt: node.attempt,
                executor: node.executor.clone(),
                pool: node.pool.to_string(),
                error: node.error.clone(),
                outputs: values_to_proto(&node.outputs),
                started_at_ms: node.started_at_ms,
                finished_at_ms: node.finished_at_ms,
                task: Some((&compiled.task).into()),
            })
            .collect(),
        _ => Vec::new(),
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
    }
}

pub fn event_to_proto(
    workflow: Option<&CompiledWorkflow>,
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
            out.node_id = workflow
                .and_then(|w| w.nodes.get(*node as usize))
                .map(|n| n.id.clone())
                .unwrap_or_else(|| format!("#{node}"));
            out.node_phase = phase.to_proto() as i32;
            out.attempt = *attempt;
        }
    }
    out
}
