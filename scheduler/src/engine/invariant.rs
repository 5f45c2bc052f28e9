//! The execution's invariants, checked after every apply in debug builds
//! (and by the tests, in any build): the frames lay out every instance
//! once, each count the engine keeps agrees with a recount, no instance ran
//! before its upstream succeeded (DESIGN.md §10, invariant 3), and a
//! finished execution has nothing left running.

use baton_model::NodeKind;

use super::Registry;
use crate::state::{Execution, NodePhase};

/// Executions with more instances than this are checked only in tests that
/// ask: a full check per apply would make a 100,000-node debug run
/// quadratic.
pub const CHECK_LIMIT: usize = 4096;

/// Every broken invariant of `execution`, described; empty when it holds.
pub fn violations(registry: &Registry<'_>, execution: &Execution) -> Vec<String> {
    let mut problems = Vec::new();
    let id = &execution.id;
    let mut expected_first = 0u32;
    for (index, frame) in execution.frames.iter().enumerate() {
        let Some(workflow) = registry.frame_workflow(execution, index as u32) else {
            problems.push(format!(
                "{id}: frame {index} runs unknown workflow `{}`",
                frame.workflow
            ));
            return problems;
        };
        if frame.first != expected_first {
            problems.push(format!(
                "{id}: frame {index} starts at instance {}, not {expected_first}",
                frame.first
            ));
            return problems;
        }
        // A map's items frame holds an instance per item, all of its one node.
        let length = frame.items.unwrap_or(workflow.nodes.len() as u32);
        expected_first += length;
        match (index, frame.owner) {
            (0, None) => {}
            (0, Some(_)) => problems.push(format!("{id}: frame 0 has an owner")),
            (_, None) => problems.push(format!("{id}: frame {index} has no owner")),
            (_, Some(owner)) => {
                let kind = registry.locate(execution, owner).map(|l| &l.node().kind);
                let runs_it = match kind {
                    Some(NodeKind::Workflow(w)) => {
                        // A launch plan may swap the workflow it runs.
                        let swapped = super::path::override_of(registry, execution, owner)
                            .and_then(|o| o.workflow.as_ref());
                        (*w == frame.workflow || swapped == Some(&frame.workflow))
                            && frame.index == 0
                    }
                    Some(NodeKind::Loop(spec)) => spec.body == frame.workflow,
                    // The branch's cases: a workflow of its own, not registered.
                    Some(NodeKind::Branch(_)) => frame.index == 0 && frame.items.is_none(),
                    Some(NodeKind::Map(_)) => frame.index == 0 && frame.items.is_some(),
                    _ => false,
                };
                if !runs_it {
                    problems.push(format!(
                        "{id}: frame {index} is owned by instance {owner}, which does not run `{}`",
                        frame.workflow
                    ));
                }
                if owner >= frame.first {
                    problems.push(format!(
                        "{id}: frame {index} starts before its owner {owner}"
                    ));
                }
            }
        }
        let nodes = &execution.nodes[frame.first as usize..]
            [..(length as usize).min(execution.nodes.len().saturating_sub(frame.first as usize))];
        let unfinished = nodes.iter().filter(|n| !n.phase.is_terminal()).count() as u32;
        if !execution.phase.is_terminal() && unfinished != frame.unfinished {
            problems.push(format!(
                "{id}: frame {index} counts {} unfinished nodes, holds {unfinished}",
                frame.unfinished
            ));
        }
        if let Some(items) = frame.items {
            problems.extend(map_items(registry, execution, index, frame, nodes, items));
        }
        let compiled_of = |local: usize| match frame.items {
            Some(_) => &workflow.nodes[0],
            None => &workflow.nodes[local],
        };
        for (local, node) in nodes.iter().enumerate() {
            let compiled = compiled_of(local);
            let instance = frame.first + local as u32;
            let waiting = compiled
                .upstream
                .iter()
                .filter(|&&up| nodes[up as usize].phase != NodePhase::Succeeded)
                .count() as u32;
            let started = matches!(
                node.phase,
                NodePhase::Queued | NodePhase::Running | NodePhase::Succeeded
            ) || (node.phase == NodePhase::Failed && node.started_at_ms > 0);
            if started && waiting > 0 {
                problems.push(format!(
                    "{id}: instance {instance} (`{}`) is {:?} while {waiting} upstream nodes have not succeeded",
                    compiled.id, node.phase
                ));
            }
            if node.phase == NodePhase::Pending && node.waiting_on != waiting {
                problems.push(format!(
                    "{id}: instance {instance} (`{}`) waits on {} upstream nodes, {waiting} have not succeeded",
                    compiled.id, node.waiting_on
                ));
            }
            if execution.phase.is_terminal()
                && matches!(node.phase, NodePhase::Queued | NodePhase::Running)
            {
                problems.push(format!(
                    "{id}: instance {instance} (`{}`) is {:?} in a finished execution",
                    compiled.id, node.phase
                ));
            }
            if let NodeKind::Workflow(_)
            | NodeKind::Loop(_)
            | NodeKind::Branch(_)
            | NodeKind::Map(_) = compiled.kind
            {
                // Started (attempt 1) exactly when its frame was laid out.
                let runs = execution.frame_run_by(instance).is_some();
                if runs != (node.started_at_ms > 0) {
                    problems.push(format!(
                        "{id}: sub-workflow instance {instance} (`{}`) is {:?} but {} a frame",
                        compiled.id,
                        node.phase,
                        if runs { "runs" } else { "does not run" }
                    ));
                }
            }
        }
    }
    if expected_first as usize != execution.nodes.len() {
        problems.push(format!(
            "{id}: the frames lay out {expected_first} instances, the execution holds {}",
            execution.nodes.len()
        ));
    }
    problems
}

