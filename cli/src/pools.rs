//! Pools and executors: `baton pools` (and `--events`), `baton executors`
//! (and `baton executor list`), `baton pool scale`, `baton pool autoscale`, `baton pool prefetch`,
//! `baton executor drain` and `baton project set`.

use std::time::Duration;

use baton_proto::*;
use serde_json::json;

use crate::client::{CliError, Client};
use crate::commands::{print_structured, Output};
use baton_scheduler::state::retention::Retention;

#[derive(clap::Subcommand, Debug)]
pub enum PoolCommand {
    /// Set how many workers a pool runs: a total spread over its executors
    /// (`--workers N`), the same count on each (`--per-executor N`), or back
    /// to each executor's own `--workers` (`--reset`). Executors resize at
    /// once: a larger pool takes queued work straight away, a smaller one
    /// retires idle workers first and lets busy ones finish. The size is
    /// replicated: a restarted executor and a new leader keep it. No
    /// executor goes above its `--max-workers`.
    Scale {
        pool: String,
        #[arg(long, value_name = "N", conflicts_with_all = ["per_executor", "reset"])]
        workers: Option<u32>,
        #[arg(long, value_name = "N", conflicts_with = "reset")]
        per_executor: Option<u32>,
        #[arg(long)]
        reset: bool,
    },
    /// Let the leader size a pool by its traffic: once a second it compares
    /// the pool's queue wait with --target-wait and grows the pool's total
    /// worker count at once when the wait is above it (at most doubling a
    /// step); it shrinks the pool only after a whole --cooldown with the
    /// wait under half the target and at most half the workers busy. Sizes
    /// stay within --min..--max and each executor's --max-workers. Every
    /// change is listed by `baton pools --events`. The policy is
    /// replicated: a new leader goes on with it. `--off` stops it; the pool
    /// keeps its last size.
    Autoscale {
        pool: String,
        /// The fewest workers the pool keeps (every executor keeps one).
        #[arg(long, value_name = "N", required_unless_present = "off")]
        min: Option<u32>,
        /// The most workers it grows to.
        #[arg(long, value_name = "N", required_unless_present = "off")]
        max: Option<u32>,
        /// The queue wait to keep the pool near (e.g. 500ms).
        #[arg(long, value_name = "DURATION", value_parser = crate::args::parse_duration, required_unless_present = "off")]
        target_wait: Option<Duration>,
        /// How long the pool must be under-used before it shrinks.
        #[arg(long, value_name = "DURATION", value_parser = crate::args::parse_duration, default_value = "30s")]
        cooldown: Duration,
        /// Stop autoscaling the pool.
        #[arg(long, conflicts_with_all = ["min", "max", "target_wait"])]
        off: bool,
    },
    /// Let up to N assignments wait on each executor of a pool beyond its
    /// busy workers, so that a worker that finishes starts the next task at
    /// once instead of waiting for the scheduler's round trip: it pays for
    /// many short tasks on few workers. Off (0) by default, and best left
    /// off for long tasks: an assignment waiting behind a long task on one
    /// executor does not go to another that is idle, and it counts toward
    /// its project's share and caps while it waits. A draining executor
    /// still runs what waits on it (past a drain deadline it is handed
    /// back). Replicated, like the pool's size.
    Prefetch {
        pool: String,
        /// Assignments per executor (0 turns prefetching off; at most 64).
        #[arg(value_name = "N")]
        assignments: u32,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum ExecutorCommand {
    /// Every executor: pool, labels, version, workers, busy, draining, and
    /// the attempts it runs.
    List,
    /// Drain an executor: it gets nothing new at once; what runs on it
    /// finishes (or, past --deadline, is handed back to run elsewhere,
    /// using no retry); then it exits 0. The order is replicated: a new
    /// leader keeps it.
    Drain {
        /// The executor's id, as `baton executors` shows it.
        id: String,
        /// How long running attempts may go on (e.g. 5m); unset: as long
        /// as they take.
        #[arg(long, value_parser = crate::args::parse_duration)]
        deadline: Option<Duration>,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum ProjectCommand {
    /// Change a project's settings (replicated; what is not given stays).
    Set {
        project: String,
        /// The pool the project's nodes run in when nothing (node, launch,
        /// launch plan, workflow, task) pins one; `""` for `default`.
        #[arg(long, value_name = "POOL")]
        default_pool: Option<String>,
        /// Its weight in every pool's fair share (default 1): where
        /// projects compete for a pool, each holds about its weight's part
        /// of the busy workers.
        #[arg(long, value_name = "W")]
        weight: Option<u32>,
        /// The most of its nodes that may run at once in POOL; `POOL=none`
        /// removes the cap. Repeat for several pools. Over the cap its
        /// nodes wait in the queue.
        #[arg(long, value_name = "POOL=N", value_parser = parse_pool_cap)]
        max_running: Vec<(String, Cap)>,
        /// The most of its executions that may run at once; `none` removes
        /// the cap. A launch over it is accepted and queued (QUEUED), and
        /// starts when one of the project's executions ends.
        #[arg(long, value_name = "N", value_parser = parse_cap)]
        max_executions: Option<Cap>,
        /// How long its finished executions (their nodes, events and
        /// outputs) stay before they expire: a duration (3d, 12h),
        /// `forever`, or `default` for the scheduler's --retention.
        #[arg(long, value_name = "DURATION", value_parser = parse_retention)]
        retention: Option<RetentionArg>,
    },
}

/// `--retention` as given: `None` for `default`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionArg(Option<Retention>);

fn parse_retention(text: &str) -> Result<RetentionArg, String> {
    baton_scheduler::state::retention::parse_retention(text, true).map(RetentionArg)
}

/// A cap as given: a count, or `none` (no cap).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap(Option<u32>);

/// `N` or `none`.
fn parse_cap(text: &str) -> Result<Cap, String> {
    if text == "none" {
        return Ok(Cap(None));
    }
    text.parse::<u32>()
        .map(|n| Cap(Some(n)))
        .map_err(|_| format!("`{text}` is not a count: give a number or `none`"))
}

/// `POOL=N` or `POOL=none`.
fn parse_pool_cap(text: &str) -> Result<(String, Cap), String> {
    let Some((pool, cap)) = text.split_once('=') else {
        return Err(format!("`{text}` is not POOL=N (e.g. gpu=4, or gpu=none)"));
    };
    Ok((pool.to_owned(), parse_cap(cap)?))
}

pub(crate) async fn list_pools(client: &mut Client) -> Result<ListPoolsResponse, CliError> {
    client
        .call(ListPoolsRequest {}, |mut a, r| async move {
            a.list_pools(r).await
        })
        .await
}

fn executor_json(e: &ExecutorStatus) -> serde_json::Value {
    json!({
        "id": e.id,
        "pool": e.pool,
        "labels": e.labels.iter().collect::<std::collections::BTreeMap<_, _>>(),
        "version": e.version,
        "workers": e.workers,
        "max_workers": e.max_workers,
        "desired_workers": (e.desired_workers > 0).then_some(e.desired_workers),
        "busy": e.busy,
        "prefetched": e.prefetched,
        "connected": e.connected,
        "draining": e.draining,
        "drain_ordered": e.drain_ordered,
        "drain_deadline_ms": (e.drain_deadline_ms > 0).then_some(e.drain_deadline_ms),
        "running": e.running.iter().map(|r| json!({
            "execution": r.execution_id,
            "node": r.node_id,
            "attempt": r.attempt,
            "since_ms": r.since_ms,
        })).collect::<Vec<_>>(),
    })
}

fn labels_text(labels: &std::collections::HashMap<String, String>) -> String {
    let mut pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    if pairs.is_empty() {
        "-".to_owned()
    } else {
        pairs.join(",")
    }
}

fn state_text(e: &ExecutorStatus) -> &'static str {
    match (e.connected, e.draining) {
        (false, _) => "disconnected",
        (true, true) => "draining",
        (true, false) => "ready",
    }
}

fn event_json(pool: &str, e: &PoolEvent) -> serde_json::Value {
    json!({
        "pool": pool,
        "at_ms": e.at_ms,
        "by": e.by,
        "from": (!e.from.is_empty()).then_some(&e.from),
        "to": (!e.to.is_empty()).then_some(&e.to),
        "reason": e.reason,
    })
}

/// A time as `2026-12-02T21:51:17.744Z`: to the millisecond.
fn time_text(at_ms: u64) -> String {
    let full = baton_model::value::format_datetime(at_ms as i64 * 1_000_000);
    match full.find('.') {
        Some(dot) if full.len() > dot + 4 => format!("{}Z", &full[..dot + 4]),
        _ => full,
    }
}

/// `baton pools --events`: every pool's size changes, oldest first.
fn print_events(response: &ListPoolsResponse, output: Output) {
    let mut events: Vec<(&str, &PoolEvent)> = response
        .pools
        .iter()
        .flat_map(|p| p.events.iter().map(move |e| (p.name.as_str(), e)))
        .collect();
    events.sort_by_key(|(_, e)| e.at_ms);
    match output {
        Output::Json | Output::Yaml => {
            let list: Vec<serde_json::Value> =
                events.iter().map(|(pool, e)| event_json(pool, e)).collect();
            print_structured(output, &serde_json::Value::Array(list));
        }
        Output::Text => {
            if events.is_empty() {
                println!("no pool was scaled or autoscaled");
                return;
            }
            println!("{:<24} {:<16} {:<10} CHANGE", "TIME", "POOL", "BY");
            let size = |s: &str| {
                if s.is_empty() {
                    "own --workers".to_owned()
                } else {
                    s.to_owned()
                }
            };
            for (pool, e) in events {
                println!(
                    "{:<24} {:<16} {:<10} {} -> {}: {}",
                    time_text(e.at_ms),
                    pool,
                    e.by,
                    size(&e.from),
                    size(&e.to),
                    e.reason
                );
            }
        }
    }
}

/// `baton pools` (`--events`: the size changes instead).
pub async fn pools(client: &mut Client, output: Output, events: bool) -> Result<(), CliError> {
    let response = list_pools(client).await?;
    if events {
        print_events(&response, output);
        return Ok(());
    }
    match output {
        Output::Json | Output::Yaml => {
            let pools: Vec<serde_json::Value> = response
                .pools
                .iter()
                .map(|p| {
                    json!({
                        "name": p.name,
                        "workers": p.workers,
                        "busy": p.busy,
                        "desired": (!p.desired.is_empty()).then_some(&p.desired),
                        "autoscale": (!p.autoscale.is_empty()).then_some(&p.autoscale),
                        "prefetch": p.prefetch,
                        "queue_depth": p.queue_depth,
                        "wait_p50_ms": p.wait_p50_ms,
                        "wait_p99_ms": p.wait_p99_ms,
                        "completed_per_s": p.completed_per_s,
                        "waiting": p.waiting,
                        "shares": p.shares.iter().map(|s| json!({
                            "project": s.project,
                            "weight": s.weight,
                            "running": s.running,
                            "queued": s.queued,
                            "max_running": (s.max_running > 0).then_some(s.max_running),
                        })).collect::<Vec<_>>(),
                        "executors": p.executors.iter().map(executor_json).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let projects: Vec<serde_json::Value> = response
                .projects
                .iter()
                .map(|p| {
                    json!({
                        "name": p.name,
                        "default_pool": (!p.default_pool.is_empty()).then_some(&p.default_pool),
                        "weight": p.weight,
                        "max_running": p.max_running.iter().collect::<std::collections::BTreeMap<_, _>>(),
                        "max_executions": (p.max_executions > 0).then_some(p.max_executions),
                        "running_executions": p.running_executions,
                        "queued_executions": p.queued_executions,
                        "retention": (!p.retention.is_empty()).then_some(&p.retention),
                    })
                })
                .collect();
            print_structured(output, &json!({"pools": pools, "projects": projects}));
        }
        Output::Text => {
            if response.pools.is_empty() {
                println!("no pools: no executor is connected and no pool is scaled");
            }
            println!(
                "{:<16} {:>9} {:>7} {:>6} {:>9} {:>9} {:>9}  DESIRED",
                "POOL", "EXECUTORS", "WORKERS", "BUSY", "QUEUED", "WAIT P50", "WAIT P99"
            );
            for p in &response.pools {
                println!(
                    "{:<16} {:>9} {:>7} {:>6} {:>9} {:>7}ms {:>7}ms  {}   {:.1} tasks/s",
                    p.name,
                    p.executors.iter().filter(|e| e.connected).count(),
                    p.workers,
                    p.busy,
                    p.queue_depth,
                    p.wait_p50_ms,
                    p.wait_p99_ms,
                    match (p.desired.is_empty(), p.autoscale.is_empty()) {
                        (true, true) => "-".to_owned(),
                        (false, true) => p.desired.clone(),
                        (true, false) => format!("({})", p.autoscale),
                        (false, false) => format!("{} ({})", p.desired, p.autoscale),
                    },
                    p.completed_per_s,
                );
                if p.prefetch > 0 {
                    println!(
                        "    prefetch: up to {} assignments wait on each executor",
                        p.prefetch
                    );
                }
                for why in &p.waiting {
                    println!("    {why}");
                }
                if p.shares.len() > 1 || p.shares.iter().any(|s| s.weight != 1 || s.max_running > 0)
                {
                    for share in &p.shares {
                        let cap = match share.max_running {
                            0 => String::new(),
                            n => format!(", cap {n}"),
                        };
                        println!(
                            "    project {:<20} weight {:<3} {:>4} running {:>6} queued{cap}",
                            share.project, share.weight, share.running, share.queued
                        );
                    }
                }
                for e in &p.executors {
                    let prefetched = match e.prefetched {
                        0 => String::new(),
                        n => format!(" +{n} waiting"),
                    };
                    println!(
                        "    {:<28} {:<12} {:>3}/{:<3} busy{prefetched}  labels {}  v{}",
                        e.id,
                        state_text(e),
                        e.busy,
                        e.workers,
                        labels_text(&e.labels),
                        e.version
                    );
                }
            }
            for p in &response.projects {
                let mut settings = Vec::new();
                if !p.default_pool.is_empty() {
                    settings.push(format!("default pool {}", p.default_pool));
                }
                if p.weight != 1 {
                    settings.push(format!("weight {}", p.weight));
                }
                let mut caps: Vec<_> = p.max_running.iter().collect();
                caps.sort();
                for (pool, n) in caps {
                    settings.push(format!("at most {n} running in {pool}"));
                }
                if p.max_executions > 0 {
                    settings.push(format!(
                        "{}/{} executions running, {} queued",
                        p.running_executions, p.max_executions, p.queued_executions
                    ));
                }
                if !p.retention.is_empty() {
                    settings.push(format!("finished executions kept {}", p.retention));
                }
                println!("project {}: {}", p.name, settings.join("; "));
            }
        }
    }
    Ok(())
}

/// `baton executors` and `baton executor list`.
pub async fn executors(client: &mut Client, output: Output) -> Result<(), CliError> {
    let response = list_pools(client).await?;
    let executors: Vec<&ExecutorStatus> =
        response.pools.iter().flat_map(|p| &p.executors).collect();
    match output {
        Output::Json | Output::Yaml => {
            let list: Vec<serde_json::Value> = executors.iter().map(|e| executor_json(e)).collect();
            print_structured(output, &serde_json::Value::Array(list));
        }
        Output::Text => {
            if executors.is_empty() {
                println!("no executor is connected");
                return Ok(());
            }
            println!(
                "{:<28} {:<12} {:<12} {:>7} {:>5} {:<10} LABELS",
                "EXECUTOR", "POOL", "STATE", "WORKERS", "BUSY", "VERSION"
            );
            for e in executors {
                let workers = match e.desired_workers {
                    0 => e.workers.to_string(),
                    d if d == e.workers => e.workers.to_string(),
                    d => format!("{}->{d}", e.workers),
                };
                println!(
                    "{:<28} {:<12} {:<12} {:>7} {:>5} {:<10} {}",
                    e.id,
                    e.pool,
                    state_text(e),
                    workers,
                    e.busy,
                    e.version,
                    labels_text(&e.labels)
                );
                for r in &e.running {
                    println!("    {} {} attempt {}", r.execution_id, r.node_id, r.attempt);
                }
            }
        }
    }
    Ok(())
}

pub async fn pool(client: &mut Client, command: PoolCommand) -> Result<(), CliError> {
    match command {
        PoolCommand::Scale {
            pool,
            workers,
            per_executor,
            reset,
        } => {
            if workers.is_none() && per_executor.is_none() && !reset {
                return Err(CliError::BadInput(format!(
                    "scaling pool `{pool}` needs --workers N, --per-executor N or --reset"
                )));
            }
            if workers == Some(0) || per_executor == Some(0) {
                return Err(CliError::BadInput(format!(
                    "pool `{pool}` cannot be scaled to 0 workers: drain its executors instead"
                )));
            }
            let request = ScalePoolRequest {
                pool: pool.clone(),
                workers: workers.unwrap_or(0),
                per_executor: per_executor.unwrap_or(0),
                reset,
            };
            client
                .call(request, |mut a, r| async move { a.scale_pool(r).await })
                .await?;
            match (workers, per_executor) {
                (Some(n), _) => println!("pool {pool}: {n} workers over its executors"),
                (_, Some(n)) => println!("pool {pool}: {n} workers per executor"),
                _ => println!("pool {pool}: each executor runs its own --workers"),
            }
        }
        PoolCommand::Prefetch { pool, assignments } => {
            let request = PrefetchPoolRequest {
                pool: pool.clone(),
                assignments,
            };
            client
                .call(request, |mut a, r| async move { a.prefetch_pool(r).await })
                .await?;
            match assignments {
                0 => println!("pool {pool}: no prefetch; each executor gets work as a worker frees"),
                n => println!("pool {pool}: up to {n} assignments wait on each executor beyond its busy workers"),
            }
        }
        PoolCommand::Autoscale {
            pool,
            min,
            max,
            target_wait,
            cooldown,
            off,
        } => {
            let millis = |d: Duration| d.as_millis().max(1) as u64;
            let request = AutoscalePoolRequest {
                pool: pool.clone(),
                min: min.unwrap_or(0),
                max: max.unwrap_or(0),
                target_wait_ms: target_wait.map_or(0, millis),
                cooldown_ms: millis(cooldown),
                off,
            };
            client
                .call(request, |mut a, r| async move { a.autoscale_pool(r).await })
                .await?;
            if off {
                println!("pool {pool}: autoscaling off; it keeps its size");
            } else {
                println!(
                    "pool {pool}: autoscaled between {} and {} workers, keeping queue wait near {}",
                    min.unwrap_or(0),
                    max.unwrap_or(0),
                    baton_model::value::format_duration(
                        target_wait.unwrap_or_default().as_nanos() as i64
                    )
                );
            }
        }
    }
    Ok(())
}

pub async fn executor(
    client: &mut Client,
    command: ExecutorCommand,
    output: Output,
) -> Result<(), CliError> {
    match command {
        ExecutorCommand::List => executors(client, output).await,
        ExecutorCommand::Drain { id, deadline } => {
            let request = DrainExecutorRequest {
                executor_id: id.clone(),
                deadline_ms: deadline.map_or(0, |d| d.as_millis().max(1) as u64),
            };
            client
                .call(request, |mut a, r| async move { a.drain_executor(r).await })
                .await?;
            match deadline {
                Some(d) => println!(
                    "executor {id} is draining; what still runs after {} is handed back",
                    baton_model::value::format_duration(d.as_nanos() as i64)
                ),
                None => println!("executor {id} is draining"),
            }
            Ok(())
        }
    }
}

pub async fn project(client: &mut Client, command: ProjectCommand) -> Result<(), CliError> {
    match command {
        ProjectCommand::Set {
            project,
            default_pool,
            weight,
            max_running,
            max_executions,
            retention,
        } => {
            let request = SetProjectRequest {
                project: project.clone(),
                set_default_pool: default_pool.is_some(),
                default_pool: default_pool.clone().unwrap_or_default(),
                set_weight: weight.is_some(),
                weight: weight.unwrap_or(0),
                max_running: max_running
                    .iter()
                    .map(|(pool, Cap(max))| PoolCap {
                        pool: pool.clone(),
                        max: max.unwrap_or(0),
                        remove: max.is_none(),
                    })
                    .collect(),
                set_max_executions: max_executions.is_some(),
                max_executions: max_executions.and_then(|c| c.0).unwrap_or(0),
                no_max_executions: max_executions == Some(Cap(None)),
                set_retention: retention.is_some(),
                retention_ms: match retention {
                    Some(RetentionArg(Some(Retention::For { ms }))) => ms,
                    _ => 0,
                },
                retention_forever: retention == Some(RetentionArg(Some(Retention::Forever))),
            };
            client
                .call(request, |mut a, r| async move { a.set_project(r).await })
                .await?;
            if let Some(pool) = default_pool {
                let pool = if pool.is_empty() {
                    "default".into()
                } else {
                    pool
                };
                println!("project {project}: unpinned nodes run in pool {pool}");
            }
            if let Some(weight) = weight {
                println!("project {project}: weight {weight} in every pool's fair share");
            }
            for (pool, Cap(max)) in max_running {
                match max {
                    Some(n) => {
                        println!("project {project}: at most {n} running nodes in pool {pool}")
                    }
                    None => println!("project {project}: no cap on running nodes in pool {pool}"),
                }
            }
            match max_executions.map(|c| c.0) {
                Some(Some(n)) => println!(
                    "project {project}: at most {n} running executions; more launches queue"
                ),
                Some(None) => println!("project {project}: no cap on running executions"),
                None => {}
            }
            match retention {
                Some(RetentionArg(Some(Retention::Forever))) => {
                    println!("project {project}: finished executions are kept forever")
                }
                Some(RetentionArg(Some(retention))) => println!(
                    "project {project}: finished executions expire {retention} after they end"
                ),
                Some(RetentionArg(None)) => println!(
                    "project {project}: finished executions expire after the scheduler's --retention"
                ),
                None => {}
            }
            Ok(())
        }
    }
}
