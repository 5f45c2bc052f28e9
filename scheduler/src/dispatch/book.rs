//! The dispatcher's bookkeeping, with no I/O: a ready queue per pool (and a
//! timer heap for retries in backoff), the executors of each pool with their
//! free slots (credits), which executor owns which attempt, and lease
//! deadlines. The async loop in `dispatcher.rs` feeds it events and carries
//! out its decisions; tests drive it directly.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use baton_model::Selector;

use super::autoscale::Load;
use super::share::Shares;
use super::stats::PoolStats;
use crate::engine::pool::matches;
use crate::state::ExecutionId;

/// A node of an execution.
pub type NodeKey = (ExecutionId, u32);

/// The queue of one project's instances in a pool with one selector: each
/// executor of the pool whose labels match it may take them, and the
/// project's share of the pool decides when.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lane {
    pub pool: Arc<str>,
    pub selector: Option<Arc<Selector>>,
    pub project: Arc<str>,
}

#[derive(Default)]
pub(super) struct LaneQueue {
    /// Ready instances, with when each became ready (for queue wait).
    pub(super) ready: VecDeque<(NodeKey, u64)>,
    /// Retries waiting for their backoff: (not_before_ms, key).
    delayed: BinaryHeap<Reverse<(u64, NodeKey)>>,
    /// Its instances placed and not settled (running, or on their way).
    pub(super) running: u32,
}

#[derive(Clone, Debug)]
pub struct ExecutorEntry {
    pub pool: String,
    pub labels: BTreeMap<String, String>,
    pub version: String,
    /// Its workers, as it last said (registration, then heartbeats).
    pub slots: u32,
    /// The most workers it may be scaled to (its `--max-workers`).
    pub max_slots: u32,
    pub busy: u32,
    /// Connection generation: a stale disconnect of an old stream is ignored.
    pub connection: u64,
    pub connected: bool,
    /// When the executor was last heard from (or disconnected).
    pub last_seen_ms: u64,
    /// It said it is draining: nothing new goes to it.
    pub draining: bool,
    /// An operator told it to drain (replicated): nothing new goes to it
    /// either, even before it says so.
    pub drain_ordered: bool,
    /// Assignments it may hold beyond its workers, waiting for one (its
    /// pool's `baton pool prefetch`).
    pub prefetch: u32,
}

impl ExecutorEntry {
    /// How many more attempts it may be handed: its idle workers, plus its
    /// pool's prefetch beyond the busy ones.
    pub(super) fn free(&self) -> u32 {
        if self.connected && !self.draining && !self.drain_ordered {
            (self.slots + self.prefetch).saturating_sub(self.busy)
        } else {
            0
        }
    }

    /// Its attempts a worker runs: the rest wait on it for a worker.
    pub fn running(&self) -> u32 {
        self.busy.min(self.slots)
    }

    /// Its attempts waiting on it for a worker (prefetched).
    pub fn prefetched(&self) -> u32 {
        self.busy.saturating_sub(self.slots)
    }

    /// Connected and taking work.
    pub fn open(&self) -> bool {
        self.connected && !self.draining && !self.drain_ordered
    }
}

/// What an executor says about itself when it connects.
pub struct Joining<'a> {
    pub id: &'a str,
    pub pool: &'a str,
    pub labels: BTreeMap<String, String>,
    pub version: String,
    pub slots: u32,
    pub max_slots: u32,
    pub connection: u64,
}

/// An attempt that is running (as far as the leader knows) on an executor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned {
    pub attempt: u32,
    pub executor: String,
    /// Set while the attempt's executor has not confirmed it (after a leader
    /// change or a reconnect): past it, the attempt is lost.
    pub confirm_by_ms: Option<u64>,
    /// When it was handed out (for `baton executors`).
    pub since_ms: u64,
    /// The lane it came from (whose running count it is part of).
    pub lane: u32,
}

