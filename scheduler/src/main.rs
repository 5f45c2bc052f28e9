//! `baton-scheduler`: one node of Baton's control plane.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use baton_scheduler::{SchedulerConfig, SchedulerNode};
use clap::{CommandFactory, FromArgMatches, Parser};
use tracing::info;

/// One node of Baton's replicated scheduler: holds every task, workflow and
/// execution in a Raft-replicated state machine, and hands ready nodes to
/// executors over gRPC. Admin, Executor and Raft traffic share one port.
#[derive(Parser, Debug)]
#[command(name = "baton-scheduler", version)]
struct Args {
    /// This node's id, unique in the cluster and stable across restarts.
    #[arg(long, default_value_t = 1)]
    node_id: u64,
    /// Address to listen on (Admin, Executor and Raft gRPC).
    #[arg(long, default_value = "127.0.0.1:7070")]
    listen: String,
    /// The address this node records for itself when it forms a
    /// single-node cluster (default: the listen address). In a multi-node
    /// cluster a node's address is the one given in --peers or to
    /// `baton cluster add-learner`.
    #[arg(long)]
    advertise: Option<String>,
    /// Where the Raft log and snapshots live. Keep it across restarts.
    #[arg(long, default_value = "baton-data")]
    data_dir: PathBuf,
    /// The initial members of a new cluster, `1=host:port,2=host:port,...`
    /// (including this node). Omit for a single-node cluster.
    #[arg(long, value_delimiter = ',', conflicts_with = "join")]
    peers: Vec<String>,
    /// Join a running cluster instead of forming one: start with an empty
    /// data directory, then add this node from any member with
    /// `baton cluster add-learner ID HOST:PORT` and `baton cluster promote ID`.
    #[arg(long)]
    join: bool,
    /// Dial peer ID at HOST:PORT instead of the address it advertises
    /// (`ID=HOST:PORT`, repeatable or comma-separated): for proxies and NAT.
    #[arg(long, value_delimiter = ',')]
    route: Vec<String>,
    /// Take a snapshot of the state (and compact the Raft log) every this
    /// many log entries. Lagging and new nodes receive the snapshot.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    snapshot_every: u64,
    /// How often the leader sends heartbeats; also the time limit of one
    /// replication request (openraft 0.9), so keep it above the time a
    /// follower needs to receive and store the largest entry.
    #[arg(long, default_value = "300ms", value_parser = humantime_duration)]
    heartbeat_interval: Duration,
    /// A follower that hears no leader for a random time between this and
    /// twice this starts an election. Keep it several heartbeats long.
    #[arg(long, default_value = "1500ms", value_parser = humantime_duration)]
    election_timeout: Duration,
    /// How long an executor may stay silent before its running tasks are
    /// run again elsewhere (e.g. 10s, 500ms).
    #[arg(long, default_value = "10s", value_parser = humantime_duration)]
    lease: Duration,
    /// How long the leader holds a task's assignment, or a launch whose first
    /// tasks it has started, for the task's result to share its log entry
    /// (one commit instead of two for a short task). Longer tasks are
    /// recorded, and launches acknowledged, this much later. 0 turns it off.
    #[arg(long, default_value = "2ms", value_parser = humantime_duration)]
    linger: Duration,
    /// Where blobs and values above --inline-limit are kept, told to every
    /// executor and client: a directory (`file:///srv/baton/blobs`, shared by
    /// every machine that runs tasks) or `s3://BUCKET/PREFIX` on an
    /// S3-compatible store. Give every replica the same one. Default: a
    /// directory in --data-dir, which serves a cluster on one machine.
    #[arg(long, env = "BATON_BLOB_STORE", value_name = "URL")]
    blob_store: Option<String>,
    /// The S3-compatible endpoint of an s3:// blob store, told to executors
    /// and clients (default: AWS S3 itself). Credentials are not sent: each
    /// process reads its own (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    s3_endpoint: Option<String>,
    #[arg(long, env = "AWS_REGION", value_name = "REGION")]
    s3_region: Option<String>,
    /// Values (task outputs, launch inputs) larger than this travel through
    /// the blob store; only their reference enters the Raft log (e.g. 64KiB, 1MiB).
    #[arg(long, default_value = "64KiB", value_parser = baton_config::parse::byte_size)]
    inline_limit: u64,
    /// How long finished executions (their nodes, events and outputs) stay
    /// in the replicated state before they expire: a duration (7d, 12h) or
    /// `forever`. A project's own (`baton project set P --retention`) comes
    /// first. The leader's counts: give every replica the same.
    #[arg(long, default_value = "7d", value_name = "DURATION", value_parser = retention)]
    retention: baton_scheduler::state::retention::Retention,
    /// Serve Prometheus metrics (`GET /metrics`, the text format) on
    /// HOST:PORT (docs/operations.md, "Metrics"). Off unless given.
    #[arg(long, env = "BATON_METRICS_LISTEN", value_name = "HOST:PORT")]
    metrics_listen: Option<String>,
    #[command(flatten)]
    traces: baton_telemetry::TraceArgs,
    /// A TOML file of settings, one `key = value` per flag, named as the
    /// flag without dashes (`data_dir = "/var/lib/baton"`). Flags and the
    /// environment outrank it; an unknown key is refused with its line.
    #[arg(long, env = "BATON_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the effective configuration (each setting with where it came
    /// from: flag, environment, file or default) as TOML, and exit.
    #[arg(long)]
    print_config: bool,
}

