//! One attempt of one workflow node as it crosses the executor's actors:
//! its identity ([`AttemptKey`]), what the scheduler assigned
//! ([`Assignment`], read from the wire `Assign`) and what came of it
//! ([`Report`], written back to the wire as an `AttemptResult`).

use std::fmt;

use baton_model::value::{values_from_proto, values_to_proto};
use baton_model::{TaskSpec, Values};
use baton_proto::attempt_result::Outcome as WireOutcome;

/// Which attempt of which node of which execution.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttemptKey {
    pub execution_id: String,
    pub node_id: String,
    pub attempt: u32,
}

impl fmt::Display for AttemptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}#{}", self.execution_id, self.node_id, self.attempt)
    }
}

impl From<&baton_proto::AttemptRef> for AttemptKey {
    fn from(wire: &baton_proto::AttemptRef) -> Self {
        AttemptKey {
            execution_id: wire.execution_id.clone(),
            node_id: wire.node_id.clone(),
            attempt: wire.attempt,
        }
    }
}

impl From<&AttemptKey> for baton_proto::AttemptRef {
    fn from(key: &AttemptKey) -> Self {
        baton_proto::AttemptRef {
            execution_id: key.execution_id.clone(),
            node_id: key.node_id.clone(),
            attempt: key.attempt,
        }
    }
}

/// An attempt the scheduler handed to this executor.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    pub key: AttemptKey,
    pub task: TaskSpec,
    pub inputs: Values,
    /// The scheduler's dispatch span (W3C `traceparent`), when it records
    /// traces: the parent of this attempt's span.
    pub trace_context: std::collections::HashMap<String, String>,
}

/// Why a wire `Assign` cannot be run.
#[derive(Debug)]
pub struct BadAssignment {
    /// Known when the assignment named its attempt, so a failure can be reported.
    pub key: Option<AttemptKey>,
    pub reason: String,
}

impl TryFrom<&baton_proto::Assign> for Assignment {
    type Error = BadAssignment;

    fn try_from(assign: &baton_proto::Assign) -> Result<Self, BadAssignment> {
        let Some(attempt) = assign.attempt.as_ref() else {
            return Err(BadAssignment {
                key: None,
                reason: "the assignment names no attempt".into(),
            });
        };
        let key = AttemptKey::from(attempt);
        let bad = |reason: String| BadAssignment {
            key: Some(key.clone()),
            reason,
        };
        let task = assign
            .task
            .as_ref()
            .ok_or_else(|| bad("the assignment carries no task".into()))?;
        let task = TaskSpec::try_from(task).map_err(|e| bad(format!("bad task: {e}")))?;
        let inputs =
            values_from_proto(&assign.inputs).map_err(|e| bad(format!("bad inputs: {e}")))?;
        Ok(Assignment {
            key,
            task,
            inputs,
            trace_context: assign.trace_context.clone(),
        })
    }
}

/// Why an attempt did not succeed, and whether running it again may help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub retryable: bool,
    pub timed_out: bool,
    /// Never started (the executor is draining): not a failure of the
    /// task, it runs again elsewhere without using a retry.
    pub handed_back: bool,
}

impl Failure {
    /// A failure that may go away on another try (a crash, a non-zero exit).
    pub fn retryable(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            retryable: true,
            timed_out: false,
            handed_back: false,
        }
    }

    /// A failure that will happen again (a bad spec, outputs of the wrong type).
    pub fn permanent(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            retryable: false,
            timed_out: false,
            handed_back: false,
        }
    }

    /// The task ran past its timeout (retryable).
    pub fn timed_out(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            retryable: true,
            timed_out: true,
            handed_back: false,
        }
    }

    /// The attempt was not started and goes back to the scheduler.
    pub fn handed_back(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            retryable: true,
            timed_out: false,
            handed_back: true,
        }
    }

    /// The scheduler cancelled the attempt: not to be retried.
    pub fn cancelled() -> Self {
        Failure::permanent("cancelled")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Succeeded(Values),
    Failed(Failure),
}

/// What came of one attempt: its outcome and the size of its log (which
/// stays in the work directory, read on demand by the scheduler).
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub outcome: Outcome,
    pub log_size: u64,
}

impl Report {
    pub fn succeeded(outputs: Values, log_size: u64) -> Self {
        Report {
            outcome: Outcome::Succeeded(outputs),
            log_size,
        }
    }

    pub fn failed(failure: Failure, log_size: u64) -> Self {
        Report {
            outcome: Outcome::Failed(failure),
            log_size,
        }
    }

    pub fn failure(&self) -> Option<&Failure> {
        match &self.outcome {
            Outcome::Failed(failure) => Some(failure),
            Outcome::Succeeded(_) => None,
        }
    }

    /// The wire form of this report for attempt `key`.
    pub fn to_proto(&self, key: &AttemptKey) -> baton_proto::AttemptResult {
        let outcome = match &self.outcome {
            Outcome::Succeeded(values) => WireOutcome::Succeeded(baton_proto::Outputs {
                values: values_to_proto(values),
            }),
            Outcome::Failed(failure) => WireOutcome::Failed(baton_proto::AttemptFailure {
                message: failure.message.clone(),
                retryable: failure.retryable,
                timed_out: failure.timed_out,
                handed_back: failure.handed_back,
            }),
        };
        baton_proto::AttemptResult {
            attempt: Some(key.into()),
            outcome: Some(outcome),
            log_size: self.log_size,
        }
    }
}
