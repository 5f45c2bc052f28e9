//! The scheduler's Prometheus metrics (docs/operations.md, "Metrics"),
//! served in the text exposition format on `--metrics-listen`.
//!
//! Two kinds. [`Instruments`] are recorded where things happen, off the
//! per-task path: one observation per log entry proposed, per lease lost,
//! per autoscaler decision. Everything else is read when scraped
//! ([`Snapshot`]): the Raft status, executions and node instances by phase
//! from the replicated state, and per pool the dispatcher's published view
//! (queue depth and wait, assignments, workers and busy ones). So a scrape
//! costs a read of the state, and a task placed costs nothing more than
//! before. Pool figures come from the leader only: a follower's view is
//! empty.

use std::collections::BTreeMap;
use std::sync::Arc;

use baton_cluster::ClusterNode;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::dispatch::SharedView;
use crate::state::{ExecutionPhase, NodePhase, SchedulerState};

/// What is recorded as it happens.
#[derive(Clone)]
pub struct Instruments {
    /// Log entries the proposer submitted, and the commands in them.
    pub proposals: Counter,
    pub proposed_commands: Counter,
    /// Commands per log entry.
    pub proposal_batch: Histogram,
    /// From a log entry's submission to its commands' responses (append,
    /// replication to a quorum, apply).
    pub proposal_seconds: Histogram,
    /// Attempts whose executor fell silent past the lease.
    pub leases_expired: Counter,
    /// The autoscaler's decisions, by pool and direction (`grow`, `shrink`).
    pub autoscaler_decisions: Family<Vec<(String, String)>, Counter>,
}

impl Default for Instruments {
    fn default() -> Self {
        Instruments {
            proposals: Counter::default(),
            proposed_commands: Counter::default(),
            // 1, 2, 4, ... 4,096 commands: the proposer's largest batch.
            proposal_batch: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
            // 0.1 ms to about 6.5 s.
            proposal_seconds: Histogram::new(exponential_buckets(0.000_1, 2.0, 17)),
            leases_expired: Counter::default(),
            autoscaler_decisions: Family::default(),
        }
    }
}

/// The registry of one scheduler node.
pub struct SchedulerMetrics {
    registry: Registry,
    pub instruments: Instruments,
}

impl SchedulerMetrics {
    pub fn new(
        cluster: Arc<ClusterNode<SchedulerState>>,
        view: SharedView,
        instruments: Instruments,
    ) -> Self {
        let mut registry = Registry::default();
        let i = &instruments;
        registry.register(
            "baton_proposals",
            "Log entries the proposer submitted",
            i.proposals.clone(),
        );
        registry.register(
            "baton_proposed_commands",
            "Commands in the log entries the proposer submitted",
            i.proposed_commands.clone(),
        );
        registry.register(
            "baton_proposal_batch_commands",
            "Commands per log entry",
            i.proposal_batch.clone(),
        );
        registry.register(
            "baton_proposal_seconds",
            "From a log entry's submission to its responses: append, replication to a quorum and apply",
            i.proposal_seconds.clone(),
        );
        registry.register(
            "baton_leases_expired",
            "Attempts whose executor fell silent for longer than the lease",
            i.leases_expired.clone(),
        );
        registry.register(
            "baton_autoscaler_decisions",
            "The autoscaler's decisions to resize a pool, by pool and direction",
            i.autoscaler_decisions.clone(),
        );
        registry.register_collector(Box::new(Snapshot { cluster, view }));
        SchedulerMetrics {
            registry,
            instruments,
        }
    }

