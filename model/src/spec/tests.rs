//! The spec model, its YAML and wire forms: what parses, what each mistake says.

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
    let text = "kind: Workflow\nname: w\nnodes: [{id: s, workflow: inner@v2, inputs: {x: 1}}]\n";
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
