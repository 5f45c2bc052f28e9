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
fn a_gate_parses_with_its_signal_timeout_and_default() {
    let text = r#"
kind: Workflow
name: w
nodes:
  - id: ask
    gate:
      inputs: {picked: "${inputs.picked}"}
      signal: {labels: list<int>, note: {type: string, default: ""}}
      timeout: 2h
      on_timeout: {signal: {labels: []}}
      check: "len(labels) == len(picked)"
"#;
    let SpecDocument::Workflow(wf) = parse_yaml(text, "f").unwrap().remove(0) else {
        panic!()
    };
    let NodeKind::Gate(gate) = &wf.nodes[0].kind else {
        panic!("{:?}", wf.nodes[0].kind)
    };
    assert_eq!(gate.timeout_ms, 2 * 3600 * 1000);
    assert_eq!(gate.check, "len(labels) == len(picked)");
    let names: Vec<&str> = gate.signal.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["labels", "note"]);
    let on_timeout = gate.on_timeout.as_ref().unwrap();
    assert_eq!(on_timeout["labels"], Value::List(Vec::new()));
    assert_eq!(
        on_timeout["note"],
        Value::String(String::new()),
        "defaults filled"
    );
    assert_eq!(
        wf.nodes[0].inputs["picked"],
        Binding::Input("picked".into())
    );
    let wire: baton_proto::WorkflowSpec = (&wf).into();
    assert_eq!(WorkflowSpec::try_from(&wire).unwrap(), wf);
}

