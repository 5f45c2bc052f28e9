//! `baton bench`: the benchmark workloads of DESIGN.md §11 on a cluster of
//! real processes that it starts itself (`baton-scheduler` × N with durable
//! storage, one `baton-executor`), all on loopback, driven through the Admin
//! API like any client.
//!
//! - W1 fan-out: 10,000 independent builtin noop tasks in one execution; tasks per second.
//! - W2 chain: 300 noop tasks in a strict sequence, each consuming its predecessor's output; ms per node.
//! - W3 latency: one noop task launched and awaited 200 times serially; p50 and p99 ms.
//! - Loop: a loop of 1,000 iterations of one noop task each, carried on; ms per iteration.
//! - Map: a map of 10,000 noop items over a list input; items per second.
//!
//! `--runner process` runs the same noop as a process task (`sh -c cp`: the
//! outputs file is a copy of the inputs file), so the figures include a
//! fork and exec per task, reported separately from the builtin ones.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use baton_proto::*;
use futures::StreamExt;

mod al;
mod logs;
mod soak;
mod specs;
mod workers;

use specs::{loop_workflows, map_workflow, noop_task, workflow};

use crate::client::{CliError, Client};
use crate::commands::Output;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    W1,
    W2,
    W3,
    /// One 100,000-node execution (memory, time) and 1,000 concurrent executions.
    Scale,
    /// A 1,000-iteration loop of one noop task (ms per iteration).
    Loop,
    /// A map of 10,000 noop items (items per second).
    Map,
    /// 10,000 process tasks that each print 100 KiB, then each scheduler's
    /// heap and data directory (not part of `all`: it writes 1 GB of logs).
    Logs,
    /// One pool resized live to 1, 2, 4, 8 and 16 workers, W1's noop tasks
    /// and 10 ms sleeps at each (tasks per second; not part of `all`).
    Workers,
    /// Many flavors of an active-learning loop at once: 100 launch plans of
    /// a 20-iteration loop of noop steps, then 4 flavors of the real Python
    /// flagship (iterations per second, launch ack and iteration p99; not
    /// part of `all`).
    Al,
    /// Launches without pause for --minutes under a short retention and
    /// samples each scheduler's resident size and snapshot (not part of
    /// `all`).
    Soak,
    All,
}

/// How the benchmark's noop task runs on the executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchRunner {
    /// The builtin noop, inside the executor (the overhead figures).
    Builtin,
    /// A process per task: `sh -c 'cp "$BATON_INPUTS" "$BATON_OUTPUTS"'`.
    Process,
}

pub struct BenchOptions {
    pub workload: Workload,
    pub runner: BenchRunner,
    pub nodes: u32,
    pub runs: u32,
    pub workers: u32,
    pub w1_tasks: usize,
    pub w2_length: usize,
    pub w3_launches: usize,
    pub scale_nodes: usize,
    pub concurrent_executions: usize,
    /// Executions per request of the batched burst.
    pub launch_batch_size: usize,
    /// TOKIO_WORKER_THREADS of the started processes; 0: tokio's default.
    pub process_threads: u32,
    pub loop_iterations: u32,
    pub map_items: usize,
    /// Tasks of the logs workload.
    pub log_tasks: usize,
    /// The default pool's prefetch (`baton pool prefetch`).
    pub prefetch: u32,
    /// Flavors (launch plans) of the al workload's noop loop, run at once.
    pub al_flavors: usize,
    /// Iterations of each.
    pub al_iterations: u32,
    /// Flavors of the real Python flagship run at once after them (0: none).
    pub al_python: usize,
    /// How long the soak workload launches, and the retention it sets.
    pub soak_minutes: u64,
    pub soak_retention: Duration,
}

/// Processes started for the benchmark; killed when dropped.
struct Processes {
    children: Vec<Child>,
}

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn sibling_binary(name: &str) -> Result<PathBuf, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Refused(format!("cannot find this executable: {e}")))?;
    let path = exe.with_file_name(name);
    if !path.exists() {
        return Err(CliError::Refused(format!(
            "{} is missing; build it (cargo build --release --bins) next to baton",
            path.display()
        )));
    }
    Ok(path)
}

fn free_port() -> Result<u16, CliError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| CliError::Refused(format!("no free port on 127.0.0.1: {e}")))
}

