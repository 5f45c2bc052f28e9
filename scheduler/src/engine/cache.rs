//! Caching in the engine: a ready instance of a cacheable task first looks
//! its key up (a hit succeeds it with the cached outputs, shown as CACHED,
//! and runs nothing); a success stores its outputs under its key. For a
//! `serialize` task, a miss while an identical instance runs waits for it.
//! The engine only reads the cache: what to store, claim or wait for it
//! returns as [`CacheRequest`]s, which the state machine applies.

use baton_model::{CacheMode, CachePolicy, TaskSpec, Values};

use super::Run;
use crate::state::cache::cache_key;
use crate::state::NodePhase;

/// What a run asks of the cache, applied by the state machine after it.
#[derive(Clone, Debug, PartialEq)]
pub enum CacheRequest {
    /// Instance `node` succeeded: store its outputs under `key`.
    Store {
        node: u32,
        key: String,
        expires_ms: u64,
    },
    /// Instance `node` runs `key`; identical misses wait for it.
    Claim { node: u32, key: String },
    /// Instance `node` waits for `key`'s claimant.
    Wait { node: u32, key: String },
}

/// The cache mode for instance `node`: its launch plan's override, else the launch's.
fn mode(run: &Run<'_>, node: u32) -> CacheMode {
    super::path::override_of(&run.registry, run.execution, node)
        .and_then(|o| o.cache)
        .unwrap_or(run.execution.cache)
}

/// The task, policy and key of instance `node`, if its task is cached.
fn keyed(run: &mut Run<'_>, node: u32) -> Option<(std::sync::Arc<TaskSpec>, CachePolicy, String)> {
    let task = run.registry.task_of(run.execution, node)?.clone();
    let policy = task.cache.clone()?;
    let inputs: Values = super::bound_inputs(run, node)?;
    let key = cache_key(&task, &policy, &inputs);
    Some((task, policy, key))
}

/// Tries the cache for ready instance `node`: `true` if it is settled
/// (served from the cache, or waiting for an identical instance), `false`
/// if it must run.
pub(super) fn lookup(run: &mut Run<'_>, node: u32) -> bool {
    let mode = mode(run, node);
    if mode == CacheMode::Skip {
        return false;
    }
    let Some((_, policy, key)) = keyed(run, node) else {
        // An input that could not be bound has failed the instance.
        return run.execution.nodes[node as usize].phase != NodePhase::Pending;
    };
    if mode == CacheMode::Use {
        if let Some(entry) = run.registry.cache.get(&key, run.now_ms) {
            let from = format!(
                "cached: the result of {} node {}",
                entry.execution, entry.path
            );
            let outputs = entry.outputs.clone();
            run.cached(node, outputs, from);
            return true;
        }
    }
    // Only a launch that reads the cache waits for an identical run to
    // fill it; `overwrite` runs regardless.
    if policy.serialize && mode == CacheMode::Use {
        let own_id = run.execution.id.clone();
        let claimed_here = run
            .cache_requests
            .iter()
            .any(|r| matches!(r, CacheRequest::Claim { key: k, .. } if *k == key));
        let claimed = claimed_here
            || run
                .registry
                .cache
                .claimant(&key)
                .is_some_and(|(e, n)| !(*e == own_id && *n == node));
        if claimed {
            let message = "waiting for an identical instance that is running".to_owned();
            run.record_node(node, NodePhase::Pending, 0, message);
            run.cache_requests.push(CacheRequest::Wait { node, key });
            return true;
        }
        run.cache_requests.push(CacheRequest::Claim { node, key });
    }
    false
}

/// After instance `node` succeeded by running: its outputs are stored
/// (unless the cache is skipped for it).
pub(super) fn store(run: &mut Run<'_>, node: u32) {
    if mode(run, node) == CacheMode::Skip {
        return;
    }
    // The inputs it ran with (read without failing anything: it succeeded).
    let Some(task) = run.registry.task_of(run.execution, node).cloned() else {
        return;
    };
    let Some(policy) = task.cache.clone() else {
        return;
    };
    let nodes = &run.execution.nodes;
    let Some(inputs) = run.registry.instance_inputs(run.execution, node, &|up| {
        nodes.get(up as usize).map(|s| &s.outputs)
    }) else {
        return;
    };
    let key = cache_key(&task, &policy, &inputs);
    let expires_ms = run.now_ms.saturating_add(policy.retention_ms);
    run.cache_requests.push(CacheRequest::Store {
        node,
        key,
        expires_ms,
    });
}

impl Run<'_> {
    /// Instance `node` succeeds with `outputs` from the cache, without running.
    pub fn cached(&mut self, node: u32, outputs: Values, from: String) {
        self.succeed_unrun(node, outputs, from, false);
    }

    /// A waiting instance `node` runs after all (its claimant failed).
    pub fn run_after_wait(&mut self, node: u32) {
        if self.execution.phase.is_terminal()
            || self.execution.nodes[node as usize].phase != NodePhase::Pending
        {
            return;
        }
        match keyed(self, node) {
            Some((_, _, key)) => self.cache_requests.push(CacheRequest::Claim { node, key }),
            // An input that could not be bound has failed it.
            None if self.execution.nodes[node as usize].phase != NodePhase::Pending => return,
            None => {}
        }
        self.queue(node, self.now_ms, String::new());
    }
}
