//! The branch kind: the first case that holds runs, the others are Skipped,
//! the else case, outputs from the chosen case, and the registration checks.

use baton_model::Value;

use super::Fixture;
use crate::state::{ExecutionPhase, NodePhase};

/// `grade` branches on `score`: `inc` when it is high, `twice` (a
/// workflow) when it is middling, `dec` otherwise.
const BRANCHES: &str = r#"
kind: Task
name: dec
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
runner: {builtin: noop}
---
kind: Workflow
name: twice-x
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
nodes:
  - {id: first, task: inc@v1, inputs: {x: "${inputs.x}"}}
  - {id: second, task: inc@v1, inputs: {x: "${first.x}"}}
outputs: {x: "${second.x}"}
---
kind: Workflow
name: grade
version: v1
interface: {inputs: {score: float, n: int}, outputs: {x: int}}
nodes:
  - id: pick
    branch:
      inputs: {score: "${inputs.score}", x: "${inputs.n}"}
      cases:
        - {when: "score >= 0.9", task: inc@v1}
        - {when: "score >= 0.5", id: middling, workflow: twice-x@v1}
      else: {task: dec@v1}
      outputs: {x: int}
  - {id: after, task: inc@v1, inputs: {x: "${pick.x}"}}
outputs: {x: "${after.x}"}
"#;

fn launch(f: &mut Fixture, score: f64) -> crate::state::ExecutionId {
    let now_ms = f.now;
    match f.apply(crate::state::Command::Launch {
        workflow: baton_model::Identifier::parse("grade").unwrap(),
        inputs: baton_model::Values::from([
            ("score".to_string(), Value::Float(score)),
            ("n".to_string(), Value::Int(10)),
        ]),
        pool: String::new(),
        request_id: String::new(),
        now_ms,
    }) {
        crate::state::Response::Launched { execution, .. } => execution,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_first_case_that_holds_runs_and_the_others_are_skipped() {
    let mut f = Fixture::new(BRANCHES);
    let id = launch(&mut f, 0.95);
    assert_eq!(f.queued(&id), vec!["pick.inc"]);
    assert_eq!(f.phase(&id, "pick"), NodePhase::Running);
    assert_eq!(f.phase(&id, "pick.middling"), NodePhase::Skipped);
    assert_eq!(f.phase(&id, "pick.else"), NodePhase::Skipped);
    f.run_inc(&id, "pick.inc");
    assert_eq!(f.phase(&id, "pick"), NodePhase::Succeeded);
    assert_eq!(f.queued(&id), vec!["after"]);
    f.run_inc(&id, "after");
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Succeeded);
    assert_eq!(execution.outputs["x"], Value::Int(12));
    f.check(&id);
}

#[test]
fn a_workflow_case_runs_under_the_branch_path() {
    let mut f = Fixture::new(BRANCHES);
    let id = launch(&mut f, 0.6);
    assert_eq!(f.queued(&id), vec!["pick.middling.first"]);
    f.run_inc(&id, "pick.middling.first");
    f.run_inc(&id, "pick.middling.second");
    assert_eq!(f.phase(&id, "pick.inc"), NodePhase::Skipped);
    let pick = f.instance(&id, "pick");
    assert_eq!(
        f.state.execution(&id).unwrap().nodes[pick as usize].outputs["x"],
        Value::Int(12)
    );
    f.check(&id);
}

#[test]
fn no_case_holding_runs_the_else_case() {
    let mut f = Fixture::new(BRANCHES);
    let id = launch(&mut f, 0.1);
    assert_eq!(f.queued(&id), vec!["pick.else"]);
}

#[test]
fn without_an_else_a_branch_no_case_of_which_holds_fails() {
    let mut f = Fixture::new(
        r#"
kind: Workflow
name: strict
version: v1
interface: {inputs: {n: int}}
nodes:
  - id: pick
    branch:
      inputs: {x: "${inputs.n}"}
      cases: [{when: "x > 100", task: inc@v1}]
"#,
    );
    let id = f.launch("strict", &[("n", 1)]);
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Failed);
    assert!(
        execution
            .error
            .contains("no case's condition held, and the branch has no else"),
        "{}",
        execution.error
    );
    f.check(&id);
}

