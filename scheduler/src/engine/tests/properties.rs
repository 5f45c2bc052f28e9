//! Property tests over random workflows of every node kind (task,
//! sub-workflow, loop, branch, map), driven by random commands in random
//! orders, with crashes: DESIGN.md §10's invariants 2 (a node's result is
//! recorded at most once), 3 (no node runs before its upstream succeeded,
//! with every other invariant of `engine::invariant`, checked after every
//! apply) and 6 (the state replayed from the log, or restored from a
//! snapshot and replayed from there, equals the state before the crash).

use std::collections::BTreeMap;

use baton_model::{Identifier, Value, Values};
use proptest::prelude::*;

use crate::state::{
    register_command, Command, Effect, EventSubject, ExecutionId, NodePhase, Response,
    SchedulerState,
};

/// The callees the random workflows use; each offers `x: int`.
const CALLEES: &str = r#"
kind: Task
name: inc
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
runner: {builtin: noop}
retries: 1
---
kind: Workflow
name: twice
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
nodes:
  - {id: first, task: inc@v1, inputs: {x: "${inputs.x}"}}
  - {id: second, task: inc@v1, inputs: {x: "${first.x}"}}
outputs: {x: "${second.x}"}
---
kind: Workflow
name: counting
version: v1
interface: {inputs: {x: int, limit: int}, outputs: {x: int, past: list<int>}}
nodes:
  - {id: inc, task: inc@v1, inputs: {x: "${inputs.x}"}}
outputs: {x: "${inc.x}", past: "${history.x}"}
---
kind: Task
name: add
version: v1
interface: {inputs: {a: int, b: int}, outputs: {x: int}}
runner: {builtin: noop}
"#;

#[derive(Clone, Debug)]
enum Kind {
    Task,
    /// `add` of this node's source and another earlier node's `x`.
    Join(usize),
    Sub,
    Loop {
        limit: i64,
        max: u32,
        retry: u32,
    },
    Branch {
        threshold: i64,
    },
    Map {
        concurrency: u32,
        tolerate: u32,
    },
}

#[derive(Clone, Debug)]
struct NodeChoice {
    kind: Kind,
    /// Reads `x` from this earlier node (modulo the non-map ones so far),
    /// or from the workflow's input.
    from: Option<usize>,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::Task),
        2 => (0usize..8).prop_map(Kind::Join),
        2 => Just(Kind::Sub),
        2 => (0i64..6, 1u32..4, 0u32..2).prop_map(|(limit, max, retry)| Kind::Loop { limit, max, retry }),
        2 => (0i64..8).prop_map(|threshold| Kind::Branch { threshold }),
        2 => (0u32..3, 0u32..2).prop_map(|(concurrency, tolerate)| Kind::Map { concurrency, tolerate }),
    ]
}

fn workflow() -> impl Strategy<Value = Vec<NodeChoice>> {
    prop::collection::vec(
        (kind(), prop::option::of(0usize..8)).prop_map(|(kind, from)| NodeChoice { kind, from }),
        1..6,
    )
}

/// The random workflow as YAML: nodes that offer `x: int` may feed later
/// nodes; maps (which offer lists) are leaves.
fn yaml(nodes: &[NodeChoice]) -> String {
    let mut text = String::from(
        "kind: Workflow\nname: random\nversion: v1\ninterface: {inputs: {n: int, xs: list<int>}}\nnodes:\n",
    );
    let mut feeders: Vec<usize> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let source = match (node.from, feeders.is_empty()) {
            (Some(j), false) => format!("${{n{}.x}}", feeders[j % feeders.len()]),
            _ => "${inputs.n}".to_string(),
        };
        let line = match &node.kind {
            Kind::Task => format!("{{id: n{i}, task: inc@v1, inputs: {{x: \"{source}\"}}}}"),
            Kind::Join(other) => {
                let other = match feeders.is_empty() {
                    true => "${inputs.n}".to_string(),
                    false => format!("${{n{}.x}}", feeders[other % feeders.len()]),
                };
                format!("{{id: n{i}, task: add@v1, inputs: {{a: \"{source}\", b: \"{other}\"}}}}")
            }
            Kind::Sub => format!("{{id: n{i}, workflow: twice@v1, inputs: {{x: \"{source}\"}}}}"),
            Kind::Loop { limit, max, retry } => format!(
                "{{id: n{i}, loop: {{body: counting@v1, inputs: {{x: \"{source}\", limit: {limit}}}, carry: {{x: x}}, until: \"x >= limit\", max_iterations: {max}, retry_iteration: {retry}}}}}"
            ),
            Kind::Branch { threshold } => format!(
                "{{id: n{i}, branch: {{inputs: {{x: \"{source}\"}}, cases: [{{when: \"x > {threshold}\", task: inc@v1}}], else: {{workflow: twice@v1}}, outputs: {{x: int}}}}}}"
            ),
            Kind::Map { concurrency, tolerate } => format!(
                "{{id: n{i}, map: {{task: inc@v1, over: x, inputs: {{x: \"${{inputs.xs}}\"}}, concurrency: {concurrency}, tolerate: {tolerate}}}}}"
            ),
        };
        text.push_str(&format!("  - {line}\n"));
        if !matches!(node.kind, Kind::Map { .. }) {
            feeders.push(i);
        }
    }
    text
}

