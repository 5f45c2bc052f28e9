//! What the leader does about the replicated pool settings and drain
//! orders: tells each executor the worker count its pool's desired size
//! gives it (`Resize`), tells an executor ordered to drain to drain, hands
//! back what still runs on it past the order's deadline, and forgets an
//! order once its executor is gone. It also publishes the dispatcher's
//! view of pools and executors for `baton pools` and `baton get`.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, RwLock};

use baton_proto::scheduler_message::Kind as ToExecutor;
use tracing::info;

use super::book::{ExecutorEntry, LaneDepth, NodeKey};
use super::share::{Share, Shares};
use super::stats::Summary;
use super::{Dispatcher, Pending};
use crate::state::pools::spread;
use crate::state::Command;

/// How often the published view is refreshed.
pub const VIEW_INTERVAL_MS: u64 = 250;

/// The leader dispatcher's picture of its pools, shared with the admin
/// service. Empty on a node that does not lead.
#[derive(Clone, Debug, Default)]
pub struct DispatchView {
    pub leader: bool,
    pub at_ms: u64,
    pub executors: Vec<ExecutorView>,
    /// Lanes with instances waiting.
    pub lanes: Vec<LaneDepth>,
    /// Per pool: queue waits and completions over the last minute.
    pub pools: BTreeMap<String, Summary>,
    /// Per executor: the worker count its pool's desired size gives it.
    pub desired: BTreeMap<String, u32>,
}

/// An executor as the book holds it, with its id and what runs on it.
#[derive(Clone, Debug)]
pub struct ExecutorView {
    pub id: String,
    pub entry: ExecutorEntry,
    /// (node, attempt, since when) of what runs on it.
    pub running: Vec<(NodeKey, u32, u64)>,
}

pub type SharedView = Arc<RwLock<DispatchView>>;

impl Dispatcher {
    /// Brings executors in line with the pool settings and drain orders
    /// of the state, when something they depend on changed.
    pub(super) fn apply_settings(&mut self) {
        if !self.settings_dirty {
            return;
        }
        self.settings_dirty = false;
        let state = self.state.clone();
        let state = state.read().unwrap_or_else(|e| e.into_inner());
        self.book.shares = Shares(
            state
                .projects
                .iter()
                .filter(|(_, p)| p.weight.is_some() || !p.max_running.is_empty())
                .map(|(name, p)| {
                    let share = Share {
                        weight: p.weight(),
                        max_running: p.max_running.clone(),
                    };
                    (name.clone(), share)
                })
                .collect(),
        );
        let mut drain = Vec::new();
        for (id, entry) in self.book.executors.iter_mut() {
            entry.drain_ordered = state.drains.contains_key(id);
            entry.prefetch = state.pools.get(&entry.pool).map_or(0, |p| p.prefetch);
            if entry.drain_ordered && entry.connected && !self.told_to_drain.contains(id) {
                drain.push(id.clone());
            }
        }
        for id in drain {
            info!(executor = %id, "telling the executor to drain");
            self.told_to_drain.insert(id.clone());
            self.send_to(&id, ToExecutor::Drain(baton_proto::Drain {}));
        }
        // Each scaled pool's size, spread over its executors that take work.
        let mut desired = BTreeMap::new();
        for (pool, settings) in &state.pools {
            let Some(scale) = settings.scale else {
                continue;
            };
            let members: Vec<(&str, u32)> = self
                .book
                .executors
                .iter()
                .filter(|(_, e)| e.pool == *pool && e.open())
                .map(|(id, e)| (id.as_str(), e.max_slots))
                .collect();
            desired.extend(spread(scale, &members));
        }
        drop(state);
        let mut resize = Vec::new();
        for (id, workers) in &desired {
            if self.sent_sizes.get(id) != Some(workers) {
                resize.push((id.clone(), *workers));
            }
        }
        for (id, workers) in resize {
            info!(executor = %id, workers, "resizing the executor");
            self.sent_sizes.insert(id.clone(), workers);
            self.send_to(&id, ToExecutor::Resize(baton_proto::Resize { workers }));
        }
        self.sent_sizes.retain(|id, _| desired.contains_key(id));
        self.desired = desired;
        // Executors came, went or changed: show it now, not at the next
        // refresh (a `drain` right after an executor joined must find it).
        self.publish_view(super::now_ms(), true);
    }

    /// Hands back what still runs on executors past their drain deadline.
    pub(super) fn enforce_drain_deadlines(&mut self, now: u64) {
        let state = self.state.clone();
        let state = state.read().unwrap_or_else(|e| e.into_inner());
        let overdue: HashSet<&String> = state
            .drains
            .iter()
            .filter(|(_, o)| o.deadline_ms.is_some_and(|d| d <= now))
            .map(|(id, _)| id)
            .collect();
        if overdue.is_empty() {
            return;
        }
        let handed: Vec<(NodeKey, u32, String)> = self
            .book
            .owned
            .iter()
            .filter(|(_, o)| overdue.contains(&o.executor))
            .map(|(k, o)| (k.clone(), o.attempt, o.executor.clone()))
            .collect();
        drop(state);
        for (key, attempt, executor) in handed {
            info!(%executor, execution = %key.0, node = key.1, attempt, "past the drain deadline: handing the attempt back");
            self.book.settle(&key, attempt, &executor);
            let attempt_ref = self.attempt_ref(&key, attempt);
            self.send_to(&executor, ToExecutor::Cancel(attempt_ref.clone()));
            self.pending_results += 1;
            self.pending.push(Pending::Result {
                executor: executor.clone(),
                attempt: attempt_ref,
                command: Command::HandBack {
                    execution: key.0,
                    node: key.1,
                    attempt,
                    executor,
                    now_ms: now,
                },
                provisional: false,
            });
        }
    }

    /// An executor that drained (it said so) is gone: its order is done, so
    /// that a new process under the same id takes work again.
    pub(super) fn forget_drain_of(&mut self, executor: &str) {
        self.told_to_drain.remove(executor);
        let ordered = {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            state.drains.contains_key(executor)
        };
        if ordered {
            info!(%executor, "the drained executor is gone; forgetting its drain order");
            let proposer = self.proposer.clone();
            let command = Command::ForgetDrain {
                executor: executor.to_owned(),
            };
            tokio::spawn(async move {
                let _ = proposer.propose(command).await;
            });
        }
    }

    /// Publishes the book as the admin service reads it, at most every
    /// [`VIEW_INTERVAL_MS`].
    pub(super) fn publish_view(&mut self, now: u64, force: bool) {
        if !force && now < self.view_due_ms {
            return;
        }
        self.view_due_ms = now + VIEW_INTERVAL_MS;
        let mut running: BTreeMap<&str, Vec<(NodeKey, u32, u64)>> = BTreeMap::new();
        for (key, owned) in &self.book.owned {
            running.entry(owned.executor.as_str()).or_default().push((
                key.clone(),
                owned.attempt,
                owned.since_ms,
            ));
        }
        let executors = self
            .book
            .executors
            .iter()
            .map(|(id, e)| ExecutorView {
                id: id.clone(),
                entry: e.clone(),
                running: running.remove(id.as_str()).unwrap_or_default(),
            })
            .collect();
        let pools = self
            .book
            .stats
            .iter()
            .map(|(pool, stats)| (pool.to_string(), stats.summary(now)))
            .collect();
        let view = DispatchView {
            leader: self.leader,
            at_ms: now,
            executors,
            lanes: self.book.lane_depths(),
            pools,
            desired: self.desired.clone(),
        };
        *self.view.write().unwrap_or_else(|e| e.into_inner()) = view;
    }
}
