//! What a node calls, as the compiler type-checks it: a task, a registered
//! workflow, or a control-flow node's compiled form, each offering an
//! interface.

use std::sync::Arc;

use baton_model::{Identifier, Interface, NodeKind, TaskSpec};

use super::{branch, gate, looping, map};
use crate::compiler::CompiledWorkflow;

/// What a node calls, as the compiler type-checks it: a task, a registered
/// workflow, or a loop over one, each offering an interface.
#[derive(Clone, Debug)]
pub enum Callee {
    Task(Arc<TaskSpec>),
    Workflow(Arc<CompiledWorkflow>),
    Loop(Box<looping::LoopCallee>),
    Branch(Box<branch::BranchCallee>),
    Map(Box<map::MapCallee>),
    Gate(Box<gate::GateCallee>),
}

impl Callee {
    pub fn interface(&self) -> &Interface {
        match self {
            Callee::Task(task) => &task.interface,
            Callee::Workflow(workflow) => &workflow.spec.interface,
            Callee::Loop(looping) => &looping.interface,
            Callee::Branch(branch) => &branch.interface,
            Callee::Map(map) => &map.interface,
            Callee::Gate(gate) => &gate.compiled.interface,
        }
    }

    pub fn id(&self) -> &Identifier {
        match self {
            Callee::Task(task) => &task.id,
            Callee::Workflow(workflow) => &workflow.spec.id,
            Callee::Loop(looping) => &looping.body.spec.id,
            Callee::Branch(branch) => &branch.compiled.cases.spec.id,
            Callee::Map(map) => map.callee.id(),
            Callee::Gate(_) => gate::NO_ID.get_or_init(Default::default),
        }
    }

    /// `task`, `workflow` or `loop body`, as errors name it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Callee::Task(_) => "task",
            Callee::Workflow(_) => "workflow",
            Callee::Loop(_) => "loop body",
            Callee::Branch(_) => "branch",
            Callee::Map(map) => map.callee.kind_name(),
            Callee::Gate(_) => "gate",
        }
    }

    /// The node kind with this exact version pinned.
    pub fn pinned(&self) -> NodeKind {
        match self {
            Callee::Task(task) => NodeKind::Task(task.id.clone()),
            Callee::Workflow(workflow) => NodeKind::Workflow(workflow.spec.id.clone()),
            Callee::Loop(looping) => NodeKind::Loop(Box::new(looping.spec.clone())),
            Callee::Branch(branch) => NodeKind::Branch(Box::new(branch.spec.clone())),
            Callee::Map(map) => NodeKind::Map(Box::new(map.spec.clone())),
            Callee::Gate(gate) => NodeKind::Gate(Box::new(gate.spec.clone())),
        }
    }

    /// What the node needs at run time beyond its kind.
    pub fn control(&self) -> Option<Box<crate::compiler::Control>> {
        match self {
            Callee::Loop(looping) => Some(Box::new(crate::compiler::Control::Loop(
                looping.compiled.clone(),
            ))),
            Callee::Branch(branch) => Some(Box::new(crate::compiler::Control::Branch(
                branch.compiled.clone(),
            ))),
            Callee::Map(map) => Some(Box::new(crate::compiler::Control::Map(
                map.compiled.clone(),
            ))),
            Callee::Gate(gate) => Some(Box::new(crate::compiler::Control::Gate(
                gate.compiled.clone(),
            ))),
            Callee::Task(_) | Callee::Workflow(_) => None,
        }
    }
}

/// The interface inputs of a control-flow node (`kind`: `branch`, `gate`)
/// that calls nothing registered, typed from what its inputs bind; an input
/// whose binding has no type is a problem at `KIND.inputs.NAME`.
pub fn typed_inputs(
    node: &baton_model::NodeSpec,
    kind: &str,
    type_of: &dyn Fn(&baton_model::Binding) -> Result<baton_model::Type, String>,
    problems: &mut Vec<crate::error::Problem>,
) -> Vec<baton_model::Variable> {
    let mut inputs = Vec::new();
    for (name, binding) in node.inputs.iter() {
        match type_of(binding) {
            Ok(ty) => inputs.push(baton_model::Variable {
                name: name.clone(),
                ty,
                default: None,
                description: String::new(),
            }),
            Err(why) => problems.push(
                crate::error::Problem::new(
                    crate::error::ProblemCode::Invalid,
                    format!("node `{}` {kind} input `{name}`: {why}", node.id),
                )
                .node(&node.id)
                .field(format!("{kind}.inputs.{name}")),
            ),
        }
    }
    inputs
}
