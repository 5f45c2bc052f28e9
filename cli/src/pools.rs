//! Pools and executors: `baton pools`, `baton executors` (and
//! `baton executor list`), `baton pool scale`, `baton executor drain` and
//! `baton project set`.

use std::time::Duration;

use baton_proto::*;
use serde_json::json;

use crate::client::{CliError, Client};
use crate::commands::{print_structured, Output};

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
        #[arg(long, value_parser = crate::parse_duration)]
        deadline: Option<Duration>,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum ProjectCommand {
    /// Change a project's settings.
    Set {
        project: String,
        /// The pool the project's nodes run in when nothing (node, launch,
        /// launch plan, workflow, task) pins one; `""` for `default`.
        #[arg(long, value_name = "POOL")]
        default_pool: Option<String>,
    },
}

async fn list_pools(client: &mut Client) -> Result<ListPoolsResponse, CliError> {
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

/// `baton pools`.
pub async fn pools(client: &mut Client, output: Output) -> Result<(), CliError> {
    let response = list_pools(client).await?;
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
                        "queue_depth": p.queue_depth,
                        "wait_p50_ms": p.wait_p50_ms,
                        "wait_p99_ms": p.wait_p99_ms,
                        "completed_per_s": p.completed_per_s,
                        "waiting": p.waiting,
                        "executors": p.executors.iter().map(executor_json).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let projects: Vec<serde_json::Value> = response
                .projects
                .iter()
                .map(|p| json!({"name": p.name, "default_pool": p.default_pool}))
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
                    if p.desired.is_empty() {
                        "-"
                    } else {
                        &p.desired
                    },
                    p.completed_per_s,
                );
                for why in &p.waiting {
                    println!("    {why}");
                }
                for e in &p.executors {
                    println!(
                        "    {:<28} {:<12} {:>3}/{:<3} busy  labels {}  v{}",
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
                println!("project {}: default pool {}", p.name, p.default_pool);
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
        } => {
            let Some(default_pool) = default_pool else {
                return Err(CliError::BadInput(format!(
                    "nothing to set for project `{project}`: give --default-pool POOL"
                )));
            };
            let request = SetProjectRequest {
                project: project.clone(),
                set_default_pool: true,
                default_pool: default_pool.clone(),
            };
            client
                .call(request, |mut a, r| async move { a.set_project(r).await })
                .await?;
            let pool = if default_pool.is_empty() {
                "default"
            } else {
                &default_pool
            };
            println!("project {project}: unpinned nodes run in pool {pool}");
            Ok(())
        }
    }
}
