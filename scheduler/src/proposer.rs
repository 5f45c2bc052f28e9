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
    pub fn start(
        cluster: Arc<ClusterNode<SchedulerState>>,
        instruments: crate::metrics::Instruments,
    ) -> Proposer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(cluster, rx, instruments));
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
    instruments: crate::metrics::Instruments,
) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut held_back = None;
    loop {
        let first = match held_back.take() {
            Some(write) => write,
            None => match rx.recv().await {
                Some(write) => write,
                None => return,
            },
        };
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        // Take everything that queued up meanwhile (while a write was in flight).
        let joined = join_writes(first, MAX_BATCH, || rx.try_recv().ok());
        let (commands, replies) = (joined.commands, joined.replies);
        held_back = joined.held_back;
        instruments.proposals.inc();
        instruments.proposed_commands.inc_by(commands.len() as u64);
        instruments.proposal_batch.observe(commands.len() as f64);
        let submitted = std::time::Instant::now();
        let latency = instruments.proposal_seconds.clone();
        // Handed to Raft here, in order; only the wait for the commit runs
        // concurrently, so entries keep the order their commands came in.
        let pending = cluster.submit(Arc::new(commands)).await;
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
            latency.observe(submitted.elapsed().as_secs_f64());
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

/// One caller's commands and where their responses go.
type Write<C, R> = (Vec<C>, R);

/// Joins `first` and the writes `next` yields into one entry of at most
/// `max` commands, each reply with its number of commands. A write that
/// would pass `max` is handed back for the next entry, so only a write
/// larger than `max` on its own (a big `LaunchBatch`) makes a larger entry.
fn join_writes<C, R>(
    first: Write<C, R>,
    max: usize,
    mut next: impl FnMut() -> Option<Write<C, R>>,
) -> Joined<C, R> {
    let (mut commands, reply) = first;
    let mut replies = vec![(reply, commands.len())];
    let mut held_back = None;
    while commands.len() < max {
        let Some((more, reply)) = next() else {
            break;
        };
        if commands.len() + more.len() > max {
            held_back = Some((more, reply));
            break;
        }
        replies.push((reply, more.len()));
        commands.extend(more);
    }
    Joined {
        commands,
        replies,
        held_back,
    }
}

/// The commands of one entry, and the write left for the next.
#[derive(Debug, PartialEq)]
struct Joined<C, R> {
    commands: Vec<C>,
    /// Each write's reply and how many of `commands` are its.
    replies: Vec<(R, usize)>,
    held_back: Option<Write<C, R>>,
}

#[cfg(test)]
mod tests {
    use super::{join_writes, Joined};

    #[test]
    fn writes_join_up_to_the_limit_and_the_one_past_it_waits() {
        let mut queue = vec![(vec![4, 5, 6], "c"), (vec![2, 3], "b")];
        let joined = join_writes((vec![1], "a"), 4, || queue.pop());
        assert_eq!(joined.commands, [1, 2, 3]);
        assert_eq!(joined.replies, [("a", 1), ("b", 2)]);
        assert_eq!(joined.held_back, Some((vec![4, 5, 6], "c")));
        assert!(queue.is_empty());
    }

    #[test]
    fn a_write_larger_than_the_limit_goes_alone() {
        let mut queue = vec![(vec![9], "b")];
        let joined = join_writes((vec![1; 10], "a"), 4, || queue.pop());
        assert_eq!(joined.commands.len(), 10);
        assert_eq!(joined.replies, [("a", 10)]);
        assert_eq!(joined.held_back, None);
        assert_eq!(
            queue,
            [(vec![9], "b")],
            "nothing more is taken past the limit"
        );
    }

    #[test]
    fn an_empty_queue_ends_the_entry() {
        let joined = join_writes((vec![1, 2], "a"), 4, || None);
        let expected = Joined {
            commands: vec![1, 2],
            replies: vec![("a", 2)],
            held_back: None,
        };
        assert_eq!(joined, expected);
    }
}
