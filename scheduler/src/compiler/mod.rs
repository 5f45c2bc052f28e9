//! The workflow compiler and type checker.
//!
//! Turns a [`WorkflowSpec`] into a [`CompiledWorkflow`]: task and
//! sub-workflow references pinned to registered versions, node references
//! resolved to indices, constants fitted to their declared types, and the
//! dependency graph with its topological order. Every problem is reported,
//! each naming the node and field at fault; a workflow with any problem is
//! not registered. What a node of each kind offers and needs (its
//! interface) is the engine's ([`crate::engine::Callee`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use baton_model::{Identifier, NodeKind, TaskSpec, Type, Value, WorkflowSpec};
use serde::{Deserialize, Serialize};

pub use crate::engine::pool::NodePool;
use crate::engine::Callee;
pub use crate::error::{Problem, ProblemCode};

mod checker;
#[cfg(test)]
mod tests;

pub use checker::check_names;
use checker::{Checker, Inference, Place};

/// How deep sub-workflow nodes may nest: a workflow whose nodes run
/// workflows whose nodes run workflows... at most this many levels below
/// the launched one.
pub const MAX_NESTING: u32 = 8;

/// A binding whose node references are indices into [`CompiledWorkflow::nodes`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CompiledBinding {
    Input(String),
    /// `${history.NAME}`: the workflow's own output NAME in every earlier
    /// iteration of the loop it is the body of.
    History(String),
    /// In a map's items: this item's element of the map's list input NAME.
    Item(String),
    Output {
        node: u32,
        output: String,
    },
    Constant(Value),
    List(Vec<CompiledBinding>),
    Map(BTreeMap<String, CompiledBinding>),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompiledNode {
    pub id: String,
    /// The pinned task or sub-workflow (its version filled in).
    pub kind: NodeKind,
    /// Bound inputs, in the order of the task's interface. A node has a
    /// handful: a list is smaller than a map (a 100,000-node workflow held
    /// one B-tree leaf of about 900 bytes per node here).
    pub inputs: Vec<(String, CompiledBinding)>,
    /// Distinct nodes this one reads from.
    pub upstream: Vec<u32>,
    /// Distinct nodes that read from this one.
    pub downstream: Vec<u32>,
    /// The node's own pool pin; empty when not pinned.
    pub pool: String,
    /// The node's own selector, if it has one (boxed: most nodes have none,
    /// and a 100,000-node workflow holds one per node).
    pub selector: Option<Box<baton_model::Selector>>,
    /// What a control-flow node needs at run time, checked at registration.
    pub control: Option<Box<Control>>,
}

/// The compiled part of a control-flow node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Control {
    Loop(crate::engine::looping::CompiledLoop),
    Branch(crate::engine::branch::CompiledBranch),
    Map(crate::engine::map::CompiledMap),
    Gate(crate::engine::gate::CompiledGate),
}

impl CompiledNode {
    /// The task this node runs, if it is a task node.
    pub fn task(&self) -> Option<&Identifier> {
        match &self.kind {
            NodeKind::Task(task) => Some(task),
            NodeKind::Workflow(_)
            | NodeKind::Loop(_)
            | NodeKind::Branch(_)
            | NodeKind::Map(_)
            | NodeKind::Gate(_) => None,
        }
    }

    /// The binding of input `name`, if it is bound.
    pub fn input(&self, name: &str) -> Option<&CompiledBinding> {
        self.inputs.iter().find(|(n, _)| n == name).map(|(_, b)| b)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompiledWorkflow {
    /// The spec as registered (normalized, task versions pinned).
    pub spec: WorkflowSpec,
    pub nodes: Vec<CompiledNode>,
    pub outputs: BTreeMap<String, CompiledBinding>,
    /// How many levels of sub-workflows run below this workflow's nodes
    /// (0: none of its nodes runs a workflow).
    pub nesting: u32,
    /// Node id -> index, built on first use (not part of the replicated form).
    #[serde(skip)]
    index: std::sync::OnceLock<HashMap<String, u32>>,
    /// Each node's pool but for a launch's pin, built on first use (not
    /// part of the replicated form): shared, so that queueing a node
    /// allocates no pool name.
    #[serde(skip)]
    pools: std::sync::OnceLock<Vec<NodePool>>,
}

impl CompiledWorkflow {
    /// A workflow of one node that no registration made: a map's items.
    pub(crate) fn synthetic(spec: WorkflowSpec, node: CompiledNode, nesting: u32) -> Self {
        CompiledWorkflow {
            spec,
            nodes: vec![node],
            outputs: BTreeMap::new(),
            nesting,
            index: Default::default(),
            pools: Default::default(),
        }
    }

    /// Each node's pool but for the pins above it (a launch's, an enclosing
    /// node's): see [`crate::engine::pool`], which owns pin precedence.
    /// `task_of` gives a task node's task; tasks never change once
    /// registered, so the answer is computed once.
    pub fn node_pools<'a>(
        &self,
        task_of: impl Fn(&Identifier) -> Option<&'a baton_model::TaskSpec>,
    ) -> &[NodePool] {
        self.pools
            .get_or_init(|| crate::engine::pool::node_pools(self, task_of))
    }

    pub fn node_index(&self, id: &str) -> Option<u32> {
        self.index
            .get_or_init(|| {
                self.nodes
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (n.id.clone(), i as u32))
                    .collect()
            })
            .get(id)
            .copied()
    }
}

