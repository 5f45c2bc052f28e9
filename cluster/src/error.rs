//! The crate's one error enum, [`ClusterError`], and its small code ([`ClusterErrorCode`]) that
//! callers branch on and that maps to a gRPC status code. Openraft's error types are converted
//! here and never leave the crate.

use openraft::error::CheckIsLeaderError;
use openraft::error::ClientWriteError;
use openraft::error::Fatal;
use openraft::error::ForwardToLeader;
use openraft::error::InitializeError;
use openraft::error::RaftError;
use openraft::BasicNode;

/// What went wrong in the cluster layer. Messages are lowercase and name the thing that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// This node is not the leader. A write that fails with this error was certainly **not**
    /// applied; it may be sent to the leader named here (when known).
    #[error("this node is not the leader (leader: {})", describe_leader(*.leader_id, .leader_addr.as_deref()))]
    NotLeader {
        leader_id: Option<u64>,
        leader_addr: Option<String>,
    },

    /// A proposal was handed to Raft but its outcome is unknown: it may or may not have been
    /// applied. Re-read the state; never retry blindly.
    #[error("write outcome unknown, the command may have been applied: {reason}")]
    WriteOutcomeUnknown { reason: String },

    /// The leader could not confirm its leadership with a quorum (linearizable read refused).
    #[error("no quorum confirmed leadership: {reason}")]
    NoQuorum { reason: String },

    /// A membership change was refused (nothing changed).
    #[error("membership change refused: {reason}")]
    MembershipChange { reason: String },

    /// Initializing the cluster was refused (nothing changed).
    #[error("cluster initialization refused: {reason}")]
    Initialize { reason: String },

    /// The node configuration is invalid.
    #[error("invalid cluster node config: {reason}")]
    Config { reason: String },

    /// The durable store (data directory, database, a record in it) failed or is corrupt.
    #[error("raft storage error: {reason}")]
    Storage { reason: String },

    /// The Raft node has stopped (shut down, or stopped by a fatal storage error).
    #[error("raft node stopped: {reason}")]
    Stopped { reason: String },

    /// Waiting for something (e.g. a leader) took longer than allowed.
    #[error("timed out waiting for {what}")]
    Timeout { what: String },
}

/// A small, stable classification of [`ClusterError`] for callers to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterErrorCode {
    /// Not the leader; certainly not applied. Redirect to the leader.
    NotLeader,
    /// Maybe applied; re-read before retrying.
    OutcomeUnknown,
    /// Temporarily unavailable (no quorum, stopped, timed out); nothing was changed.
    Unavailable,
    /// The request was invalid for the current state (membership, initialization, config).
    Rejected,
    /// Storage failure or corruption.
    Internal,
}

impl ClusterError {
    pub fn code(&self) -> ClusterErrorCode {
        match self {
            ClusterError::NotLeader { .. } => ClusterErrorCode::NotLeader,
            ClusterError::WriteOutcomeUnknown { .. } => ClusterErrorCode::OutcomeUnknown,
            ClusterError::NoQuorum { .. }
            | ClusterError::Stopped { .. }
            | ClusterError::Timeout { .. } => ClusterErrorCode::Unavailable,
            ClusterError::MembershipChange { .. }
            | ClusterError::Initialize { .. }
            | ClusterError::Config { .. } => ClusterErrorCode::Rejected,
            ClusterError::Storage { .. } => ClusterErrorCode::Internal,
        }
    }

    /// True when a failed write was certainly not applied (so it is safe to send it elsewhere).
    pub fn certainly_not_applied(&self) -> bool {
        matches!(self, ClusterError::NotLeader { .. })
    }

    pub(crate) fn storage(reason: impl std::fmt::Display) -> Self {
        ClusterError::Storage {
            reason: reason.to_string(),
        }
    }

    fn not_leader(forward: ForwardToLeader<u64, BasicNode>) -> Self {
        ClusterError::NotLeader {
            leader_id: forward.leader_id,
            leader_addr: forward.leader_node.map(|node| node.addr),
        }
    }

    fn from_fatal(fatal: Fatal<u64>) -> Self {
        match fatal {
            Fatal::StorageError(e) => ClusterError::Storage {
                reason: e.to_string(),
            },
            other => ClusterError::Stopped {
                reason: other.to_string(),
            },
        }
    }

