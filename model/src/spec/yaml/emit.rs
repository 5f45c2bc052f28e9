//! Specs written back in their YAML form, the form a user registers: what
//! `baton describe` prints (with every reference pinned to the version
//! registration resolved, so the text registers the same content again) and
//! what `baton diff` compares field by field.

use serde_yaml_ng::{Mapping, Value as Yaml};

use super::super::*;

fn text(s: impl Into<String>) -> Yaml {
    Yaml::String(s.into())
}

/// Builds a mapping from the entries that are not left out.
fn mapping(entries: Vec<(&str, Option<Yaml>)>) -> Yaml {
    let mut map = Mapping::new();
    for (key, value) in entries {
        if let Some(value) = value {
            map.insert(text(key), value);
        }
    }
    Yaml::Mapping(map)
}

fn unless_empty(s: &str) -> Option<Yaml> {
    (!s.is_empty()).then(|| text(s))
}

fn selector(selector: &crate::spec::Selector) -> Option<Yaml> {
    (!selector.is_empty())
        .then(|| Yaml::Mapping(selector.iter().map(|(k, v)| (text(k), text(v))).collect()))
}

fn value(v: &Value) -> Yaml {
    serde_yaml_ng::to_value(v.to_json()).unwrap_or(Yaml::Null)
}

fn variable(v: &Variable) -> Yaml {
    if v.default.is_none() && v.description.is_empty() {
        return text(v.ty.to_string());
    }
    mapping(vec![
        ("type", Some(text(v.ty.to_string()))),
        ("default", v.default.as_ref().map(value)),
        ("description", unless_empty(&v.description)),
    ])
}

fn variables(vars: &[Variable]) -> Yaml {
    let mut map = Mapping::new();
    for v in vars {
        map.insert(text(&v.name), variable(v));
    }
    Yaml::Mapping(map)
}

fn interface(i: &Interface) -> Option<Yaml> {
    if i.inputs.is_empty() && i.outputs.is_empty() {
        return None;
    }
    Some(mapping(vec![
        (
            "inputs",
            (!i.inputs.is_empty()).then(|| variables(&i.inputs)),
        ),
        (
            "outputs",
            (!i.outputs.is_empty()).then(|| variables(&i.outputs)),
        ),
    ]))
}

/// A binding as written: `${inputs.x}`, `${node.out}`, a list or mapping, a constant.
pub fn binding(b: &Binding) -> Yaml {
    match b {
        Binding::Input(name) => text(format!("${{inputs.{name}}}")),
        Binding::History(name) => text(format!("${{history.{name}}}")),
        Binding::Output { node, output } => text(format!("${{{node}.{output}}}")),
        Binding::Constant(v) => value(v),
        Binding::List(items) => Yaml::Sequence(items.iter().map(binding).collect()),
        Binding::Map(entries) => {
            let mut map = Mapping::new();
            for (k, v) in entries {
                map.insert(text(k), binding(v));
            }
            Yaml::Mapping(map)
        }
    }
}

fn bindings<'a>(entries: impl Iterator<Item = (&'a String, &'a Binding)>) -> Option<Yaml> {
    let mut map = Mapping::new();
    for (k, v) in entries {
        map.insert(text(k), binding(v));
    }
    (!map.is_empty()).then_some(Yaml::Mapping(map))
}

fn identifier(id: &Identifier) -> Yaml {
    text(id.to_string())
}

/// The task's document.
pub fn task_document(task: &TaskSpec) -> Yaml {
    let runner = match &task.runner {
        Runner::Process {
            command,
            env,
            working_dir,
        } => mapping(vec![(
            "process",
            Some(mapping(vec![
                (
                    "command",
                    Some(Yaml::Sequence(command.iter().map(text).collect())),
                ),
                (
                    "env",
                    (!env.is_empty()).then(|| {
                        Yaml::Mapping(env.iter().map(|(k, v)| (text(k), text(v))).collect())
                    }),
                ),
                ("working_dir", unless_empty(working_dir)),
            ])),
        )]),
        Runner::Builtin(name) => mapping(vec![("builtin", Some(text(name)))]),
    };
    mapping(vec![
        ("kind", Some(text("Task"))),
        ("project", Some(text(&task.id.project))),
        ("domain", Some(text(&task.id.domain))),
        ("name", Some(text(&task.id.name))),
        ("version", Some(text(&task.id.version))),
        ("description", unless_empty(&task.description)),
        ("interface", interface(&task.interface)),
        ("runner", Some(runner)),
        (
            "retries",
            (task.retries > 0).then(|| Yaml::from(task.retries)),
        ),
        (
            "timeout",
            (task.timeout_ms > 0).then(|| {
                text(crate::value::format_duration(
                    task.timeout_ms as i64 * 1_000_000,
                ))
            }),
        ),
        ("pool", unless_empty(&task.pool)),
        ("selector", selector(&task.selector)),
        (
            "cache",
            task.cache.as_ref().map(|c| {
                mapping(vec![
                    ("version", Some(text(&c.version))),
                    ("serialize", c.serialize.then_some(Yaml::Bool(true))),
                    (
                        "retention",
                        (c.retention_ms != DEFAULT_CACHE_RETENTION_MS).then(|| {
                            text(crate::value::format_duration(
                                c.retention_ms as i64 * 1_000_000,
                            ))
                        }),
                    ),
                ])
            }),
        ),
        (
            "cache_ignore",
            task.cache
                .as_ref()
                .filter(|c| !c.ignore.is_empty())
                .map(|c| Yaml::Sequence(c.ignore.iter().map(text).collect())),
        ),
    ])
}

