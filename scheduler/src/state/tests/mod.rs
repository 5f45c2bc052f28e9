//! Plain synchronous tests of the state machine: commands in, state,
//! responses and effects out. Here a node's life (results, retries,
//! cancellation, leases); the other files by concern.

mod encoding;
mod launches;
mod placing_and_expiry;
mod refusals;

use baton_model::{Identifier, Value, Values};
use proptest::prelude::*;

use super::*;
use crate::error::ErrorCode;

const SPECS: &str = r#"
kind: Task
name: square
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
runner: {builtin: noop}
retries: 2
---
kind: Task
name: add
version: v1
interface: {inputs: {a: int, b: int}, outputs: {a: int}}
runner: {builtin: noop}
---
kind: Workflow
name: diamond
version: v1
interface: {inputs: {n: int}, outputs: {total: int}}
nodes:
  - {id: a, task: square@v1, inputs: {x: "${inputs.n}"}}
  - {id: b, task: square@v1, inputs: {x: "${a.x}"}}
  - {id: c, task: square@v1, inputs: {x: "${a.x}"}}
  - {id: d, task: add@v1, inputs: {a: "${b.x}", b: "${c.x}"}}
outputs: {total: "${d.a}"}
"#;

struct Harness {
    state: SchedulerState,
    effects: Vec<Effect>,
    now: u64,
}

impl Harness {
    fn new() -> Self {
        let mut h = Harness {
            state: SchedulerState::default(),
            effects: Vec::new(),
            now: 1_000,
        };
        let r = h.apply(register_command(SPECS));
        assert!(matches!(r, Response::Registered(_)), "{r:?}");
        h
    }

    fn apply(&mut self, command: Command) -> Response {
        self.now += 1;
        self.state.apply_one(command, &mut self.effects)
    }

    fn launch(&mut self, n: i64) -> ExecutionId {
        let inputs = Values::from([("n".to_string(), Value::Int(n))]);
        let now_ms = self.now;
        match self.apply(Command::Launch {
            workflow: Identifier::parse("diamond").unwrap(),
            inputs,
            pool: String::new(),
            request_id: String::new(),
            now_ms,
        }) {
            Response::Launched { execution, .. } => execution,
            other => panic!("launch failed: {other:?}"),
        }
    }

    /// Applies a launch of `diamond` (n = 2) under launch number `number`.
    fn launch_numbered(&mut self, number: u64, request_id: &str) -> Response {
        let now_ms = self.now;
        self.apply(Command::LaunchNumbered {
            number,
            workflow: Identifier::parse("diamond").unwrap(),
            inputs: Values::from([("n".to_string(), Value::Int(2))]),
            pool: String::new(),
            request_id: request_id.into(),
            now_ms,
        })
    }

    fn queued(&mut self) -> Vec<u32> {
        let mut nodes: Vec<u32> = self
            .effects
            .iter()
            .filter_map(|e| match e {
                Effect::NodeQueued { node, .. } => Some(*node),
                _ => None,
            })
            .collect();
        nodes.sort();
        self.effects.clear();
        nodes
    }

    fn assign(&mut self, id: &ExecutionId, node: u32) -> u32 {
        let now_ms = self.now;
        match self.apply(Command::Assign {
            execution: id.clone(),
            node,
            executor: "x".into(),
            now_ms,
        }) {
            Response::Assigned { attempt } => attempt,
            other => panic!("assign failed: {other:?}"),
        }
    }

    /// Completes with noop semantics: outputs = inputs.
    fn complete(&mut self, id: &ExecutionId, node: u32, attempt: u32) -> Response {
        let execution = self.state.execution(id).unwrap();
        let outputs = self.state.node_inputs(execution, node).unwrap_or_default();
        let outputs = if node == 3 {
            Values::from([("a".to_string(), Value::Int(99))])
        } else {
            outputs
        };
        let now_ms = self.now;
        self.apply(Command::Complete {
            execution: id.clone(),
            node,
            attempt,
            executor: "x".into(),
            outputs,
            log_size: 0,
            now_ms,
        })
    }

