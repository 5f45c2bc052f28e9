//! The dispatcher's bookkeeping, with no I/O: a ready queue per pool (and a
//! timer heap for retries in backoff), the executors of each pool with their
//! free slots (credits), which executor owns which attempt, and lease
//! deadlines. The async loop in `dispatcher.rs` feeds it events and carries
//! out its decisions; tests drive it directly.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};

use crate::state::ExecutionId;

/// A node of an execution.
pub type NodeKey = (ExecutionId, u32);

#[derive(Default)]
struct PoolQueue {
    ready: VecDeque<NodeKey>,
    /// Retries waiting for their backoff: (not_before_ms, key).
    delayed: BinaryHeap<Reverse<(u64, NodeKey)>>,
}

#[derive(Debug)]
pub struct ExecutorEntry {
    pub pool: String,
    pub slots: u32,
    pub busy: u32,
    /// Connection generation: a stale disconnect of an old stream is ignored.
    pub connection: u64,
    pub connected: bool,
    /// When the executor was last heard from (or disconnected).
    pub last_seen_ms: u64,
    /// It said it is draining: nothing new goes to it.
    pub draining: bool,
}

impl ExecutorEntry {
    fn free(&self) -> u32 {
        if self.connected && !self.draining {
            self.slots.saturating_sub(self.busy)
        } else {
            0
        }
    }
}

/// An attempt that is running (as far as the leader knows) on an executor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned {
    pub attempt: u32,
    pub executor: String,
    /// Set while the attempt's executor has not confirmed it (after a leader
    /// change or a reconnect): past it, the attempt is lost.
    pub confirm_by_ms: Option<u64>,
}

#[derive(Default)]
pub struct DispatchBook {
    /// How long an executor may be silent, or an attempt unconfirmed.
    lease_ms: u64,
    pools: HashMap<String, PoolQueue>,
    queued: HashSet<NodeKey>,
    pub executors: BTreeMap<String, ExecutorEntry>,
    pub owned: HashMap<NodeKey, Owned>,
}

