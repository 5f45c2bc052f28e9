//! The state-machine side of openraft's storage: `RaftStateMachine` and `RaftSnapshotBuilder` for
//! an application [`StateMachine`] `S`.
//!
//! The state `S` lives in memory behind an `Arc<RwLock<S>>` that local readers share. `apply`
//! applies committed entries in order under the write lock, records the last applied log id and
//! the last membership, and then hands the effects `S::apply` produced to the node's
//! [`EffectSink`]. Durability comes from snapshots: `build_snapshot` encodes `S` together with its
//! last applied log id and membership and stores it in the `snapshot` table (one fsynced
//! transaction) before returning; on open the latest stored snapshot is loaded, and openraft
//! re-applies the committed log entries after it.
//!
//! Lock order: the state lock, then the applied-position lock (`AppliedPosition`), so a snapshot
//! that holds the state's read lock sees the position matching that state.

// openraft's storage traits dictate `StorageError` (a large type) as the error of every
// operation; the helpers below return the same type rather than converting at each call site.
#![allow(clippy::result_large_err)]

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::RwLock;
use std::time::SystemTime;
use std::time::UNIX_EPOCH;

use openraft::storage::RaftStateMachine;
use openraft::storage::Snapshot;
use openraft::AnyError;
use openraft::EntryPayload;
use openraft::OptionalSend;
use openraft::RaftSnapshotBuilder;
use openraft::StorageIOError;
use redb::Database;
use redb::Durability;
use redb::ReadableDatabase;
use serde::Deserialize;
use serde::Serialize;

use crate::codec;
use crate::db::Db;
use crate::db::SNAPSHOT;
use crate::db::SNAPSHOT_CURRENT;
use crate::log_flush::DurableIndex;
use crate::type_config::Applied;
use crate::type_config::Entry;
use crate::type_config::LogId;
use crate::type_config::Proposal;
use crate::type_config::SnapshotMeta;
use crate::type_config::StorageError;
use crate::type_config::StoredMembership;
use crate::type_config::TypeConfig;
use crate::ClusterError;
use crate::EffectSink;
use crate::StateMachine;

/// How far the in-memory state has got: what a snapshot of it must record.
#[derive(Debug, Clone, Default)]
struct AppliedPosition {
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
}

/// A snapshot as stored in the `snapshot` table: openraft's metadata and the encoded state.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    /// `codec::encode(&S)`; this is also the snapshot data sent to followers.
    data: Vec<u8>,
}

/// The replicated state machine of one node.
pub(crate) struct StateMachineStore<S: StateMachine> {
    state: Arc<RwLock<S>>,
    position: Arc<Mutex<AppliedPosition>>,
    db: Db,
    effects: Box<dyn EffectSink<S::Effect>>,
    /// How far the log is on disk: an entry is applied only once it is durable on this node
    /// ([`crate::log_flush`]).
    durable: DurableIndex,
    /// The size of the latest snapshot stored here (built, installed or loaded).
    snapshot_bytes: Arc<AtomicU64>,
}

/// Builds a snapshot of the state on openraft's snapshot task.
pub(crate) struct SnapshotBuilder<S> {
    state: Arc<RwLock<S>>,
    position: Arc<Mutex<AppliedPosition>>,
    db: Db,
    snapshot_bytes: Arc<AtomicU64>,
}

fn snapshot_read_error(message: impl std::fmt::Display) -> StorageError {
    StorageIOError::read_snapshot(None, AnyError::error(message)).into()
}

fn snapshot_write_error(message: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_snapshot(None, AnyError::error(message)).into()
}

