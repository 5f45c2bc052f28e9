//! One watcher's stream of an execution's events (Watch, LaunchAndWatch).
//!
//! Every event this node applies is broadcast once, to every watcher, as an
//! [`EventNotice`]; a watcher's [`EventFeed`] picks its execution's. The feed
//! starts with the history already in the state, and when it falls so far
//! behind the broadcast that notices were dropped (a launch of 20,000 nodes
//! makes 20,001 events in one apply), it reads what it missed from the state
//! again: a watcher sees every event of its execution once, in order, with
//! no gap, and the stream ends with the execution.
//!
//! The feed is a stream polled by the response's own task, so an applied
//! event wakes that task straight from the broadcast.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use baton_proto::ExecutionEvent;
use futures::Stream;
use tokio::sync::broadcast;
use tonic::Status;

use crate::convert::event_to_proto;
use crate::state::{self, ExecutionId, SchedulerState};

/// An event of an execution, as broadcast to watchers on this node.
#[derive(Clone, Debug)]
pub struct EventNotice {
    pub execution: ExecutionId,
    pub event: state::Event,
    pub finished: bool,
}

/// One watcher's place in an execution's events: what is queued to send,
/// and the live events of every execution, of which it picks its own.
pub struct EventFeed {
    state: Arc<RwLock<SchedulerState>>,
    id: ExecutionId,
    live: broadcast::Receiver<Arc<EventNotice>>,
    /// How many of the execution's events are queued or sent.
    sent: u64,
    backlog: VecDeque<ExecutionEvent>,
    /// The execution has ended (or is gone): the stream ends after the backlog.
    finished: bool,
}

impl EventFeed {
    /// The events of execution `id`: its history in `state`, then what
    /// `live` brings. Subscribe `live` before calling, so that no event
    /// falls between the two.
    pub fn start(
        state: Arc<RwLock<SchedulerState>>,
        id: ExecutionId,
        live: broadcast::Receiver<Arc<EventNotice>>,
    ) -> impl Stream<Item = Result<ExecutionEvent, Status>> + Send {
        let mut feed = EventFeed {
            state,
            id,
            live,
            sent: 0,
            backlog: VecDeque::new(),
            finished: false,
        };
        feed.catch_up();
        futures::stream::unfold(feed, EventFeed::next)
    }

    /// Queues the events after `sent` from the state: the history at the
    /// start, and what a lagging watcher missed.
    fn catch_up(&mut self) {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let Some(execution) = state.execution(&self.id) else {
            self.finished = true;
            return;
        };
        let id = &self.id.0;
        self.backlog.extend(
            execution
                .events
                .iter()
                .skip(self.sent as usize)
                .map(|e| event_to_proto(&state, Some(execution), id, e)),
        );
        self.sent = execution.events.len() as u64;
        self.finished = execution.phase.is_terminal();
    }

