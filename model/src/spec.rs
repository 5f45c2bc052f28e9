//! Task and workflow specs: the in-memory model, its YAML form (several
//! documents per file, each with `kind: Task` or `kind: Workflow`; see
//! docs/spec.md) and its wire form.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value as Yaml;
use sha2::{Digest, Sha256};

use crate::id::Identifier;
use crate::sorted_map::SortedMap;
use crate::types::Type;
use crate::value::{parse_duration, Value};
use crate::ModelError;

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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub id: Identifier,
    pub interface: Interface,
    pub runner: Runner,
    pub retries: u32,
    /// Zero: no timeout.
    pub timeout_ms: u64,
    pub pool: String,
    pub description: String,
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
            NodeKind::Branch(_) => None,
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

    fn targets_mut(&mut self) -> Vec<&mut Identifier> {
        match self {
            NodeKind::Task(id) | NodeKind::Workflow(id) => vec![id],
            NodeKind::Loop(spec) => vec![&mut spec.body],
            NodeKind::Map(spec) => spec.runs.targets_mut(),
            NodeKind::Branch(spec) => spec
                .cases
                .iter_mut()
                .chain(spec.otherwise.as_deref_mut())
                .flat_map(|case| case.runs.targets_mut())
                .collect(),
        }
    }

    /// The workflows the node runs inside this one: a sub-workflow's, a
    /// loop's body, a branch's workflow cases.
    pub fn included_workflows(&self) -> Vec<&Identifier> {
        match self {
            NodeKind::Task(_) => Vec::new(),
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

    /// `task`, `workflow`, `loop` or `branch`, as the spec names the field.
    pub fn name(&self) -> &'static str {
        match self {
            NodeKind::Task(_) => "task",
            NodeKind::Workflow(_) => "workflow",
            NodeKind::Loop(_) => "loop",
            NodeKind::Branch(_) => "branch",
            NodeKind::Map(_) => "map",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeSpec {
    pub id: String,
    pub kind: NodeKind,
    pub inputs: Bindings,
    pub pool: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowSpec {
    pub id: Identifier,
    pub interface: Interface,
    pub nodes: Vec<NodeSpec>,
    pub outputs: BTreeMap<String, Binding>,
    pub pool: String,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SpecDocument {
    Task(TaskSpec),
    Workflow(WorkflowSpec),
}

/// The version given to a spec registered without one: a hash of its content.
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
    /// Fills defaults (project, domain, content-hash version) and resolves
    /// task references against the workflow's own project and domain.
    pub fn normalized(mut self) -> Self {
        self.id = self.id.with_global_defaults();
        for node in &mut self.nodes {
            for target in node.kind.targets_mut() {
                *target = std::mem::take(target).with_defaults(&self.id.project, &self.id.domain);
            }
        }
        if self.id.version.is_empty() {
            self.id.version = content_version(&self);
        }
        self
    }
}

// ---------------------------------------------------------------- YAML

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    #[allow(dead_code)]
    kind: String,
    name: String,
    #[serde(default)]
    version: Option<Yaml>,
    #[serde(default)]
    project: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    interface: RawInterface,
    runner: RawRunner,
    #[serde(default)]
    retries: u32,
    #[serde(default)]
    timeout: Option<Yaml>,
    #[serde(default)]
    pool: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    #[serde(default)]
    inputs: BTreeMap<String, RawVariable>,
    #[serde(default)]
    outputs: BTreeMap<String, RawVariable>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawVariable {
    Short(String),
    Long {
        #[serde(rename = "type")]
        ty: String,
        #[serde(default)]
        default: Option<Yaml>,
        #[serde(default)]
        description: String,
    },
}

/// `{process: {...}}` or `{builtin: NAME}`: exactly one of the two.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRunner {
    #[serde(default)]
    process: Option<RawProcess>,
    #[serde(default)]
    builtin: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcess {
    command: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    working_dir: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    #[allow(dead_code)]
    kind: String,
    name: String,
    #[serde(default)]
    version: Option<Yaml>,
    #[serde(default)]
    project: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    interface: RawInterface,
    nodes: Vec<RawNode>,
    #[serde(default)]
    outputs: BTreeMap<String, Yaml>,
    #[serde(default)]
    pool: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    id: String,
    #[serde(default)]
    task: Option<String>,
    /// A sub-workflow node: the workflow it runs.
    #[serde(default)]
    workflow: Option<String>,
    /// A loop node.
    #[serde(default, rename = "loop")]
    looping: Option<RawLoop>,
    /// A branch node.
    #[serde(default)]
    branch: Option<RawBranch>,
    /// A map node.
    #[serde(default)]
    map: Option<RawMap>,
    #[serde(default)]
    inputs: BTreeMap<String, Yaml>,
    #[serde(default)]
    pool: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoop {
    body: String,
    #[serde(default)]
    inputs: BTreeMap<String, Yaml>,
    #[serde(default)]
    carry: BTreeMap<String, String>,
    until: String,
    #[serde(default)]
    max_iterations: u32,
    #[serde(default)]
    on_max: Option<String>,
    #[serde(default)]
    retry_iteration: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMap {
    #[serde(default)]
    task: Option<String>,
    #[serde(default)]
    workflow: Option<String>,
    over: String,
    #[serde(default)]
    inputs: BTreeMap<String, Yaml>,
    #[serde(default)]
    concurrency: u32,
    #[serde(default)]
    tolerate: Option<Yaml>,
}

/// `tolerate: 3` or `tolerate: "10%"`.
fn parse_tolerance(yaml: Option<Yaml>) -> Result<Tolerance, String> {
    Ok(match yaml {
        None | Some(Yaml::Null) => Tolerance::Count(0),
        Some(Yaml::Number(n)) => match n.as_u64() {
            Some(n) if n <= u32::MAX as u64 => Tolerance::Count(n as u32),
            _ => return Err(format!("map.tolerate {n}: expected a count of items (0, 1, 2, ...) or a percentage such as \"10%\"")),
        },
        Some(Yaml::String(text)) => {
            let fraction = text
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<f64>().ok())
                .filter(|p| (0.0..=100.0).contains(p))
                .ok_or_else(|| format!("map.tolerate {text:?}: expected a percentage from 0% to 100%, or a count"))?;
            Tolerance::Fraction(fraction / 100.0)
        }
        Some(other) => return Err(format!("map.tolerate {other:?}: expected a count or a percentage such as \"10%\"")),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBranch {
    #[serde(default)]
    inputs: BTreeMap<String, Yaml>,
    cases: Vec<RawCase>,
    #[serde(default, rename = "else")]
    otherwise: Option<RawCase>,
    #[serde(default)]
    outputs: BTreeMap<String, RawVariable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    #[serde(default)]
    id: String,
    #[serde(default)]
    when: Option<String>,
    #[serde(default)]
    task: Option<String>,
    #[serde(default)]
    workflow: Option<String>,
}

/// Parses every document of a YAML file. `source` names the file in errors.
pub fn parse_yaml(text: &str, source: &str) -> Result<Vec<SpecDocument>, ModelError> {
    let mut documents = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let number = index + 1;
        let yaml = Yaml::deserialize(document).map_err(|e| {
            let place = e
                .location()
                .map(|l| format!("{source}:{}:{}", l.line(), l.column()))
                .unwrap_or_else(|| format!("{source}: document {number}"));
            ModelError::BadSpec(format!("{place}: malformed YAML: {e}"))
        })?;
        if yaml.is_null() {
            continue; // an empty document, e.g. after a trailing `---`
        }
        let kind = yaml
            .get("kind")
            .and_then(Yaml::as_str)
            .unwrap_or_default()
            .to_owned();
        let name = yaml
            .get("name")
            .and_then(Yaml::as_str)
            .unwrap_or("?")
            .to_owned();
        let at = |why: String| {
            ModelError::BadSpec(format!(
                "{source}: document {number} ({kind} `{name}`): {why}"
            ))
        };
        let document = match kind.as_str() {
            "Task" => {
                let raw: RawTask =
                    serde_yaml_ng::from_value(yaml).map_err(|e| at(e.to_string()))?;
                SpecDocument::Task(raw.into_spec().map_err(at)?)
            }
            "Workflow" => {
                let raw: RawWorkflow =
                    serde_yaml_ng::from_value(yaml).map_err(|e| at(e.to_string()))?;
                SpecDocument::Workflow(raw.into_spec().map_err(at)?)
            }
            "" => {
                return Err(ModelError::BadSpec(format!(
                    "{source}: document {number}: missing `kind` (Task or Workflow)"
                )))
            }
            other => {
                return Err(ModelError::BadSpec(format!(
                    "{source}: document {number}: unknown kind `{other}`; expected Task or Workflow"
                )))
            }
        };
        documents.push(document);
    }
    Ok(documents)
}

fn yaml_to_json(yaml: &Yaml) -> Result<serde_json::Value, String> {
    serde_json::to_value(yaml).map_err(|e| format!("cannot read the value: {e}"))
}

fn version_text(version: Option<Yaml>) -> Result<String, String> {
    Ok(match version {
        None | Some(Yaml::Null) => String::new(),
        Some(Yaml::String(s)) => s,
        Some(Yaml::Number(n)) => n.to_string(),
        Some(other) => return Err(format!("`version` must be a string, got {other:?}")),
    })
}

fn make_id(
    project: &str,
    domain: &str,
    name: &str,
    version: Option<Yaml>,
) -> Result<Identifier, String> {
    let id = Identifier::new(project, domain, name, &version_text(version)?).with_global_defaults();
    id.validate().map_err(|e| e.to_string())?;
    Ok(id)
}

impl RawInterface {
    fn into_interface(self) -> Result<Interface, String> {
        let convert =
            |vars: BTreeMap<String, RawVariable>, what: &str| -> Result<Vec<Variable>, String> {
                vars.into_iter()
                    .map(|(name, raw)| {
                        let (ty_text, default, description) = match raw {
                            RawVariable::Short(ty) => (ty, None, String::new()),
                            RawVariable::Long {
                                ty,
                                default,
                                description,
                            } => (ty, default, description),
                        };
                        let ty: Type = ty_text
                            .parse()
                            .map_err(|e| format!("{what} `{name}`: {e}"))?;
                        let default = default
                            .map(|d| {
                                let json = yaml_to_json(&d)?;
                                Value::from_json(&ty, &json)
                            })
                            .transpose()
                            .map_err(|e| format!("{what} `{name}`: bad default: {e}"))?;
                        Ok(Variable {
                            name,
                            ty,
                            default,
                            description,
                        })
                    })
                    .collect()
            };
        Ok(Interface {
            inputs: convert(self.inputs, "input")?,
            outputs: convert(self.outputs, "output")?,
        })
    }
}

impl RawTask {
    fn into_spec(self) -> Result<TaskSpec, String> {
        let id = make_id(&self.project, &self.domain, &self.name, self.version)?;
        let timeout_ms = match self.timeout {
            None | Some(Yaml::Null) => 0,
            Some(Yaml::String(s)) => (parse_duration(&s)? / 1_000_000).max(0) as u64,
            Some(Yaml::Number(n)) => (n.as_f64().unwrap_or(0.0) * 1000.0) as u64,
            Some(other) => {
                return Err(format!(
                    "`timeout` must be a duration such as 30s, got {other:?}"
                ))
            }
        };
        let runner =
            match self.runner {
                RawRunner {
                    process: Some(p),
                    builtin: None,
                } => {
                    if p.command.is_empty() {
                        return Err("runner.process.command is empty".into());
                    }
                    Runner::Process {
                        command: p.command,
                        env: p.env,
                        working_dir: p.working_dir,
                    }
                }
                RawRunner {
                    process: None,
                    builtin: Some(name),
                } => Runner::Builtin(name),
                _ => return Err(
                    "`runner` needs exactly one of `process: {command: [...]}` or `builtin: NAME`"
                        .into(),
                ),
            };
        Ok(TaskSpec {
            id,
            interface: self.interface.into_interface()?,
            runner,
            retries: self.retries,
            timeout_ms,
            pool: self.pool,
            description: self.description,
        })
    }
}

/// Reads a binding from YAML: `${inputs.NAME}`, `${NODE.OUTPUT}`, a list or
/// mapping of bindings, or a constant.
pub fn parse_binding(yaml: &Yaml) -> Result<Binding, String> {
    Ok(match yaml {
        Yaml::String(s) => parse_binding_text(s)?,
        Yaml::Sequence(items) => {
            Binding::List(items.iter().map(parse_binding).collect::<Result<_, _>>()?)
        }
        Yaml::Mapping(entries) => Binding::Map(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = k
                        .as_str()
                        .ok_or_else(|| format!("map keys must be strings, got {k:?}"))?;
                    Ok((key.to_owned(), parse_binding(v)?))
                })
                .collect::<Result<_, String>>()?,
        ),
        other => Binding::Constant(Value::from_untyped_json(&yaml_to_json(other)?)),
    })
}

fn parse_binding_text(text: &str) -> Result<Binding, String> {
    let Some(inner) = text.strip_prefix("${").and_then(|t| t.strip_suffix('}')) else {
        if text.contains("${") {
            return Err(format!(
                "`{text}`: a reference must be the whole value (`${{inputs.NAME}}` or `${{NODE.OUTPUT}}`); string interpolation is not supported"
            ));
        }
        return Ok(Binding::Constant(Value::String(text.to_owned())));
    };
    let expected = || {
        format!(
            "`{text}`: expected `${{inputs.NAME}}`, `${{NODE.OUTPUT}}`, `${{history.OUTPUT}}` or `${{LOOP.history.OUTPUT}}`"
        )
    };
    let parts: Vec<&str> = inner.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(expected());
    }
    Ok(match parts.as_slice() {
        ["inputs", name] => Binding::Input((*name).to_owned()),
        ["history", name] => Binding::History((*name).to_owned()),
        [node, output] => Binding::Output {
            node: (*node).to_owned(),
            output: (*output).to_owned(),
        },
        // Every iteration's output of a loop node, as a list.
        [node, "history", output] => Binding::Output {
            node: (*node).to_owned(),
            output: format!("history.{output}"),
        },
        _ => return Err(expected()),
    })
}

impl RawWorkflow {
    fn into_spec(self) -> Result<WorkflowSpec, String> {
        let id = make_id(&self.project, &self.domain, &self.name, self.version)?;
        let nodes = self
            .nodes
            .into_iter()
            .map(|node| {
                let parse = |text: &str, field: &str| {
                    Identifier::parse(text)
                        .map(|target| target.with_defaults(&id.project, &id.domain))
                        .map_err(|e| format!("node `{}` {field}: {e}", node.id))
                };
                let mut raw_inputs = node.inputs;
                let kind = match (node.task, node.workflow, node.looping, node.branch, node.map) {
                    (Some(task), None, None, None, None) => NodeKind::Task(parse(&task, "task")?),
                    (None, Some(workflow), None, None, None) => {
                        NodeKind::Workflow(parse(&workflow, "workflow")?)
                    }
                    (None, None, None, None, Some(map)) => {
                        if !raw_inputs.is_empty() {
                            return Err(format!(
                                "node `{}`: a map's inputs go inside it: `map: {{inputs: ...}}`",
                                node.id
                            ));
                        }
                        raw_inputs = map.inputs;
                        let runs = match (map.task, map.workflow) {
                            (Some(task), None) => NodeKind::Task(parse(&task, "map.task")?),
                            (None, Some(workflow)) => NodeKind::Workflow(parse(&workflow, "map.workflow")?),
                            _ => {
                                return Err(format!(
                                    "node `{}` map needs exactly one of `task: NAME@VERSION` or `workflow: NAME@VERSION`",
                                    node.id
                                ))
                            }
                        };
                        NodeKind::Map(Box::new(MapSpec {
                            runs: Box::new(runs),
                            over: map.over,
                            concurrency: map.concurrency,
                            tolerate: parse_tolerance(map.tolerate)
                                .map_err(|e| format!("node `{}` {e}", node.id))?,
                        }))
                    }
                    (None, None, None, Some(branch), None) => {
                        if !raw_inputs.is_empty() {
                            return Err(format!(
                                "node `{}`: a branch's inputs go inside it: `branch: {{inputs: ...}}`",
                                node.id
                            ));
                        }
                        raw_inputs = branch.inputs;
                        let case = |raw: RawCase, place: String, otherwise: bool| {
                            let runs = match (raw.task, raw.workflow) {
                                (Some(task), None) => NodeKind::Task(parse(&task, &format!("{place} task"))?),
                                (None, Some(workflow)) => {
                                    NodeKind::Workflow(parse(&workflow, &format!("{place} workflow"))?)
                                }
                                _ => {
                                    return Err(format!(
                                        "node `{}` {place} needs exactly one of `task: NAME@VERSION` or `workflow: NAME@VERSION`",
                                        node.id
                                    ))
                                }
                            };
                            let when = match (raw.when, otherwise) {
                                (Some(when), false) => when,
                                (None, true) => String::new(),
                                (None, false) => {
                                    return Err(format!(
                                        "node `{}` {place} needs `when: CONDITION` (or belongs in `else`)",
                                        node.id
                                    ))
                                }
                                (Some(_), true) => {
                                    return Err(format!(
                                        "node `{}` branch.else takes no `when`: it runs when no case matched",
                                        node.id
                                    ))
                                }
                            };
                            Ok(CaseSpec {
                                id: raw.id,
                                when,
                                runs,
                            })
                        };
                        let cases = branch
                            .cases
                            .into_iter()
                            .enumerate()
                            .map(|(i, raw)| case(raw, format!("branch.cases[{i}]"), false))
                            .collect::<Result<Vec<_>, String>>()?;
                        let otherwise = branch
                            .otherwise
                            .map(|raw| case(raw, "branch.else".into(), true).map(Box::new))
                            .transpose()?;
                        let outputs = RawInterface {
                            inputs: BTreeMap::new(),
                            outputs: branch.outputs,
                        }
                        .into_interface()
                        .map_err(|e| format!("node `{}` branch.{e}", node.id))?
                        .outputs;
                        NodeKind::Branch(Box::new(BranchSpec {
                            cases,
                            otherwise,
                            outputs,
                        }))
                    }
                    (None, None, Some(looping), None, None) => {
                        if !raw_inputs.is_empty() {
                            return Err(format!(
                                "node `{}`: a loop's inputs go inside it: `loop: {{inputs: ...}}`",
                                node.id
                            ));
                        }
                        raw_inputs = looping.inputs;
                        let fail_on_max = match looping.on_max.as_deref() {
                            None | Some("succeed") => false,
                            Some("fail") => true,
                            Some(other) => {
                                return Err(format!(
                                    "node `{}` loop.on_max: `{other}`; expected `succeed` or `fail`",
                                    node.id
                                ))
                            }
                        };
                        NodeKind::Loop(Box::new(LoopSpec {
                            body: parse(&looping.body, "loop.body")?,
                            carry: looping.carry,
                            until: looping.until,
                            max_iterations: looping.max_iterations,
                            fail_on_max,
                            retry_iteration: looping.retry_iteration,
                        }))
                    }
                    _ => {
                        return Err(format!(
                            "node `{}` needs exactly one of `task: NAME@VERSION`, `workflow: NAME@VERSION`, `loop: {{body: NAME@VERSION, ...}}`, `branch: {{cases: [...]}}` or `map: {{task: NAME@VERSION, over: INPUT}}`",
                            node.id
                        ))
                    }
                };
                let inputs = raw_inputs
                    .iter()
                    .map(|(name, yaml)| {
                        parse_binding(yaml)
                            .map(|b| (name.clone(), b))
                            .map_err(|e| format!("node `{}` input `{name}`: {e}", node.id))
                    })
                    .collect::<Result<_, String>>()?;
                Ok(NodeSpec {
                    id: node.id,
                    kind,
                    inputs,
                    pool: node.pool,
                })
            })
            .collect::<Result<_, String>>()?;
        let outputs = self
            .outputs
            .iter()
            .map(|(name, yaml)| {
                parse_binding(yaml)
                    .map(|b| (name.clone(), b))
                    .map_err(|e| format!("output `{name}`: {e}"))
            })
            .collect::<Result<_, String>>()?;
        Ok(WorkflowSpec {
            id,
            interface: self.interface.into_interface()?,
            nodes,
            outputs,
            pool: self.pool,
            description: self.description,
        })
    }
}

// ---------------------------------------------------------------- wire form

fn variables_to_proto(vars: &[Variable]) -> Vec<baton_proto::Variable> {
    vars.iter()
        .map(|v| baton_proto::Variable {
            name: v.name.clone(),
            r#type: v.ty.to_string(),
            default: v.default.as_ref().map(Into::into),
            description: v.description.clone(),
        })
        .collect()
}

fn variables_from_proto(
    vars: &[baton_proto::Variable],
    what: &str,
) -> Result<Vec<Variable>, ModelError> {
    let mut out: Vec<Variable> = vars
        .iter()
        .map(|v| {
            let ty: Type = v
                .r#type
                .parse()
                .map_err(|e| ModelError::BadSpec(format!("{what} `{}`: {e}", v.name)))?;
            let default = v
                .default
                .as_ref()
                .map(Value::try_from)
                .transpose()?
                .map(|d| d.coerce(&ty))
                .transpose()
                .map_err(|e| {
                    ModelError::BadSpec(format!("{what} `{}`: bad default: {e}", v.name))
                })?;
            Ok(Variable {
                name: v.name.clone(),
                ty,
                default,
                description: v.description.clone(),
            })
        })
        .collect::<Result<_, ModelError>>()?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(pair) = out.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(ModelError::BadSpec(format!(
            "{what} `{}` is declared twice",
            pair[0].name
        )));
    }
    Ok(out)
}

impl From<&Interface> for baton_proto::Interface {
    fn from(i: &Interface) -> Self {
        baton_proto::Interface {
            inputs: variables_to_proto(&i.inputs),
            outputs: variables_to_proto(&i.outputs),
        }
    }
}

impl TryFrom<&baton_proto::Interface> for Interface {
    type Error = ModelError;
    fn try_from(i: &baton_proto::Interface) -> Result<Self, ModelError> {
        Ok(Interface {
            inputs: variables_from_proto(&i.inputs, "input")?,
            outputs: variables_from_proto(&i.outputs, "output")?,
        })
    }
}

impl From<&TaskSpec> for baton_proto::TaskSpec {
    fn from(t: &TaskSpec) -> Self {
        use baton_proto::runner::Kind;
        let runner = match &t.runner {
            Runner::Process {
                command,
                env,
                working_dir,
            } => Kind::Process(baton_proto::ProcessRunner {
                command: command.clone(),
                env: env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                working_dir: working_dir.clone(),
            }),
            Runner::Builtin(name) => Kind::Builtin(name.clone()),
        };
        baton_proto::TaskSpec {
            id: Some((&t.id).into()),
            interface: Some((&t.interface).into()),
            runner: Some(baton_proto::Runner { kind: Some(runner) }),
            retries: t.retries,
            timeout_ms: t.timeout_ms,
            pool: t.pool.clone(),
            description: t.description.clone(),
        }
    }
}

impl TryFrom<&baton_proto::TaskSpec> for TaskSpec {
    type Error = ModelError;
    fn try_from(t: &baton_proto::TaskSpec) -> Result<Self, ModelError> {
        use baton_proto::runner::Kind;
        let id: Identifier = t.id.as_ref().map(Into::into).unwrap_or_default();
        let runner = match t.runner.as_ref().and_then(|r| r.kind.as_ref()) {
            Some(Kind::Process(p)) => {
                if p.command.is_empty() {
                    return Err(ModelError::BadSpec(format!(
                        "task `{id}`: runner.process.command is empty"
                    )));
                }
                Runner::Process {
                    command: p.command.clone(),
                    env: p.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    working_dir: p.working_dir.clone(),
                }
            }
            Some(Kind::Builtin(name)) => Runner::Builtin(name.clone()),
            None => return Err(ModelError::BadSpec(format!("task `{id}` has no runner"))),
        };
        let interface = t
            .interface
            .as_ref()
            .map(Interface::try_from)
            .transpose()
            .map_err(|e| ModelError::BadSpec(format!("task `{id}`: {e}")))?
            .unwrap_or_default();
        Ok(TaskSpec {
            id,
            interface,
            runner,
            retries: t.retries,
            timeout_ms: t.timeout_ms,
            pool: t.pool.clone(),
            description: t.description.clone(),
        })
    }
}

impl From<&Binding> for baton_proto::Binding {
    fn from(b: &Binding) -> Self {
        use baton_proto::binding::Kind;
        let kind = match b {
            Binding::Input(name) => Kind::WorkflowInput(name.clone()),
            Binding::History(name) => Kind::History(name.clone()),
            Binding::Output { node, output } => Kind::NodeOutput(baton_proto::OutputRef {
                node: node.clone(),
                output: output.clone(),
            }),
            Binding::Constant(v) => Kind::Constant(v.into()),
            Binding::List(items) => Kind::List(baton_proto::BindingList {
                items: items.iter().map(Into::into).collect(),
            }),
            Binding::Map(entries) => Kind::Map(baton_proto::BindingMap {
                entries: entries.iter().map(|(k, v)| (k.clone(), v.into())).collect(),
            }),
        };
        baton_proto::Binding { kind: Some(kind) }
    }
}

impl TryFrom<&baton_proto::Binding> for Binding {
    type Error = ModelError;
    fn try_from(b: &baton_proto::Binding) -> Result<Self, ModelError> {
        use baton_proto::binding::Kind;
        Ok(match b.kind.as_ref() {
            Some(Kind::WorkflowInput(name)) => Binding::Input(name.clone()),
            Some(Kind::History(name)) => Binding::History(name.clone()),
            Some(Kind::NodeOutput(r)) => Binding::Output {
                node: r.node.clone(),
                output: r.output.clone(),
            },
            Some(Kind::Constant(v)) => Binding::Constant(Value::try_from(v)?),
            Some(Kind::List(l)) => Binding::List(
                l.items
                    .iter()
                    .map(Binding::try_from)
                    .collect::<Result<_, _>>()?,
            ),
            Some(Kind::Map(m)) => Binding::Map(
                m.entries
                    .iter()
                    .map(|(k, v)| Binding::try_from(v).map(|b| (k.clone(), b)))
                    .collect::<Result<_, _>>()?,
            ),
            None => return Err(ModelError::BadSpec("a binding has no kind set".into())),
        })
    }
}

fn bindings_to_proto<'a>(
    b: impl IntoIterator<Item = (&'a String, &'a Binding)>,
) -> HashMap<String, baton_proto::Binding> {
    b.into_iter().map(|(k, v)| (k.clone(), v.into())).collect()
}

fn bindings_from_proto<B: FromIterator<(String, Binding)>>(
    b: &HashMap<String, baton_proto::Binding>,
    owner: &str,
) -> Result<B, ModelError> {
    b.iter()
        .map(|(k, v)| {
            Binding::try_from(v)
                .map(|b| (k.clone(), b))
                .map_err(|e| ModelError::BadSpec(format!("{owner} `{k}`: {e}")))
        })
        .collect()
}

fn case_to_proto(case: &CaseSpec) -> baton_proto::BranchCase {
    baton_proto::BranchCase {
        id: case.id.clone(),
        when: case.when.clone(),
        task: match &case.runs {
            NodeKind::Task(task) => Some(task.into()),
            _ => None,
        },
        workflow: match &case.runs {
            NodeKind::Workflow(workflow) => Some(workflow.into()),
            _ => None,
        },
    }
}

fn branch_to_proto(spec: &BranchSpec) -> baton_proto::BranchNode {
    baton_proto::BranchNode {
        cases: spec.cases.iter().map(case_to_proto).collect(),
        r#else: spec.otherwise.as_deref().map(case_to_proto),
        outputs: variables_to_proto(&spec.outputs),
    }
}

fn case_from_proto(case: &baton_proto::BranchCase, place: &str) -> Result<CaseSpec, String> {
    let runs = match (&case.task, &case.workflow) {
        (Some(task), None) => NodeKind::Task(task.into()),
        (None, Some(workflow)) => NodeKind::Workflow(workflow.into()),
        _ => return Err(format!("{place}: set exactly one of `task` or `workflow`")),
    };
    Ok(CaseSpec {
        id: case.id.clone(),
        when: case.when.clone(),
        runs,
    })
}

fn branch_from_proto(branch: &baton_proto::BranchNode) -> Result<BranchSpec, String> {
    Ok(BranchSpec {
        cases: branch
            .cases
            .iter()
            .enumerate()
            .map(|(i, c)| case_from_proto(c, &format!("branch case {i}")))
            .collect::<Result<_, _>>()?,
        otherwise: branch
            .r#else
            .as_ref()
            .map(|c| case_from_proto(c, "branch else").map(Box::new))
            .transpose()?,
        outputs: variables_from_proto(&branch.outputs, "branch output")
            .map_err(|e| e.to_string())?,
    })
}

impl From<&WorkflowSpec> for baton_proto::WorkflowSpec {
    fn from(w: &WorkflowSpec) -> Self {
        baton_proto::WorkflowSpec {
            id: Some((&w.id).into()),
            interface: Some((&w.interface).into()),
            nodes: w
                .nodes
                .iter()
                .map(|n| baton_proto::WorkflowNode {
                    id: n.id.clone(),
                    task: match &n.kind {
                        NodeKind::Task(task) => Some(task.into()),
                        _ => None,
                    },
                    inputs: bindings_to_proto(n.inputs.iter()),
                    pool: n.pool.clone(),
                    workflow: match &n.kind {
                        NodeKind::Workflow(workflow) => Some(workflow.into()),
                        _ => None,
                    },
                    branch: match &n.kind {
                        NodeKind::Branch(spec) => Some(branch_to_proto(spec)),
                        _ => None,
                    },
                    map: match &n.kind {
                        NodeKind::Map(spec) => Some(baton_proto::MapNode {
                            task: match spec.runs.as_ref() {
                                NodeKind::Task(task) => Some(task.into()),
                                _ => None,
                            },
                            workflow: match spec.runs.as_ref() {
                                NodeKind::Workflow(workflow) => Some(workflow.into()),
                                _ => None,
                            },
                            over: spec.over.clone(),
                            concurrency: spec.concurrency,
                            tolerate_count: match spec.tolerate {
                                Tolerance::Count(n) => n,
                                Tolerance::Fraction(_) => 0,
                            },
                            tolerate_fraction: match spec.tolerate {
                                Tolerance::Fraction(f) => f,
                                Tolerance::Count(_) => 0.0,
                            },
                        }),
                        _ => None,
                    },
                    r#loop: match &n.kind {
                        NodeKind::Loop(spec) => Some(baton_proto::LoopNode {
                            body: Some((&spec.body).into()),
                            carry: spec
                                .carry
                                .iter()
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect(),
                            until: spec.until.clone(),
                            max_iterations: spec.max_iterations,
                            fail_on_max: spec.fail_on_max,
                            retry_iteration: spec.retry_iteration,
                        }),
                        _ => None,
                    },
                })
                .collect(),
            outputs: bindings_to_proto(&w.outputs),
            pool: w.pool.clone(),
            description: w.description.clone(),
        }
    }
}

impl TryFrom<&baton_proto::WorkflowSpec> for WorkflowSpec {
    type Error = ModelError;
    fn try_from(w: &baton_proto::WorkflowSpec) -> Result<Self, ModelError> {
        let id: Identifier = w.id.as_ref().map(Into::into).unwrap_or_default();
        let interface = w
            .interface
            .as_ref()
            .map(Interface::try_from)
            .transpose()
            .map_err(|e| ModelError::BadSpec(format!("workflow `{id}`: {e}")))?
            .unwrap_or_default();
        let nodes = w
            .nodes
            .iter()
            .map(|n| {
                let kind = match (&n.task, &n.workflow, &n.r#loop, &n.branch, &n.map) {
                    (Some(task), None, None, None, None) => NodeKind::Task(task.into()),
                    (None, Some(workflow), None, None, None) => NodeKind::Workflow(workflow.into()),
                    (None, None, None, None, Some(map)) => {
                        let runs = match (&map.task, &map.workflow) {
                            (Some(task), None) => NodeKind::Task(task.into()),
                            (None, Some(workflow)) => NodeKind::Workflow(workflow.into()),
                            _ => {
                                return Err(ModelError::BadSpec(format!(
                                    "workflow `{id}` node `{}`: a map sets exactly one of `task` or `workflow`",
                                    n.id
                                )))
                            }
                        };
                        if !(0.0..=1.0).contains(&map.tolerate_fraction) {
                            return Err(ModelError::BadSpec(format!(
                                "workflow `{id}` node `{}`: map tolerate_fraction {} is not between 0 and 1",
                                n.id, map.tolerate_fraction
                            )));
                        }
                        NodeKind::Map(Box::new(MapSpec {
                            runs: Box::new(runs),
                            over: map.over.clone(),
                            concurrency: map.concurrency,
                            tolerate: if map.tolerate_fraction > 0.0 {
                                Tolerance::Fraction(map.tolerate_fraction)
                            } else {
                                Tolerance::Count(map.tolerate_count)
                            },
                        }))
                    }
                    (None, None, None, Some(branch), None) => NodeKind::Branch(Box::new(
                        branch_from_proto(branch)
                            .map_err(|e| ModelError::BadSpec(format!("workflow `{id}` node `{}`: {e}", n.id)))?,
                    )),
                    (None, None, Some(looping), None, None) => NodeKind::Loop(Box::new(LoopSpec {
                        body: looping.body.as_ref().map(Into::into).unwrap_or_default(),
                        carry: looping
                            .carry
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        until: looping.until.clone(),
                        max_iterations: looping.max_iterations,
                        fail_on_max: looping.fail_on_max,
                        retry_iteration: looping.retry_iteration,
                    })),
                    _ => {
                        return Err(ModelError::BadSpec(format!(
                            "workflow `{id}` node `{}`: set exactly one of `task`, `workflow`, `loop`, `branch` or `map`",
                            n.id
                        )))
                    }
                };
                Ok(NodeSpec {
                    id: n.id.clone(),
                    kind,
                    inputs: bindings_from_proto(
                        &n.inputs,
                        &format!("workflow `{id}` node `{}` input", n.id),
                    )?,
                    pool: n.pool.clone(),
                })
            })
            .collect::<Result<_, ModelError>>()?;
        Ok(WorkflowSpec {
            outputs: bindings_from_proto(&w.outputs, &format!("workflow `{id}` output"))?,
            id,
            interface,
            nodes,
            pool: w.pool.clone(),
            description: w.description.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIAMOND: &str = r#"
kind: Task
name: square
version: v1
interface: {inputs: {x: int}, outputs: {y: int}}
runner: {process: {command: ["python3", "examples/tasks/square.py"]}}
retries: 2
timeout: 30s
---
kind: Task
name: add
version: v1
interface: {inputs: {a: int, b: int}, outputs: {sum: int}}
runner: {builtin: noop}
---
kind: Workflow
name: diamond
version: v1
interface: {inputs: {n: {type: int, default: 3}}, outputs: {total: int}}
nodes:
  - {id: a, task: square@v1, inputs: {x: "${inputs.n}"}}
  - {id: b, task: square@v1, inputs: {x: "${a.y}"}}
  - {id: c, task: square@v1, inputs: {x: "${a.y}"}}
  - {id: d, task: add@v1, inputs: {a: "${b.y}", b: "${c.y}"}}
outputs: {total: "${d.sum}"}
"#;

    #[test]
    fn parses_a_multi_document_file() {
        let docs = parse_yaml(DIAMOND, "diamond.yaml").unwrap();
        assert_eq!(docs.len(), 3);
        let SpecDocument::Task(square) = &docs[0] else {
            panic!()
        };
        assert_eq!(square.id.to_string(), "default/development/square@v1");
        assert_eq!(square.timeout_ms, 30_000);
        assert_eq!(square.retries, 2);
        let SpecDocument::Workflow(wf) = &docs[2] else {
            panic!()
        };
        assert_eq!(
            wf.nodes[3].kind,
            NodeKind::Task(Identifier::parse("default/development/add@v1").unwrap())
        );
        assert_eq!(
            wf.nodes[1].inputs["x"],
            Binding::Output {
                node: "a".into(),
                output: "y".into()
            }
        );
        assert_eq!(wf.interface.inputs[0].default, Some(Value::Int(3)));
        // and survives the wire
        let wire: baton_proto::WorkflowSpec = wf.into();
        assert_eq!(&WorkflowSpec::try_from(&wire).unwrap(), wf);
        let wire: baton_proto::TaskSpec = square.into();
        assert_eq!(&TaskSpec::try_from(&wire).unwrap(), square);
    }

    #[test]
    fn malformed_yaml_names_its_line() {
        let text = "kind: Task\nname: x\nrunner: {builtin: noop\n";
        let err = parse_yaml(text, "bad.yaml").unwrap_err().to_string();
        assert!(err.starts_with("bad.yaml:"), "{err}");
        assert!(err.contains("malformed YAML"), "{err}");
        assert!(err.contains(":3:") || err.contains(":4:"), "{err}");
    }

    #[test]
    fn unknown_fields_kinds_and_types_are_named() {
        let err = parse_yaml(
            "kind: Task\nname: x\nrunner: {builtin: noop}\nretires: 2\n",
            "f",
        )
        .unwrap_err();
        assert!(err.to_string().contains("retires"), "{err}");
        let err = parse_yaml("kind: Tsk\nname: x\n", "f").unwrap_err();
        assert!(err.to_string().contains("unknown kind `Tsk`"), "{err}");
        let err = parse_yaml(
            "kind: Task\nname: x\nrunner: {builtin: noop}\ninterface: {inputs: {a: integer}}\n",
            "f",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("input `a`") && err.to_string().contains("integer"),
            "{err}"
        );
        let err = parse_yaml(
            "kind: Workflow\nname: w\nnodes: [{id: a, task: t, inputs: {x: \"n=${inputs.n}\"}}]\n",
            "f",
        )
        .unwrap_err();
        assert!(err.to_string().contains("interpolation"), "{err}");
    }

    #[test]
    fn a_node_runs_exactly_one_task_or_workflow() {
        let text =
            "kind: Workflow\nname: w\nnodes: [{id: s, workflow: inner@v2, inputs: {x: 1}}]\n";
        let SpecDocument::Workflow(wf) = parse_yaml(text, "f").unwrap().remove(0) else {
            panic!()
        };
        assert_eq!(
            wf.nodes[0].kind,
            NodeKind::Workflow(Identifier::parse("default/development/inner@v2").unwrap())
        );
        let wire: baton_proto::WorkflowSpec = (&wf).into();
        assert_eq!(WorkflowSpec::try_from(&wire).unwrap(), wf);
        for bad in ["nodes: [{id: s, task: t, workflow: w}]", "nodes: [{id: s}]"] {
            let err = parse_yaml(&format!("kind: Workflow\nname: w\n{bad}\n"), "f")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("node `s` needs exactly one of `task: NAME@VERSION`, `workflow: NAME@VERSION`, `loop:"),
                "{err}"
            );
        }
    }

    #[test]
    fn missing_version_is_the_content_hash() {
        let text = "kind: Task\nname: x\nrunner: {builtin: noop}\n";
        let SpecDocument::Task(a) = parse_yaml(text, "f").unwrap().remove(0) else {
            panic!()
        };
        let a = a.normalized();
        assert_eq!(a.id.version.len(), 16);
        let SpecDocument::Task(b) = parse_yaml(text, "f").unwrap().remove(0) else {
            panic!()
        };
        assert_eq!(b.normalized().id.version, a.id.version);
    }
}
