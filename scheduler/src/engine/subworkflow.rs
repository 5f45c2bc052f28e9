//! The sub-workflow node kind: an instance runs a registered workflow in a
//! frame of its own.
//!
//! Type rule: the node's inputs and outputs are the called workflow's
//! interface (checked like a task's through [`super::Callee`]); the called
//! version is pinned at registration; a workflow may not include itself,
//! directly or through others (the registry refuses the chain), nor nest
//! deeper than [`crate::compiler::MAX_NESTING`].
//! Run rule: when its upstream instances have succeeded, the instance is
//! Running and its frame is laid out after every instance so far, its
//! nodes under the instance's path (`sub.child`); the frame's first nodes
//! are ready at once. When the frame's last node succeeds, the workflow's
//! output bindings are evaluated over the frame and the instance succeeds
//! with them. A failure inside fails the instance, each enclosing one, and
//! the execution.

use baton_model::{Identifier, Values};

use super::Run;

/// Starts sub-workflow instance `node`, which runs workflow `id`.
pub(super) fn start(run: &mut Run<'_>, node: u32, id: &Identifier) {
    // A launch plan may run another workflow of the same interface here.
    let swapped = super::path::override_of(&run.registry, run.execution, node)
        .and_then(|o| o.workflow.clone());
    let id = swapped.as_ref().unwrap_or(id);
    let Some(workflow) = run.registry.workflows.get(id).cloned() else {
        let why = format!("workflow `{id}` is not registered");
        run.node_failed(node, 1, why);
        return;
    };
    let Some(inputs) = super::bound_inputs(run, node) else {
        return;
    };
    // The nearest enclosing pin, if a node pins one, holds for the nodes
    // inside that do not pin their own.
    let pinned_above = pinned_pool(run, node);
    run.start_control(node, format!("runs workflow {id}"));
    let frame = run.lay_out_frame(&workflow, Some(node), 0, inputs, pinned_above, None);
    run.start_frame(frame, &workflow);
}

/// The frame that instance `owner` runs has finished with `outputs`.
pub(super) fn finished(run: &mut Run<'_>, owner: u32, outputs: Values) {
    let attempt = run.execution.nodes[owner as usize].attempt;
    run.node_succeeded(owner, attempt, outputs);
}

/// What `node` pins for the instances inside it: the pool of it or of the
/// nearest instance enclosing it that pins one, and its own settled
/// selector (which holds every enclosing one).
pub(super) fn pinned_pool(run: &Run<'_>, node: u32) -> Option<super::pool::Above> {
    let selector = run.execution.nodes[node as usize].selector.clone();
    let mut at = node;
    let pool = loop {
        let Some(located) = run.registry.locate(run.execution, at) else {
            break None;
        };
        let overridden = super::path::override_of(&run.registry, run.execution, at)
            .is_some_and(|o| o.pool.is_some());
        if !located.node().pool.is_empty() || overridden {
            break Some(run.execution.nodes[at as usize].pool.clone());
        }
        match run.execution.frames[located.frame as usize].owner {
            Some(owner) => at = owner,
            None => break None,
        }
    };
    (pool.is_some() || selector.is_some()).then_some(super::pool::Above { pool, selector })
}
