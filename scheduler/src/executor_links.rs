//! The leader's open executor streams by executor id, for what is asked of
//! an executor outside dispatch: reading an attempt's log, which stays on
//! the executor that ran it (logs never enter the replicated state). A
//! request goes out on the executor's stream tagged with a number; the
//! answer comes back on the same stream and finds its waiter here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use baton_proto::scheduler_message::Kind as ToExecutor;
use baton_proto::{AttemptRef, LogChunk, ReadLog, SchedulerMessage};
use tokio::sync::{mpsc, oneshot};

use crate::dispatch::ExecutorSender;

/// How long an executor has to answer a log read.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct ExecutorLinks {
    inner: Mutex<Inner>,
}

/// The outbound half of an executor's stream, held weakly: the dispatcher
/// ends a stream by dropping its sender (on a change of leader), and a
/// sender kept here must not keep the stream open.
type WeakSender = mpsc::WeakUnboundedSender<Result<SchedulerMessage, tonic::Status>>;

#[derive(Default)]
struct Inner {
    /// Executor -> (connection number, the outbound half of its stream).
    senders: HashMap<String, (u64, WeakSender)>,
    /// An earlier executor id -> the connected executor that has its work
    /// directory now (a restarted executor process has a new id).
    successors: HashMap<String, String>,
    /// Request number -> who waits for its answer.
    pending: HashMap<u64, oneshot::Sender<LogChunk>>,
    next_request: u64,
}

impl ExecutorLinks {
    /// `executor` connected; it serves the logs of `earlier` ids too.
    pub fn connected(
        &self,
        executor: &str,
        connection: u64,
        sender: &ExecutorSender,
        earlier: &[String],
    ) {
        if let Ok(mut inner) = self.inner.lock() {
            inner
                .senders
                .insert(executor.to_owned(), (connection, sender.downgrade()));
            for id in earlier {
                inner.successors.insert(id.clone(), executor.to_owned());
            }
        }
    }

    /// The stream of `connection` ended (a later connection stays).
    pub fn disconnected(&self, executor: &str, connection: u64) {
        if let Ok(mut inner) = self.inner.lock() {
            if inner
                .senders
                .get(executor)
                .is_some_and(|(c, _)| *c == connection)
            {
                inner.senders.remove(executor);
            }
        }
    }

    /// An executor's answer to a read.
    pub fn answered(&self, chunk: LogChunk) {
        let waiter = self
            .inner
            .lock()
            .ok()
            .and_then(|mut inner| inner.pending.remove(&chunk.request));
        if let Some(waiter) = waiter {
            let _ = waiter.send(chunk);
        }
    }

    /// Reads `limit` bytes of `attempt`'s log from `offset` on `executor`.
    pub async fn read_log(
        &self,
        executor: &str,
        attempt: AttemptRef,
        offset: u64,
        limit: u32,
    ) -> Result<LogChunk, String> {
        let (waiter, answer) = oneshot::channel();
        let request = {
            let mut inner = self.inner.lock().map_err(|_| "the scheduler is failing")?;
            // The executor itself, else the one that took its work directory over.
            let live = |id: &str| inner.senders.get(id).and_then(|(_, s)| s.upgrade());
            let sender = live(executor).or_else(|| {
                let successor = inner.successors.get(executor)?;
                live(successor)
            });
            let Some(sender) = sender else {
                return Err(format!(
                    "executor `{executor}`, which ran it, is not connected to the leader; its logs are read from it (or from an executor restarted on its work directory) once it is back"
                ));
            };
            inner.next_request += 1;
            let request = inner.next_request;
            inner.pending.insert(request, waiter);
            let read = ReadLog {
                request,
                attempt: Some(attempt),
                offset,
                limit,
            };
            let message = SchedulerMessage {
                kind: Some(ToExecutor::ReadLog(read)),
            };
            if sender.send(Ok(message)).is_err() {
                inner.pending.remove(&request);
                return Err(format!("executor `{executor}` just disconnected"));
            }
            request
        };
        let answered = tokio::time::timeout(READ_TIMEOUT, answer).await;
        if let Ok(mut inner) = self.inner.lock() {
            inner.pending.remove(&request);
        }
        match answered {
            Ok(Ok(chunk)) if chunk.error.is_empty() => Ok(chunk),
            Ok(Ok(chunk)) => Err(format!("executor `{executor}`: {}", chunk.error)),
            Ok(Err(_)) => Err(format!("executor `{executor}` did not answer")),
            Err(_) => Err(format!(
                "executor `{executor}` did not answer within {READ_TIMEOUT:?}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_goes_out_on_the_executors_stream_and_its_answer_comes_back() {
        let links = std::sync::Arc::new(ExecutorLinks::default());
        let (sender, mut outbound) = mpsc::unbounded_channel();
        links.connected("e1", 1, &sender, &[]);
        let reader = links.clone();
        let read =
            tokio::spawn(async move { reader.read_log("e1", AttemptRef::default(), 5, 100).await });
        let Some(Ok(SchedulerMessage {
            kind: Some(ToExecutor::ReadLog(request)),
        })) = outbound.recv().await
        else {
            panic!("no ReadLog sent")
        };
        assert_eq!((request.offset, request.limit), (5, 100));
        links.answered(LogChunk {
            request: request.request,
            data: b"hello".to_vec(),
            size: 10,
            error: String::new(),
        });
        let chunk = read.await.unwrap().unwrap();
        assert_eq!((chunk.data.as_slice(), chunk.size), (&b"hello"[..], 10));
    }

    #[tokio::test]
    async fn an_executor_that_is_gone_or_failing_is_named() {
        let links = ExecutorLinks::default();
        let err = links
            .read_log("e9", AttemptRef::default(), 0, 0)
            .await
            .unwrap_err();
        assert!(
            err.contains("executor `e9`") && err.contains("not connected"),
            "{err}"
        );
        let (sender, _outbound) = mpsc::unbounded_channel();
        links.connected("e1", 1, &sender, &[]);
        // A stale disconnect (of an older connection) keeps the newer one.
        links.disconnected("e1", 0);
        assert!(links.inner.lock().unwrap().senders.contains_key("e1"));
        links.disconnected("e1", 1);
        assert!(links.inner.lock().unwrap().senders.is_empty());
        // Held weakly: once the dispatcher drops a stream's sender, the
        // stream ends, and a read says the executor is gone.
        let (sender, mut outbound) = mpsc::unbounded_channel();
        links.connected("e2", 2, &sender, &[]);
        drop(sender);
        assert!(outbound.recv().await.is_none(), "the stream stayed open");
        let err = links
            .read_log("e2", AttemptRef::default(), 0, 0)
            .await
            .unwrap_err();
        assert!(err.contains("not connected"), "{err}");
    }

    #[tokio::test]
    async fn a_restarted_executor_serves_the_logs_of_its_earlier_ids() {
        let links = std::sync::Arc::new(ExecutorLinks::default());
        let (sender, mut outbound) = mpsc::unbounded_channel();
        links.connected("host-200", 1, &sender, &["host-100".to_string()]);
        let reader = links.clone();
        let read = tokio::spawn(async move {
            reader
                .read_log("host-100", AttemptRef::default(), 0, 0)
                .await
        });
        let Some(Ok(SchedulerMessage {
            kind: Some(ToExecutor::ReadLog(request)),
        })) = outbound.recv().await
        else {
            panic!("the read did not reach the successor")
        };
        links.answered(LogChunk {
            request: request.request,
            ..Default::default()
        });
        assert!(read.await.unwrap().is_ok());
    }
}
