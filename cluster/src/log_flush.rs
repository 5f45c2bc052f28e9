//! The leader's log flush, taken off the commit path.
//!
//! openraft 0.9 runs a leader's log append inside its core loop and starts replicating only once
//! the append returns, so when the append waits for its own `fdatasync` every commit waits for
//! two in a row: the leader's, then a follower's. Here the leader's append of the entries of its
//! own term returns once they are written (not yet flushed) and hands the flush to the thread
//! below, which flushes while the entries travel to the followers. A follower's append still
//! flushes before it answers: its answer is its promise to the leader.
//!
//! The leader counts its own copy toward the quorum when its append returns, so it may decide an
//! entry is committed before its own copy is on disk. Nothing outside the leader's memory learns
//! of that decision until the flush has caught up ([`DurableIndex`]): the state machine applies an
//! entry (and so answers its writer) only once it is durable here, and an AppendEntries telling
//! followers that an entry is committed is sent only once it is durable here. So every entry that
//! anything has seen committed is on the disks of a majority, as Raft requires; a leader that
//! loses power first loses only entries nobody was told about.
//!
//! A flush that fails leaves the log in an unknown state: the failure is published, and every
//! wait on the durable index returns it from then on (openraft then stops the node).

use std::fs::File;
use std::io;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use tokio::sync::watch;

/// What is on disk: every entry up to `index`, unless a flush failed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Durable {
    pub(crate) index: u64,
    pub(crate) failed: Option<String>,
}

/// A view of the log's durable index, for whatever must not run ahead of it.
#[derive(Clone)]
pub(crate) struct DurableIndex(watch::Receiver<Durable>);

impl DurableIndex {
    /// Waits until every entry up to `index` is durable on this node.
    pub(crate) async fn wait_for(&self, index: u64) -> io::Result<()> {
        let mut receiver = self.0.clone();
        let durable = receiver
            .wait_for(|d| d.failed.is_some() || d.index >= index)
            .await
            .map_err(|_| io::Error::other("the raft log is closed"))?;
        match &durable.failed {
            Some(why) => Err(io::Error::other(format!(
                "flushing the raft log failed earlier: {why}"
            ))),
            None => Ok(()),
        }
    }

    /// The last index durable now.
    pub(crate) fn index(&self) -> u64 {
        self.0.borrow().index
    }

    /// An index that holds every entry: for tests that apply entries not in any log.
    #[cfg(test)]
    pub(crate) fn everything() -> DurableIndex {
        DurableIndex(
            watch::channel(Durable {
                index: u64::MAX,
                failed: None,
            })
            .1,
        )
    }

    #[cfg(test)]
    pub(crate) fn current(&self) -> Durable {
        self.0.borrow().clone()
    }
}

struct Pending {
    /// Files written since their last flush.
    files: Vec<Arc<File>>,
    /// The last index written to them.
    upto: u64,
    /// Whether the thread is flushing files it took. A change in line waits for that flush to
    /// end, so that no flush started before the change publishes an index after it.
    in_flight: bool,
    stop: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    durable: watch::Sender<Durable>,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fail(&self, why: String) {
        tracing::error!(error = %why, "flushing the raft log failed");
        self.durable.send_modify(|d| d.failed = Some(why));
    }
}

/// The flushing thread of one log. Dropping the handle stops the thread once it has flushed what
/// it was handed.
pub(crate) struct LogFlush {
    shared: Arc<Shared>,
}

