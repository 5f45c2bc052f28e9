//! A scheduler node: the Raft node, the proposer, the dispatcher (active
//! while leader) and the Admin, Executor, Raft, health and reflection
//! services on one port.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use baton_cluster::{ClusterNode, EffectSink, NodeConfig};
use baton_proto::admin_server::AdminServer;
use baton_proto::executor_server::ExecutorServer;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;
use tracing::{info, warn};

use crate::admin::AdminService;
use crate::dispatch::{self, DispatcherConfig, DispatcherHandle, Input};
use crate::event_feed::EventNotice;
use crate::executor_links::ExecutorLinks;
use crate::executor_service::ExecutorService;
use crate::proposer::Proposer;
use crate::state::{Effect, SchedulerState};

#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    pub node_id: u64,
    /// The address other nodes, executors and clients use for this node;
    /// empty: the address the listener is bound to.
    pub advertise: String,
    pub data_dir: PathBuf,
    /// Initial members (id -> host:port) of a new cluster; empty for a
    /// single-node cluster. Only the lowest id initializes it, once.
    pub peers: BTreeMap<u64, String>,
    /// Take a snapshot (and compact the log) every this many log entries;
    /// this many entries before a snapshot are kept for lagging followers.
    pub snapshot_every: u64,
    /// Never initialize a cluster: wait to be added to a running one
    /// (`baton cluster add-learner`).
    pub join: bool,
    /// Addresses this node dials some peers at instead of their advertised
    /// ones (through a proxy or NAT).
    pub routes: BTreeMap<u64, String>,
    /// How long an executor may be silent before its attempts run elsewhere.
    pub lease: Duration,
    /// How long the dispatcher holds an assignment (and a launch whose first
    /// nodes it placed) for a result to share its log entry.
    pub linger: Duration,
    /// Raft election timeout (min; max is twice it).
    pub election_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// The blob store advertised to executors and clients; an empty url:
    /// `DATA_DIR/blobs`. Give every replica the same one.
    pub blob_store: baton_proto::BlobStoreSettings,
    /// How long finished executions stay when their project sets nothing;
    /// the leader's counts, so give every replica the same.
    pub retention: crate::state::retention::Retention,
}

/// How long finished executions stay by default: a week.
pub const DEFAULT_RETENTION: crate::state::retention::Retention =
    crate::state::retention::Retention::For {
        ms: 7 * 24 * 3_600 * 1_000,
    };

/// Values above this many bytes travel through the blob store by default.
pub const DEFAULT_INLINE_LIMIT: u64 = 64 * 1024;

impl SchedulerConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        SchedulerConfig {
            node_id: 1,
            advertise: String::new(),
            data_dir: data_dir.into(),
            peers: BTreeMap::new(),
            routes: BTreeMap::new(),
            join: false,
            snapshot_every: 10_000,
            lease: Duration::from_secs(10),
            linger: dispatch::DEFAULT_LINGER,
            blob_store: baton_proto::BlobStoreSettings {
                inline_limit: DEFAULT_INLINE_LIMIT,
                ..Default::default()
            },
            election_timeout: Duration::from_millis(1500),
            // openraft 0.9 also uses the heartbeat interval as the timeout of
            // every AppendEntries: too short, and a large entry (a workflow of
            // 100,000 nodes) or a busy follower never gets through.
            heartbeat_interval: Duration::from_millis(300),
            retention: DEFAULT_RETENTION,
        }
    }
}