#[derive(Default)]
pub struct DispatchBook {
    /// How long an executor may be silent, or an attempt unconfirmed.
    lease_ms: u64,
    pub(super) lanes: Vec<(Lane, LaneQueue)>,
    lane_index: HashMap<Lane, usize>,
    /// The lane `plan` starts from, turning, so that no lane of a busy
    /// pool takes every free slot round after round.
    next_lane: usize,
    pub(super) queued: HashSet<NodeKey>,
    pub executors: BTreeMap<String, ExecutorEntry>,
    pub owned: HashMap<NodeKey, Owned>,
    /// Queue waits and completions per pool, over the last minute.
    pub stats: HashMap<Arc<str>, PoolStats>,
    /// Projects' weights and caps, from the replicated settings.
    pub shares: Shares,
}

/// A decision to hand a node to an executor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub key: NodeKey,
    pub executor: String,
    pub lane: u32,
}

/// A lane's queue, as `baton pools` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct LaneDepth {
    pub lane: Lane,
    pub depth: usize,
    /// Executors (connected, not draining) that may take its instances.
    pub matching: usize,
    /// Its instances running.
    pub running: u32,
    /// Its project's cap on running nodes in the pool, when it has one
    /// and has reached it.
    pub capped: Option<u32>,
}

impl DispatchBook {
    pub fn new(lease_ms: u64) -> Self {
        DispatchBook {
            lease_ms,
            ..Default::default()
        }
    }

    pub fn clear(&mut self) {
        *self = DispatchBook::new(self.lease_ms);
    }

    /// The index of the lane of `project`'s instances in `pool` with
    /// `selector`, made if new.
    pub fn lane(
        &mut self,
        pool: &Arc<str>,
        selector: Option<Arc<Selector>>,
        project: &Arc<str>,
    ) -> u32 {
        let lane = Lane {
            pool: pool.clone(),
            selector,
            project: project.clone(),
        };
        (match self.lane_index.get(&lane) {
            Some(at) => *at,
            None => {
                self.lanes.push((lane.clone(), LaneQueue::default()));
                self.lane_index.insert(lane, self.lanes.len() - 1);
                self.lanes.len() - 1
            }
        }) as u32
    }

    /// Queues a ready node; a node already queued is not queued twice.
    pub fn enqueue(
        &mut self,
        key: NodeKey,
        pool: &Arc<str>,
        selector: Option<Arc<Selector>>,
        project: &Arc<str>,
        not_before_ms: u64,
        now_ms: u64,
    ) {
        if !self.queued.insert(key.clone()) {
            return;
        }
        let at = self.lane(pool, selector, project) as usize;
        let queue = &mut self.lanes[at].1;
        if not_before_ms > now_ms {
            queue.delayed.push(Reverse((not_before_ms, key)));
        } else {
            queue.ready.push_back((key, now_ms));
        }
    }

    /// A queued node that will not run: its queue entry is skipped when
    /// reached (removing it now would cost a scan of its queue).
    pub fn forget(&mut self, key: &NodeKey) {
        self.queued.remove(key);
    }

    pub fn queue_depth(&self, pool: &str) -> usize {
        self.lanes
            .iter()
            .filter(|(lane, _)| &*lane.pool == pool)
            .map(|(_, q)| q.ready.len() + q.delayed.len())
            .sum()
    }

    /// Every lane with instances waiting or running, how many executors
    /// could take them, and whether its project's cap holds them back.
    pub fn lane_depths(&self) -> Vec<LaneDepth> {
        let running = self.running_by_project();
        self.lanes
            .iter()
            .filter(|(_, q)| !q.ready.is_empty() || !q.delayed.is_empty() || q.running > 0)
            .map(|(lane, q)| LaneDepth {
                lane: lane.clone(),
                depth: q.ready.len() + q.delayed.len(),
                matching: self
                    .executors
                    .values()
                    .filter(|e| {
                        e.open()
                            && *e.pool == *lane.pool
                            && matches(lane.selector.as_deref(), &e.labels)
                    })
                    .count(),
                running: q.running,
                capped: self.shares.cap(&lane.project, &lane.pool).filter(|cap| {
                    running
                        .get(&(lane.pool.clone(), lane.project.clone()))
                        .is_some_and(|n| n >= cap)
                }),
            })
            .collect()
    }

