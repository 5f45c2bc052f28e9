//! The pool requests of the Admin service: `baton pools` and
//! `baton executors` (what the leader's dispatcher sees, with the replicated
//! settings), `baton pool scale`, `baton project set` and
//! `baton executor drain` (replicated commands), and why a queued instance
//! waits, for `baton get`.

use std::collections::BTreeMap;

use baton_proto::*;
use tonic::Status;

use crate::dispatch::{now_ms, DispatchView};
use crate::engine::pool::describe;
use crate::state::pools::{
    check_autoscale, check_name, check_project_change, Autoscale, ChangedBy, ProjectChange, Scale,
    DEFAULT_COOLDOWN_MS,
};
use crate::state::retention::{check_retention, Retention};
use crate::state::{Command, SchedulerState};

/// `baton pools`: every pool the state or the leader knows of.
pub fn list(state: &SchedulerState, view: &DispatchView) -> ListPoolsResponse {
    let mut pools: BTreeMap<String, PoolStatus> = BTreeMap::new();
    fn pool_entry<'a>(
        pools: &'a mut BTreeMap<String, PoolStatus>,
        name: &str,
    ) -> &'a mut PoolStatus {
        pools.entry(name.to_owned()).or_insert_with(|| PoolStatus {
            name: name.to_owned(),
            ..Default::default()
        })
    }
    for (name, settings) in &state.pools {
        let pool = pool_entry(&mut pools, name);
        pool.desired = scale_text(settings.scale);
        pool.prefetch = settings.prefetch;
        pool.autoscale = settings
            .autoscale
            .map(|a| a.to_string())
            .unwrap_or_default();
        pool.events = settings
            .events
            .iter()
            .map(|e| PoolEvent {
                at_ms: e.at_ms,
                by: match e.by {
                    ChangedBy::Operator => "operator",
                    ChangedBy::Autoscaler => "autoscaler",
                }
                .to_owned(),
                from: scale_text(e.from),
                to: scale_text(e.to),
                reason: e.reason.clone(),
            })
            .collect();
    }
    for (name, summary) in &view.pools {
        let pool = pool_entry(&mut pools, name);
        pool.wait_p50_ms = summary.wait_p50_ms;
        pool.wait_p99_ms = summary.wait_p99_ms;
        pool.completed_per_s = summary.completed_per_s;
    }
    for lane in &view.lanes {
        let pool = pool_entry(&mut pools, &lane.lane.pool);
        pool.queue_depth += lane.depth as u64;
        let project = &*lane.lane.project;
        let at = match pool.shares.iter().position(|s| s.project == project) {
            Some(at) => at,
            None => {
                let settings = state.projects.get(project);
                pool.shares.push(ProjectShare {
                    project: project.to_owned(),
                    weight: settings.map_or(1, |p| p.weight()),
                    max_running: settings
                        .and_then(|p| p.max_running.get(&*lane.lane.pool).copied())
                        .unwrap_or(0),
                    ..Default::default()
                });
                pool.shares.len() - 1
            }
        };
        pool.shares[at].running += lane.running;
        pool.shares[at].queued += lane.depth as u64;
        if lane.depth == 0 {
            continue;
        }
        if let Some(cap) = lane.capped {
            pool.waiting.push(format!(
                "{} queued: {}",
                lane.depth,
                capped_reason(project, cap, &lane.lane.pool)
            ));
        } else if lane.matching == 0 {
            let selector = lane.lane.selector.as_deref().map(describe);
            pool.waiting.push(format!(
                "{} queued: {}",
                lane.depth,
                waiting_reason(&lane.lane.pool, selector.as_deref().unwrap_or(""))
            ));
        }
    }
    for executor in &view.executors {
        let entry = &executor.entry;
        let drain = state.drains.get(&executor.id);
        let pool = pool_entry(&mut pools, &entry.pool);
        if entry.connected {
            pool.workers += entry.slots;
            pool.busy += entry.running();
        }
        pool.executors.push(ExecutorStatus {
            id: executor.id.clone(),
            pool: entry.pool.clone(),
            labels: entry.labels.clone().into_iter().collect(),
            version: entry.version.clone(),
            workers: entry.slots,
            max_workers: entry.max_slots,
            busy: entry.running(),
            prefetched: entry.prefetched(),
            connected: entry.connected,
            // The order is read from the state: committed before the
            // request that made it returned.
            draining: entry.draining || entry.drain_ordered || drain.is_some(),
            last_seen_ms: entry.last_seen_ms,
            running: executor
                .running
                .iter()
                .map(|((execution, node), attempt, since_ms)| RunningAttempt {
                    execution_id: execution.to_string(),
                    node_id: state
                        .execution(execution)
                        .map(|e| state.node_path(e, *node))
                        .unwrap_or_default(),
                    attempt: *attempt,
                    since_ms: *since_ms,
                })
                .collect(),
            desired_workers: view.desired.get(&executor.id).copied().unwrap_or(0),
            drain_ordered: drain.is_some(),
            drain_deadline_ms: drain.and_then(|d| d.deadline_ms).unwrap_or(0),
        });
    }
    let mut projects: BTreeMap<&str, ProjectStatus> = state
        .projects
        .iter()
        .map(|(name, settings)| {
            let status = ProjectStatus {
                name: name.clone(),
                default_pool: settings.default_pool.clone(),
                weight: settings.weight(),
                max_running: settings.max_running.clone().into_iter().collect(),
                max_executions: settings.max_executions.unwrap_or(0),
                retention: settings
                    .retention
                    .map(|r| r.to_string())
                    .unwrap_or_default(),
                ..Default::default()
            };
            (name.as_str(), status)
        })
        .collect();
    for (name, queue) in &state.held_launches {
        if let Some(status) = projects.get_mut(name.as_str()) {
            status.queued_executions = queue.len() as u32;
        }
    }
    for (name, running) in &state.running_executions {
        if let Some(status) = projects.get_mut(name.as_str()) {
            status.running_executions = *running;
        }
    }
    let projects = projects.into_values().collect();
    ListPoolsResponse {
        pools: pools.into_values().collect(),
        projects,
    }
}