pub struct SchedulerNode {
    pub cluster: Arc<ClusterNode<SchedulerState>>,
    pub local_addr: SocketAddr,
    /// What `--metrics-listen` serves.
    pub metrics: Arc<crate::metrics::SchedulerMetrics>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl SchedulerNode {
    /// Starts a node serving on `listener`.
    pub async fn start(
        config: SchedulerConfig,
        listener: TcpListener,
    ) -> anyhow::Result<SchedulerNode> {
        let local_addr = listener.local_addr()?;
        let advertise = if config.advertise.is_empty() {
            local_addr.to_string()
        } else {
            config.advertise.clone()
        };
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create data directory {}: {e}",
                config.data_dir.display()
            )
        })?;

        let mut blob_store = config.blob_store.clone();
        if blob_store.url.is_empty() {
            let data_dir = config.data_dir.canonicalize()?;
            blob_store.url = format!("file://{}", data_dir.join("blobs").display());
        }
        if blob_store.inline_limit == 0 {
            blob_store.inline_limit = DEFAULT_INLINE_LIMIT;
        }
        let mut node_config =
            NodeConfig::new(config.node_id, advertise.clone(), config.data_dir.clone());
        node_config.election_timeout_min = config.election_timeout;
        node_config.election_timeout_max = config.election_timeout * 2;
        node_config.heartbeat_interval = config.heartbeat_interval;
        node_config.routes = config.routes.clone();
        node_config.snapshot_every_logs = config.snapshot_every;
        node_config.max_in_snapshot_log_to_keep = (config.snapshot_every / 10).max(1);
        let (dispatcher, dispatcher_inbox) = dispatch::channel();
        let (events, _) = broadcast::channel(16 * 1024);
        let effects = EffectRouter {
            dispatcher: dispatcher.clone(),
            events: events.clone(),
        };
        let cluster = Arc::new(ClusterNode::<SchedulerState>::open(node_config, effects).await?);

        let instruments = crate::metrics::Instruments::default();
        let proposer = Proposer::start(cluster.clone(), instruments.clone());
        let dispatch_view = dispatch::SharedView::default();
        let metrics = Arc::new(crate::metrics::SchedulerMetrics::new(
            cluster.clone(),
            dispatch_view.clone(),
            instruments.clone(),
        ));
        dispatch::start(
            DispatcherConfig {
                lease: config.lease,
                linger: config.linger,
                view: dispatch_view.clone(),
                instruments,
                retention: config.retention,
            },
            cluster.state(),
            proposer.clone(),
            &dispatcher,
            dispatcher_inbox,
        );
        tokio::spawn(follow_leadership(cluster.clone(), dispatcher.clone()));

        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        tokio::spawn(report_health(cluster.clone(), health_reporter));
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(baton_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;

        let links = Arc::new(ExecutorLinks::default());
        let admin = AdminService {
            links: links.clone(),
            cluster: cluster.clone(),
            proposer: proposer.clone(),
            events,
            leader_channels: Default::default(),
            routes: config.routes.clone(),
            dispatcher: dispatcher.clone(),
            launch_numbers: Default::default(),
            blob_store: blob_store.clone(),
            dispatch_view,
        };
        let executor = ExecutorService {
            blob_store,
            links,
            cluster: cluster.clone(),
            dispatcher,
            lease: config.lease,
            connections: Default::default(),
        };
        let (shutdown, mut shutdown_rx) = watch::channel(false);
        let router = tonic::transport::Server::builder()
            .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .add_service(health_service)
            .add_service(reflection)
            .add_service(AdminServer::new(admin).max_decoding_message_size(64 << 20))
            .add_service(ExecutorServer::new(executor).max_decoding_message_size(64 << 20))
            .add_service(cluster.raft_service());
        // Small request/response messages: without TCP_NODELAY, Nagle's
        // algorithm and delayed ACKs add ~40 ms to every exchange.
        let incoming = TcpListenerStream::new(listener).map(|stream| {
            let stream = stream?;
            stream.set_nodelay(true)?;
            Ok::<_, std::io::Error>(stream)
        });
        let server = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async move {
            let _ = shutdown_rx.wait_for(|stop| *stop).await;
        }));

        let members = if config.peers.is_empty() {
            BTreeMap::from([(config.node_id, advertise.clone())])
        } else {
            config.peers.clone()
        };
        let initializer = !config.join && members.keys().next() == Some(&config.node_id);
        if initializer && cluster.initialize(members).await? {
            info!(node = config.node_id, "initialized a new cluster");
        }
        info!(node = config.node_id, addr = %advertise, data_dir = %config.data_dir.display(), "scheduler node serving");
        Ok(SchedulerNode {
            cluster,
            local_addr,
            metrics,
            shutdown,
            server,
        })
    }

    /// Stops serving and shuts Raft down. Raft stops before the server is awaited: a leader's
    /// replication stream to this node lasts until this node's Raft answers it no more, and the
    /// server's graceful stop waits for open streams.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if let Err(e) = self.cluster.shutdown().await {
            warn!(error = %e, "raft shutdown");
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
    }
}

/// Streams open at once on one connection. A client that sends more
/// requests at once (a burst of launches) keeps the rest queued on its side.
/// Without a bound, h2's guard against floods of small DATA frames closes the
/// connection, failing every request on it, once the unread small bodies
/// exceed half the connection window (each counts as 256 bytes less its
/// size: about 2,000 requests with the default 1 MiB; `tests/burst.rs`).
/// Watches hold a stream for as long as they last, and a follower forwards
/// all its clients' watches over one connection, so the bound is high.
const MAX_STREAMS_PER_CONNECTION: u32 = 16_384;

