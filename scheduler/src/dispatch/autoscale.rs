//! The autoscaler of a pool, run by the leader: once a second it reads the
//! pool's load from the book and may propose a new total worker count as
//! a replicated `Autoscaled` command, whose reason `baton pools --events`
//! lists. [`decide`] is the whole policy, a pure function of the policy,
//! the load and what it remembers; the dispatcher only feeds it.
//!
//! Hysteresis: the pool grows as soon as the queue wait is above target
//! (and again once the new workers had time to show in the wait); it
//! shrinks only after the wait stayed under half the target with at most
//! half its workers busy for a whole cooldown, and then to the size that
//! keeps the busiest moment of that cooldown at about 70% of the workers,
//! where the shrink condition no longer holds.

use std::collections::HashMap;

use tracing::info;

use super::Dispatcher;
use crate::state::pools::{Autoscale, Scale};
use crate::state::Command;

/// How often the autoscaler looks at its pools.
pub const EVALUATE_EVERY_MS: u64 = 1_000;
/// How long after a change it waits before growing again, so that the
/// workers just added show in the queue wait first.
pub const GROW_SETTLE_MS: u64 = 3_000;
/// How far back the queue waits it reads go.
pub const WAIT_WINDOW_MS: u64 = 3_000;

/// A pool's load as the leader sees it now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Load {
    /// Executors of the pool that take work.
    pub executors: u32,
    /// The sum of their ceilings (`--max-workers`).
    pub capacity: u32,
    /// Their live workers, and how many are busy.
    pub workers: u32,
    pub busy: u32,
    /// Ready instances an executor of the pool could take.
    pub queued: u64,
    /// The queue wait: the longest of the oldest ready instance's and the
    /// 90th percentile of the instances placed in the last few seconds.
    pub wait_ms: u64,
}

/// What the autoscaler remembers of a pool between two looks; leader memory
/// (a new leader starts afresh, which only delays a shrink).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    last_change_ms: Option<u64>,
    /// Since when the pool has been under-used, and its most busy workers
    /// since then.
    low_since_ms: Option<u64>,
    peak_busy: u32,
}

/// A new total for the pool, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub to: u32,
    pub reason: String,
}

/// The pool's next size, if it should change. `current` is the total the
/// state holds (`None`: the executors' own sizes, i.e. `load.workers`).
pub fn decide(
    policy: &Autoscale,
    current: Option<u32>,
    load: &Load,
    memory: &mut Memory,
    now_ms: u64,
) -> Option<Decision> {
    if load.executors == 0 {
        // Nothing to size: the queue waits for an executor, not a worker.
        memory.low_since_ms = None;
        return None;
    }
    // Every executor keeps one worker, and none goes above its ceiling.
    let floor = policy.min.max(load.executors);
    let ceiling = policy.max.min(load.capacity).max(floor);
    let current = current.unwrap_or(load.workers);
    let change = |memory: &mut Memory, to: u32, reason: String| {
        memory.last_change_ms = Some(now_ms);
        memory.low_since_ms = None;
        Some(Decision { to, reason })
    };
    if current < floor || current > policy.max {
        let to = current.clamp(floor, ceiling);
        if to != current {
            return change(
                memory,
                to,
                format!(
                    "within {}..{} on {} executors",
                    policy.min, policy.max, load.executors
                ),
            );
        }
    }
    if load.queued > 0 && load.wait_ms > policy.target_wait_ms {
        memory.low_since_ms = None;
        let settled = memory
            .last_change_ms
            .is_none_or(|at| now_ms >= at + GROW_SETTLE_MS);
        if current >= ceiling || !settled {
            return None;
        }
        // Grow in proportion to how far the wait is above target, at most
        // doubling in one step.
        let factor = (load.wait_ms as f64 / policy.target_wait_ms as f64).min(2.0);
        let to = ((current as f64 * factor).ceil() as u32)
            .max(current + 1)
            .min(ceiling);
        return change(
            memory,
            to,
            format!(
                "queue wait {}ms above the {}ms target with {} waiting",
                load.wait_ms, policy.target_wait_ms, load.queued
            ),
        );
    }
    let under_used = load.wait_ms * 2 <= policy.target_wait_ms && load.busy * 2 <= current;
    if !under_used {
        memory.low_since_ms = None;
        return None;
    }
    let since = match memory.low_since_ms {
        Some(since) => since,
        None => {
            memory.low_since_ms = Some(now_ms);
            memory.peak_busy = 0;
            now_ms
        }
    };
    memory.peak_busy = memory.peak_busy.max(load.busy);
    let cooled = now_ms >= since + policy.cooldown_ms
        && memory
            .last_change_ms
            .is_none_or(|at| now_ms >= at + policy.cooldown_ms);
    if !cooled {
        return None;
    }
    let to = (memory.peak_busy * 10).div_ceil(7).clamp(floor, ceiling);
    if to >= current {
        return None;
    }
    let peak = memory.peak_busy;
    change(
        memory,
        to,
        format!(
            "under-used for {}s (at most {peak} of {current} workers busy, queue wait {}ms)",
            policy.cooldown_ms / 1000,
            load.wait_ms
        ),
    )
}

