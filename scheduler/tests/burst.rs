//! A client may send far more requests at once than a connection carries
//! streams: the surplus waits its turn in the client instead of costing every
//! request on the connection.

mod common;

use baton_proto::v1::admin_client::AdminClient;
use baton_proto::v1::GetExecutionRequest;
use tonic::transport::Channel;
use tonic::Code;

/// A stale read of an execution that does not exist: no Raft, no write.
fn stale_read(id: String) -> tonic::Request<GetExecutionRequest> {
    let mut request = tonic::Request::new(GetExecutionRequest { execution_id: id });
    request.metadata_mut().insert(
        "baton-read",
        tonic::metadata::MetadataValue::from_static("stale"),
    );
    request
}

async fn read(channel: Channel, id: String) -> Result<(), tonic::Status> {
    match AdminClient::new(channel)
        .get_execution(stale_read(id))
        .await
    {
        Err(status) if status.code() == Code::NotFound => Ok(()),
        Err(status) => Err(status),
        Ok(found) => panic!("an execution that was never launched was found: {found:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_requests_at_once_on_one_connection_are_all_answered() {
    let one = common::start().await;

    // Each request is a HEADERS and one small DATA frame. Once more of
    // those wait unread on the server than h2's flood guard allows (about
    // 2,000 with the default window), it closes the connection and every
    // request on it fails with "transport error". 20,000 is also more
    // than the streams one connection may open at once.
    let requests =
        (0..20_000).map(|i| tokio::spawn(read(one.channel.clone(), format!("nope-{i}"))));
    let outcomes = futures::future::join_all(requests).await;
    let failed: Vec<String> = outcomes
        .into_iter()
        .filter_map(|outcome| outcome.unwrap().err())
        .map(|status| status.to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 20,000 requests failed, the first: {}",
        failed.len(),
        failed[0]
    );
    one.node.shutdown().await;
}
