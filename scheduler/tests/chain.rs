//! Nodes start before what made them ready commits: downstream nodes on
//! their upstream's result (the dispatcher's `start_downstream`), a
//! launch's first nodes on the launch (`start_launch`). A hand-driven
//! executor on real scheduler nodes in this process gets each node with its
//! upstream's outputs as inputs, gets it even while the upstream's result
//! or the launch cannot commit, and gets nothing from a result that will
//! not count; a short first node's result commits with its launch.

mod common;

use std::time::Duration;

use baton_proto::v1::admin_client::AdminClient;
use baton_proto::v1::GetExecutionRequest;
use baton_proto::{attempt_result, scheduler_message, AttemptFailure};
use tonic::transport::Channel;

use common::executor::{input, int, leader, node_of, FakeExecutor};
use common::launch_request;

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

async fn launch(admin: &mut AdminClient<Channel>, workflow: &str, x: i64) -> String {
    admin
        .launch(launch_request(workflow, x, ""))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_s_first_node_starts_while_the_launch_cannot_commit() {
    let mut nodes = common::start_cluster(3).await;
    let leading = leader(&nodes).await;
    let one = nodes.remove(leading);
    let mut admin = AdminClient::new(one.channel.clone());
    common::register(&mut admin, SPECS).await;
    let mut executor = FakeExecutor::connect(one.channel.clone()).await;
    // The first launch of a term reserves launch numbers (one more commit).
    let first = launch(&mut admin, "chain", 1).await;
    let (a, _) = executor.next_assign().await;
    assert_eq!(a.attempt.as_ref().unwrap().execution_id, first);

    // With both followers gone, no launch commits; its first node starts
    // all the same, under the execution id the launch will have.
    for follower in nodes {
        follower.node.shutdown().await;
    }
    let mut stuck = admin.clone();
    let second = tokio::spawn(async move { stuck.launch(launch_request("chain", 2, "")).await });
    let (a2, _) = executor.next_assign().await;
    let attempt = a2.attempt.clone().unwrap();
    assert_eq!((attempt.node_id.as_str(), attempt.attempt), ("a", 1));
    assert_ne!(attempt.execution_id, first);
    assert_eq!(input(&a2, "x"), 2);

    // The launch cannot commit: the client is told (after the proposal's
    // time limit), and the node is cancelled where it runs.
    let refused = second.await.unwrap().unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    loop {
        match executor.next().await {
            scheduler_message::Kind::Cancel(cancelled) => {
                assert_eq!(cancelled, attempt);
                break;
            }
            scheduler_message::Kind::Ack(_) => {}
            other => panic!("expected a Cancel of {attempt:?}, got {other:?}"),
        }
    }
    one.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_of_a_launch_in_flight_starts_nothing_more() {
    let one = common::start_with(|config| config.linger = Duration::from_secs(60)).await;
    let mut admin = AdminClient::new(one.channel.clone());
    common::register(&mut admin, SPECS).await;
    let mut executor = FakeExecutor::connect(one.channel.clone()).await;
    let mut first = admin.clone();
    let first = tokio::spawn(async move { first.launch(launch_request("chain", 1, "r")).await });
    let (a, _) = executor.next_assign().await;
    // Retried while the first is held for a's result: answered with the
    // same execution, and nothing more is started.
    let retry = admin.launch(launch_request("chain", 1, "r")).await.unwrap();
    let id = a.attempt.as_ref().unwrap().execution_id.clone();
    assert_eq!(retry.into_inner().execution_id, id);
    assert_eq!(first.await.unwrap().unwrap().into_inner().execution_id, id);
    executor.succeed(a.attempt.clone().unwrap(), &[("x", 2)]);
    let (b, _) = executor.next_assign().await;
    assert_eq!(
        (
            b.attempt.as_ref().unwrap().execution_id.as_str(),
            node_of(&b).as_str()
        ),
        (id.as_str(), "b"),
        "the retry started no node of its own"
    );
    one.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_with_no_executor_free_is_acknowledged_at_once() {
    let one = common::start_with(|config| config.linger = Duration::from_secs(60)).await;
    let mut admin = AdminClient::new(one.channel.clone());
    common::register(&mut admin, SPECS).await;
    // No executor: nothing to wait for, so the launch is not held.
    let id = tokio::time::timeout(Duration::from_secs(5), launch(&mut admin, "chain", 3))
        .await
        .expect("a launch with nothing placed waited for the linger");
    let mut executor = FakeExecutor::connect(one.channel.clone()).await;
    let (a, _) = executor.next_assign().await;
    assert_eq!(a.attempt.as_ref().unwrap().execution_id, id);
    assert_eq!((node_of(&a).as_str(), input(&a, "x")), ("a", 3));
    one.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_waits_for_its_first_node_s_result_and_commits_with_it() {
    // A linger far longer than the test: the launch can only be proposed
    // together with its first node's result.
    let one = common::start_with(|config| config.linger = Duration::from_secs(60)).await;
    let mut admin = AdminClient::new(one.channel.clone());
    common::register(&mut admin, SPECS).await;
    let mut executor = FakeExecutor::connect(one.channel.clone()).await;
    let mut launching = admin.clone();
    let mut launched = tokio::spawn(async move { launch(&mut launching, "chain", 4).await });
    let (a, _) = executor.next_assign().await;
    assert_eq!((node_of(&a).as_str(), input(&a, "x")), ("a", 4));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut launched)
            .await
            .is_err(),
        "the launch was acknowledged before its first node's result came in"
    );
    executor.succeed(a.attempt.clone().unwrap(), &[("x", 5)]);
    let id = tokio::time::timeout(Duration::from_secs(10), launched)
        .await
        .expect("the launch was not acknowledged once the result came in")
        .unwrap();
    assert_eq!(a.attempt.as_ref().unwrap().execution_id, id);
    // Recorded with the launch: a has succeeded the moment it is acknowledged.
    let execution = admin
        .get_execution(GetExecutionRequest {
            execution_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let a_state = execution.nodes.iter().find(|n| n.id == "a").unwrap();
    assert_eq!(
        a_state.phase,
        baton_proto::NodePhase::NodeSucceeded as i32,
        "{a_state:?}"
    );
    let (b, _) = executor.next_assign().await;
    assert_eq!((node_of(&b).as_str(), input(&b, "x")), ("b", 5));
    one.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_held_when_leadership_moves_is_refused_and_never_made() {
    let nodes =
        common::start_cluster_with(3, |config| config.linger = Duration::from_secs(60)).await;
    let leading = leader(&nodes).await;
    let mut admin = AdminClient::new(nodes[leading].channel.clone());
    common::register(&mut admin, SPECS).await;
    let mut executor = FakeExecutor::connect(nodes[leading].channel.clone()).await;
    let mut held = admin.clone();
    let launched =
        tokio::spawn(async move { held.launch(launch_request("chain", 5, "moved")).await });
    // Its first node runs, and the launch waits for the node's result.
    let (a, _) = executor.next_assign().await;
    let id = a.attempt.as_ref().unwrap().execution_id.clone();

    // Another node takes the lead before the launch is proposed.
    let next = (leading + 1) % 3;
    nodes[next].node.cluster.elect().await.unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(10), launched)
        .await
        .expect("the held launch was never answered")
        .unwrap()
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("leadership moved"),
        "{refused:?}"
    );

    // Never made: the leader (whichever node won the election) knows no
    // such execution, and the client's retry with the same request id
    // launches it once, anew. Retried while elections settle.
    let mut retried = None;
    for _ in 0..100 {
        let mut admin = AdminClient::new(nodes[leader(&nodes).await].channel.clone());
        let missing = admin
            .get_execution(GetExecutionRequest {
                execution_id: id.clone(),
            })
            .await
            .map(|_| ());
        match missing {
            Err(status) if status.code() == tonic::Code::NotFound => {}
            Err(status) if status.code() == tonic::Code::Unavailable => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            other => panic!("the held launch was made: {other:?}"),
        }
        match admin.launch(launch_request("chain", 5, "moved")).await {
            Ok(launched) => {
                retried = Some(launched.into_inner().execution_id);
                break;
            }
            Err(status) if status.code() == tonic::Code::Unavailable => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("the retry was refused: {status:?}"),
        }
    }
    assert_ne!(retried.expect("no leader took the retry"), id);
    for one in nodes {
        one.node.shutdown().await;
    }
}
