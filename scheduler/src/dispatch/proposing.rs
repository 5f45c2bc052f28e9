//! Proposing what the dispatcher did, in the order it happened (see
//! [`Dispatcher::propose_round`]), and acting on the outcome of each
//! proposal once it is settled.

use super::*;

impl Dispatcher {
    /// Proposes this round's launches, assignments and results, in the
    /// order they happened, in one batch; acknowledges the results to their
    /// executors once committed. Assignments alone are proposed only once
    /// they have waited [`DispatcherConfig::linger`], and so are launches whose first
    /// nodes were placed: a short first node's result then joins its launch
    /// in one entry (W3: one commit between a launch and its result).
    pub(super) fn propose_round(&mut self) {
        let assigns_due = self.assigns_due.is_some_and(|due| Instant::now() >= due);
        let launch_waits = self.pending_launches > 0
            && self.pending.iter().any(|item| match item {
                Pending::Launch { id, .. } => !self.launching.get(id).is_some_and(|l| l.placed),
                _ => false,
            });
        if self.pending_results == 0 && !assigns_due && !launch_waits {
            return;
        }
        self.assigns_due = None;
        self.pending_results = 0;
        self.pending_launches = 0;
        let pending = std::mem::take(&mut self.pending);
        let mut senders: HashMap<String, ExecutorSender> = HashMap::new();
        let now = now_ms();
        // In this order, a launch lands in the log before its nodes'
        // assignments, each assignment before any result of its attempt, and
        // each result before the assignments it let start.
        let mut commands = Vec::with_capacity(pending.len());
        let mut proposed = Vec::with_capacity(pending.len());
        for item in pending {
            match item {
                Pending::Assign(placement, attempt) => {
                    commands.push(Command::Assign {
                        execution: placement.key.0.clone(),
                        node: placement.key.1,
                        executor: placement.executor.clone(),
                        now_ms: now,
                    });
                    proposed.push(Proposed::Assign(placement, attempt));
                }
                Pending::Result {
                    executor,
                    attempt,
                    command,
                    provisional,
                } => {
                    if !senders.contains_key(&executor) {
                        if let Some(sender) = self.senders.get(&executor) {
                            senders.insert(executor.clone(), sender.clone());
                        }
                    }
                    commands.push(command.clone());
                    proposed.push(Proposed::Result {
                        executor,
                        attempt,
                        command,
                        provisional,
                    });
                }
                Pending::Launch { id, command, reply } => {
                    commands.push(command);
                    proposed.push(Proposed::Launch { id, reply });
                }
            }
        }
        let committed = self.proposer.enqueue(commands);
        let tx = self.self_tx.clone();
        let epoch = self.epoch;
        tokio::spawn(async move {
            let outcome = committed.await;
            let mut responses = match outcome {
                Ok(responses) => Ok(responses.into_iter()),
                Err(e) => {
                    warn!(error = %e, "proposing launches, assignments and results failed");
                    Err(e)
                }
            };
            let failed = responses.is_err();
            let mut assigned = Vec::new();
            let mut recorded = Vec::new();
            let mut launched = Vec::new();
            let mut acks: HashMap<String, Vec<AttemptRef>> = HashMap::new();
            let mut retry = Vec::new();
            for item in proposed {
                let response = responses.as_mut().ok().and_then(|r| r.next());
                match item {
                    Proposed::Assign(placement, sent) => {
                        assigned.push(((placement, sent), response))
                    }
                    Proposed::Launch { id, reply } => {
                        launched.push(id);
                        let answer = match (&responses, response) {
                            (Err(e), _) => Err(e.clone()),
                            (Ok(_), Some(response)) => Ok(response),
                            (Ok(_), None) => Err(SchedulerError::internal(
                                "the state machine returned no response for a launch",
                            )),
                        };
                        let _ = reply.send(answer);
                    }
                    Proposed::Result {
                        executor,
                        attempt,
                        command,
                        provisional,
                    } => {
                        if provisional {
                            if let Command::Complete {
                                execution,
                                node,
                                attempt,
                                ..
                            } = &command
                            {
                                recorded.push(((execution.clone(), *node), *attempt));
                            }
                        }
                        if failed {
                            retry.push((executor, attempt, command));
                        } else {
                            acks.entry(executor).or_default().push(attempt);
                        }
                    }
                }
            }
            if !recorded.is_empty() {
                let _ = tx.send(Input::Recorded(recorded));
            }
            // Assignments first: cancelling one of a launch that failed
            // needs the launch's workflow, for the node's id.
            if !assigned.is_empty() {
                let _ = tx.send(Input::Assigned(epoch, assigned));
            }
            if !launched.is_empty() {
                let _ = tx.send(Input::Launched(launched));
            }
            for (executor, attempts) in acks {
                if let Some(sender) = senders.get(&executor) {
                    let ack = ToExecutor::Ack(baton_proto::ResultAck { attempts });
                    let _ = sender.send(Ok(SchedulerMessage { kind: Some(ack) }));
                }
            }
            if !retry.is_empty() {
                // Not acknowledged, so an executor that reconnects (to the next
                // leader) re-sends them; while this node leads, try again.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let _ = tx.send(Input::RetryResults(epoch, retry));
            }
        });
    }
}
