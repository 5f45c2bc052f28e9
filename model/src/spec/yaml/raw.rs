//! The shape of a spec document as written, before its meaning is checked:
//! what serde reads directly from YAML. Each struct says what it expects, so
//! that a structural error reads as the spec's own words, never as a Rust
//! type name.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a Task: {kind, name, interface, runner, ...}"
)]
pub(super) struct RawTask {
    #[allow(dead_code)]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub version: Option<Yaml>,
    #[serde(default)]
    pub project: String,
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub interface: RawInterface,
    pub runner: RawRunner,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub timeout: Option<Yaml>,
    #[serde(default)]
    pub pool: String,
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
    #[serde(default)]
    pub cache: Option<RawCache>,
    #[serde(default)]
    pub cache_ignore: Vec<String>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a cache policy: {version: \"1\", serialize: true}"
)]
pub(super) struct RawCache {
    pub version: Yaml,
    #[serde(default)]
    pub serialize: bool,
    #[serde(default)]
    pub retention: Option<Yaml>,
}

/// Each variable is a type (`int`, `list<float>`, a mapping of fields) or
/// the long form `{type, default, description}`; read by `variable`.
#[derive(Deserialize, Default)]
#[serde(
    deny_unknown_fields,
    expecting = "an interface: {inputs: {...}, outputs: {...}}"
)]
pub(super) struct RawInterface {
    #[serde(default)]
    pub inputs: BTreeMap<String, Yaml>,
    #[serde(default)]
    pub outputs: BTreeMap<String, Yaml>,
}

/// `{process: {...}}` or `{builtin: NAME}`: exactly one of the two.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a runner: {process: {command: [...]}} or {builtin: NAME}"
)]
pub(super) struct RawRunner {
    #[serde(default)]
    pub process: Option<RawProcess>,
    #[serde(default)]
    pub builtin: Option<String>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a process runner: {command: [...], env: {...}, working_dir: DIR}"
)]
pub(super) struct RawProcess {
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub working_dir: String,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a Workflow: {kind, name, interface, nodes, outputs, ...}"
)]
pub(super) struct RawWorkflow {
    #[allow(dead_code)]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub version: Option<Yaml>,
    #[serde(default)]
    pub project: String,
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub interface: RawInterface,
    pub nodes: Vec<RawNode>,
    #[serde(default)]
    pub outputs: BTreeMap<String, Yaml>,
    #[serde(default)]
    pub pool: String,
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a node: {id: NAME, task: TASK, inputs: {...}} (or workflow:, loop:, branch:, map:, gate:)"
)]
pub(super) struct RawNode {
    pub id: String,
    #[serde(default)]
    pub task: Option<String>,
    /// A sub-workflow node: the workflow it runs.
    #[serde(default)]
    pub workflow: Option<String>,
    #[serde(default, rename = "loop")]
    pub looping: Option<RawLoop>,
    #[serde(default)]
    pub branch: Option<RawBranch>,
    #[serde(default)]
    pub map: Option<RawMap>,
    #[serde(default)]
    pub gate: Option<RawGate>,
    #[serde(default)]
    pub inputs: BTreeMap<String, Yaml>,
    #[serde(default)]
    pub pool: String,
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a loop: {body: WORKFLOW, inputs: {...}, carry: {...}, until: CONDITION, max_iterations: N}"
)]
pub(super) struct RawLoop {
    pub body: String,
    #[serde(default)]
    pub inputs: BTreeMap<String, Yaml>,
    #[serde(default)]
    pub carry: BTreeMap<String, String>,
    pub until: String,
    #[serde(default)]
    pub max_iterations: u32,
    #[serde(default)]
    pub on_max: Option<String>,
    #[serde(default)]
    pub retry_iteration: u32,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a map: {task: TASK (or workflow: WORKFLOW), over: INPUT, inputs: {...}}"
)]
pub(super) struct RawMap {
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub workflow: Option<String>,
    pub over: String,
    #[serde(default)]
    pub inputs: BTreeMap<String, Yaml>,
    #[serde(default)]
    pub concurrency: u32,
    #[serde(default)]
    pub tolerate: Option<Yaml>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a branch: {inputs: {...}, cases: [{when: CONDITION, task: TASK}], else: {...}, outputs: {...}}"
)]
pub(super) struct RawBranch {
    #[serde(default)]
    pub inputs: BTreeMap<String, Yaml>,
    pub cases: Vec<RawCase>,
    #[serde(default, rename = "else")]
    pub otherwise: Option<RawCase>,
    #[serde(default)]
    pub outputs: BTreeMap<String, Yaml>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a gate: {inputs: {...}, signal: {NAME: TYPE}, check: CONDITION, timeout: DURATION, on_timeout: fail or {signal: {NAME: VALUE}}}"
)]
pub(super) struct RawGate {
    /// What the gate shows whoever signals it.
    #[serde(default)]
    pub inputs: BTreeMap<String, Yaml>,
    /// The signal's fields: the gate's outputs.
    pub signal: BTreeMap<String, Yaml>,
    #[serde(default)]
    pub timeout: Option<Yaml>,
    #[serde(default)]
    pub on_timeout: Option<Yaml>,
    /// A condition a signal must meet.
    #[serde(default)]
    pub check: String,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a case: {id: NAME, when: CONDITION, task: TASK (or workflow: WORKFLOW)}"
)]
pub(super) struct RawCase {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub workflow: Option<String>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a LaunchPlan: {kind, name, workflow, inputs, fixed, pool, labels, overrides, ...}"
)]
pub(super) struct RawLaunchPlan {
    #[allow(dead_code)]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub version: Option<Yaml>,
    #[serde(default)]
    pub project: String,
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub description: String,
    pub workflow: String,
    #[serde(default)]
    pub inputs: BTreeMap<String, Yaml>,
    #[serde(default)]
    pub fixed: BTreeMap<String, Yaml>,
    #[serde(default)]
    pub pool: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub overrides: BTreeMap<String, RawOverride>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a node override: {task: TASK (or workflow: WORKFLOW), retries: N, timeout: DURATION, pool: POOL}"
)]
pub(super) struct RawOverride {
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub workflow: Option<String>,
    #[serde(default)]
    pub retries: Option<u32>,
    #[serde(default)]
    pub timeout: Option<Yaml>,
    #[serde(default)]
    pub pool: Option<String>,
    /// `use`, `skip` or `overwrite`.
    #[serde(default)]
    pub cache: Option<String>,
}
