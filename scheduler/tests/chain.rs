//! Downstream nodes start on their upstream's result, before it commits
//! (the dispatcher's `start_downstream`): a hand-driven executor on real
//! scheduler nodes in this process gets each node with its upstream's
//! outputs as inputs, gets it even while the upstream's result cannot
//! commit, and gets nothing from a result that will not count.

mod common;

use std::time::Duration;

use baton_proto::executor_client::ExecutorClient;
use baton_proto::v1::admin_client::AdminClient;
use baton_proto::v1::{ClusterStatusRequest, GetExecutionRequest, Identifier, LaunchRequest};
use baton_proto::{
    attempt_result, executor_message, scheduler_message, value, AttemptFailure, AttemptRef,
    AttemptResult, ExecutorMessage, Outputs, RegisterExecutor, SchedulerMessage, Value,
    PROTOCOL_VERSION,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

/// `chain`: a → b → c, each passing `x` on. `join`: c reads both a and b.
const SPECS: &str = r#"
kind: Task
name: pass
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
runner: {builtin: noop}
---
kind: Workflow
name: chain
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
nodes:
  - {id: a, task: pass@v1, inputs: {x: "${inputs.x}"}}
  - {id: b, task: pass@v1, inputs: {x: "${a.x}"}}
  - {id: c, task: pass@v1, inputs: {x: "${b.x}"}}
outputs: {x: "${c.x}"}
---
kind: Task
name: add
version: v1
interface: {inputs: {l: int, r: int}, outputs: {x: int}}
runner: {builtin: noop}
---
kind: Workflow
name: join
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
nodes:
  - {id: a, task: pass@v1, inputs: {x: "${inputs.x}"}}
  - {id: b, task: pass@v1, inputs: {x: "${inputs.x}"}}
  - {id: c, task: add@v1, inputs: {l: "${a.x}", r: "${b.x}"}}
outputs: {x: "${c.x}"}
"#;

struct FakeExecutor {
    outbound: mpsc::UnboundedSender<ExecutorMessage>,
    inbound: Streaming<SchedulerMessage>,
}

impl FakeExecutor {
    async fn connect(channel: Channel) -> FakeExecutor {
        let (outbound, requests) = mpsc::unbounded_channel();
        outbound
            .send(ExecutorMessage {
                kind: Some(executor_message::Kind::Register(RegisterExecutor {
                    executor_id: "fake".into(),
                    pool: "default".into(),
                    slots: 8,
                    runners: vec!["builtin".into()],
                    protocol_version: PROTOCOL_VERSION,
                    ..Default::default()
                })),
            })
            .unwrap();
        let mut client = ExecutorClient::new(channel);
        let inbound = client
            .session(UnboundedReceiverStream::new(requests))
            .await
            .unwrap()
            .into_inner();
        let mut executor = FakeExecutor { outbound, inbound };
        match executor.next().await {
            scheduler_message::Kind::Registered(_) => executor,
            other => panic!("expected Registered, got {other:?}"),
        }
    }

    async fn next(&mut self) -> scheduler_message::Kind {
        let message = tokio::time::timeout(Duration::from_secs(10), self.inbound.message())
            .await
            .expect("the scheduler sent nothing for 10 s")
            .unwrap()
            .expect("the stream ended");
        message.kind.unwrap()
    }

    /// The next message that is not an acknowledgement, and the attempts
    /// acknowledged before it.
    async fn next_assign(&mut self) -> (baton_proto::Assign, Vec<AttemptRef>) {
        let mut acked = Vec::new();
        loop {
            match self.next().await {
                scheduler_message::Kind::Assign(assign) => return (assign, acked),
                scheduler_message::Kind::Ack(ack) => acked.extend(ack.attempts),
                other => panic!("expected an Assign, got {other:?}"),
            }
        }
    }

    fn report(&self, attempt: AttemptRef, outcome: attempt_result::Outcome) {
        self.outbound
            .send(ExecutorMessage {
                kind: Some(executor_message::Kind::Result(AttemptResult {
                    attempt: Some(attempt),
                    outcome: Some(outcome),
                    log: String::new(),
                })),
            })
            .unwrap();
    }

    fn succeed(&self, attempt: AttemptRef, outputs: &[(&str, i64)]) {
        let values = outputs
            .iter()
            .map(|(name, x)| (name.to_string(), int(*x)))
            .collect();
        self.report(
            attempt,
            attempt_result::Outcome::Succeeded(Outputs { values }),
        );
    }
}

fn int(x: i64) -> Value {
    Value {
        kind: Some(value::Kind::IntValue(x)),
    }
}

fn input(assign: &baton_proto::Assign, name: &str) -> i64 {
    match assign.inputs[name].kind {
        Some(value::Kind::IntValue(x)) => x,
        ref other => panic!("input {name} is {other:?}"),
    }
}

fn node_of(assign: &baton_proto::Assign) -> String {
    assign.attempt.as_ref().unwrap().node_id.clone()
}

async fn launch(admin: &mut AdminClient<Channel>, workflow: &str, x: i64) -> String {
    admin
        .launch(LaunchRequest {
            workflow: Some(Identifier {
                name: workflow.into(),
                ..Default::default()
            }),
            text_inputs: [("x".to_string(), x.to_string())].into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .execution_id
}

/// The execution once it is no longer running.
async fn finished(admin: &mut AdminClient<Channel>, id: &str) -> baton_proto::Execution {
    for _ in 0..200 {
        let execution = admin
            .get_execution(GetExecutionRequest {
                execution_id: id.into(),
            })
            .await
            .unwrap()
            .into_inner();
        if execution.phase != baton_proto::ExecutionPhase::ExecutionRunning as i32 {
            return execution;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{id} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_chain_node_gets_its_upstream_outputs() {
    let one = common::start().await;
    let mut admin = AdminClient::new(one.channel.clone());
    common::register(&mut admin, SPECS).await;
    let mut executor = FakeExecutor::connect(one.channel.clone()).await;
    let id = launch(&mut admin, "chain", 7).await;

    let (a, _) = executor.next_assign().await;
    assert_eq!((node_of(&a).as_str(), input(&a, "x")), ("a", 7));
    executor.succeed(a.attempt.clone().unwrap(), &[("x", 8)]);
    let (b, _) = executor.next_assign().await;
    assert_eq!((node_of(&b).as_str(), input(&b, "x")), ("b", 8));
    executor.succeed(b.attempt.clone().unwrap(), &[("x", 9)]);
    let (c, _) = executor.next_assign().await;
    assert_eq!((node_of(&c).as_str(), input(&c, "x")), ("c", 9));
    executor.succeed(c.attempt.clone().unwrap(), &[("x", 10)]);

    let done = finished(&mut admin, &id).await;
    assert_eq!(
        done.phase,
        baton_proto::ExecutionPhase::ExecutionSucceeded as i32,
        "{}",
        done.error
    );
    assert_eq!(done.outputs["x"], int(10));
    one.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_that_will_not_count_starts_nothing_downstream() {
    let one = common::start().await;
    let mut admin = AdminClient::new(one.channel.clone());
    common::register(&mut admin, SPECS).await;
    let mut executor = FakeExecutor::connect(one.channel.clone()).await;

    // A result for an attempt that was never assigned: ignored, nothing starts.
    let id = launch(&mut admin, "chain", 1).await;
    let (a, _) = executor.next_assign().await;
    let mut stale = a.attempt.clone().unwrap();
    stale.attempt += 1;
    executor.succeed(stale, &[("x", 2)]);
    // Outputs of the wrong type: the state machine fails the node, so b
    // never runs.
    executor.succeed(a.attempt.clone().unwrap(), &[("y", 2)]);
    let done = finished(&mut admin, &id).await;
    assert_eq!(
        done.phase,
        baton_proto::ExecutionPhase::ExecutionFailed as i32
    );
    assert!(
        done.error.contains("output `x` (int) is missing"),
        "{}",
        done.error
    );

    // The next execution's first Assign is the next thing the executor
    // sees (acknowledgements aside): nothing of the failed one started.
    let next = launch(&mut admin, "chain", 3).await;
    let (a2, _) = executor.next_assign().await;
    assert_eq!(a2.attempt.as_ref().unwrap().execution_id, next);
    assert_eq!(node_of(&a2), "a");
    executor.report(
        a2.attempt.clone().unwrap(),
        attempt_result::Outcome::Failed(AttemptFailure {
            message: "no".into(),
            ..Default::default()
        }),
    );
    let done = finished(&mut admin, &next).await;
    assert_eq!(
        done.phase,
        baton_proto::ExecutionPhase::ExecutionFailed as i32
    );
    one.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_starts_once_every_upstream_result_is_in() {
    let one = common::start().await;
    let mut admin = AdminClient::new(one.channel.clone());
    common::register(&mut admin, SPECS).await;
    let mut executor = FakeExecutor::connect(one.channel.clone()).await;
    let id = launch(&mut admin, "join", 5).await;

    let (first, _) = executor.next_assign().await;
    let (second, _) = executor.next_assign().await;
    let mut firsts = [node_of(&first), node_of(&second)];
    firsts.sort();
    assert_eq!(firsts, ["a", "b"]);
    let (a, b) = if node_of(&first) == "a" {
        (first, second)
    } else {
        (second, first)
    };
    executor.succeed(a.attempt.clone().unwrap(), &[("x", 20)]);
    // Give a's result time to commit: c must still wait for b.
    tokio::time::sleep(Duration::from_millis(200)).await;
    executor.succeed(b.attempt.clone().unwrap(), &[("x", 22)]);
    let (c, _) = executor.next_assign().await;
    assert_eq!(node_of(&c), "c");
    assert_eq!((input(&c, "l"), input(&c, "r")), (20, 22));
    executor.succeed(c.attempt.clone().unwrap(), &[("x", 42)]);
    let done = finished(&mut admin, &id).await;
    assert_eq!(done.outputs["x"], int(42));
    one.node.shutdown().await;
}

/// The leader of `nodes`, once one is elected (its index).
async fn leader(nodes: &[common::OneNode]) -> usize {
    for _ in 0..200 {
        for (i, one) in nodes.iter().enumerate() {
            let mut admin = AdminClient::new(one.channel.clone());
            if let Ok(status) = admin.cluster_status(ClusterStatusRequest::default()).await {
                if status.into_inner().role == "Leader" {
                    return i;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no leader elected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_node_starts_while_its_upstream_result_cannot_commit() {
    let mut nodes = common::start_cluster(3).await;
    let leading = leader(&nodes).await;
    let one = nodes.remove(leading);
    let mut admin = AdminClient::new(one.channel.clone());
    common::register(&mut admin, SPECS).await;
    let mut executor = FakeExecutor::connect(one.channel.clone()).await;
    launch(&mut admin, "chain", 7).await;
    let (a, _) = executor.next_assign().await;

    // With both followers gone, nothing more commits; b starts all the same.
    for follower in nodes {
        follower.node.shutdown().await;
    }
    executor.succeed(a.attempt.clone().unwrap(), &[("x", 8)]);
    let (b, acked) = executor.next_assign().await;
    assert_eq!((node_of(&b).as_str(), input(&b, "x")), ("b", 8));
    assert!(
        acked.is_empty(),
        "a's result cannot have been committed: {acked:?}"
    );
    one.node.shutdown().await;
}