impl Dispatcher {
    /// Looks at every autoscaled pool and proposes the sizes [`decide`]
    /// gives; at most every [`EVALUATE_EVERY_MS`].
    pub(super) fn autoscale(&mut self, now: u64) {
        if now < self.autoscale_due_ms {
            return;
        }
        self.autoscale_due_ms = now + EVALUATE_EVERY_MS;
        let mut commands = Vec::new();
        {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            self.autoscale_memory
                .retain(|pool, _| state.pools.get(pool).is_some_and(|p| p.autoscale.is_some()));
            for (pool, settings) in &state.pools {
                let Some(policy) = settings.autoscale else {
                    continue;
                };
                let current = match settings.scale {
                    Some(Scale::Total(n)) => Some(n),
                    _ => None,
                };
                let load = self.book.load(pool, now, WAIT_WINDOW_MS);
                let memory = self.autoscale_memory.entry(pool.clone()).or_default();
                if let Some(decision) = decide(&policy, current, &load, memory, now) {
                    info!(%pool, to = decision.to, reason = %decision.reason, "autoscaling");
                    let direction = match current {
                        Some(n) if decision.to < n => "shrink",
                        _ => "grow",
                    };
                    self.instruments
                        .autoscaler_decisions
                        .get_or_create(&vec![
                            ("pool".to_string(), pool.clone()),
                            ("direction".to_string(), direction.to_string()),
                        ])
                        .inc();
                    commands.push(Command::Autoscaled {
                        pool: pool.clone(),
                        to: decision.to,
                        reason: decision.reason,
                        now_ms: now,
                    });
                }
            }
        }
        for command in commands {
            let proposer = self.proposer.clone();
            tokio::spawn(async move {
                let _ = proposer.propose(command).await;
            });
        }
    }
}

