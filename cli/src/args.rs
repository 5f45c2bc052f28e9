//! The command line: every command of `baton` and its flags, as clap reads
//! them (and as `baton completions` and `baton man` describe them).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::commands::{ListKind, Output};
use crate::{bench, blobs, cluster, pools, registry, render};

/// Baton: typed, versioned workflows on a Raft-replicated scheduler and
/// actor-based executor pools.
///
/// Exit codes: 0 success; 1 the execution ran and did not succeed; 2 the
/// request was refused, the input is bad or the scheduler is unreachable.
#[derive(Parser, Debug)]
#[command(name = "baton", version, propagate_version = true)]
pub struct Cli {
    /// The scheduler to talk to: one address or several, comma-separated
    /// (any node answers; the client follows the leader).
    #[arg(
        long,
        global = true,
        env = "BATON_SCHEDULER",
        default_value = "127.0.0.1:7070"
    )]
    pub scheduler: String,
    /// Read from the contacted node's own state instead of the leader's
    /// (faster, and works without a quorum, but may be behind).
    #[arg(long, global = true)]
    pub stale: bool,
    /// How long to keep retrying while no leader answers (e.g. during an election).
    #[arg(long, global = true, default_value = "15s", value_parser = parse_duration)]
    pub wait_leader: Duration,
    /// Output format of read commands.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// A TOML file of defaults for the flags above (`scheduler`, `stale`,
    /// `wait_leader`, `output`); default: ~/.config/baton/config.toml when it
    /// exists. Flags and the environment outrank it.
    #[arg(long, global = true, env = "BATON_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a whole cluster (one scheduler node, one executor pool) in this
    /// process, serving until interrupted, with its state kept in --data-dir.
    Dev {
        #[arg(long, default_value = "127.0.0.1:7070")]
        listen: String,
        #[arg(long, default_value = ".baton/dev")]
        data_dir: PathBuf,
        /// Actor workers in the executor pool (task slots).
        #[arg(long, default_value_t = 4)]
        workers: u32,
        /// The executor pool's name.
        #[arg(long, default_value = "default")]
        pool: String,
        /// How long a silent executor keeps its tasks before they run elsewhere.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        lease: Duration,
        /// Register every *.yaml spec in this directory at start (if it exists).
        #[arg(long, default_value = "examples")]
        examples: PathBuf,
    },
    /// Run the active-learning example on an embedded cluster in a temporary
    /// directory: two flavors (random and margin sampling) side by side,
    /// TRAIN and LABEL on their own pools, each iteration as it ends, then
    /// both learning curves as a table and a chart. Needs python3 with numpy
    /// and scikit-learn (./scripts/setup.sh puts them in .venv, which the
    /// demo finds).
    Demo {
        /// Workers of the `default` pool (INFER, SELECT, EVALUATE).
        #[arg(long, default_value_t = 2)]
        workers: u32,
    },
    /// Register the tasks and workflows in YAML spec files (all or nothing).
    Register {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Launch a workflow or a launch plan (`[project/[domain/]]name[@version]`,
    /// the latest version by default).
    Run {
        /// The workflow or launch plan.
        workflow: String,
        /// An input, NAME=VALUE; the value is read as the input's declared type
        /// (`3`, `1.5`, `true`, `text`, `90s`, JSON for lists, maps and structs).
        /// NAME=@FILE uploads FILE to the blob store: a blob input is the file,
        /// any other input the file's text (`@@x` is the text `@x`).
        #[arg(short = 'i', long = "input")]
        inputs: Vec<String>,
        /// Pin the execution to an executor pool.
        #[arg(long)]
        pool: Option<String>,
        /// Wait for the end, print the outputs, exit 0 only if it succeeded.
        #[arg(long)]
        wait: bool,
        /// The id is a launch plan's (needed only when a workflow has the same name).
        #[arg(long)]
        plan: bool,
        /// Run every task, reading and writing no cached result.
        #[arg(long, conflicts_with = "overwrite_cache")]
        no_cache: bool,
        /// Run every cacheable task and replace its cached result.
        #[arg(long)]
        overwrite_cache: bool,
        #[command(flatten)]
        blobs: blobs::BlobOptions,
    },
    /// The registered versions of a task or workflow, newest first, with
    /// when each was registered and which is the latest.
    Versions {
        /// `[project/[domain/]]name` (a version is ignored).
        id: String,
        #[arg(long, value_enum)]
        kind: Option<registry::Kind>,
    },
    /// Show one registered version (the latest without `@VERSION`) in the
    /// YAML form it registers in, every reference pinned to the version
    /// registration resolved. `-o yaml` prints the spec alone, `-o json`
    /// adds when it was registered and what each node runs.
    Describe {
        /// `[project/[domain/]]name[@version]`.
        id: String,
        /// Needed only when a task and a workflow share the name.
        #[arg(long, value_enum)]
        kind: Option<registry::Kind>,
    },
    /// What differs between two versions of one task or workflow: nodes
    /// added or removed, and every field (tasks run, bindings, types,
    /// policies) by its path, e.g. `~ nodes[select].task: ...@v1 -> ...@v2`.
    Diff {
        /// `ID@V1`.
        old: String,
        /// `ID@V2`.
        new: String,
        #[arg(long, value_enum)]
        kind: Option<registry::Kind>,
    },
    /// Store and fetch blobs: files in the cluster's blob store.
    #[command(subcommand)]
    Blob(BlobCommand),
    /// Launch many executions in one request, all or nothing (one log entry).
    ///
    /// FILE (`-` for stdin) holds one launch per line, as JSON:
    /// `{"workflow": "al-loop@v2", "inputs": {"lr": 0.1, "rounds": 3}, "pool": "gpu"}`.
    /// Inputs are read as their declared types, like `run -i`; `pool` is optional.
    /// A bad launch refuses the whole batch and names its line. Prints one
    /// execution id per line, in the file's order.
    RunBatch { file: PathBuf },
    /// Show an execution, its inputs, outputs and node instances as a tree:
    /// a sub-workflow node's nodes follow it, indented, named by path
    /// (`sub.child`).
    Get {
        execution: String,
        /// Show node instances down to this depth (0: the launched
        /// workflow's own nodes only); all of them by default.
        #[arg(long)]
        depth: Option<u32>,
    },
    /// Several executions side by side (the flavors of one pipeline): plan,
    /// labels and phase; their outputs, a list output one row per index; and
    /// for each loop node, the scalar outputs of the nodes in its body, one
    /// row per iteration. `-o json` has every value.
    Compare {
        #[arg(required = true, value_name = "EXECUTION")]
        executions: Vec<String>,
    },
    /// Follow an execution's events until it ends.
    Watch { execution: String },
    /// List executions (newest first), tasks or workflows.
    List {
        #[arg(value_enum)]
        kind: ListKind,
        /// At most this many executions.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        watch: Watch,
    },
    /// Cancel an execution: running tasks are stopped, the rest marked cancelled.
    Cancel { execution: String },
    /// This client's version and protocol, every scheduler node's (each
    /// asked directly) and every connected executor's.
    Version,
    /// Print a shell completion script: `source <(baton completions bash)`,
    /// or save it where your shell loads completions (bash:
    /// ~/.local/share/bash-completion/completions/baton; zsh: a directory in
    /// $fpath, as _baton; fish: ~/.config/fish/completions/baton.fish).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (baton.1, and baton-COMMAND.1 for each command) into
    /// DIR, e.g. `baton man /usr/local/share/man/man1`.
    Man { dir: PathBuf },
    /// Signal a gate node that waits (`baton get` shows what it waits for):
    /// its signal's fields are the gate's outputs, and the execution
    /// continues. A field of the wrong type, a missing or unknown one, or a
    /// gate that does not wait is refused and changes nothing.
    Signal {
        execution: String,
        /// The gate instance's path (`iterate[3].label.ask.wait`), or its
        /// node id when a single instance of it waits (`wait`).
        node: String,
        /// A signal field, NAME=VALUE, read as the field's declared type
        /// (`true`, `3`, JSON for lists: `labels=[3,1,4]`). NAME=@FILE reads
        /// the field from FILE (a blob field is the file itself).
        #[arg(short = 'i', long = "input", value_name = "NAME=VALUE")]
        inputs: Vec<String>,
        #[command(flatten)]
        blobs: blobs::BlobOptions,
    },
    /// Run an execution that failed or was cancelled again as a new one
    /// (same workflow version, inputs, launch plan and cache mode), reusing
    /// the outputs of every task that succeeded in it, map items and loop
    /// iterations included; only the rest runs. Prints the new execution id.
    Recover {
        execution: String,
        /// Wait for the end, print the outputs, exit 0 only if it succeeded.
        #[arg(long)]
        wait: bool,
    },
    /// Run an execution again as a new one, everything from the start
    /// (same workflow version, inputs, launch plan and cache mode).
    Relaunch {
        execution: String,
        #[arg(long)]
        wait: bool,
    },
    /// Run the benchmark workloads (DESIGN.md §11) on a cluster of real
    /// processes started for the purpose on loopback, with durable storage.
    Bench {
        #[arg(long, value_enum, default_value = "all")]
        workload: bench::Workload,
        /// How the noop task runs: inside the executor (builtin), or as a
        /// process per task (process), reported separately.
        #[arg(long, value_enum, default_value = "builtin")]
        runner: bench::BenchRunner,
        /// Scheduler nodes (Raft voters).
        #[arg(long, default_value_t = 3)]
        nodes: u32,
        /// Runs of each workload; the median is reported.
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// Actor workers (task slots) of the one executor.
        #[arg(long, default_value_t = 64)]
        workers: u32,
        /// Nodes of the large execution of the scale run.
        #[arg(long, default_value_t = 100_000)]
        scale_nodes: usize,
        /// Executions of a 10-node workflow launched at once in the scale run.
        #[arg(long, default_value_t = 1000)]
        concurrent_executions: usize,
        /// Executions per LaunchBatch request in the scale run's second, batched burst
        /// (at most 10,000, the scheduler's limit per batch).
        #[arg(long, default_value_t = 100)]
        launch_batch_size: usize,
        /// Async worker threads of each process the benchmark starts (schedulers and
        /// executor), passed as TOKIO_WORKER_THREADS; 0 keeps tokio's default of one per core.
        /// They all share this machine's cores, and with fewer threads each waits less for one.
        #[arg(long, default_value_t = 0)]
        process_threads: u32,
        /// Iterations of the loop workload's loop (one noop task per iteration).
        #[arg(long, default_value_t = 1000)]
        loop_iterations: u32,
        /// Items of the map workload's map (one noop task per item).
        #[arg(long, default_value_t = 10_000)]
        map_items: usize,
        /// Tasks of the logs workload, each printing 100 KiB.
        #[arg(long, default_value_t = 10_000)]
        log_tasks: usize,
        /// Assignments that may wait on the executor beyond its busy workers
        /// (`baton pool prefetch default N`); 0, the default, is off.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=baton_scheduler::state::pools::MAX_PREFETCH as i64))]
        prefetch: u32,
        /// Flavors of the al workload's noop loop launched at once (each a launch plan).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        al_flavors: u32,
        /// Iterations of each noop flavor's loop.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1_000))]
        al_iterations: u32,
        /// Flavors of the real Python flagship run at once after the noop ones
        /// (0 to 4; they need python3 with numpy and scikit-learn, as `baton demo` does).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(0..=4))]
        al_python: u32,
        /// How long the soak workload launches, in minutes. Its figures
        /// compare the end of the first quarter with the end, so give a
        /// quarter longer than --soak-retention.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=10_080))]
        minutes: u64,
        /// The retention the soak workload gives its executions.
        #[arg(long, default_value = "10s", value_parser = soak_retention)]
        soak_retention: Duration,
    },
    /// Inspect and change the scheduler cluster's membership.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// The executor pools: per pool its executors, workers and busy ones,
    /// queue depth, queue wait (p50, p99) and tasks finished per second over
    /// the last minute, its desired size or autoscaling policy, and why
    /// queued work waits.
    Pools {
        /// List the pools' size changes instead: who (operator or
        /// autoscaler), from what to what, and why.
        #[arg(long)]
        events: bool,
        #[command(flatten)]
        watch: Watch,
    },
    /// The executors: pool, state (ready, draining), workers, busy,
    /// version, labels, and the attempts each runs.
    Executors {
        #[command(flatten)]
        watch: Watch,
    },
    /// Change a pool: `baton pool scale POOL --workers N`,
    /// `baton pool autoscale POOL --min A --max B --target-wait 500ms`,
    /// `baton pool prefetch POOL N`.
    #[command(subcommand)]
    Pool(pools::PoolCommand),
    /// List or drain executors.
    #[command(subcommand)]
    Executor(pools::ExecutorCommand),
    /// Change a project's settings: `baton project set PROJECT --default-pool POOL`.
    #[command(subcommand)]
    Project(pools::ProjectCommand),
    /// Show a node's captured stdout and stderr, read from the executor that
    /// ran it (logs stay on the executor, never in the replicated state).
    Logs {
        execution: String,
        /// The node instance's path, as `baton get` shows it: `train`;
        /// `sub.child` inside a sub-workflow node; `al[3].select` in
        /// iteration 3 of a loop; `score[17]` for item 17 of a map;
        /// `pick.deploy` for a branch's case.
        node: String,
        /// Which attempt (default: the latest).
        #[arg(long, default_value_t = 0)]
        attempt: u32,
        /// Keep printing what a running attempt writes, until it ends.
        #[arg(long, short = 'f')]
        follow: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum BlobCommand {
    /// Download a blob (`file://...` or `s3://...`, as `get -o json` shows
    /// it) to PATH, verified against the hash its uri names.
    Get {
        uri: String,
        path: PathBuf,
        #[command(flatten)]
        blobs: blobs::BlobOptions,
    },
    /// Store FILE in the blob store and print its reference
    /// (`{"uri", "size", "sha256"}`), usable as a blob input.
    Put {
        file: PathBuf,
        #[command(flatten)]
        blobs: blobs::BlobOptions,
    },
    /// Remove from the blob store the blobs nothing in the cluster refers
    /// to any more (no execution, cache entry, task, workflow or launch
    /// plan: e.g. the outputs of expired executions), once older than
    /// --older-than. Run it from cron or a systemd timer.
    Sweep {
        /// Keep unreferred blobs younger than this (e.g. 1d, 12h): a file
        /// uploaded for a launch not yet made, or an output not yet
        /// reported, is not referred to yet.
        #[arg(long, value_name = "DURATION", default_value = "1d", value_parser = parse_duration)]
        older_than: Duration,
        /// Print what would be removed, and remove nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        blobs: blobs::BlobOptions,
    },
}

/// `--watch`: print again every interval until interrupted.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct Watch {
    /// Print again every INTERVAL (2s when not given) until interrupted,
    /// each time under a line with the time; with -o json, one document each time.
    #[arg(
        long,
        value_name = "INTERVAL",
        num_args = 0..=1,
        default_missing_value = "2s",
        value_parser = parse_duration
    )]
    pub watch: Option<Duration>,
}

impl Watch {
    /// Waits for the next print; `false` when not watching.
    pub async fn next(&self, output: Output) -> bool {
        let Some(every) = self.watch else {
            return false;
        };
        tokio::time::sleep(every.max(Duration::from_millis(100))).await;
        if output == Output::Text {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            println!(
                "\n--- {} (every {}; Ctrl-C to stop)",
                render::timestamp(now),
                baton_model::value::format_duration(every.as_nanos() as i64)
            );
        }
        true
    }
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if let Ok(secs) = text.trim().parse::<f64>() {
        if secs < 0.0 {
            return Err(format!(
                "`{text}` is negative: give a duration such as 30s or 1d"
            ));
        }
    }
    let nanos = baton_model::value::parse_duration(text)?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| format!("`{text}` is out of range: give a duration such as 30s or 1d"))
}

/// `--soak-retention`: what `baton project set --retention` takes, but a duration.
fn soak_retention(text: &str) -> Result<Duration, String> {
    use baton_scheduler::state::retention::{parse_retention, Retention};
    match parse_retention(text, false)? {
        Some(Retention::For { ms }) => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "`{text}`: the soak needs a retention that ends, such as 10s"
        )),
    }
}
