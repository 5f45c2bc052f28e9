//! The executor's Prometheus metrics (docs/operations.md, "Metrics"),
//! served in the text exposition format on `--metrics-listen`: its workers
//! and the busy ones, attempts by outcome and their durations, and the
//! bytes it wrote to and read from the blob store.
//!
//! One registry per process: `baton-executor` runs one executor. (An
//! embedding that starts several, as `baton dev` does, serves no metrics.)

use std::sync::LazyLock;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, &'static str)>;

/// How an attempt can end, as `baton_executor_attempts_total` labels it.
pub const OUTCOMES: [&str; 6] = [
    "succeeded",
    "failed",
    "timed_out",
    "cancelled",
    "handed_back",
    "crashed",
];

pub struct ExecutorMetrics {
    registry: Registry,
    pub workers: Gauge,
    pub busy: Gauge,
    attempts: Family<Labels, Counter>,
    /// The counter of each of [`OUTCOMES`], taken out of `attempts` once so
    /// that an attempt's end costs no lookup.
    by_outcome: Vec<Counter>,
    attempt_seconds: Histogram,
    blob_bytes: Family<Labels, Counter>,
    work_dir_bytes: Gauge,
    work_dir_freed: Counter,
}

/// The process's metrics.
pub static METRICS: LazyLock<ExecutorMetrics> = LazyLock::new(ExecutorMetrics::new);

impl ExecutorMetrics {
    fn new() -> Self {
        let metrics = ExecutorMetrics {
            registry: Registry::default(),
            workers: Gauge::default(),
            busy: Gauge::default(),
            attempts: Family::default(),
            by_outcome: Vec::new(),
            // 1 ms to about 70 minutes.
            attempt_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 23)),
            blob_bytes: Family::default(),
            work_dir_bytes: Gauge::default(),
            work_dir_freed: Counter::default(),
        };
        let mut registry = Registry::default();
        registry.register(
            "baton_executor_workers",
            "The executor's workers (task slots)",
            metrics.workers.clone(),
        );
        registry.register(
            "baton_executor_workers_busy",
            "Workers running an attempt",
            metrics.busy.clone(),
        );
        registry.register(
            "baton_executor_attempts",
            "Attempts that ended, by outcome (succeeded, failed, timed_out, cancelled, handed_back, crashed)",
            metrics.attempts.clone(),
        );
        registry.register(
            "baton_executor_attempt_seconds",
            "How long attempts ran, from the worker's start to the result",
            metrics.attempt_seconds.clone(),
        );
        registry.register(
            "baton_executor_blob_bytes",
            "Bytes written to and read from the blob store, by direction",
            metrics.blob_bytes.clone(),
        );
        registry.register(
            "baton_executor_work_dir_bytes",
            "Bytes of logs, cached blobs and scratch in the work directory, at the last cleanup",
            metrics.work_dir_bytes.clone(),
        );
        registry.register(
            "baton_executor_work_dir_freed_bytes",
            "Bytes the work directory's cleanup removed",
            metrics.work_dir_freed.clone(),
        );
        // Every outcome and both directions exist from the start, at 0.
        let by_outcome = OUTCOMES
            .iter()
            .map(|outcome| {
                metrics
                    .attempts
                    .get_or_create(&vec![("outcome", *outcome)])
                    .clone()
            })
            .collect();
        for direction in ["written", "read"] {
            drop(
                metrics
                    .blob_bytes
                    .get_or_create(&vec![("direction", direction)]),
            );
        }
        ExecutorMetrics {
            registry,
            by_outcome,
            ..metrics
        }
    }

    /// An attempt ended with `outcome` (one of [`OUTCOMES`]) after `seconds`.
    pub fn attempt_ended(&self, outcome: &'static str, seconds: f64) {
        match OUTCOMES.iter().position(|o| *o == outcome) {
            Some(i) => self.by_outcome[i].inc(),
            None => self
                .attempts
                .get_or_create(&vec![("outcome", outcome)])
                .inc(),
        };
        self.attempt_seconds.observe(seconds);
    }

    /// `bytes` went to the blob store (`written`) or came from it (`read`).
    pub fn blob_bytes(&self, direction: &'static str, bytes: u64) {
        self.blob_bytes
            .get_or_create(&vec![("direction", direction)])
            .inc_by(bytes);
    }

    /// A cleanup of the work directory freed `freed` bytes and left `kept`.
    pub fn work_dir_swept(&self, freed: u64, kept: u64) {
        self.work_dir_freed.inc_by(freed);
        self.work_dir_bytes
            .set(i64::try_from(kept).unwrap_or(i64::MAX));
    }

    /// The exposition text of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The outcome label of an attempt's report.
pub fn outcome_of(report: &crate::attempt::Report) -> &'static str {
    match report.failure() {
        None => "succeeded",
        Some(f) if f.handed_back => "handed_back",
        Some(f) if f.timed_out => "timed_out",
        Some(f) if f.message == "cancelled" => "cancelled",
        Some(_) => "failed",
    }
}

/// Serves `GET /metrics` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                METRICS.render(),
            )
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "the metrics endpoint stopped");
    }
}
