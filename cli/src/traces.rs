//! The client's part of a trace (docs/operations.md, "Traces"): `baton
//! run`'s `launch` span, exported when the standard OTLP variables say
//! where, and the W3C context the launch request carries to the leader.

use std::collections::HashMap;

/// Where `baton run` sends its `launch` span: the standard
/// `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_EXPORTER_OTLP_PROTOCOL`, if set
/// and valid (a bad one is warned about, and the launch goes on untraced).
pub fn exporter() -> Option<baton_telemetry::Traces> {
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok()?;
    let protocol =
        std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").unwrap_or_else(|_| "http/protobuf".into());
    let instance = std::process::id().to_string();
    baton_telemetry::Traces::new(&endpoint, &protocol, "baton", instance)
        .map_err(|e| eprintln!("warning: OTEL_EXPORTER_OTLP_*: {e}; the launch is not traced"))
        .ok()
}

/// The client's `launch` span, the parent of the execution's trace, with
/// the context the request carries: a child of `TRACEPARENT` when that is
/// set (a script's own span), and exported when `OTEL_EXPORTER_OTLP_ENDPOINT`
/// is. Without an exporter a valid `TRACEPARENT` is passed on as it is.
pub fn launch_span() -> (tracing::Span, HashMap<String, String>) {
    let mut parent = HashMap::new();
    if let Ok(traceparent) = std::env::var("TRACEPARENT") {
        parent.insert("traceparent".to_owned(), traceparent);
        if let Ok(tracestate) = std::env::var("TRACESTATE") {
            parent.insert("tracestate".to_owned(), tracestate);
        }
    }
    if !baton_telemetry::enabled() {
        let valid = baton_telemetry::TraceParent::from_map(&parent).is_some();
        return (
            tracing::Span::none(),
            if valid { parent } else { HashMap::new() },
        );
    }
    let span = tracing::info_span!(
        target: baton_telemetry::TARGET,
        "launch",
        otel.kind = "client",
        execution = tracing::field::Empty,
    );
    baton_telemetry::context::adopt_from(&span, &parent);
    let context = baton_telemetry::context::inject(&span);
    (span, context)
}