fn scale_text(scale: Option<Scale>) -> String {
    scale.map(|s| s.to_string()).unwrap_or_default()
}

/// Why instances of `pool` with `selector` (as [`describe`] writes it,
/// empty for none) wait: no executor may take them.
pub fn waiting_reason(pool: &str, selector: &str) -> String {
    if selector.is_empty() {
        format!("waiting for an executor in pool {pool}")
    } else {
        format!("waiting for an executor in pool {pool} matching {selector}")
    }
}

/// Why a project's instances wait in a pool where it reached its cap.
pub fn capped_reason(project: &str, cap: u32, pool: &str) -> String {
    format!("waiting: project {project} is at its cap of {cap} running nodes in pool {pool}")
}

/// Fills in why each queued instance of `execution` waits: no executor of
/// its pool (matching its selector) is there to take it, or its project
/// is at its cap in the pool.
pub fn explain_waits(execution: &mut Execution, view: &DispatchView) {
    if !view.leader || view.lanes.is_empty() {
        return;
    }
    let project = execution
        .workflow
        .as_ref()
        .map(|w| w.project.clone())
        .unwrap_or_default();
    let queued = NodePhase::NodeQueued as i32;
    for node in execution.nodes.iter_mut().filter(|n| n.phase == queued) {
        let lane = view.lanes.iter().find(|lane| {
            lane.depth > 0
                && *lane.lane.pool == *node.pool
                && *lane.lane.project == *project
                && lane
                    .lane
                    .selector
                    .as_deref()
                    .map(describe)
                    .unwrap_or_default()
                    == node.selector
        });
        match lane {
            Some(lane) if lane.matching == 0 => {
                node.waiting = waiting_reason(&node.pool, &node.selector);
            }
            Some(lane) => {
                if let Some(cap) = lane.capped {
                    node.waiting = capped_reason(&project, cap, &node.pool);
                }
            }
            None => {}
        }
    }
}

