//! The work directory's cleanup (docs/operations.md, "Retention"): the
//! logs of each execution (`logs/<execution>/`), the cached blobs
//! (`blob-cache/<sha256>`) and scratch directories a killed executor left
//! in `tmp/` are removed once nothing has touched them for `keep_for`, and
//! the oldest go first while the whole is above `max_bytes`.
//!
//! Nothing an attempt still running uses is removed: the logs of an
//! execution with a running attempt stay, and since a cached blob (or a
//! scratch directory) is touched each time an attempt asks for it, those
//! touched since the oldest running attempt began stay too, however old or
//! large.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::work_dir::WorkDirs;

/// What the cleanup keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// How long an untouched log, cached blob or scratch directory stays.
    pub keep_for: Duration,
    /// The most bytes they may take together; `None`: no limit.
    pub max_bytes: Option<u64>,
}

/// The default: a week, with no size limit.
pub const DEFAULT_KEEP_FOR: Duration = Duration::from_secs(7 * 24 * 3_600);

impl Default for CleanupPolicy {
    fn default() -> Self {
        CleanupPolicy {
            keep_for: DEFAULT_KEEP_FOR,
            max_bytes: None,
        }
    }
}

impl CleanupPolicy {
    /// How long between two sweeps: a tenth of `keep_for`, between a
    /// second and ten minutes (a size limit is checked at least a minute
    /// apart).
    pub fn every(&self) -> Duration {
        let mut gap = (self.keep_for / 10).clamp(Duration::from_secs(1), Duration::from_secs(600));
        if self.max_bytes.is_some() {
            gap = gap.min(Duration::from_secs(60));
        }
        gap
    }
}

/// What the attempts running now use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InUse {
    /// When the oldest of them began (`None`: none runs).
    pub since: Option<SystemTime>,
    /// The log directories (names under `logs/`) of their executions.
    pub log_dirs: std::collections::HashSet<String>,
}

/// What one sweep removed, and what is left.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub removed: usize,
    pub freed_bytes: u64,
    pub kept_bytes: u64,
}

/// One thing the sweep may remove: a file or a directory, its bytes and
/// when it was last touched (a directory: its newest file).
#[derive(Debug)]
struct Item {
    path: PathBuf,
    bytes: u64,
    touched: SystemTime,
}

/// Removes what `policy` no longer keeps from `dirs`, at `now`, but for
/// what the running attempts use (`in_use`).
pub fn sweep(dirs: &WorkDirs, policy: &CleanupPolicy, now: SystemTime, in_use: &InUse) -> Swept {
    let mut items = Vec::new();
    for path in children(dirs.logs()) {
        let running = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|name| in_use.log_dirs.contains(name));
        items.push((measure(path), running));
    }
    for path in children(dirs.tmp())
        .into_iter()
        .chain(children(dirs.blobs().dir()))
    {
        let item = measure(path);
        // A second of slack covers file systems whose times are coarser
        // than the attempt clock.
        let touched_since = in_use
            .since
            .is_some_and(|since| item.touched + Duration::from_secs(1) >= since);
        items.push((item, touched_since));
    }
    // Oldest first.
    items.sort_by_key(|(item, _)| item.touched);
    let mut total: u64 = items.iter().map(|(i, _)| i.bytes).sum();
    let mut swept = Swept::default();
    for (item, used) in &items {
        let stale = now
            .duration_since(item.touched)
            .is_ok_and(|age| age > policy.keep_for);
        let over = policy.max_bytes.is_some_and(|max| total > max);
        if !(stale || over) || *used {
            continue;
        }
        if remove_unless_used_since(dirs, item) {
            swept.removed += 1;
            swept.freed_bytes += item.bytes;
            total -= item.bytes;
        }
    }
    swept.kept_bytes = total;
    swept
}

/// Removes `item` unless something used it since it was measured: checked
/// again while no attempt starts and no cached blob is handed out, so that
/// nothing can be handed to an attempt between the check and the removal.
fn remove_unless_used_since(dirs: &WorkDirs, item: &Item) -> bool {
    dirs.blobs().while_none_handed_out(|| {
        dirs.while_no_attempt_starts(|in_use| {
            let now = measure(item.path.clone());
            let in_logs = item.path.parent() == Some(dirs.logs());
            let running = in_logs
                && item
                    .path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|name| in_use.log_dirs.contains(name));
            let touched_since = !in_logs
                && in_use
                    .since
                    .is_some_and(|since| now.touched + Duration::from_secs(1) >= since);
            if running || touched_since || now.touched > item.touched {
                return false;
            }
            remove(&item.path)
        })
    })
}

fn children(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// Its bytes and newest modification time, through directories.
fn measure(path: PathBuf) -> Item {
    let mut item = Item {
        bytes: 0,
        touched: SystemTime::UNIX_EPOCH,
        path,
    };
    let mut pending = vec![item.path.clone()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if let Ok(modified) = meta.modified() {
            item.touched = item.touched.max(modified);
        }
        if meta.is_dir() {
            pending.extend(children(&path));
        } else {
            item.bytes += meta.len();
        }
    }
    item
}

fn remove(path: &Path) -> bool {
    let removed = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    match removed {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot remove from the work directory");
            false
        }
    }
}

