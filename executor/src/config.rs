//! What an embedding program (the `baton-executor` binary, `baton dev`)
//! configures, with the defaults: an id of the form `hostname-pid`, pool
//! `default`, one worker per CPU, the scheduler at `127.0.0.1:7070`, a work
//! directory under the system temp dir, a heartbeat every second.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::ExecutorError;
use crate::work_dir::path_component;

pub const DEFAULT_SCHEDULER: &str = "127.0.0.1:7070";
pub const DEFAULT_POOL: &str = "default";
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// The default ceiling on an executor's workers under `baton pool scale`.
pub const DEFAULT_MAX_WORKERS: u32 = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutorConfig {
    pub executor_id: String,
    pub pool: String,
    pub labels: BTreeMap<String, String>,
    pub workers: u32,
    /// The most workers `baton pool scale` or the autoscaler may give it;
    /// 0: [`DEFAULT_MAX_WORKERS`] (or `workers`, if more).
    pub max_workers: u32,
    /// Scheduler addresses (`host:port`), tried in turn; a follower redirects to the leader.
    pub schedulers: Vec<String>,
    pub work_dir: PathBuf,
    pub heartbeat_interval: Duration,
    /// The blob store to write to (`file:///DIR`, a path, `s3://BUCKET/PREFIX`);
    /// None: the one the scheduler advertises, until then `WORK_DIR/blobs`.
    pub blob_store: Option<String>,
    /// How to reach S3; endpoint and region may come from the scheduler.
    pub s3: crate::blob::S3Options,
    /// What the work directory keeps of finished attempts.
    pub cleanup: crate::janitor::CleanupPolicy,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        let executor_id = default_executor_id();
        ExecutorConfig {
            work_dir: default_work_dir(&executor_id),
            executor_id,
            pool: DEFAULT_POOL.to_owned(),
            labels: BTreeMap::new(),
            workers: default_workers(),
            max_workers: 0,
            schedulers: vec![DEFAULT_SCHEDULER.to_owned()],
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            blob_store: None,
            s3: Default::default(),
            cleanup: Default::default(),
        }
    }
}

impl ExecutorConfig {
    /// Refuses a configuration the executor cannot run with, naming the field.
    pub fn validate(&self) -> Result<(), ExecutorError> {
        let bad = |why: String| Err(ExecutorError::Config(why));
        if self.executor_id.trim().is_empty() {
            return bad("the executor id is empty".into());
        }
        if self.pool.trim().is_empty() {
            return bad("the pool name is empty".into());
        }
        if self.schedulers.is_empty() {
            return bad("no scheduler address given".into());
        }
        for address in &self.schedulers {
            check_address(address).map_err(ExecutorError::Config)?;
        }
        if self.heartbeat_interval.is_zero() {
            return bad("the heartbeat interval must be more than zero".into());
        }
        if self.max_workers != 0 && self.max_workers < self.workers {
            return bad(format!(
                "--max-workers {} is below --workers {}",
                self.max_workers, self.workers
            ));
        }
        Ok(())
    }

    /// The most workers the scheduler may resize it to.
    pub fn worker_ceiling(&self) -> u32 {
        match self.max_workers {
            0 => DEFAULT_MAX_WORKERS.max(self.workers),
            n => n,
        }
    }
}

/// Checks a `host:port` scheduler address.
pub fn check_address(address: &str) -> Result<(), String> {
    let bad = |why: &str| format!("bad scheduler address `{address}`: {why}");
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err(bad("expected HOST:PORT"));
    };
    if host.is_empty() || host.contains('/') {
        return Err(bad("expected HOST:PORT"));
    }
    port.parse::<u16>()
        .map_err(|_| bad("the port must be a number from 0 to 65535"))?;
    Ok(())
}

/// `hostname-pid`: unique per process on a machine, readable in `baton pools`.
pub fn default_executor_id() -> String {
    format!("{}-{}", hostname(), std::process::id())
}

/// One worker per CPU.
pub fn default_workers() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
}

/// `<temp dir>/baton-executor-<id>`.
pub fn default_work_dir(executor_id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("baton-executor-{}", path_component(executor_id)))
}

fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for `len` bytes; gethostname writes at most
    // that many and we read only up to the first NUL inside the buffer.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    let name = if status == 0 {
        let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
        String::from_utf8_lossy(&buffer[..end]).trim().to_owned()
    } else {
        String::new()
    };
    if name.is_empty() {
        "executor".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_id_is_hostname_dash_pid() {
        let id = default_executor_id();
        assert!(id.ends_with(&format!("-{}", std::process::id())), "{id}");
        assert!(id.len() > format!("-{}", std::process::id()).len(), "{id}");
    }

    #[test]
    fn validation_names_the_bad_field() {
        assert!(ExecutorConfig::default().validate().is_ok());
        let config = ExecutorConfig {
            schedulers: vec!["nowhere".into()],
            ..ExecutorConfig::default()
        };
        let error = config.validate().unwrap_err().to_string();
        assert_eq!(
            error,
            "bad executor configuration: bad scheduler address `nowhere`: expected HOST:PORT"
        );
        let config = ExecutorConfig {
            schedulers: vec![],
            ..ExecutorConfig::default()
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("no scheduler address"));
        assert!(check_address("[::1]:7070").is_ok());
        assert!(check_address("host:http").is_err());
    }
}