impl LogFlush {
    /// Starts the thread; every entry up to `durable` is already on disk.
    pub(crate) fn start(durable: u64) -> io::Result<LogFlush> {
        let (sender, _) = watch::channel(Durable {
            index: durable,
            failed: None,
        });
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                files: Vec::new(),
                upto: durable,
                in_flight: false,
                stop: false,
            }),
            wake: Condvar::new(),
            durable: sender,
        });
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("raft-log-flush".into())
            .spawn(move || flush_loop(&thread_shared))?;
        Ok(LogFlush { shared })
    }

    pub(crate) fn durable_index(&self) -> DurableIndex {
        DurableIndex(self.shared.durable.subscribe())
    }

    /// Hands over entries up to `upto`, written to `file` and not yet flushed.
    pub(crate) fn flush_later(&self, file: &Arc<File>, upto: u64) {
        let mut pending = self.shared.pending();
        if !pending.files.iter().any(|f| Arc::ptr_eq(f, file)) {
            pending.files.push(file.clone());
        }
        pending.upto = upto;
        drop(pending);
        self.shared.wake.notify_all();
    }

    /// Flushes in line whatever was handed over and not flushed yet, before the log is changed
    /// in line (a follower's append, a truncation, a purge).
    pub(crate) fn flush_now(&self) -> io::Result<()> {
        // After a failed flush a later one may succeed with the failed pages lost: nothing
        // that is flushed in line may count as durable any more.
        if let Some(why) = &self.shared.durable.borrow().failed {
            return Err(io::Error::other(format!(
                "flushing the raft log failed earlier: {why}"
            )));
        }
        let files = {
            let mut pending = self.shared.pending();
            while pending.in_flight {
                pending = self
                    .shared
                    .wake
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            std::mem::take(&mut pending.files)
        };
        for file in &files {
            if let Err(e) = file.sync_data() {
                self.shared.fail(e.to_string());
                return Err(e);
            }
        }
        Ok(())
    }

    /// Records that the log, flushed in line, now ends durably at `last` (after a follower's
    /// append, a truncation or a purge). Call after [`Self::flush_now`].
    pub(crate) fn durable_in_line(&self, last: u64) {
        self.shared.pending().upto = last;
        self.shared.durable.send_if_modified(|d| {
            let changed = d.index != last;
            d.index = last;
            changed
        });
    }
}

impl Drop for LogFlush {
    fn drop(&mut self) {
        self.shared.pending().stop = true;
        self.shared.wake.notify_all();
    }
}

fn flush_loop(shared: &Shared) {
    loop {
        let (files, upto) = {
            let mut pending = shared.pending();
            while pending.files.is_empty() && !pending.stop {
                pending = shared
                    .wake
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if pending.files.is_empty() {
                return;
            }
            pending.in_flight = true;
            (std::mem::take(&mut pending.files), pending.upto)
        };
        let flushed = files.iter().try_for_each(|file| file.sync_data());
        let mut pending = shared.pending();
        pending.in_flight = false;
        match flushed {
            Ok(()) => {
                shared.durable.send_if_modified(|d| {
                    let advanced = upto > d.index;
                    d.index = d.index.max(upto);
                    advanced
                });
            }
            Err(e) => shared.fail(e.to_string()),
        }
        drop(pending);
        shared.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use super::*;

    fn file_in(dir: &tempfile::TempDir) -> Arc<File> {
        let mut file = File::create(dir.path().join("segment")).unwrap();
        file.write_all(b"entries").unwrap();
        Arc::new(file)
    }

    /// Whether `wait` is still waiting after a while.
    async fn still_waiting(wait: &mut (impl std::future::Future + Unpin)) -> bool {
        tokio::time::timeout(Duration::from_millis(50), wait)
            .await
            .is_err()
    }

    #[tokio::test]
    async fn the_durable_index_follows_the_flushes_handed_over() {
        let dir = tempfile::tempdir().unwrap();
        let flush = LogFlush::start(3).unwrap();
        let durable = flush.durable_index();
        durable.wait_for(3).await.unwrap();
        let mut wait = Box::pin(durable.wait_for(5));
        assert!(still_waiting(&mut wait).await, "nothing was handed over");
        flush.flush_later(&file_in(&dir), 5);
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .expect("the flush thread published index 5")
            .unwrap();
        assert_eq!(durable.current().index, 5);
    }

    #[tokio::test]
    async fn a_change_in_line_sets_the_index_even_backwards() {
        let dir = tempfile::tempdir().unwrap();
        let flush = LogFlush::start(0).unwrap();
        let durable = flush.durable_index();
        flush.flush_later(&file_in(&dir), 9);
        // A truncation: what was handed over is flushed first, then the log ends at 6.
        flush.flush_now().unwrap();
        flush.durable_in_line(6);
        assert_eq!(durable.current().index, 6);
        let mut wait = Box::pin(durable.wait_for(7));
        assert!(still_waiting(&mut wait).await, "index 7 is gone");
        // A follower's append, flushed in line.
        flush.durable_in_line(7);
        wait.await.unwrap();
    }

    #[tokio::test]
    async fn after_a_failed_flush_every_wait_fails() {
        let flush = LogFlush::start(2).unwrap();
        let durable = flush.durable_index();
        let mut wait = Box::pin(durable.wait_for(4));
        assert!(still_waiting(&mut wait).await);
        flush.shared.fail("disk on fire".into());
        let error = wait.await.unwrap_err().to_string();
        assert!(error.contains("disk on fire"), "{error}");
        // Even for what was durable before, and for what is flushed in line from now on.
        assert!(durable.wait_for(1).await.is_err());
        assert!(flush.flush_now().is_err());
    }
}