    /// The exposition text of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// What is read when scraped.
struct Snapshot {
    cluster: Arc<ClusterNode<SchedulerState>>,
    view: SharedView,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snapshot")
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: impl prometheus_client::encoding::EncodeGaugeValue + Copy,
) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

/// A gauge with one label: (label value, figure) pairs.
fn gauges<V: prometheus_client::encoding::EncodeGaugeValue + Copy>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &str,
    values: &[(String, V)],
) -> Result<(), std::fmt::Error> {
    if values.is_empty() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (value_of_label, value) in values {
        let labels = [(label, value_of_label.as_str())];
        ConstGauge::new(*value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A counter with one label.
fn counters(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &str,
    values: &[(String, u64)],
) -> Result<(), std::fmt::Error> {
    if values.is_empty() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value_of_label, value) in values {
        let labels = [(label, value_of_label.as_str())];
        ConstCounter::new(*value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn phase_name<T: std::fmt::Debug>(phase: T) -> String {
    format!("{phase:?}").to_lowercase()
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let e = &mut encoder;
        let status = self.cluster.status();
        gauge(
            e,
            "baton_raft_term",
            "The node's current Raft term",
            status.term,
        )?;
        let leads = status
            .leader
            .as_ref()
            .is_some_and(|l| l.id == status.node_id);
        gauge(
            e,
            "baton_raft_leader",
            "1 on the node that leads, else 0",
            u64::from(leads),
        )?;
        gauge(
            e,
            "baton_raft_leader_id",
            "The node id of the leader this node knows (0: none)",
            status.leader.as_ref().map_or(0, |l| l.id),
        )?;
        gauge(
            e,
            "baton_raft_last_log_index",
            "The index of the node's last log entry",
            status.last_log_index,
        )?;
        gauge(
            e,
            "baton_raft_commit_index",
            "The index of the last entry known committed",
            status.committed_index,
        )?;
        gauge(
            e,
            "baton_raft_applied_index",
            "The index of the last entry applied to the state machine",
            status.applied_index,
        )?;
        gauge(
            e,
            "baton_raft_snapshot_index",
            "The index of the last entry in the latest snapshot",
            status.snapshot_index,
        )?;
        gauge(
            e,
            "baton_raft_snapshot_bytes",
            "The size of the latest snapshot stored on this node",
            status.snapshot_bytes,
        )?;
        let matched: Vec<(String, u64)> = status
            .matched
            .iter()
            .map(|(id, index)| (id.to_string(), *index))
            .collect();
        gauges(
            e,
            "baton_raft_follower_matched_index",
            "On the leader: the last index each node is known to hold",
            "node",
            &matched,
        )?;

        let (executions, nodes) = {
            let state = self.cluster.state();
            let state = state.read().unwrap_or_else(|p| p.into_inner());
            let mut executions: BTreeMap<String, u64> = [
                ExecutionPhase::Queued,
                ExecutionPhase::Running,
                ExecutionPhase::Succeeded,
                ExecutionPhase::Failed,
                ExecutionPhase::Cancelled,
            ]
            .into_iter()
            .map(|p| (phase_name(p), 0))
            .collect();
            let mut nodes: BTreeMap<String, u64> = BTreeMap::new();
            for execution in state.executions.values() {
                *executions.entry(phase_name(execution.phase)).or_default() += 1;
                // Finished executions' instances are final: only the live
                // ones say what the cluster is doing.
                if execution.phase == ExecutionPhase::Running {
                    for node in &execution.nodes {
                        *nodes.entry(phase_name(node.phase)).or_default() += 1;
                    }
                }
            }
            for phase in [NodePhase::Pending, NodePhase::Queued, NodePhase::Running] {
                nodes.entry(phase_name(phase)).or_default();
            }
            (executions, nodes)
        };
        gauges(
            e,
            "baton_executions",
            "Executions in the replicated state, by phase",
            "phase",
            &executions.into_iter().collect::<Vec<_>>(),
        )?;
        gauges(
            e,
            "baton_node_instances",
            "Node instances of running executions, by phase",
            "phase",
            &nodes.into_iter().collect::<Vec<_>>(),
        )?;

        let view = self.view.read().unwrap_or_else(|p| p.into_inner()).clone();
        if !view.leader {
            return Ok(());
        }
        let mut depth: BTreeMap<String, u64> = BTreeMap::new();
        for lane in &view.lanes {
            *depth.entry(lane.lane.pool.to_string()).or_default() += lane.depth as u64;
        }
        let mut executors: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        for executor in view.executors.iter().filter(|x| x.entry.connected) {
            let entry = executors.entry(executor.entry.pool.clone()).or_default();
            entry.0 += 1;
            entry.1 += u64::from(executor.entry.slots);
            entry.2 += u64::from(executor.entry.running());
        }
        for pool in view.pools.keys().chain(executors.keys()) {
            depth.entry(pool.clone()).or_default();
        }
        let per_pool = |f: &dyn Fn(&crate::dispatch::stats::Summary) -> f64| -> Vec<(String, f64)> {
            view.pools
                .iter()
                .map(|(pool, s)| (pool.clone(), f(s)))
                .collect()
        };
        gauges(
            e,
            "baton_dispatch_queue_depth",
            "Ready node instances waiting for an executor, by pool",
            "pool",
            &depth.into_iter().collect::<Vec<_>>(),
        )?;
        gauges(
            e,
            "baton_dispatch_queue_wait_p50_seconds",
            "Median wait of instances placed over the last minute, by pool",
            "pool",
            &per_pool(&|s| s.wait_p50_ms as f64 / 1000.0),
        )?;
        gauges(
            e,
            "baton_dispatch_queue_wait_p99_seconds",
            "99th percentile wait of instances placed over the last minute, by pool",
            "pool",
            &per_pool(&|s| s.wait_p99_ms as f64 / 1000.0),
        )?;
        let totals = |f: &dyn Fn(&crate::dispatch::stats::Summary) -> u64| -> Vec<(String, u64)> {
            view.pools
                .iter()
                .map(|(pool, s)| (pool.clone(), f(s)))
                .collect()
        };
        counters(
            e,
            "baton_dispatch_assignments",
            "Attempts handed to executors since this node began leading, by pool",
            "pool",
            &totals(&|s| s.placed_total),
        )?;
        counters(
            e,
            "baton_dispatch_completions",
            "Attempts that finished since this node began leading, by pool",
            "pool",
            &totals(&|s| s.completed_total),
        )?;
        let of = |f: fn(&(u64, u64, u64)) -> u64| -> Vec<(String, u64)> {
            executors
                .iter()
                .map(|(pool, t)| (pool.clone(), f(t)))
                .collect()
        };
        gauges(
            e,
            "baton_pool_executors",
            "Connected executors, by pool",
            "pool",
            &of(|t| t.0),
        )?;
        gauges(
            e,
            "baton_pool_workers",
            "Workers of the connected executors, by pool",
            "pool",
            &of(|t| t.1),
        )?;
        gauges(
            e,
            "baton_pool_workers_busy",
            "Workers running an attempt, by pool",
            "pool",
            &of(|t| t.2),
        )?;
        Ok(())
    }
}

/// Serves `GET /metrics` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<SchedulerMetrics>) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.render(),
                )
            }
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "the metrics endpoint stopped");
    }
}