fn branch_node(body: &str) -> String {
    format!("kind: Workflow\nname: bad\nversion: v1\ninterface: {{inputs: {{n: int}}}}\nnodes:\n  - id: pick\n    branch: {body}\n")
}

#[test]
fn every_case_must_offer_the_declared_outputs() {
    let mut f = Fixture::new(BRANCHES);
    let err = f.refused(&branch_node(
        "{inputs: {x: \"${inputs.n}\"}, cases: [{when: \"x > 1\", task: inc@v1}], else: {workflow: twice@v1}, outputs: {x: int}}",
    ));
    assert!(
        err.contains("node `pick` branch.else (`else`): offers no output `x` (int), which the branch declares; it offers y"),
        "{err}"
    );
    let err = f.refused(&branch_node(
        "{inputs: {x: \"${inputs.n}\"}, cases: [{when: \"x > 1\", task: inc@v1}], outputs: {x: string}}",
    ));
    assert!(err.contains("node `pick` branch.cases[0] (`inc`): output `x` is int, but the branch declares it string"), "{err}");
}

#[test]
fn case_conditions_must_parse_name_branch_inputs_and_be_bools() {
    let mut f = Fixture::new(BRANCHES);
    for (when, expected) in [
        ("x >", "at column 4: expected a value"),
        ("y > 1", "at column 1: unknown name `y`; the branch takes x"),
        ("x", "at column 1: the condition is int, not bool"),
    ] {
        let err = f.refused(&branch_node(&format!(
            "{{inputs: {{x: \"${{inputs.n}}\"}}, cases: [{{when: \"{when}\", task: inc@v1}}]}}"
        )));
        assert!(
            err.contains(&format!(
                "node `pick` branch.cases[0], when: {when:?}: {expected}"
            )),
            "{err}"
        );
    }
}

#[test]
fn a_case_needs_its_inputs_from_the_branch_and_unique_ids() {
    let mut f = Fixture::new(BRANCHES);
    let err = f.refused(&branch_node(
        "{inputs: {z: \"${inputs.n}\"}, cases: [{when: \"z > 1\", task: inc@v1}]}",
    ));
    assert!(
        err.contains("node `pick` branch: case node `inc`: required input `x` (int) of task `default/development/inc@v1` is not bound"),
        "{err}"
    );
    let err = f.refused(&branch_node(
        "{inputs: {x: \"${inputs.n}\"}, cases: [{when: \"x > 1\", task: inc@v1}, {when: \"x > 0\", task: inc@v1}]}",
    ));
    assert!(
        err.contains("node `pick` branch: case duplicate node id `inc`"),
        "{err}"
    );
}

#[test]
fn a_branch_that_fails_as_it_starts_fails_the_execution_cleanly() {
    let mut f = Fixture::new(
        r#"
kind: Workflow
name: fails-late
version: v1
interface: {inputs: {n: int}}
nodes:
  - {id: a, task: inc@v1, inputs: {x: "${inputs.n}"}}
  - id: b
    branch: {inputs: {x: "${a.x}"}, cases: [{when: "x > 100", task: inc@v1}]}
  - id: c
    branch: {inputs: {x: "${inputs.n}"}, cases: [{when: "x > 100", task: inc@v1}]}
  - {id: d, task: inc@v1, inputs: {x: "${inputs.n}"}}
"#,
    );
    // `c` fails at launch, before `d` (another first node) is made ready.
    let id = f.launch("fails-late", &[("n", 1)]);
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Failed);
    assert_eq!(
        f.phase(&id, "d"),
        NodePhase::Skipped,
        "not queued after the failure"
    );
    f.check(&id);
}
