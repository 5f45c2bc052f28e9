//! `baton dev` and `baton demo`: a one-node scheduler cluster and one
//! executor pool in this process. Nothing is faked: the scheduler is a real
//! (single-voter) Raft node with durable storage, the executor talks to it
//! over gRPC on loopback, and the CLI drives both through the Admin API.

use std::path::{Path, PathBuf};
use std::time::Duration;

use baton_executor::ExecutorConfig;
use baton_scheduler::{SchedulerConfig, SchedulerNode};

use crate::client::{CliError, Client};
use crate::commands::{self, Output, Progress};

/// The example specs and task scripts, built into the binary so that
/// `baton demo` runs anywhere.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/diamond.yaml",
        include_str!("../../examples/diamond.yaml"),
    ),
    (
        "examples/active_learning.yaml",
        include_str!("../../examples/active_learning.yaml"),
    ),
    (
        "examples/tasks/square.py",
        include_str!("../../examples/tasks/square.py"),
    ),
    (
        "examples/tasks/add.py",
        include_str!("../../examples/tasks/add.py"),
    ),
    (
        "examples/tasks/active_learning.py",
        include_str!("../../examples/tasks/active_learning.py"),
    ),
];

pub struct Embedded {
    pub scheduler: SchedulerNode,
    pub executor: baton_executor::ExecutorHandle,
    pub address: String,
}

pub struct EmbeddedOptions {
    pub listen: String,
    pub data_dir: PathBuf,
    pub workers: u32,
    pub lease: Duration,
    pub pool: String,
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
    let executor = baton_executor::start(ExecutorConfig {
        executor_id: format!("dev-{}", std::process::id()),
        pool: options.pool,
        labels: Default::default(),
        workers: options.workers,
        max_workers: 0,
        schedulers: vec![address.clone()],
        work_dir: options.data_dir.join("executor"),
        heartbeat_interval: Duration::from_millis(500),
        // The scheduler's: a directory inside the data directory.
        blob_store: None,
        s3: Default::default(),
    })
    .await?;
    Ok(Embedded {
        scheduler,
        executor,
        address,
    })
}

impl Embedded {
    pub async fn stop(self) {
        self.executor.shutdown().await;
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

/// `baton demo`: a cluster in a temporary directory runs one round of the
/// active-learning example and prints its outputs.
pub async fn demo(workers: u32, output: Output) -> Result<(), CliError> {
    let dir = tempfile::Builder::new()
        .prefix("baton-demo-")
        .tempdir()
        .map_err(|e| CliError::Refused(format!("cannot create a temporary directory: {e}")))?;
    let specs = write_examples(dir.path())
        .map_err(|e| CliError::Refused(format!("cannot write the examples: {e}")))?;
    // Process tasks name their scripts relative to the working directory.
    std::env::set_current_dir(dir.path())
        .map_err(|e| CliError::Refused(format!("cannot enter {}: {e}", dir.path().display())))?;
    eprintln!(
        "baton demo: a one-node scheduler and a {workers}-worker executor pool in {}",
        dir.path().display()
    );
    let embedded = start(EmbeddedOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        workers,
        lease: Duration::from_secs(10),
        pool: "default".into(),
    })
    .await
    .map_err(|e| CliError::Refused(format!("cannot start the embedded cluster: {e:#}")))?;
    let result = demo_run(&embedded.address, &specs, output).await;
    embedded.stop().await;
    result
}

async fn demo_run(address: &str, specs: &[PathBuf], output: Output) -> Result<(), CliError> {
    let mut client = Client::connect(address, false, Duration::from_secs(15)).await?;
    let request = crate::specs::read_specs(specs)?;
    crate::specs::register(&mut client, request, true).await?;
    eprintln!("registered the examples; running one round of active learning (TRAIN -> INFER -> SELECT -> LABEL)");
    let launched = commands::launch(
        &mut client,
        "active-learning-round",
        &[],
        None,
        false,
        baton_proto::CacheMode::CacheUse,
        &Default::default(),
    )
    .await?;
    eprintln!("launched {}", launched.execution_id);
    let execution = commands::follow(&mut client, &launched.execution_id, Progress::Lines).await?;
    match output {
        Output::Json | Output::Yaml => commands::finish(&execution, output),
        Output::Text => {
            println!(
                "execution {} {}",
                execution.id,
                crate::render::execution_phase(execution.phase).to_lowercase()
            );
            println!("outputs:");
            print!("{}", crate::render::values_text(&execution.outputs, "  "));
            commands::succeeded(&execution)
        }
    }
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
