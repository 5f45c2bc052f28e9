//! The compiler's checks: what compiles, and the problem each mistake reports.

use super::*;
use baton_model::spec::{parse_yaml, SpecDocument};

const TASKS: &str = r#"
kind: Task
name: square
version: v1
interface: {inputs: {x: int}, outputs: {y: int}}
runner: {builtin: noop}
---
kind: Task
name: add
version: v1
interface: {inputs: {a: int, b: int}, outputs: {sum: int}}
runner: {builtin: noop}
---
kind: Task
name: half
version: v1
interface: {inputs: {x: float}, outputs: {y: float}}
runner: {builtin: noop}
"#;

fn compile_text(workflow: &str) -> Result<CompiledWorkflow, CompileError> {
    let tasks: Vec<Arc<TaskSpec>> = parse_yaml(TASKS, "tasks")
        .unwrap()
        .into_iter()
        .map(|d| match d {
            SpecDocument::Task(t) => Arc::new(t.normalized()),
            _ => unreachable!(),
        })
        .collect();
    let SpecDocument::Workflow(wf) = parse_yaml(workflow, "wf").unwrap().remove(0) else {
        panic!("not a workflow")
    };
    compile(
        wf.normalized(),
        |id| {
            tasks
                .iter()
                .find(|t| {
                    t.id.unversioned() == id.unversioned()
                        && (id.version.is_empty() || t.id.version == id.version)
                })
                .cloned()
        },
        |_| None,
    )
}

fn problems(workflow: &str) -> String {
    compile_text(workflow).unwrap_err().to_string()
}

#[test]
fn compiles_a_diamond() {
    let wf = compile_text(
        r#"
kind: Workflow
name: diamond
interface: {inputs: {n: int}, outputs: {total: int}}
nodes:
  - {id: a, task: square, inputs: {x: "${inputs.n}"}}
  - {id: b, task: square@v1, inputs: {x: "${a.y}"}}
  - {id: c, task: square@v1, inputs: {x: "${a.y}"}}
  - {id: d, task: add@v1, inputs: {a: "${b.y}", b: "${c.y}"}}
outputs: {total: "${d.sum}"}
"#,
    )
    .unwrap();
    assert_eq!(
        wf.nodes[0].task().unwrap().version,
        "v1",
        "latest version pinned"
    );
    assert_eq!(wf.nodes[0].downstream, vec![1, 2]);
    assert_eq!(wf.nodes[3].upstream, vec![1, 2]);
    assert_eq!(wf.spec.nodes[0].kind.target().unwrap().version, "v1");
}

#[test]
fn names_an_unknown_task() {
    let err =
        problems("kind: Workflow\nname: w\nnodes: [{id: a, task: cube@v1, inputs: {x: 1}}]\n");
    assert!(
        err.contains("node `a`: unknown task `default/development/cube@v1`"),
        "{err}"
    );
}

#[test]
fn names_node_input_and_both_types_on_mismatch() {
    let err = problems(
        r#"
kind: Workflow
name: w
nodes:
  - {id: a, task: square, inputs: {x: 2}}
  - {id: b, task: half, inputs: {x: "${a.y}"}}
"#,
    );
    assert!(
        err.contains("node `b` input `x`: type mismatch: expected float, but `${a.y}` is int"),
        "{err}"
    );
}

#[test]
fn names_a_cycle() {
    let err = problems(
        r#"
kind: Workflow
name: w
nodes:
  - {id: a, task: square, inputs: {x: "${c.y}"}}
  - {id: b, task: square, inputs: {x: "${a.y}"}}
  - {id: c, task: square, inputs: {x: "${b.y}"}}
"#,
    );
    assert!(err.contains("cycle: a -> b -> c -> a"), "{err}");
}

#[test]
fn names_duplicate_ids_unbound_inputs_and_missing_outputs() {
    let err = problems(
        r#"
kind: Workflow
name: w
interface: {outputs: {r: int}}
nodes:
  - {id: a, task: square, inputs: {x: 1}}
  - {id: a, task: add, inputs: {a: 1}}
  - {id: c, task: square, inputs: {x: "${a.z}"}}
outputs: {r: "${nowhere.y}"}
"#,
    );
    assert!(err.contains("duplicate node id `a`"), "{err}");
    assert!(err.contains("required input `b` (int)"), "{err}");
    assert!(err.contains("missing output `z`"), "{err}");
    assert!(err.contains("missing node `nowhere`"), "{err}");
}

#[test]
fn refuses_node_ids_that_would_make_paths_ambiguous() {
    let err = problems(
        r#"
kind: Workflow
name: w
nodes:
  - {id: a.b, task: square, inputs: {x: 1}}
  - {id: "c[1]", task: square, inputs: {x: 1}}
  - {id: history, task: square, inputs: {x: 1}}
"#,
    );
    assert!(err.contains("node id `a.b` may not contain `.`"), "{err}");
    assert!(err.contains("node id `c[1]` may not contain `[`"), "{err}");
    assert!(err.contains("node id `history` is reserved"), "{err}");
}

#[test]
fn fits_constants_and_refuses_bad_ones() {
    let ok =
        compile_text("kind: Workflow\nname: w\nnodes: [{id: a, task: half, inputs: {x: 2}}]\n")
            .unwrap();
    assert_eq!(
        ok.nodes[0].input("x"),
        Some(&CompiledBinding::Constant(Value::Float(2.0)))
    );
    let err =
        problems("kind: Workflow\nname: w\nnodes: [{id: a, task: square, inputs: {x: hello}}]\n");
    assert!(
        err.contains("node `a` input `x`: constant hello: expected int, got a string"),
        "{err}"
    );
}
