//! What operators set about pools, projects and executors, replicated so
//! that a new leader or a restarted executor keeps it: a pool's desired
//! worker count (`baton pool scale`), a project's default pool
//! (`baton project set`), and the executors told to drain
//! (`baton executor drain`). Liveness and load stay leader memory (the
//! dispatcher's book); only these decisions enter the log.

use std::collections::BTreeMap;

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
            Scale::Total(n) => write!(f, "{n} workers"),
            Scale::PerExecutor(n) => write!(f, "{n} per executor"),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSettings {
    /// `None`: each executor keeps the `--workers` it started with.
    pub scale: Option<Scale>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSettings {
    /// Where the project's nodes run when nothing else pins them; empty:
    /// `default`.
    pub default_pool: String,
}

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
        effects: &mut Vec<super::Effect>,
    ) -> Result<super::Response, SchedulerError> {
        check_name("pool", &pool)?;
        if let Some(Scale::Total(0) | Scale::PerExecutor(0)) = scale {
            return Err(SchedulerError::invalid(format!(
                "pool `{pool}` cannot be scaled to 0 workers: drain its executors instead"
            )));
        }
        match scale {
            Some(scale) => self.pools.entry(pool).or_default().scale = Some(scale),
            None => {
                self.pools.remove(&pool);
            }
        }
        effects.push(super::Effect::PoolSettings);
        Ok(super::Response::Done)
    }

    pub(super) fn set_project(
        &mut self,
        project: String,
        default_pool: Option<String>,
    ) -> Result<super::Response, SchedulerError> {
        check_name("project", &project)?;
        if let Some(pool) = default_pool.as_deref().filter(|p| !p.is_empty()) {
            check_name("pool", pool)?;
        }
        let settings = self.projects.entry(project.clone()).or_default();
        if let Some(pool) = default_pool {
            settings.default_pool = pool;
        }
        if *settings == ProjectSettings::default() {
            self.projects.remove(&project);
        }
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
