//! `LaunchBatch`'s own checks and how a refusal names the launch of the
//! batch it is about.

use baton_proto::{LaunchRequest, LaunchResponse};
use std::collections::HashMap;
use tonic::Status;

use crate::error::{ErrorCode, Problem, ProblemCode, SchedulerError};

/// Most launches one LaunchBatch request may hold.
pub const MAX_BATCH_LAUNCHES: usize = 10_000;

/// Refuses a batch that is empty, too large, or repeats a request id (the
/// second launch would silently answer with the first one's execution).
pub(super) fn check_batch(launches: &[LaunchRequest]) -> std::result::Result<(), Status> {
    if launches.is_empty() {
        return Err(Status::invalid_argument("the batch holds no launches"));
    }
    if launches.len() > MAX_BATCH_LAUNCHES {
        return Err(Status::invalid_argument(format!(
            "the batch holds {} launches; at most {MAX_BATCH_LAUNCHES} go in one batch",
            launches.len()
        )));
    }
    let mut first_with_id: HashMap<&str, usize> = HashMap::new();
    for (i, launch) in launches.iter().enumerate() {
        if launch.request_id.is_empty() {
            continue;
        }
        if let Some(first) = first_with_id.insert(&launch.request_id, i) {
            let message = format!(
                "launch #{} repeats the request id `{}` of launch #{}",
                i + 1,
                launch.request_id,
                first + 1
            );
            let problem = Problem::new(ProblemCode::Duplicate, message)
                .field("request_id")
                .item("launch", i);
            return Err(SchedulerError::problem(ErrorCode::InvalidArgument, problem).into());
        }
    }
    Ok(())
}

/// A refusal of one launch of a batch, naming it (counted from 1); its
/// problems are about that launch.
pub(super) fn in_batch(index: usize, status: &Status) -> Status {
    let message = format!("launch #{}: {}", index + 1, status.message());
    let mut problems = baton_proto::refusal::problems(status);
    if problems.is_empty() {
        problems.push(baton_proto::Problem::new(
            baton_proto::ProblemCode::Invalid,
            status.message(),
        ));
    }
    for problem in &mut problems {
        problem.item = "launch".into();
        problem.index = index as u32;
    }
    baton_proto::refusal::refuse(status.code(), message, problems)
}

/// A launch of a batch that the state machine refused after its check,
/// naming the launches of the batch that did go through.
pub(super) fn refused_midway(index: usize, status: &Status, launched: &[LaunchResponse]) -> Status {
    let status = in_batch(index, status);
    if launched.is_empty() {
        return status;
    }
    let ids: Vec<&str> = launched.iter().map(|a| a.execution_id.as_str()).collect();
    let message = format!(
        "{} (launched from this batch nonetheless: {})",
        status.message(),
        ids.join(", ")
    );
    baton_proto::refusal::refuse(
        status.code(),
        message,
        baton_proto::refusal::problems(&status),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(request_id: &str) -> LaunchRequest {
        LaunchRequest {
            request_id: request_id.into(),
            ..Default::default()
        }
    }

    fn refusal(launches: &[LaunchRequest]) -> String {
        let status = check_batch(launches).expect_err("the batch should be refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        status.message().to_owned()
    }

    #[test]
    fn a_batch_must_hold_launches_and_not_too_many() {
        assert_eq!(refusal(&[]), "the batch holds no launches");
        let too_many = vec![launch(""); MAX_BATCH_LAUNCHES + 1];
        assert!(refusal(&too_many).contains("holds 10001 launches; at most 10000"));
        assert!(check_batch(&vec![launch(""); MAX_BATCH_LAUNCHES]).is_ok());
    }

    #[test]
    fn a_launch_refused_at_apply_names_itself_and_what_went_through() {
        let refused = Status::failed_precondition("unknown workflow `w`");
        let alone = refused_midway(2, &refused, &[]);
        assert_eq!(alone.code(), tonic::Code::FailedPrecondition);
        assert_eq!(alone.message(), "launch #3: unknown workflow `w`");
        let others = [
            LaunchResponse {
                execution_id: "w-1".into(),
                ..Default::default()
            },
            LaunchResponse {
                execution_id: "w-4".into(),
                ..Default::default()
            },
        ];
        let midway = refused_midway(2, &refused, &others);
        assert_eq!(
            midway.message(),
            "launch #3: unknown workflow `w` (launched from this batch nonetheless: w-1, w-4)"
        );
        // The place travels as data: callers need not read the message.
        let problems = baton_proto::refusal::problems(&midway);
        assert_eq!(problems.len(), 1);
        assert_eq!(
            (problems[0].item.as_str(), problems[0].index),
            ("launch", 2)
        );
    }

    #[test]
    fn a_refused_launch_of_a_batch_keeps_its_problems_and_gains_its_place() {
        let problem = Problem::new(ProblemCode::TypeMismatch, "input `n` (int): expected int")
            .field("inputs.n");
        let status: Status = SchedulerError::problem(ErrorCode::InvalidArgument, problem).into();
        let placed = in_batch(4, &status);
        assert_eq!(placed.message(), "launch #5: input `n` (int): expected int");
        let problems = baton_proto::refusal::problems(&placed);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].code(), baton_proto::ProblemCode::TypeMismatch);
        assert_eq!(
            (
                problems[0].item.as_str(),
                problems[0].index,
                problems[0].field.as_str()
            ),
            ("launch", 4, "inputs.n")
        );
    }

    #[test]
    fn a_batch_may_not_repeat_a_request_id() {
        let repeated = [
            launch("a"),
            launch(""),
            launch("b"),
            launch(""),
            launch("a"),
        ];
        assert_eq!(
            refusal(&repeated),
            "launch #5 repeats the request id `a` of launch #1"
        );
        let problems = baton_proto::refusal::problems(&check_batch(&repeated).unwrap_err());
        assert_eq!(problems[0].code(), baton_proto::ProblemCode::Duplicate);
        assert_eq!(problems[0].index, 4);
        // Launches without an id are never idempotent, so never repeats.
        assert!(check_batch(&[launch(""), launch(""), launch("a")]).is_ok());
    }
}
