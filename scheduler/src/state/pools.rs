//! What operators set about pools, projects and executors, replicated so
//! that a new leader or a restarted executor keeps it: a pool's desired
//! worker count (`baton pool scale`), a project's default pool
//! (`baton project set`), its autoscaling policy (`baton pool autoscale`)
//! and the last changes of its size, and the executors told to drain
//! (`baton executor drain`). Liveness and load stay leader memory (the
//! dispatcher's book); only these decisions enter the log.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::error::SchedulerError;

/// How many workers a pool should have, as `baton pool scale` set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scale {
    /// A total, spread over the pool's executors (each within its ceiling).
    Total(u32),
    /// The same count on every executor of the pool (within its ceiling).
    PerExecutor(u32),
}

impl std::fmt::Display for Scale {
    /// As `baton pools` shows it: `8 workers`, `2 per executor`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scale::Total(1) => write!(f, "1 worker"),
            Scale::Total(n) => write!(f, "{n} workers"),
            Scale::PerExecutor(n) => write!(f, "{n} per executor"),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSettings {
    /// `None`: each executor keeps the `--workers` it started with.
    pub scale: Option<Scale>,
    /// Set: the leader's autoscaler sets `scale` (`baton pool autoscale`).
    pub autoscale: Option<Autoscale>,
    /// The last changes of its size, oldest first (`baton pools --events`).
    pub events: VecDeque<PoolEvent>,
    /// Assignments that may wait on each of its executors beyond the busy
    /// workers (`baton pool prefetch`; 0: none).
    pub prefetch: u32,
}

/// `baton pool autoscale POOL --min A --max B --target-wait T`: the pool's
/// total worker count follows its queue wait, within these bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Autoscale {
    pub min: u32,
    pub max: u32,
    /// The queue wait it aims at: above it the pool grows.
    pub target_wait_ms: u64,
    /// How long the pool must be under-used before it shrinks.
    pub cooldown_ms: u64,
}

/// How long a pool must be under-used before the autoscaler shrinks it,
/// unless `--cooldown` says otherwise.
pub const DEFAULT_COOLDOWN_MS: u64 = 30_000;

impl std::fmt::Display for Autoscale {
    /// As `baton pools` shows it: `autoscale 1..8, wait 500ms`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "autoscale {}..{}, wait {}ms",
            self.min, self.max, self.target_wait_ms
        )
    }
}

/// Who changed a pool's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangedBy {
    Operator,
    Autoscaler,
}

/// One change of a pool's size or policy, with why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolEvent {
    pub at_ms: u64,
    pub by: ChangedBy,
    pub from: Option<Scale>,
    pub to: Option<Scale>,
    pub reason: String,
}

/// The most assignments `baton pool prefetch` lets wait on one executor.
pub const MAX_PREFETCH: u32 = 64;

/// How many events a pool keeps; the oldest go first.
pub const MAX_POOL_EVENTS: usize = 50;

impl PoolSettings {
    fn record(&mut self, event: PoolEvent) {
        self.events.push_back(event);
        while self.events.len() > MAX_POOL_EVENTS {
            self.events.pop_front();
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSettings {
    /// Where the project's nodes run when nothing else pins them; empty:
    /// `default`.
    pub default_pool: String,
    /// Its weight in every pool's fair share (`None`: 1).
    pub weight: Option<u32>,
    /// The most of its nodes that may run at once in a pool, by pool.
    pub max_running: BTreeMap<String, u32>,
    /// The most of its executions that may run at once; later launches
    /// queue (see `admission`).
    pub max_executions: Option<u32>,
    /// How long its finished executions stay (`None`: the leader's
    /// `--retention`).
    pub retention: Option<super::retention::Retention>,
}

impl ProjectSettings {
    pub fn weight(&self) -> u32 {
        self.weight.unwrap_or(1)
    }
}

/// `baton project set`: what to change of a project's settings; `None`
/// leaves a setting as it is. A cap of `Some(None)` removes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectChange {
    pub default_pool: Option<String>,
    pub weight: Option<u32>,
    pub max_running: Vec<(String, Option<u32>)>,
    pub max_executions: Option<Option<u32>>,
}

/// The largest weight a project may have.
pub const MAX_WEIGHT: u32 = 1_000;

/// An executor told to drain: it gets nothing new, and what still runs on
/// it past `deadline_ms` (if set) is handed back to run elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainOrder {
    pub since_ms: u64,
    pub deadline_ms: Option<u64>,
}

/// How many drain orders are kept: executor ids are per process, so an
/// order outlives its executor; the oldest go first.
pub const MAX_DRAIN_ORDERS: usize = 1_000;

/// Refuses a pool or project name nobody could pin to.
pub fn check_name(what: &str, name: &str) -> Result<(), SchedulerError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(SchedulerError::invalid(format!(
            "bad {what} name `{name}`: use letters, digits, `-`, `_` or `.`"
        )))
    }
}