    /// A pool's load for its autoscaler: its open executors' workers, and
    /// the queue of the lanes one of them may take (a lane nobody matches
    /// waits for an executor, which more workers would not help).
    pub fn load(&self, pool: &str, now_ms: u64, window_ms: u64) -> Load {
        let mut load = Load::default();
        let open: Vec<&ExecutorEntry> = self
            .executors
            .values()
            .filter(|e| e.open() && *e.pool == *pool)
            .collect();
        for e in &open {
            load.executors += 1;
            load.capacity += e.max_slots;
            load.workers += e.slots;
            // Prefetched attempts are not work more workers would start.
            load.busy += e.running();
        }
        let mut oldest = 0;
        let running = self.running_by_project();
        for (lane, queue) in self.lanes.iter().filter(|(l, _)| &*l.pool == pool) {
            let served = open
                .iter()
                .any(|e| matches(lane.selector.as_deref(), &e.labels));
            // Held back by its project's cap: more workers would not help.
            let capped = self.shares.cap(&lane.project, pool).is_some_and(|cap| {
                running
                    .get(&(lane.pool.clone(), lane.project.clone()))
                    .is_some_and(|n| *n >= cap)
            });
            if !served || capped {
                continue;
            }
            load.queued += queue.ready.len() as u64;
            if let Some((_, since)) = queue.ready.front() {
                oldest = oldest.max(now_ms.saturating_sub(*since));
            }
        }
        let recent = self
            .stats
            .get(pool)
            .map_or(0, |s| s.recent_wait(now_ms, window_ms, 0.9));
        load.wait_ms = oldest.max(recent);
        load
    }

    /// The earliest time a delayed retry becomes ready.
    pub fn next_wakeup_ms(&self) -> Option<u64> {
        self.lanes
            .iter()
            .filter_map(|(_, q)| q.delayed.peek().map(|Reverse((t, _))| *t))
            .min()
    }

    /// Decides placements for ready nodes on executors with free slots,
    /// spreading work over the executors of each pool that match a lane. A
    /// pool whose ready work is all one project's, with no cap, is planned
    /// lane by lane; where projects compete (or a cap applies) each slot
    /// goes by the projects' shares (`share.rs`).
    pub fn plan(&mut self, now_ms: u64) -> Vec<Placement> {
        let mut placements = Vec::new();
        let lanes = self.lanes.len();
        if lanes == 0 {
            return placements;
        }
        let start = self.next_lane % lanes;
        self.next_lane = self.next_lane.wrapping_add(1);
        for (_, queue) in self.lanes.iter_mut() {
            while let Some(Reverse((t, _))) = queue.delayed.peek() {
                if *t > now_ms {
                    break;
                }
                let Some(Reverse((t, key))) = queue.delayed.pop() else {
                    break;
                };
                queue.ready.push_back((key, t));
            }
        }
        let mut planned: Vec<Arc<str>> = Vec::new();
        for turn in 0..lanes {
            let at = (start + turn) % lanes;
            if self.lanes[at].1.ready.is_empty() {
                continue;
            }
            let pool = self.lanes[at].0.pool.clone();
            if planned.contains(&pool) {
                continue;
            }
            // This pool's lanes with ready work, from this one on.
            let ready: Vec<usize> = (0..lanes)
                .map(|t| (at + t) % lanes)
                .filter(|l| {
                    let (lane, queue) = &self.lanes[*l];
                    lane.pool == pool && !queue.ready.is_empty()
                })
                .collect();
            let project = &self.lanes[at].0.project;
            let shared = self.shares.cap(project, &pool).is_some()
                || ready.iter().any(|l| self.lanes[*l].0.project != *project);
            if shared {
                self.plan_shared(&pool, &ready, now_ms, &mut placements);
            } else {
                for lane in ready {
                    self.plan_lane(lane, now_ms, &mut placements);
                }
            }
            planned.push(pool);
        }
        placements
    }

