//! The client side of the Raft transport: openraft's `RaftNetworkFactory` and `RaftNetwork` over
//! the tonic `Raft` service of `baton-proto`.
//!
//! Each RPC sends the codec-encoded openraft request in a `RaftPayload` and receives the encoded
//! `Result<response, RaftError>`. AppendEntries, sent several times per commit (the entries, then
//! the new commit index, plus heartbeats), travels on one long-lived stream per follower, which
//! costs an HTTP/2 DATA frame each way instead of a new stream with headers and trailers on both
//! sides; votes and snapshots are unary calls. Channels are created lazily, one per peer, shared by all of
//! openraft's clients of that peer (HTTP/2 multiplexes them) and reconnect by themselves. Errors
//! are classified so that openraft behaves well: a peer that cannot be reached (connection refused,
//! transport failure, stopped Raft) is `Unreachable`, so openraft backs off; an RPC exceeding the
//! time openraft allows is `Timeout`; an undecodable or otherwise failed exchange is `Network`;
//! an error returned by the peer's Raft is a `RemoteError`.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;

use baton_proto::v1::raft_client::RaftClient;
use baton_proto::v1::RaftPayload;
use openraft::error::InstallSnapshotError;
use openraft::error::NetworkError;
use openraft::error::RPCError;
use openraft::error::RaftError;
use openraft::error::RemoteError;
use openraft::error::Timeout;
use openraft::error::Unreachable;
use openraft::network::RPCOption;
use openraft::raft::AppendEntriesRequest;
use openraft::raft::AppendEntriesResponse;
use openraft::raft::InstallSnapshotRequest;
use openraft::raft::InstallSnapshotResponse;
use openraft::raft::VoteRequest;
use openraft::raft::VoteResponse;
use openraft::BasicNode;
use openraft::RPCTypes;
use openraft::RaftNetwork;
use openraft::RaftNetworkFactory;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::transport::Endpoint;
use tonic::Streaming;

use crate::codec;
use crate::log_flush::DurableIndex;
use crate::type_config::TypeConfig;
use crate::StateMachine;

/// Largest Raft message accepted or sent (AppendEntries batches, snapshot chunks).
pub(crate) const MAX_RAFT_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<u64, BasicNode, RaftError<u64, E>>>;

/// Creates openraft's per-peer clients; holds the channels shared by them.
#[derive(Clone)]
pub(crate) struct NetworkFactory {
    source: u64,
    /// This node's durable log index: followers learn an entry is committed only once it is
    /// durable here too ([`crate::log_flush`]).
    durable: DurableIndex,
    channels: Arc<Mutex<HashMap<u64, (String, Channel)>>>,
    /// Addresses this node dials for some peers instead of their advertised ones.
    routes: Arc<BTreeMap<u64, String>>,
}

impl NetworkFactory {
    pub(crate) fn new(source: u64, routes: BTreeMap<u64, String>, durable: DurableIndex) -> Self {
        NetworkFactory {
            source,
            durable,
            channels: Arc::default(),
            routes: Arc::new(routes),
        }
    }
}

impl<S: StateMachine> RaftNetworkFactory<TypeConfig<S>> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerClient {
        let node = match self.routes.get(&target) {
            Some(route) => BasicNode::new(route.clone()),
            None => node.clone(),
        };
        PeerClient {
            source: self.source,
            durable: self.durable.clone(),
            target,
            node,
            channels: self.channels.clone(),
            replication: None,
        }
    }
}

/// openraft's client of one peer.
pub(crate) struct PeerClient {
    source: u64,
    durable: DurableIndex,
    target: u64,
    node: BasicNode,
    channels: Arc<Mutex<HashMap<u64, (String, Channel)>>>,
    /// The AppendEntries stream to the peer, opened on first use and dropped on any failure.
    replication: Option<ReplicationStream>,
}

/// The Raft RPCs sent as unary gRPC calls (AppendEntries has its stream).
#[derive(Clone, Copy)]
enum UnaryRpc {
    Vote,
    InstallSnapshot,
}

impl UnaryRpc {
    fn action(self) -> RPCTypes {
        match self {
            UnaryRpc::Vote => RPCTypes::Vote,
            UnaryRpc::InstallSnapshot => RPCTypes::InstallSnapshot,
        }
    }
}

/// One open AppendEntries stream: requests go out in order, and each answer is the answer to
/// the oldest request not answered yet. openraft's replication sends one request at a time and
/// waits for its answer (`&mut self`), so at most one is outstanding.
struct ReplicationStream {
    requests: mpsc::Sender<RaftPayload>,
    answers: Streaming<RaftPayload>,
}

impl PeerClient {
    /// The channel to the peer, created (lazily connecting) on first use or when its address
    /// changed.
    fn channel(&self, option: &RPCOption) -> Result<Channel, Unreachable> {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((addr, channel)) = channels.get(&self.target) {
            if *addr == self.node.addr {
                return Ok(channel.clone());
            }
        }
        let uri = format!("http://{}", self.node.addr);
        let endpoint = Endpoint::from_shared(uri).map_err(|e| Unreachable::new(&e))?;
        let channel = endpoint
            .connect_timeout(option.soft_ttl())
            .tcp_nodelay(true)
            .connect_lazy();
        tracing::debug!(target_node = self.target, addr = %self.node.addr, "created raft channel");
        channels.insert(self.target, (self.node.addr.clone(), channel.clone()));
        Ok(channel)
    }

