//! The server side of the Raft transport: [`RaftService`] implements the generated tonic `Raft`
//! service of `baton-proto` and forwards each decoded openraft request into the local
//! `openraft::Raft`. The scheduler mounts it ([`RaftServiceServer`]) on the node's one tonic
//! server next to its other services.
//!
//! The reply is the encoded `Result<response, RaftError>`, except that a stopped Raft answers
//! with gRPC `UNAVAILABLE`, which the peer treats as unreachable and backs off from. An
//! undecodable request is refused with `INVALID_ARGUMENT` naming the request. AppendEntries
//! travels on one long-lived stream per leader and follower (see `network`); votes and snapshots
//! are unary calls.

use baton_proto::v1::raft_server::Raft as RaftGrpc;
use baton_proto::v1::raft_server::RaftServer;
use baton_proto::v1::RaftPayload;
use futures::Stream;
use futures::StreamExt;
use openraft::error::RaftError;
use openraft::raft::AppendEntriesRequest;
use openraft::raft::InstallSnapshotRequest;
use openraft::raft::VoteRequest;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::pin::Pin;
use tonic::Request;
use tonic::Response;
use tonic::Status;
use tonic::Streaming;

use crate::codec;
use crate::network::MAX_RAFT_MESSAGE_BYTES;
use crate::type_config::Raft;
use crate::type_config::TypeConfig;
use crate::StateMachine;

/// The tonic service to mount on the node's gRPC server (see [`crate::ClusterNode::raft_service`]).
pub type RaftServiceServer<S> = RaftServer<RaftService<S>>;

/// Receives Raft RPCs from peers and hands them to the local Raft node.
pub struct RaftService<S: StateMachine> {
    raft: Raft<S>,
}

impl<S: StateMachine> RaftService<S> {
    pub(crate) fn new(raft: Raft<S>) -> Self {
        RaftService { raft }
    }

    /// Wraps the service in the generated tonic server, accepting Raft-sized messages.
    pub(crate) fn into_server(self) -> RaftServiceServer<S> {
        RaftServer::new(self)
            .max_decoding_message_size(MAX_RAFT_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_RAFT_MESSAGE_BYTES)
    }
}

fn decode_request<T: DeserializeOwned>(payload: &RaftPayload, what: &str) -> Result<T, Status> {
    codec::decode(&payload.data)
        .map_err(|e| Status::invalid_argument(format!("undecodable raft {what} request: {e}")))
}

fn respond<T, E>(
    what: &str,
    result: Result<T, RaftError<u64, E>>,
) -> Result<Response<RaftPayload>, Status>
where
    T: Serialize,
    E: std::error::Error + Serialize,
{
    if let Err(RaftError::Fatal(fatal)) = &result {
        return Err(Status::unavailable(format!("raft node stopped: {fatal}")));
    }
    let data = codec::encode(&result)
        .map_err(|e| Status::internal(format!("cannot encode raft {what} response: {e}")))?;
    Ok(Response::new(RaftPayload { data }))
}

#[tonic::async_trait]
impl<S: StateMachine> RaftGrpc for RaftService<S> {
    type AppendEntriesStream = Pin<Box<dyn Stream<Item = Result<RaftPayload, Status>> + Send>>;

    /// Answers each AppendEntries of the stream in turn. The answers are computed as the
    /// response stream is polled, by the task that serves the stream: no task or channel per
    /// message. A request that cannot be decoded, or a stopped Raft, ends the stream with an
    /// error status (the leader opens a new stream for its next request).
    async fn append_entries(
        &self,
        request: Request<Streaming<RaftPayload>>,
    ) -> Result<Response<Self::AppendEntriesStream>, Status> {
        let raft = self.raft.clone();
        let answers = request.into_inner().then(move |message| {
            let raft = raft.clone();
            async move {
                let rpc: AppendEntriesRequest<TypeConfig<S>> =
                    decode_request(&message?, "append-entries")?;
                respond("append-entries", raft.append_entries(rpc).await).map(Response::into_inner)
            }
        });
        // The first error ends the stream: the answers after it would not line up with the
        // requests the leader still waits for.
        let answers = answers.scan(false, |failed, answer| {
            let item = (!*failed).then(|| {
                *failed = answer.is_err();
                answer
            });
            futures::future::ready(item)
        });
        Ok(Response::new(Box::pin(answers)))
    }

    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let rpc: VoteRequest<u64> = decode_request(request.get_ref(), "vote")?;
        respond("vote", self.raft.vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let rpc: InstallSnapshotRequest<TypeConfig<S>> =
            decode_request(request.get_ref(), "install-snapshot")?;
        respond("install-snapshot", self.raft.install_snapshot(rpc).await)
    }
}
