//! The leader's watch over gate deadlines: a gate instance that waits for a
//! signal with a timeout is watched from its [`Effect::GateWaiting`] (or, on
//! a new leader, from the state, as `become_leader` rebuilds the queues),
//! and its timeout is proposed once the deadline has passed. The state machine decides: a gate signalled or
//! cancelled meanwhile ignores the timeout.
//!
//! [`Effect::GateWaiting`]: crate::state::Effect::GateWaiting

use std::collections::BTreeSet;

use tracing::warn;

use super::{Dispatcher, Input};
use crate::state::{Command, Effect, ExecutionId};

/// When a timeout whose proposal failed is proposed again.
const RETRY_MS: u64 = 1_000;

/// Gate deadlines, earliest first: (deadline, execution, node, attempt).
#[derive(Default)]
pub(super) struct GateTimers {
    due: BTreeSet<(u64, ExecutionId, u32, u32)>,
}

impl GateTimers {
    pub(super) fn watch(
        &mut self,
        execution: ExecutionId,
        node: u32,
        attempt: u32,
        deadline_ms: u64,
    ) {
        self.due.insert((deadline_ms, execution, node, attempt));
    }

    pub(super) fn clear(&mut self) {
        self.due.clear();
    }

    pub(super) fn len(&self) -> usize {
        self.due.len()
    }

    /// The earliest deadline watched.
    pub(super) fn next_ms(&self) -> Option<u64> {
        self.due.first().map(|(deadline, ..)| *deadline)
    }

    /// Removes and returns the gates whose deadline is at or before `now`.
    fn take_due(&mut self, now: u64) -> Vec<(u64, ExecutionId, u32, u32)> {
        let mut taken = Vec::new();
        while self
            .due
            .first()
            .is_some_and(|(deadline, ..)| *deadline <= now)
        {
            taken.extend(self.due.pop_first());
        }
        taken
    }
}

impl Dispatcher {
    /// Proposes the timeout of every gate whose deadline has passed and
    /// that still waits under the attempt it was watched for.
    pub(super) fn fire_gate_timeouts(&mut self, now: u64) {
        let due = self.gates.take_due(now);
        if due.is_empty() {
            return;
        }
        let commands: Vec<(Command, Effect)> = {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            let registry = state.registry();
            due.into_iter()
                .filter(|(_, execution, node, attempt)| {
                    state.executions.get(execution).is_some_and(|e| {
                        crate::engine::gate::waiting(&registry, e, *node)
                            && e.nodes[*node as usize].attempt == *attempt
                    })
                })
                .map(|(_, execution, node, attempt)| {
                    let retry = Effect::GateWaiting {
                        execution: execution.clone(),
                        node,
                        attempt,
                        deadline_ms: now + RETRY_MS,
                    };
                    let command = Command::GateTimedOut {
                        execution,
                        node,
                        attempt,
                        now_ms: now,
                    };
                    (command, retry)
                })
                .collect()
        };
        if commands.is_empty() {
            return;
        }
        let proposer = self.proposer.clone();
        let again = self.self_tx.clone();
        tokio::spawn(async move {
            let (commands, retries): (Vec<Command>, Vec<Effect>) = commands.into_iter().unzip();
            if let Err(e) = proposer.propose_many(commands).await {
                warn!(error = %e, "proposing gate timeouts failed; trying again");
                // Watched again: ignored by a dispatcher no longer leading,
                // whose successor watches the gate from the state.
                for retry in retries {
                    let _ = again.send(Input::Effect(retry));
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_taken_in_order_once_passed() {
        let mut timers = GateTimers::default();
        let id = |s: &str| ExecutionId(s.into());
        timers.watch(id("b"), 1, 1, 200);
        timers.watch(id("a"), 0, 1, 100);
        timers.watch(id("c"), 2, 3, 300);
        assert_eq!(timers.next_ms(), Some(100));
        assert!(timers.take_due(99).is_empty());
        let due: Vec<_> = timers
            .take_due(200)
            .into_iter()
            .map(|(_, e, n, _)| (e, n))
            .collect();
        assert_eq!(due, vec![(id("a"), 0), (id("b"), 1)]);
        assert_eq!(timers.next_ms(), Some(300));
        assert_eq!(timers.len(), 1);
    }
}
