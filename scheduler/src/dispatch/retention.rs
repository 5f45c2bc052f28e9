//! The leader's retention sweep: now and then it looks for finished
//! executions whose retention has passed and proposes their
//! [`Command::Expire`], at most [`MAX_PER_COMMAND`] at a time. How often it
//! looks follows the shortest retention in force, so that a cluster that
//! keeps a week does not scan its executions every second.

use std::sync::atomic::Ordering;

use tracing::{info, warn};

use super::Dispatcher;
use crate::state::retention::{Retention, MAX_PER_COMMAND};
use crate::state::{Command, SchedulerState};

/// The sweep looks at least this often, and at most this often.
const LONGEST_GAP_MS: u64 = 60_000;
const SHORTEST_GAP_MS: u64 = 500;

/// How long until the next sweep: a tenth of the shortest retention in
/// force, within [`SHORTEST_GAP_MS`] and [`LONGEST_GAP_MS`].
pub(super) fn sweep_gap_ms(state: &SchedulerState, default: Retention) -> u64 {
    let shortest = std::iter::once(default)
        .chain(state.projects.values().filter_map(|p| p.retention))
        .filter_map(|r| match r {
            Retention::Forever => None,
            Retention::For { ms } => Some(ms),
        })
        .min();
    shortest.map_or(LONGEST_GAP_MS, |ms| {
        (ms / 10).clamp(SHORTEST_GAP_MS, LONGEST_GAP_MS)
    })
}

impl Dispatcher {
    /// Proposes the expiry of what is due, when a sweep is due.
    pub(super) fn sweep_expired(&mut self, now: u64) {
        // One Expire at a time: until it commits, the same ones are due.
        if now < self.sweep_due_ms || self.expiring.load(Ordering::Acquire) {
            return;
        }
        let (due, gap) = {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            (
                state.due_for_expiry(now, self.retention, MAX_PER_COMMAND),
                sweep_gap_ms(&state, self.retention),
            )
        };
        // A full batch means more are due: look again soon.
        self.sweep_due_ms = now
            + if due.len() == MAX_PER_COMMAND {
                SHORTEST_GAP_MS
            } else {
                gap
            };
        if due.is_empty() {
            return;
        }
        info!(
            count = due.len(),
            "expiring finished executions past their retention"
        );
        let proposer = self.proposer.clone();
        let expiring = self.expiring.clone();
        expiring.store(true, Ordering::Release);
        tokio::spawn(async move {
            let count = due.len();
            if let Err(error) = proposer
                .propose(Command::Expire {
                    executions: due,
                    now_ms: now,
                })
                .await
            {
                warn!(%error, count, "could not expire executions; the next sweep tries again");
            }
            expiring.store(false, Ordering::Release);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::pools::ProjectSettings;

    #[test]
    fn the_sweep_follows_the_shortest_retention() {
        let mut state = SchedulerState::default();
        let week = Retention::For { ms: 7 * 86_400_000 };
        assert_eq!(sweep_gap_ms(&state, week), LONGEST_GAP_MS);
        assert_eq!(sweep_gap_ms(&state, Retention::Forever), LONGEST_GAP_MS);
        state.projects.insert(
            "soak".into(),
            ProjectSettings {
                retention: Some(Retention::For { ms: 20_000 }),
                ..Default::default()
            },
        );
        assert_eq!(sweep_gap_ms(&state, week), 2_000);
        assert_eq!(
            sweep_gap_ms(&state, Retention::For { ms: 1_000 }),
            SHORTEST_GAP_MS
        );
    }
}
