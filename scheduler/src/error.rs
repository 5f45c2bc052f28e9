//! The scheduler's one error type: a small code mapped to gRPC status codes,
//! a lowercase message naming what is wrong, and for a refused spec or
//! launch the [`Problem`]s one by one, each with its own code and place,
//! which travel in the gRPC status details. Callers branch on the codes.

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
    /// What is wrong, one by one; empty when the message says it all.
    pub problems: Vec<Problem>,
}

/// What kind of problem: the wire's `ProblemCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProblemCode {
    Invalid,
    VersionConflict,
    NotFound,
    TypeMismatch,
    Missing,
    UnknownName,
    Cycle,
    Duplicate,
}

/// One thing wrong with a request, and where: see the wire's `Problem`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub code: ProblemCode,
    /// `task`, `workflow` or `launch`, and its index in the request.
    pub item: String,
    pub index: u32,
    pub node: String,
    pub field: String,
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(code: ProblemCode, message: impl Into<String>) -> Self {
        Problem {
            code,
            item: String::new(),
            index: 0,
            node: String::new(),
            field: String::new(),
            path: String::new(),
            message: message.into(),
        }
    }

    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.node = node.into();
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }

    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// About item `index` (from 0) of the request's `item`s.
    pub fn item(mut self, item: &str, index: usize) -> Self {
        self.item = item.to_owned();
        self.index = index as u32;
        self
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<&Problem> for baton_proto::Problem {
    fn from(p: &Problem) -> Self {
        use baton_proto::ProblemCode as Wire;
        let code = match p.code {
            ProblemCode::Invalid => Wire::Invalid,
            ProblemCode::VersionConflict => Wire::VersionConflict,
            ProblemCode::NotFound => Wire::NotFound,
            ProblemCode::TypeMismatch => Wire::TypeMismatch,
            ProblemCode::Missing => Wire::Missing,
            ProblemCode::UnknownName => Wire::UnknownName,
            ProblemCode::Cycle => Wire::Cycle,
            ProblemCode::Duplicate => Wire::Duplicate,
        };
        baton_proto::Problem {
            code: code as i32,
            item: p.item.clone(),
            index: p.index,
            node: p.node.clone(),
            field: p.field.clone(),
            path: p.path.clone(),
            message: p.message.clone(),
        }
    }
}

impl SchedulerError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        SchedulerError {
            code,
            message: message.into(),
            problems: Vec::new(),
        }
    }

    /// A refusal for `problems`, its message theirs one per line.
    pub fn refused(code: ErrorCode, problems: Vec<Problem>) -> Self {
        SchedulerError {
            code,
            message: problems
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            problems,
        }
    }

    /// A refusal for one problem.
    pub fn problem(code: ErrorCode, problem: Problem) -> Self {
        Self::refused(code, vec![problem])
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
        if e.problems.is_empty() {
            tonic::Status::new(code, e.message)
        } else {
            baton_proto::refusal::refuse(
                code,
                e.message,
                e.problems.iter().map(Into::into).collect(),
            )
        }
    }
}

pub type Result<T, E = SchedulerError> = std::result::Result<T, E>;
