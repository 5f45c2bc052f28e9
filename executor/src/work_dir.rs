//! The executor's work directory and its layout:
//! `logs/<execution>/<node>/<attempt>.log` holds each attempt's captured
//! stdout and stderr, `blob-cache/<sha256>` the verified copies of blobs
//! read from the blob store (and `blobs/`, the store itself when no other is
//! configured), and `tmp/` the per-attempt scratch directories, removed when the attempt
//! ends; `ids` lists the executor ids that have used the directory (an id
//! is per process), so that a restarted executor serves the logs its
//! predecessors left. Ids from the scheduler are made safe as path
//! components.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::attempt::AttemptKey;
use crate::blob::{BlobCache, BlobStore, S3Options, DEFAULT_INLINE_LIMIT};
use crate::error::ExecutorError;

#[derive(Clone, Debug)]
pub struct WorkDirs {
    root: PathBuf,
    logs: PathBuf,
    blobs: Arc<BlobCache>,
    tmp: PathBuf,
    running: Arc<RunningAttempts>,
}

/// When each attempt running now began, and the log directory of its
/// execution, so that the cleanup keeps what they use (see
/// [`crate::janitor`]).
#[derive(Debug, Default)]
struct RunningAttempts {
    /// Run number -> its start and its execution's log directory name.
    started: Mutex<BTreeMap<u64, (SystemTime, String)>>,
    next: std::sync::atomic::AtomicU64,
}

/// An attempt that runs, until dropped.
#[must_use]
pub struct RunningAttempt {
    running: Arc<RunningAttempts>,
    number: u64,
}

impl Drop for RunningAttempt {
    fn drop(&mut self) {
        let mut started = self
            .running
            .started
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        started.remove(&self.number);
    }
}

impl WorkDirs {
    /// Creates the layout under `root` (and `root` itself), with absolute
    /// paths, with the blob store in `root/blobs` until told otherwise.
    pub fn create(root: &Path) -> Result<Self, ExecutorError> {
        let root_dir = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        let local = format!("file://{}", root_dir.join("blobs").display());
        Self::with_blob_store(root, &local, &S3Options::default())
    }

    /// [`WorkDirs::create`] with blobs written to the store at `blob_store`.
    pub fn with_blob_store(
        root: &Path,
        blob_store: &str,
        s3: &S3Options,
    ) -> Result<Self, ExecutorError> {
        let fail = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ExecutorError::WorkDir { path, source }
        };
        std::fs::create_dir_all(root).map_err(fail(root))?;
        let root = root.canonicalize().map_err(fail(root))?;
        let cache_dir = root.join("blob-cache");
        for dir in [&root.join("logs"), &cache_dir, &root.join("tmp")] {
            std::fs::create_dir_all(dir).map_err(fail(dir))?;
        }
        let store =
            BlobStore::open(blob_store, s3).map_err(|e| ExecutorError::Config(e.to_string()))?;
        Ok(WorkDirs {
            logs: root.join("logs"),
            blobs: Arc::new(BlobCache::new(cache_dir, store, DEFAULT_INLINE_LIMIT)),
            tmp: root.join("tmp"),
            root,
            running: Arc::default(),
        })
    }

    /// Records `id` as using this directory and returns the ids that used
    /// it before (the latest [`KEPT_IDS`]).
    pub fn record_id(&self, id: &str) -> Result<Vec<String>, ExecutorError> {
        let path = self.root.join("ids");
        let fail = |source| ExecutorError::WorkDir {
            path: path.clone(),
            source,
        };
        let mut earlier: Vec<String> = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .lines()
                .map(str::to_owned)
                .filter(|l| !l.is_empty())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(fail(e)),
        };
        earlier.retain(|known| known != id);
        let mut all = earlier.clone();
        all.push(id.to_owned());
        let keep = all.len().saturating_sub(KEPT_IDS);
        let text: String = all[keep..].iter().map(|i| format!("{i}\n")).collect();
        std::fs::write(&path, text).map_err(fail)?;
        let keep = earlier.len().saturating_sub(KEPT_IDS - 1);
        Ok(earlier.split_off(keep))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The blob cache, and the store it reads from and outputs go to.
    pub fn blobs(&self) -> &BlobCache {
        &self.blobs
    }

    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    pub fn logs(&self) -> &Path {
        &self.logs
    }

    /// Marks attempt `key` as running from now until the guard is dropped.
    pub fn attempt_started(&self, key: &AttemptKey) -> RunningAttempt {
        let number = self
            .running
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut started = self
            .running
            .started
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        started.insert(
            number,
            (SystemTime::now(), path_component(&key.execution_id)),
        );
        RunningAttempt {
            running: self.running.clone(),
            number,
        }
    }

    /// What the attempts running now use: when the oldest began, and the
    /// log directories (under [`WorkDirs::logs`]) of their executions.
    pub fn in_use(&self) -> crate::janitor::InUse {
        self.while_no_attempt_starts(|in_use| in_use.clone())
    }

    /// Runs `f` with what the running attempts use, while no attempt
    /// starts (the cleanup's check and removal of one thing).
    pub fn while_no_attempt_starts<T>(&self, f: impl FnOnce(&crate::janitor::InUse) -> T) -> T {
        let started = self
            .running
            .started
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let in_use = crate::janitor::InUse {
            since: started.values().map(|(at, _)| *at).min(),
            log_dirs: started.values().map(|(_, dir)| dir.clone()).collect(),
        };
        f(&in_use)
    }

    /// Where the captured output of attempt `key` goes.
    pub fn log_path(&self, key: &AttemptKey) -> PathBuf {
        self.logs
            .join(path_component(&key.execution_id))
            .join(path_component(&key.node_id))
            .join(format!("{}.log", key.attempt))
    }
}

