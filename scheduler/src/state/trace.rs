//! Executions that continue a trace ([`Command::Traced`]): the span the
//! launching leader's `launch` span was, kept with the execution so that
//! whichever node leads later parents its spans to the same trace
//! (docs/operations.md, "Traces").

use baton_telemetry::TraceParent;

use super::{Response, SchedulerState};

impl SchedulerState {
    /// Marks the execution a launch made as continuing `trace`. A launch
    /// answered with an execution made earlier under the same request id
    /// keeps the trace that one started with.
    pub(super) fn continue_trace(&mut self, response: &Response, trace: TraceParent) {
        if let Response::Launched { execution, .. } = response {
            if let Some(launched) = self.executions.get_mut(execution) {
                launched.trace.get_or_insert(trace);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use baton_model::{Identifier, Values};

    use crate::state::{register_command, Command, ExecutionId, Response, SchedulerState};

    const SPECS: &str = r#"
kind: Task
name: step
version: v1
interface: {inputs: {}, outputs: {}}
runner: {builtin: noop}
---
kind: Workflow
name: flow
version: v1
nodes: [{id: s, task: step@v1, inputs: {}}]
"#;

    fn trace(span: u8) -> baton_telemetry::TraceParent {
        baton_telemetry::TraceParent {
            trace_id: [7; 16],
            span_id: [span; 8],
            flags: 1,
        }
    }

    fn traced_launch(state: &mut SchedulerState, request_id: &str, span: u8) -> Response {
        let launch = Command::Launch {
            workflow: Identifier::parse("flow").unwrap(),
            inputs: Values::new(),
            pool: String::new(),
            request_id: request_id.into(),
            now_ms: 1,
        };
        state.apply_one(
            Command::Traced {
                trace: trace(span),
                launch: Box::new(launch),
            },
            &mut Vec::new(),
        )
    }

    fn launched(response: &Response) -> ExecutionId {
        match response {
            Response::Launched { execution, .. } => execution.clone(),
            other => panic!("not launched: {other:?}"),
        }
    }

    #[test]
    fn a_traced_launch_keeps_its_trace_and_a_retry_keeps_the_first() {
        let mut state = SchedulerState::default();
        state.apply_one(register_command(SPECS), &mut Vec::new());
        let first = launched(&traced_launch(&mut state, "r-1", 1));
        assert_eq!(state.executions[&first].trace, Some(trace(1)));
        // The same request again: the same execution, its trace untouched.
        let again = launched(&traced_launch(&mut state, "r-1", 2));
        assert_eq!(again, first);
        assert_eq!(state.executions[&first].trace, Some(trace(1)));
        // Round trip through the log's encoding.
        let command = Command::Traced {
            trace: trace(3),
            launch: Box::new(Command::Cancel {
                execution: first.clone(),
                now_ms: 2,
            }),
        };
        let bytes = postcard::to_allocvec(&command).unwrap();
        let read: Command = postcard::from_bytes(&bytes).unwrap();
        assert!(matches!(read, Command::Traced { trace: t, .. } if t == trace(3)));
    }

    #[test]
    fn a_refused_traced_launch_changes_nothing() {
        let mut state = SchedulerState::default();
        let response = traced_launch(&mut state, "", 1);
        assert!(matches!(response, Response::Rejected(_)), "{response:?}");
        assert!(state.executions.is_empty());
    }
}
