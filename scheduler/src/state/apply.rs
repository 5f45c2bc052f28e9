//! The transitions of the state machine: one function per command.
//!
//! A command that cannot apply changes nothing and answers
//! [`Response::Rejected`] (a bad request) or [`Response::Ignored`] (a stale
//! report, e.g. the result of an attempt that is no longer current).

use baton_model::Values;

use super::launch::LaunchExtras;
use super::*;
use crate::engine::cache::CacheRequest;
use crate::engine::{Registry, Run};
use crate::error::SchedulerError;
use crate::state::cache::CacheEntry;

/// The builtin functions every executor offers.
pub const BUILTINS: &[&str] = &["noop", "echo", "sleep", "fail"];

impl SchedulerState {
    /// Applies one command; in debug builds, then checks the engine's
    /// invariants on the execution it changed.
    pub fn apply_one(&mut self, command: Command, effects: &mut Vec<Effect>) -> Response {
        #[cfg(debug_assertions)]
        let touched = command.execution().cloned();
        let first_effect = effects.len();
        let response = self.apply_command(command, effects);
        self.count_ended(first_effect, effects);
        #[cfg(debug_assertions)]
        match &response {
            Response::Launched { execution, .. } => self.check_invariants(Some(execution)),
            _ => self.check_invariants(touched.as_ref()),
        }
        response
    }

    fn apply_command(&mut self, command: Command, effects: &mut Vec<Effect>) -> Response {
        let result = match command {
            Command::Register { tasks, workflows } => {
                self.register(tasks, workflows, Vec::new(), 0)
            }
            Command::RegisterAt {
                tasks,
                workflows,
                launch_plans,
                now_ms,
            } => self.register(tasks, workflows, launch_plans, now_ms),
            Command::Launch {
                workflow,
                inputs,
                pool,
                request_id,
                now_ms,
            } => self.launch(&workflow, inputs, pool, request_id, None, now_ms, effects),
            Command::LaunchWith {
                workflow,
                plan,
                inputs,
                pool,
                request_id,
                cache,
                now_ms,
            } => match plan {
                Some(plan) => {
                    self.launch_planned(&plan, inputs, pool, request_id, cache, now_ms, effects)
                }
                None => {
                    let extras = LaunchExtras {
                        cache,
                        ..LaunchExtras::default()
                    };
                    self.launch_with(
                        &workflow, inputs, pool, request_id, None, now_ms, extras, effects,
                    )
                }
            },
            Command::Recover {
                from,
                relaunch,
                request_id,
                now_ms,
            } => self.recover(&from, relaunch, request_id, now_ms, effects),
            Command::Traced { trace, launch } => {
                let response = self.apply_command(*launch, effects);
                self.continue_trace(&response, trace);
                return response;
            }
            Command::ReserveLaunches { count } => {
                let first = self.launches + 1;
                self.launches = self.launches.saturating_add(count);
                Ok(Response::Reserved {
                    first,
                    last: self.launches,
                })
            }
            Command::LaunchNumbered {
                number,
                workflow,
                inputs,
                pool,
                request_id,
                now_ms,
            } => self.launch(
                &workflow,
                inputs,
                pool,
                request_id,
                Some(number),
                now_ms,
                effects,
            ),
            Command::Assign {
                execution,
                node,
                executor,
                now_ms,
            } => Ok(self.assign(&execution, node, executor, now_ms, effects)),
            Command::Complete {
                execution,
                node,
                attempt,
                executor,
                outputs,
                log_size,
                now_ms,
            } => Ok(self.complete(
                &execution, node, attempt, &executor, outputs, log_size, now_ms, effects,
            )),
            Command::Fail {
                execution,
                node,
                attempt,
                executor,
                error,
                retryable,
                log_size,
                now_ms,
            } => Ok(self.fail(
                &execution, node, attempt, &executor, error, retryable, log_size, now_ms, effects,
            )),
            Command::LeaseLost {
                execution,
                node,
                attempt,
                now_ms,
            } => Ok(self.lease_lost(&execution, node, attempt, now_ms, effects)),
            Command::Cancel { execution, now_ms } => self.cancel(&execution, now_ms, effects),
            Command::HandBack {
                execution,
                node,
                attempt,
                executor,
                now_ms,
            } => Ok(self.hand_back(&execution, node, attempt, &executor, now_ms, effects)),
            Command::ScalePool {
                pool,
                scale,
                now_ms,
            } => self.scale_pool(pool, scale, now_ms, effects),
            Command::AutoscalePool {
                pool,
                autoscale,
                now_ms,
            } => self.autoscale_pool(pool, autoscale, now_ms, effects),
            Command::PrefetchPool {
                pool,
                prefetch,
                now_ms,
            } => self.prefetch_pool(pool, prefetch, now_ms, effects),
            Command::Autoscaled {
                pool,
                to,
                reason,
                now_ms,
            } => Ok(self.autoscaled(pool, to, reason, now_ms, effects)),
            Command::SetProject {
                project,
                default_pool,
                now_ms,
            } => {
                let change = pools::ProjectChange {
                    default_pool,
                    ..Default::default()
                };
                self.configure_project(project, change, now_ms, effects)
            }
            Command::Signal {
                execution,
                node,
                values,
                now_ms,
            } => Ok(self.signal(&execution, node, &values, now_ms, effects)),
            Command::GateTimedOut {
                execution,
                node,
                attempt,
                now_ms,
            } => Ok(self.gate_timed_out(&execution, node, attempt, now_ms, effects)),
            Command::ConfigureProject {
                project,
                change,
                now_ms,
            } => self.configure_project(project, change, now_ms, effects),
            Command::Expire { executions, .. } => Ok(self.expire(executions)),
            Command::SetRetention {
                project, retention, ..
            } => self.set_retention(project, retention, effects),
            Command::DrainExecutor {
                executor,
                deadline_ms,
                now_ms,
            } => self.drain_executor(executor, deadline_ms, now_ms, effects),
            Command::ForgetDrain { executor } => {
                self.drains.remove(&executor);
                Ok(Response::Done)
            }
        };
        result.unwrap_or_else(Response::Rejected)
    }

