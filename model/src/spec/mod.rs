//! Task and workflow specs: the in-memory model. Its YAML form (several
//! documents per file, each with `kind: Task` or `kind: Workflow`; see
//! docs/spec.md) is in [`yaml`], its wire form in [`wire`].

mod launch_plan;
mod locate;
#[cfg(test)]
mod tests;
mod wire;
mod yaml;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::id::Identifier;
use crate::sorted_map::SortedMap;
use crate::types::Type;
use crate::value::Value;

pub use launch_plan::{LaunchPlanSpec, NodeOverride};
pub use locate::Locations;
pub use yaml::emit::{launch_plan_document, task_document, workflow_document};
pub use yaml::{parse_binding, parse_yaml, parse_yaml_indexed};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    pub name: String,
    pub ty: Type,
    /// A default makes a workflow input optional at launch.
    pub default: Option<Value>,
    pub description: String,
}

/// Named, typed inputs and outputs, each list sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    pub inputs: Vec<Variable>,
    pub outputs: Vec<Variable>,
}

impl Interface {
    pub fn input(&self, name: &str) -> Option<&Variable> {
        self.inputs.iter().find(|v| v.name == name)
    }

    pub fn output(&self, name: &str) -> Option<&Variable> {
        self.outputs.iter().find(|v| v.name == name)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Runner {
    Process {
        command: Vec<String>,
        env: BTreeMap<String, String>,
        working_dir: String,
    },
    /// A function compiled into the executor: noop, echo, sleep, fail.
    Builtin(String),
}

impl Runner {
    /// The runner kind an executor must offer to run this task.
    pub fn kind(&self) -> &'static str {
        match self {
            Runner::Process { .. } => "process",
            Runner::Builtin(_) => "builtin",
        }
    }
}

/// Executor labels that must all match (`{gpu: a100, zone: b}`) for an
/// executor to run a node; empty: any executor of the pool.
pub type Selector = BTreeMap<String, String>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub id: Identifier,
    pub interface: Interface,
    pub runner: Runner,
    pub retries: u32,
    /// Zero: no timeout.
    pub timeout_ms: u64,
    pub pool: String,
    /// Labels an executor must have to run the task: docs/spec.md, "Pools".
    pub selector: Selector,
    pub description: String,
    /// Results reused for the same inputs; `None`: never cached.
    pub cache: Option<CachePolicy>,
}

/// A task's cache policy: docs/spec.md, "Caching".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachePolicy {
    /// Part of the key: bumping it never reuses older results.
    pub version: String,
    /// Inputs left out of the key (a seed, a log level).
    pub ignore: Vec<String>,
    /// Identical misses at the same time run once; the others wait for it.
    pub serialize: bool,
    /// How long a result is reused, in milliseconds.
    pub retention_ms: u64,
}

/// How long a cached result is reused when the task does not say.
pub const DEFAULT_CACHE_RETENTION_MS: u64 = 30 * 24 * 3600 * 1000;

/// Whether a launch (or one node of a launch plan) reads and writes the cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CacheMode {
    /// Reuse a cached result, else run and cache it.
    #[default]
    Use,
    /// Neither read nor write the cache (`--no-cache`).
    Skip,
    /// Run, and replace the cached result (`--overwrite-cache`).
    Overwrite,
}

/// Where a node input (or a workflow output) comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Binding {
    /// `${history.NAME}` inside a loop body: output NAME of every earlier
    /// iteration, as a list (empty in iteration 0, and outside a loop).
    History(String),
    /// `${inputs.NAME}`
    Input(String),
    /// `${NODE.OUTPUT}`
    Output {
        node: String,
        output: String,
    },
    /// A constant, fitted to the declared type when the workflow is compiled.
    Constant(Value),
    List(Vec<Binding>),
    Map(BTreeMap<String, Binding>),
}

impl Binding {
    /// Calls `f` on every node this binding reads from.
    pub fn for_each_upstream<'a>(&'a self, f: &mut impl FnMut(&'a str, &'a str)) {
        match self {
            Binding::Output { node, output } => f(node, output),
            Binding::List(items) => items.iter().for_each(|b| b.for_each_upstream(f)),
            Binding::Map(entries) => entries.values().for_each(|b| b.for_each_upstream(f)),
            Binding::Input(_) | Binding::Constant(_) | Binding::History(_) => {}
        }
    }
}

/// A node's input name -> binding.
pub type Bindings = SortedMap<Binding>;

/// What a node's reference names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    Task,
    Workflow,
}

