//! The leader's trace spans of dispatched work (docs/operations.md,
//! "Traces"): a `node` span per node instance, from its first dispatch by
//! this leader to its terminal phase, and under it a `dispatch` span per
//! attempt, from its assignment to its result, its lost lease or its
//! cancellation. The `Assign` carries the dispatch span's context to the
//! executor, whose `attempt` span is its child.
//!
//! They live in leader memory only and end when they are settled (a span is
//! exported when it ends). A leader that steps down ends its own; the next
//! one starts new spans in the same trace, whose parent every execution
//! keeps in the state. Nothing here runs unless the node exports traces.

use std::collections::HashMap;

use baton_telemetry::{TraceParent, TARGET};

use super::book::NodeKey;
use crate::state::{Event, EventSubject, ExecutionId};

/// Whether an applied event ends spans: a node's once it reaches a terminal
/// phase (however it got there: its result, its last retry, a
/// cancellation), every span of an execution once it has finished. Only
/// such events reach the dispatcher's spans (`node::EffectRouter`).
pub fn ends_spans(event: &Event, finished: bool) -> bool {
    finished || matches!(event.subject, EventSubject::Node { phase, .. } if phase.is_terminal())
}

/// Open spans by execution, then by node instance.
#[derive(Default)]
pub(super) struct Spans {
    executions: HashMap<ExecutionId, HashMap<u32, NodeSpans>>,
}

struct NodeSpans {
    node: tracing::Span,
    /// The dispatch span of the node's current attempt, with its number.
    attempt: Option<(u32, tracing::Span)>,
}

impl Spans {
    /// Starts the `dispatch` span of `attempt` of node `key` (and the
    /// node's span, at its first dispatch here) in the trace of `parent`;
    /// the context to send with the assignment.
    pub fn dispatched(
        &mut self,
        parent: &TraceParent,
        key: &NodeKey,
        path: &str,
        attempt: u32,
        executor: &str,
    ) -> HashMap<String, String> {
        let spans = self
            .executions
            .entry(key.0.clone())
            .or_default()
            .entry(key.1)
            .or_insert_with(|| {
                let node = tracing::info_span!(
                    target: TARGET,
                    parent: None,
                    "node",
                    execution = %key.0,
                    node = %path,
                    outcome = tracing::field::Empty,
                );
                parent.adopt(&node);
                NodeSpans {
                    node,
                    attempt: None,
                }
            });
        let dispatch = tracing::info_span!(
            target: TARGET,
            parent: &spans.node,
            "dispatch",
            otel.kind = "client",
            execution = %key.0,
            node = %path,
            attempt,
            executor = %executor,
            outcome = tracing::field::Empty,
        );
        let context = baton_telemetry::context::inject(&dispatch);
        // An earlier attempt's span still open (its assignment was
        // refused) ends here.
        spans.attempt = Some((attempt, dispatch));
        context
    }

    /// Ends the dispatch span of `attempt` of `key` with its `outcome`
    /// (another attempt's result leaves the current one open).
    pub fn settled(&mut self, key: &NodeKey, attempt: u32, outcome: &str) {
        if self.executions.is_empty() {
            return;
        }
        let Some(spans) = self
            .executions
            .get_mut(&key.0)
            .and_then(|nodes| nodes.get_mut(&key.1))
        else {
            return;
        };
        if let Some((_, span)) = spans.attempt.take_if(|(sent, _)| *sent == attempt) {
            span.record("outcome", outcome);
        }
    }

    /// Ends the spans an applied event closes (see [`ends_spans`]).
    pub fn on_event(&mut self, execution: &ExecutionId, event: &Event, finished: bool) {
        if self.executions.is_empty() || !ends_spans(event, finished) {
            return;
        }
        if finished {
            self.executions.remove(execution);
            return;
        }
        let EventSubject::Node { node, phase, .. } = &event.subject else {
            return;
        };
        if let Some(nodes) = self.executions.get_mut(execution) {
            if let Some(spans) = nodes.remove(node) {
                spans
                    .node
                    .record("outcome", format!("{phase:?}").to_lowercase());
            }
        }
    }

    /// Ends every span of an execution that does not exist (a launch that
    /// did not commit).
    pub fn forget(&mut self, execution: &ExecutionId) {
        if !self.executions.is_empty() {
            self.executions.remove(execution);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.executions.is_empty()
    }

    pub fn clear(&mut self) {
        self.executions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::NodePhase;

    fn node_event(node: u32, phase: NodePhase) -> Event {
        Event {
            seq: 1,
            time_ms: 1,
            subject: EventSubject::Node {
                node,
                phase,
                attempt: 1,
            },
            message: String::new(),
        }
    }

    const PARENT: TraceParent = TraceParent {
        trace_id: [1; 16],
        span_id: [2; 8],
        flags: 1,
    };

    #[test]
    fn spans_end_with_the_node_or_the_execution_however_it_ends() {
        let mut spans = Spans::default();
        let x = ExecutionId("flow-1".into());
        let (a, b) = ((x.clone(), 0), (x.clone(), 1));
        spans.dispatched(&PARENT, &a, "a", 1, "e");
        spans.dispatched(&PARENT, &b, "b", 1, "e");
        // A retryable failure ends the attempt's span, not the node's.
        spans.settled(&a, 1, "failed");
        assert!(spans.executions[&x][&0].attempt.is_none());
        spans.on_event(&x, &node_event(0, NodePhase::Queued), false);
        assert!(spans.executions[&x].contains_key(&0));
        spans.dispatched(&PARENT, &a, "a", 2, "e");
        // A late result of attempt 1 leaves attempt 2 open.
        spans.settled(&a, 1, "failed");
        assert_eq!(
            spans.executions[&x][&0].attempt.as_ref().map(|a| a.0),
            Some(2)
        );
        // Its last retry failed: the node's span ends with its phase.
        spans.on_event(&x, &node_event(0, NodePhase::Failed), false);
        assert!(!spans.executions[&x].contains_key(&0));
        // The execution's end takes every span it still has.
        spans.on_event(&x, &node_event(9, NodePhase::Running), true);
        assert!(spans.is_empty());
        // A launch that did not commit.
        spans.dispatched(&PARENT, &a, "a", 1, "e");
        spans.forget(&x);
        assert!(spans.is_empty());
    }
}
