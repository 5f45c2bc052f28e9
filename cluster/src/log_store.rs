//! The durable Raft log: openraft's `RaftLogStorage` and `RaftLogReader` over the entries in
//! segment files ([`crate::log_file`]) and the `meta` table of the node's redb database.
//!
//! Every write openraft relies on being durable is durable before the callback is called or the
//! method returns: a follower's `append` (of any number of entries) is one `pwrite` and one
//! `fdatasync` of the last segment; a leader's append of its own term's entries is one `pwrite`,
//! flushed beside replication, and nothing learns those entries are committed before the flush
//! is done ([`crate::log_flush`]); `save_vote` and the purge point are redb transactions with immediate
//! durability; a truncation is an fsynced `ftruncate` (and deleted segments). The committed log
//! id is only a hint for re-applying entries at start-up: openraft reports it after every commit,
//! on every node, so it is kept in memory and written at shutdown; after a crash a node re-applies
//! fewer entries at start-up and learns the rest from the leader, never wrong ones.
//! Records that fail to check or decode are reported as storage errors naming the entry. The
//! last appended entries are also kept decoded ([`RecentEntries`]), for the reads that follow
//! every append.

// openraft's storage traits dictate `StorageError` (a large type) as the error of every
// operation; the helpers below return the same type rather than converting at each call site.
#![allow(clippy::result_large_err)]

use std::collections::VecDeque;
use std::fmt::Debug;
use std::fmt::Display;
use std::io;
use std::marker::PhantomData;
use std::ops::Bound;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::PoisonError;

use openraft::storage::LogFlushed;
use openraft::storage::RaftLogStorage;
use openraft::AnyError;
use openraft::EntryPayload;
use openraft::ErrorSubject;
use openraft::ErrorVerb;
use openraft::LogState;
use openraft::OptionalSend;
use openraft::RaftLogReader;
use openraft::StorageIOError;
use redb::Database;
use redb::Durability;
use redb::ReadableDatabase;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec;
use crate::db::Db;
use crate::db::META;
use crate::db::META_COMMITTED;
use crate::db::META_LAST_PURGED;
use crate::db::META_VOTE;
use crate::log_file::Frame;
use crate::log_file::LogFile;
use crate::log_flush::DurableIndex;
use crate::log_flush::LogFlush;
use crate::type_config::Entry;
use crate::type_config::LogId;
use crate::type_config::StorageError;
use crate::type_config::TypeConfig;
use crate::type_config::Vote;
use crate::ClusterError;
use crate::StateMachine;

/// The directory of the log's segment files, in the node's data directory.
pub(crate) const LOG_DIR_NAME: &str = "log";

/// The Raft log of one node. Cloning gives another handle on the same database (the log reader).
pub(crate) struct LogStore<S: StateMachine> {
    /// This node: the entries of a term it leads are its own appends.
    node_id: u64,
    db: Db,
    entries: Arc<Mutex<LogFile>>,
    /// The vote last saved (or read at start-up).
    vote: Arc<Mutex<Option<Vote>>>,
    /// Flushes the leader's own appends beside replication.
    flush: Arc<LogFlush>,
    /// The entries appended last, decoded (see [`RecentEntries`]).
    recent: Arc<Mutex<RecentEntries<S>>>,
    /// The last committed index this node learned (0: none), for status reports.
    committed: Arc<AtomicU64>,
    /// The committed log id openraft last reported and that is not written yet.
    unsaved_committed: UnsavedCommitted,
    _state_machine: PhantomData<fn() -> S>,
}

impl<S: StateMachine> Clone for LogStore<S> {
    fn clone(&self) -> Self {
        LogStore {
            node_id: self.node_id,
            db: self.db.clone(),
            entries: self.entries.clone(),
            vote: self.vote.clone(),
            flush: self.flush.clone(),
            recent: self.recent.clone(),
            committed: self.committed.clone(),
            unsaved_committed: self.unsaved_committed.clone(),
            _state_machine: PhantomData,
        }
    }
}