/// What a node runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NodeKind {
    /// A registered task, handed to an executor.
    Task(Identifier),
    /// A registered workflow, run inside this one: its nodes appear under
    /// this node's path (`node.child`).
    Workflow(Identifier),
    /// A registered workflow run again and again, each iteration under
    /// `node[i]`; the node's inputs bind iteration 0.
    Loop(Box<LoopSpec>),
    /// One of several tasks or workflows, chosen by conditions over the
    /// node's inputs; each case under `node.case`.
    Branch(Box<BranchSpec>),
    /// A task or workflow run once per element of a list input, each item
    /// under `node[i]`.
    Map(Box<MapSpec>),
    /// Waits for a typed signal (`baton signal`), whose fields are its
    /// outputs, or for its timeout.
    Gate(Box<GateSpec>),
}

/// A gate node: see docs/spec.md, "Gate nodes".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateSpec {
    /// What a signal carries: the gate's outputs, sorted by name. A field
    /// with a default may be left out of a signal.
    pub signal: Vec<Variable>,
    /// How long the gate waits for a signal; zero: until one comes or the
    /// execution is cancelled.
    pub timeout_ms: u64,
    /// At the timeout: `None` fails the gate; `Some` succeeds it as if
    /// signalled with these values.
    pub on_timeout: Option<BTreeMap<String, Value>>,
    /// A condition over the signal's fields and the gate's inputs that a
    /// signal must meet (`len(labels) == len(picked)`); empty: none.
    pub check: String,
}

/// A map node: see docs/spec.md, "Map nodes".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapSpec {
    /// The task or workflow each item runs.
    pub runs: Box<NodeKind>,
    /// The input the map's list binds, one element per item; the other
    /// inputs are shared by every item.
    pub over: String,
    /// At most this many items run at once; 0: no limit.
    pub concurrency: u32,
    /// Failed items tolerated before the map fails.
    pub tolerate: Tolerance,
}

/// How many failed items a map tolerates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Tolerance {
    Count(u32),
    /// A fraction of the items, from 0 to 1.
    Fraction(f64),
}

impl Tolerance {
    /// Failed items tolerated out of `items`.
    pub fn allowed(self, items: u32) -> u32 {
        match self {
            Tolerance::Count(n) => n,
            Tolerance::Fraction(f) => (f * items as f64).floor() as u32,
        }
    }

    pub fn tolerates_any(self) -> bool {
        match self {
            Tolerance::Count(n) => n > 0,
            Tolerance::Fraction(f) => f > 0.0,
        }
    }
}

/// A branch node: see docs/spec.md, "Branch nodes".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BranchSpec {
    /// Tried in order; the first whose condition holds runs.
    pub cases: Vec<CaseSpec>,
    /// Runs when no case's condition holds.
    pub otherwise: Option<Box<CaseSpec>>,
    /// What the branch offers downstream: every case must offer these.
    pub outputs: Vec<Variable>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseSpec {
    /// The case's id under the branch's path; empty: the called task's or
    /// workflow's name (`else` for the else case).
    pub id: String,
    /// The condition over the branch's inputs; empty for the else case.
    pub when: String,
    /// A task or a workflow.
    pub runs: NodeKind,
}

/// A loop node: see docs/spec.md, "Loop nodes".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopSpec {
    /// The workflow each iteration runs.
    pub body: Identifier,
    /// Body input -> the body output of iteration i that binds it in
    /// iteration i + 1.
    pub carry: BTreeMap<String, String>,
    /// Stops the loop when it holds over the last iteration's outputs and
    /// the loop's inputs.
    pub until: String,
    /// Zero when the spec left it out (refused at registration).
    pub max_iterations: u32,
    /// At `max_iterations` without `until` holding, the loop fails
    /// (`on_max: fail`) instead of succeeding.
    pub fail_on_max: bool,
    /// How many times a failed iteration runs again before the loop fails.
    pub retry_iteration: u32,
}

impl NodeKind {
    /// The task or workflow the node runs (a loop: its body); a branch
    /// names several.
    pub fn target(&self) -> Option<&Identifier> {
        match self {
            NodeKind::Task(id) | NodeKind::Workflow(id) => Some(id),
            NodeKind::Loop(spec) => Some(&spec.body),
            NodeKind::Map(spec) => spec.runs.target(),
            NodeKind::Branch(_) | NodeKind::Gate(_) => None,
        }
    }

    /// Every task or workflow the node may run.
    pub fn targets(&self) -> Vec<&Identifier> {
        match self {
            NodeKind::Branch(spec) => spec
                .cases
                .iter()
                .chain(spec.otherwise.as_deref())
                .flat_map(|case| case.runs.targets())
                .collect(),
            other => other.target().into_iter().collect(),
        }
    }

