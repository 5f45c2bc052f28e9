//! Fair share of a pool across projects. Where more than one project has
//! ready work in a pool (or a project has a cap there), each free slot goes
//! to the project with the fewest running instances for its weight
//! (`baton project set P --weight W`): over time each project holds about
//! `W / sum of weights` of the pool's busy workers, whatever its tasks'
//! durations, and one that floods a pool cannot starve another. A project
//! at its cap of running nodes in the pool (`--max-running POOL=N`) gets
//! nothing more there until one of them ends; its queue waits, and
//! `baton get` and `baton pools` say why.
//!
//! The share counts running instances rather than placements (deficit
//! round-robin over placements) because tasks differ in length: a
//! project of hour-long tasks given equal placements would hold the pool.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::book::{DispatchBook, Placement};
use crate::engine::pool::matches;

/// A project's weight and caps, as the replicated settings give them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Share {
    pub weight: u32,
    pub max_running: BTreeMap<String, u32>,
}

/// The projects with settings that bear on shares; others weigh 1.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shares(pub HashMap<String, Share>);

impl Shares {
    pub fn weight(&self, project: &str) -> u32 {
        self.0.get(project).map_or(1, |s| s.weight.max(1))
    }

    /// `project`'s cap on running nodes in `pool`, if it has one.
    pub fn cap(&self, project: &str, pool: &str) -> Option<u32> {
        self.0.get(project)?.max_running.get(pool).copied()
    }
}

impl DispatchBook {
    /// Running instances per (pool, project), over every lane.
    pub fn running_by_project(&self) -> HashMap<(Arc<str>, Arc<str>), u32> {
        let mut running = HashMap::new();
        for (lane, queue) in &self.lanes {
            if queue.running > 0 {
                *running
                    .entry((lane.pool.clone(), lane.project.clone()))
                    .or_default() += queue.running;
            }
        }
        running
    }

