//! What the dispatcher does with each [`Input`]: applied effects, executor
//! connections, heartbeats and results, launches, and leadership changes.

use super::*;

impl Dispatcher {
    pub(super) fn handle(&mut self, input: Input) {
        let now = now_ms();
        match input {
            Input::Leader(true) => self.become_leader(now),
            Input::Leader(false) => {
                if self.leader {
                    info!("stepping down: dropping executor streams");
                }
                self.leader = false;
                self.epoch += 1;
                self.book.clear();
                self.senders.clear();
                self.told_to_drain.clear();
                self.sent_sizes.clear();
                self.desired.clear();
                self.gates.clear();
                self.spans.clear();
                self.publish_view(now, true);
                // Unacknowledged results are re-sent by their executors
                // to whichever node leads next.
                self.forget_pending();
            }
            Input::Launch(launch, reply) if !self.leader => {
                // Leadership moved since the launch was numbered: propose it
                // as it is, to be refused or numbered as usual.
                let proposer = self.proposer.clone();
                tokio::spawn(async move {
                    let _ = reply.send(proposer.propose(launch.command).await);
                });
            }
            _ if !self.leader => {}
            Input::Launch(launch, reply) => self.start_launch(*launch, reply, now),
            Input::Launched(ids) => {
                for id in ids {
                    if let Some(launching) = self.launching.remove(&id) {
                        self.launch_requests.remove(&launching.request_id);
                    }
                }
            }
            Input::Effect(Effect::NodeQueued {
                execution,
                node,
                project,
                pool,
                selector,
                not_before_ms,
            }) => {
                let key = (execution, node);
                // Placed before the state queued it (`start_downstream`,
                // `start_launch`): its assignment is right behind in the log,
                // and its result may be in already. Or placed since the state
                // queued it, from the book's queue (a launch's first node
                // that waited for a slot), before this notice came. Never
                // dispatch it twice.
                let early = self.early.remove(&key);
                if !early && !self.book.owned.contains_key(&key) {
                    self.book
                        .enqueue(key, &pool, selector, &project, not_before_ms, now);
                }
            }
            Input::Effect(Effect::CancelAttempt {
                execution,
                node,
                attempt,
                executor,
            }) => {
                let key = (execution, node);
                // Frees its slot unless its result came in first.
                self.book.settle(&key, attempt, &executor);
                self.spans.settled(&key, attempt, "cancelled");
                self.send_to(
                    &executor,
                    ToExecutor::Cancel(self.attempt_ref(&key, attempt)),
                );
            }
            Input::Effect(Effect::Event {
                execution,
                event,
                finished,
            }) => self.spans.on_event(&execution, &event, finished),
            Input::Effect(Effect::PoolSettings) => self.settings_dirty = true,
            Input::Effect(Effect::RetentionChanged) => self.sweep_due_ms = 0,
            Input::Effect(Effect::NodeDequeued { execution, node }) => {
                self.book.forget(&(execution, node));
            }
            Input::Effect(Effect::GateWaiting {
                execution,
                node,
                attempt,
                deadline_ms,
            }) => self.gates.watch(execution, node, attempt, deadline_ms),
            Input::Connected {
                executor,
                pool,
                labels,
                version,
                slots,
                max_slots,
                connection,
                running,
                sender,
            } => {
                let mut unknown = Vec::new();
                let running: Vec<(NodeKey, u32)> = running
                    .into_iter()
                    .filter_map(|r| match self.node_key(&r) {
                        Some(key) => Some((key, r.attempt)),
                        None => {
                            unknown.push(r);
                            None
                        }
                    })
                    .collect();
                let joining = book::Joining {
                    id: &executor,
                    pool: &pool,
                    labels,
                    version,
                    slots,
                    max_slots,
                    connection,
                };
                let stale = self.book.connect(joining, &running, now);
                info!(%executor, %pool, slots, running = running.len(), stale = stale.len(), "executor connected");
                self.senders.insert(executor.clone(), sender);
                // A new stream: tell it its size and its drain again.
                self.sent_sizes.remove(&executor);
                self.told_to_drain.remove(&executor);
                self.settings_dirty = true;
                // Of an execution that does not exist: a launch that was
                // never made (lost with its leader, or refused).
                for attempt in unknown {
                    warn!(%executor, execution = %attempt.execution_id, node = %attempt.node_id, "executor runs an attempt of an unknown execution; cancelling it");
                    self.send_to(&executor, ToExecutor::Cancel(attempt));
                }
                for (key, attempt) in stale {
                    let held = self.held(&key);
                    warn!(%executor, execution = %key.0, node = key.1, attempt, ?held, "executor runs a stale attempt; cancelling it");
                    self.send_to(
                        &executor,
                        ToExecutor::Cancel(self.attempt_ref(&key, attempt)),
                    );
                }
            }
            Input::Heartbeat {
                executor,
                draining,
                slots,
            } => match draining {
                Some(draining) => {
                    let was = self.book.executors.get(&executor).map(|e| e.draining);
                    self.book.heartbeat(&executor, draining, slots, now);
                    if was.is_some_and(|was| was != draining) {
                        // Its pool's size is now spread over the others.
                        self.settings_dirty = true;
                    }
                }
                None => self.book.seen(&executor, now),
            },
            Input::Disconnected {
                executor,
                connection,
            } => {
                info!(%executor, "executor stream closed");
                let drained = self
                    .book
                    .executors
                    .get(&executor)
                    .is_some_and(|e| e.connection == connection && e.draining);
                self.book.disconnect(&executor, connection, now);
                if drained {
                    self.forget_drain_of(&executor);
                }
                self.settings_dirty = true;
                if self
                    .book
                    .executors
                    .get(&executor)
                    .is_some_and(|e| !e.connected)
                {
                    self.senders.remove(&executor);
                }
            }
            Input::Result { executor, result } => self.on_result(executor, result, now),
            Input::Assigned(epoch, outcomes) => {
                // An earlier leadership's outcomes concern attempts this one
                // rebuilt from the state, or never knew.
                if epoch == self.epoch {
                    self.on_assigned(outcomes);
                }
            }
            Input::Recorded(settled) => {
                for (key, attempt) in settled {
                    if self
                        .provisional
                        .get(&key)
                        .is_some_and(|(a, _)| *a == attempt)
                    {
                        self.provisional.remove(&key);
                    }
                }
            }
            Input::RetryResults(epoch, batch) => {
                if epoch == self.epoch {
                    self.pending_results += batch.len();
                    self.pending
                        .extend(batch.into_iter().map(|(executor, attempt, command)| {
                            Pending::Result {
                                executor,
                                attempt,
                                command,
                                provisional: false,
                            }
                        }));
                } else {
                    // Proposed under an earlier leadership, perhaps right
                    // behind an assignment that never committed. The
                    // executors re-send unacknowledged results on
                    // reconnecting, against the state as it now stands.
                    debug!(
                        results = batch.len(),
                        "dropping results from an earlier leadership"
                    );
                }
            }
        }
    }
}