    /// Every task or workflow the node names, with what it is, in the
    /// order they are written: what registration pins to versions.
    pub fn references_mut(&mut self) -> Vec<(Reference, &mut Identifier)> {
        match self {
            NodeKind::Task(id) => vec![(Reference::Task, id)],
            NodeKind::Workflow(id) => vec![(Reference::Workflow, id)],
            NodeKind::Loop(spec) => vec![(Reference::Workflow, &mut spec.body)],
            NodeKind::Map(spec) => spec.runs.references_mut(),
            NodeKind::Gate(_) => Vec::new(),
            NodeKind::Branch(spec) => spec
                .cases
                .iter_mut()
                .chain(spec.otherwise.as_deref_mut())
                .flat_map(|case| case.runs.references_mut())
                .collect(),
        }
    }

    /// The workflows the node runs inside this one: a sub-workflow's, a
    /// loop's body, a branch's workflow cases.
    pub fn included_workflows(&self) -> Vec<&Identifier> {
        match self {
            NodeKind::Task(_) | NodeKind::Gate(_) => Vec::new(),
            NodeKind::Workflow(id) => vec![id],
            NodeKind::Loop(spec) => vec![&spec.body],
            NodeKind::Map(spec) => spec.runs.included_workflows(),
            NodeKind::Branch(spec) => spec
                .cases
                .iter()
                .chain(spec.otherwise.as_deref())
                .flat_map(|case| case.runs.included_workflows())
                .collect(),
        }
    }

    /// `task`, `workflow`, `loop`, `branch`, `map` or `gate`, as the spec
    /// names the field.
    pub fn name(&self) -> &'static str {
        match self {
            NodeKind::Task(_) => "task",
            NodeKind::Workflow(_) => "workflow",
            NodeKind::Loop(_) => "loop",
            NodeKind::Branch(_) => "branch",
            NodeKind::Map(_) => "map",
            NodeKind::Gate(_) => "gate",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeSpec {
    pub id: String,
    pub kind: NodeKind,
    pub inputs: Bindings,
    pub pool: String,
    pub selector: Selector,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowSpec {
    pub id: Identifier,
    pub interface: Interface,
    pub nodes: Vec<NodeSpec>,
    pub outputs: BTreeMap<String, Binding>,
    pub pool: String,
    pub selector: Selector,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SpecDocument {
    Task(TaskSpec),
    Workflow(WorkflowSpec),
    LaunchPlan(LaunchPlanSpec),
}

/// The version given to a spec registered without one: the first 16 hex
/// digits of the SHA-256 of its canonical JSON form, its own version empty
/// and (for a workflow) every reference pinned. docs/spec.md, "Versions".
pub fn content_version<T: Serialize>(spec: &T) -> String {
    let bytes = serde_json::to_vec(spec).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

impl TaskSpec {
    /// Fills defaults (project, domain, content-hash version).
    pub fn normalized(mut self) -> Self {
        self.id = self.id.with_global_defaults();
        if self.id.version.is_empty() {
            self.id.version = content_version(&self);
        }
        self
    }
}

impl WorkflowSpec {
    /// Fills defaults (project and domain) and resolves references against
    /// the workflow's own project and domain. An omitted version stays
    /// empty: it is the hash of the content once every reference is pinned
    /// ([`WorkflowSpec::pin_references`]), which only registration knows.
    pub fn normalized(mut self) -> Self {
        self.id = self.id.with_global_defaults();
        for node in &mut self.nodes {
            for (_, target) in node.kind.references_mut() {
                *target = std::mem::take(target).with_defaults(&self.id.project, &self.id.domain);
            }
        }
        self
    }

    /// Pins every reference without a version (or `@latest`): to the
    /// version `earlier` (the same workflow version registered before) used
    /// for the same reference, else to what `latest` answers. A reference
    /// `latest` does not know stays unpinned, for the compiler to refuse.
    /// Then an omitted version of the workflow becomes its content hash, so
    /// that the same file registered after a new task version is a new
    /// workflow version that uses it, and registered again is a no-op.
    pub fn pin_references(
        &mut self,
        earlier: Option<&WorkflowSpec>,
        latest: impl Fn(Reference, &Identifier) -> Option<String>,
    ) {
        let mut before: Vec<Identifier> = match earlier {
            Some(spec) => spec
                .nodes
                .iter()
                .flat_map(|n| n.kind.targets())
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let mut refs: Vec<(Reference, &mut Identifier)> = self
            .nodes
            .iter_mut()
            .flat_map(|n| n.kind.references_mut())
            .collect();
        if before.len() != refs.len() {
            before.clear();
        }
        for (i, (kind, target)) in refs.iter_mut().enumerate() {
            if target.version == "latest" {
                target.version.clear();
            }
            if !target.version.is_empty() {
                continue;
            }
            let earlier = before
                .get(i)
                .filter(|b| b.unversioned() == **target)
                .map(|b| b.version.clone());
            if let Some(version) = earlier.or_else(|| latest(*kind, target)) {
                target.version = version;
            }
        }
        if self.id.version.is_empty() {
            self.id.version = content_version(&*self);
        }
    }
}