/// Refuses a project change that names a bad pool or sets a weight or cap
/// nothing could honour; the whole change, before any of it applies.
pub fn check_project_change(project: &str, change: &ProjectChange) -> Result<(), SchedulerError> {
    check_name("project", project)?;
    if let Some(pool) = change.default_pool.as_deref().filter(|p| !p.is_empty()) {
        check_name("pool", pool)?;
    }
    if let Some(weight) = change.weight {
        if !(1..=MAX_WEIGHT).contains(&weight) {
            return Err(SchedulerError::invalid(format!(
                "project `{project}`: --weight must be between 1 and {MAX_WEIGHT}, not {weight}"
            )));
        }
    }
    for (pool, cap) in &change.max_running {
        check_name("pool", pool)?;
        if *cap == Some(0) {
            return Err(SchedulerError::invalid(format!(
                "project `{project}`: --max-running {pool}=0 would never run anything there; remove the cap with {pool}=none"
            )));
        }
    }
    if change.max_executions == Some(Some(0)) {
        return Err(SchedulerError::invalid(format!(
            "project `{project}`: --max-executions 0 would never run anything; remove the cap with none"
        )));
    }
    Ok(())
}

/// Refuses a policy that could not hold.
pub fn check_autoscale(pool: &str, policy: &Autoscale) -> Result<(), SchedulerError> {
    let problem = if policy.min == 0 {
        Some("--min must be at least 1 (to stop a pool, drain its executors)".to_owned())
    } else if policy.max < policy.min {
        Some(format!(
            "--max {} is below --min {}",
            policy.max, policy.min
        ))
    } else if policy.target_wait_ms == 0 {
        Some("--target-wait must be above 0 (e.g. 500ms)".to_owned())
    } else {
        None
    };
    match problem {
        Some(problem) => Err(SchedulerError::invalid(format!(
            "cannot autoscale pool `{pool}`: {problem}"
        ))),
        None => Ok(()),
    }
}

/// Each executor's worker count under `scale`, for a pool's executors given
/// as (id, ceiling), in id order. A total is spread evenly, the remainder to
/// the first executors, and what an executor's ceiling cannot take goes to
/// the others; every executor keeps at least one worker.
pub fn spread(scale: Scale, executors: &[(&str, u32)]) -> BTreeMap<String, u32> {
    let mut sizes: BTreeMap<String, u32> = BTreeMap::new();
    match scale {
        Scale::PerExecutor(n) => {
            for (id, ceiling) in executors {
                sizes.insert((*id).to_owned(), n.clamp(1, (*ceiling).max(1)));
            }
        }
        Scale::Total(total) => {
            let mut open: Vec<(&str, u32)> = executors.to_vec();
            for (id, _) in executors {
                sizes.insert((*id).to_owned(), 1);
            }
            let mut left = total.saturating_sub(executors.len() as u32);
            // Hand out the rest evenly to executors below their ceiling.
            while left > 0 {
                open.retain(|(id, ceiling)| sizes[*id] < (*ceiling).max(1));
                if open.is_empty() {
                    break;
                }
                let share = (left / open.len() as u32).max(1);
                for (id, ceiling) in &open {
                    if left == 0 {
                        break;
                    }
                    let size = sizes.get_mut(*id).expect("sized above");
                    let add = share.min(ceiling.saturating_sub(*size)).min(left);
                    *size += add;
                    left -= add;
                }
            }
        }
    }
    sizes
}

