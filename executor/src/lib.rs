//! Baton's executor (DESIGN.md §5, §6): a process that dials the scheduler,
//! takes the attempts it is assigned and runs them.
//!
//! Actors (ractor): [`link::Link`] owns the scheduler stream and is the root;
//! it spawns and supervises [`pool::Pool`], which owns the slots and
//! supervises N [`worker::Worker`]s; each worker runs one attempt at a time
//! through a [`runner`] (`process` or `builtin`). Data flows
//! scheduler → link → pool → worker → runner for assignments, and back
//! runner → worker → pool → link → scheduler for results.
//!
//! Embedding: [`start`] returns an [`ExecutorHandle`] to wait on, drain,
//! resize or stop the executor; the `baton-executor` binary and `baton dev`
//! are both thin shells over it.

pub mod attempt;
pub mod blob;
pub mod config;
pub mod error;
pub mod janitor;
pub mod link;
pub mod metrics;
pub mod pool;
pub mod runner;
#[cfg(test)]
mod test_support;
pub mod work_dir;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef};
use tokio::task::JoinHandle;

pub use config::ExecutorConfig;
pub use error::ExecutorError;

use link::{ExitReport, Link, LinkArgs, LinkMsg, LinkSettings};
use work_dir::WorkDirs;

/// How long a dial may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a drained executor waits for its last results to be acknowledged.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// Starts an executor: prepares its work directory, spawns its actors and
/// starts dialling the scheduler (an unreachable scheduler is retried, not
/// an error).
pub async fn start(config: ExecutorConfig) -> Result<ExecutorHandle, ExecutorError> {
    config.validate()?;
    let dirs = Arc::new(match &config.blob_store {
        Some(url) => WorkDirs::with_blob_store(&config.work_dir, url, &config.s3)?,
        None => WorkDirs::create(&config.work_dir)?,
    });
    let earlier_ids = dirs.record_id(&config.executor_id)?;
    tokio::spawn(janitor::run(dirs.clone(), config.cleanup));
    let exit = Arc::new(ExitReport::default());
    let link = Link {
        settings: LinkSettings {
            executor_id: config.executor_id.clone(),
            pool: config.pool.clone(),
            labels: config.labels.clone(),
            max_workers: config.worker_ceiling(),
            schedulers: config.schedulers.clone(),
            heartbeat_interval: config.heartbeat_interval,
            connect_timeout: CONNECT_TIMEOUT,
            drain_grace: DRAIN_GRACE,
            earlier_ids,
            own_blob_store: config.blob_store.is_some(),
            s3: config.s3.clone(),
        },
        dirs: dirs.clone(),
        exit: exit.clone(),
    };
    let (actor, join) = Actor::spawn(
        None,
        link,
        LinkArgs {
            workers: config.workers,
        },
    )
    .await
    .map_err(|e| ExecutorError::Spawn {
        actor: "link",
        reason: e.to_string(),
    })?;
    tracing::info!(
        executor = %config.executor_id,
        pool = %config.pool,
        workers = config.workers,
        schedulers = ?config.schedulers,
        work_dir = %dirs.root().display(),
        "executor started"
    );
    Ok(ExecutorHandle {
        control: ExecutorControl { link: actor },
        join,
        exit,
    })
}

/// A running executor. Dropping the handle leaves the executor running.
pub struct ExecutorHandle {
    control: ExecutorControl,
    join: JoinHandle<()>,
    exit: Arc<ExitReport>,
}

impl ExecutorHandle {
    /// A cloneable remote control, e.g. for a signal handler while
    /// [`ExecutorHandle::wait`] holds the handle.
    pub fn control(&self) -> ExecutorControl {
        self.control.clone()
    }

    /// Stops now: running attempts are killed (their process groups too) and
    /// not reported; the scheduler re-queues them when their lease expires.
    pub async fn shutdown(self) {
        self.control.shutdown();
        let _ = self.wait().await;
    }

    /// Takes nothing new, finishes running work, delivers its results, then
    /// returns once the executor has stopped.
    pub async fn drain(self) {
        self.control.drain();
        let _ = self.wait().await;
    }

    /// Grows or shrinks the worker pool live; running work is not dropped.
    pub fn resize(&self, workers: u32) {
        self.control.resize(workers);
    }

    /// Returns when the executor has stopped: drained, shut down, or failed.
    pub async fn wait(self) -> Result<(), ExecutorError> {
        self.join.await.map_err(|e| {
            ExecutorError::Crashed(format!("the link actor task ended abnormally: {e}"))
        })?;
        self.exit.outcome()
    }
}

/// Drain, stop or resize a running executor from anywhere.
#[derive(Clone, Debug)]
pub struct ExecutorControl {
    link: ActorRef<LinkMsg>,
}

impl ExecutorControl {
    /// Starts draining (see [`ExecutorHandle::drain`]); does not wait.
    pub fn drain(&self) {
        let _ = self.link.send_message(LinkMsg::Drain);
    }

    /// Starts stopping now (see [`ExecutorHandle::shutdown`]); does not wait.
    pub fn shutdown(&self) {
        self.link.stop(Some("shutdown".into()));
    }

    pub fn resize(&self, workers: u32) {
        let _ = self.link.send_message(LinkMsg::Resize(workers));
    }
}