    async fn call<Req, Resp, E>(
        &self,
        rpc: UnaryRpc,
        request: &Req,
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let data = codec::encode(request).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut client = raft_client(self.channel(option)?);
        let ttl = option.hard_ttl();
        let mut request = tonic::Request::new(RaftPayload { data });
        request.set_timeout(ttl);
        let action = rpc.action();
        let exchange = async {
            match rpc {
                UnaryRpc::Vote => client.vote(request).await,
                UnaryRpc::InstallSnapshot => client.install_snapshot(request).await,
            }
        };
        match tokio::time::timeout(ttl, exchange).await {
            Err(_elapsed) => Err(self.timed_out(action, ttl)),
            Ok(Err(status)) => Err(self.classify_status(action, ttl, status)),
            Ok(Ok(response)) => self.answer(&response.into_inner().data),
        }
    }

    /// The peer's encoded `Result<response, RaftError>`: the response, or its error as a remote
    /// one. An answer that does not decode is a network error.
    // The error type is the one openraft's `RaftNetwork` methods return.
    #[allow(clippy::result_large_err)]
    fn answer<Resp, E>(&self, data: &[u8]) -> RpcResult<Resp, E>
    where
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let result: Result<Resp, RaftError<u64, E>> =
            codec::decode(data).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }

    fn timed_out<E: std::error::Error>(
        &self,
        action: RPCTypes,
        ttl: std::time::Duration,
    ) -> RPCError<u64, BasicNode, RaftError<u64, E>> {
        RPCError::Timeout(Timeout {
            action,
            id: self.source,
            target: self.target,
            timeout: ttl,
        })
    }

    /// Sends one AppendEntries on the replication stream (opening it if needed) and waits for
    /// its answer. The stream is taken out for the exchange and put back only after a whole
    /// answer: if the exchange fails, times out or is dropped part way (openraft gives up after
    /// its own timeout), the stream goes with it, so that a late answer can never be taken for
    /// the answer to a later request; the next call opens a new one.
    ///
    /// The leader counts its own copy before its flush ends; a commit index is sent only once it
    /// is durable here, or a follower could apply an entry that a power loss here then takes out
    /// of the log ([`crate::log_flush`]). That wait is inside the same deadline.
    async fn append_entries_on_stream<S: StateMachine>(
        &mut self,
        rpc: &AppendEntriesRequest<TypeConfig<S>>,
        option: &RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>> {
        let action = RPCTypes::AppendEntries;
        let data = codec::encode(rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut open = self.replication.take();
        let channel = match &open {
            Some(_) => None,
            None => Some(self.channel(option)?),
        };
        let ttl = option.hard_ttl();
        let durable = &self.durable;
        let committed = rpc.leader_commit.as_ref().map(|c| c.index);
        let exchange = async {
            if let Some(committed) = committed {
                durable
                    .wait_for(committed)
                    .await
                    .map_err(|e| tonic::Status::internal(e.to_string()))?;
            }
            let mut stream = match (open.take(), channel) {
                (Some(stream), _) => stream,
                (None, Some(channel)) => {
                    let (requests, outgoing) = mpsc::channel(1);
                    let answers = raft_client(channel)
                        .append_entries(ReceiverStream::new(outgoing))
                        .await?
                        .into_inner();
                    ReplicationStream { requests, answers }
                }
                (None, None) => return Err(tonic::Status::internal("no replication stream")),
            };
            stream
                .requests
                .send(RaftPayload { data })
                .await
                .map_err(|_| tonic::Status::unavailable("the replication stream was closed"))?;
            let answer = stream.answers.message().await?.ok_or_else(|| {
                tonic::Status::unavailable("the peer ended the replication stream")
            })?;
            Ok((stream, answer))
        };
        match tokio::time::timeout(ttl, exchange).await {
            Ok(Ok((stream, answer))) => {
                let outcome = self.answer(&answer.data);
                // The peer's own error is an answer like any other; anything else leaves the
                // stream in an unknown place.
                if !matches!(&outcome, Err(e) if !matches!(e, RPCError::RemoteError(_))) {
                    self.replication = Some(stream);
                }
                outcome
            }
            Err(_elapsed) => Err(self.timed_out(action, ttl)),
            Ok(Err(status)) => Err(self.classify_status(action, ttl, status)),
        }
    }

    fn classify_status<E: std::error::Error>(
        &self,
        action: RPCTypes,
        ttl: std::time::Duration,
        status: tonic::Status,
    ) -> RPCError<u64, BasicNode, RaftError<u64, E>> {
        tracing::debug!(target_node = self.target, addr = %self.node.addr, %action, code = ?status.code(), message = status.message(), "raft rpc failed");
        match status.code() {
            tonic::Code::Unavailable | tonic::Code::Unimplemented => {
                RPCError::Unreachable(Unreachable::new(&status))
            }
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => self.timed_out(action, ttl),
            _ => RPCError::Network(NetworkError::new(&status)),
        }
    }
}

impl<S: StateMachine> RaftNetwork<TypeConfig<S>> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig<S>>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>> {
        self.append_entries_on_stream::<S>(&rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig<S>>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, InstallSnapshotError> {
        self.call(UnaryRpc::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>> {
        self.call(UnaryRpc::Vote, &rpc, &option).await
    }
}

/// A client of the peer's Raft service on `channel`, accepting Raft-sized messages.
fn raft_client(channel: Channel) -> RaftClient<Channel> {
    RaftClient::new(channel)
        .max_decoding_message_size(MAX_RAFT_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_RAFT_MESSAGE_BYTES)
}