fn read_stored_snapshot(db: &Database) -> Result<Option<StoredSnapshot>, StorageError> {
    let txn = db
        .begin_read()
        .map_err(|e| snapshot_read_error(format!("cannot begin read of snapshot: {e}")))?;
    let table = txn
        .open_table(SNAPSHOT)
        .map_err(|e| snapshot_read_error(format!("cannot open table snapshot: {e}")))?;
    let Some(record) = table
        .get(SNAPSHOT_CURRENT)
        .map_err(|e| snapshot_read_error(format!("cannot read stored snapshot: {e}")))?
    else {
        return Ok(None);
    };
    let stored: StoredSnapshot = codec::decode(record.value())
        .map_err(|e| snapshot_read_error(format!("stored snapshot is corrupt: {e}")))?;
    Ok(Some(stored))
}

/// Replaces the stored snapshot, durably.
fn write_stored_snapshot(db: &Database, stored: &StoredSnapshot) -> Result<(), StorageError> {
    let snapshot_id = &stored.meta.snapshot_id;
    let record = codec::encode(stored)
        .map_err(|e| snapshot_write_error(format!("snapshot {snapshot_id}: {e}")))?;
    let mut txn = db.begin_write().map_err(|e| {
        snapshot_write_error(format!("cannot begin write of snapshot {snapshot_id}: {e}"))
    })?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| snapshot_write_error(format!("cannot set durability: {e}")))?;
    {
        let mut table = txn
            .open_table(SNAPSHOT)
            .map_err(|e| snapshot_write_error(format!("cannot open table snapshot: {e}")))?;
        table
            .insert(SNAPSHOT_CURRENT, record.as_slice())
            .map_err(|e| {
                snapshot_write_error(format!("cannot write snapshot {snapshot_id}: {e}"))
            })?;
    }
    txn.commit()
        .map_err(|e| snapshot_write_error(format!("cannot commit snapshot {snapshot_id}: {e}")))
}

fn decode_state<S: StateMachine>(stored: &StoredSnapshot) -> Result<S, StorageError> {
    codec::decode(&stored.data).map_err(|e| {
        snapshot_read_error(format!(
            "state in snapshot {} does not decode: {e}",
            stored.meta.snapshot_id
        ))
    })
}

impl<S: StateMachine> StateMachineStore<S> {
    /// Opens the state machine from the latest stored snapshot, or empty (`S::default()`).
    pub(crate) async fn open(
        db: Db,
        effects: Box<dyn EffectSink<S::Effect>>,
        durable: DurableIndex,
    ) -> Result<Self, ClusterError> {
        let loaded = db
            .run(|db| {
                let Some(stored) = read_stored_snapshot(db)? else {
                    return Ok(None);
                };
                let state = decode_state::<S>(&stored)?;
                Ok::<_, StorageError>(Some((stored.meta, state, stored.data.len())))
            })
            .await
            .map_err(ClusterError::storage)?;
        let snapshot_bytes = Arc::new(AtomicU64::new(0));
        let (state, position) = match loaded {
            Some((meta, state, bytes)) => {
                snapshot_bytes.store(bytes as u64, Ordering::Relaxed);
                tracing::info!(snapshot_id = %meta.snapshot_id, last_applied = ?meta.last_log_id, "loaded state machine from snapshot");
                let position = AppliedPosition {
                    last_applied: meta.last_log_id,
                    last_membership: meta.last_membership,
                };
                (state, position)
            }
            None => (S::default(), AppliedPosition::default()),
        };
        Ok(StateMachineStore {
            state: Arc::new(RwLock::new(state)),
            position: Arc::new(Mutex::new(position)),
            db,
            effects,
            durable,
            snapshot_bytes,
        })
    }

    /// The size of the latest snapshot stored on this node, kept up to date.
    pub(crate) fn snapshot_bytes(&self) -> Arc<AtomicU64> {
        self.snapshot_bytes.clone()
    }

    /// The shared in-memory state, for local reads.
    pub(crate) fn state(&self) -> Arc<RwLock<S>> {
        self.state.clone()
    }
}

