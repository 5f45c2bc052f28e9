//! Pin precedence: where a node instance runs, the one place that decides
//! it (DESIGN.md §7, docs/spec.md "Pools"). The pool is the first of:
//! the launch plan's override of the node, the node's own `pool`, the pin
//! of the nearest enclosing node that has one (a sub-workflow, loop, branch
//! or map node pins what runs inside it), the launch's `--pool`, the launch
//! plan's `pool`, the workflow's, the task's, the project's default pool,
//! and `default`. The selector merges every level's, a higher level
//! winning on the same label: the task's, the workflow's, the enclosing
//! node's, the node's own.
//!
//! Settled when the instance is laid out, so that a queued instance carries
//! its pool and queueing allocates none. What a workflow and its tasks
//! decide never changes once registered and is computed once per compiled
//! workflow ([`node_pools`]); [`settle`] adds the levels that vary by
//! launch.

use std::collections::HashMap;
use std::sync::Arc;

use baton_model::{Identifier, NodeKind, Selector, TaskSpec};

use crate::compiler::CompiledWorkflow;

/// The pool every unpinned node of a project without a default pool runs in.
pub const DEFAULT_POOL: &str = "default";

/// Where a node runs, as far as its workflow and task decide.
#[derive(Clone, Debug, PartialEq)]
pub struct NodePool {
    /// The node pins its own pool, which no pin above it overrides.
    pub pinned: bool,
    /// The node's pin, else the workflow's, else the task's; `None`: the
    /// project's default pool (or `default`) decides.
    pub name: Option<Arc<str>>,
    /// The node's selectors; `None` (most nodes) if it has none.
    pub selectors: Option<Arc<NodeSelectors>>,
}

/// A node's selectors, as far as its workflow and task decide.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSelectors {
    /// The task's, workflow's and node's merged.
    pub merged: Arc<Selector>,
    /// The node's own, which outranks an enclosing node's.
    pub own: Option<Selector>,
}

/// What an enclosing node pins for the instances inside it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Above {
    /// The pool of the nearest enclosing node that pins one.
    pub pool: Option<Arc<str>>,
    /// The enclosing node's settled selector (which holds its own aboves).
    pub selector: Option<Arc<Selector>>,
}

/// Where an instance runs: its pool and the labels its executor must have.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    pub pool: Arc<str>,
    pub selector: Option<Arc<Selector>>,
}

/// Each node's pool and selector but for the levels that vary by launch.
pub fn node_pools<'a>(
    workflow: &CompiledWorkflow,
    task_of: impl Fn(&Identifier) -> Option<&'a TaskSpec>,
) -> Vec<NodePool> {
    let mut shared: HashMap<&str, Arc<str>> = HashMap::new();
    workflow
        .nodes
        .iter()
        .map(|node| {
            let task = match &node.kind {
                NodeKind::Task(task) => task_of(task),
                NodeKind::Workflow(_)
                | NodeKind::Loop(_)
                | NodeKind::Branch(_)
                | NodeKind::Map(_)
                | NodeKind::Gate(_) => None,
            };
            let name = [node.pool.as_str(), workflow.spec.pool.as_str()]
                .into_iter()
                .chain(task.map(|t| t.pool.as_str()))
                .find(|p| !p.is_empty())
                .map(|name| shared.entry(name).or_insert_with(|| name.into()).clone());
            let merged = merge(
                [
                    task.map(|t| &t.selector),
                    Some(&workflow.spec.selector),
                    node.selector.as_deref(),
                ]
                .into_iter()
                .flatten(),
            );
            NodePool {
                pinned: !node.pool.is_empty(),
                name,
                selectors: merged.map(|merged| {
                    Arc::new(NodeSelectors {
                        merged,
                        own: node.selector.as_deref().cloned(),
                    })
                }),
            }
        })
        .collect()
}

/// The levels of one launch that rank above or below what [`node_pools`]
/// decided.
pub struct LaunchPins<'a> {
    /// An enclosing node's pins, if any.
    pub above: Option<&'a Above>,
    /// The launch's `--pool`, else its launch plan's `pool`.
    pub launch: Option<&'a Arc<str>>,
    /// The project's default pool, else `default`.
    pub fallback: &'a Arc<str>,
}