    /// Places as much of one lane's ready work as its executors have slots.
    fn plan_lane(&mut self, at: usize, now_ms: u64, placements: &mut Vec<Placement>) {
        let (lane, queue) = &mut self.lanes[at];
        let mut candidates: Vec<(&String, &mut ExecutorEntry)> = self
            .executors
            .iter_mut()
            .filter(|(_, e)| {
                *e.pool == *lane.pool
                    && e.free() > 0
                    && matches(lane.selector.as_deref(), &e.labels)
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        // Round-robin over executors with free slots, most free first.
        candidates.sort_by_key(|(_, e)| Reverse(e.free()));
        let stats = match self.stats.get_mut(&lane.pool) {
            Some(stats) => stats,
            None => self.stats.entry(lane.pool.clone()).or_default(),
        };
        let mut i = 0;
        while !candidates.is_empty() {
            let Some((key, ready_since)) = queue.ready.pop_front() else {
                break;
            };
            if !self.queued.remove(&key) {
                // Forgotten: its execution ended while it waited.
                continue;
            }
            stats.placed(now_ms, now_ms.saturating_sub(ready_since));
            let at_executor = i % candidates.len();
            let (id, entry) = &mut candidates[at_executor];
            entry.busy += 1;
            queue.running += 1;
            placements.push(Placement {
                key,
                executor: (*id).clone(),
                lane: at as u32,
            });
            if entry.free() == 0 {
                candidates.remove(at_executor);
            } else {
                i += 1;
            }
        }
    }

    /// A placement that was not assigned after all: its slot is free again.
    pub fn unplace(&mut self, placement: &Placement) {
        self.release(&placement.executor);
        if let Some((_, queue)) = self.lanes.get_mut(placement.lane as usize) {
            queue.running = queue.running.saturating_sub(1);
        }
    }

    fn lane_settled(&mut self, lane: u32) {
        if let Some((_, queue)) = self.lanes.get_mut(lane as usize) {
            queue.running = queue.running.saturating_sub(1);
        }
    }

    /// Frees one slot of an executor (an attempt ended or was not assigned).
    pub fn release(&mut self, executor: &str) {
        if let Some(e) = self.executors.get_mut(executor) {
            e.busy = e.busy.saturating_sub(1);
        }
    }

    /// Records a (re)connected executor. `running` are the attempts it says
    /// it runs. Returns the attempts it runs that are not current (to cancel).
    pub fn connect(
        &mut self,
        joining: Joining<'_>,
        running: &[(NodeKey, u32)],
        now_ms: u64,
    ) -> Vec<(NodeKey, u32)> {
        let id = joining.id;
        let mut stale = Vec::new();
        let mut busy = 0;
        for (key, attempt) in running {
            match self.owned.get_mut(key) {
                // Only the executor the attempt is owned by: another one
                // running the same number (sent by an earlier leader, and
                // never committed) runs a stale copy.
                Some(owned) if owned.attempt == *attempt && owned.executor == id => {
                    owned.confirm_by_ms = None;
                    busy += 1;
                }
                _ => stale.push((key.clone(), *attempt)),
            }
        }
        // Attempts we believe it runs but it does not report: its result may
        // still arrive (re-sent after the register), else they are lost.
        for (key, owned) in self.owned.iter_mut() {
            let reported = running.iter().any(|(k, a)| k == key && *a == owned.attempt);
            if owned.executor == id && owned.confirm_by_ms.is_none() && !reported {
                owned.confirm_by_ms = Some(now_ms + self.lease_ms);
            }
        }
        // A drain order outlives a reconnect (the state says it is draining).
        let drain_ordered = self.executors.get(id).is_some_and(|e| e.drain_ordered);
        let prefetch = self.executors.get(id).map_or(0, |e| e.prefetch);
        self.executors.insert(
            id.to_owned(),
            ExecutorEntry {
                pool: joining.pool.to_owned(),
                labels: joining.labels,
                version: joining.version,
                slots: joining.slots,
                max_slots: joining.max_slots.max(joining.slots),
                busy,
                connection: joining.connection,
                connected: true,
                last_seen_ms: now_ms,
                draining: false,
                drain_ordered,
                prefetch,
            },
        );
        stale
    }

    pub fn seen(&mut self, id: &str, now_ms: u64) {
        if let Some(e) = self.executors.get_mut(id) {
            e.last_seen_ms = now_ms;
        }
    }

    /// A heartbeat: the executor is alive, draining or not, with `slots`
    /// workers (0 from an executor too old to say).
    pub fn heartbeat(&mut self, id: &str, draining: bool, slots: u32, now_ms: u64) {
        if let Some(e) = self.executors.get_mut(id) {
            e.last_seen_ms = now_ms;
            e.draining = draining;
            if slots > 0 {
                e.slots = slots;
            }
        }
    }

    /// A stream ended. Ignored if a newer connection of the executor exists.
    pub fn disconnect(&mut self, id: &str, connection: u64, now_ms: u64) {
        if let Some(e) = self.executors.get_mut(id) {
            if e.connection == connection {
                e.connected = false;
                e.last_seen_ms = now_ms;
            }
        }
    }

    pub fn assigned(&mut self, key: NodeKey, lane: u32, attempt: u32, executor: &str, now_ms: u64) {
        self.owned.insert(
            key,
            Owned {
                attempt,
                executor: executor.to_owned(),
                confirm_by_ms: None,
                since_ms: now_ms,
                lane,
            },
        );
    }

    /// An attempt whose result is in (or that was cancelled): forget it and
    /// free its slot, if the book holds it under this number on this
    /// executor. Returns whether it did; anything else is a stale copy.
    pub fn settle(&mut self, key: &NodeKey, attempt: u32, executor: &str) -> bool {
        let held = self
            .owned
            .get(key)
            .is_some_and(|o| o.attempt == attempt && o.executor == executor);
        if let Some(owned) = held.then(|| self.owned.remove(key)).flatten() {
            self.release(executor);
            self.lane_settled(owned.lane);
        }
        held
    }

    /// A settled attempt ran to its end on `executor`: it counts toward its
    /// pool's tasks per second.
    pub fn completed(&mut self, executor: &str, now_ms: u64) {
        let Some(entry) = self.executors.get(executor) else {
            return;
        };
        match self.stats.get_mut(entry.pool.as_str()) {
            Some(stats) => stats.completed(now_ms),
            None => self
                .stats
                .entry(entry.pool.as_str().into())
                .or_default()
                .completed(now_ms),
        }
    }

    /// An attempt the state holds as running when this node became leader.
    pub fn adopt(&mut self, key: NodeKey, lane: u32, attempt: u32, executor: &str, now_ms: u64) {
        if let Some((_, queue)) = self.lanes.get_mut(lane as usize) {
            queue.running += 1;
        }
        self.owned.insert(
            key,
            Owned {
                attempt,
                executor: executor.to_owned(),
                confirm_by_ms: Some(now_ms + self.lease_ms),
                since_ms: now_ms,
                lane,
            },
        );
    }

    /// Attempts whose lease is over: their executor has not been heard from
    /// for `lease_ms`, or they were not confirmed in time. They are removed.
    pub fn expire(&mut self, now_ms: u64) -> Vec<(NodeKey, Owned)> {
        let dead: HashSet<String> = self
            .executors
            .iter()
            .filter(|(_, e)| now_ms.saturating_sub(e.last_seen_ms) > self.lease_ms)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &dead {
            self.executors.remove(id);
        }
        let expired: Vec<NodeKey> = self
            .owned
            .iter()
            .filter(|(_, o)| {
                dead.contains(&o.executor)
                    || o.confirm_by_ms.is_some_and(|t| now_ms > t)
                    || (!self.executors.contains_key(&o.executor) && o.confirm_by_ms.is_none())
            })
            .map(|(k, _)| k.clone())
            .collect();
        expired
            .into_iter()
            .filter_map(|k| {
                let owned = self.owned.remove(&k)?;
                if let Some(e) = self.executors.get_mut(&owned.executor) {
                    e.busy = e.busy.saturating_sub(1);
                }
                self.lane_settled(owned.lane);
                Some((k, owned))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
