//! The `baton-executor` binary: parses flags into an [`ExecutorConfig`],
//! starts the executor and waits for it. SIGTERM or ctrl-c drains it (take
//! nothing new, finish running work, exit 0); a second signal stops it now.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use baton_executor::config::{default_work_dir, default_workers, DEFAULT_POOL, DEFAULT_SCHEDULER};
use baton_executor::ExecutorConfig;
use clap::{CommandFactory, FromArgMatches, Parser};
use tokio::signal::unix::{signal, SignalKind};

/// Runs Baton tasks for a scheduler: dials the scheduler (no open port
/// needed), registers in a pool, and runs the attempts it is assigned in a
/// pool of workers. SIGTERM or ctrl-c drains (running work finishes first);
/// a second signal stops at once. Logs go to stderr; set RUST_LOG (e.g.
/// `RUST_LOG=baton_executor=debug`) to change the level (default: info).
#[derive(Debug, Parser)]
#[command(name = "baton-executor", version)]
struct Args {
    /// Scheduler address to dial, HOST:PORT. Repeat the flag or separate
    /// addresses with commas to name several scheduler nodes: they are tried
    /// in turn, and a follower redirects the executor to the leader.
    #[arg(
        long = "scheduler",
        value_name = "HOST:PORT",
        env = "BATON_SCHEDULER",
        value_delimiter = ',',
        default_value = DEFAULT_SCHEDULER,
        value_parser = parse_address,
    )]
    schedulers: Vec<String>,

    /// The executor pool to join; tasks, workflows and launches pinned to
    /// this pool run here.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_POOL)]
    pool: String,

    /// Labels describing this executor, as KEY=VALUE pairs separated by
    /// commas (e.g. `--labels gpu=a100,zone=eu`).
    #[arg(long, value_name = "KEY=VALUE,...", value_delimiter = ',', value_parser = parse_label)]
    labels: Vec<(String, String)>,

    /// How many attempts run at once (one worker actor each). Default: the
    /// number of CPUs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    workers: Option<u32>,

    /// The most workers `baton pool scale` or the pool's autoscaler may
    /// give this executor (default: 64, or --workers if more).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_workers: Option<u32>,

    /// Where task logs (logs/), the verified copies of blobs tasks read
    /// (blob-cache/) and per-attempt scratch directories (tmp/) go. Default: a `baton-executor-<ID>`
    /// directory under the system temp directory.
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,

    /// This executor's id, unique among the pool's executors. Default:
    /// HOSTNAME-PID.
    #[arg(long, value_name = "ID")]
    id: Option<String>,

    /// How often to send the scheduler a heartbeat (e.g. 1s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    heartbeat_interval: Duration,

    /// Where blob outputs and large values go: a directory (`file:///DIR` or
    /// a path) or `s3://BUCKET/PREFIX`. Default: the blob store the scheduler
    /// advertises (its --blob-store).
    #[arg(long, env = "BATON_BLOB_STORE", value_name = "URL")]
    blob_store: Option<String>,

    #[command(flatten)]
    s3: baton_executor::blob::S3Options,

    /// How long the logs of an execution, a cached blob or a scratch
    /// directory left by a killed executor stay in the work directory once
    /// nothing uses them (e.g. 7d, 12h). What a running attempt may still
    /// use is always kept.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_interval)]
    keep_work: Duration,

    /// The most bytes the work directory's logs, cached blobs and scratch
    /// may take (e.g. 20GiB): above it the least recently used go first,
    /// however young. Default: no limit.
    #[arg(long, value_name = "SIZE", value_parser = baton_config::parse::byte_size)]
    max_work_size: Option<u64>,

    /// Serve Prometheus metrics (`GET /metrics`, the text format) on
    /// HOST:PORT (docs/operations.md, "Metrics"). Off unless given.
    #[arg(long, env = "BATON_METRICS_LISTEN", value_name = "HOST:PORT")]
    metrics_listen: Option<String>,

    #[command(flatten)]
    traces: baton_telemetry::TraceArgs,

    /// A TOML file of settings, one `key = value` per flag, named as the
    /// flag without dashes (`pool = "gpu"`). Flags and the environment
    /// outrank it; an unknown key is refused with its line.
    #[arg(long, env = "BATON_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Print the effective configuration (each setting with where it came
    /// from: flag, environment, file or default) as TOML, and exit.
    #[arg(long)]
    print_config: bool,
}