/// A node's placement: [`node_pools`]' answer with the launch's levels.
pub fn settle(node_pool: &NodePool, pins: &LaunchPins<'_>) -> Placement {
    let above_pool = pins.above.and_then(|a| a.pool.as_ref());
    let pool = match (&node_pool.name, node_pool.pinned) {
        (Some(own), true) => own,
        (name, false) => above_pool
            .or(pins.launch)
            .or(name.as_ref())
            .unwrap_or(pins.fallback),
        (None, true) => pins.fallback,
    };
    let own = node_pool.selectors.as_deref();
    let selector = match (pins.above.and_then(|a| a.selector.as_ref()), own) {
        (None, own) => own.map(|s| s.merged.clone()),
        (Some(above), None) => Some(above.clone()),
        (Some(above), Some(own)) => merge(
            [Some(&*own.merged), Some(&**above), own.own.as_ref()]
                .into_iter()
                .flatten(),
        ),
    };
    Placement {
        pool: pool.clone(),
        selector,
    }
}

/// The pool a launch plan's swapped-in task decides, where nothing above
/// the task pins one: the task's, else the project's or `default`.
pub fn task_pool(task: &TaskSpec, fallback: &Arc<str>) -> Arc<str> {
    if task.pool.is_empty() {
        fallback.clone()
    } else {
        task.pool.as_str().into()
    }
}

/// Selectors merged in rising precedence: a later one wins on a label.
fn merge<'a>(selectors: impl Iterator<Item = &'a Selector>) -> Option<Arc<Selector>> {
    let mut merged = Selector::new();
    for selector in selectors {
        merged.extend(selector.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    (!merged.is_empty()).then(|| Arc::new(merged))
}

/// Whether an executor with `labels` may run an instance with `selector`.
pub fn matches(
    selector: Option<&Selector>,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    selector.is_none_or(|s| s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// A selector as `baton get` and `baton pools` show it: `gpu=a100,zone=b`.
pub fn describe(selector: &Selector) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(pinned: bool, name: Option<&str>, selector: &[(&str, &str)]) -> NodePool {
        let selector: Selector = selector
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        NodePool {
            pinned,
            name: name.map(Into::into),
            selectors: (!selector.is_empty()).then(|| {
                Arc::new(NodeSelectors {
                    merged: Arc::new(selector.clone()),
                    own: None,
                })
            }),
        }
    }

    #[test]
    fn precedence_runs_node_enclosing_launch_workflow_task_project_default() {
        let fallback: Arc<str> = "proj".into();
        let launch: Arc<str> = "launch".into();
        let above = Above {
            pool: Some("outer".into()),
            selector: None,
        };
        let pins = |above, launch| LaunchPins {
            above,
            launch,
            fallback: &fallback,
        };
        let at =
            |node_pool: &NodePool, pins: LaunchPins<'_>| settle(node_pool, &pins).pool.to_string();
        let node = pool(true, Some("node"), &[]);
        assert_eq!(at(&node, pins(Some(&above), Some(&launch))), "node");
        let workflow = pool(false, Some("wf"), &[]);
        assert_eq!(at(&workflow, pins(Some(&above), Some(&launch))), "outer");
        assert_eq!(at(&workflow, pins(None, Some(&launch))), "launch");
        assert_eq!(at(&workflow, pins(None, None)), "wf");
        let nothing = pool(false, None, &[]);
        assert_eq!(at(&nothing, pins(None, None)), "proj");
    }

    #[test]
    fn selectors_merge_with_the_nearer_level_winning() {
        let fallback: Arc<str> = DEFAULT_POOL.into();
        let mut node = pool(false, None, &[("gpu", "a100"), ("zone", "a")]);
        let mut selectors = (**node.selectors.as_ref().unwrap()).clone();
        selectors.own = Some([("zone".to_string(), "a".to_string())].into());
        node.selectors = Some(Arc::new(selectors));
        let above = Above {
            pool: None,
            selector: Some(Arc::new(
                [
                    ("zone".to_string(), "b".to_string()),
                    ("rack".to_string(), "1".to_string()),
                ]
                .into(),
            )),
        };
        let pins = LaunchPins {
            above: Some(&above),
            launch: None,
            fallback: &fallback,
        };
        let placed = settle(&node, &pins);
        assert_eq!(
            describe(placed.selector.as_deref().unwrap()),
            "gpu=a100,rack=1,zone=a"
        );
    }

    #[test]
    fn a_selector_matches_only_executors_with_every_label() {
        let selector: Selector = [("gpu".to_string(), "a100".to_string())].into();
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(matches(
            Some(&selector),
            &labels(&[("gpu", "a100"), ("zone", "b")])
        ));
        assert!(!matches(Some(&selector), &labels(&[("gpu", "t4")])));
        assert!(!matches(Some(&selector), &labels(&[])));
        assert!(matches(None, &labels(&[])));
    }
}