/// Per autoscaled pool, what [`decide`] remembers.
pub type Memories = HashMap<String, Memory>;

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Autoscale = Autoscale {
        min: 2,
        max: 16,
        target_wait_ms: 500,
        cooldown_ms: 30_000,
    };

    fn load(workers: u32, busy: u32, queued: u64, wait_ms: u64) -> Load {
        Load {
            executors: 2,
            capacity: 64,
            workers,
            busy,
            queued,
            wait_ms,
        }
    }

    #[test]
    fn a_wait_above_target_grows_the_pool_in_proportion_at_most_doubling() {
        let mut memory = Memory::default();
        let d = decide(&POLICY, Some(4), &load(4, 4, 100, 750), &mut memory, 0).unwrap();
        assert_eq!(d.to, 6, "{d:?}");
        assert!(d.reason.contains("750ms above the 500ms target"), "{d:?}");
        let mut memory = Memory::default();
        let d = decide(&POLICY, Some(4), &load(4, 4, 100, 60_000), &mut memory, 0).unwrap();
        assert_eq!(d.to, 8, "at most doubling");
        let mut memory = Memory::default();
        let d = decide(&POLICY, Some(4), &load(4, 4, 1, 510), &mut memory, 0).unwrap();
        assert_eq!(d.to, 5, "at least one more");
    }

    #[test]
    fn it_grows_again_only_once_the_new_workers_had_time_to_show() {
        let mut memory = Memory::default();
        let busy = load(4, 4, 100, 2_000);
        assert_eq!(
            decide(&POLICY, Some(4), &busy, &mut memory, 0).unwrap().to,
            8
        );
        let busy = load(8, 8, 100, 2_000);
        assert_eq!(decide(&POLICY, Some(8), &busy, &mut memory, 1_000), None);
        assert_eq!(
            decide(&POLICY, Some(8), &busy, &mut memory, GROW_SETTLE_MS)
                .unwrap()
                .to,
            16
        );
    }

    #[test]
    fn it_never_goes_past_max_or_the_executors_ceilings() {
        let mut memory = Memory::default();
        let at_max = load(16, 16, 1_000, 10_000);
        assert_eq!(decide(&POLICY, Some(16), &at_max, &mut memory, 0), None);
        let small = Load {
            capacity: 6,
            ..load(4, 4, 1_000, 10_000)
        };
        assert_eq!(
            decide(&POLICY, Some(4), &small, &mut memory, 0).unwrap().to,
            6
        );
    }

    #[test]
    fn a_size_outside_the_bounds_is_brought_inside() {
        let mut memory = Memory::default();
        let d = decide(&POLICY, None, &load(40, 0, 0, 0), &mut memory, 0).unwrap();
        assert_eq!(d.to, 16);
        let d = decide(&POLICY, Some(1), &load(1, 0, 0, 0), &mut memory, 0).unwrap();
        assert_eq!(d.to, 2);
        let three = Load {
            executors: 3,
            ..load(3, 0, 0, 0)
        };
        assert_eq!(
            decide(&POLICY, Some(2), &three, &mut memory, 0).unwrap().to,
            3,
            "every executor keeps a worker"
        );
    }

    #[test]
    fn between_the_bands_it_holds() {
        let mut memory = Memory::default();
        // Wait between half the target and the target: neither grows nor
        // starts counting toward a shrink.
        for t in 0..100 {
            let held = load(8, 1, 5, 400);
            assert_eq!(
                decide(&POLICY, Some(8), &held, &mut memory, t * 1_000),
                None
            );
        }
        // Busy workers with no wait: right-sized, not under-used.
        for t in 0..100 {
            let full = load(8, 7, 0, 0);
            assert_eq!(
                decide(&POLICY, Some(8), &full, &mut memory, t * 1_000),
                None
            );
        }
    }

    #[test]
    fn it_shrinks_after_a_whole_cooldown_under_used_to_its_busiest_moment() {
        let mut memory = Memory::default();
        let mut decided = None;
        for t in 0..=30 {
            let busy = if t == 10 { 4 } else { 1 };
            decided = decide(
                &POLICY,
                Some(16),
                &load(16, busy, 0, 0),
                &mut memory,
                t * 1_000,
            );
            if t < 30 {
                assert_eq!(decided, None, "at {t}s");
            }
        }
        let d = decided.expect("shrinks after the cooldown");
        assert_eq!(d.to, 6, "4 busy at the peak is 70% of 6: {d:?}");
        assert!(d.reason.contains("under-used for 30s"), "{d:?}");
        // And not again before another whole cooldown.
        for t in 31..60 {
            assert_eq!(
                decide(&POLICY, Some(6), &load(6, 0, 0, 0), &mut memory, t * 1_000),
                None
            );
        }
        let d = decide(&POLICY, Some(6), &load(6, 0, 0, 0), &mut memory, 61_000).unwrap();
        assert_eq!(d.to, 2, "down to --min");
    }

    #[test]
    fn a_burst_during_the_cooldown_starts_it_again() {
        let mut memory = Memory::default();
        for t in 0..20 {
            decide(&POLICY, Some(8), &load(8, 0, 0, 0), &mut memory, t * 1_000);
        }
        assert_eq!(
            decide(&POLICY, Some(8), &load(8, 8, 0, 0), &mut memory, 20_000),
            None,
            "busy"
        );
        for t in 21..50 {
            assert_eq!(
                decide(&POLICY, Some(8), &load(8, 0, 0, 0), &mut memory, t * 1_000),
                None,
                "at {t}s the cooldown began again at 21s"
            );
        }
        assert!(decide(&POLICY, Some(8), &load(8, 0, 0, 0), &mut memory, 51_000).is_some());
    }

    #[test]
    fn with_no_executor_there_is_nothing_to_size() {
        let mut memory = Memory::default();
        let none = Load {
            queued: 100,
            wait_ms: 60_000,
            ..Load::default()
        };
        assert_eq!(decide(&POLICY, Some(4), &none, &mut memory, 0), None);
    }
}
