//! W3C trace context (`traceparent`) as it crosses processes: in a gRPC
//! request's map (the launch, the assignment), and stored compactly with an
//! execution ([`TraceParent`]) so that every leader continues its trace.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The span a trace continues from: its trace, its id and whether it is
/// sampled. 25 bytes, so it may ride in the replicated state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub flags: u8,
}

impl TraceParent {
    /// The context of `span` (which starts it, if it had not started):
    /// `None` for a span no exporter records.
    pub fn of(span: &tracing::Span) -> Option<TraceParent> {
        Self::of_context(&span.context())
    }

    /// The parent a `traceparent` map names, if it names a valid one.
    pub fn from_map(carrier: &HashMap<String, String>) -> Option<TraceParent> {
        if carrier.is_empty() {
            return None;
        }
        Self::of_context(&TraceContextPropagator::new().extract(carrier))
    }

    fn of_context(context: &Context) -> Option<TraceParent> {
        let span = context.span();
        let span_context = span.span_context();
        span_context.is_valid().then(|| TraceParent {
            trace_id: span_context.trace_id().to_bytes(),
            span_id: span_context.span_id().to_bytes(),
            flags: span_context.trace_flags().to_u8(),
        })
    }

    /// The trace id in hex, as collectors show it.
    pub fn trace_id_hex(&self) -> String {
        TraceId::from_bytes(self.trace_id).to_string()
    }

    fn context(&self) -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_bytes(self.trace_id),
            SpanId::from_bytes(self.span_id),
            TraceFlags::new(self.flags),
            true,
            TraceState::default(),
        ))
    }

    /// Makes `span`, not yet started, a child of this one. Call it before
    /// the span is entered or its context read.
    pub fn adopt(&self, span: &tracing::Span) {
        // Fails only for a disabled span, which records nothing anyway.
        let _ = span.set_parent(self.context());
    }
}

/// `span`'s context as a W3C `traceparent` map, for the next hop.
pub fn inject(span: &tracing::Span) -> HashMap<String, String> {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier
}

/// Makes `span`, not yet started, a child of the span `carrier` names, if
/// it names a valid one.
pub fn adopt_from(span: &tracing::Span, carrier: &HashMap<String, String>) {
    if let Some(parent) = TraceParent::from_map(carrier) {
        parent.adopt(span);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_map_reads_back() {
        let carrier = HashMap::from([(
            "traceparent".to_owned(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
        )]);
        let parent = TraceParent::from_map(&carrier).expect("a valid parent");
        assert_eq!(parent.trace_id_hex(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(parent.flags, 1);
        assert_eq!(
            SpanId::from_bytes(parent.span_id).to_string(),
            "b7ad6b7169203331"
        );
    }

    #[test]
    fn a_bad_or_missing_traceparent_names_no_parent() {
        for bad in [
            "",
            "00-zz-yy-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        ] {
            let carrier = HashMap::from([("traceparent".to_owned(), bad.to_owned())]);
            assert_eq!(TraceParent::from_map(&carrier), None, "{bad:?}");
        }
        assert_eq!(TraceParent::from_map(&HashMap::new()), None);
    }
}
