//! The Executor gRPC service: one `Session` stream per executor.
//!
//! A follower answers `NotLeader` with the leader's address and closes the
//! stream, so executors find the leader by themselves. On the leader the
//! first message must register the executor; everything after it is handed
//! to the dispatcher, which also owns the outbound half of the stream.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use baton_cluster::ClusterNode;
use baton_proto::executor_message::Kind as FromExecutor;
use baton_proto::executor_server::Executor;
use baton_proto::scheduler_message::Kind as ToExecutor;
use baton_proto::{ExecutorMessage, NotLeader, SchedulerMessage, PROTOCOL_VERSION};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, warn};

use crate::dispatch::{DispatcherHandle, Input};
use crate::executor_links::ExecutorLinks;
use crate::state::SchedulerState;

pub struct ExecutorService {
    /// Where reads of an attempt's log find the executor's stream.
    pub links: Arc<ExecutorLinks>,
    pub cluster: Arc<ClusterNode<SchedulerState>>,
    pub dispatcher: DispatcherHandle,
    pub lease: Duration,
    /// The blob store executors are told to write to.
    pub blob_store: baton_proto::BlobStoreSettings,
    pub connections: AtomicU64,
}

type SessionStream = Pin<Box<dyn Stream<Item = Result<SchedulerMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Executor for ExecutorService {
    type SessionStream = SessionStream;

    async fn session(
        &self,
        request: Request<Streaming<ExecutorMessage>>,
    ) -> Result<Response<SessionStream>, Status> {
        let (tx, rx) = mpsc::unbounded_channel();
        if !self.cluster.is_leader() {
            let leader_address = self
                .cluster
                .current_leader()
                .and_then(|l| l.addr)
                .unwrap_or_default();
            let _ = tx.send(Ok(SchedulerMessage {
                kind: Some(ToExecutor::NotLeader(NotLeader { leader_address })),
            }));
            return Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))));
        }
        let mut inbound = request.into_inner();
        let register = match inbound.next().await {
            Some(Ok(ExecutorMessage {
                kind: Some(FromExecutor::Register(register)),
            })) => register,
            Some(Ok(_)) => {
                return Err(Status::invalid_argument(
                    "the first message of a session must be `register`",
                ))
            }
            Some(Err(status)) => return Err(status),
            None => {
                return Err(Status::cancelled(
                    "the executor closed the stream before registering",
                ))
            }
        };
        if register.protocol_version != PROTOCOL_VERSION {
            return Err(Status::failed_precondition(format!(
                "executor `{}` speaks protocol {}, this scheduler speaks {PROTOCOL_VERSION}; upgrade the older one",
                register.executor_id, register.protocol_version
            )));
        }
        if register.executor_id.is_empty() || register.slots == 0 {
            return Err(Status::invalid_argument(
                "an executor must have an id and at least one slot",
            ));
        }
        let executor = register.executor_id.clone();
        let connection = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let pool = if register.pool.is_empty() {
            "default".to_owned()
        } else {
            register.pool.clone()
        };
        let registered = ToExecutor::Registered(baton_proto::scheduler_message::Registered {
            protocol_version: PROTOCOL_VERSION,
            lease_ms: self.lease.as_millis() as u64,
            blob_store: Some(self.blob_store.clone()),
        });
        let _ = tx.send(Ok(SchedulerMessage {
            kind: Some(registered),
        }));
        self.links
            .connected(&executor, connection, &tx, &register.earlier_ids);
        self.dispatcher.send(Input::Connected {
            executor: executor.clone(),
            pool,
            labels: register.labels.into_iter().collect(),
            version: register.version,
            slots: register.slots,
            max_slots: register.max_slots,
            connection,
            running: register.running,
            sender: tx,
        });
        let dispatcher = self.dispatcher.clone();
        let links = self.links.clone();
        tokio::spawn(async move {
            while let Some(message) = inbound.next().await {
                match message {
                    Ok(ExecutorMessage { kind: Some(kind) }) => match kind {
                        FromExecutor::Heartbeat(beat) => dispatcher.send(Input::Heartbeat {
                            executor: executor.clone(),
                            draining: Some(beat.draining),
                            slots: beat.slots,
                        }),
                        FromExecutor::Started(_) => dispatcher.send(Input::Heartbeat {
                            executor: executor.clone(),
                            draining: None,
                            slots: 0,
                        }),
                        FromExecutor::Result(result) => dispatcher.send(Input::Result {
                            executor: executor.clone(),
                            result,
                        }),
                        FromExecutor::LogChunk(chunk) => links.answered(chunk),
                        FromExecutor::Register(_) => {
                            warn!(%executor, "second register on one session; ignored")
                        }
                    },
                    Ok(ExecutorMessage { kind: None }) => {}
                    Err(status) => {
                        info!(%executor, %status, "executor stream failed");
                        break;
                    }
                }
            }
            links.disconnected(&executor, connection);
            dispatcher.send(Input::Disconnected {
                executor,
                connection,
            });
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }
}
