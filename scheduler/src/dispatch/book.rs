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
use super::stats::PoolStats;
use crate::engine::pool::matches;
use crate::state::ExecutionId;

/// A node of an execution.
pub type NodeKey = (ExecutionId, u32);

/// The queue of a pool's instances with one selector: each executor of the
/// pool whose labels match it may take them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lane {
    pub pool: Arc<str>,
    pub selector: Option<Arc<Selector>>,
}

#[derive(Default)]
struct LaneQueue {
    /// Ready instances, with when each became ready (for queue wait).
    ready: VecDeque<(NodeKey, u64)>,
    /// Retries waiting for their backoff: (not_before_ms, key).
    delayed: BinaryHeap<Reverse<(u64, NodeKey)>>,
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
}

impl ExecutorEntry {
    fn free(&self) -> u32 {
        if self.connected && !self.draining && !self.drain_ordered {
            self.slots.saturating_sub(self.busy)
        } else {
            0
        }
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
}

#[derive(Default)]
pub struct DispatchBook {
    /// How long an executor may be silent, or an attempt unconfirmed.
    lease_ms: u64,
    lanes: Vec<(Lane, LaneQueue)>,
    lane_index: HashMap<Lane, usize>,
    /// The lane `plan` starts from, turning, so that no lane of a busy
    /// pool takes every free slot round after round.
    next_lane: usize,
    queued: HashSet<NodeKey>,
    pub executors: BTreeMap<String, ExecutorEntry>,
    pub owned: HashMap<NodeKey, Owned>,
    /// Queue waits and completions per pool, over the last minute.
    pub stats: HashMap<Arc<str>, PoolStats>,
}

/// A decision to hand a node to an executor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub key: NodeKey,
    pub executor: String,
}