fn start_cluster(
    dir: &Path,
    nodes: u32,
    workers: u32,
    process_threads: u32,
) -> Result<(Processes, String), CliError> {
    let scheduler = sibling_binary("baton-scheduler")?;
    let executor = sibling_binary("baton-executor")?;
    let addresses: Vec<String> = (0..nodes)
        .map(|_| free_port().map(|p| format!("127.0.0.1:{p}")))
        .collect::<Result<_, _>>()?;
    let peers: Vec<String> = addresses
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}={a}", i + 1))
        .collect();
    let mut processes = Processes {
        children: Vec::new(),
    };
    // Each process logs (warnings and errors) to a file in the benchmark directory.
    let mut started = 0;
    let mut spawn = |command: &mut Command, what: &str| {
        started += 1;
        let log =
            std::fs::File::create(dir.join(format!("{started}-{what}.log"))).map_err(|e| {
                CliError::Refused(format!(
                    "cannot create a log file in {}: {e}",
                    dir.display()
                ))
            })?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .env(
                "RUST_LOG",
                std::env::var("BATON_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
            );
        if process_threads > 0 {
            command.env("TOKIO_WORKER_THREADS", process_threads.to_string());
        }
        command
            .spawn()
            .map_err(|e| CliError::Refused(format!("cannot start {what}: {e}")))
    };
    for (i, address) in addresses.iter().enumerate() {
        let mut command = Command::new(&scheduler);
        command
            .arg("--node-id")
            .arg((i + 1).to_string())
            .arg("--listen")
            .arg(address)
            .arg("--data-dir")
            .arg(dir.join(format!("node-{}", i + 1)));
        if nodes > 1 {
            command.arg("--peers").arg(peers.join(","));
        }
        processes
            .children
            .push(spawn(&mut command, "baton-scheduler")?);
    }
    let all = addresses.join(",");
    let mut command = Command::new(&executor);
    command
        .arg("--scheduler")
        .arg(&all)
        .arg("--id")
        .arg("bench-executor")
        .arg("--workers")
        .arg(workers.to_string())
        .arg("--work-dir")
        .arg(dir.join("executor"));
    processes
        .children
        .push(spawn(&mut command, "baton-executor")?);
    Ok((processes, all))
}

/// How long one launch took to be acknowledged and to finish.
struct Timing {
    /// From the launch request to its acknowledgement (the launch is committed).
    ack: Duration,
    /// From the launch request to the execution's final event.
    total: Duration,
}

/// Launches `workflow` and waits for its end.
async fn launch_and_wait(
    client: &mut Client,
    workflow: &str,
    request_id: String,
) -> Result<Timing, CliError> {
    launch_with_inputs_and_wait(client, workflow, HashMap::new(), request_id).await
}

/// Launches `workflow` with `inputs` and waits for its end.
async fn launch_with_inputs_and_wait(
    client: &mut Client,
    workflow: &str,
    inputs: HashMap<String, Value>,
    request_id: String,
) -> Result<Timing, CliError> {
    let start = Instant::now();
    let request = LaunchRequest {
        workflow: Some(Identifier {
            name: workflow.into(),
            ..Default::default()
        }),
        inputs,
        request_id,
        ..Default::default()
    };
    // Launch and Watch in one call, as a client awaiting its result would.
    let mut stream = client
        .call(
            request,
            |mut a, r| async move { a.launch_and_watch(r).await },
        )
        .await?;
    let mut ack = None;
    let mut phase = 0;
    let mut execution_id = String::new();
    while let Some(event) = stream.next().await {
        let event = event.map_err(|s| client.error(s))?;
        // The first event is the launch's own: the launch is acknowledged.
        ack.get_or_insert_with(|| start.elapsed());
        if event.node_id.is_empty() {
            phase = event.execution_phase;
        }
        execution_id = event.execution_id;
    }
    let total = start.elapsed();
    if phase != ExecutionPhase::ExecutionSucceeded as i32 {
        return Err(CliError::ExecutionFailed(format!(
            "benchmark execution {execution_id} did not succeed"
        )));
    }
    Ok(Timing {
        ack: ack.unwrap_or(total),
        total,
    })
}

