//! `baton dev` and `baton demo`: a one-node scheduler cluster and its
//! executor pools in this process. Nothing is faked: the scheduler is a real
//! (single-voter) Raft node with durable storage, the executor talks to it
//! over gRPC on loopback, and the CLI drives both through the Admin API.

use std::path::{Path, PathBuf};
use std::time::Duration;

use baton_executor::ExecutorConfig;
use baton_scheduler::{SchedulerConfig, SchedulerNode};

use crate::client::{CliError, Client};

/// The example specs and task scripts, built into the binary so that
/// `baton demo` runs anywhere.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/active-learning/al.yaml",
        include_str!("../../examples/active-learning/al.yaml"),
    ),
    (
        "examples/active-learning/flavors.yaml",
        include_str!("../../examples/active-learning/flavors.yaml"),
    ),
    (
        "examples/active-learning/al.py",
        include_str!("../../examples/active-learning/al.py"),
    ),
];

pub struct Embedded {
    pub scheduler: SchedulerNode,
    /// The `pool` executor first, then one per `more_pools`.
    pub executors: Vec<baton_executor::ExecutorHandle>,
    pub address: String,
}

pub struct EmbeddedOptions {
    pub listen: String,
    pub data_dir: PathBuf,
    pub workers: u32,
    pub lease: Duration,
    pub pool: String,
    /// More executors, one per (pool, workers).
    pub more_pools: Vec<(String, u32)>,
}

pub async fn start(options: EmbeddedOptions) -> anyhow::Result<Embedded> {
    let listener = tokio::net::TcpListener::bind(&options.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", options.listen))?;
    let mut config = SchedulerConfig::new(options.data_dir.join("scheduler"));
    config.lease = options.lease;
    // One voter: elections are immediate, so keep them short.
    config.election_timeout = Duration::from_millis(300);
    config.heartbeat_interval = Duration::from_millis(100);
    let scheduler = SchedulerNode::start(config, listener).await?;
    let address = scheduler.local_addr.to_string();
    scheduler
        .cluster
        .wait_for_leader(Duration::from_secs(10))
        .await?;
    let mut executors = Vec::new();
    let pools = std::iter::once((options.pool.clone(), options.workers)).chain(options.more_pools);
    for (i, (pool, workers)) in pools.enumerate() {
        let suffix = if i == 0 {
            String::new()
        } else {
            format!("-{pool}")
        };
        let executor = baton_executor::start(ExecutorConfig {
            executor_id: format!("dev-{}{suffix}", std::process::id()),
            pool,
            labels: Default::default(),
            workers,
            max_workers: 0,
            schedulers: vec![address.clone()],
            work_dir: options.data_dir.join(format!("executor{suffix}")),
            heartbeat_interval: Duration::from_millis(500),
            // The scheduler's: a directory inside the data directory.
            blob_store: None,
            s3: Default::default(),
            cleanup: Default::default(),
        })
        .await?;
        executors.push(executor);
    }
    Ok(Embedded {
        scheduler,
        executors,
        address,
    })
}

impl Embedded {
    pub async fn stop(self) {
        for executor in self.executors {
            executor.shutdown().await;
        }
        self.scheduler.shutdown().await;
    }
}

/// Writes the built-in examples under `dir` (which becomes their working directory).
pub fn write_examples(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut specs = Vec::new();
    for (path, text) in EXAMPLES {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, text)?;
        if path.ends_with(".yaml") {
            specs.push(target);
        }
    }
    Ok(specs)
}

/// `baton dev`: serves until interrupted, with its state in `data_dir`.
pub async fn dev(options: EmbeddedOptions, examples: Option<PathBuf>) -> Result<(), CliError> {
    let data_dir = options.data_dir.clone();
    let embedded = start(options)
        .await
        .map_err(|e| CliError::Refused(format!("cannot start the embedded cluster: {e:#}")))?;
    eprintln!(
        "baton dev: scheduler at {} with its state in {}",
        embedded.address,
        data_dir.display()
    );
    if let Some(dir) = examples {
        let specs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| {
                let mut files: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                    .collect();
                files.sort();
                files
            })
            .unwrap_or_default();
        if !specs.is_empty() {
            let mut client =
                Client::connect(&embedded.address, false, Duration::from_secs(15)).await?;
            match crate::specs::read_specs(&specs) {
                Ok(request) => crate::specs::register(&mut client, request, false).await?,
                Err(e) => eprintln!("not registering the examples in {}: {e}", dir.display()),
            }
        }
    }
    eprintln!("try: baton run diamond -i n=3 --wait    (Ctrl-C stops)");
    baton_scheduler::node::wait_for_shutdown_signal().await;
    eprintln!("baton dev: stopping");
    embedded.stop().await;
    Ok(())
}