/// The command of a `ScalePool` request, or why it is refused.
pub fn scale_command(request: ScalePoolRequest) -> Result<Command, Status> {
    check_name("pool", &request.pool).map_err(Status::from)?;
    let given = [request.workers > 0, request.per_executor > 0, request.reset];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(Status::invalid_argument(format!(
            "scaling pool `{}` needs exactly one of --workers N (N >= 1), --per-executor N (N >= 1) or --reset",
            request.pool
        )));
    }
    let scale = if request.reset {
        None
    } else if request.workers > 0 {
        Some(Scale::Total(request.workers))
    } else {
        Some(Scale::PerExecutor(request.per_executor))
    };
    Ok(Command::ScalePool {
        pool: request.pool,
        scale,
        now_ms: now_ms(),
    })
}

/// The command of an `AutoscalePool` request, or why it is refused.
pub fn autoscale_command(request: AutoscalePoolRequest) -> Result<Command, Status> {
    check_name("pool", &request.pool).map_err(Status::from)?;
    let autoscale = if request.off {
        None
    } else {
        let policy = Autoscale {
            min: request.min,
            max: request.max,
            target_wait_ms: request.target_wait_ms,
            cooldown_ms: match request.cooldown_ms {
                0 => DEFAULT_COOLDOWN_MS,
                ms => ms,
            },
        };
        check_autoscale(&request.pool, &policy).map_err(Status::from)?;
        Some(policy)
    };
    Ok(Command::AutoscalePool {
        pool: request.pool,
        autoscale,
        now_ms: now_ms(),
    })
}

/// The command of a `PrefetchPool` request, or why it is refused.
pub fn prefetch_command(request: PrefetchPoolRequest) -> Result<Command, Status> {
    check_name("pool", &request.pool).map_err(Status::from)?;
    Ok(Command::PrefetchPool {
        pool: request.pool,
        prefetch: request.assignments,
        now_ms: now_ms(),
    })
}

/// The commands of a `SetProject` request (its settings, then its
/// retention), all checked before any is proposed, or why it is refused.
pub fn project_commands(request: SetProjectRequest) -> Result<Vec<Command>, Status> {
    check_name("project", &request.project).map_err(Status::from)?;
    let change = ProjectChange {
        default_pool: request.set_default_pool.then_some(request.default_pool),
        weight: request.set_weight.then_some(request.weight),
        max_running: request
            .max_running
            .into_iter()
            .map(|cap| (cap.pool, (!cap.remove).then_some(cap.max)))
            .collect(),
        max_executions: request
            .set_max_executions
            .then_some((!request.no_max_executions).then_some(request.max_executions)),
    };
    if change == ProjectChange::default() && !request.set_retention {
        return Err(Status::invalid_argument(format!(
            "nothing to set for project `{}`: give --default-pool POOL, --weight W, --max-running POOL=N, --max-executions N or --retention DURATION",
            request.project
        )));
    }
    check_project_change(&request.project, &change).map_err(Status::from)?;
    let now = now_ms();
    let mut commands = Vec::new();
    if change != ProjectChange::default() {
        commands.push(Command::ConfigureProject {
            project: request.project.clone(),
            change,
            now_ms: now,
        });
    }
    if request.set_retention {
        let retention = match (request.retention_forever, request.retention_ms) {
            (true, _) => Some(Retention::Forever),
            (false, 0) => None,
            (false, ms) => Some(Retention::For { ms }),
        };
        check_retention(&request.project, retention).map_err(Status::from)?;
        commands.push(Command::SetRetention {
            project: request.project,
            retention,
            now_ms: now,
        });
    }
    Ok(commands)
}

/// The command of a `DrainExecutor` request, or why it is refused: the
/// executor must be one the leader knows (connected now or recently).
pub fn drain_command(
    request: DrainExecutorRequest,
    view: &DispatchView,
) -> Result<Command, Status> {
    if request.executor_id.is_empty() {
        return Err(Status::invalid_argument("name the executor to drain"));
    }
    if !view.executors.iter().any(|e| e.id == request.executor_id) {
        let known: Vec<&str> = view.executors.iter().map(|e| e.id.as_str()).collect();
        return Err(Status::not_found(format!(
            "no executor `{}` is connected; the executors are: {}",
            request.executor_id,
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )));
    }
    let now = now_ms();
    Ok(Command::DrainExecutor {
        executor: request.executor_id,
        deadline_ms: (request.deadline_ms > 0).then(|| now + request.deadline_ms),
        now_ms: now,
    })
}
