//! Workload builders shared by Baton's benchmarks: large workflows as specs,
//! built in memory (no YAML parsing in the measured path).

use std::collections::BTreeMap;

use baton_model::{
    Binding, Identifier, Interface, NodeKind, NodeSpec, Runner, TaskSpec, Type, Value, Variable,
    WorkflowSpec,
};

/// A builtin noop task `pass@v1` taking and returning `x: int`.
pub fn pass_task() -> TaskSpec {
    let x = Variable {
        name: "x".into(),
        ty: Type::Int,
        default: None,
        description: String::new(),
    };
    TaskSpec {
        id: Identifier::new("default", "development", "pass", "v1"),
        interface: Interface {
            inputs: vec![x.clone()],
            outputs: vec![x],
        },
        runner: Runner::Builtin("noop".into()),
        retries: 0,
        timeout_ms: 0,
        pool: String::new(),
        selector: Default::default(),
        description: String::new(),
        cache: None,
    }
}

/// W1's shape: `width` independent nodes.
pub fn fan_out(width: usize) -> WorkflowSpec {
    let nodes = (0..width)
        .map(|i| NodeSpec {
            id: format!("n{i}"),
            kind: NodeKind::Task(Identifier::new("default", "development", "pass", "v1")),
            inputs: [("x".to_string(), Binding::Constant(Value::Int(i as i64)))]
                .into_iter()
                .collect(),
            pool: String::new(),
            selector: Default::default(),
        })
        .collect();
    workflow("fan", nodes)
}

/// W2's shape: `length` nodes, each consuming its predecessor's output.
pub fn chain(length: usize) -> WorkflowSpec {
    let nodes = (0..length)
        .map(|i| NodeSpec {
            id: format!("n{i}"),
            kind: NodeKind::Task(Identifier::new("default", "development", "pass", "v1")),
            inputs: [(
                "x".to_string(),
                if i == 0 {
                    Binding::Constant(Value::Int(0))
                } else {
                    Binding::Output {
                        node: format!("n{}", i - 1),
                        output: "x".into(),
                    }
                },
            )]
            .into_iter()
            .collect(),
            pool: String::new(),
            selector: Default::default(),
        })
        .collect();
    workflow("chain", nodes)
}

fn workflow(name: &str, nodes: Vec<NodeSpec>) -> WorkflowSpec {
    WorkflowSpec {
        id: Identifier::new("default", "development", name, "v1"),
        interface: Interface::default(),
        nodes,
        outputs: BTreeMap::new(),
        pool: String::new(),
        selector: Default::default(),
        description: String::new(),
    }
}
