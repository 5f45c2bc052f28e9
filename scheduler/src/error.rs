//! The scheduler's one error type: a small code mapped to gRPC status codes,
//! and a lowercase message naming what is wrong. Callers branch on the code.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The request is malformed or refers to something in a wrong way.
    InvalidArgument,
    NotFound,
    /// The id exists with different content (a registered version never changes).
    AlreadyExists,
    /// The request does not fit the current state (e.g. cancel a finished execution).
    FailedPrecondition,
    /// This node is not the leader; certainly not applied.
    NotLeader,
    /// The outcome is unknown (e.g. a proposal timed out): re-read, never blindly retry.
    Unavailable,
    Internal,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct SchedulerError {
    pub code: ErrorCode,
    pub message: String,
}

impl SchedulerError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        SchedulerError {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

impl From<SchedulerError> for tonic::Status {
    fn from(e: SchedulerError) -> Self {
        let code = match e.code {
            ErrorCode::InvalidArgument => tonic::Code::InvalidArgument,
            ErrorCode::NotFound => tonic::Code::NotFound,
            ErrorCode::AlreadyExists => tonic::Code::AlreadyExists,
            ErrorCode::FailedPrecondition => tonic::Code::FailedPrecondition,
            ErrorCode::NotLeader | ErrorCode::Unavailable => tonic::Code::Unavailable,
            ErrorCode::Internal => tonic::Code::Internal,
        };
        tonic::Status::new(code, e.message)
    }
}

pub type Result<T, E = SchedulerError> = std::result::Result<T, E>;