/// A lane's queue, as `baton pools` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct LaneDepth {
    pub lane: Lane,
    pub depth: usize,
    /// Executors (connected, not draining) that may take its instances.
    pub matching: usize,
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

    /// Queues a ready node; a node already queued is not queued twice.
    pub fn enqueue(
        &mut self,
        key: NodeKey,
        pool: &Arc<str>,
        selector: Option<Arc<Selector>>,
        not_before_ms: u64,
        now_ms: u64,
    ) {
        if !self.queued.insert(key.clone()) {
            return;
        }
        let lane = Lane {
            pool: pool.clone(),
            selector,
        };
        let at = match self.lane_index.get(&lane) {
            Some(at) => *at,
            None => {
                self.lanes.push((lane.clone(), LaneQueue::default()));
                self.lane_index.insert(lane, self.lanes.len() - 1);
                self.lanes.len() - 1
            }
        };
        let queue = &mut self.lanes[at].1;
        if not_before_ms > now_ms {
            queue.delayed.push(Reverse((not_before_ms, key)));
        } else {
            queue.ready.push_back((key, now_ms));
        }
    }

    pub fn queue_depth(&self, pool: &str) -> usize {
        self.lanes
            .iter()
            .filter(|(lane, _)| &*lane.pool == pool)
            .map(|(_, q)| q.ready.len() + q.delayed.len())
            .sum()
    }

    /// Every lane with instances waiting, and how many executors could take them.
    pub fn lane_depths(&self) -> Vec<LaneDepth> {
        self.lanes
            .iter()
            .filter(|(_, q)| !q.ready.is_empty() || !q.delayed.is_empty())
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
            load.busy += e.busy;
        }
        let mut oldest = 0;
        for (lane, queue) in self.lanes.iter().filter(|(l, _)| &*l.pool == pool) {
            let served = open
                .iter()
                .any(|e| matches(lane.selector.as_deref(), &e.labels));
            if !served {
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
    /// spreading work over the executors of each pool that match a lane.
    pub fn plan(&mut self, now_ms: u64) -> Vec<Placement> {
        let mut placements = Vec::new();
        let lanes = self.lanes.len();
        if lanes == 0 {
            return placements;
        }
        let start = self.next_lane % lanes;
        self.next_lane = self.next_lane.wrapping_add(1);
        for turn in 0..lanes {
            let (lane, queue) = &mut self.lanes[(start + turn) % lanes];
            while let Some(Reverse((t, _))) = queue.delayed.peek() {
                if *t > now_ms {
                    break;
                }
                let Some(Reverse((t, key))) = queue.delayed.pop() else {
                    break;
                };
                queue.ready.push_back((key, t));
            }
            if queue.ready.is_empty() {
                continue;
            }
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
                continue;
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
                stats.placed(now_ms, now_ms.saturating_sub(ready_since));
                let at = i % candidates.len();
                let (id, entry) = &mut candidates[at];
                entry.busy += 1;
                self.queued.remove(&key);
                placements.push(Placement {
                    key,
                    executor: (*id).clone(),
                });
                if entry.free() == 0 {
                    candidates.remove(at);
                } else {
                    i += 1;
                }
            }
        }
        placements
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

    pub fn assigned(&mut self, key: NodeKey, attempt: u32, executor: &str, now_ms: u64) {
        self.owned.insert(
            key,
            Owned {
                attempt,
                executor: executor.to_owned(),
                confirm_by_ms: None,
                since_ms: now_ms,
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
        if held {
            self.owned.remove(key);
            self.release(executor);
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
    pub fn adopt(&mut self, key: NodeKey, attempt: u32, executor: &str, now_ms: u64) {
        self.owned.insert(
            key,
            Owned {
                attempt,
                executor: executor.to_owned(),
                confirm_by_ms: Some(now_ms + self.lease_ms),
                since_ms: now_ms,
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
                Some((k, owned))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(e: &str, n: u32) -> NodeKey {
        (ExecutionId(e.into()), n)
    }

    fn joining<'a>(id: &'a str, pool: &'a str, slots: u32, connection: u64) -> Joining<'a> {
        labelled(id, pool, slots, connection, &[])
    }

    fn labelled<'a>(
        id: &'a str,
        pool: &'a str,
        slots: u32,
        connection: u64,
        labels: &[(&str, &str)],
    ) -> Joining<'a> {
        Joining {
            id,
            pool,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            version: "test".into(),
            slots,
            max_slots: slots,
            connection,
        }
    }

    #[test]
    fn a_selector_places_only_on_executors_with_its_labels() {
        let mut book = DispatchBook::new(1000);
        book.connect(labelled("a100", "gpu", 4, 1, &[("gpu", "a100")]), &[], 0);
        book.connect(labelled("t4", "gpu", 4, 1, &[("gpu", "t4")]), &[], 0);
        let a100: Selector = [("gpu".to_string(), "a100".to_string())].into();
        for n in 0..3 {
            book.enqueue(
                key("e", n),
                &"gpu".into(),
                Some(Arc::new(a100.clone())),
                0,
                0,
            );
        }
        book.enqueue(key("e", 9), &"gpu".into(), None, 0, 0);
        let placed = book.plan(0);
        assert_eq!(placed.len(), 4);
        for p in &placed {
            if p.key.1 < 3 {
                assert_eq!(p.executor, "a100", "{p:?}");
            }
        }
        // A selector nobody matches keeps its queue, and says so.
        let h100: Selector = [("gpu".to_string(), "h100".to_string())].into();
        book.enqueue(key("e", 5), &"gpu".into(), Some(Arc::new(h100)), 0, 0);
        assert!(book.plan(0).is_empty());
        let depths = book.lane_depths();
        assert_eq!(depths.len(), 1);
        assert_eq!((depths[0].depth, depths[0].matching), (1, 0));
    }

    #[test]
    fn a_heartbeat_with_more_workers_opens_more_slots() {
        let mut book = DispatchBook::new(1000);
        book.connect(joining("x", "p", 1, 1), &[], 0);
        for n in 0..4 {
            book.enqueue(key("e", n), &"p".into(), None, 0, 0);
        }
        assert_eq!(book.plan(0).len(), 1);
        book.heartbeat("x", false, 3, 1);
        assert_eq!(book.plan(1).len(), 2);
        book.heartbeat("x", false, 0, 2);
        assert_eq!(
            book.executors["x"].slots, 3,
            "0: an executor that does not say"
        );
    }

    #[test]
    fn an_ordered_drain_closes_an_executor_before_it_says_so() {
        let mut book = DispatchBook::new(1000);
        book.connect(joining("x", "p", 2, 1), &[], 0);
        book.executors.get_mut("x").unwrap().drain_ordered = true;
        book.enqueue(key("e", 0), &"p".into(), None, 0, 0);
        book.heartbeat("x", false, 2, 1);
        assert!(book.plan(1).is_empty());
        book.connect(joining("x", "p", 2, 2), &[], 2);
        assert!(book.plan(2).is_empty(), "a reconnect keeps the order");
    }

    #[test]
    fn a_draining_executor_gets_nothing_new() {
        let mut book = DispatchBook::new(1000);
        book.connect(joining("a", "cpu", 4, 1), &[], 0);
        book.connect(joining("b", "cpu", 1, 1), &[], 0);
        book.heartbeat("a", true, 0, 1);
        for n in 0..3 {
            book.enqueue(key("e", n), &"cpu".into(), None, 0, 0);
        }
        let placed = book.plan(1);
        assert_eq!(placed.len(), 1, "only b's one slot");
        assert_eq!(placed[0].executor, "b");
        // A heartbeat that says it is not draining (any more) opens it again.
        book.heartbeat("a", false, 0, 2);
        assert_eq!(book.plan(2).len(), 2);
    }

    #[test]
    fn places_only_on_free_slots_of_the_right_pool() {
        let mut book = DispatchBook::new(1000);
        book.connect(joining("x1", "cpu", 2, 1), &[], 0);
        book.connect(joining("g1", "gpu", 8, 2), &[], 0);
        for n in 0..5 {
            book.enqueue(key("e", n), &"cpu".into(), None, 0, 0);
        }
        let placed = book.plan(0);
        assert_eq!(placed.len(), 2);
        assert!(placed.iter().all(|p| p.executor == "x1"));
        assert_eq!(book.queue_depth("cpu"), 3);
        book.release("x1");
        assert_eq!(book.plan(0).len(), 1);
    }

    #[test]
    fn a_pool_without_executors_keeps_its_queue() {
        let mut book = DispatchBook::new(1000);
        book.enqueue(key("e", 0), &"nobody".into(), None, 0, 0);
        assert!(book.plan(0).is_empty());
        assert_eq!(book.queue_depth("nobody"), 1);
    }

    #[test]
    fn delayed_retries_wait_for_their_time() {
        let mut book = DispatchBook::new(1000);
        book.connect(joining("x", "p", 4, 1), &[], 0);
        book.enqueue(key("e", 0), &"p".into(), None, 500, 0);
        assert!(book.plan(100).is_empty());
        assert_eq!(book.next_wakeup_ms(), Some(500));
        assert_eq!(book.plan(500).len(), 1);
    }

    #[test]
    fn enqueue_is_idempotent() {
        let mut book = DispatchBook::new(1000);
        book.enqueue(key("e", 0), &"p".into(), None, 0, 0);
        book.enqueue(key("e", 0), &"p".into(), None, 0, 0);
        assert_eq!(book.queue_depth("p"), 1);
    }

    #[test]
    fn silent_executor_loses_its_attempts_after_the_lease() {
        let mut book = DispatchBook::new(1000);
        book.connect(joining("x", "p", 4, 1), &[], 0);
        book.assigned(key("e", 0), 1, "x", 0);
        assert!(book.expire(900).is_empty());
        book.seen("x", 900);
        assert!(book.expire(1800).is_empty());
        let lost = book.expire(2000);
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].0, key("e", 0));
    }

    #[test]
    fn adopted_attempts_confirmed_by_reconnect_survive() {
        let mut book = DispatchBook::new(1000);
        book.adopt(key("e", 0), 3, "x", 0);
        book.adopt(key("e", 1), 1, "x", 0);
        let stale = book.connect(
            joining("x", "p", 4, 1),
            &[(key("e", 0), 3), (key("e", 2), 1)],
            100,
        );
        assert_eq!(
            stale,
            vec![(key("e", 2), 1)],
            "an attempt we do not know is stale"
        );
        let lost = book.expire(1050);
        assert_eq!(
            lost.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
            vec![key("e", 1)]
        );
        assert!(book.owned.contains_key(&key("e", 0)));
    }

    #[test]
    fn an_attempt_reported_by_another_executor_than_its_own_is_stale() {
        let mut book = DispatchBook::new(1000);
        book.adopt(key("e", 0), 1, "x", 0);
        let stale = book.connect(joining("y", "p", 4, 1), &[(key("e", 0), 1)], 10);
        assert_eq!(stale, vec![(key("e", 0), 1)]);
        assert_eq!(book.owned[&key("e", 0)].executor, "x");
        assert_eq!(book.executors["y"].busy, 0);
    }

    #[test]
    fn only_the_owning_executor_settles_an_attempt_and_frees_its_slot() {
        let mut book = DispatchBook::new(1000);
        book.connect(joining("x", "p", 1, 1), &[], 0);
        book.enqueue(key("e", 0), &"p".into(), None, 0, 0);
        let placed = book.plan(0);
        book.assigned(placed[0].key.clone(), 1, "x", 0);
        assert!(
            !book.settle(&key("e", 0), 1, "y"),
            "another executor's copy"
        );
        assert!(!book.settle(&key("e", 0), 2, "x"), "another attempt");
        assert_eq!(book.executors["x"].busy, 1);
        assert!(book.settle(&key("e", 0), 1, "x"));
        assert_eq!(book.executors["x"].busy, 0);
        assert!(!book.settle(&key("e", 0), 1, "x"), "settled once");
    }

    #[test]
    fn stale_disconnect_of_an_old_stream_is_ignored() {
        let mut book = DispatchBook::new(1000);
        book.connect(joining("x", "p", 1, 1), &[], 0);
        book.connect(joining("x", "p", 1, 2), &[], 10);
        book.disconnect("x", 1, 20);
        assert!(book.executors["x"].connected);
    }
}