/// A decision to hand a node to an executor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub key: NodeKey,
    pub executor: String,
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
    pub fn enqueue(&mut self, key: NodeKey, pool: &str, not_before_ms: u64, now_ms: u64) {
        if !self.queued.insert(key.clone()) {
            return;
        }
        // Looked up by reference first: a pool's name is allocated once, not per node.
        let queue = match self.pools.get_mut(pool) {
            Some(queue) => queue,
            None => self.pools.entry(pool.to_owned()).or_default(),
        };
        if not_before_ms > now_ms {
            queue.delayed.push(Reverse((not_before_ms, key)));
        } else {
            queue.ready.push_back(key);
        }
    }

    pub fn queue_depth(&self, pool: &str) -> usize {
        self.pools
            .get(pool)
            .map_or(0, |q| q.ready.len() + q.delayed.len())
    }

    /// The earliest time a delayed retry becomes ready.
    pub fn next_wakeup_ms(&self) -> Option<u64> {
        self.pools
            .values()
            .filter_map(|q| q.delayed.peek().map(|Reverse((t, _))| *t))
            .min()
    }

    /// Decides placements for ready nodes on executors with free slots,
    /// spreading work over the executors of each pool.
    pub fn plan(&mut self, now_ms: u64) -> Vec<Placement> {
        let mut placements = Vec::new();
        for (pool, queue) in &mut self.pools {
            while let Some(Reverse((t, _))) = queue.delayed.peek() {
                if *t > now_ms {
                    break;
                }
                let Some(Reverse((_, key))) = queue.delayed.pop() else {
                    break;
                };
                queue.ready.push_back(key);
            }
            if queue.ready.is_empty() {
                continue;
            }
            let mut candidates: Vec<(&String, &mut ExecutorEntry)> = self
                .executors
                .iter_mut()
                .filter(|(_, e)| &e.pool == pool && e.free() > 0)
                .collect();
            // Round-robin over executors with free slots, most free first.
            candidates.sort_by_key(|(_, e)| Reverse(e.free()));
            let mut i = 0;
            while !candidates.is_empty() {
                let Some(key) = queue.ready.pop_front() else {
                    break;
                };
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
        id: &str,
        pool: &str,
        slots: u32,
        connection: u64,
        running: &[(NodeKey, u32)],
        now_ms: u64,
    ) -> Vec<(NodeKey, u32)> {
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
        self.executors.insert(
            id.to_owned(),
            ExecutorEntry {
                pool: pool.to_owned(),
                slots,
                busy,
                connection,
                connected: true,
                last_seen_ms: now_ms,
                draining: false,
            },
        );
        stale
    }

    pub fn seen(&mut self, id: &str, now_ms: u64) {
        if let Some(e) = self.executors.get_mut(id) {
            e.last_seen_ms = now_ms;
        }
    }

    /// A heartbeat: the executor is alive, and draining or not.
    pub fn heartbeat(&mut self, id: &str, draining: bool, now_ms: u64) {
        if let Some(e) = self.executors.get_mut(id) {
            e.last_seen_ms = now_ms;
            e.draining = draining;
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

    pub fn assigned(&mut self, key: NodeKey, attempt: u32, executor: &str) {
        self.owned.insert(
            key,
            Owned {
                attempt,
                executor: executor.to_owned(),
                confirm_by_ms: None,
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

    /// An attempt the state holds as running when this node became leader.
    pub fn adopt(&mut self, key: NodeKey, attempt: u32, executor: &str, now_ms: u64) {
        self.owned.insert(
            key,
            Owned {
                attempt,
                executor: executor.to_owned(),
                confirm_by_ms: Some(now_ms + self.lease_ms),
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

    #[test]
    fn a_draining_executor_gets_nothing_new() {
        let mut book = DispatchBook::new(1000);
        book.connect("a", "cpu", 4, 1, &[], 0);
        book.connect("b", "cpu", 1, 1, &[], 0);
        book.heartbeat("a", true, 1);
        for n in 0..3 {
            book.enqueue(key("e", n), "cpu", 0, 0);
        }
        let placed = book.plan(1);
        assert_eq!(placed.len(), 1, "only b's one slot");
        assert_eq!(placed[0].executor, "b");
        // A heartbeat that says it is not draining (any more) opens it again.
        book.heartbeat("a", false, 2);
        assert_eq!(book.plan(2).len(), 2);
    }

    #[test]
    fn places_only_on_free_slots_of_the_right_pool() {
        let mut book = DispatchBook::new(1000);
        book.connect("x1", "cpu", 2, 1, &[], 0);
        book.connect("g1", "gpu", 8, 2, &[], 0);
        for n in 0..5 {
            book.enqueue(key("e", n), "cpu", 0, 0);
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
        book.enqueue(key("e", 0), "nobody", 0, 0);
        assert!(book.plan(0).is_empty());
        assert_eq!(book.queue_depth("nobody"), 1);
    }

    #[test]
    fn delayed_retries_wait_for_their_time() {
        let mut book = DispatchBook::new(1000);
        book.connect("x", "p", 4, 1, &[], 0);
        book.enqueue(key("e", 0), "p", 500, 0);
        assert!(book.plan(100).is_empty());
        assert_eq!(book.next_wakeup_ms(), Some(500));
        assert_eq!(book.plan(500).len(), 1);
    }

    #[test]
    fn enqueue_is_idempotent() {
        let mut book = DispatchBook::new(1000);
        book.enqueue(key("e", 0), "p", 0, 0);
        book.enqueue(key("e", 0), "p", 0, 0);
        assert_eq!(book.queue_depth("p"), 1);
    }

    #[test]
    fn silent_executor_loses_its_attempts_after_the_lease() {
        let mut book = DispatchBook::new(1000);
        book.connect("x", "p", 4, 1, &[], 0);
        book.assigned(key("e", 0), 1, "x");
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
        let stale = book.connect("x", "p", 4, 1, &[(key("e", 0), 3), (key("e", 2), 1)], 100);
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
        let stale = book.connect("y", "p", 4, 1, &[(key("e", 0), 1)], 10);
        assert_eq!(stale, vec![(key("e", 0), 1)]);
        assert_eq!(book.owned[&key("e", 0)].executor, "x");
        assert_eq!(book.executors["y"].busy, 0);
    }

    #[test]
    fn only_the_owning_executor_settles_an_attempt_and_frees_its_slot() {
        let mut book = DispatchBook::new(1000);
        book.connect("x", "p", 1, 1, &[], 0);
        book.enqueue(key("e", 0), "p", 0, 0);
        let placed = book.plan(0);
        book.assigned(placed[0].key.clone(), 1, "x");
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
        book.connect("x", "p", 1, 1, &[], 0);
        book.connect("x", "p", 1, 2, &[], 10);
        book.disconnect("x", 1, 20);
        assert!(book.executors["x"].connected);
    }
}