#[derive(Clone, Debug)]
enum Op {
    /// Act on the k-th task instance that is queued or running.
    Act(usize, Outcome),
    /// Report a result for an attempt that is not current.
    Stale(usize),
    Cancel,
    /// Crash and recover: replay the log, or restore a snapshot taken
    /// that many commands ago and replay the rest.
    Crash(usize),
}

#[derive(Clone, Copy, Debug)]
enum Outcome {
    Succeed,
    Fail { retryable: bool },
    Lose,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        40 => (0usize..16, prop_oneof![
            6 => Just(Outcome::Succeed),
            1 => any::<bool>().prop_map(|retryable| Outcome::Fail { retryable }),
            1 => Just(Outcome::Lose),
        ]).prop_map(|(k, o)| Op::Act(k, o)),
        3 => (0usize..16).prop_map(Op::Stale),
        3 => (0usize..40).prop_map(Op::Crash),
        // Rare: most runs should reach their end.
        1 => Just(Op::Cancel),
    ]
}

struct World {
    state: SchedulerState,
    log: Vec<Command>,
    now: u64,
}

impl World {
    fn apply(&mut self, command: Command) -> Response {
        self.now += 1;
        self.log.push(command.clone());
        let mut effects: Vec<Effect> = Vec::new();
        self.state.apply_one(command, &mut effects)
    }

    /// Task instances queued or running, in order.
    fn active(&self, id: &ExecutionId) -> Vec<(u32, NodePhase, u32)> {
        let execution = self.state.execution(id).unwrap();
        let registry = self.state.registry();
        (0..execution.nodes.len() as u32)
            .filter(|&n| registry.task_of(execution, n).is_some())
            .map(|n| {
                let s = &execution.nodes[n as usize];
                (n, s.phase, s.attempt)
            })
            .filter(|(_, phase, _)| matches!(phase, NodePhase::Queued | NodePhase::Running))
            .collect()
    }

    fn act(
        &mut self,
        id: &ExecutionId,
        node: u32,
        phase: NodePhase,
        attempt: u32,
        outcome: Outcome,
    ) {
        let now_ms = self.now;
        let command = match (phase, outcome) {
            (NodePhase::Queued, _) => Command::Assign {
                execution: id.clone(),
                node,
                executor: "x".into(),
                now_ms,
            },
            (_, Outcome::Succeed) => {
                let execution = self.state.execution(id).unwrap();
                let inputs = self.state.node_inputs(execution, node).unwrap_or_default();
                let int = |name: &str| match inputs.get(name) {
                    Some(Value::Int(x)) => *x,
                    _ => 0,
                };
                let x = int("x") + int("a") + int("b");
                Command::Complete {
                    execution: id.clone(),
                    node,
                    attempt,
                    executor: "x".into(),
                    outputs: Values::from([("x".to_string(), Value::Int(x + 1))]),
                    log_size: 0,
                    now_ms,
                }
            }
            (_, Outcome::Fail { retryable }) => Command::Fail {
                execution: id.clone(),
                node,
                attempt,
                executor: "x".into(),
                error: "boom".into(),
                retryable,
                log_size: 0,
                now_ms,
            },
            (_, Outcome::Lose) => Command::LeaseLost {
                execution: id.clone(),
                node,
                attempt,
                now_ms,
            },
        };
        self.apply(command);
    }

