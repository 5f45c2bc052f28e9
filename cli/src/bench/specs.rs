//! The specs the benchmark registers: the noop task, W1-W3's workflows, and
//! the loop and map workloads' workflows, as the Admin API takes them.

use std::collections::HashMap;

use baton_proto::*;

use super::BenchRunner;

pub(super) fn noop_task(runner: BenchRunner) -> TaskSpec {
    let x = Variable {
        name: "x".into(),
        r#type: "int".into(),
        default: None,
        description: String::new(),
    };
    TaskSpec {
        id: Some(Identifier {
            name: "bench-noop".into(),
            version: "v1".into(),
            ..Default::default()
        }),
        interface: Some(Interface {
            inputs: vec![x.clone()],
            outputs: vec![x],
        }),
        runner: Some(Runner {
            kind: Some(match runner {
                BenchRunner::Builtin => runner::Kind::Builtin("noop".into()),
                BenchRunner::Process => runner::Kind::Process(ProcessRunner {
                    command: ["sh", "-c", r#"exec cp "$BATON_INPUTS" "$BATON_OUTPUTS""#]
                        .map(String::from)
                        .to_vec(),
                    ..Default::default()
                }),
            }),
        }),
        ..Default::default()
    }
}

pub(super) fn constant(i: i64) -> Binding {
    Binding {
        kind: Some(binding::Kind::Constant(Value {
            kind: Some(value::Kind::IntValue(i)),
        })),
    }
}

pub(super) fn upstream(node: usize) -> Binding {
    Binding {
        kind: Some(binding::Kind::NodeOutput(OutputRef {
            node: format!("n{node}"),
            output: "x".into(),
        })),
    }
}

/// A workflow of `nodes` independent nodes of `task@v1`, which takes no inputs.
pub(super) fn workflow_of(name: &str, task: &str, nodes: usize) -> WorkflowSpec {
    let task = named(task);
    WorkflowSpec {
        id: named(name),
        nodes: (0..nodes)
            .map(|i| WorkflowNode {
                id: format!("n{i}"),
                task: task.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

pub(super) fn workflow(name: &str, nodes: usize, chained: bool) -> WorkflowSpec {
    let mut spec = workflow_of(name, "bench-noop", nodes);
    for (i, node) in spec.nodes.iter_mut().enumerate() {
        let x = if chained && i > 0 {
            upstream(i - 1)
        } else {
            constant(i as i64)
        };
        node.inputs = HashMap::from([("x".to_string(), x)]);
    }
    spec
}

fn named(name: &str) -> Option<Identifier> {
    Some(Identifier {
        name: name.into(),
        version: "v1".into(),
        ..Default::default()
    })
}

fn int_list() -> Variable {
    Variable {
        name: "xs".into(),
        r#type: "list<int>".into(),
        default: None,
        description: String::new(),
    }
}

fn int_var() -> Variable {
    Variable {
        name: "x".into(),
        r#type: "int".into(),
        default: None,
        description: String::new(),
    }
}

fn input(name: &str) -> Binding {
    Binding {
        kind: Some(binding::Kind::WorkflowInput(name.into())),
    }
}

/// The loop workload: `bench-loop-body` (one noop task) run `iterations`
/// times by `bench-loop`, its `x` carried from one iteration to the next;
/// `until` never holds, so it runs to `max_iterations` and succeeds.
pub(super) fn loop_workflows(iterations: u32) -> Vec<WorkflowSpec> {
    let body = WorkflowSpec {
        id: named("bench-loop-body"),
        interface: Some(Interface {
            inputs: vec![int_var()],
            outputs: vec![int_var()],
        }),
        nodes: vec![WorkflowNode {
            id: "n".into(),
            task: named("bench-noop"),
            inputs: HashMap::from([("x".to_string(), input("x"))]),
            ..Default::default()
        }],
        outputs: HashMap::from([("x".to_string(), upstream_named("n"))]),
        ..Default::default()
    };
    let looping = WorkflowSpec {
        id: named("bench-loop"),
        nodes: vec![WorkflowNode {
            id: "l".into(),
            inputs: HashMap::from([("x".to_string(), constant(0))]),
            r#loop: Some(LoopNode {
                body: named("bench-loop-body"),
                carry: HashMap::from([("x".to_string(), "x".to_string())]),
                until: "x < 0".into(),
                max_iterations: iterations,
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    vec![body, looping]
}

/// The map workload: `bench-map` maps the noop task over its list input.
pub(super) fn map_workflow() -> WorkflowSpec {
    WorkflowSpec {
        id: named("bench-map"),
        interface: Some(Interface {
            inputs: vec![int_list()],
            outputs: Vec::new(),
        }),
        nodes: vec![WorkflowNode {
            id: "m".into(),
            inputs: HashMap::from([("x".to_string(), input("xs"))]),
            map: Some(MapNode {
                task: named("bench-noop"),
                over: "x".into(),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn upstream_named(node: &str) -> Binding {
    Binding {
        kind: Some(binding::Kind::NodeOutput(OutputRef {
            node: node.into(),
            output: "x".into(),
        })),
    }
}