/// How many executor ids a work directory remembers.
pub const KEPT_IDS: usize = 32;

/// The most one read of a log returns, whatever was asked.
pub const MAX_LOG_READ: u32 = 1 << 20;

/// Up to `limit` bytes (0: 256 KiB; at most [`MAX_LOG_READ`]) of the log at
/// `path` from `offset`, and the log's size now. A log that does not exist
/// yet (an attempt that has not started its process) is empty.
pub async fn read_log(path: &Path, offset: u64, limit: u32) -> Result<(Vec<u8>, u64), String> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let limit = match limit {
        0 => 256 << 10,
        n => n.min(MAX_LOG_READ),
    };
    let mut file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(format!("cannot open the log: {e}")),
    };
    let read = async {
        let size = file.metadata().await?.len();
        let mut data = Vec::new();
        if offset < size {
            file.seek(std::io::SeekFrom::Start(offset)).await?;
            (&mut file)
                .take(u64::from(limit))
                .read_to_end(&mut data)
                .await?;
        }
        std::io::Result::Ok((data, size))
    };
    read.await.map_err(|e| format!("cannot read the log: {e}"))
}

/// `text` as one safe path component: no separators, no `.`/`..`, not empty.
pub fn path_component(text: &str) -> String {
    let safe: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() || safe.chars().all(|c| c == '.') {
        format!("_{safe}")
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components_cannot_escape_the_log_dir() {
        assert_eq!(path_component("exec-1"), "exec-1");
        assert_eq!(path_component("../etc"), ".._etc");
        assert_eq!(path_component(".."), "_..");
        assert_eq!(path_component(""), "_");
        assert_eq!(path_component("a/b c"), "a_b_c");
    }

    #[test]
    fn a_work_dir_remembers_the_executors_that_used_it() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = WorkDirs::create(dir.path()).unwrap();
        assert!(dirs.record_id("h-1").unwrap().is_empty());
        assert_eq!(dirs.record_id("h-2").unwrap(), ["h-1"]);
        assert_eq!(dirs.record_id("h-3").unwrap(), ["h-1", "h-2"]);
        // The same id again is not its own predecessor.
        assert_eq!(dirs.record_id("h-3").unwrap(), ["h-1", "h-2"]);
        for i in 4..100 {
            dirs.record_id(&format!("h-{i}")).unwrap();
        }
        let earlier = dirs.record_id("h-100").unwrap();
        assert_eq!(earlier.len(), KEPT_IDS - 1);
        assert_eq!(earlier.last().map(String::as_str), Some("h-99"));
    }
}
