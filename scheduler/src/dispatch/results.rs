//! What the leader does with an attempt's result: record it for the log,
//! and start the nodes it makes ready at once, before it commits (see
//! [`Dispatcher::start_downstream`]).

use super::*;

impl Dispatcher {
    pub(super) fn on_result(&mut self, executor: String, result: AttemptResult, now: u64) {
        self.book.seen(&executor, now);
        let Some(attempt) = result.attempt.clone() else {
            warn!(%executor, "result without an attempt reference; ignored");
            return;
        };
        let Some(key) = self.node_key(&attempt) else {
            // Unknown execution or node: nothing to record, but let the executor forget it.
            self.send_to(
                &executor,
                ToExecutor::Ack(baton_proto::ResultAck {
                    attempts: vec![attempt],
                }),
            );
            return;
        };
        // The attempt this leader handed to this executor (not a stale one
        // re-sent, nor another executor's run of the same number): its
        // result will count, so its outputs may feed the downstream nodes
        // before it is committed.
        let current = self.book.settle(&key, attempt.attempt, &executor);
        if current {
            self.book.completed(&executor, now);
        }
        let mut provisional = false;
        let ran_on = executor.clone();
        // For its spans, when traces are exported (the command takes `key`).
        let traced = (current && baton_telemetry::enabled()).then(|| key.clone());
        let command = match result.outcome {
            Some(attempt_result::Outcome::Succeeded(outputs)) => {
                match values_from_proto(&outputs.values) {
                    Ok(outputs) => {
                        if current {
                            provisional =
                                self.start_downstream(&key, attempt.attempt, &outputs, now);
                        }
                        let (execution, node) = key;
                        Command::Complete {
                            execution,
                            node,
                            attempt: attempt.attempt,
                            executor: ran_on,
                            outputs,
                            log_size: result.log_size,
                            now_ms: now,
                        }
                    }
                    Err(e) => Command::Fail {
                        execution: key.0,
                        node: key.1,
                        attempt: attempt.attempt,
                        executor: ran_on,
                        error: format!("unreadable outputs: {e}"),
                        retryable: false,
                        log_size: result.log_size,
                        now_ms: now,
                    },
                }
            }
            // Never started on a draining executor: it runs again elsewhere,
            // and it is no failure of the task.
            Some(attempt_result::Outcome::Failed(failure)) if failure.handed_back => {
                Command::HandBack {
                    execution: key.0,
                    node: key.1,
                    attempt: attempt.attempt,
                    executor: ran_on,
                    now_ms: now,
                }
            }
            Some(attempt_result::Outcome::Failed(failure)) => Command::Fail {
                execution: key.0,
                node: key.1,
                attempt: attempt.attempt,
                executor: ran_on,
                error: failure.message,
                retryable: failure.retryable,
                log_size: result.log_size,
                now_ms: now,
            },
            None => Command::Fail {
                execution: key.0,
                node: key.1,
                attempt: attempt.attempt,
                executor: ran_on,
                error: "the executor reported no outcome".into(),
                retryable: true,
                log_size: result.log_size,
                now_ms: now,
            },
        };
        if let Some(key) = traced {
            let outcome = match &command {
                Command::Complete { .. } => "succeeded",
                Command::HandBack { .. } => "handed back",
                _ => "failed",
            };
            self.spans.settled(&key, attempt.attempt, outcome);
        }
        // Proposed at once, even if the assignment is still in flight: it
        // was proposed first, so it comes first in the log, and if it does
        // not commit as sent the result is ignored when applied.
        self.pending_results += 1;
        self.pending.push(Pending::Result {
            executor,
            attempt,
            command,
            provisional,
        });
    }

    /// Queues the downstream nodes that `key`'s successful result makes
    /// ready, before that result is committed (a chain then runs at the
    /// executor's pace, not one commit per node: W2). Returns whether the
    /// outputs were kept as provisional.
    ///
    /// Why this is safe: a downstream node's assignment is proposed after
    /// this result (`pending` keeps order, the proposer keeps it in the log),
    /// and the state machine accepts an assignment only for a queued node,
    /// so it counts only if this result was recorded first, with these very
    /// outputs (this is the attempt this leader assigned to this executor,
    /// and the outputs pass the check the state machine makes). If the
    /// result is refused or lost, the assignment is refused too and the
    /// attempt cancelled (`on_assigned`); after a leader crash the executor
    /// re-sends the result, and the node runs again (at-least-once).
    pub(super) fn start_downstream(
        &mut self,
        key: &NodeKey,
        attempt: u32,
        outputs: &Values,
        now: u64,
    ) -> bool {
        let state = self.state.clone();
        let state = state.read().unwrap_or_else(|e| e.into_inner());
        let Some(execution) = state.execution(&key.0) else {
            return false;
        };
        let registry = state.registry();
        let Some(located) = registry.locate(execution, key.1) else {
            return false;
        };
        if located.node().downstream.is_empty() || execution.phase != ExecutionPhase::Running {
            return false;
        }
        let Some(task) = registry.task_of(execution, key.1) else {
            return false;
        };
        if check_outputs(task, outputs).is_err() {
            return false;
        }
        self.provisional
            .insert(key.clone(), (attempt, outputs.clone()));
        let view = WithProvisional {
            execution,
            provisional: &self.provisional,
        };
        for down in readiness::ready_after(&registry, &view, key.1) {
            // A cacheable task may be served from the cache when the result
            // commits: it is not started on a provisional one.
            // Nor is a task a recovery may reuse the result of.
            let recovering = execution
                .origin
                .as_ref()
                .is_some_and(|o| !o.reuse.is_empty());
            if recovering
                || registry
                    .task_of(execution, down)
                    .is_some_and(|t| t.cache.is_some())
            {
                continue;
            }
            let down_key = (key.0.clone(), down);
            if !self.early.contains(&down_key) && !self.book.owned.contains_key(&down_key) {
                let state = &execution.nodes[down as usize];
                self.book.enqueue(
                    down_key,
                    &state.pool,
                    state.selector.clone(),
                    &execution.project,
                    0,
                    now,
                );
            }
        }
        true
    }
}

/// An execution as the state holds it, with the successes this leader has
/// received and proposed but not yet seen committed: what the engine's
/// readiness rule reads when the dispatcher starts a node early.
pub(super) struct WithProvisional<'a> {
    pub(super) execution: &'a Execution,
    pub(super) provisional: &'a HashMap<NodeKey, (u32, Values)>,
}

impl WithProvisional<'_> {
    fn provisional(&self, node: u32) -> Option<&Values> {
        if self.provisional.is_empty() {
            return None;
        }
        self.provisional
            .get(&(self.execution.id.clone(), node))
            .map(|(_, outputs)| outputs)
    }
}

impl RunView for WithProvisional<'_> {
    fn execution(&self) -> &Execution {
        self.execution
    }

    fn succeeded(&self, node: u32) -> bool {
        self.execution
            .nodes
            .get(node as usize)
            .is_some_and(|n| n.phase == NodePhase::Succeeded)
            || self.provisional(node).is_some()
    }

    fn outputs(&self, node: u32) -> Option<&Values> {
        self.provisional(node)
            .or_else(|| self.execution.nodes.get(node as usize).map(|n| &n.outputs))
    }
}