    /// Places `pool`'s ready work (`ready`: its lanes with some, in this
    /// round's order) one slot at a time, each to the lane whose project is
    /// furthest below its weighted share, skipping projects at their cap.
    pub(super) fn plan_shared(
        &mut self,
        pool: &Arc<str>,
        ready: &[usize],
        now_ms: u64,
        placements: &mut Vec<Placement>,
    ) {
        let mut running: HashMap<Arc<str>, u32> = HashMap::new();
        for (lane, queue) in &self.lanes {
            if lane.pool == *pool {
                *running.entry(lane.project.clone()).or_default() += queue.running;
            }
        }
        let mut open: Vec<usize> = ready.to_vec();
        loop {
            // The lane to serve: its project's share after one more
            // instance is the smallest (ties: the earlier lane this round).
            let mut chosen: Option<(usize, u64, u64)> = None;
            let mut i = 0;
            while i < open.len() {
                let at = open[i];
                let (lane, queue) = &self.lanes[at];
                let ran = running.get(&lane.project).copied().unwrap_or(0);
                let capped = self
                    .shares
                    .cap(&lane.project, pool)
                    .is_some_and(|cap| ran >= cap);
                let takers = self.executors.values().any(|e| {
                    *e.pool == **pool
                        && e.free() > 0
                        && matches(lane.selector.as_deref(), &e.labels)
                });
                if queue.ready.is_empty() || capped || !takers {
                    open.remove(i);
                    continue;
                }
                // (ran + 1) / weight, compared as fractions.
                let (num, den) = (ran as u64 + 1, self.shares.weight(&lane.project) as u64);
                if chosen.is_none_or(|(_, n, d)| num * d < n * den) {
                    chosen = Some((at, num, den));
                }
                i += 1;
            }
            let Some((at, _, _)) = chosen else {
                return;
            };
            let (lane, queue) = &mut self.lanes[at];
            // Entries of nodes that will not run any more go first.
            while queue
                .ready
                .front()
                .is_some_and(|(key, _)| !self.queued.contains(key))
            {
                queue.ready.pop_front();
            }
            if queue.ready.is_empty() {
                continue;
            }
            let Some((id, entry)) = self
                .executors
                .iter_mut()
                .filter(|(_, e)| {
                    *e.pool == **pool
                        && e.free() > 0
                        && matches(lane.selector.as_deref(), &e.labels)
                })
                .max_by_key(|(_, e)| e.free())
            else {
                return;
            };
            let Some((key, ready_since)) = queue.ready.pop_front() else {
                return;
            };
            entry.busy += 1;
            queue.running += 1;
            *running.entry(lane.project.clone()).or_default() += 1;
            self.queued.remove(&key);
            self.stats
                .entry(pool.clone())
                .or_default()
                .placed(now_ms, now_ms.saturating_sub(ready_since));
            placements.push(Placement {
                key,
                executor: id.clone(),
                lane: at as u32,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::book::Joining;
    use crate::state::ExecutionId;

    fn book_with(workers: u32) -> DispatchBook {
        let mut book = DispatchBook::new(60_000);
        book.connect(
            Joining {
                id: "x",
                pool: "cpu",
                labels: Default::default(),
                version: String::new(),
                slots: workers,
                max_slots: workers,
                connection: 1,
            },
            &[],
            0,
        );
        book
    }

    fn flood(book: &mut DispatchBook, project: &str, count: u32) {
        let execution = ExecutionId(project.into());
        for n in 0..count {
            book.enqueue(
                (execution.clone(), n),
                &"cpu".into(),
                None,
                &project.into(),
                0,
                0,
            );
        }
    }

    fn placed_by(placements: &[Placement], project: &str) -> usize {
        placements
            .iter()
            .filter(|p| &*p.key.0 .0 == project)
            .count()
    }

    #[test]
    fn two_flooding_projects_share_a_pool_by_weight() {
        let mut book = book_with(8);
        book.shares.0.insert(
            "b".into(),
            Share {
                weight: 3,
                ..Default::default()
            },
        );
        // `a` floods first, then `b`: `b` still gets three quarters.
        flood(&mut book, "a", 100);
        flood(&mut book, "b", 100);
        let placed = book.plan(0);
        assert_eq!((placed_by(&placed, "a"), placed_by(&placed, "b")), (2, 6));
        // As attempts end, each freed slot goes where the share is lowest.
        for p in placed.iter().filter(|p| &*p.key.0 .0 == "a") {
            book.assigned(p.key.clone(), p.lane, 1, "x", 0);
        }
        for p in placed.iter().filter(|p| &*p.key.0 .0 == "b") {
            book.assigned(p.key.clone(), p.lane, 1, "x", 0);
        }
        let a_done = placed.iter().find(|p| &*p.key.0 .0 == "a").unwrap();
        book.settle(&a_done.key, 1, "x");
        let next = book.plan(1);
        assert_eq!(placed_by(&next, "a"), 1, "a is back to its share");
    }

    #[test]
    fn a_project_alone_takes_the_whole_pool() {
        let mut book = book_with(8);
        flood(&mut book, "a", 100);
        assert_eq!(book.plan(0).len(), 8);
    }

    #[test]
    fn a_cap_holds_even_with_free_slots() {
        let mut book = book_with(8);
        book.shares.0.insert(
            "a".into(),
            Share {
                weight: 1,
                max_running: [("cpu".to_string(), 3)].into(),
            },
        );
        flood(&mut book, "a", 100);
        let placed = book.plan(0);
        assert_eq!(placed.len(), 3, "alone, but capped");
        assert!(book.plan(1).is_empty());
        let capped: Vec<_> = book
            .lane_depths()
            .into_iter()
            .filter(|d| d.capped == Some(3))
            .collect();
        assert_eq!(capped.len(), 1, "the lane says it is capped");
        // One ends: one more may run.
        book.assigned(placed[0].key.clone(), placed[0].lane, 1, "x", 0);
        book.settle(&placed[0].key, 1, "x");
        assert_eq!(book.plan(2).len(), 1);
        // Another project takes the slots the cap leaves.
        flood(&mut book, "b", 100);
        assert_eq!(placed_by(&book.plan(3), "b"), 5);
    }

    #[test]
    fn an_unplaced_instance_gives_its_share_back() {
        let mut book = book_with(2);
        flood(&mut book, "a", 10);
        flood(&mut book, "b", 10);
        let placed = book.plan(0);
        assert_eq!(placed.len(), 2);
        for p in &placed {
            book.unplace(p);
        }
        assert!(book.running_by_project().is_empty());
    }
}