    /// Classifies the failure of a client write. "Forward to leader" is certain not to have been
    /// applied only if the command never entered this node's log (`appended` is false): a command
    /// truncated from the log after this node lost leadership may still be committed by another
    /// leader. A fatal error may strike after the entry was proposed.
    pub(crate) fn from_write(
        e: RaftError<u64, ClientWriteError<u64, BasicNode>>,
        appended: bool,
    ) -> Self {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) if !appended => {
                Self::not_leader(forward)
            }
            RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
                ClusterError::WriteOutcomeUnknown {
                    reason: format!(
                        "this node lost leadership after the command entered its log; \
                         the new leader (node {:?}) may still commit it",
                        forward.leader_id
                    ),
                }
            }
            RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
                ClusterError::MembershipChange {
                    reason: e.to_string(),
                }
            }
            RaftError::Fatal(fatal) => ClusterError::WriteOutcomeUnknown {
                reason: fatal.to_string(),
            },
        }
    }

    /// Classifies the failure of a membership change (which is a write of its own).
    pub(crate) fn from_membership_change(
        e: RaftError<u64, ClientWriteError<u64, BasicNode>>,
    ) -> Self {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
                Self::not_leader(forward)
            }
            RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
                ClusterError::MembershipChange {
                    reason: e.to_string(),
                }
            }
            RaftError::Fatal(fatal) => Self::from_fatal(fatal),
        }
    }

    pub(crate) fn from_read_barrier(e: RaftError<u64, CheckIsLeaderError<u64, BasicNode>>) -> Self {
        match e {
            RaftError::APIError(CheckIsLeaderError::ForwardToLeader(forward)) => {
                Self::not_leader(forward)
            }
            RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)) => ClusterError::NoQuorum {
                reason: e.to_string(),
            },
            RaftError::Fatal(fatal) => Self::from_fatal(fatal),
        }
    }

    pub(crate) fn from_initialize(e: RaftError<u64, InitializeError<u64, BasicNode>>) -> Self {
        match e {
            RaftError::APIError(e) => ClusterError::Initialize {
                reason: e.to_string(),
            },
            RaftError::Fatal(fatal) => Self::from_fatal(fatal),
        }
    }
}

impl From<Fatal<u64>> for ClusterError {
    fn from(fatal: Fatal<u64>) -> Self {
        Self::from_fatal(fatal)
    }
}

impl From<&ClusterError> for tonic::Status {
    fn from(e: &ClusterError) -> Self {
        let message = e.to_string();
        match e.code() {
            ClusterErrorCode::NotLeader => tonic::Status::failed_precondition(message),
            ClusterErrorCode::OutcomeUnknown => tonic::Status::unknown(message),
            ClusterErrorCode::Unavailable => tonic::Status::unavailable(message),
            ClusterErrorCode::Rejected => tonic::Status::failed_precondition(message),
            ClusterErrorCode::Internal => tonic::Status::internal(message),
        }
    }
}

impl From<ClusterError> for tonic::Status {
    fn from(e: ClusterError) -> Self {
        tonic::Status::from(&e)
    }
}

fn describe_leader(leader_id: Option<u64>, leader_addr: Option<&str>) -> String {
    match (leader_id, leader_addr) {
        (Some(id), Some(addr)) => format!("node {id} at {addr}"),
        (Some(id), None) => format!("node {id}, address unknown"),
        (None, _) => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward_to_leader() -> RaftError<u64, ClientWriteError<u64, BasicNode>> {
        RaftError::APIError(ClientWriteError::ForwardToLeader(ForwardToLeader {
            leader_id: Some(2),
            leader_node: Some(BasicNode::new("127.0.0.1:7002")),
        }))
    }

    #[test]
    fn a_write_rejected_before_entering_the_log_is_certainly_not_applied() {
        let err = ClusterError::from_write(forward_to_leader(), false);
        assert!(err.certainly_not_applied());
        assert_eq!(err.code(), ClusterErrorCode::NotLeader);
        assert_eq!(
            err.to_string(),
            "this node is not the leader (leader: node 2 at 127.0.0.1:7002)"
        );
    }

    #[test]
    fn a_write_truncated_after_losing_leadership_may_have_been_applied() {
        let err = ClusterError::from_write(forward_to_leader(), true);
        assert!(!err.certainly_not_applied());
        assert_eq!(err.code(), ClusterErrorCode::OutcomeUnknown);
    }

    #[test]
    fn a_fatal_error_during_a_write_may_have_been_applied() {
        let err = ClusterError::from_write(RaftError::Fatal(Fatal::Stopped), false);
        assert_eq!(err.code(), ClusterErrorCode::OutcomeUnknown);
        assert_eq!(tonic::Status::from(&err).code(), tonic::Code::Unknown);
    }
}