#[test]
fn a_bad_gate_is_refused_naming_the_field() {
    let gate = |body: &str| format!("kind: Workflow\nname: w\nnodes:\n  - id: ask\n    {body}\n");
    let cases = [
        ("gate: {inputs: {}}", "missing field `signal`"),
        (
            "gate: {signal: {}}",
            "a gate needs at least one signal field",
        ),
        ("gate: {signal: {x: integer}}", "signal field `x`"),
        (
            "gate: {signal: {x: int}, timeout: forever}",
            "`forever` is not a duration",
        ),
        (
            "gate: {signal: {x: int}, on_timeout: {signal: {x: 1}}}",
            "gate.on_timeout needs a `timeout`",
        ),
        (
            "gate: {signal: {x: int}, timeout: 1m, on_timeout: {signal: {x: seven}}}",
            "gate.on_timeout.signal.x (int): expected int, got a string",
        ),
        (
            "gate: {signal: {x: int}, timeout: 1m, on_timeout: {signal: {y: 1}}}",
            "`y` is not a signal field (the gate's signal has x)",
        ),
        (
            "gate: {signal: {x: int}, timeout: 1m, on_timeout: {signal: {}}}",
            "no value for signal field `x` (int)",
        ),
        (
            "gate: {signal: {x: int}, timeout: 1m, on_timeout: succeed}",
            "expected `fail` or `{signal: {NAME: VALUE}}`",
        ),
        ("gate: {signal: {x: int}, wait: 1m}", "unknown field `wait`"),
        (
            "gate: {signal: {x: int}}\n    task: t@v1",
            "is a gate: it takes none of `task`",
        ),
        (
            "gate: {signal: {x: int}}\n    pool: gpu",
            "is a gate, which runs on no executor: it takes no `pool`",
        ),
        (
            "gate: {signal: {x: int}}\n    inputs: {a: 1}",
            "takes its inputs inside the gate",
        ),
    ];
    for (body, says) in cases {
        let err = error_of(&gate(body));
        assert!(err.contains(says), "{body}:\n{err}\nshould say: {says}");
        assert!(err.contains("f.yaml"), "{err}");
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

fn error_of(text: &str) -> String {
    parse_yaml(text, "f.yaml").unwrap_err().to_string()
}

#[test]
fn a_struct_type_may_be_a_mapping_nested_to_any_depth() {
    let text = "\
kind: Task
name: t
interface:
  inputs:
    summary: {lo: float, hi: float}
    deep: {stats: {mean: float, tags: list<string>}, n: int}
    long: {type: {a: int}, description: a struct in the long form}
    texted: \"{type: string}\"
  outputs:
    scores: \"list<{margin: float}>\"
runner: {builtin: noop}
";
    let SpecDocument::Task(task) = parse_yaml(text, "f.yaml").unwrap().remove(0) else {
        panic!()
    };
    let ty = |name: &str| task.interface.input(name).unwrap().ty.to_string();
    assert_eq!(ty("summary"), "{hi: float, lo: float}");
    assert_eq!(
        ty("deep"),
        "{n: int, stats: {mean: float, tags: list<string>}}"
    );
    assert_eq!(ty("long"), "{a: int}");
    assert_eq!(
        task.interface.input("long").unwrap().description,
        "a struct in the long form"
    );
    assert_eq!(ty("texted"), "{type: string}");
    assert_eq!(
        task.interface.output("scores").unwrap().ty.to_string(),
        "list<{margin: float}>"
    );
}

#[test]
fn every_spec_error_names_file_line_document_and_field() {
    // A bad type deep inside a struct mapping: the line of that field.
    let err = error_of(
        "kind: Task\nname: t\ninterface:\n  inputs:\n    s: {lo: float, hi: {x: flaot}}\nrunner: {builtin: noop}\n",
    );
    assert!(err.starts_with("f.yaml:5:"), "{err}");
    assert!(
        err.contains("document 1 (Task `t`, field `interface.inputs.s.hi.x`)"),
        "{err}"
    );
    assert!(err.contains("unknown type `flaot`"), "{err}");
    // A structural error (an unknown field of a node) in a later document.
    let err = error_of(
        "kind: Task\nname: t\nrunner: {builtin: noop}\n---\nkind: Workflow\nname: w\nnodes:\n  - id: a\n    tsk: t\n",
    );
    assert!(err.starts_with("f.yaml:9:"), "{err}");
    assert!(err.contains("document 2 (Workflow `w`)"), "{err}");
    assert!(err.contains("unknown field `tsk`"), "{err}");
    // A node that runs nothing: the node's line.
    let err = error_of(
        "kind: Workflow\nname: w\nnodes:\n  - id: a\n    task: t\n  - id: b\n    inputs: {}\n",
    );
    assert!(err.starts_with("f.yaml:6:"), "{err}");
    assert!(err.contains("field `nodes[1]`"), "{err}");
    // A bad binding: the input's line.
    let err = error_of(
        "kind: Workflow\nname: w\nnodes:\n  - id: a\n    task: t\n    inputs:\n      x: \"${a.b.c.d}\"\n",
    );
    assert!(err.starts_with("f.yaml:7:"), "{err}");
    assert!(
        err.contains("field `nodes[0].inputs.x`") && err.contains("node `a` input `x`"),
        "{err}"
    );
    // Unknown kinds name the `kind` line.
    assert!(error_of("name: x\n\nkind: Tsk\n").starts_with("f.yaml:3:"));
}

#[test]
fn no_spec_error_shows_a_serde_or_rust_name() {
    for text in [
        "kind: Task\nname: t\ninterface: {inputs: {s: [1, 2]}}\nrunner: {builtin: noop}\n",
        "kind: Task\nname: t\ninterface: {inputs: {s: {type: int, dflt: 1}}}\nrunner: {builtin: noop}\n",
        "kind: Task\nname: t\ninterface: {inputs: {s: {a: 3}}}\nrunner: {builtin: noop}\n",
        "kind: Task\nname: t\ninterface: [1]\nrunner: {builtin: noop}\n",
        "kind: Task\nname: t\nrunner: noop\n",
        "kind: Task\nname: t\nrunner: {builtin: noop}\ntimeout: [1]\n",
        "kind: Task\nname: t\nrunner: {builtin: noop}\nversion: {a: 1}\n",
        "kind: Workflow\nname: w\nnodes: {a: 1}\n",
        "kind: Workflow\nname: w\nnodes: [3]\n",
        "kind: Workflow\nname: w\nnodes: [{id: a, map: {task: t, over: x, tolerate: [1]}}]\n",
        "kind: Workflow\nname: w\nnodes: [{id: a, branch: 3}]\n",
        "kind: Workflow\nname: w\nnodes: [{id: a, loop: {body: b}}]\n",
    ] {
        let err = error_of(text);
        for internal in ["Raw", "untagged", "variant", "Mapping", "Sequence", "Number(", "String(", "Bool("] {
            assert!(!err.contains(internal), "{internal} in: {err}");
        }
        assert!(err.starts_with("f.yaml:"), "{err}");
        assert!(err.contains("document 1"), "{err}");
    }
}

#[test]
fn selectors_are_read_on_tasks_workflows_and_nodes_and_bad_labels_refused() {
    let text = "\
kind: Task
name: t
interface: {inputs: {x: int}, outputs: {x: int}}
runner: {builtin: noop}
pool: gpu
selector: {gpu: a100}
---
kind: Workflow
name: w
interface: {inputs: {x: int}, outputs: {x: int}}
selector: {zone: b}
nodes:
  - {id: a, task: t, inputs: {x: \"${inputs.x}\"}, selector: {disk: ssd}}
outputs: {x: \"${a.x}\"}
";
    let docs = parse_yaml(text, "f.yaml").unwrap();
    let (SpecDocument::Task(task), SpecDocument::Workflow(workflow)) = (&docs[0], &docs[1]) else {
        panic!("{docs:?}");
    };
    assert_eq!(task.selector["gpu"], "a100");
    assert_eq!(workflow.selector["zone"], "b");
    assert_eq!(workflow.nodes[0].selector["disk"], "ssd");
    // It is emitted again, and reads back the same.
    let again = crate::spec::workflow_document(workflow);
    let again = serde_yaml_ng::to_string(&again).unwrap();
    assert!(again.contains("selector"), "{again}");

    let bad = text.replace("{gpu: a100}", "{gpu: \"a 100\"}");
    let error = error_of(&bad);
    assert!(
        error.contains("selector") && error.contains("a 100"),
        "{error}"
    );
    let bad = text.replace("{disk: ssd}", "{\"\": ssd}");
    let error = error_of(&bad);
    assert!(error.contains("nodes[0].selector"), "{error}");
}
