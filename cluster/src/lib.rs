//! Baton's Raft layer. It keeps openraft (pinned at 0.9.25) inside this crate and offers the rest
//! of Baton a small API to run a replicated, deterministic state machine whose logic lives
//! elsewhere (the scheduler crate):
//!
//! - [`StateMachine`]: the application's pure state machine (commands in, response and effects out);
//! - [`ClusterNode`]: one Raft node: open it on a data directory, initialize a new cluster,
//!   `write` commands, read the state locally or after a linearizable read barrier, follow
//!   leadership, and mount its [`RaftService`] on the node's tonic server;
//! - [`NodeConfig`]: identity, data directory and Raft tunables;
//! - [`ClusterError`]: the crate's one error enum.
//!
//! Data flow: `ClusterNode::write` proposes one command as one Raft log entry; the log store
//! (segment files in `DIR/log/`) makes it durable; once committed, the state-machine store applies it to
//! the shared `S`, returns the response to the writer and hands the effects produced by `apply` to
//! the node's [`EffectSink`]. Snapshots of `S`, the vote and the purge point are persisted in redb (`DIR/raft.redb`); a restarted node
//! loads the latest one and re-applies the committed log after it.

mod codec;
mod config;
mod db;
mod error;
mod log_file;
mod log_flush;
mod log_store;
mod network;
mod node;
mod service;
mod state_machine;
mod type_config;

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use crate::config::NodeConfig;
pub use crate::error::ClusterError;
pub use crate::error::ClusterErrorCode;
pub use crate::node::ClusterNode;
pub use crate::node::LeaderInfo;
pub use crate::node::Metrics;
pub use crate::node::PendingWrite;
pub use crate::node::RaftStatus;
pub use crate::service::RaftService;
pub use crate::service::RaftServiceServer;

/// Openraft's node role, as seen in [`Metrics::state`].
pub use openraft::ServerState;

/// The application state machine replicated by the cluster.
///
/// `apply` must be pure and deterministic: no clock, no I/O, no randomness (time and ids travel
/// inside the command). Every replica applies the same commands in the same order and must reach
/// the same state.
///
/// Serialization: commands (in log entries) and the whole state (in snapshots) are encoded with
/// postcard, a compact non-self-describing format. Their serde implementations must therefore not
/// rely on `deserialize_any`: no `#[serde(untagged)]`, no `#[serde(flatten)]`, no
/// `skip_serializing_if`, no `serde_json::Value` inside. Command enum variants are only ever
/// appended (postcard encodes the variant index).
pub trait StateMachine: Default + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// One Raft log entry's payload (the scheduler makes this a batch itself).
    type Command: Serialize + DeserializeOwned + Clone + Debug + Send + Sync + 'static;
    /// The result returned to the writer of a command. Blank and membership log entries produce
    /// `Response::default()`, which nobody receives.
    type Response: Serialize + DeserializeOwned + Clone + Debug + Default + Send + Sync + 'static;
    /// Side-effect notifications produced by `apply`, handed to the local node's services through
    /// the [`EffectSink`] given to [`ClusterNode::open`]. Entries re-applied after a restart produce
    /// their effects again; installing a snapshot produces none.
    type Effect: Send + 'static;

    /// Applies one committed command.
    fn apply(&mut self, command: Self::Command, effects: &mut Vec<Self::Effect>) -> Self::Response;
}

/// Where a node hands the effects of the commands it applies: in log order, right after each
/// batch of committed entries is applied, on openraft's apply task.
///
/// `deliver` runs on that task, so it must not block: hand the effects on (a channel send, a
/// broadcast) rather than act on them. It is called directly, not through a channel of its own,
/// so that an effect reaches its consumer without a task hand-off in between.
pub trait EffectSink<E>: Send + Sync + 'static {
    /// Takes the effects of one batch of applied entries, in order.
    fn deliver(&self, effects: std::vec::Drain<'_, E>);
}

/// The simplest sink: every effect on one channel, in order.
impl<E: Send + 'static> EffectSink<E> for tokio::sync::mpsc::UnboundedSender<E> {
    fn deliver(&self, effects: std::vec::Drain<'_, E>) {
        for effect in effects {
            if self.send(effect).is_err() {
                tracing::debug!("effect receiver is gone; dropping effects");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