    /// The next event to send, waiting for it if need be; `None` ends the stream.
    async fn next(mut self) -> Option<(Result<ExecutionEvent, Status>, Self)> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                return Some((Ok(event), self));
            }
            if self.finished {
                return None;
            }
            match self.live.recv().await {
                Ok(notice) if notice.execution == self.id && notice.event.seq > self.sent => {
                    self.sent = notice.event.seq;
                    self.finished = notice.finished;
                    let event = {
                        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
                        let execution = state.execution(&self.id);
                        event_to_proto(&state, execution, &self.id.0, &notice.event)
                    };
                    return Some((Ok(event), self));
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up(),
                Err(broadcast::error::RecvError::Closed) => {
                    self.finished = true;
                    let closed = Status::unavailable("the scheduler is shutting down");
                    return Some((Err(closed), self));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use baton_model::{Identifier, Value, Values};
    use baton_proto::ExecutionPhase;
    use futures::StreamExt;

    use super::*;
    use crate::state::{register_command, Command, Effect, Response};

    const SPECS: &str = r#"
kind: Task
name: echo
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
runner: {builtin: noop}
---
kind: Workflow
name: one
version: v1
interface: {inputs: {x: int}, outputs: {x: int}}
nodes:
  - {id: a, task: echo@v1, inputs: {x: "${inputs.x}"}}
outputs: {x: "${a.x}"}
"#;

    /// A node's state machine and its broadcast of events, as the node
    /// wires them (`EffectRouter`), with room for `capacity` notices.
    struct Node {
        state: Arc<RwLock<SchedulerState>>,
        events: broadcast::Sender<Arc<EventNotice>>,
        now_ms: u64,
    }

    impl Node {
        fn new(capacity: usize) -> Node {
            let node = Node {
                state: Default::default(),
                events: broadcast::channel(capacity).0,
                now_ms: 1_000,
            };
            node.apply(register_command(SPECS));
            node
        }

        /// Applies `command` and broadcasts its events.
        fn apply(&self, command: Command) -> Response {
            let mut effects = Vec::new();
            let response = self.state.write().unwrap().apply_one(command, &mut effects);
            for effect in effects {
                if let Effect::Event {
                    execution,
                    event,
                    finished,
                } = effect
                {
                    let notice = EventNotice {
                        execution,
                        event,
                        finished,
                    };
                    let _ = self.events.send(Arc::new(notice));
                }
            }
            response
        }

        fn launch(&mut self) -> ExecutionId {
            self.now_ms += 1;
            let command = Command::Launch {
                workflow: Identifier::parse("one").unwrap(),
                inputs: Values::from([("x".to_string(), Value::Int(6))]),
                pool: String::new(),
                request_id: String::new(),
                now_ms: self.now_ms,
            };
            match self.apply(command) {
                Response::Launched { execution, .. } => execution,
                other => panic!("launch failed: {other:?}"),
            }
        }

        /// Runs node `a` of `id` to its end.
        fn run(&mut self, id: &ExecutionId) {
            self.now_ms += 1;
            let assign = Command::Assign {
                execution: id.clone(),
                node: 0,
                executor: "x".into(),
                now_ms: self.now_ms,
            };
            let Response::Assigned { attempt } = self.apply(assign) else {
                panic!("assign failed");
            };
            let complete = Command::Complete {
                execution: id.clone(),
                node: 0,
                attempt,
                executor: "x".into(),
                outputs: Values::from([("x".to_string(), Value::Int(6))]),
                log_size: 0,
                now_ms: self.now_ms,
            };
            self.apply(complete);
        }

        /// How many events `id` has had so far.
        fn history_length(&self, id: &ExecutionId) -> u64 {
            let state = self.state.read().unwrap();
            state.execution(id).unwrap().events.len() as u64
        }

        fn watch(&self, id: &ExecutionId) -> impl Stream<Item = Result<ExecutionEvent, Status>> {
            EventFeed::start(self.state.clone(), id.clone(), self.events.subscribe())
        }
    }

    /// Every event of the stream, to its end; panics if it does not end.
    async fn all(stream: impl Stream<Item = Result<ExecutionEvent, Status>>) -> Vec<u64> {
        let events = tokio::time::timeout(std::time::Duration::from_secs(5), stream.collect())
            .await
            .expect("the stream ended with the execution");
        let events: Vec<Result<ExecutionEvent, Status>> = events;
        let events: Vec<ExecutionEvent> = events.into_iter().map(Result::unwrap).collect();
        let last = events.last().expect("some events");
        assert_eq!(
            last.execution_phase,
            ExecutionPhase::ExecutionSucceeded as i32
        );
        events.iter().map(|e| e.seq).collect()
    }

    fn one_to(n: u64) -> Vec<u64> {
        (1..=n).collect()
    }

    #[tokio::test]
    async fn a_watcher_gets_the_history_then_the_live_events_to_the_end() {
        let mut node = Node::new(64);
        let id = node.launch();
        let stream = node.watch(&id);
        let other = node.launch();
        node.run(&other);
        node.run(&id);
        let length = node.history_length(&id);
        assert_eq!(all(stream).await, one_to(length));
    }

    #[tokio::test]
    async fn a_watcher_left_behind_by_the_broadcast_reads_what_it_missed_from_the_state() {
        let mut node = Node::new(4);
        let id = node.launch();
        let stream = node.watch(&id);
        node.run(&id);
        // Other executions' events push the watcher's own out of the
        // broadcast before it reads any of them.
        for _ in 0..5 {
            let other = node.launch();
            node.run(&other);
        }
        let length = node.history_length(&id);
        assert!(length > 2, "the run added events after the watch began");
        assert_eq!(all(stream).await, one_to(length));
    }

    #[tokio::test]
    async fn a_finished_execution_streams_its_history_and_ends() {
        let mut node = Node::new(4);
        let id = node.launch();
        node.run(&id);
        let length = node.history_length(&id);
        assert_eq!(all(node.watch(&id)).await, one_to(length));
    }

    #[tokio::test]
    async fn a_closed_broadcast_ends_the_stream_with_unavailable() {
        let mut node = Node::new(4);
        let id = node.launch();
        let mut stream = Box::pin(node.watch(&id));
        let history = node.history_length(&id);
        for _ in 0..history {
            stream.next().await.unwrap().unwrap();
        }
        drop(node.events);
        let status = stream.next().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(stream.next().await.is_none());
    }
}