/// A figure in milliseconds for the report, to the microsecond.
fn milliseconds(ms: f64) -> serde_json::Value {
    ((ms * 1000.0).round() / 1000.0).into()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub async fn run(options: BenchOptions, output: Output) -> Result<(), CliError> {
    let dir = tempfile::Builder::new()
        .prefix("baton-bench-")
        .tempdir()
        .map_err(|e| CliError::Refused(format!("cannot create a temporary directory: {e}")))?;
    let (mut processes, addresses) = start_cluster(
        dir.path(),
        options.nodes,
        options.workers,
        options.process_threads,
    )?;
    let outcome = measure(&mut processes, dir.path(), &addresses, &options, output).await;
    if outcome.is_err() {
        // Keep the processes' logs for a failed run.
        let kept = dir.keep();
        eprintln!("the cluster's logs are in {}", kept.display());
    }
    outcome
}

async fn measure(
    processes: &mut Processes,
    dir: &Path,
    addresses: &str,
    options: &BenchOptions,
    output: Output,
) -> Result<(), CliError> {
    let mut client = connect_when_ready(addresses).await?;
    let register = RegisterRequest {
        tasks: vec![noop_task(options.runner)],
        workflows: [
            workflow("bench-w1", options.w1_tasks, false),
            workflow("bench-w2", options.w2_length, true),
            workflow("bench-w3", 1, false),
            map_workflow(),
        ]
        .into_iter()
        .chain(loop_workflows(options.loop_iterations))
        .collect(),
        launch_plans: Vec::new(),
    };
    client
        .call(register, |mut a, r| async move { a.register(r).await })
        .await?;
    if options.prefetch > 0 {
        let request = PrefetchPoolRequest {
            pool: "default".into(),
            assignments: options.prefetch,
        };
        client
            .call(request, |mut a, r| async move { a.prefetch_pool(r).await })
            .await?;
    }
    // The executor connects on its own; one warm-up run makes sure it has.
    launch_and_wait(&mut client, "bench-w3", "warm-up".into()).await?;

    let wants = |w: Workload| options.workload == w || options.workload == Workload::All;
    let mut result = serde_json::Map::new();
    let mut counter = 0u64;
    let mut next_id = || {
        counter += 1;
        format!("bench-{}-{counter}", std::process::id())
    };
    if wants(Workload::W1) {
        let mut rates = Vec::new();
        for _ in 0..options.runs {
            let elapsed = launch_and_wait(&mut client, "bench-w1", next_id())
                .await?
                .total;
            rates.push(options.w1_tasks as f64 / elapsed.as_secs_f64());
        }
        result.insert("w1_tasks_per_s".into(), median(rates).round().into());
    }
    if wants(Workload::W2) {
        let mut per_node = Vec::new();
        for _ in 0..options.runs {
            let elapsed = launch_and_wait(&mut client, "bench-w2", next_id())
                .await?
                .total;
            per_node.push(elapsed.as_secs_f64() * 1000.0 / options.w2_length as f64);
        }
        result.insert("w2_ms_per_node".into(), milliseconds(median(per_node)));
    }
    if wants(Workload::W3) {
        let (mut p50s, mut p99s, mut ack_p50s) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..options.runs {
            let mut samples = Vec::with_capacity(options.w3_launches);
            let mut acks = Vec::with_capacity(options.w3_launches);
            for _ in 0..options.w3_launches {
                let timing = launch_and_wait(&mut client, "bench-w3", next_id()).await?;
                samples.push(timing.total.as_secs_f64() * 1000.0);
                acks.push(timing.ack.as_secs_f64() * 1000.0);
            }
            samples.sort_by(|a, b| a.total_cmp(b));
            acks.sort_by(|a, b| a.total_cmp(b));
            p50s.push(percentile(&samples, 50.0));
            p99s.push(percentile(&samples, 99.0));
            ack_p50s.push(percentile(&acks, 50.0));
        }
        // Where W3's time goes: the launch's own commit, then the rest.
        result.insert(
            "w3_launch_ack_p50_ms".into(),
            milliseconds(median(ack_p50s)),
        );
        result.insert("w3_p50_ms".into(), milliseconds(median(p50s)));
        result.insert("w3_p99_ms".into(), milliseconds(median(p99s)));
    }
    // Scale first: its peak RSS then covers the same history as before the
    // loop and map workloads existed.
    if wants(Workload::Scale) {
        scale(&mut client, processes, options, &mut result).await?;
    }
    if wants(Workload::Loop) {
        let mut per_iteration = Vec::new();
        for _ in 0..options.runs {
            let elapsed = launch_and_wait(&mut client, "bench-loop", next_id())
                .await?
                .total;
            per_iteration.push(elapsed.as_secs_f64() * 1000.0 / options.loop_iterations as f64);
        }
        result.insert("loop_iterations".into(), options.loop_iterations.into());
        result.insert(
            "loop_ms_per_iteration".into(),
            milliseconds(median(per_iteration)),
        );
    }
    if options.workload == Workload::Logs {
        logs::logs(&mut client, dir, addresses, options, &mut result).await?;
    }
    if options.workload == Workload::Workers {
        workers::workers(&mut client, options, &mut next_id, &mut result).await?;
    }
    if options.workload == Workload::Al {
        al::al(
            &mut client,
            processes,
            dir,
            addresses,
            options,
            &mut next_id,
            &mut result,
        )
        .await?;
    }
    if options.workload == Workload::Soak {
        soak::soak(&mut client, processes, addresses, options, &mut result).await?;
    }
    if wants(Workload::Map) {
        let list = Value {
            kind: Some(value::Kind::List(ValueList {
                items: (0..options.map_items as i64)
                    .map(|i| Value {
                        kind: Some(value::Kind::IntValue(i)),
                    })
                    .collect(),
            })),
        };
        let mut rates = Vec::new();
        for _ in 0..options.runs {
            let inputs = HashMap::from([("xs".to_string(), list.clone())]);
            let elapsed = launch_with_inputs_and_wait(&mut client, "bench-map", inputs, next_id())
                .await?
                .total;
            rates.push(options.map_items as f64 / elapsed.as_secs_f64());
        }
        result.insert("map_items".into(), options.map_items.into());
        result.insert("map_items_per_s".into(), median(rates).round().into());
    }
    result.insert("nodes".into(), options.nodes.into());
    result.insert("runs".into(), options.runs.into());
    result.insert("executor_workers".into(), options.workers.into());
    result.insert("prefetch".into(), options.prefetch.into());
    result.insert("process_threads".into(), options.process_threads.into());
    if let Some(runner) = clap::ValueEnum::to_possible_value(&options.runner) {
        result.insert("runner".into(), runner.get_name().into());
    }
    result.insert(
        "cpus".into(),
        std::thread::available_parallelism()
            .map_or(0, |n| n.get())
            .into(),
    );
    let commit = Command::new("git")
        // "-dirty" marks figures measured on uncommitted changes.
        .args(["describe", "--always", "--dirty", "--abbrev=7"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    result.insert("commit".into(), commit.into());
    match output {
        Output::Json => println!("{}", serde_json::Value::Object(result)),
        Output::Yaml => {
            crate::commands::print_structured(output, &serde_json::Value::Object(result))
        }
        Output::Text => {
            println!(
                "{} scheduler node(s), durable storage, 1 executor with {} workers (prefetch {}), {:?} noop; medians of {} runs",
                options.nodes, options.workers, options.prefetch, options.runner, options.runs
            );
            for (key, value) in &result {
                println!("  {key:<28} {value}");
            }
        }
    }
    Ok(())
}

async fn connect_when_ready(addresses: &str) -> Result<Client, CliError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut client) = Client::connect(addresses, false, Duration::from_secs(30)).await {
            let status = client
                .call(ClusterStatusRequest {}, |mut a, r| async move {
                    a.cluster_status(r).await
                })
                .await;
            if status.is_ok_and(|s| s.leader_id != 0) {
                return Ok(client);
            }
        }
        if Instant::now() > deadline {
            return Err(CliError::Refused(
                "the benchmark cluster did not elect a leader within 30s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each scheduler node's own status (a stale read of the node itself), in
/// the order of `addresses`.
async fn node_statuses(addresses: &str) -> Result<Vec<ClusterStatusResponse>, CliError> {
    let mut statuses = Vec::new();
    for address in addresses.split(',') {
        let node = Client::connect(address, true, Duration::from_secs(5)).await?;
        let status = node
            .admin()
            .cluster_status(ClusterStatusRequest {})
            .await
            .map_err(|s| node.error(s))?;
        statuses.push(status.into_inner());
    }
    Ok(statuses)
}

/// A value from `/proc/PID/status` (`VmRSS`, `VmHWM`), in bytes.
fn memory_of(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with(field))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// Records `{name}_p50_ms` and `{name}_p99_ms` of latencies in ms, sorted.
fn insert_p50_p99(
    result: &mut serde_json::Map<String, serde_json::Value>,
    name: &str,
    sorted: &[f64],
) {
    for p in [50, 99] {
        result.insert(
            format!("{name}_p{p}_ms"),
            milliseconds(percentile(sorted, f64::from(p))),
        );
    }
}

/// Sends `count` stale reads of an unknown execution at once, each from its
/// own task like the concurrent launches; returns their latencies in ms,
/// sorted.
async fn concurrent_reads(client: &Client, count: usize) -> Result<Vec<f64>, CliError> {
    let reads = (0..count).map(|i| {
        let mut admin = client.admin();
        let mut request = tonic::Request::new(GetExecutionRequest {
            execution_id: format!("bench-no-such-execution-{i}"),
        });
        request.metadata_mut().insert(
            "baton-read",
            tonic::metadata::MetadataValue::from_static("stale"),
        );
        tokio::spawn(async move {
            let begin = Instant::now();
            let response = admin.get_execution(request).await;
            (begin.elapsed(), response)
        })
    });
    let mut latencies = Vec::with_capacity(count);
    for outcome in futures::future::join_all(reads).await {
        let (took, response) =
            outcome.map_err(|e| CliError::Refused(format!("a read task failed: {e}")))?;
        match response {
            Err(status) if status.code() == tonic::Code::NotFound => {}
            Err(status) => return Err(client.error(status)),
            Ok(_) => {
                return Err(CliError::Refused(
                    "a read of an execution that does not exist found one".into(),
                ))
            }
        }
        latencies.push(took.as_secs_f64() * 1000.0);
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    Ok(latencies)
}

/// The scale runs: memory and time of one large execution (with the
/// scheduler's memory per finished node at a tenth of that size and at full
/// size), and many concurrent small executions with their launch
/// acknowledgement latency.
async fn scale(
    client: &mut Client,
    processes: &Processes,
    options: &BenchOptions,
    result: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), CliError> {
    let large = options.scale_nodes;
    let small = (large / 10).max(1);
    let register = RegisterRequest {
        tasks: vec![noop_task(options.runner)],
        workflows: vec![
            workflow("bench-scale-small", small, false),
            workflow("bench-scale-large", large, false),
            workflow("bench-ten", 10, false),
        ],
        launch_plans: Vec::new(),
    };
    client
        .call(register, |mut a, r| async move { a.register(r).await })
        .await?;
    let status = client
        .call(ClusterStatusRequest {}, |mut a, r| async move {
            a.cluster_status(r).await
        })
        .await?;
    // The leader's own view of its heap (each node answers status for itself).
    let leader = Client::connect(&status.leader_address, true, Duration::from_secs(5)).await?;
    let heap = || {
        let mut admin = leader.admin();
        let leader = &leader;
        async move {
            admin
                .cluster_status(ClusterStatusRequest {})
                .await
                .map(|s| s.into_inner().heap_bytes)
                .map_err(|s| leader.error(s))
        }
    };

    // A first small run fills the fixed-size buffers (the event broadcast
    // ring, caches), which would otherwise count toward the small figure.
    launch_and_wait(client, "bench-scale-small", "scale-warm-up".into()).await?;
    let before = heap().await?;
    launch_and_wait(client, "bench-scale-small", "scale-small".into()).await?;
    let after_small = heap().await?;
    let elapsed = launch_and_wait(client, "bench-scale-large", "scale-large".into())
        .await?
        .total;
    let after_large = heap().await?;
    let peak: u64 = processes
        .children
        .iter()
        .map(|c| memory_of(c.id(), "VmHWM"))
        .sum();
    result.insert("scale_nodes".into(), large.into());
    result.insert("scale_seconds".into(), milliseconds(elapsed.as_secs_f64()));
    result.insert("peak_rss_bytes".into(), peak.into());
    result.insert(
        "scheduler_heap_bytes_per_node_small".into(),
        (after_small.saturating_sub(before) / small as u64).into(),
    );
    result.insert(
        "scheduler_heap_bytes_per_node_large".into(),
        (after_large.saturating_sub(after_small) / large as u64).into(),
    );

    // The floor under the launch acknowledgements: as many requests at once,
    // of the cheapest kind the Admin API serves (a stale read of an unknown
    // execution: no Raft, no write), over the same connection.
    let floor = concurrent_reads(client, options.concurrent_executions).await?;
    insert_p50_p99(result, "concurrent_read", &floor);

    // Many executions at once: launch them all concurrently, then wait for each.
    let start = Instant::now();
    // Each launch is its own task, as independent clients' would be. (Spread
    // over 8 connections instead of one, the acknowledgements took as long.)
    let launches = (0..options.concurrent_executions).map(|i| {
        let mut admin = client.admin();
        tokio::spawn(async move {
            let begin = Instant::now();
            let request = LaunchRequest {
                workflow: Some(Identifier {
                    name: "bench-ten".into(),
                    ..Default::default()
                }),
                request_id: format!("concurrent-{}-{i}", std::process::id()),
                ..Default::default()
            };
            let response = admin.launch(request).await;
            (begin.elapsed(), response)
        })
    });
    let outcomes = futures::future::join_all(launches).await;
    let mut acks = Vec::with_capacity(outcomes.len());
    let mut ids = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        let (took, response) =
            outcome.map_err(|e| CliError::Refused(format!("a launch task failed: {e}")))?;
        let response = response.map_err(|s| client.error(s))?;
        acks.push(took.as_secs_f64() * 1000.0);
        ids.push(response.into_inner().execution_id);
    }
    wait_all(client, &ids).await?;
    acks.sort_by(|a, b| a.total_cmp(b));
    result.insert("concurrent_executions".into(), ids.len().into());
    result.insert(
        "concurrent_seconds".into(),
        milliseconds(start.elapsed().as_secs_f64()),
    );
    insert_p50_p99(result, "launch_ack", &acks);

    // The same number again, launched as batches (one request and one log
    // entry each) from concurrent clients, as tenants launching sweeps
    // would: each execution's acknowledgement is its batch's.
    let batch_size = options.launch_batch_size;
    let batches = options.concurrent_executions.div_ceil(batch_size);
    let launches = (0..batches).map(|b| {
        let mut admin = client.admin();
        let first = b * batch_size;
        let last = (first + batch_size).min(options.concurrent_executions);
        let request = LaunchBatchRequest {
            launches: (first..last)
                .map(|i| LaunchRequest {
                    workflow: Some(Identifier {
                        name: "bench-ten".into(),
                        ..Default::default()
                    }),
                    request_id: format!("batched-{}-{i}", std::process::id()),
                    ..Default::default()
                })
                .collect(),
        };
        tokio::spawn(async move {
            let begin = Instant::now();
            let response = admin.launch_batch(request).await;
            (begin.elapsed(), response)
        })
    });
    let mut acks = Vec::with_capacity(options.concurrent_executions);
    let mut ids = Vec::with_capacity(options.concurrent_executions);
    for outcome in futures::future::join_all(launches).await {
        let (took, response) =
            outcome.map_err(|e| CliError::Refused(format!("a launch task failed: {e}")))?;
        let launched = response.map_err(|s| client.error(s))?.into_inner().launched;
        acks.extend(std::iter::repeat_n(
            took.as_secs_f64() * 1000.0,
            launched.len(),
        ));
        ids.extend(launched.into_iter().map(|l| l.execution_id));
    }
    wait_all(client, &ids).await?;
    acks.sort_by(|a, b| a.total_cmp(b));
    result.insert("launch_batch_size".into(), batch_size.into());
    insert_p50_p99(result, "launch_batch_ack", &acks);
    Ok(())
}

/// Waits for each execution to end; one that failed is an error.
async fn wait_all(client: &mut Client, ids: &[String]) -> Result<(), CliError> {
    for id in ids {
        let watch = WatchRequest {
            execution_id: id.clone(),
        };
        let mut stream = client
            .call(watch, |mut a, r| async move { a.watch(r).await })
            .await?;
        while let Some(event) = stream.next().await {
            let event = event.map_err(|s| client.error(s))?;
            if event.node_id.is_empty()
                && event.execution_phase == ExecutionPhase::ExecutionFailed as i32
            {
                return Err(CliError::ExecutionFailed(format!(
                    "benchmark execution {id} failed"
                )));
            }
        }
    }
    Ok(())
}
