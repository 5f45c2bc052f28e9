//! A refusal's problems in a gRPC status: written by the scheduler, read by
//! every client, so that callers branch on [`ProblemCode`]s and places
//! instead of parsing messages. The details follow the standard rich error
//! model (a google.rpc.Status holding an Any), readable from any language.

use prost::Message;

use crate::{AnyDetail, Problem, ProblemCode, Refusal, RefusalStatus};

/// The Any type URL of a [`Refusal`].
pub const REFUSAL_TYPE_URL: &str = "type.googleapis.com/baton.v1.Refusal";

/// A status refusing a request for `problems`, which `message` says in
/// words (usually their messages, one per line).
pub fn refuse(code: tonic::Code, message: String, problems: Vec<Problem>) -> tonic::Status {
    let details = RefusalStatus {
        code: code as i32,
        message: message.clone(),
        details: vec![AnyDetail {
            type_url: REFUSAL_TYPE_URL.to_owned(),
            value: Refusal { problems }.encode_to_vec(),
        }],
    };
    tonic::Status::with_details(code, message, details.encode_to_vec().into())
}

/// The problems a status carries; empty when it carries none (a refusal
/// that is about nothing in particular, or not a refusal).
pub fn problems(status: &tonic::Status) -> Vec<Problem> {
    let Ok(details) = RefusalStatus::decode(status.details()) else {
        return Vec::new();
    };
    details
        .details
        .iter()
        .filter(|any| any.type_url == REFUSAL_TYPE_URL)
        .filter_map(|any| Refusal::decode(any.value.as_slice()).ok())
        .flat_map(|refusal| refusal.problems)
        .collect()
}

impl Problem {
    pub fn new(code: ProblemCode, message: impl Into<String>) -> Self {
        Problem {
            code: code as i32,
            message: message.into(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_round_trip_through_a_status() {
        let problem = Problem {
            item: "workflow".into(),
            index: 2,
            node: "select".into(),
            field: "inputs.scores".into(),
            path: "[3].margin".into(),
            ..Problem::new(
                ProblemCode::TypeMismatch,
                "node `select` input `scores`: expected float",
            )
        };
        let problems_sent = vec![problem.clone(), Problem::new(ProblemCode::Cycle, "cycle")];
        let message = "node `select` input `scores`: expected float\ncycle".to_owned();
        let status = refuse(tonic::Code::InvalidArgument, message, problems_sent);
        assert_eq!(
            status.message(),
            "node `select` input `scores`: expected float\ncycle"
        );
        let back = problems(&status);
        assert_eq!(back.len(), 2);
        assert_eq!(back[0], problem);
        assert_eq!(back[1].code(), ProblemCode::Cycle);
        assert!(problems(&tonic::Status::internal("x")).is_empty());
    }
}
