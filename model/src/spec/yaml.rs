//! The YAML form of specs: several documents per file, each with `kind:
//! Task` or `kind: Workflow` (docs/spec.md). Errors name the file, the
//! document, the node and the field.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;

use super::*;
use crate::value::parse_duration;
use crate::ModelError;

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
