//! Batching at the entry to Raft (DESIGN.md §4): every caller hands its
//! commands to one proposer task, which gathers whatever is waiting into a
//! single log entry, so one fsync and one replication round carry many state
//! changes. Under load, batches grow by themselves while a write is in
//! flight; a lone request goes out at once.

use std::sync::Arc;

use baton_cluster::{ClusterErrorCode, ClusterNode};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::error::{ErrorCode, SchedulerError};
use crate::state::{Command, Response, SchedulerState};

/// Largest number of commands in one log entry.
const MAX_BATCH: usize = 4096;
/// How long a proposal may wait to be committed.
const PROPOSAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Log entries in flight at once (pipelining of proposals).
const MAX_IN_FLIGHT: usize = 4;

type Reply = oneshot::Sender<Result<Vec<Response>, SchedulerError>>;

#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::UnboundedSender<(Vec<Command>, Reply)>,
}

impl Proposer {
    pub fn start(cluster: Arc<ClusterNode<SchedulerState>>) -> Proposer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(cluster, rx));
        Proposer { tx }
    }

    /// Proposes one command and waits until it is committed and applied.
    pub async fn propose(&self, command: Command) -> Result<Response, SchedulerError> {
        let mut responses = self.propose_many(vec![command]).await?;
        responses
            .pop()
            .ok_or_else(|| SchedulerError::internal("the state machine returned no response"))
    }

    /// Proposes several commands (applied in order, possibly in one entry
    /// with other callers' commands) and waits for all of them.
    pub async fn propose_many(
        &self,
        commands: Vec<Command>,
    ) -> Result<Vec<Response>, SchedulerError> {
        self.enqueue(commands).await
    }

    /// Queues commands for proposal now and returns a future of their
    /// responses. Commands enqueued one after another from one task enter
    /// the log in that order (the dispatcher relies on it: a result is
    /// proposed right after its assignment, without waiting for that to
    /// commit).
    pub fn enqueue(
        &self,
        commands: Vec<Command>,
    ) -> impl std::future::Future<Output = Result<Vec<Response>, SchedulerError>> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let sent = if commands.is_empty() {
            let _ = reply_tx.send(Ok(Vec::new()));
            true
        } else {
            self.tx.send((commands, reply_tx)).is_ok()
        };
        async move {
            if !sent {
                return Err(SchedulerError::unavailable(
                    "the scheduler is shutting down",
                ));
            }
            reply_rx
                .await
                .map_err(|_| SchedulerError::unavailable("the scheduler is shutting down"))?
        }
    }
}

async fn run(
    cluster: Arc<ClusterNode<SchedulerState>>,
    mut rx: mpsc::UnboundedReceiver<(Vec<Command>, Reply)>,
) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        // Take everything that queued up meanwhile (while a write was in flight).
        let mut commands = first.0;
        let mut replies = vec![(first.1, commands.len())];
        while commands.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok((more, reply)) => {
                    replies.push((reply, more.len()));
                    commands.extend(more);
                }
                Err(_) => break,
            }
        }
        // Handed to Raft here, in order; only the wait for the commit runs
        // concurrently, so entries keep the order their commands came in.
        let pending = cluster.submit(commands).await;
        tokio::spawn(async move {
            // A leader cut off from its quorum cannot commit: give up after a
            // while rather than hold the caller forever. The outcome is then
            // unknown (the entry may still commit): callers re-read or retry
            // idempotently.
            let committed = async {
                match pending {
                    Ok(pending) => pending.committed().await,
                    Err(e) => Err(e),
                }
            };
            let result = match tokio::time::timeout(PROPOSAL_TIMEOUT, committed).await {
                Ok(result) => result.map_err(|e| {
                    let code = match e.code() {
                        ClusterErrorCode::NotLeader => ErrorCode::NotLeader,
                        _ => ErrorCode::Unavailable,
                    };
                    SchedulerError::new(code, e.to_string())
                }),
                Err(_) => Err(SchedulerError::unavailable(format!(
                    "the write was not committed within {PROPOSAL_TIMEOUT:?} (no quorum?); its outcome is unknown"
                ))),
            };
            drop(permit);
            match result {
                Ok(responses) => {
                    let mut responses = responses.into_iter();
                    for (reply, n) in replies {
                        let _ = reply.send(Ok(responses.by_ref().take(n).collect()));
                    }
                }
                Err(e) => {
                    for (reply, _) in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        });
    }
}
