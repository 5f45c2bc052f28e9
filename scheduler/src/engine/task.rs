//! The task node kind: an instance is handed to an executor as an attempt.
//!
//! Type rule: the node's inputs and outputs are the task's interface (the
//! compiler checks the bindings against it through [`super::Callee`]).
//! Run rule: a ready instance is Queued; an assignment makes it Running
//! under the next attempt number; a success whose outputs fit the task's
//! interface succeeds it; a retryable failure re-queues it after a backoff
//! while the task's `retries` last; a lost attempt (its executor gone) runs
//! again without charging a retry, up to [`MAX_LOST_ATTEMPTS`]; anything
//! else fails it, and with it the execution.

use baton_model::{TaskSpec, Values};

use super::Run;
use crate::state::{AttemptLog, NodePhase, NodeState};

/// Lost attempts (executor gone) tolerated per node before it fails.
pub const MAX_LOST_ATTEMPTS: u32 = 5;

/// Where the logs of an instance's attempts are, kept for the latest ones.
const MAX_LOGS_PER_NODE: usize = 8;

/// The wait before retry number `retry` (from 0): 500 ms doubling, capped at a minute.
pub fn retry_backoff_ms(retry: u32) -> u64 {
    500u64.saturating_mul(1u64 << retry.min(20)).min(60_000)
}

/// Checks reported outputs against the task's interface.
pub fn check_outputs(task: &TaskSpec, outputs: &Values) -> Result<(), String> {
    for var in &task.interface.outputs {
        match outputs.get(&var.name) {
            Some(value) => value
                .check(&var.ty)
                .map_err(|why| format!("output `{}` ({}): {why}", var.name, var.ty))?,
            None if var.ty.is_optional() => {}
            None => return Err(format!("output `{}` ({}) is missing", var.name, var.ty)),
        }
    }
    Ok(())
}

impl Run<'_> {
    /// A queued task instance is handed to `executor`: Running under the
    /// next attempt, which is returned. `None` when it is not queued.
    pub fn assigned(&mut self, node: u32, executor: String) -> Option<u32> {
        let state = self.execution.nodes.get_mut(node as usize)?;
        if self.execution.phase.is_terminal() || state.phase != NodePhase::Queued {
            return None;
        }
        state.phase = NodePhase::Running;
        state.attempt += 1;
        state.executor = executor;
        state.started_at_ms = self.now_ms;
        let attempt = state.attempt;
        let message = format!("on {}", state.executor);
        self.record_node(node, NodePhase::Running, attempt, message);
        Some(attempt)
    }

    /// The current attempt of a task instance succeeded with `outputs`;
    /// outputs that do not fit the task's interface fail it instead.
    pub fn attempt_succeeded(
        &mut self,
        node: u32,
        attempt: u32,
        mut outputs: Values,
        log_size: u64,
    ) {
        if let Some(task) = self.registry.task_of(self.execution, node) {
            if let Err(why) = check_outputs(task, &outputs) {
                self.attempt_failed(node, attempt, why, false, log_size);
                return;
            }
            // An optional output left out is stored as null, so that what
            // binds it downstream always finds a value.
            for var in &task.interface.outputs {
                if !outputs.contains_key(&var.name) {
                    outputs.insert(var.name.clone(), baton_model::Value::None);
                }
            }
        }
        push_log(&mut self.execution.nodes[node as usize], attempt, log_size);
        self.node_succeeded(node, attempt, outputs);
        super::cache::store(self, node);
    }

    /// The current attempt of a task instance failed: it runs again after a
    /// backoff if the failure is retryable and retries remain, else it fails.
    pub fn attempt_failed(
        &mut self,
        node: u32,
        attempt: u32,
        error: String,
        retryable: bool,
        log_size: u64,
    ) {
        let retries = self
            .registry
            .task_of(self.execution, node)
            .map_or(0, |t| t.retries);
        let state = &mut self.execution.nodes[node as usize];
        push_log(state, attempt, log_size);
        state.error = error.clone();
        if retryable && state.retries_used < retries {
            let backoff = retry_backoff_ms(state.retries_used);
            state.retries_used += 1;
            let message = format!(
                "attempt {attempt} failed: {error}; retry {} of {retries} in {backoff} ms",
                state.retries_used
            );
            self.queue(node, self.now_ms + backoff, message);
        } else {
            let why = if retryable && retries > 0 {
                format!("{error} (after {retries} retries)")
            } else {
                error
            };
            self.node_failed(node, attempt, why);
        }
    }

    /// The current attempt's executor is gone (its lease ran out): the
    /// instance runs again, unless it has lost too many attempts.
    /// The current attempt was handed back unstarted by a draining
    /// executor: queued again at once, charging nothing.
    pub fn attempt_handed_back(&mut self, node: u32, attempt: u32) {
        let executor = self.execution.nodes[node as usize].executor.clone();
        let message = format!(
            "attempt {attempt} handed back unstarted by draining {executor}; running again"
        );
        self.queue(node, self.now_ms, message);
    }

    pub fn attempt_lost(&mut self, node: u32, attempt: u32) {
        let state = &mut self.execution.nodes[node as usize];
        state.lost_attempts += 1;
        // Its log may still be on that executor, if it comes back.
        record_log(state, attempt, 0);
        let executor = state.executor.clone();
        if state.lost_attempts > MAX_LOST_ATTEMPTS {
            let why = format!(
                "lost its executor {} times (last: {executor})",
                state.lost_attempts
            );
            self.node_failed(node, attempt, why);
        } else {
            let message = format!("attempt {attempt} lost with executor {executor}; running again");
            self.queue(node, self.now_ms, message);
        }
    }
}

/// Records where attempt `attempt`'s log is: on the executor that ran it.
/// An attempt that logged nothing (a builtin's) records nothing, so that a
/// node of a large fan-out costs no allocation for its log.
fn push_log(state: &mut NodeState, attempt: u32, size: u64) {
    if size > 0 {
        record_log(state, attempt, size);
    }
}

/// Records attempt `attempt`'s log on the current executor (`size` 0: not
/// known), keeping the latest [`MAX_LOGS_PER_NODE`].
fn record_log(state: &mut NodeState, attempt: u32, size: u64) {
    state.logs.push(AttemptLog {
        attempt,
        executor: state.executor.clone(),
        size,
    });
    if state.logs.len() > MAX_LOGS_PER_NODE {
        state.logs.remove(0);
    }
}
