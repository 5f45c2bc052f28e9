//! Plain synchronous tests of the state machine: commands in, state,
//! responses and effects out.

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

#[test]
fn bad_launches_are_refused_and_change_nothing() {
    let mut h = Harness::new();
    let before = h.state.executions.len();
    let cases = [
        (
            "nosuch",
            Values::from([("n".to_string(), Value::Int(1))]),
            "unknown workflow",
        ),
        ("diamond", Values::new(), "missing required input `n` (int)"),
        (
            "diamond",
            Values::from([("n".to_string(), Value::String("x".into()))]),
            "input `n` (int): expected int",
        ),
        (
            "diamond",
            Values::from([
                ("n".to_string(), Value::Int(1)),
                ("m".to_string(), Value::Int(1)),
            ]),
            "unknown input `m`",
        ),
    ];
    for (workflow, inputs, expected) in cases {
        let now_ms = h.now;
        let workflow = Identifier::parse(workflow).unwrap();
        match h.apply(Command::Launch {
            workflow,
            inputs,
            pool: String::new(),
            request_id: String::new(),
            now_ms,
        }) {
            Response::Rejected(e) => {
                assert!(e.message.contains(expected), "{} vs {expected}", e.message)
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(h.state.executions.len(), before);
    assert_eq!(h.state.launches, 0);
}

#[test]
fn registered_versions_never_change() {
    let mut h = Harness::new();
    assert!(
        matches!(h.apply(register_command(SPECS)), Response::Registered(items) if items.iter().all(|(_, _, created)| !created))
    );
    let changed = SPECS.replacen("retries: 2", "retries: 3", 1);
    match h.apply(register_command(&changed)) {
        Response::Rejected(e) => {
            assert_eq!(e.code, ErrorCode::AlreadyExists);
            assert!(
                e.message
                    .contains("task `default/development/square@v1` is already registered"),
                "{}",
                e.message
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.state
            .tasks
            .values()
            .find(|t| t.id.name == "square")
            .unwrap()
            .retries,
        2
    );
}

#[test]
fn a_request_with_one_bad_workflow_registers_nothing() {
    let mut state = SchedulerState::default();
    let text = format!(
        "{SPECS}---\nkind: Workflow\nname: broken\nnodes: [{{id: a, task: nothing@v9, inputs: {{}}}}]\n"
    );
    match state.apply_one(register_command(&text), &mut Vec::new()) {
        Response::Rejected(e) => assert!(
            e.message
                .contains("unknown task `default/development/nothing@v9`"),
            "{}",
            e.message
        ),
        other => panic!("{other:?}"),
    }
    assert!(state.tasks.is_empty() && state.workflows.is_empty());
}

#[test]
fn unknown_builtins_are_refused() {
    let mut state = SchedulerState::default();
    let text = "kind: Task\nname: t\nrunner: {builtin: teleport}\n";
    match state.apply_one(register_command(text), &mut Vec::new()) {
        Response::Rejected(e) => assert!(
            e.message.contains("unknown builtin `teleport`"),
            "{}",
            e.message
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn state_survives_postcard_roundtrip() {
    let mut h = Harness::new();
    let id = h.launch(4);
    let a = h.assign(&id, 0);
    h.complete(&id, 0, a);
    let bytes = postcard_roundtrip(&h.state);
    assert_eq!(bytes.executions[&id], h.state.executions[&id]);
    assert_eq!(
        bytes
            .workflow(&Identifier::parse("diamond").unwrap().with_global_defaults())
            .unwrap()
            .node_index("d"),
        Some(3)
    );
}

#[test]
fn a_shared_entry_is_encoded_like_the_commands_it_holds() {
    // Log entries written before commands were shared must still decode.
    let commands = vec![
        register_command(SPECS),
        Command::Cancel {
            execution: ExecutionId("diamond-1".into()),
            now_ms: 7,
        },
    ];
    let plain = postcard::to_stdvec(&commands).unwrap();
    let shared: Commands = Arc::new(commands);
    assert_eq!(postcard::to_stdvec(&shared).unwrap(), plain);
    let decoded: Commands = postcard::from_bytes(&plain).unwrap();
    assert_eq!(decoded.len(), 2);
    assert_eq!(postcard::to_stdvec(&decoded).unwrap(), plain);
}

fn postcard_roundtrip(state: &SchedulerState) -> SchedulerState {
    let bytes = postcard::to_stdvec(state).unwrap();
    postcard::from_bytes(&bytes).unwrap()
}

#[derive(Clone, Debug)]
enum Op {
    Assign(u32),
    Complete(u32),
    Fail(u32, bool),
    Lose(u32),
    Cancel,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..4).prop_map(Op::Assign),
        4 => (0u32..4).prop_map(Op::Complete),
        1 => ((0u32..4), any::<bool>()).prop_map(|(n, r)| Op::Fail(n, r)),
        1 => (0u32..4).prop_map(Op::Lose),
        1 => Just(Op::Cancel),
    ]
}

proptest! {
    /// Whatever order commands arrive in, no node runs before its upstream
    /// nodes succeeded, and each node's success is recorded at most once.
    #[test]
    fn invariants_hold_under_any_command_order(ops in prop::collection::vec(op(), 1..60)) {
        let mut h = Harness::new();
        let id = h.launch(1);
        for op in ops {
            let attempt = |h: &Harness, n: u32| h.state.execution(&id).unwrap().nodes[n as usize].attempt;
            match op {
                Op::Assign(n) => {
                    let now_ms = h.now;
                    if let Response::Assigned { .. } = h.apply(Command::Assign { execution: id.clone(), node: n, executor: "x".into(), now_ms }) {
                        let execution = h.state.execution(&id).unwrap();
                        let workflow = h.state.workflow_of(execution).unwrap();
                        for &up in &workflow.nodes[n as usize].upstream {
                            prop_assert_eq!(execution.nodes[up as usize].phase, NodePhase::Succeeded);
                        }
                    }
                }
                Op::Complete(n) => {
                    let a = attempt(&h, n);
                    if h.phase(&id, n) == NodePhase::Running { h.complete(&id, n, a); }
                    else { h.complete(&id, n, a.max(1)); }
                }
                Op::Fail(n, retryable) => { let a = attempt(&h, n); h.fail(&id, n, a, retryable); }
                Op::Lose(n) => {
                    let now_ms = h.now;
                    let a = attempt(&h, n);
                    h.apply(Command::LeaseLost { execution: id.clone(), node: n, attempt: a, now_ms });
                }
                Op::Cancel => { let now_ms = h.now; h.apply(Command::Cancel { execution: id.clone(), now_ms }); }
            }
        }
        let execution = h.state.execution(&id).unwrap();
        for node in 0..4u32 {
            let successes = execution.events.iter().filter(|e| matches!(e.subject, EventSubject::Node { node: n, phase: NodePhase::Succeeded, .. } if n == node)).count();
            prop_assert!(successes <= 1);
        }
        let unfinished = execution.nodes.iter().filter(|n| !n.phase.is_terminal()).count() as u32;
        prop_assert_eq!(execution.phase.is_terminal(), unfinished == 0);
        let problems = crate::engine::invariant::violations(&h.state.registry(), execution);
        prop_assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}

#[test]
fn a_launch_retried_with_its_request_id_creates_one_execution() {
    let mut h = Harness::new();
    let launch = |h: &mut Harness| {
        let now_ms = h.now;
        h.apply(Command::Launch {
            workflow: Identifier::parse("diamond").unwrap(),
            inputs: Values::from([("n".to_string(), Value::Int(1))]),
            pool: String::new(),
            request_id: "req-1".into(),
            now_ms,
        })
    };
    let first = launch(&mut h);
    let again = launch(&mut h);
    assert_eq!(first, again);
    assert_eq!(h.state.executions.len(), 1);
}

#[test]
fn numbered_launches_take_only_reserved_numbers_and_each_once() {
    let mut h = Harness::new();
    let plain = h.launch(1);
    assert_eq!(plain.to_string(), "diamond-1");
    h.queued();
    let (first, last) = match h.apply(Command::ReserveLaunches { count: 10 }) {
        Response::Reserved { first, last } => (first, last),
        other => panic!("{other:?}"),
    };
    assert_eq!((first, last), (2, 11));
    match h.launch_numbered(5, "") {
        Response::Launched { execution, .. } => assert_eq!(execution.to_string(), "diamond-5"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.queued(),
        [0],
        "its first node is queued as for any launch"
    );
    // Taken, or never reserved: refused, nothing changes.
    for number in [5, 12] {
        let before = h.state.executions.len();
        match h.launch_numbered(number, "") {
            Response::Rejected(e) => assert!(
                e.message.contains(&format!("launch number {number}")),
                "{}",
                e.message
            ),
            other => panic!("{number}: {other:?}"),
        }
        assert_eq!(h.state.executions.len(), before);
    }
    assert_eq!(
        h.state.launches, 11,
        "a numbered launch takes no new number"
    );
    // A launch numbered when applied goes past every reservation.
    assert_eq!(h.launch(3).to_string(), "diamond-12");
}

#[test]
fn a_numbered_launch_retried_with_its_request_id_creates_nothing() {
    let mut h = Harness::new();
    h.apply(Command::ReserveLaunches { count: 4 });
    let first = match h.launch_numbered(1, "req-7") {
        Response::Launched { execution, .. } => execution,
        other => panic!("{other:?}"),
    };
    h.queued();
    match h.launch_numbered(2, "req-7") {
        Response::Launched { execution, .. } => assert_eq!(execution, first),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.state.executions.len(), 1);
    assert!(h.queued().is_empty(), "the retry queued nothing");
}

const POOL_SPECS: &str = r#"
kind: Task
name: on-gpu
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
runner: {builtin: noop}
pool: gpu
---
kind: Task
name: anywhere
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
runner: {builtin: noop}
---
kind: Workflow
name: pools
version: v1
interface: {inputs: {n: int}, outputs: {x: int}}
nodes:
  - {id: own, task: anywhere@v1, inputs: {x: "${inputs.n}"}, pool: big}
  - {id: task, task: on-gpu@v1, inputs: {x: "${own.x}"}}
  - {id: plain, task: anywhere@v1, inputs: {x: "${own.x}"}}
outputs: {x: "${plain.x}"}
---
kind: Workflow
name: pinned
version: v1
interface: {inputs: {n: int}, outputs: {x: int}}
pool: cpu
nodes:
  - {id: task, task: on-gpu@v1, inputs: {x: "${inputs.n}"}}
outputs: {x: "${task.x}"}
"#;

/// Launches `workflow` pinned to `pool` ("" for none) and returns each
/// node's pool, as queued once the first node has completed.
fn queued_pools(workflow: &str, pool: &str) -> Vec<String> {
    let mut h = Harness::new();
    assert!(matches!(
        h.apply(register_command(POOL_SPECS)),
        Response::Registered(_)
    ));
    let now_ms = h.now;
    let id = match h.apply(Command::Launch {
        workflow: Identifier::parse(workflow).unwrap(),
        inputs: Values::from([("n".to_string(), Value::Int(2))]),
        pool: pool.into(),
        request_id: String::new(),
        now_ms,
    }) {
        Response::Launched { execution, .. } => execution,
        other => panic!("launch failed: {other:?}"),
    };
    let mut pools = BTreeMap::new();
    let mut take = |effects: &mut Vec<Effect>| {
        for effect in effects.drain(..) {
            if let Effect::NodeQueued { node, pool, .. } = effect {
                pools.insert(node, pool.to_string());
            }
        }
    };
    take(&mut h.effects);
    let attempt = h.assign(&id, 0);
    let r = h.complete(&id, 0, attempt);
    assert!(matches!(r, Response::Done), "{r:?}");
    take(&mut h.effects);
    pools.into_values().collect()
}

#[test]
fn a_node_runs_in_the_first_pool_pinned_by_node_launch_workflow_task() {
    // Node pin, task pool, default.
    assert_eq!(queued_pools("pools", ""), ["big", "gpu", "default"]);
    // A launch pin beats the task's pool, not the node's own.
    assert_eq!(
        queued_pools("pools", "tenant-a"),
        ["big", "tenant-a", "tenant-a"]
    );
    // A workflow pin beats the task's pool; a launch pin beats the workflow's.
    assert_eq!(queued_pools("pinned", ""), ["cpu"]);
    assert_eq!(queued_pools("pinned", "tenant-a"), ["tenant-a"]);
}

#[test]
fn expire_drops_finished_executions_only_and_remembers_them() {
    let mut h = Harness::new();
    let now_ms = h.now;
    let launched = h.apply(Command::Launch {
        workflow: Identifier::parse("diamond").unwrap(),
        inputs: Values::from([("n".to_string(), Value::Int(1))]),
        pool: String::new(),
        request_id: "req-1".into(),
        now_ms,
    });
    let Response::Launched {
        execution: done, ..
    } = launched
    else {
        panic!("{launched:?}");
    };
    let running = h.launch(2);
    h.apply(Command::Cancel {
        execution: done.clone(),
        now_ms,
    });
    let before = postcard_roundtrip(&h.state).executions.len();
    assert_eq!(before, 2);
    let expired = h.apply(Command::Expire {
        executions: vec![done.clone(), running.clone(), ExecutionId("nope-9".into())],
        now_ms,
    });
    assert_eq!(expired, Response::Done);
    assert!(h.state.execution(&done).is_none());
    assert!(h.state.execution(&running).is_some(), "a running one stays");
    assert_eq!(h.state.execution_order, std::slice::from_ref(&running));
    assert!(
        h.state.launch_requests.is_empty(),
        "its request id goes too"
    );
    assert!(h.state.missing_execution(&done).contains("expired"));
    assert!(h
        .state
        .missing_execution(&ExecutionId("nope-9".into()))
        .starts_with("unknown"));
    // Nothing left to expire: nothing changes.
    assert!(matches!(
        h.apply(Command::Expire {
            executions: vec![done.clone(), running],
            now_ms
        }),
        Response::Ignored(_)
    ));
    // What is expired survives a snapshot.
    let restored = postcard_roundtrip(&h.state);
    assert!(restored.missing_execution(&done).contains("expired"));
    match h.apply(Command::Recover {
        from: done,
        relaunch: false,
        request_id: String::new(),
        now_ms,
    }) {
        Response::Rejected(e) => assert!(e.message.contains("expired"), "{e:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn due_for_expiry_follows_each_projects_retention() {
    use retention::Retention;
    let mut h = Harness::new();
    let id = h.launch(1);
    let now_ms = h.now;
    h.apply(Command::Cancel {
        execution: id.clone(),
        now_ms,
    });
    let finished = h.state.execution(&id).unwrap().finished_at_ms;
    let hour = Retention::For { ms: 3_600_000 };
    assert!(h
        .state
        .due_for_expiry(finished + 3_599_999, hour, 10)
        .is_empty());
    assert_eq!(
        h.state.due_for_expiry(finished + 3_600_000, hour, 10),
        std::slice::from_ref(&id)
    );
    assert!(h
        .state
        .due_for_expiry(u64::MAX, Retention::Forever, 10)
        .is_empty());
    let project = h.state.execution(&id).unwrap().project.to_string();
    let set = h.apply(Command::SetRetention {
        project: project.clone(),
        retention: Some(Retention::Forever),
        now_ms,
    });
    assert_eq!(set, Response::Done);
    assert!(h.effects.contains(&Effect::RetentionChanged));
    assert!(
        h.state.due_for_expiry(u64::MAX, hour, 10).is_empty(),
        "the project's own comes first"
    );
    let refused = h.apply(Command::SetRetention {
        project,
        retention: Some(Retention::For { ms: 0 }),
        now_ms,
    });
    assert!(matches!(refused, Response::Rejected(_)), "{refused:?}");
}