    /// What the engine reads of the registry.
    pub fn registry(&self) -> Registry<'_> {
        Registry {
            tasks: &self.tasks,
            workflows: &self.workflows,
            cache: &self.cache,
            projects: &self.projects,
        }
    }

    /// The execution `id` with the registry, to change it through the
    /// engine, if `attempt` is the current, running attempt of `node` (and,
    /// when `executor` is given, was assigned to that executor: a result
    /// re-sent by an executor that ran an assignment which never committed
    /// must not count for another executor's attempt of the same number).
    fn running_attempt(
        &mut self,
        id: &ExecutionId,
        node: u32,
        attempt: u32,
        executor: Option<&str>,
    ) -> Result<(Registry<'_>, &mut Execution), String> {
        let registry = Registry {
            tasks: &self.tasks,
            workflows: &self.workflows,
            cache: &self.cache,
            projects: &self.projects,
        };
        let execution = self
            .executions
            .get_mut(id)
            .ok_or_else(|| format!("unknown execution `{id}`"))?;
        let state = execution
            .nodes
            .get(node as usize)
            .ok_or_else(|| format!("execution `{id}` has no node #{node}"))?;
        if state.phase != NodePhase::Running || state.attempt != attempt {
            return Err(format!(
                "attempt {attempt} of node #{node} of `{id}` is not current (node is {:?}, attempt {})",
                state.phase, state.attempt
            ));
        }
        if state.executor.is_empty() {
            // A running sub-workflow instance: no executor runs it.
            return Err(format!(
                "node #{node} of `{id}` is not a task attempt on an executor"
            ));
        }
        if let Some(executor) = executor {
            if state.executor != executor {
                return Err(format!(
                    "attempt {attempt} of node #{node} of `{id}` runs on `{}`, not on `{executor}`",
                    state.executor
                ));
            }
        }
        Ok((registry, execution))
    }

    fn assign(
        &mut self,
        id: &ExecutionId,
        node: u32,
        executor: String,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Response {
        let registry = Registry {
            tasks: &self.tasks,
            workflows: &self.workflows,
            cache: &self.cache,
            projects: &self.projects,
        };
        let Some(execution) = self.executions.get_mut(id) else {
            return Response::Ignored(format!("unknown execution `{id}`"));
        };
        if node as usize >= execution.nodes.len() {
            return Response::Ignored(format!("execution `{id}` has no node #{node}"));
        }
        match Run::new(registry, execution, now_ms, effects).assigned(node, executor) {
            Some(attempt) => Response::Assigned { attempt },
            None => Response::Ignored(format!("node #{node} of `{id}` is not queued")),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn complete(
        &mut self,
        id: &ExecutionId,
        node: u32,
        attempt: u32,
        executor: &str,
        outputs: Values,
        log_size: u64,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Response {
        match self.running_attempt(id, node, attempt, Some(executor)) {
            Ok((registry, execution)) => {
                let mut run = Run::new(registry, execution, now_ms, effects);
                run.attempt_succeeded(node, attempt, outputs, log_size);
                let requests = std::mem::take(&mut run.cache_requests);
                self.settle_cache(id, requests, now_ms, effects);
                Response::Done
            }
            Err(why) => Response::Ignored(why),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn fail(
        &mut self,
        id: &ExecutionId,
        node: u32,
        attempt: u32,
        executor: &str,
        error: String,
        retryable: bool,
        log_size: u64,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Response {
        match self.running_attempt(id, node, attempt, Some(executor)) {
            Ok((registry, execution)) => {
                let mut run = Run::new(registry, execution, now_ms, effects);
                run.attempt_failed(node, attempt, error, retryable, log_size);
                let requests = std::mem::take(&mut run.cache_requests);
                self.settle_cache(id, requests, now_ms, effects);
                Response::Done
            }
            Err(why) => Response::Ignored(why),
        }
    }

    fn hand_back(
        &mut self,
        id: &ExecutionId,
        node: u32,
        attempt: u32,
        executor: &str,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Response {
        match self.running_attempt(id, node, attempt, Some(executor)) {
            Ok((registry, execution)) => {
                let mut run = Run::new(registry, execution, now_ms, effects);
                run.attempt_handed_back(node, attempt);
                let requests = std::mem::take(&mut run.cache_requests);
                self.settle_cache(id, requests, now_ms, effects);
                Response::Done
            }
            Err(why) => Response::Ignored(why),
        }
    }

    fn lease_lost(
        &mut self,
        id: &ExecutionId,
        node: u32,
        attempt: u32,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Response {
        match self.running_attempt(id, node, attempt, None) {
            Ok((registry, execution)) => {
                let mut run = Run::new(registry, execution, now_ms, effects);
                run.attempt_lost(node, attempt);
                let requests = std::mem::take(&mut run.cache_requests);
                self.settle_cache(id, requests, now_ms, effects);
                Response::Done
            }
            Err(why) => Response::Ignored(why),
        }
    }

    // ------------------------------------------------------------ cancel

    fn cancel(
        &mut self,
        id: &ExecutionId,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Result<Response, SchedulerError> {
        let registry = Registry {
            tasks: &self.tasks,
            workflows: &self.workflows,
            cache: &self.cache,
            projects: &self.projects,
        };
        let execution = self
            .executions
            .get_mut(id)
            .ok_or_else(|| SchedulerError::not_found(retention::missing(&self.expired, id)))?;
        if execution.phase.is_terminal() {
            return Ok(Response::Cancelled(execution.phase));
        }
        if execution.phase == ExecutionPhase::Queued {
            self.cancel_held(id, now_ms, effects);
            return Ok(Response::Cancelled(ExecutionPhase::Cancelled));
        }
        let mut run = Run::new(registry, execution, now_ms, effects);
        run.cancel();
        let requests = std::mem::take(&mut run.cache_requests);
        self.settle_cache(id, requests, now_ms, effects);
        Ok(Response::Cancelled(ExecutionPhase::Cancelled))
    }
}

impl SchedulerState {
    /// Applies what a run of execution `id` asked of the cache, then ends
    /// the claims of its instances that finished: their waiters are served
    /// from the stored result, or (if the claimant did not succeed) the
    /// first of them runs it, and the others wait for that one.
    pub(super) fn settle_cache(
        &mut self,
        id: &ExecutionId,
        requests: Vec<CacheRequest>,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) {
        for request in requests {
            match request {
                CacheRequest::Store {
                    node,
                    key,
                    expires_ms,
                } => {
                    let Some(execution) = self.executions.get(id) else {
                        continue;
                    };
                    let entry = CacheEntry {
                        outputs: execution.nodes[node as usize].outputs.clone(),
                        at_ms: now_ms,
                        expires_ms,
                        execution: id.clone(),
                        path: self.node_path(execution, node),
                    };
                    self.cache.put(key, entry);
                }
                CacheRequest::Claim { node, key } => self.cache.claim(key, (id.clone(), node)),
                CacheRequest::Wait { node, key } => self.cache.wait(key, (id.clone(), node)),
            }
        }
        let Some(execution) = self.executions.get(id) else {
            return;
        };
        let ended: Vec<String> = self
            .cache
            .claims_of(id)
            .into_iter()
            .filter(|(_, node)| {
                execution.phase.is_terminal() || execution.nodes[*node as usize].phase.is_terminal()
            })
            .map(|(key, _)| key)
            .collect();
        for key in ended {
            let waiters = self.cache.release(&key);
            let entry = self.cache.get(&key, now_ms).cloned();
            let mut waiters = waiters.into_iter();
            while let Some(waiter) = waiters.next() {
                match &entry {
                    Some(entry) => {
                        let from = format!(
                            "cached: the result of {} node {}",
                            entry.execution, entry.path
                        );
                        self.wake(
                            &waiter,
                            Some((entry.outputs.clone(), from)),
                            now_ms,
                            effects,
                        );
                    }
                    None => {
                        // The first waiter still waiting runs it; the rest wait for it.
                        if self.wake(&waiter, None, now_ms, effects) {
                            for rest in waiters.by_ref() {
                                self.cache.wait(key.clone(), rest);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Ends the wait of `waiter`: served `outputs`, or run. `false` if it
    /// no longer waits (its execution ended meanwhile).
    fn wake(
        &mut self,
        (id, node): &(ExecutionId, u32),
        outputs: Option<(Values, String)>,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> bool {
        let registry = Registry {
            tasks: &self.tasks,
            workflows: &self.workflows,
            cache: &self.cache,
            projects: &self.projects,
        };
        let Some(execution) = self.executions.get_mut(id) else {
            return false;
        };
        if execution.phase.is_terminal()
            || execution.nodes.get(*node as usize).map(|n| n.phase) != Some(NodePhase::Pending)
        {
            return false;
        }
        let mut run = Run::new(registry, execution, now_ms, effects);
        match outputs {
            Some((outputs, from)) => run.cached(*node, outputs, from),
            None => run.run_after_wait(*node),
        }
        let requests = std::mem::take(&mut run.cache_requests);
        self.settle_cache(id, requests, now_ms, effects);
        true
    }
}