fn parse_address(text: &str) -> Result<String, String> {
    let address = text.trim();
    baton_executor::config::check_address(address)?;
    Ok(address.to_owned())
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!("bad label `{text}`: expected KEY=VALUE")),
    }
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval =
        humantime::parse_duration(text).map_err(|e| format!("bad duration `{text}`: {e}"))?;
    if interval.is_zero() {
        return Err("the interval must be more than zero".into());
    }
    Ok(interval)
}

impl Args {
    /// The configuration of executor `executor_id` (`--id`, or its default).
    fn into_config(self, executor_id: String) -> ExecutorConfig {
        ExecutorConfig {
            work_dir: self
                .work_dir
                .unwrap_or_else(|| default_work_dir(&executor_id)),
            executor_id,
            pool: self.pool,
            labels: self.labels.into_iter().collect::<BTreeMap<_, _>>(),
            workers: self.workers.unwrap_or_else(default_workers),
            max_workers: self.max_workers.unwrap_or(0),
            schedulers: self.schedulers,
            heartbeat_interval: self.heartbeat_interval,
            blob_store: self.blob_store,
            s3: self.s3,
            cleanup: baton_executor::janitor::CleanupPolicy {
                keep_for: self.keep_work,
                max_bytes: self.max_work_size,
            },
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let path = baton_config::config_path(&argv, "BATON_CONFIG");
    let (argv, from_file) = baton_config::command_line(&Args::command(), argv, path);
    let matches = baton_config::get_matches(Args::command(), argv, &from_file);
    let args = match Args::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    if args.print_config {
        print!(
            "{}",
            baton_config::effective(&Args::command(), &matches, &from_file)
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let executor_id = args
        .id
        .clone()
        .unwrap_or_else(baton_executor::config::default_executor_id);
    let traces = match args.traces.traces("baton-executor", executor_id.clone()) {
        Ok(traces) => traces,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    // Within the runtime: the gRPC span exporter needs it.
    let telemetry = match runtime.block_on(async { baton_telemetry::init("info", traces) }) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve(args, executor_id));
    // Off the runtime's threads, which still send the last spans.
    telemetry.shutdown();
    code
}

async fn serve(args: Args, executor_id: String) -> ExitCode {
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(terminate) => terminate,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM");
            return ExitCode::FAILURE;
        }
    };
    if let Some(address) = &args.metrics_listen {
        match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => {
                let bound = listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                tracing::info!(address = %bound, "serving metrics on /metrics");
                tokio::spawn(baton_executor::metrics::serve(listener));
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen on --metrics-listen {address}");
                return ExitCode::FAILURE;
            }
        }
    }
    let executor = match baton_executor::start(args.into_config(executor_id)).await {
        Ok(executor) => executor,
        Err(error) => {
            tracing::error!(%error, "cannot start the executor");
            return ExitCode::FAILURE;
        }
    };
    let control = executor.control();
    let signals = tokio::spawn(async move {
        let first = next_signal(&mut terminate).await;
        tracing::info!(
            signal = first,
            "draining; send the signal again to stop at once"
        );
        control.drain();
        let second = next_signal(&mut terminate).await;
        tracing::warn!(signal = second, "stopping now; running attempts are killed");
        control.shutdown();
    });
    let outcome = executor.wait().await;
    signals.abort();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the executor failed");
            ExitCode::FAILURE
        }
    }
}

/// Waits for SIGTERM or ctrl-c (SIGINT) and names it.
async fn next_signal(terminate: &mut tokio::signal::unix::Signal) -> &'static str {
    tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}
