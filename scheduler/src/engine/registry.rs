//! What the engine reads of the registry, and where an instance sits:
//! its frame, the frame's workflow and its node there.

use std::collections::BTreeMap;
use std::sync::Arc;

use baton_model::{Identifier, Interface, NodeKind, TaskSpec, Value, Values};

use super::bind::{evaluate, Env, FrameEnv};
use crate::compiler::{CompiledNode, CompiledWorkflow};
use crate::state::Execution;

/// What the engine reads of the registry: tasks and compiled workflows by
/// exact version.
#[derive(Clone, Copy)]
pub struct Registry<'a> {
    pub tasks: &'a BTreeMap<Identifier, Arc<TaskSpec>>,
    pub workflows: &'a BTreeMap<Identifier, Arc<CompiledWorkflow>>,
    /// The task cache, read when a cacheable instance becomes ready.
    pub cache: &'a crate::state::cache::TaskCache,
    /// Projects' settings: a project's default pool.
    pub projects: &'a BTreeMap<String, crate::state::pools::ProjectSettings>,
}

impl<'a> Registry<'a> {
    /// The compiled workflow that frame `frame` of `execution` runs.
    pub fn frame_workflow(
        &self,
        execution: &Execution,
        frame: u32,
    ) -> Option<&'a Arc<CompiledWorkflow>> {
        let entry = match frame {
            0 => return self.workflows.get(&execution.workflow),
            _ => execution.frames.get(frame as usize)?,
        };
        if let Some(workflow) = self.workflows.get(&entry.workflow) {
            return Some(workflow);
        }
        // A branch's cases: a workflow compiled into the branch node.
        let owner = self.locate(execution, entry.owner?)?;
        match owner.node().control.as_deref() {
            Some(crate::compiler::Control::Branch(branch)) => Some(&branch.cases),
            Some(crate::compiler::Control::Map(map)) => Some(&map.items),
            _ => None,
        }
    }

    /// Where instance `node` of `execution` sits: its frame, the frame's
    /// workflow and its index there.
    pub fn locate(&self, execution: &Execution, node: u32) -> Option<Located<'a>> {
        if node as usize >= execution.nodes.len() {
            return None;
        }
        let frame = execution.frame_of(node);
        let workflow = self.frame_workflow(execution, frame)?;
        let entry = execution.frames.get(frame as usize);
        let first = entry.map_or(0, |f| f.first);
        // A map's items are each an instance of its one node.
        let (local, item) = match entry.and_then(|f| f.items) {
            Some(_) => (0, Some(node - first)),
            None => (node - first, None),
        };
        workflow.nodes.get(local as usize)?;
        Some(Located {
            frame,
            first,
            local,
            item,
            workflow,
        })
    }

    /// The task instance `node` runs, if it is a task instance: its
    /// launch plan's override of it (another task, other retries or
    /// timeout) if there is one, else the node's task.
    pub fn task_of<'e>(&self, execution: &'e Execution, node: u32) -> Option<&'e Arc<TaskSpec>>
    where
        'a: 'e,
    {
        let located = self.locate(execution, node)?;
        let task = located.node().task()?;
        if let Some(plan) = execution.plan.as_ref().filter(|p| !p.tasks.is_empty()) {
            let path = super::path::static_path(self, execution, node);
            if let Some(overridden) = plan.tasks.get(&path) {
                return Some(overridden);
            }
        }
        self.tasks.get(task)
    }

    /// The interface whose inputs a compiled node binds (a loop's: its
    /// body's).
    pub fn interface_of<'n>(&self, node: &'n CompiledNode) -> Option<&'n Interface>
    where
        'a: 'n,
    {
        match &node.kind {
            NodeKind::Task(id) => self.tasks.get(id).map(|t| &t.interface),
            NodeKind::Workflow(id) => self.workflows.get(id).map(|w| &w.spec.interface),
            NodeKind::Loop(spec) => self.workflows.get(&spec.body).map(|w| &w.spec.interface),
            NodeKind::Branch(_) | NodeKind::Map(_) | NodeKind::Gate(_) => {
                match node.control.as_deref() {
                    Some(crate::compiler::Control::Branch(branch)) => Some(&branch.interface),
                    Some(crate::compiler::Control::Map(map)) => Some(&map.interface),
                    Some(crate::compiler::Control::Gate(gate)) => Some(&gate.interface),
                    _ => None,
                }
            }
        }
    }

    /// The input values of node `local` of `workflow`, read through `env`
    /// (its frame's inputs, its upstream nodes' outputs, its loop's
    /// history), with the callee's defaults.
    pub fn bind_inputs(
        &self,
        workflow: &CompiledWorkflow,
        local: u32,
        env: &impl Env,
    ) -> Option<Values> {
        let compiled = workflow.nodes.get(local as usize)?;
        let interface = self.interface_of(compiled)?;
        let mut values = Values::new();
        for var in &interface.inputs {
            let value = match compiled.input(&var.name) {
                Some(binding) => evaluate(binding, env)?,
                None => match &var.default {
                    Some(default) => default.clone(),
                    None => Value::None,
                },
            };
            values.insert(var.name.clone(), value);
        }
        Some(values)
    }

    /// The input values of instance `node`, reading each upstream
    /// instance's outputs through `outputs_of` (the committed ones, or the
    /// dispatcher's provisional ones first).
    pub fn instance_inputs<'v>(
        &self,
        execution: &'v Execution,
        node: u32,
        outputs_of: &impl Fn(u32) -> Option<&'v Values>,
    ) -> Option<Values> {
        let located = self.locate(execution, node)?;
        let env = FrameEnv {
            execution,
            frame: located.frame,
            first: located.first,
            item: located.item,
            outputs_of,
        };
        self.bind_inputs(located.workflow, located.local, &env)
    }
}

/// An instance's place: see [`Registry::locate`].
#[derive(Clone, Copy)]
pub struct Located<'a> {
    pub frame: u32,
    /// The frame's first instance.
    pub first: u32,
    /// The instance's index in its frame's workflow.
    pub local: u32,
    /// In a map's items frame: the item's index.
    pub item: Option<u32>,
    pub workflow: &'a Arc<CompiledWorkflow>,
}

impl<'a> Located<'a> {
    pub fn node(&self) -> &'a CompiledNode {
        &self.workflow.nodes[self.local as usize]
    }
}
