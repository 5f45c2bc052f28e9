//! LaunchBatch through the Admin API of a real node: request ids make a
//! batch safe to retry, and a refused batch launches nothing.

mod common;

use baton_proto::v1::admin_client::AdminClient;
use baton_proto::v1::{LaunchBatchRequest, LaunchRequest, ProblemCode};
use tonic::transport::Channel;
use tonic::Code;

use common::launch_request;

async fn batch(
    admin: &mut AdminClient<Channel>,
    launches: Vec<LaunchRequest>,
) -> Result<Vec<String>, tonic::Status> {
    let response = admin.launch_batch(LaunchBatchRequest { launches }).await?;
    Ok(response
        .into_inner()
        .launched
        .into_iter()
        .map(|l| l.execution_id)
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_idempotent_by_request_id_and_refused_whole() {
    let one = common::start().await;
    let mut admin = AdminClient::new(one.channel.clone());
    common::register(&mut admin, common::ONE_TASK).await;

    let first = batch(
        &mut admin,
        vec![
            launch_request("one", "1", "r1"),
            launch_request("one", "2", "r2"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(first.len(), 2);
    assert_ne!(first[0], first[1]);

    // Retried as a whole (its answer was lost): the same executions.
    let retried = batch(
        &mut admin,
        vec![
            launch_request("one", "1", "r1"),
            launch_request("one", "2", "r2"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(retried, first);

    // Known and new ids mixed: answers in the batch's order.
    let mixed = batch(
        &mut admin,
        vec![
            launch_request("one", "3", "r3"),
            launch_request("one", "2", "r2"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(mixed[1], first[1]);
    assert!(!first.contains(&mixed[0]), "{mixed:?}");
    assert_eq!(common::executions(&mut admin).await, 3);

    // Refused whole, naming the launch; nothing launched.
    let refusals = [
        (
            vec![
                launch_request("one", "4", "r4"),
                launch_request("one", "5", "r4"),
            ],
            "launch #2 repeats the request id `r4` of launch #1",
            Some((ProblemCode::Duplicate, "request_id")),
        ),
        (
            vec![
                launch_request("one", "5", "r5"),
                launch_request("one", "six", "r6"),
            ],
            "launch #2: input `x` (int)",
            Some((ProblemCode::Invalid, "inputs.x")),
        ),
        (vec![], "the batch holds no launches", None),
    ];
    for (launches, expected, problem) in refusals {
        let status = batch(&mut admin, launches).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status}");
        assert!(status.message().contains(expected), "{status}");
        // The place and the code travel in the status details.
        let problems = baton_proto::refusal::problems(&status);
        match problem {
            Some((code, field)) => {
                assert_eq!(problems.len(), 1, "{problems:?}");
                assert_eq!(problems[0].code(), code);
                assert_eq!(
                    (problems[0].item.as_str(), problems[0].index),
                    ("launch", 1)
                );
                assert_eq!(problems[0].field, field);
            }
            None => assert!(problems.is_empty(), "{problems:?}"),
        }
    }
    assert_eq!(common::executions(&mut admin).await, 3);
    // The refused ids are free: nothing was recorded under them.
    let later = batch(
        &mut admin,
        vec![
            launch_request("one", "4", "r4"),
            launch_request("one", "5", "r5"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(later.len(), 2);
    assert_eq!(common::executions(&mut admin).await, 5);
    one.node.shutdown().await;
}
