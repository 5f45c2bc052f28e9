//! The wire form of specs: conversions to and from the protobuf messages.

use std::collections::HashMap;

use super::*;
use crate::ModelError;

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
            selector: t.selector.clone().into_iter().collect(),
            description: t.description.clone(),
            cache: t.cache.as_ref().map(|c| baton_proto::CachePolicy {
                version: c.version.clone(),
                ignore: c.ignore.clone(),
                serialize: c.serialize,
                retention_ms: c.retention_ms,
            }),
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
            selector: t.selector.clone().into_iter().collect(),
            description: t.description.clone(),
            cache: t.cache.as_ref().map(|c| CachePolicy {
                version: c.version.clone(),
                ignore: c.ignore.clone(),
                serialize: c.serialize,
                retention_ms: match c.retention_ms {
                    0 => DEFAULT_CACHE_RETENTION_MS,
                    n => n,
                },
            }),
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

fn gate_to_proto(spec: &GateSpec) -> baton_proto::GateNode {
    baton_proto::GateNode {
        signal: variables_to_proto(&spec.signal),
        timeout_ms: spec.timeout_ms,
        continue_on_timeout: spec.on_timeout.is_some(),
        on_timeout: spec
            .on_timeout
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.into()))
            .collect(),
        check: spec.check.clone(),
    }
}

fn gate_from_proto(gate: &baton_proto::GateNode) -> Result<GateSpec, String> {
    let on_timeout = match gate.continue_on_timeout {
        false => None,
        true => {
            let mut values = BTreeMap::new();
            for (name, value) in &gate.on_timeout {
                let value =
                    Value::try_from(value).map_err(|e| format!("gate on_timeout `{name}`: {e}"))?;
                values.insert(name.clone(), value);
            }
            Some(values)
        }
    };
    Ok(GateSpec {
        signal: variables_from_proto(&gate.signal, "gate signal field")
            .map_err(|e| e.to_string())?,
        timeout_ms: gate.timeout_ms,
        on_timeout,
        check: gate.check.clone(),
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
                    selector: n.selector.clone().into_iter().collect(),
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
                    gate: match &n.kind {
                        NodeKind::Gate(spec) => Some(gate_to_proto(spec)),
                        _ => None,
                    },
                })
                .collect(),
            outputs: bindings_to_proto(&w.outputs),
            pool: w.pool.clone(),
            selector: w.selector.clone().into_iter().collect(),
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
                    (None, None, None, None, None) if n.gate.is_some() => {
                        let gate = n.gate.as_ref().map(gate_from_proto).transpose().map_err(|e| {
                            ModelError::BadSpec(format!("workflow `{id}` node `{}`: {e}", n.id))
                        })?;
                        match gate {
                            Some(gate) => NodeKind::Gate(Box::new(gate)),
                            None => return Err(ModelError::BadSpec(format!("workflow `{id}` node `{}`: no gate", n.id))),
                        }
                    }
                    _ if n.gate.is_some() => {
                        return Err(ModelError::BadSpec(format!(
                            "workflow `{id}` node `{}`: a gate sets none of `task`, `workflow`, `loop`, `branch` or `map`",
                            n.id
                        )))
                    }
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
                            "workflow `{id}` node `{}`: set exactly one of `task`, `workflow`, `loop`, `branch`, `map` or `gate`",
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
                    selector: n.selector.clone().into_iter().collect(),
                })
            })
            .collect::<Result<_, ModelError>>()?;
        Ok(WorkflowSpec {
            outputs: bindings_from_proto(&w.outputs, &format!("workflow `{id}` output"))?,
            id,
            interface,
            nodes,
            pool: w.pool.clone(),
            selector: w.selector.clone().into_iter().collect(),
            description: w.description.clone(),
        })
    }
}

impl From<CacheMode> for baton_proto::CacheMode {
    fn from(mode: CacheMode) -> Self {
        match mode {
            CacheMode::Use => baton_proto::CacheMode::CacheUse,
            CacheMode::Skip => baton_proto::CacheMode::CacheSkip,
            CacheMode::Overwrite => baton_proto::CacheMode::CacheOverwrite,
        }
    }
}

impl From<baton_proto::CacheMode> for CacheMode {
    fn from(mode: baton_proto::CacheMode) -> Self {
        match mode {
            baton_proto::CacheMode::CacheUse => CacheMode::Use,
            baton_proto::CacheMode::CacheSkip => CacheMode::Skip,
            baton_proto::CacheMode::CacheOverwrite => CacheMode::Overwrite,
        }
    }
}