/// The connection's receive window: its half, 8 MiB, covers the small
/// bodies of `MAX_STREAMS_PER_CONNECTION` requests (16,384 × 256 B = 4 MiB)
/// with room to spare.
const CONNECTION_WINDOW: u32 = 16 << 20;

/// Hands the effects of applied commands to the dispatcher and the watchers, straight from the
/// apply task: an execution's last event reaches its watchers' streams with no task hand-off in
/// between (a routing task of its own cost W3 one wake-up per round).
struct EffectRouter {
    dispatcher: DispatcherHandle,
    events: broadcast::Sender<Arc<EventNotice>>,
}

impl EffectSink<Effect> for EffectRouter {
    fn deliver(&self, effects: std::vec::Drain<'_, Effect>) {
        let EffectRouter { dispatcher, events } = self;
        for effect in effects {
            match effect {
                Effect::Event {
                    execution,
                    event,
                    finished,
                } => {
                    if baton_telemetry::enabled() && crate::dispatch::ends_spans(&event, finished) {
                        // The leader's spans of a node end with its terminal
                        // phase, and of an execution with its end.
                        dispatcher.send(Input::Effect(Effect::Event {
                            execution: execution.clone(),
                            event: event.clone(),
                            finished,
                        }));
                    }
                    let _ = events.send(Arc::new(EventNotice {
                        execution,
                        event,
                        finished,
                    }));
                }
                other => dispatcher.send(Input::Effect(other)),
            }
        }
    }
}

/// Starts the dispatcher when this node becomes leader (once its state holds
/// every committed entry) and stops it when it steps down.
async fn follow_leadership(
    cluster: Arc<ClusterNode<SchedulerState>>,
    dispatcher: DispatcherHandle,
) {
    let mut metrics = cluster.metrics();
    let mut leading = false;
    loop {
        let is_leader = metrics.borrow_and_update().current_leader == Some(cluster.node_id());
        if is_leader && !leading {
            // The dispatcher rebuilds its queues and leases from the state, so
            // that state must hold every entry of the new leader's log (all of
            // which its first entry commits) — not only what the read barrier
            // covers, which after a restart can lag the log.
            match ready_to_lead(&cluster, &mut metrics).await {
                Ok(()) => {
                    leading = true;
                    info!(node = cluster.node_id(), "became leader");
                    dispatcher.send(Input::Leader(true));
                }
                Err(e) => {
                    warn!(error = %e, "leader read barrier failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            }
        } else if !is_leader && leading {
            leading = false;
            info!(node = cluster.node_id(), "no longer leader");
            dispatcher.send(Input::Leader(false));
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// Waits until this new leader's state machine has applied its whole log as
/// of now (a read barrier, then applied >= the last log index).
async fn ready_to_lead(
    cluster: &ClusterNode<SchedulerState>,
    metrics: &mut tokio::sync::watch::Receiver<baton_cluster::Metrics>,
) -> Result<(), String> {
    cluster
        .ensure_linearizable()
        .await
        .map_err(|e| e.to_string())?;
    let target = cluster.status().last_log_index;
    loop {
        let status = cluster.status();
        if status.leader.as_ref().map(|l| l.id) != Some(cluster.node_id()) {
            return Err("lost leadership while catching up".into());
        }
        if status.applied_index >= target {
            return Ok(());
        }
        if tokio::time::timeout(Duration::from_millis(100), metrics.changed())
            .await
            .is_ok_and(|r| r.is_err())
        {
            return Err("raft stopped".into());
        }
    }
}

/// Health (grpc.health.v1) follows the cluster: the whole server and the
/// Admin service are SERVING while this node knows a leader, NOT_SERVING
/// while it does not (no quorum, an election, a node cut off).
async fn report_health(
    cluster: Arc<ClusterNode<SchedulerState>>,
    reporter: tonic_health::server::HealthReporter,
) {
    let mut metrics = cluster.metrics();
    let mut serving = None;
    loop {
        let has_leader = metrics.borrow_and_update().current_leader.is_some();
        if serving != Some(has_leader) {
            serving = Some(has_leader);
            let status = if has_leader {
                tonic_health::ServingStatus::Serving
            } else {
                tonic_health::ServingStatus::NotServing
            };
            reporter.set_service_status("", status).await;
            reporter.set_service_status("baton.v1.Admin", status).await;
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// Returns on Ctrl-C or SIGTERM: how a daemon (`baton-scheduler`, `baton dev`)
/// is asked to stop.
pub async fn wait_for_shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        } => {}
    }
}
