//! The task kind, and the one readiness rule: what the state machine
//! queues when a result is applied is what the dispatcher's view with that
//! result still uncommitted finds ready.

use std::collections::HashMap;

use baton_model::Values;

use super::Fixture;
use crate::engine::readiness::{ready_after, RunView};
use crate::state::{Command, Execution, ExecutionPhase, NodePhase, Response};

const DIAMOND: &str = r#"
kind: Workflow
name: diamond
version: v1
interface: {inputs: {n: int}, outputs: {total: int}}
nodes:
  - {id: a, task: inc@v1, inputs: {x: "${inputs.n}"}}
  - {id: b, task: inc@v1, inputs: {x: "${a.x}"}}
  - {id: c, task: inc@v1, inputs: {x: "${a.x}"}}
  - {id: d, task: inc@v1, inputs: {x: "${b.x}"}}
  - {id: e, workflow: twice@v1, inputs: {x: "${c.x}"}}
outputs: {total: "${d.x}"}
"#;

/// An execution with some results not yet committed.
struct Speculative<'a> {
    execution: &'a Execution,
    provisional: HashMap<u32, Values>,
}

impl RunView for Speculative<'_> {
    fn execution(&self) -> &Execution {
        self.execution
    }
    fn succeeded(&self, node: u32) -> bool {
        self.provisional.contains_key(&node)
            || self.execution.nodes[node as usize].phase == NodePhase::Succeeded
    }
    fn outputs(&self, node: u32) -> Option<&Values> {
        self.provisional.get(&node)
    }
}

#[test]
fn what_a_result_makes_ready_is_the_same_before_and_after_it_commits() {
    let mut f = Fixture::new(DIAMOND);
    let id = f.launch("diamond", &[("n", 1)]);
    assert_eq!(f.queued(&id), vec!["a"]);
    for (node, expected) in [("a", vec!["b", "c"]), ("b", vec!["d"]), ("c", vec![])] {
        let instance = f.instance(&id, node);
        let before: Vec<String> = {
            let execution = f.state.execution(&id).unwrap();
            let view = Speculative {
                execution,
                provisional: HashMap::from([(instance, Values::new())]),
            };
            ready_after(&f.state.registry(), &view, instance)
                .into_iter()
                .map(|n| f.path(&id, n))
                .collect()
        };
        f.run_inc(&id, node);
        let after = f.queued(&id);
        assert_eq!(before, expected, "ready before {node} commits");
        if node == "c" {
            // A sub-workflow starts only from an applied result.
            assert_eq!(after, vec!["e.first"], "after {node} commits");
            assert_eq!(f.phase(&id, "e"), NodePhase::Running);
        } else {
            assert_eq!(after, expected, "after {node} commits");
        }
        f.check(&id);
    }
}

#[test]
fn a_node_with_two_upstream_waits_for_both() {
    let mut f = Fixture::new(
        r#"
kind: Task
name: add
version: v1
interface: {inputs: {a: int, b: int}, outputs: {x: int}}
runner: {builtin: noop}
---
kind: Workflow
name: join
version: v1
nodes:
  - {id: l, task: inc@v1, inputs: {x: 1}}
  - {id: r, task: inc@v1, inputs: {x: 2}}
  - {id: j, task: add@v1, inputs: {a: "${l.x}", b: "${r.x}"}}
"#,
    );
    let id = f.launch("join", &[]);
    assert_eq!(f.queued(&id), vec!["l", "r"]);
    f.run_inc(&id, "l");
    assert!(f.queued(&id).is_empty());
    assert_eq!(f.phase(&id, "j"), NodePhase::Pending);
    f.run_inc(&id, "r");
    assert_eq!(f.queued(&id), vec!["j"]);
    f.check(&id);
}

#[test]
fn outputs_that_do_not_fit_the_interface_fail_the_node() {
    let mut f = Fixture::new("");
    let id = f.launch("outer", &[("n", 1)]);
    let attempt = f.assign(&id, "pre");
    let now_ms = f.now;
    f.apply(Command::Complete {
        execution: id.clone(),
        node: 0,
        attempt,
        executor: "x".into(),
        outputs: Values::new(),
        log_size: 0,
        now_ms,
    });
    let execution = f.state.execution(&id).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Failed);
    assert!(
        execution.error.contains("output `x` (int) is missing"),
        "{}",
        execution.error
    );
    f.check(&id);
}

#[test]
fn an_optional_output_left_out_binds_null_downstream() {
    let mut f = Fixture::new(
        r#"
kind: Task
name: maybe
version: v1
interface: {inputs: {x: int}, outputs: {o: optional<int>}}
runner: {builtin: noop}
---
kind: Task
name: take
version: v1
interface: {inputs: {o: optional<int>}, outputs: {}}
runner: {builtin: noop}
---
kind: Workflow
name: optional-chain
version: v1
nodes:
  - {id: m, task: maybe@v1, inputs: {x: 1}}
  - {id: t, task: take@v1, inputs: {o: "${m.o}"}}
"#,
    );
    let id = f.launch("optional-chain", &[]);
    let attempt = f.assign(&id, "m");
    let now_ms = f.now;
    f.apply(Command::Complete {
        execution: id.clone(),
        node: 0,
        attempt,
        executor: "x".into(),
        outputs: Values::new(),
        log_size: 0,
        now_ms,
    });
    assert_eq!(f.phase(&id, "t"), NodePhase::Queued);
    let execution = f.state.execution(&id).unwrap();
    let inputs = f.state.node_inputs(execution, 1).expect("t's inputs bind");
    assert_eq!(inputs["o"], baton_model::Value::None);
}

#[test]
fn a_handed_back_attempt_runs_again_without_using_a_retry() {
    let mut f = Fixture::new("");
    let id = f.launch("outer", &[("n", 1)]);
    f.queued(&id);
    let attempt = f.assign(&id, "pre");
    let node = f.instance(&id, "pre");
    let now_ms = f.now;
    let response = f.apply(Command::HandBack {
        execution: id.clone(),
        node,
        attempt,
        executor: "x".into(),
        now_ms,
    });
    assert_eq!(response, Response::Done);
    assert_eq!(f.queued(&id), vec!["pre"]);
    let state = &f.state.execution(&id).unwrap().nodes[node as usize];
    assert_eq!((state.retries_used, state.lost_attempts), (0, 0));
    assert_eq!(state.phase, NodePhase::Queued);
    f.check(&id);
}