/// All the problems found in one workflow.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("workflow `{workflow}` is invalid: {}", problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; "))]
pub struct CompileError {
    pub workflow: String,
    pub problems: Vec<Problem>,
}

/// Compiles `spec`, resolving task and workflow references through
/// `resolve_task` and `resolve_workflow` (which treat an empty version as
/// "latest").
/// Takes the spec by value: the compiled workflow keeps it, and a large
/// workflow should not exist twice in memory while it is registered.
pub fn compile(
    spec: WorkflowSpec,
    resolve_task: impl Fn(&Identifier) -> Option<Arc<TaskSpec>>,
    resolve_workflow: impl Fn(&Identifier) -> Option<Arc<CompiledWorkflow>>,
) -> Result<CompiledWorkflow, CompileError> {
    compile_with(spec, &resolve_task, &resolve_workflow)
}

/// How [`compile`] finds a task by id.
pub type ResolveTask<'r> = &'r dyn Fn(&Identifier) -> Option<Arc<TaskSpec>>;
/// How [`compile`] finds a workflow by id.
pub type ResolveWorkflow<'r> = &'r dyn Fn(&Identifier) -> Option<Arc<CompiledWorkflow>>;

/// [`compile`] with its resolvers as trait objects, so that a branch's
/// cases compile through it again.
pub(crate) fn compile_with(
    mut spec: WorkflowSpec,
    resolve_task: ResolveTask<'_>,
    resolve_workflow: ResolveWorkflow<'_>,
) -> Result<CompiledWorkflow, CompileError> {
    let mut problems = Vec::new();

    let mut index: HashMap<&str, u32> = HashMap::with_capacity(spec.nodes.len());
    for (i, node) in spec.nodes.iter().enumerate() {
        if node.id.is_empty() {
            problems.push(
                Problem::new(
                    ProblemCode::Invalid,
                    format!("node #{} has an empty id", i + 1),
                )
                .field(format!("nodes[{i}].id")),
            );
        } else if let Some(bad) = node.id.chars().find(|c| matches!(c, '.' | '[' | ']')) {
            problems.push(Problem::new(ProblemCode::Invalid, format!(
                "node id `{}` may not contain `{bad}`: `.` and `[n]` build node paths (`loop[3].node`)",
                node.id
            )).node(&node.id).field("id"));
        } else if node.id == "inputs" || node.id == "history" {
            problems.push(
                Problem::new(
                    ProblemCode::Invalid,
                    format!(
                        "node id `{}` is reserved (`${{inputs.NAME}}`, `${{history.NAME}}`)",
                        node.id
                    ),
                )
                .node(&node.id)
                .field("id"),
            );
        } else if index.insert(node.id.as_str(), i as u32).is_some() {
            problems.push(
                Problem::new(
                    ProblemCode::Duplicate,
                    format!("duplicate node id `{}`", node.id),
                )
                .node(&node.id)
                .field("id"),
            );
        }
    }
    if spec.nodes.is_empty() {
        problems
            .push(Problem::new(ProblemCode::Missing, "the workflow has no nodes").field("nodes"));
    }
    if let Err(why) = check_names(&spec.interface) {
        problems.push(Problem::new(ProblemCode::Invalid, why).field("interface"));
    }

    let mut callees: Vec<Option<Callee>> = spec
        .nodes
        .iter()
        .map(|node| {
            let callee = match &node.kind {
                NodeKind::Task(id) => resolve_task(id).map(Callee::Task),
                NodeKind::Workflow(id) => resolve_workflow(id).map(Callee::Workflow),
                NodeKind::Loop(spec) => resolve_workflow(&spec.body).and_then(|body| {
                    crate::engine::looping::callee(&node.id, spec, body, &mut problems)
                }),
                NodeKind::Map(map) => {
                    let runs = match map.runs.as_ref() {
                        NodeKind::Task(id) => resolve_task(id).map(Callee::Task),
                        NodeKind::Workflow(id) => resolve_workflow(id).map(Callee::Workflow),
                        _ => None,
                    };
                    runs.and_then(|callee| {
                        crate::engine::map::callee(&spec.id, &node.id, map, callee, &mut problems)
                    })
                }
                // Its inputs' types come from the nodes it reads: below.
                NodeKind::Branch(_) => return None,
                NodeKind::Gate(gate) => Some(crate::engine::gate::outputs_only(gate)),
            };
            if callee.is_none() {
                let message = format!(
                    "node `{}`: unknown {} `{}`",
                    node.id,
                    node.kind.name(),
                    node.kind
                        .target()
                        .map(|t| t.to_string())
                        .unwrap_or_default()
                );
                problems.push(
                    Problem::new(ProblemCode::NotFound, message)
                        .node(&node.id)
                        .field(reference_field(&node.kind)),
                );
            }
            callee
        })
        .collect();
    for (i, node) in spec.nodes.iter().enumerate() {
        if let NodeKind::Gate(gate) = &node.kind {
            let inference = Inference {
                index: &index,
                callees: &callees,
                spec: &spec,
            };
            callees[i] = crate::engine::gate::callee(
                node,
                gate,
                &|binding| inference.type_of(binding),
                &mut problems,
            );
        }
        if let NodeKind::Branch(branch) = &node.kind {
            let inference = Inference {
                index: &index,
                callees: &callees,
                spec: &spec,
            };
            callees[i] = crate::engine::branch::callee(
                &spec.id,
                node,
                branch,
                &|binding| inference.type_of(binding),
                resolve_task,
                resolve_workflow,
                &mut problems,
            );
        }
    }
    let mut nesting = 0;
    for (node, callee) in spec.nodes.iter().zip(&callees) {
        let sub = match callee {
            Some(Callee::Workflow(sub)) => Some(sub),
            Some(Callee::Loop(looping)) => Some(&looping.body),
            Some(Callee::Branch(branch)) => Some(&branch.compiled.cases),
            Some(Callee::Map(map)) => Some(&map.compiled.items),
            _ => None,
        };
        if let Some(sub) = sub {
            nesting = nesting.max(sub.nesting + 1);
            if sub.nesting + 1 > MAX_NESTING {
                let message = format!(
                    "node `{}`: workflow `{}` nests sub-workflows {} levels deep below this one; the limit is {MAX_NESTING}",
                    node.id,
                    sub.spec.id,
                    sub.nesting + 1
                );
                problems.push(
                    Problem::new(ProblemCode::Invalid, message)
                        .node(&node.id)
                        .field(reference_field(&node.kind)),
                );
            }
        }
    }

    let workflow_inputs: HashMap<&str, &Type> = spec
        .interface
        .inputs
        .iter()
        .map(|v| (v.name.as_str(), &v.ty))
        .collect();
    let checker = Checker {
        index: &index,
        callees: &callees,
        spec: &spec,
        workflow_inputs,
    };

    let mut nodes = Vec::with_capacity(spec.nodes.len());
    for (i, node) in spec.nodes.iter().enumerate() {
        let mut inputs = Vec::new();
        let mut upstream = Vec::new();
        if let Some(callee) = &callees[i] {
            let interface = callee.interface();
            for name in node.inputs.keys() {
                if interface.input(name).is_none() {
                    let message = format!(
                        "node `{}`: {} `{}` has no input `{name}`",
                        node.id,
                        callee.kind_name(),
                        callee.id()
                    );
                    problems.push(
                        Problem::new(ProblemCode::UnknownName, message)
                            .node(&node.id)
                            .field(format!("inputs.{name}")),
                    );
                }
            }
            for var in &interface.inputs {
                match node.inputs.get(&var.name) {
                    Some(binding) => {
                        let place = Place::input(&node.id, &var.name);
                        if let Some(b) = checker.check(binding, &var.ty, &place, &mut problems) {
                            inputs.push((var.name.clone(), b));
                        }
                    }
                    None if var.default.is_some() || var.ty.is_optional() => {}
                    None => problems.push(
                        Problem::new(
                            ProblemCode::Missing,
                            format!(
                                "node `{}`: required input `{}` ({}) of {} `{}` is not bound",
                                node.id,
                                var.name,
                                var.ty,
                                callee.kind_name(),
                                callee.id()
                            ),
                        )
                        .node(&node.id)
                        .field(format!("inputs.{}", var.name)),
                    ),
                }
            }
        }
        for binding in node.inputs.values() {
            binding.for_each_upstream(&mut |up, _| {
                if let Some(&j) = index.get(up) {
                    if !upstream.contains(&j) {
                        upstream.push(j);
                    }
                }
            });
        }
        upstream.sort_unstable();
        nodes.push(CompiledNode {
            id: node.id.clone(),
            kind: callees[i]
                .as_ref()
                .map(Callee::pinned)
                .unwrap_or_else(|| node.kind.clone()),
            inputs,
            upstream,
            downstream: Vec::new(),
            pool: node.pool.clone(),
            selector: (!node.selector.is_empty()).then(|| Box::new(node.selector.clone())),
            control: callees[i].as_ref().and_then(Callee::control),
        });
    }

    let mut outputs = BTreeMap::new();
    for name in spec.outputs.keys() {
        if spec.interface.output(name).is_none() {
            problems.push(
                Problem::new(
                    ProblemCode::UnknownName,
                    format!("output `{name}` is bound but not declared in the interface"),
                )
                .field(format!("outputs.{name}")),
            );
        }
    }
    for var in &spec.interface.outputs {
        match spec.outputs.get(&var.name) {
            Some(binding) => {
                let place = Place::output(&var.name);
                if let Some(b) = checker.check(binding, &var.ty, &place, &mut problems) {
                    outputs.insert(var.name.clone(), b);
                }
            }
            None => problems.push(
                Problem::new(
                    ProblemCode::Missing,
                    format!("declared output `{}` ({}) is not bound", var.name, var.ty),
                )
                .field(format!("interface.outputs.{}", var.name)),
            ),
        }
    }

    for i in 0..nodes.len() {
        for u in nodes[i].upstream.clone() {
            nodes[u as usize].downstream.push(i as u32);
        }
    }
    if let Some(cycle) = find_cycle(&nodes) {
        let first = cycle.first().cloned().unwrap_or_default();
        problems.push(
            Problem::new(ProblemCode::Cycle, format!("cycle: {}", cycle.join(" -> "))).node(first),
        );
    }

    if !problems.is_empty() {
        return Err(CompileError {
            workflow: spec.id.to_string(),
            problems,
        });
    }
    for (node, callee) in spec.nodes.iter_mut().zip(&callees) {
        if let Some(callee) = callee {
            node.kind = callee.pinned();
        }
    }
    Ok(CompiledWorkflow {
        spec,
        nodes,
        outputs,
        nesting,
        index: Default::default(),
        pools: Default::default(),
    })
}

