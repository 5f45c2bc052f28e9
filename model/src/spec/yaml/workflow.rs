//! A workflow document's meaning: its nodes (task, sub-workflow, loop,
//! branch, map), their bindings and the workflow's outputs, each error at
//! the path of the field it is about.

use super::raw::{
    RawBranch, RawCase, RawGate, RawInterface, RawLoop, RawMap, RawNode, RawWorkflow,
};
use super::*;

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
        Some(other) => {
            return Err(format!(
                "map.tolerate: expected a count or a percentage such as \"10%\", got {}",
                describe(&other)
            ))
        }
    })
}

/// Reads one node, `nodes[index]` of a workflow in `project`/`domain`.
struct NodeReader<'a> {
    id: &'a str,
    at: String,
    project: &'a str,
    domain: &'a str,
}

impl NodeReader<'_> {
    fn fault(&self, field: &str, why: impl std::fmt::Display) -> Fault {
        let at = if field.is_empty() {
            self.at.clone()
        } else {
            format!("{}.{field}", self.at)
        };
        Fault::new(at, format!("node `{}` {why}", self.id))
    }

    /// A task or workflow reference at `field`.
    fn target(&self, text: &str, field: &str) -> Result<Identifier, Fault> {
        Identifier::parse(text)
            .map(|target| target.with_defaults(self.project, self.domain))
            .map_err(|e| self.fault(field, format!("{field}: {e}")))
    }

    /// `task: T` or `workflow: W` of a map or a case at `place`.
    fn runs(
        &self,
        task: Option<String>,
        workflow: Option<String>,
        place: &str,
    ) -> Result<NodeKind, Fault> {
        match (task, workflow) {
            (Some(task), None) => Ok(NodeKind::Task(
                self.target(&task, &format!("{place}.task"))?,
            )),
            (None, Some(workflow)) => Ok(NodeKind::Workflow(
                self.target(&workflow, &format!("{place}.workflow"))?,
            )),
            _ => Err(self.fault(
                place,
                format!(
                    "{place} needs exactly one of `task: NAME@VERSION` or `workflow: NAME@VERSION`"
                ),
            )),
        }
    }

    fn map(&self, map: RawMap) -> Result<NodeKind, Fault> {
        Ok(NodeKind::Map(Box::new(MapSpec {
            runs: Box::new(self.runs(map.task, map.workflow, "map")?),
            over: map.over,
            concurrency: map.concurrency,
            tolerate: parse_tolerance(map.tolerate).map_err(|e| self.fault("map.tolerate", e))?,
        })))
    }

    fn case(&self, raw: RawCase, place: &str, otherwise: bool) -> Result<CaseSpec, Fault> {
        let runs = self.runs(raw.task, raw.workflow, place)?;
        let when = match (raw.when, otherwise) {
            (Some(when), false) => when,
            (None, true) => String::new(),
            (None, false) => {
                return Err(self.fault(
                    place,
                    format!("{place} needs `when: CONDITION` (or belongs in `else`)"),
                ))
            }
            (Some(_), true) => {
                return Err(self.fault(
                    &format!("{place}.when"),
                    "branch.else takes no `when`: it runs when no case matched",
                ))
            }
        };
        Ok(CaseSpec {
            id: raw.id,
            when,
            runs,
        })
    }

    fn branch(&self, branch: RawBranch) -> Result<NodeKind, Fault> {
        let cases = branch
            .cases
            .into_iter()
            .enumerate()
            .map(|(i, raw)| self.case(raw, &format!("branch.cases[{i}]"), false))
            .collect::<Result<Vec<_>, Fault>>()?;
        let otherwise = branch
            .otherwise
            .map(|raw| self.case(raw, "branch.else", true).map(Box::new))
            .transpose()?;
        let outputs = RawInterface {
            inputs: BTreeMap::new(),
            outputs: branch.outputs,
        }
        .into_interface(&format!("{}.branch", self.at))
        .map_err(|f| Fault::new(f.at, format!("node `{}` branch.{}", self.id, f.why)))?
        .outputs;
        Ok(NodeKind::Branch(Box::new(BranchSpec {
            cases,
            otherwise,
            outputs,
        })))
    }

    fn gate(&self, gate: RawGate) -> Result<NodeKind, Fault> {
        let at = format!("{}.gate.signal", self.at);
        let signal = variables(&gate.signal, &at, "signal field")
            .map_err(|f| Fault::new(f.at, format!("node `{}` gate: {}", self.id, f.why)))?;
        if signal.is_empty() {
            return Err(self.fault(
                "gate.signal",
                "gate.signal: a gate needs at least one signal field, e.g. `signal: {approved: bool}`",
            ));
        }
        let timeout_ms = timeout_ms(gate.timeout, &format!("{}.gate.timeout", self.at))
            .map_err(|f| Fault::new(f.at, format!("node `{}` gate.{}", self.id, f.why)))?
            .unwrap_or(0);
        let on_timeout = match gate.on_timeout {
            None | Some(Yaml::Null) => None,
            Some(Yaml::String(s)) if s == "fail" => None,
            Some(Yaml::Mapping(entries)) => {
                let mut values = BTreeMap::new();
                for (key, value) in entries {
                    match key.as_str() {
                        Some("signal") => values = self.timeout_signal(&signal, &value)?,
                        _ => {
                            return Err(self.fault(
                                "gate.on_timeout",
                                format!(
                                    "gate.on_timeout: unknown key {}; expected `fail` or `{{signal: {{NAME: VALUE}}}}`",
                                    describe(&key)
                                ),
                            ))
                        }
                    }
                }
                Some(values)
            }
            Some(other) => {
                return Err(self.fault(
                    "gate.on_timeout",
                    format!(
                        "gate.on_timeout: expected `fail` or `{{signal: {{NAME: VALUE}}}}`, got {}",
                        describe(&other)
                    ),
                ))
            }
        };
        if on_timeout.is_some() && timeout_ms == 0 {
            return Err(self.fault(
                "gate.on_timeout",
                "gate.on_timeout needs a `timeout`: without one the gate waits until signalled",
            ));
        }
        Ok(NodeKind::Gate(Box::new(GateSpec {
            signal,
            timeout_ms,
            on_timeout,
            check: gate.check,
        })))
    }

    /// `on_timeout: {signal: {...}}`: a value for every signal field without
    /// a default, each of its declared type.
    fn timeout_signal(
        &self,
        signal: &[Variable],
        yaml: &Yaml,
    ) -> Result<BTreeMap<String, Value>, Fault> {
        let at = "gate.on_timeout.signal";
        let Some(entries) = yaml.as_mapping() else {
            return Err(self.fault(
                at,
                format!(
                    "{at}: expected the signal's values, {{NAME: VALUE}}, got {}",
                    describe(yaml)
                ),
            ));
        };
        let mut values = BTreeMap::new();
        for (key, value) in entries {
            let name = key.as_str().unwrap_or_default();
            let Some(var) = signal.iter().find(|v| v.name == name) else {
                let fields: Vec<&str> = signal.iter().map(|v| v.name.as_str()).collect();
                return Err(self.fault(
                    &format!("{at}.{name}"),
                    format!(
                        "{at}: `{name}` is not a signal field (the gate's signal has {})",
                        fields.join(", ")
                    ),
                ));
            };
            let json = yaml_to_json(value).map_err(|e| self.fault(&format!("{at}.{name}"), e))?;
            let value = Value::from_json(&var.ty, &json).map_err(|e| {
                self.fault(
                    &format!("{at}.{name}"),
                    format!("{at}.{name}{} ({}): {}", e.path, var.ty, e.why),
                )
            })?;
            values.insert(name.to_owned(), value);
        }
        for var in signal {
            if !values.contains_key(&var.name) {
                match &var.default {
                    Some(default) => {
                        values.insert(var.name.clone(), default.clone());
                    }
                    None if var.ty.is_optional() => {
                        values.insert(var.name.clone(), Value::None);
                    }
                    None => {
                        return Err(self.fault(
                            at,
                            format!(
                                "{at}: no value for signal field `{}` ({})",
                                var.name, var.ty
                            ),
                        ))
                    }
                }
            }
        }
        Ok(values)
    }

    fn looping(&self, looping: RawLoop) -> Result<NodeKind, Fault> {
        let fail_on_max = match looping.on_max.as_deref() {
            None | Some("succeed") => false,
            Some("fail") => true,
            Some(other) => {
                return Err(self.fault(
                    "loop.on_max",
                    format!("loop.on_max: `{other}`; expected `succeed` or `fail`"),
                ))
            }
        };
        Ok(NodeKind::Loop(Box::new(LoopSpec {
            body: self.target(&looping.body, "loop.body")?,
            carry: looping.carry,
            until: looping.until,
            max_iterations: looping.max_iterations,
            fail_on_max,
            retry_iteration: looping.retry_iteration,
        })))
    }

    fn node(&self, node: RawNode) -> Result<NodeSpec, Fault> {
        // A control-flow node's inputs go inside it, where its other fields are.
        let inside = |raw_inputs: &BTreeMap<String, Yaml>, what: &str| {
            if raw_inputs.is_empty() {
                Ok(())
            } else {
                Err(self.fault(
                    "inputs",
                    format!("takes its inputs inside the {what}: `{what}: {{inputs: ...}}`"),
                ))
            }
        };
        if let Some(mut gate) = node.gate {
            let others = [
                node.task.is_some(),
                node.workflow.is_some(),
                node.looping.is_some(),
                node.branch.is_some(),
                node.map.is_some(),
            ];
            if others.contains(&true) {
                return Err(self.fault(
                    "gate",
                    "is a gate: it takes none of `task`, `workflow`, `loop`, `branch` or `map`",
                ));
            }
            if !node.pool.is_empty() || !node.selector.is_empty() {
                let field = if node.pool.is_empty() {
                    "selector"
                } else {
                    "pool"
                };
                return Err(self.fault(
                    field,
                    format!("is a gate, which runs on no executor: it takes no `{field}`"),
                ));
            }
            inside(&node.inputs, "gate")?;
            let inputs = std::mem::take(&mut gate.inputs);
            let kind = self.gate(gate)?;
            let inputs = bindings(&inputs, &format!("{}.gate.inputs", self.at), |name| {
                format!("node `{}` input `{name}`", self.id)
            })?;
            return Ok(NodeSpec {
                id: node.id,
                kind,
                inputs,
                pool: String::new(),
                selector: Default::default(),
            });
        }
        let (kind, inputs, inputs_at) =
            match (node.task, node.workflow, node.looping, node.branch, node.map) {
                (Some(task), None, None, None, None) => {
                    (NodeKind::Task(self.target(&task, "task")?), node.inputs, "inputs")
                }
                (None, Some(workflow), None, None, None) => (
                    NodeKind::Workflow(self.target(&workflow, "workflow")?),
                    node.inputs,
                    "inputs",
                ),
                (None, None, None, None, Some(mut map)) => {
                    inside(&node.inputs, "map")?;
                    let inputs = std::mem::take(&mut map.inputs);
                    (self.map(map)?, inputs, "map.inputs")
                }
                (None, None, None, Some(mut branch), None) => {
                    inside(&node.inputs, "branch")?;
                    let inputs = std::mem::take(&mut branch.inputs);
                    (self.branch(branch)?, inputs, "branch.inputs")
                }
                (None, None, Some(mut looping), None, None) => {
                    inside(&node.inputs, "loop")?;
                    let inputs = std::mem::take(&mut looping.inputs);
                    (self.looping(looping)?, inputs, "loop.inputs")
                }
                _ => return Err(self.fault(
                    "",
                    "needs exactly one of `task: NAME@VERSION`, `workflow: NAME@VERSION`, `loop: {body: NAME@VERSION, ...}`, `branch: {cases: [...]}`, `map: {task: NAME@VERSION, over: INPUT}` or `gate: {signal: {NAME: TYPE}}`",
                )),
            };
        let inputs = bindings(&inputs, &format!("{}.{inputs_at}", self.at), |name| {
            format!("node `{}` input `{name}`", self.id)
        })?;
        Ok(NodeSpec {
            id: node.id,
            kind,
            inputs,
            pool: node.pool,
            selector: super::check_selector(node.selector, &format!("{}.selector", self.at))?,
        })
    }
}

impl RawWorkflow {
    pub(super) fn into_spec(self) -> Result<WorkflowSpec, Fault> {
        let id = make_id(&self.project, &self.domain, &self.name, self.version)?;
        let nodes = self
            .nodes
            .into_iter()
            .enumerate()
            .map(|(index, node)| {
                let id_text = node.id.clone();
                NodeReader {
                    id: &id_text,
                    at: format!("nodes[{index}]"),
                    project: &id.project,
                    domain: &id.domain,
                }
                .node(node)
            })
            .collect::<Result<_, Fault>>()?;
        let outputs = bindings(&self.outputs, "outputs", |name| format!("output `{name}`"))?;
        Ok(WorkflowSpec {
            id,
            interface: self.interface.into_interface("interface")?,
            nodes,
            outputs,
            pool: self.pool,
            selector: super::check_selector(self.selector, "selector")?,
            description: self.description,
        })
    }
}
