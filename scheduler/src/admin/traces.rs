//! The leader's `launch` span (docs/operations.md, "Traces"): it covers a
//! launch from its request to its commit, continues the client's trace when
//! the client sends one, and is the parent that every later span of the
//! execution hangs from, on this leader and the next (its context is stored
//! with the execution through [`Command::Traced`]).

use std::collections::HashMap;

use baton_proto::LaunchRequest;
use baton_telemetry::TraceParent;
use tonic::metadata::MetadataMap;

use crate::state::Command;

/// The W3C headers a client may send in a request's gRPC metadata.
const HEADERS: [&str; 2] = ["traceparent", "tracestate"];

/// Takes the client's trace context from the gRPC metadata when the
/// request does not carry one itself, so that it reaches the leader
/// whichever node the request came in by.
pub(super) fn take_metadata_context(metadata: &MetadataMap, request: &mut LaunchRequest) {
    if !request.trace_context.is_empty() {
        return;
    }
    for header in HEADERS {
        if let Some(value) = metadata.get(header).and_then(|v| v.to_str().ok()) {
            request
                .trace_context
                .insert(header.to_owned(), value.to_owned());
        }
    }
}

/// A launch's span on the leader, and the parent it gives the execution.
pub(super) struct LaunchSpan {
    pub span: tracing::Span,
    pub parent: TraceParent,
}

impl LaunchSpan {
    /// The span of the launch `request` asks for.
    pub fn for_request(request: &LaunchRequest) -> Option<LaunchSpan> {
        let launches = request.workflow.as_ref().or(request.launch_plan.as_ref());
        Self::start(
            launches.map_or("", |id| id.name.as_str()),
            &request.trace_context,
        )
    }

    /// The span of launching `what` (a workflow, a launch plan, or the
    /// execution recovered); `None` unless this node exports traces.
    pub fn start(what: &str, client: &HashMap<String, String>) -> Option<LaunchSpan> {
        if !baton_telemetry::enabled() {
            return None;
        }
        let span = tracing::info_span!(
            target: baton_telemetry::TARGET,
            parent: None,
            "launch",
            otel.kind = "server",
            launches = %what,
            execution = tracing::field::Empty,
        );
        baton_telemetry::context::adopt_from(&span, client);
        let parent = TraceParent::of(&span)?;
        Some(LaunchSpan { span, parent })
    }

    /// `command`, a launch, marked as continuing this span's trace.
    pub fn mark(&self, command: Command) -> Command {
        Command::Traced {
            trace: self.parent,
            launch: Box::new(command),
        }
    }

    pub fn launched(&self, execution: &str) {
        self.span.record("execution", execution);
    }
}