/// `--retention`: a duration or `forever`.
fn retention(text: &str) -> Result<baton_scheduler::state::retention::Retention, String> {
    baton_scheduler::state::retention::parse_retention(text, false)?
        .ok_or_else(|| format!("`{text}` is not a retention: give a duration or `forever`"))
}

/// The --blob-store flag as a url (a plain path made absolute); empty: unset.
fn blob_store_url(given: Option<&str>) -> anyhow::Result<String> {
    let Some(given) = given.map(str::trim).filter(|g| !g.is_empty()) else {
        return Ok(String::new());
    };
    if let Some(rest) = given.strip_prefix("s3://") {
        if rest.split('/').next().unwrap_or("").is_empty() {
            bail!("bad --blob-store `{given}`: an s3 url names a bucket: s3://BUCKET/PREFIX");
        }
        return Ok(given.to_owned());
    }
    if given.contains("://") && !given.starts_with("file://") {
        bail!("bad --blob-store `{given}`: use a directory (file:///DIR or a path) or s3://BUCKET/PREFIX");
    }
    let path = PathBuf::from(given.strip_prefix("file://").unwrap_or(given));
    std::fs::create_dir_all(&path)
        .and_then(|_| path.canonicalize())
        .map(|dir| format!("file://{}", dir.display()))
        .with_context(|| format!("bad --blob-store `{given}`: cannot use the directory"))
}

fn humantime_duration(text: &str) -> Result<Duration, String> {
    baton_model::value::parse_duration(text).map(|n| Duration::from_nanos(n.max(0) as u64))
}

/// Parses `ID=HOST:PORT` entries of the flag `--{flag}`.
fn parse_addresses(flag: &str, entries: &[String]) -> anyhow::Result<BTreeMap<u64, String>> {
    let mut out = BTreeMap::new();
    for entry in entries {
        let Some((id, addr)) = entry.split_once('=') else {
            bail!("bad --{flag} entry `{entry}`: expected ID=HOST:PORT");
        };
        let id: u64 = id
            .trim()
            .parse()
            .with_context(|| format!("bad node id in --{flag} entry `{entry}`"))?;
        if id == 0 {
            bail!("bad --{flag} entry `{entry}`: node ids start at 1");
        }
        if addr.trim().is_empty() {
            bail!("bad --{flag} entry `{entry}`: the address is empty");
        }
        if out.insert(id, addr.trim().to_owned()).is_some() {
            bail!("node id {id} appears twice in --{flag}");
        }
    }
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    // Before any thread allocates: see memory::limit_arenas.
    baton_scheduler::memory::limit_arenas();
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let path = baton_config::config_path(&argv, "BATON_CONFIG");
    let (argv, from_file) = baton_config::command_line(&Args::command(), argv, path);
    let matches = baton_config::get_matches(Args::command(), argv, &from_file);
    let args = Args::from_arg_matches(&matches).map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.print_config {
        print!(
            "{}",
            baton_config::effective(&Args::command(), &matches, &from_file)
        );
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Within the runtime: the gRPC span exporter needs it.
    let traces = args
        .traces
        .traces("baton-scheduler", format!("node-{}", args.node_id))
        .map_err(|e| anyhow::anyhow!(e))?;
    let telemetry =
        runtime.block_on(async { baton_telemetry::init("info,openraft=warn", traces) })?;
    let result = runtime.block_on(run(args));
    // Off the runtime's threads, which still send the last spans.
    telemetry.shutdown();
    result
}

async fn run(args: Args) -> anyhow::Result<()> {
    let peers = parse_addresses("peers", &args.peers)?;
    let routes = parse_addresses("route", &args.route)?;
    if !peers.is_empty() && !peers.contains_key(&args.node_id) {
        bail!("--peers does not include this node's id {}", args.node_id);
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let metrics_listener = match &args.metrics_listen {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on --metrics-listen {address}"))?,
        ),
        None => None,
    };
    let mut config = SchedulerConfig::new(args.data_dir);
    config.node_id = args.node_id;
    config.advertise = args.advertise.unwrap_or_default();
    config.peers = peers;
    config.join = args.join;
    config.snapshot_every = args.snapshot_every;
    if args.election_timeout < args.heartbeat_interval * 3 {
        bail!(
            "--election-timeout ({:?}) must be at least three heartbeat intervals ({:?})",
            args.election_timeout,
            args.heartbeat_interval
        );
    }
    config.heartbeat_interval = args.heartbeat_interval;
    config.election_timeout = args.election_timeout;
    config.routes = routes;
    config.lease = args.lease;
    config.linger = args.linger;
    config.retention = args.retention;
    config.blob_store = baton_proto::BlobStoreSettings {
        url: blob_store_url(args.blob_store.as_deref())?,
        s3_endpoint: args.s3_endpoint.unwrap_or_default(),
        s3_region: args.s3_region.unwrap_or_default(),
        inline_limit: args.inline_limit,
    };
    let node = SchedulerNode::start(config, listener).await?;
    if let Some(listener) = metrics_listener {
        let address = listener.local_addr()?;
        info!(%address, "serving metrics on /metrics");
        tokio::spawn(baton_scheduler::metrics::serve(
            listener,
            node.metrics.clone(),
        ));
    }
    info!(addr = %node.local_addr, "ready");
    baton_scheduler::node::wait_for_shutdown_signal().await;
    info!("shutting down");
    node.shutdown().await;
    Ok(())
}