/// A map's items: started in order, never more running than its
/// concurrency, and its counts agree with its items' phases.
fn map_items(
    registry: &Registry<'_>,
    execution: &Execution,
    index: usize,
    frame: &crate::state::Frame,
    nodes: &[crate::state::NodeState],
    items: u32,
) -> Vec<String> {
    let id = &execution.id;
    let mut problems = Vec::new();
    // A map ended (cancelled with a retried iteration, or inside a
    // tolerated item) leaves its items as they were.
    let ended = frame
        .owner
        .is_some_and(|o| execution.nodes[o as usize].phase.is_terminal());
    if ended {
        return problems;
    }
    let concurrency = frame
        .owner
        .and_then(|o| registry.locate(execution, o))
        .and_then(|l| match l.node().control.as_deref() {
            Some(crate::compiler::Control::Map(map)) => Some(map.concurrency),
            _ => None,
        })
        .unwrap_or(0);
    let running = nodes
        .iter()
        .filter(|n| matches!(n.phase, NodePhase::Queued | NodePhase::Running))
        .count() as u32;
    if concurrency > 0 && running > concurrency && !execution.phase.is_terminal() {
        problems.push(format!(
            "{id}: map frame {index} runs {running} items, more than its concurrency {concurrency}"
        ));
    }
    if frame.started > items {
        problems.push(format!(
            "{id}: map frame {index} started {} of {items} items",
            frame.started
        ));
    }
    if let Some(late) = nodes[frame.started.min(items) as usize..]
        .iter()
        .position(|n| n.phase != NodePhase::Pending && !execution.phase.is_terminal())
    {
        problems.push(format!(
            "{id}: map frame {index}: item {} left Pending before the items ahead of it started",
            frame.started as usize + late
        ));
    }
    let failed = nodes
        .iter()
        .filter(|n| n.phase == NodePhase::Failed)
        .count() as u32;
    if failed != frame.failed && !execution.phase.is_terminal() {
        problems.push(format!(
            "{id}: map frame {index} counts {} failed items, holds {failed}",
            frame.failed
        ));
    }
    problems
}

/// Panics with every broken invariant (debug builds call it after each
/// apply, on executions of at most [`CHECK_LIMIT`] instances).
pub fn check(registry: &Registry<'_>, execution: &Execution) {
    let problems = violations(registry, execution);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
