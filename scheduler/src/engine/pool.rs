//! Pin precedence: where a node instance runs. The one place that decides
//! it (DESIGN.md §7): the node's own pin, else the pin of the nearest
//! enclosing node that has one (a sub-workflow node pins what runs inside
//! it), else the launch's, else the workflow's, else the task's default
//! pool, else `default`. Settled when the instance is laid out, so that a
//! queued instance carries its pool and queueing allocates none.

use std::collections::HashMap;
use std::sync::Arc;

use baton_model::{Identifier, NodeKind};

use crate::compiler::CompiledWorkflow;

/// Where a node runs, as far as its workflow and task decide.
#[derive(Clone, Debug, PartialEq)]
pub struct NodePool {
    /// The node pins its own pool, which no pin above it overrides.
    pub pinned: bool,
    /// The pool: the node's pin, else the workflow's, else the task's, else `default`.
    pub name: Arc<str>,
}

/// Each node's pool but for the pins above it. `task_pool` gives a task's
/// default pool.
pub fn node_pools<'a>(
    workflow: &CompiledWorkflow,
    task_pool: impl Fn(&Identifier) -> Option<&'a str>,
) -> Vec<NodePool> {
    let mut shared: HashMap<&str, Arc<str>> = HashMap::new();
    workflow
        .nodes
        .iter()
        .map(|node| {
            let task_default = match &node.kind {
                NodeKind::Task(task) => task_pool(task),
                NodeKind::Workflow(_)
                | NodeKind::Loop(_)
                | NodeKind::Branch(_)
                | NodeKind::Map(_) => None,
            };
            let name = [node.pool.as_str(), workflow.spec.pool.as_str()]
                .into_iter()
                .chain(task_default)
                .find(|p| !p.is_empty())
                .unwrap_or("default");
            NodePool {
                pinned: !node.pool.is_empty(),
                name: shared.entry(name).or_insert_with(|| name.into()).clone(),
            }
        })
        .collect()
}

/// A node's pool: its own pin, else `above` (an enclosing node's pin, or the
/// launch's), else its workflow's, its task's or `default` (what `node_pool`
/// already holds).
pub fn settle(node_pool: &NodePool, above: Option<&Arc<str>>) -> Arc<str> {
    match above {
        Some(above) if !node_pool.pinned => above.clone(),
        _ => node_pool.name.clone(),
    }
}