    fn fail(&mut self, id: &ExecutionId, node: u32, attempt: u32, retryable: bool) -> Response {
        let now_ms = self.now;
        self.apply(Command::Fail {
            execution: id.clone(),
            node,
            attempt,
            executor: "x".into(),
            error: "boom".into(),
            retryable,
            log_size: 5,
            now_ms,
        })
    }

    fn phase(&self, id: &ExecutionId, node: u32) -> NodePhase {
        self.state.execution(id).unwrap().nodes[node as usize].phase
    }
}

#[test]
fn diamond_runs_in_dependency_order_to_its_outputs() {
    let mut h = Harness::new();
    let id = h.launch(3);
    assert_eq!(h.queued(), vec![0], "only the root is ready");
    let a = h.assign(&id, 0);
    h.complete(&id, 0, a);
    assert_eq!(h.queued(), vec![1, 2]);
    assert_eq!(h.phase(&id, 3), NodePhase::Pending);
    let b = h.assign(&id, 1);
    h.complete(&id, 1, b);
    assert!(h.queued().is_empty(), "d still waits for c");
    let c = h.assign(&id, 2);
    h.complete(&id, 2, c);
    assert_eq!(h.queued(), vec![3]);
    let inputs = h
        .state
        .node_inputs(h.state.execution(&id).unwrap(), 3)
        .unwrap();
    assert_eq!(inputs["a"], Value::Int(3));
    let d = h.assign(&id, 3);
    h.complete(&id, 3, d);
    let execution = h.state.execution(&id).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Succeeded);
    assert_eq!(execution.outputs["total"], Value::Int(99));
    assert!(h
        .effects
        .iter()
        .any(|e| matches!(e, Effect::Event { finished: true, .. })));
}

#[test]
fn a_result_from_another_executor_is_ignored() {
    // An executor that ran an assignment which never committed may re-send
    // its result to the next leader, which has given the same attempt
    // number to another executor: that result must not count.
    let mut h = Harness::new();
    let id = h.launch(2);
    let a = h.assign(&id, 0);
    let now_ms = h.now;
    for command in [
        Command::Complete {
            execution: id.clone(),
            node: 0,
            attempt: a,
            executor: "y".into(),
            outputs: Values::new(),
            log_size: 0,
            now_ms,
        },
        Command::Fail {
            execution: id.clone(),
            node: 0,
            attempt: a,
            executor: "y".into(),
            error: "boom".into(),
            retryable: false,
            log_size: 0,
            now_ms,
        },
    ] {
        match h.apply(command) {
            Response::Ignored(why) => assert!(why.contains("not on `y`"), "{why}"),
            other => panic!("expected Ignored, got {other:?}"),
        }
        assert_eq!(h.phase(&id, 0), NodePhase::Running);
    }
    assert_eq!(h.complete(&id, 0, a), Response::Done);
}

#[test]
fn a_stale_or_repeated_completion_is_ignored() {
    let mut h = Harness::new();
    let id = h.launch(2);
    let a = h.assign(&id, 0);
    assert!(matches!(h.complete(&id, 0, a + 1), Response::Ignored(_)));
    assert_eq!(h.phase(&id, 0), NodePhase::Running);
    assert_eq!(h.complete(&id, 0, a), Response::Done);
    assert!(
        matches!(h.complete(&id, 0, a), Response::Ignored(_)),
        "recorded exactly once"
    );
    let events = &h.state.execution(&id).unwrap().events;
    let successes = events
        .iter()
        .filter(|e| {
            matches!(
                e.subject,
                EventSubject::Node {
                    node: 0,
                    phase: NodePhase::Succeeded,
                    ..
                }
            )
        })
        .count();
    assert_eq!(successes, 1);
}

