//! The one rule for "this node instance may run now": every upstream
//! instance in its frame has succeeded.
//!
//! The state machine applies it as the engine's `waiting_on` count (kept as
//! results are recorded, recounted by [`super::invariant`]); the dispatcher
//! applies it through [`ready_after`] over a [`RunView`] that adds the
//! results it has received but not yet seen committed, to start a task
//! before its upstream's result is durable (docs/decisions.md, "A downstream
//! node starts on its upstream's result"). Only task instances start that
//! way: a sub-workflow instance lays out a frame, which only an applied
//! command can do.

use baton_model::{NodeKind, Values};

use super::{Located, Registry};
use crate::state::{Execution, ExecutionPhase, NodePhase};

/// What readiness reads of an execution.
pub trait RunView {
    fn execution(&self) -> &Execution;

    /// Whether instance `node` has succeeded, as far as this view knows.
    fn succeeded(&self, node: u32) -> bool;

    /// The outputs instance `node` has produced, as far as this view knows.
    fn outputs(&self, node: u32) -> Option<&Values>;
}

/// The execution as the state holds it.
pub struct Committed<'a>(pub &'a Execution);

impl RunView for Committed<'_> {
    fn execution(&self) -> &Execution {
        self.0
    }

    fn succeeded(&self, node: u32) -> bool {
        self.0
            .nodes
            .get(node as usize)
            .is_some_and(|n| n.phase == NodePhase::Succeeded)
    }

    fn outputs(&self, node: u32) -> Option<&Values> {
        self.0.nodes.get(node as usize).map(|n| &n.outputs)
    }
}

/// Whether every upstream instance of the located instance has succeeded
/// in `view`.
fn upstream_succeeded(located: &Located<'_>, view: &impl RunView) -> bool {
    located
        .node()
        .upstream
        .iter()
        .all(|&up| view.succeeded(located.first + up))
}

/// Whether task instance `node` may be handed to an executor in `view`:
/// the execution runs, the instance waits (Pending) or is Queued, and its
/// upstream instances have succeeded.
pub fn task_ready(registry: &Registry<'_>, view: &impl RunView, node: u32) -> bool {
    let execution = view.execution();
    if execution.phase != ExecutionPhase::Running {
        return false;
    }
    let Some(located) = registry.locate(execution, node) else {
        return false;
    };
    if !matches!(located.node().kind, NodeKind::Task(_)) {
        return false;
    }
    match execution.nodes[node as usize].phase {
        NodePhase::Queued => true,
        NodePhase::Pending => upstream_succeeded(&located, view),
        _ => false,
    }
}

/// The task instances that the success of instance `node` makes ready in
/// `view` (which already counts that success): its downstream instances
/// still Pending whose other upstream instances have succeeded too.
pub fn ready_after(registry: &Registry<'_>, view: &impl RunView, node: u32) -> Vec<u32> {
    let execution = view.execution();
    if execution.phase != ExecutionPhase::Running {
        return Vec::new();
    }
    let Some(located) = registry.locate(execution, node) else {
        return Vec::new();
    };
    located
        .node()
        .downstream
        .iter()
        .map(|&down| located.first + down)
        .filter(|&down| {
            execution.nodes[down as usize].phase == NodePhase::Pending
                && task_ready(registry, view, down)
        })
        .collect()
}