/// Sweeps `dirs` every [`CleanupPolicy::every`], for the executor's life.
pub async fn run(dirs: std::sync::Arc<WorkDirs>, policy: CleanupPolicy) {
    loop {
        tokio::time::sleep(policy.every()).await;
        let sweeping = dirs.clone();
        let swept = tokio::task::spawn_blocking(move || {
            let in_use = sweeping.in_use();
            sweep(&sweeping, &policy, SystemTime::now(), &in_use)
        })
        .await
        .unwrap_or_default();
        crate::metrics::METRICS.work_dir_swept(swept.freed_bytes, swept.kept_bytes);
        if swept.removed > 0 {
            tracing::info!(
                removed = swept.removed,
                freed_bytes = swept.freed_bytes,
                kept_bytes = swept.kept_bytes,
                "cleaned the work directory"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3_600);

    /// Writes `bytes` at `path` and dates it, and every directory from it
    /// up to the work directory's part (`logs/`, `tmp/`, `blob-cache/`),
    /// `age` back, as if nothing had touched them since.
    fn file(path: &Path, bytes: usize, age: Duration) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, vec![b'x'; bytes]).unwrap();
        let when = SystemTime::now() - age;
        let mut at = Some(path);
        while let Some(p) = at.filter(|p| {
            !matches!(
                p.file_name().and_then(|n| n.to_str()),
                Some("logs" | "tmp" | "blob-cache")
            )
        }) {
            std::fs::File::open(p).unwrap().set_modified(when).unwrap();
            at = p.parent();
        }
    }

    fn dirs() -> (tempfile::TempDir, WorkDirs) {
        let dir = tempfile::tempdir().unwrap();
        let dirs = WorkDirs::create(dir.path()).unwrap();
        (dir, dirs)
    }

    #[test]
    fn what_nothing_touched_for_longer_than_keep_for_goes() {
        let (_dir, dirs) = dirs();
        let old_log = dirs.logs().join("flow-1");
        file(&old_log.join("step/1.log"), 10, 3 * HOUR);
        // A directory counts as touched when its newest file was.
        let mixed_log = dirs.logs().join("flow-2");
        file(&mixed_log.join("a/1.log"), 10, 3 * HOUR);
        file(&mixed_log.join("b/1.log"), 10, Duration::ZERO);
        let old_blob = dirs.blobs().dir().join("aa".repeat(32));
        file(&old_blob, 100, 3 * HOUR);
        let new_blob = dirs.blobs().dir().join("bb".repeat(32));
        file(&new_blob, 100, Duration::ZERO);
        let scratch = dirs.tmp().join("left-by-a-killed-executor");
        file(&scratch.join("x"), 5, 3 * HOUR);
        let policy = CleanupPolicy {
            keep_for: 2 * HOUR,
            max_bytes: None,
        };
        let swept = sweep(&dirs, &policy, SystemTime::now(), &InUse::default());
        assert_eq!(swept.removed, 3);
        assert_eq!(swept.freed_bytes, 115);
        assert_eq!(swept.kept_bytes, 120);
        assert!(!old_log.exists() && !old_blob.exists() && !scratch.exists());
        assert!(mixed_log.exists() && new_blob.exists());
    }

    #[test]
    fn above_the_size_limit_the_oldest_go_first() {
        let (_dir, dirs) = dirs();
        for (i, age) in [(1, 5), (2, 3), (3, 4), (4, 1)] {
            file(
                &dirs.blobs().dir().join(format!("{i}")),
                100,
                Duration::from_secs(age * 60),
            );
        }
        let policy = CleanupPolicy {
            keep_for: HOUR,
            max_bytes: Some(250),
        };
        let swept = sweep(&dirs, &policy, SystemTime::now(), &InUse::default());
        assert_eq!((swept.removed, swept.kept_bytes), (2, 200));
        assert!(!dirs.blobs().dir().join("1").exists());
        assert!(!dirs.blobs().dir().join("3").exists());
        assert!(dirs.blobs().dir().join("2").exists());
    }

    #[test]
    fn what_a_running_attempt_uses_stays_however_old_or_large() {
        let (_dir, dirs) = dirs();
        let blob = dirs.blobs().dir().join("cc".repeat(32));
        file(&blob, 1_000, 2 * HOUR);
        let old_blob = dirs.blobs().dir().join("dd".repeat(32));
        file(&old_blob, 1_000, 4 * HOUR);
        let running = dirs.logs().join("flow-8");
        file(&running.join("a/1.log"), 1_000, 5 * HOUR);
        let stale = dirs.logs().join("flow-9");
        file(&stale.join("a/1.log"), 1_000, 5 * HOUR);
        let policy = CleanupPolicy {
            keep_for: HOUR,
            max_bytes: Some(0),
        };
        // The oldest running attempt began three hours ago, in flow-8: the
        // first blob was touched since, the other before.
        let in_use = InUse {
            since: Some(SystemTime::now() - 3 * HOUR),
            log_dirs: ["flow-8".to_string()].into(),
        };
        let swept = sweep(&dirs, &policy, SystemTime::now(), &in_use);
        assert_eq!(swept.removed, 2);
        assert!(blob.exists() && running.exists());
        assert!(!old_blob.exists() && !stale.exists());
    }

    #[test]
    fn the_sweep_runs_more_often_for_short_keeps_and_size_limits() {
        let week = CleanupPolicy::default();
        assert_eq!(week.every(), Duration::from_secs(600));
        let short = CleanupPolicy {
            keep_for: Duration::from_secs(5),
            max_bytes: None,
        };
        assert_eq!(short.every(), Duration::from_secs(1));
        let sized = CleanupPolicy {
            max_bytes: Some(1 << 30),
            ..week
        };
        assert_eq!(sized.every(), Duration::from_secs(60));
    }
}