#[test]
fn retryable_failures_use_the_tasks_retries_with_backoff() {
    let mut h = Harness::new();
    let id = h.launch(2);
    h.queued();
    let first = h.assign(&id, 0);
    h.fail(&id, 0, first, true);
    let not_before = h.effects.iter().find_map(|e| match e {
        Effect::NodeQueued { not_before_ms, .. } => Some(*not_before_ms),
        _ => None,
    });
    assert_eq!(
        not_before,
        Some(h.now - 1 + retry_backoff_ms(0)),
        "the command's time plus the backoff"
    );
    h.queued();
    let second = h.assign(&id, 0);
    assert_eq!(second, first + 1);
    h.fail(&id, 0, second, true);
    let third = h.assign(&id, 0);
    h.fail(&id, 0, third, true);
    let execution = h.state.execution(&id).unwrap();
    assert_eq!(execution.phase, ExecutionPhase::Failed);
    assert!(
        execution.error.contains("after 2 retries"),
        "{}",
        execution.error
    );
    assert_eq!(h.phase(&id, 1), NodePhase::Skipped);
    assert_eq!(execution.nodes[0].logs.len(), 3);
}

#[test]
fn a_non_retryable_failure_fails_at_once_and_cancels_running_siblings() {
    let mut h = Harness::new();
    let id = h.launch(2);
    let a = h.assign(&id, 0);
    h.complete(&id, 0, a);
    let b = h.assign(&id, 1);
    let c = h.assign(&id, 2);
    h.effects.clear();
    h.fail(&id, 1, b, false);
    assert_eq!(h.phase(&id, 1), NodePhase::Failed);
    assert_eq!(h.phase(&id, 2), NodePhase::Cancelled);
    assert_eq!(h.phase(&id, 3), NodePhase::Skipped);
    assert!(h
        .effects
        .iter()
        .any(|e| matches!(e, Effect::CancelAttempt { node: 2, attempt, .. } if *attempt == c)));
}

#[test]
fn cancel_stops_running_nodes_and_cancels_the_rest() {
    let mut h = Harness::new();
    let id = h.launch(2);
    let a = h.assign(&id, 0);
    h.effects.clear();
    let now_ms = h.now;
    assert_eq!(
        h.apply(Command::Cancel {
            execution: id.clone(),
            now_ms
        }),
        Response::Cancelled(ExecutionPhase::Cancelled)
    );
    assert!(h
        .effects
        .iter()
        .any(|e| matches!(e, Effect::CancelAttempt { node: 0, attempt, .. } if *attempt == a)));
    for node in 0..4 {
        assert_eq!(h.phase(&id, node), NodePhase::Cancelled);
    }
    assert!(
        matches!(h.complete(&id, 0, a), Response::Ignored(_)),
        "a late result changes nothing"
    );
    let unknown = ExecutionId("nope-1".into());
    match h.apply(Command::Cancel {
        execution: unknown,
        now_ms,
    }) {
        Response::Rejected(e) => assert_eq!(e.code, ErrorCode::NotFound),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_lost_lease_runs_the_node_again_without_charging_retries() {
    let mut h = Harness::new();
    let id = h.launch(2);
    let a = h.assign(&id, 0);
    h.effects.clear();
    let now_ms = h.now;
    assert_eq!(
        h.apply(Command::LeaseLost {
            execution: id.clone(),
            node: 0,
            attempt: a,
            now_ms
        }),
        Response::Done
    );
    assert_eq!(h.queued(), vec![0]);
    let node = &h.state.execution(&id).unwrap().nodes[0];
    assert_eq!((node.retries_used, node.lost_attempts), (0, 1));
    let again = h.assign(&id, 0);
    assert!(
        matches!(h.complete(&id, 0, a), Response::Ignored(_)),
        "the old attempt's late result is ignored"
    );
    assert_eq!(h.complete(&id, 0, again), Response::Done);
}

fn postcard_roundtrip(state: &SchedulerState) -> SchedulerState {
    let bytes = postcard::to_stdvec(state).unwrap();
    postcard::from_bytes(&bytes).unwrap()
}