/// The spec field that names what a node runs.
fn reference_field(kind: &NodeKind) -> &'static str {
    match kind {
        NodeKind::Task(_) => "task",
        NodeKind::Workflow(_) => "workflow",
        NodeKind::Loop(_) => "loop.body",
        NodeKind::Map(map) => match map.runs.as_ref() {
            NodeKind::Workflow(_) => "map.workflow",
            _ => "map.task",
        },
        NodeKind::Branch(_) => "branch",
        NodeKind::Gate(_) => "gate",
    }
}

/// Returns the node ids of one cycle (first node repeated at the end), if any.
fn find_cycle(nodes: &[CompiledNode]) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let mut marks = vec![Mark::New; nodes.len()];
    for start in 0..nodes.len() {
        if marks[start] != Mark::New {
            continue;
        }
        // Iterative DFS over downstream edges: (node, next edge to follow).
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::OnStack;
        while let Some(&mut (node, ref mut edge)) = stack.last_mut() {
            if let Some(&next) = nodes[node].downstream.get(*edge) {
                *edge += 1;
                let next = next as usize;
                match marks[next] {
                    Mark::New => {
                        marks[next] = Mark::OnStack;
                        stack.push((next, 0));
                    }
                    Mark::OnStack => {
                        let from = stack.iter().position(|&(n, _)| n == next).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[from..]
                            .iter()
                            .map(|&(n, _)| nodes[n].id.clone())
                            .collect();
                        cycle.push(nodes[next].id.clone());
                        return Some(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                marks[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}
