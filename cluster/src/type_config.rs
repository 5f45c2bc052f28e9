//! The openraft type configuration for a [`StateMachine`]: `TypeConfig<S>` ties openraft's
//! generic machinery to `S::Command` (one per log entry) and `S::Response`. It is written by hand
//! because `declare_raft_types!` cannot declare a generic config.

use std::cmp::Ordering;
use std::fmt;
use std::io::Cursor;
use std::marker::PhantomData;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;

use openraft::raft::responder::OneshotResponder;
use openraft::BasicNode;
use openraft::RaftTypeConfig;
use openraft::TokioRuntime;
use serde::Deserialize;
use serde::Serialize;

use crate::StateMachine;

/// The application data of one Normal log entry: one command.
///
/// On the node that proposes it, `appended` is a flag the log store raises when the entry enters
/// the leader's log. It is local and never serialized (the encoding is the command's alone): it
/// lets a writer told "not the leader" know whether its command was rejected before entering the
/// log (certainly not applied) or was truncated from the log after a leadership change (another
/// leader may still commit it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Proposal<C> {
    pub(crate) command: C,
    #[serde(skip)]
    pub(crate) appended: Option<Arc<AtomicBool>>,
}

impl<C> Proposal<C> {
    /// A proposal without the flag, like one decoded from the log.
    #[cfg(test)]
    pub(crate) fn new(command: C) -> Self {
        Proposal {
            command,
            appended: None,
        }
    }

    pub(crate) fn mark_appended(&self) {
        if let Some(appended) = &self.appended {
            appended.store(true, AtomicOrdering::Release);
        }
    }
}

/// What applying one log entry returned to its writer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Applied<R>(pub(crate) R);

/// Openraft's type configuration for state machine `S`. A zero-sized marker; the trait bounds
/// openraft asks for (`Copy`, `Ord`, ...) are implemented by hand so that they do not require the
/// same of `S`.
pub(crate) struct TypeConfig<S>(PhantomData<fn() -> S>);

impl<S: StateMachine> RaftTypeConfig for TypeConfig<S> {
    type D = Proposal<S::Command>;
    type R = Applied<S::Response>;
    type NodeId = u64;
    type Node = BasicNode;
    type Entry = openraft::Entry<Self>;
    type SnapshotData = Cursor<Vec<u8>>;
    type AsyncRuntime = TokioRuntime;
    type Responder = OneshotResponder<Self>;
}

impl<S> fmt::Debug for TypeConfig<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TypeConfig")
    }
}

impl<S> Clone for TypeConfig<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for TypeConfig<S> {}

impl<S> Default for TypeConfig<S> {
    fn default() -> Self {
        TypeConfig(PhantomData)
    }
}

impl<S> PartialEq for TypeConfig<S> {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl<S> Eq for TypeConfig<S> {}

impl<S> PartialOrd for TypeConfig<S> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<S> Ord for TypeConfig<S> {
    fn cmp(&self, _other: &Self) -> Ordering {
        Ordering::Equal
    }
}

/// Short names for the openraft types instantiated with [`TypeConfig`].
pub(crate) type Entry<S> = openraft::Entry<TypeConfig<S>>;
pub(crate) type LogId = openraft::LogId<u64>;
pub(crate) type Vote = openraft::Vote<u64>;
pub(crate) type StoredMembership = openraft::StoredMembership<u64, BasicNode>;
pub(crate) type SnapshotMeta = openraft::SnapshotMeta<u64, BasicNode>;
pub(crate) type StorageError = openraft::StorageError<u64>;
pub(crate) type Raft<S> = openraft::Raft<TypeConfig<S>>;
