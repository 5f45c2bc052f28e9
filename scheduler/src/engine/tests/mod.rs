//! The engine's tests: plain synchronous `#[test]`s that feed commands to
//! the state machine and assert on the instances and effects the engine
//! produced, one file per node kind over the fixture here.

mod branch;
mod cache;
mod gate;
mod looping;
mod map;
mod placement;
mod properties;
mod recovery;
mod subworkflow;
mod task;

use baton_model::{Identifier, Value, Values};

use crate::engine::path;
use crate::state::{
    register_command, Command, Effect, ExecutionId, NodePhase, Response, SchedulerState,
};

/// `inc` adds one (the fixture completes it so); `twice` runs it twice;
/// `outer` runs `inc`, then `twice` as a sub-workflow, then `inc`.
pub const SPECS: &str = r#"
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
interface: {inputs: {x: int}, outputs: {y: int}}
nodes:
  - {id: first, task: inc@v1, inputs: {x: "${inputs.x}"}}
  - {id: second, task: inc@v1, inputs: {x: "${first.x}"}}
outputs: {y: "${second.x}"}
---
kind: Workflow
name: outer
version: v1
interface: {inputs: {n: int}, outputs: {total: int}}
nodes:
  - {id: pre, task: inc@v1, inputs: {x: "${inputs.n}"}}
  - {id: sub, workflow: twice@v1, inputs: {x: "${pre.x}"}}
  - {id: post, task: inc@v1, inputs: {x: "${sub.y}"}}
outputs: {total: "${post.x}"}
"#;

pub struct Fixture {
    pub state: SchedulerState,
    pub effects: Vec<Effect>,
    pub now: u64,
}

impl Fixture {
    /// A state with [`SPECS`] and `more` registered.
    pub fn new(more: &str) -> Self {
        let mut fixture = Fixture {
            state: SchedulerState::default(),
            effects: Vec::new(),
            now: 1_000,
        };
        let response = fixture.apply(register_command(SPECS));
        assert!(matches!(response, Response::Registered(_)), "{response:?}");
        if !more.trim().is_empty() {
            let response = fixture.apply(register_command(more));
            assert!(matches!(response, Response::Registered(_)), "{response:?}");
        }
        fixture
    }

    pub fn apply(&mut self, command: Command) -> Response {
        self.now += 1;
        self.state.apply_one(command, &mut self.effects)
    }

    pub fn launch(&mut self, workflow: &str, inputs: &[(&str, i64)]) -> ExecutionId {
        let now_ms = self.now;
        let inputs = inputs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::Int(*v)))
            .collect();
        match self.apply(Command::Launch {
            workflow: Identifier::parse(workflow).unwrap(),
            inputs,
            pool: String::new(),
            request_id: String::new(),
            now_ms,
        }) {
            Response::Launched { execution, .. } => execution,
            other => panic!("launch failed: {other:?}"),
        }
    }

    /// The paths of the instances queued since the last call, in order.
    pub fn queued(&mut self, id: &ExecutionId) -> Vec<String> {
        let queued: Vec<u32> = self
            .effects
            .drain(..)
            .filter_map(|e| match e {
                Effect::NodeQueued { node, .. } => Some(node),
                _ => None,
            })
            .collect();
        queued.into_iter().map(|n| self.path(id, n)).collect()
    }

    pub fn path(&self, id: &ExecutionId, node: u32) -> String {
        let execution = self.state.execution(id).unwrap();
        self.state.node_path(execution, node)
    }

    pub fn instance(&self, id: &ExecutionId, path_text: &str) -> u32 {
        let execution = self.state.execution(id).unwrap();
        path::resolve(&self.state.registry(), execution, path_text).unwrap()
    }

    pub fn phase(&self, id: &ExecutionId, path_text: &str) -> NodePhase {
        let node = self.instance(id, path_text);
        self.state.execution(id).unwrap().nodes[node as usize].phase
    }

    pub fn assign(&mut self, id: &ExecutionId, path_text: &str) -> u32 {
        let node = self.instance(id, path_text);
        let now_ms = self.now;
        match self.apply(Command::Assign {
            execution: id.clone(),
            node,
            executor: "x".into(),
            now_ms,
        }) {
            Response::Assigned { attempt } => attempt,
            other => panic!("assign of {path_text} failed: {other:?}"),
        }
    }

    /// Assigns and completes an `inc` instance: its output is its input plus one.
    pub fn run_inc(&mut self, id: &ExecutionId, path_text: &str) {
        let attempt = self.assign(id, path_text);
        let node = self.instance(id, path_text);
        let execution = self.state.execution(id).unwrap();
        let inputs = self.state.node_inputs(execution, node).unwrap();
        let x = match inputs.get("x") {
            Some(Value::Int(x)) => *x,
            other => panic!("{path_text} has input {other:?}"),
        };
        let now_ms = self.now;
        let response = self.apply(Command::Complete {
            execution: id.clone(),
            node,
            attempt,
            executor: "x".into(),
            outputs: Values::from([("x".to_string(), Value::Int(x + 1))]),
            log_size: 0,
            now_ms,
        });
        assert_eq!(response, Response::Done, "{path_text}");
    }

    pub fn fail(&mut self, id: &ExecutionId, path_text: &str, retryable: bool) {
        let attempt = self.assign(id, path_text);
        let node = self.instance(id, path_text);
        let now_ms = self.now;
        self.apply(Command::Fail {
            execution: id.clone(),
            node,
            attempt,
            executor: "x".into(),
            error: "boom".into(),
            retryable,
            log_size: 0,
            now_ms,
        });
    }

    pub fn check(&self, id: &ExecutionId) {
        let execution = self.state.execution(id).unwrap();
        let problems = crate::engine::invariant::violations(&self.state.registry(), execution);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// The registration of `text`'s refusal, with the proof that nothing was stored.
    pub fn refused(&mut self, text: &str) -> String {
        let workflows = self.state.workflows.len();
        let tasks = self.state.tasks.len();
        let response = self.apply(register_command(text));
        assert_eq!(self.state.workflows.len(), workflows, "nothing stored");
        assert_eq!(self.state.tasks.len(), tasks, "nothing stored");
        match response {
            Response::Rejected(e) => e.to_string(),
            other => panic!("registered: {other:?}"),
        }
    }
}