impl super::SchedulerState {
    pub(super) fn scale_pool(
        &mut self,
        pool: String,
        scale: Option<Scale>,
        now_ms: u64,
        effects: &mut Vec<super::Effect>,
    ) -> Result<super::Response, SchedulerError> {
        check_name("pool", &pool)?;
        if let Some(Scale::Total(0) | Scale::PerExecutor(0)) = scale {
            return Err(SchedulerError::invalid(format!(
                "pool `{pool}` cannot be scaled to 0 workers: drain its executors instead"
            )));
        }
        if let Some(policy) = self.pools.get(&pool).and_then(|p| p.autoscale) {
            return Err(SchedulerError::invalid(format!(
                "pool `{pool}` is autoscaled ({policy}): turn it off first with `baton pool autoscale {pool} --off`"
            )));
        }
        let settings = self.pools.entry(pool).or_default();
        let from = settings.scale;
        settings.scale = scale;
        settings.record(PoolEvent {
            at_ms: now_ms,
            by: ChangedBy::Operator,
            from,
            to: scale,
            reason: match scale {
                Some(_) => "baton pool scale".to_owned(),
                None => "baton pool scale --reset: each executor runs its own --workers".to_owned(),
            },
        });
        effects.push(super::Effect::PoolSettings);
        Ok(super::Response::Done)
    }

    /// Sets how many assignments may wait on each executor of a pool
    /// beyond its busy workers.
    pub(super) fn prefetch_pool(
        &mut self,
        pool: String,
        prefetch: u32,
        now_ms: u64,
        effects: &mut Vec<super::Effect>,
    ) -> Result<super::Response, SchedulerError> {
        check_name("pool", &pool)?;
        if prefetch > MAX_PREFETCH {
            return Err(SchedulerError::invalid(format!(
                "pool `{pool}` cannot prefetch {prefetch} assignments per executor: at most {MAX_PREFETCH}"
            )));
        }
        let settings = self.pools.entry(pool).or_default();
        if settings.prefetch == prefetch {
            return Ok(super::Response::Done);
        }
        settings.prefetch = prefetch;
        let scale = settings.scale;
        settings.record(PoolEvent {
            at_ms: now_ms,
            by: ChangedBy::Operator,
            from: scale,
            to: scale,
            reason: match prefetch {
                0 => "baton pool prefetch 0: no assignment waits on an executor".to_owned(),
                n => {
                    format!("baton pool prefetch {n}: up to {n} assignments wait on each executor")
                }
            },
        });
        effects.push(super::Effect::PoolSettings);
        Ok(super::Response::Done)
    }

    /// Turns a pool's autoscaler on (or changes its policy), or off: off,
    /// the pool keeps the size the autoscaler last gave it.
    pub(super) fn autoscale_pool(
        &mut self,
        pool: String,
        autoscale: Option<Autoscale>,
        now_ms: u64,
        effects: &mut Vec<super::Effect>,
    ) -> Result<super::Response, SchedulerError> {
        check_name("pool", &pool)?;
        if let Some(policy) = &autoscale {
            check_autoscale(&pool, policy)?;
        }
        let settings = self.pools.entry(pool).or_default();
        let from = settings.scale;
        let reason = match (&autoscale, settings.autoscale) {
            (Some(policy), None) => format!("{policy} on"),
            (Some(policy), Some(_)) => format!("{policy} changed"),
            (None, Some(_)) => "autoscale off: the pool keeps its size".to_owned(),
            (None, None) => return Ok(super::Response::Done),
        };
        // A total outside the new bounds is brought inside them at once.
        if let (Some(policy), Some(Scale::Total(n))) = (&autoscale, settings.scale) {
            settings.scale = Some(Scale::Total(n.clamp(policy.min, policy.max)));
        }
        settings.autoscale = autoscale;
        let to = settings.scale;
        settings.record(PoolEvent {
            at_ms: now_ms,
            by: ChangedBy::Operator,
            from,
            to,
            reason,
        });
        effects.push(super::Effect::PoolSettings);
        Ok(super::Response::Done)
    }

    /// The leader's autoscaler sized the pool: ignored if the pool is no
    /// longer autoscaled (the operator turned it off meanwhile).
    pub(super) fn autoscaled(
        &mut self,
        pool: String,
        to: u32,
        reason: String,
        now_ms: u64,
        effects: &mut Vec<super::Effect>,
    ) -> super::Response {
        let Some(settings) = self.pools.get_mut(&pool) else {
            return super::Response::Ignored(format!("pool `{pool}` is not autoscaled"));
        };
        let Some(policy) = settings.autoscale else {
            return super::Response::Ignored(format!("pool `{pool}` is no longer autoscaled"));
        };
        let from = settings.scale;
        let to = Some(Scale::Total(to.clamp(policy.min.max(1), policy.max)));
        if from == to {
            return super::Response::Ignored(format!("pool `{pool}` already has that size"));
        }
        settings.scale = to;
        settings.record(PoolEvent {
            at_ms: now_ms,
            by: ChangedBy::Autoscaler,
            from,
            to,
            reason,
        });
        effects.push(super::Effect::PoolSettings);
        super::Response::Done
    }