/// What a node (or a case, or a map's item) runs: `task: ID` or `workflow: ID`.
fn runs(kind: &NodeKind) -> Vec<(&'static str, Option<Yaml>)> {
    match kind {
        NodeKind::Task(id) => vec![("task", Some(identifier(id)))],
        NodeKind::Workflow(id) => vec![("workflow", Some(identifier(id)))],
        other => vec![(other.name(), Some(text("?")))],
    }
}

fn case(c: &CaseSpec) -> Yaml {
    let mut entries = vec![("id", unless_empty(&c.id)), ("when", unless_empty(&c.when))];
    entries.extend(runs(&c.runs));
    mapping(entries)
}

fn node(n: &NodeSpec) -> Yaml {
    let mut entries: Vec<(&str, Option<Yaml>)> = vec![("id", Some(text(&n.id)))];
    let inputs = bindings(n.inputs.iter());
    match &n.kind {
        NodeKind::Task(_) | NodeKind::Workflow(_) => {
            entries.extend(runs(&n.kind));
            entries.push(("inputs", inputs));
        }
        NodeKind::Loop(l) => entries.push((
            "loop",
            Some(mapping(vec![
                ("body", Some(identifier(&l.body))),
                ("inputs", inputs),
                (
                    "carry",
                    (!l.carry.is_empty()).then(|| {
                        Yaml::Mapping(l.carry.iter().map(|(k, v)| (text(k), text(v))).collect())
                    }),
                ),
                ("until", Some(text(&l.until))),
                ("max_iterations", Some(Yaml::from(l.max_iterations))),
                ("on_max", l.fail_on_max.then(|| text("fail"))),
                (
                    "retry_iteration",
                    (l.retry_iteration > 0).then(|| Yaml::from(l.retry_iteration)),
                ),
            ])),
        )),
        NodeKind::Map(m) => {
            let mut map = runs(&m.runs);
            map.push(("over", Some(text(&m.over))));
            map.push(("inputs", inputs));
            map.push((
                "concurrency",
                (m.concurrency > 0).then(|| Yaml::from(m.concurrency)),
            ));
            map.push((
                "tolerate",
                m.tolerate.tolerates_any().then(|| match m.tolerate {
                    Tolerance::Count(n) => Yaml::from(n),
                    Tolerance::Fraction(f) => text(format!("{}%", f * 100.0)),
                }),
            ));
            entries.push(("map", Some(mapping(map))));
        }
        NodeKind::Branch(b) => entries.push((
            "branch",
            Some(mapping(vec![
                ("inputs", inputs),
                (
                    "cases",
                    Some(Yaml::Sequence(b.cases.iter().map(case).collect())),
                ),
                ("else", b.otherwise.as_deref().map(case)),
                (
                    "outputs",
                    (!b.outputs.is_empty()).then(|| variables(&b.outputs)),
                ),
            ])),
        )),
        NodeKind::Gate(g) => entries.push((
            "gate",
            Some(mapping(vec![
                ("inputs", inputs),
                ("signal", Some(variables(&g.signal))),
                ("check", unless_empty(&g.check)),
                (
                    "timeout",
                    (g.timeout_ms > 0).then(|| {
                        text(crate::value::format_duration(
                            g.timeout_ms.saturating_mul(1_000_000).min(i64::MAX as u64) as i64,
                        ))
                    }),
                ),
                (
                    "on_timeout",
                    g.on_timeout
                        .as_ref()
                        .map(|values| mapping(vec![("signal", constants(values))])),
                ),
            ])),
        )),
    }
    entries.push(("pool", unless_empty(&n.pool)));
    entries.push(("selector", selector(&n.selector)));
    mapping(entries)
}

/// The workflow's document.
pub fn workflow_document(workflow: &WorkflowSpec) -> Yaml {
    mapping(vec![
        ("kind", Some(text("Workflow"))),
        ("project", Some(text(&workflow.id.project))),
        ("domain", Some(text(&workflow.id.domain))),
        ("name", Some(text(&workflow.id.name))),
        ("version", Some(text(&workflow.id.version))),
        ("description", unless_empty(&workflow.description)),
        ("interface", interface(&workflow.interface)),
        (
            "nodes",
            Some(Yaml::Sequence(workflow.nodes.iter().map(node).collect())),
        ),
        ("outputs", bindings(workflow.outputs.iter())),
        ("pool", unless_empty(&workflow.pool)),
        ("selector", selector(&workflow.selector)),
    ])
}

