//! `baton-scheduler`: one node of Baton's control plane.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use baton_scheduler::{SchedulerConfig, SchedulerNode};
use clap::Parser;
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
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,openraft=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let peers = parse_addresses("peers", &args.peers)?;
    let routes = parse_addresses("route", &args.route)?;
    if !peers.is_empty() && !peers.contains_key(&args.node_id) {
        bail!("--peers does not include this node's id {}", args.node_id);
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
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
    let node = SchedulerNode::start(config, listener).await?;
    info!(addr = %node.local_addr, "ready");
    baton_scheduler::node::wait_for_shutdown_signal().await;
    info!("shutting down");
    node.shutdown().await;
    Ok(())
}