impl<S: StateMachine> RaftStateMachine<TypeConfig<S>> for StateMachineStore<S> {
    type SnapshotBuilder = SnapshotBuilder<S>;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let position = self
            .position
            .lock()
            .expect("applied position lock poisoned");
        Ok((position.last_applied, position.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied<S::Response>>, StorageError>
    where
        I: IntoIterator<Item = Entry<S>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<S>> = entries.into_iter().collect();
        if let Some(last) = entries.last() {
            // The leader counts its own copy before its flush ends: apply (and so answer
            // writers) only what is on disk here too.
            self.durable
                .wait_for(last.log_id.index)
                .await
                .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        }
        let mut replies = Vec::with_capacity(entries.len());
        // A fresh vector each time: keeping one would hold on to the capacity of the largest
        // batch ever applied (a 100,000-node launch's effects) for the node's life.
        let mut effects = Vec::new();
        {
            let mut state = self.state.write().expect("state lock poisoned");
            let mut position = self
                .position
                .lock()
                .expect("applied position lock poisoned");
            for entry in entries {
                position.last_applied = Some(entry.log_id);
                let reply = match entry.payload {
                    EntryPayload::Blank => Applied::default(),
                    EntryPayload::Normal(Proposal { command, .. }) => {
                        Applied(state.apply(command, &mut effects))
                    }
                    EntryPayload::Membership(membership) => {
                        position.last_membership =
                            StoredMembership::new(Some(entry.log_id), membership);
                        Applied::default()
                    }
                };
                replies.push(reply);
            }
        }
        self.effects.deliver(effects.drain(..));
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            state: self.state.clone(),
            position: self.position.clone(),
            db: self.db.clone(),
            snapshot_bytes: self.snapshot_bytes.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        tracing::info!(snapshot_id = %meta.snapshot_id, last_log_id = ?meta.last_log_id, "installing snapshot");
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: snapshot.into_inner(),
        };
        self.snapshot_bytes
            .store(stored.data.len() as u64, Ordering::Relaxed);
        let new_state = self
            .db
            .run(move |db| {
                let new_state = decode_state::<S>(&stored)?;
                write_stored_snapshot(db, &stored)?;
                Ok::<_, StorageError>(new_state)
            })
            .await?;
        let mut state = self.state.write().expect("state lock poisoned");
        let mut position = self
            .position
            .lock()
            .expect("applied position lock poisoned");
        *state = new_state;
        position.last_applied = meta.last_log_id;
        position.last_membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig<S>>>, StorageError> {
        let stored = self.db.run(read_stored_snapshot).await?;
        Ok(stored.map(|stored| Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        }))
    }
}

impl<S: StateMachine> RaftSnapshotBuilder<TypeConfig<S>> for SnapshotBuilder<S> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig<S>>, StorageError> {
        let state = self.state.clone();
        let position = self.position.clone();
        let stored = self
            .db
            .run(move |db| {
                let (position, data) = {
                    let state = state.read().expect("state lock poisoned");
                    let position = position
                        .lock()
                        .expect("applied position lock poisoned")
                        .clone();
                    let data = codec::encode(&*state).map_err(|e| {
                        snapshot_write_error(format!("state machine does not encode: {e}"))
                    })?;
                    (position, data)
                };
                let meta = SnapshotMeta {
                    last_log_id: position.last_applied,
                    last_membership: position.last_membership,
                    snapshot_id: new_snapshot_id(position.last_applied),
                };
                let stored = StoredSnapshot { meta, data };
                write_stored_snapshot(db, &stored)?;
                Ok::<_, StorageError>(stored)
            })
            .await?;
        tracing::info!(snapshot_id = %stored.meta.snapshot_id, bytes = stored.data.len(), "built snapshot");
        self.snapshot_bytes
            .store(stored.data.len() as u64, Ordering::Relaxed);
        Ok(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }
}

/// A snapshot id unique on this node: the last included log id and the build time.
fn new_snapshot_id(last_applied: Option<LogId>) -> String {
    let built_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    match last_applied {
        Some(log_id) => format!(
            "{}-{}-{}-{built_at}",
            log_id.leader_id.term, log_id.leader_id.node_id, log_id.index
        ),
        None => format!("empty-{built_at}"),
    }
}
