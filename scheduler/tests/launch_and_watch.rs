//! LaunchAndWatch through the Admin API of real nodes: one call launches an
//! execution and streams its events to the end; a retry with the same
//! request id streams the same execution; a bad launch is refused before
//! anything is launched; a follower forwards the call to the leader.

mod common;

use baton_proto::v1::admin_client::AdminClient;
use baton_proto::v1::{ExecutionEvent, ExecutionPhase, LaunchRequest, NodePhase};
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic::Code;

use common::executor::{input, leader, node_of, FakeExecutor};
use common::launch_request;

/// Every event of the stream, to its end.
async fn events(
    admin: &mut AdminClient<Channel>,
    request: LaunchRequest,
) -> Result<Vec<ExecutionEvent>, tonic::Status> {
    let mut stream = admin.launch_and_watch(request).await?.into_inner();
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        events.push(event?);
    }
    Ok(events)
}

/// Runs one launch to its end through `admin`, with `executor` answering
/// its node; returns the events.
async fn run_one(
    admin: &AdminClient<Channel>,
    executor: &mut FakeExecutor,
    request_id: &str,
) -> Vec<ExecutionEvent> {
    let mut watching = admin.clone();
    let request = launch_request("one", "6", request_id);
    let streamed = tokio::spawn(async move { events(&mut watching, request).await });
    let (a, _) = executor.next_assign().await;
    assert_eq!((node_of(&a).as_str(), input(&a, "x")), ("a", 6));
    executor.succeed(a.attempt.clone().unwrap(), &[("x", 7)]);
    let events = streamed.await.unwrap().unwrap();
    assert_eq!(
        events.first().map(|e| e.execution_id.as_str()),
        Some(a.attempt.as_ref().unwrap().execution_id.as_str()),
        "the stream is the launched execution's"
    );
    events
}

fn check_history(events: &[ExecutionEvent]) {
    let id = &events[0].execution_id;
    assert!(events.iter().all(|e| &e.execution_id == id), "{events:?}");
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
    assert!(
        events
            .iter()
            .any(|e| e.node_id == "a" && e.node_phase == NodePhase::NodeSucceeded as i32),
        "{events:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(
        (last.node_id.as_str(), last.execution_phase),
        ("", ExecutionPhase::ExecutionSucceeded as i32),
        "the stream ends with the execution's end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_call_launches_and_streams_to_the_end_and_a_retry_streams_the_same() {
    let one = common::start().await;
    let mut admin = AdminClient::new(one.channel.clone());
    common::register(&mut admin, common::ONE_TASK).await;
    let mut executor = FakeExecutor::connect(one.channel.clone()).await;

    let first = run_one(&admin, &mut executor, "w-1").await;
    check_history(&first);

    // Retried with its request id (the answer was lost): the same
    // execution's history, and nothing launched or run again.
    let again = events(&mut admin, launch_request("one", "6", "w-1"))
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(common::executions(&mut admin).await, 1);
    one.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_launch_is_refused_and_launches_nothing() {
    let one = common::start().await;
    let mut admin = AdminClient::new(one.channel.clone());
    common::register(&mut admin, common::ONE_TASK).await;

    let unknown = events(&mut admin, launch_request("nope", "1", ""))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    assert!(unknown.message().contains("nope"), "{unknown:?}");
    let ill_typed = events(&mut admin, launch_request("one", "six", ""))
        .await
        .unwrap_err();
    assert_eq!(ill_typed.code(), Code::InvalidArgument, "{ill_typed:?}");
    assert!(ill_typed.message().contains("input `x`"), "{ill_typed:?}");
    let mut no_workflow = launch_request("", "1", "");
    no_workflow.workflow = None;
    let nameless = events(&mut admin, no_workflow).await.unwrap_err();
    assert_eq!(nameless.code(), Code::InvalidArgument, "{nameless:?}");
    assert_eq!(common::executions(&mut admin).await, 0);
    one.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_forwards_the_call_to_the_leader() {
    let nodes = common::start_cluster(3).await;
    let leading = leader(&nodes).await;
    let mut admin = AdminClient::new(nodes[leading].channel.clone());
    common::register(&mut admin, common::ONE_TASK).await;
    let mut executor = FakeExecutor::connect(nodes[leading].channel.clone()).await;
    let follower = AdminClient::new(nodes[(leading + 1) % 3].channel.clone());
    let events = run_one(&follower, &mut executor, "via-follower").await;
    check_history(&events);
    for one in nodes {
        one.node.shutdown().await;
    }
}