    fn executions_bytes(state: &SchedulerState) -> Vec<u8> {
        postcard::to_allocvec(&state.executions).unwrap()
    }

    /// Replays the log into a fresh state, or restores the state as it was
    /// `back` commands ago (a snapshot) and replays the rest; either must
    /// equal the live state.
    fn crash(&mut self, back: usize) -> Result<(), TestCaseError> {
        let mut replayed = SchedulerState::default();
        let mut effects = Vec::new();
        let split = self.log.len().saturating_sub(back);
        for command in &self.log[..split] {
            replayed.apply_one(command.clone(), &mut effects);
        }
        let bytes = postcard::to_allocvec(&replayed).unwrap();
        let mut restored: SchedulerState = postcard::from_bytes(&bytes).unwrap();
        for command in &self.log[split..] {
            restored.apply_one(command.clone(), &mut effects);
        }
        prop_assert_eq!(
            Self::executions_bytes(&restored),
            Self::executions_bytes(&self.state),
            "the state rebuilt from a snapshot and the log differs"
        );
        // Recovery goes on from the rebuilt state.
        self.state = restored;
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_workflows_of_every_kind_keep_the_invariants(
        nodes in workflow(),
        xs in prop::collection::vec(0i64..5, 0..5),
        n in 0i64..8,
        ops in prop::collection::vec(op(), 0..80),
    ) {
        let mut world = World { state: SchedulerState::default(), log: Vec::new(), now: 1_000 };
        let registered = world.apply(register_command(CALLEES));
        prop_assert!(matches!(registered, Response::Registered(_)), "{:?}", registered);
        let text = yaml(&nodes);
        let registered = world.apply(register_command(&text));
        prop_assert!(matches!(registered, Response::Registered(_)), "{:?}\n{}", registered, text);
        let now_ms = world.now;
        let launched = world.apply(Command::Launch {
            workflow: Identifier::parse("random").unwrap(),
            inputs: Values::from([
                ("n".to_string(), Value::Int(n)),
                ("xs".to_string(), Value::List(xs.into_iter().map(Value::Int).collect())),
            ]),
            pool: String::new(),
            request_id: String::new(),
            now_ms,
        });
        let Response::Launched { execution: id, .. } = launched else {
            return Err(TestCaseError::fail(format!("{launched:?}")));
        };
        for op in ops {
            let active = world.active(&id);
            match op {
                Op::Act(k, outcome) if !active.is_empty() => {
                    let (node, phase, attempt) = active[k % active.len()];
                    world.act(&id, node, phase, attempt, outcome);
                }
                Op::Stale(k) if !active.is_empty() => {
                    let (node, _, attempt) = active[k % active.len()];
                    let now_ms = world.now;
                    let response = world.apply(Command::Complete {
                        execution: id.clone(), node, attempt: attempt + 7, executor: "x".into(),
                        outputs: Values::new(), log_size: 0, now_ms,
                    });
                    prop_assert!(matches!(response, Response::Ignored(_)), "{:?}", response);
                }
                Op::Cancel => {
                    let now_ms = world.now;
                    world.apply(Command::Cancel { execution: id.clone(), now_ms });
                }
                Op::Crash(back) => world.crash(back)?,
                _ => {}
            }
        }
        // Drive what is left to its end: every attempt succeeds.
        for _ in 0..2_000 {
            let active = world.active(&id);
            let Some(&(node, phase, attempt)) = active.first() else { break };
            world.act(&id, node, phase, attempt, Outcome::Succeed);
        }
        let execution = world.state.execution(&id).unwrap();
        prop_assert!(execution.phase.is_terminal(), "the execution did not end:\n{}", text);
        // Invariant 2: each instance's success recorded at most once.
        let mut successes: BTreeMap<u32, usize> = BTreeMap::new();
        for event in &execution.events {
            if let EventSubject::Node { node, phase: NodePhase::Succeeded, .. } = event.subject {
                *successes.entry(node).or_default() += 1;
            }
        }
        prop_assert!(successes.values().all(|&n| n == 1), "{:?}", successes);
        // Invariant 3 and the engine's own.
        let problems = crate::engine::invariant::violations(&world.state.registry(), execution);
        prop_assert!(problems.is_empty(), "{}", problems.join("\n"));
        // Invariant 6, at the end too.
        world.crash(0)?;
    }
}