impl<S: StateMachine> LogStore<S> {
    /// Opens the log of node `node_id`, whose database is `db`; the entries are in `log_dir`.
    /// Blocks.
    pub(crate) fn open(node_id: u64, db: Db, log_dir: &Path) -> Result<Self, ClusterError> {
        let purged: Option<LogId> = db
            .run_inline(|database| read_meta(database, META_LAST_PURGED, ErrorSubject::Logs))
            .map_err(|e| ClusterError::storage(format!("cannot read the purge point: {e}")))?;
        let cannot_open = |e: io::Error| {
            ClusterError::storage(format!(
                "cannot open the raft log in {}: {e}",
                log_dir.display()
            ))
        };
        let entries =
            LogFile::open(log_dir, purged.map(|log_id| log_id.index)).map_err(cannot_open)?;
        // A leader that crashed may have left appends that never reached the disk.
        entries.flush_last().map_err(cannot_open)?;
        let flush =
            Arc::new(LogFlush::start(entries.last_index().unwrap_or(0)).map_err(cannot_open)?);
        Ok(LogStore {
            node_id,
            db,
            entries: Arc::new(Mutex::new(entries)),
            vote: Arc::default(),
            unsaved_committed: UnsavedCommitted {
                committed: Arc::default(),
                flush: flush.clone(),
            },
            flush,
            recent: Arc::new(Mutex::new(RecentEntries::default())),
            committed: Arc::default(),
            _state_machine: PhantomData,
        })
    }

    /// How far the log is on disk, for what must not run ahead of it (applying entries, telling
    /// followers what is committed).
    pub(crate) fn durable_index(&self) -> DurableIndex {
        self.flush.durable_index()
    }

    /// Whether `entries` are this node's own, as the leader of the term it voted for: those are
    /// flushed beside replication. Anything else (a follower's append, a leader's entries of an
    /// earlier term) is flushed before `append` returns.
    pub(crate) fn own_term(&self, entries: &[Entry<S>]) -> bool {
        let vote = self.vote.lock().unwrap_or_else(PoisonError::into_inner);
        match &*vote {
            Some(vote) if self.leads_by(vote) => {
                entries.iter().all(|e| e.log_id.leader_id == vote.leader_id)
            }
            _ => false,
        }
    }

    /// Whether `vote` makes this node the leader of its term (granted by a quorum).
    fn leads_by(&self, vote: &Vote) -> bool {
        vote.committed && vote.leader_id.voted_for() == Some(self.node_id)
    }

    /// openraft 0.9 resumes leading at start-up when the saved vote is this node's own,
    /// committed. A leader's last appends may not have reached its disk before a power loss
    /// (they are flushed beside replication), yet followers may hold them: leading on in the
    /// same term would give new entries the log ids of lost ones, and followers compare entries
    /// by log id. So this node's own committed vote is read back as uncommitted (it voted for
    /// itself in that term, and still did), which makes it stand for election in a new term.
    fn no_leadership_across_restarts(&self, vote: Vote) -> Vote {
        if self.leads_by(&vote) {
            Vote::new(vote.leader_id.term, self.node_id)
        } else {
            vote
        }
    }

    fn remember_vote(&self, vote: Option<Vote>) {
        *self.vote.lock().unwrap_or_else(PoisonError::into_inner) = vote;
    }

    /// The committed log id not written yet, for the node to write at shutdown.
    pub(crate) fn unsaved_committed(&self) -> UnsavedCommitted {
        self.unsaved_committed.clone()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, LogFile> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, RecentEntries<S>> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets the decoded recent entries, so that reads go to the file.
    #[cfg(test)]
    pub(crate) fn forget_recent(&self) {
        *self.recent() = RecentEntries::default();
    }

    /// A live view of the last committed index this node learned (0: none).
    pub(crate) fn committed_index(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    #[cfg(test)]
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }
}

/// The last committed log id reported by openraft and not written to `meta` yet.
#[derive(Clone)]
pub(crate) struct UnsavedCommitted {
    committed: Arc<Mutex<Option<LogId>>>,
    /// Flushed before the id is written, so that the id never names an entry not on disk.
    flush: Arc<LogFlush>,
}

impl UnsavedCommitted {
    fn set(&self, log_id: LogId) {
        let mut unsaved = self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if unsaved.is_none_or(|saved| saved < log_id) {
            *unsaved = Some(log_id);
        }
    }