    /// Changes a project's settings, all or nothing. A higher (or removed)
    /// cap on executions starts the launches it held.
    pub(super) fn configure_project(
        &mut self,
        project: String,
        change: ProjectChange,
        now_ms: u64,
        effects: &mut Vec<super::Effect>,
    ) -> Result<super::Response, SchedulerError> {
        check_project_change(&project, &change)?;
        let settings = self.projects.entry(project.clone()).or_default();
        if let Some(pool) = change.default_pool {
            settings.default_pool = pool;
        }
        if let Some(weight) = change.weight {
            settings.weight = (weight != 1).then_some(weight);
        }
        for (pool, cap) in change.max_running {
            match cap {
                Some(cap) => settings.max_running.insert(pool, cap),
                None => settings.max_running.remove(&pool),
            };
        }
        if let Some(cap) = change.max_executions {
            settings.max_executions = cap;
        }
        if *settings == ProjectSettings::default() {
            self.projects.remove(&project);
        }
        effects.push(super::Effect::PoolSettings);
        self.admit(&project, now_ms, effects);
        Ok(super::Response::Done)
    }

    pub(super) fn drain_executor(
        &mut self,
        executor: String,
        deadline_ms: Option<u64>,
        now_ms: u64,
        effects: &mut Vec<super::Effect>,
    ) -> Result<super::Response, SchedulerError> {
        if executor.is_empty() {
            return Err(SchedulerError::invalid("name the executor to drain"));
        }
        // A second drain of the same executor keeps when it began, and may
        // set (or bring forward) the deadline.
        let order = self.drains.entry(executor).or_insert(DrainOrder {
            since_ms: now_ms,
            deadline_ms: None,
        });
        order.deadline_ms = match (order.deadline_ms, deadline_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        while self.drains.len() > MAX_DRAIN_ORDERS {
            let oldest = self
                .drains
                .iter()
                .min_by_key(|(_, o)| o.since_ms)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => self.drains.remove(&id),
                None => break,
            };
        }
        effects.push(super::Effect::PoolSettings);
        Ok(super::Response::Done)
    }

    /// The pool a project's unpinned nodes run in.
    pub fn project_pool(&self, project: &str) -> Option<&str> {
        self.projects
            .get(project)
            .map(|p| p.default_pool.as_str())
            .filter(|p| !p.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(scale: Scale, executors: &[(&str, u32)]) -> Vec<u32> {
        spread(scale, executors).into_values().collect()
    }

    #[test]
    fn a_total_is_spread_evenly_with_the_remainder_first() {
        assert_eq!(
            sizes(Scale::Total(10), &[("a", 64), ("b", 64), ("c", 64)]),
            vec![4, 3, 3]
        );
    }

    #[test]
    fn a_ceiling_sends_the_rest_to_the_others() {
        assert_eq!(
            sizes(Scale::Total(12), &[("a", 2), ("b", 64), ("c", 64)]),
            vec![2, 5, 5]
        );
        assert_eq!(
            sizes(Scale::Total(100), &[("a", 2), ("b", 3)]),
            vec![2, 3],
            "never above a ceiling"
        );
    }

    #[test]
    fn every_executor_keeps_one_worker() {
        assert_eq!(
            sizes(Scale::Total(1), &[("a", 8), ("b", 8)]),
            vec![1, 1],
            "an executor with no worker would be connected and useless"
        );
        assert_eq!(sizes(Scale::PerExecutor(0), &[("a", 8)]), vec![1]);
    }

    #[test]
    fn per_executor_is_clamped_to_each_ceiling() {
        assert_eq!(
            sizes(Scale::PerExecutor(6), &[("a", 4), ("b", 16)]),
            vec![4, 6]
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("pool", "gpu-a100").is_ok());
        assert!(check_name("pool", "").is_err());
        assert!(check_name("pool", "gpu a100").is_err());
    }
}