fn constants(values: &std::collections::BTreeMap<String, Value>) -> Option<Yaml> {
    let mut map = Mapping::new();
    for (k, v) in values {
        map.insert(text(k), value(v));
    }
    (!map.is_empty()).then_some(Yaml::Mapping(map))
}

/// The launch plan's document.
pub fn launch_plan_document(plan: &LaunchPlanSpec) -> Yaml {
    let mut overrides = Mapping::new();
    for (path, o) in &plan.overrides {
        overrides.insert(
            text(path),
            mapping(vec![
                ("task", o.task.as_ref().map(identifier)),
                ("workflow", o.workflow.as_ref().map(identifier)),
                ("retries", o.retries.map(Yaml::from)),
                (
                    "timeout",
                    o.timeout_ms
                        .map(|ms| text(crate::value::format_duration(ms as i64 * 1_000_000))),
                ),
                ("pool", o.pool.as_deref().map(text)),
                (
                    "cache",
                    o.cache.map(|m| {
                        text(match m {
                            CacheMode::Use => "use",
                            CacheMode::Skip => "skip",
                            CacheMode::Overwrite => "overwrite",
                        })
                    }),
                ),
            ]),
        );
    }
    mapping(vec![
        ("kind", Some(text("LaunchPlan"))),
        ("project", Some(text(&plan.id.project))),
        ("domain", Some(text(&plan.id.domain))),
        ("name", Some(text(&plan.id.name))),
        ("version", Some(text(&plan.id.version))),
        ("description", unless_empty(&plan.description)),
        ("workflow", Some(identifier(&plan.workflow))),
        ("inputs", constants(&plan.inputs)),
        ("fixed", constants(&plan.fixed)),
        ("pool", unless_empty(&plan.pool)),
        (
            "labels",
            (!plan.labels.is_empty()).then(|| {
                Yaml::Mapping(
                    plan.labels
                        .iter()
                        .map(|(k, v)| (text(k), text(v)))
                        .collect(),
                )
            }),
        ),
        (
            "overrides",
            (!overrides.is_empty()).then_some(Yaml::Mapping(overrides)),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{parse_yaml, SpecDocument};

    /// Every kind of node, written back, reads as the same specs.
    #[test]
    fn a_written_back_spec_reads_as_the_same_spec() {
        let text = r#"
kind: Task
name: t
version: v1
description: adds
interface:
  inputs: {x: int, k: {type: int, default: 2, description: the k}}
  outputs: {y: "{a: float, b: list<int>}"}
runner: {process: {command: [python3, t.py], env: {A: "1"}, working_dir: /srv}}
retries: 2
timeout: 30s
pool: cpu
cache: {version: "2", serialize: true, retention: 7days}
cache_ignore: [k]
---
kind: Workflow
name: body
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
nodes: [{id: a, task: t@v1, inputs: {x: "${inputs.x}"}}]
outputs: {x: "${a.y}"}
---
kind: Workflow
name: w
version: v2
interface: {inputs: {xs: list<int>, x: int}, outputs: {out: int}}
nodes:
  - {id: one, task: t@v1, inputs: {x: "${inputs.x}", k: 3}, pool: gpu}
  - {id: sub, workflow: body@v1, inputs: {x: [1, "${inputs.x}"]}}
  - id: again
    loop: {body: body@v1, inputs: {x: "${inputs.x}"}, carry: {x: x}, until: "x > 3", max_iterations: 5, on_max: fail, retry_iteration: 1}
  - id: each
    map: {task: t@v1, over: x, inputs: {x: "${inputs.xs}"}, concurrency: 2, tolerate: "10%"}
  - id: pick
    branch:
      inputs: {x: "${inputs.x}"}
      cases: [{when: "x > 1", task: t@v1}]
      else: {workflow: body@v1}
      outputs: {y: int}
  - id: ask
    gate: {inputs: {x: "${one.y}"}, signal: {ok: bool, note: {type: string, default: "-"}}, check: "ok or x > 1", timeout: 1h, on_timeout: {signal: {ok: false}}}
  - id: wait
    gate: {signal: {labels: list<int>}}
outputs: {out: "${one.y}"}
---
kind: LaunchPlan
name: fast
workflow: w@v2
description: the fast flavor
inputs: {x: 3}
fixed: {xs: [1, 2]}
pool: gpu
labels: {team: vision}
overrides:
  one: {task: t@v1, retries: 4, timeout: 5m, pool: cpu}
  sub: {workflow: body@v1, cache: skip}
"#;
        let specs = parse_yaml(text, "specs.yaml").unwrap();
        let written: Vec<String> = specs
            .iter()
            .map(|doc| {
                let yaml = match doc {
                    SpecDocument::Task(t) => task_document(t),
                    SpecDocument::Workflow(w) => workflow_document(w),
                    SpecDocument::LaunchPlan(p) => launch_plan_document(p),
                };
                serde_yaml_ng::to_string(&yaml).unwrap()
            })
            .collect();
        let again = parse_yaml(&written.join("---\n"), "written.yaml").unwrap();
        assert_eq!(again, specs, "{}", written.join("---\n"));
    }
}