    pub(crate) fn take(&self) -> Option<LogId> {
        self.committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Writes the unsaved committed log id, durably, if there is one (blocks).
    pub(crate) fn save(&self, db: &Db) -> Result<(), ClusterError> {
        let Some(log_id) = self.take() else {
            return Ok(());
        };
        self.flush
            .flush_now()
            .map_err(|e| ClusterError::storage(format!("cannot flush the raft log: {e}")))?;
        db.run_inline(|database| {
            write_meta(
                database,
                META_COMMITTED,
                &Some(log_id),
                Durability::Immediate,
                ErrorSubject::Store,
            )
            .map_err(|e| {
                // Put it back for the next try, unless a newer one arrived meanwhile.
                self.set(log_id);
                ClusterError::storage(format!("cannot save the committed log id: {e}"))
            })
        })
    }
}

fn storage_error(
    subject: ErrorSubject<u64>,
    verb: ErrorVerb,
    message: impl Display,
) -> StorageError {
    StorageIOError::new(subject, verb, AnyError::error(message)).into()
}

/// Reads one `meta` value, `None` if it was never written.
pub(crate) fn read_meta<T: DeserializeOwned>(
    db: &Database,
    key: &'static str,
    subject: ErrorSubject<u64>,
) -> Result<Option<T>, StorageError> {
    let error = |message: String| storage_error(subject.clone(), ErrorVerb::Read, message);
    let txn = db
        .begin_read()
        .map_err(|e| error(format!("cannot begin read of meta {key}: {e}")))?;
    let table = txn
        .open_table(META)
        .map_err(|e| error(format!("cannot open table meta: {e}")))?;
    let Some(record) = table
        .get(key)
        .map_err(|e| error(format!("cannot read meta {key}: {e}")))?
    else {
        return Ok(None);
    };
    let value =
        codec::decode(record.value()).map_err(|e| error(format!("meta {key} is corrupt: {e}")))?;
    Ok(Some(value))
}

/// Writes one `meta` value in its own transaction.
fn write_meta<T: Serialize>(
    db: &Database,
    key: &'static str,
    value: &T,
    durability: Durability,
    subject: ErrorSubject<u64>,
) -> Result<(), StorageError> {
    let error = |message: String| storage_error(subject.clone(), ErrorVerb::Write, message);
    let record = codec::encode(value).map_err(|e| error(format!("meta {key}: {e}")))?;
    let mut txn = db
        .begin_write()
        .map_err(|e| error(format!("cannot begin write of meta {key}: {e}")))?;
    txn.set_durability(durability)
        .map_err(|e| error(format!("cannot set durability: {e}")))?;
    {
        let mut table = txn
            .open_table(META)
            .map_err(|e| error(format!("cannot open table meta: {e}")))?;
        table
            .insert(key, record.as_slice())
            .map_err(|e| error(format!("cannot write meta {key}: {e}")))?;
    }
    txn.commit()
        .map_err(|e| error(format!("cannot commit meta {key}: {e}")))
}

fn decode_entry<S: StateMachine>(index: u64, record: &[u8]) -> Result<Entry<S>, StorageError> {
    let error =
        |message: String| storage_error(ErrorSubject::LogIndex(index), ErrorVerb::Read, message);
    let entry: Entry<S> = codec::decode(record)
        .map_err(|e| error(format!("log entry at index {index} is corrupt: {e}")))?;
    if entry.log_id.index != index {
        return Err(error(format!(
            "log entry stored at index {index} carries log id {}",
            entry.log_id
        )));
    }
    Ok(entry)
}

fn read_entries<S: StateMachine>(
    log: &LogFile,
    (start, end): (Bound<u64>, Bound<u64>),
) -> Result<Vec<Entry<S>>, StorageError> {
    let Some((first, last)) = log
        .last_index()
        .and_then(|last| inclusive_range((start, end), last))
    else {
        return Ok(Vec::new());
    };
    let mut entries =
        Vec::with_capacity(last.saturating_sub(first).saturating_add(1).min(1024) as usize);
    for index in first..=last {
        let record = log.read(index).map_err(|e| {
            storage_error(
                ErrorSubject::LogIndex(index),
                ErrorVerb::Read,
                format!("cannot read log entry {index}: {e}"),
            )
        })?;
        // Below the first entry kept (purged) there is nothing to return.
        if let Some(record) = record {
            entries.push(decode_entry::<S>(index, &record)?);
        }
    }
    Ok(entries)
}

/// The first and last index of `(start, end)`, the end capped at `last`; `None` if that holds no
/// index.
fn inclusive_range((start, end): (Bound<u64>, Bound<u64>), last: u64) -> Option<(u64, u64)> {
    let first = match start {
        Bound::Included(i) => i,
        Bound::Excluded(i) => i.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let last = match end {
        Bound::Included(i) => i.min(last),
        Bound::Excluded(i) => i.checked_sub(1)?.min(last),
        Bound::Unbounded => last,
    };
    (first <= last).then_some((first, last))
}

fn read_log_state<S: StateMachine>(
    db: &Database,
    log: &LogFile,
) -> Result<LogState<TypeConfig<S>>, StorageError> {
    let last_purged_log_id: Option<LogId> = read_meta(db, META_LAST_PURGED, ErrorSubject::Logs)?;
    let last = match log.last_index() {
        Some(last) => read_entries::<S>(log, (Bound::Included(last), Bound::Included(last)))?
            .pop()
            .map(|entry| entry.log_id),
        None => None,
    };
    Ok(LogState {
        last_purged_log_id,
        last_log_id: last.or(last_purged_log_id),
    })
}

fn log_write_error(index: u64, message: impl Display) -> StorageError {
    storage_error(ErrorSubject::LogIndex(index), ErrorVerb::Write, message)
}

impl<S: StateMachine> RaftLogReader<TypeConfig<S>> for LogStore<S> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<S>>, StorageError> {
        let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
        if let Some(entries) = self.recent().get(bounds) {
            return Ok(entries);
        }
        read_entries::<S>(&self.entries(), bounds)
    }
}

impl<S: StateMachine> RaftLogStorage<TypeConfig<S>> for LogStore<S> {
    type LogReader = LogStore<S>;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig<S>>, StorageError> {
        let entries = self.entries.clone();
        self.db
            .run(move |db| {
                let log = entries.lock().unwrap_or_else(PoisonError::into_inner);
                read_log_state::<S>(db, &log)
            })
            .await
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let vote = *vote;
        tracing::debug!(%vote, "saving vote");
        self.db
            .run(move |db| {
                write_meta(
                    db,
                    META_VOTE,
                    &vote,
                    Durability::Immediate,
                    ErrorSubject::Vote,
                )
            })
            .await?;
        self.remember_vote(Some(vote));
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        let vote: Option<Vote> = self
            .db
            .run(|db| read_meta(db, META_VOTE, ErrorSubject::Vote))
            .await?;
        let vote = vote.map(|vote| self.no_leadership_across_restarts(vote));
        self.remember_vote(vote);
        Ok(vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        if let Some(log_id) = committed {
            self.committed.fetch_max(log_id.index, Ordering::Relaxed);
            self.unsaved_committed.set(log_id);
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let committed: Option<Option<LogId>> = self
            .db
            .run(|db| read_meta(db, META_COMMITTED, ErrorSubject::Store))
            .await?;
        let committed = committed.flatten();
        if let Some(log_id) = committed {
            self.committed.fetch_max(log_id.index, Ordering::Relaxed);
        }
        Ok(committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig<S>>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<S>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<S>> = entries.into_iter().collect();
        for entry in &entries {
            if let EntryPayload::Normal(proposal) = &entry.payload {
                proposal.mark_appended();
            }
        }
        if entries.is_empty() {
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        // openraft 0.9.25 waits for the callback inside its core loop and
        // replicates only after it: the leader's own entries are called
        // appended once written, and flushed beside replication.
        let count = entries.len();
        let own = self.own_term(&entries);
        let result = self.append_entries(entries, own);
        match result {
            Ok(()) => {
                tracing::trace!(count, "appended log entries");
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                tracing::error!(count, error = %e, "appending log entries failed");
                callback.log_io_completed(Err(io::Error::other(e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(%log_id, "truncating log from (inclusive)");
        let cannot =
            |e: io::Error| log_write_error(log_id.index, format!("cannot truncate the log: {e}"));
        self.recent().truncate_from(log_id.index);
        let mut entries = self.entries();
        self.flush.flush_now().map_err(cannot)?;
        entries.truncate_from(log_id.index).map_err(cannot)?;
        self.flush
            .durable_in_line(entries.last_index().unwrap_or(0));
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(%log_id, "purging log up to (inclusive)");
        // The purge point is durable before any entry goes, so that a crash part way is
        // finished when the log is next opened.
        self.db
            .run(move |db| {
                write_meta(
                    db,
                    META_LAST_PURGED,
                    &log_id,
                    Durability::Immediate,
                    ErrorSubject::Logs,
                )
            })
            .await?;
        self.recent().purge_upto(log_id.index);
        self.entries()
            .purge_upto(log_id.index)
            .map_err(|e| log_write_error(log_id.index, format!("cannot purge the log: {e}")))
    }
}

impl<S: StateMachine> LogStore<S> {
    /// Encodes the entries and appends them to the log file, durably unless they are the
    /// leader's `own` (then flushed by [`LogFlush`]); then keeps them among the recent entries.
    pub(crate) fn append_entries(
        &self,
        entries: Vec<Entry<S>>,
        own: bool,
    ) -> Result<(), StorageError> {
        let mut records = Vec::with_capacity(entries.len());
        for entry in &entries {
            let record = codec::encode(entry).map_err(|e| {
                log_write_error(
                    entry.log_id.index,
                    format!("log entry {}: {e}", entry.log_id),
                )
            })?;
            records.push(record);
        }
        let frames: Vec<Frame<'_>> = entries
            .iter()
            .zip(&records)
            .map(|(entry, record)| Frame {
                index: entry.log_id.index,
                record,
            })
            .collect();
        let first = entries.first().map_or(0, |e| e.log_id.index);
        let last = entries.last().map_or(0, |e| e.log_id.index);
        let cannot = |e: io::Error| {
            log_write_error(
                first,
                format!("cannot append {} log entries: {e}", entries.len()),
            )
        };
        {
            let mut log = self.entries();
            if own {
                if let Some(file) = log.append_unsynced(&frames).map_err(cannot)? {
                    self.flush.flush_later(&file, last);
                }
            } else {
                self.flush.flush_now().map_err(cannot)?;
                log.append(&frames).map_err(cannot)?;
                self.flush.durable_in_line(last);
            }
        }
        let sizes = records.iter().map(Vec::len);
        self.recent().push(entries.into_iter().zip(sizes));
        Ok(())
    }
}

/// How many of the last appended entries are kept decoded, and up to how many encoded bytes. An
/// entry larger than the byte limit (the registration of a very large workflow) is not kept: the
/// memory ceiling of the scale run counts every process.
pub(crate) const RECENT_ENTRIES: usize = 256;
pub(crate) const RECENT_BYTES: usize = 4 * 1024 * 1024;

/// The entries appended last, decoded, in index order without gaps. openraft reads every entry
/// back right after appending it: the leader once per follower to replicate it, every node to
/// apply it. A clone of a kept entry costs less than reading the record, checking its checksum
/// and decoding it (reading entries back was 8% of a scheduler's CPU with 3,000 launches at once).
/// Truncation and purge drop what they remove; anything not kept is read from the file.
pub(crate) struct RecentEntries<S: StateMachine> {
    entries: VecDeque<(Entry<S>, usize)>,
    bytes: usize,
}

impl<S: StateMachine> Default for RecentEntries<S> {
    fn default() -> Self {
        RecentEntries {
            entries: VecDeque::new(),
            bytes: 0,
        }
    }
}

impl<S: StateMachine> RecentEntries<S> {
    /// Keeps newly appended entries (with their encoded sizes), dropping the oldest beyond the
    /// limits. Entries that do not continue the kept ones replace them.
    pub(crate) fn push(&mut self, appended: impl IntoIterator<Item = (Entry<S>, usize)>) {
        for (entry, size) in appended {
            if self
                .entries
                .back()
                .is_some_and(|(last, _)| last.log_id.index + 1 != entry.log_id.index)
            {
                self.entries.clear();
                self.bytes = 0;
            }
            self.bytes += size;
            self.entries.push_back((entry, size));
        }
        while self.entries.len() > RECENT_ENTRIES || self.bytes > RECENT_BYTES {
            match self.entries.pop_front() {
                Some((_, size)) => self.bytes -= size,
                None => break,
            }
        }
    }

    /// Clones of the entries in `range`, if every one of them is kept.
    /// An empty range, or one that starts before the kept entries (an unbounded start is the
    /// log's first entry), is left to the file.
    pub(crate) fn get(&self, range: (Bound<u64>, Bound<u64>)) -> Option<Vec<Entry<S>>> {
        let first_kept = self.entries.front()?.0.log_id.index;
        let last_kept = self.entries.back()?.0.log_id.index;
        if range.0 == Bound::Unbounded {
            return None;
        }
        let (first, last) = inclusive_range(range, last_kept)?;
        if first < first_kept {
            return None;
        }
        let skip = (first - first_kept) as usize;
        let count = (last - first + 1) as usize;
        Some(
            self.entries
                .iter()
                .skip(skip)
                .take(count)
                .map(|(entry, _)| entry.clone())
                .collect(),
        )
    }

    pub(crate) fn truncate_from(&mut self, index: u64) {
        while self
            .entries
            .back()
            .is_some_and(|(entry, _)| entry.log_id.index >= index)
        {
            if let Some((_, size)) = self.entries.pop_back() {
                self.bytes -= size;
            }
        }
    }

    pub(crate) fn purge_upto(&mut self, index: u64) {
        while self
            .entries
            .front()
            .is_some_and(|(entry, _)| entry.log_id.index <= index)
        {
            if let Some((_, size)) = self.entries.pop_front() {
                self.bytes -= size;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_ranges_are_recognised() {
        let whole = u64::MAX;
        let range = |start, end| inclusive_range((start, end), whole);
        assert_eq!(range(Bound::Included(5), Bound::Excluded(5)), None);
        assert_eq!(range(Bound::Included(6), Bound::Included(5)), None);
        assert_eq!(range(Bound::Excluded(u64::MAX), Bound::Unbounded), None);
        assert_eq!(range(Bound::Included(5), Bound::Included(5)), Some((5, 5)));
        assert_eq!(range(Bound::Unbounded, Bound::Excluded(1)), Some((0, 0)));
        assert_eq!(range(Bound::Unbounded, Bound::Excluded(0)), None);
    }

    #[test]
    fn a_range_ends_at_the_last_index() {
        assert_eq!(
            inclusive_range((Bound::Included(3), Bound::Unbounded), 7),
            Some((3, 7))
        );
        assert_eq!(
            inclusive_range((Bound::Included(3), Bound::Included(9)), 7),
            Some((3, 7))
        );
        assert_eq!(
            inclusive_range((Bound::Included(8), Bound::Included(9)), 7),
            None
        );
    }
}
