//! What a Baton process tells its operator beyond its answers: the log on
//! stderr, and, when an OTLP endpoint is given, its trace spans exported
//! over OTLP (gRPC or HTTP) through `tracing-opentelemetry`.
//!
//! Trace spans are `tracing` spans under one target, [`TARGET`], which only
//! the OpenTelemetry layer listens to. Without an endpoint no layer listens,
//! so their call sites stay disabled: creating one costs a relaxed atomic
//! load, and callers skip the rest behind [`enabled`]. Spans cross the
//! gRPC hop as W3C trace context ([`context`]).

pub mod context;

use std::fmt;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use context::TraceParent;

/// The target of every span meant for the trace exporter, never the log.
pub const TARGET: &str = "baton::trace";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether this process exports trace spans: call sites do no work for
/// traces when it does not.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// How spans reach the collector (`OTEL_EXPORTER_OTLP_PROTOCOL`'s values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP over gRPC (a collector's port 4317).
    Grpc,
    /// OTLP over HTTP with protobuf bodies (a collector's port 4318), the
    /// OpenTelemetry default.
    #[default]
    HttpProtobuf,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        })
    }
}

/// Where and how to export spans, and as which service.
#[derive(Clone, Debug)]
pub struct Traces {
    /// The collector's base URL (`http://collector:4317`); over HTTP the
    /// spans go to its `/v1/traces`.
    pub endpoint: String,
    pub protocol: Protocol,
    /// `service.name`, unless `OTEL_SERVICE_NAME` sets it.
    pub service: &'static str,
    /// `service.instance.id`: which node or executor this is.
    pub instance: String,
}

/// The trace flags every Baton server takes (flattened into its flags).
#[derive(Clone, Debug, clap::Args)]
pub struct TraceArgs {
    /// Export trace spans over OTLP to the collector at this URL
    /// (`http://collector:4317` for gRPC, `http://collector:4318` for HTTP,
    /// whose spans go to its /v1/traces). Off unless given
    /// (docs/operations.md, "Traces"). `OTEL_SERVICE_NAME` renames the
    /// service; `OTEL_BSP_*` tune the batching.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// How spans reach the collector: `grpc` or `http/protobuf` (`http`).
    /// Read only with an endpoint.
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_PROTOCOL",
        value_name = "PROTOCOL",
        default_value = "http/protobuf"
    )]
    pub otlp_protocol: String,
}

impl TraceArgs {
    /// What to export, as `service` instance `instance`; `None` when off.
    /// A bad endpoint or protocol is refused by name (from the flag or its
    /// variable), and only when traces are asked for.
    pub fn traces(
        &self,
        service: &'static str,
        instance: String,
    ) -> Result<Option<Traces>, String> {
        let Some(endpoint) = &self.otlp_endpoint else {
            return Ok(None);
        };
        Traces::new(endpoint, &self.otlp_protocol, service, instance)
            .map(Some)
            .map_err(|e| format!("--otlp-endpoint / OTEL_EXPORTER_OTLP_ENDPOINT: {e}"))
    }
}

impl Traces {
    /// Checks an endpoint and a protocol as the flags or the standard
    /// variables give them.
    pub fn new(
        endpoint: &str,
        protocol: &str,
        service: &'static str,
        instance: String,
    ) -> Result<Traces, String> {
        let endpoint = parse_endpoint(endpoint)?;
        let protocol = match protocol.trim() {
            "grpc" => Protocol::Grpc,
            "http/protobuf" | "http" => Protocol::HttpProtobuf,
            other => {
                return Err(format!(
                    "protocol `{other}` (--otlp-protocol / OTEL_EXPORTER_OTLP_PROTOCOL) is not \
                     `grpc` or `http/protobuf`"
                ))
            }
        };
        if protocol == Protocol::Grpc && endpoint.starts_with("https://") {
            return Err(format!(
                "`{endpoint}` over gRPC needs TLS, which this build's gRPC exporter does not \
                 have: use --otlp-protocol http/protobuf for https://, or http:// to a collector \
                 on a private network"
            ));
        }
        Ok(Traces {
            endpoint,
            protocol,
            service,
            instance,
        })
    }
}

/// Checks an `--otlp-endpoint` value: a URL with its scheme, so that a
/// missing `http://` is not silently taken for TLS.
pub fn parse_endpoint(text: &str) -> Result<String, String> {
    let text = text.trim();
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(format!(
            "`{text}` has no scheme: give the collector's URL, e.g. http://{text}"
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "`{text}` is not an http:// or https:// URL (scheme `{scheme}`)"
        ));
    }
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("`{text}` names no host"));
    }
    Ok(text.to_owned())
}

/// A trace exporter that could not be set up.
#[derive(Debug)]
pub struct TelemetryError(String);

impl fmt::Display for TelemetryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TelemetryError {}

/// The process's telemetry, once installed: keep it until the end, then
/// [`Telemetry::shutdown`] it so that the last spans are sent.
#[must_use = "dropping it does not flush the last spans; call shutdown"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered and stops the exporter, waiting up
    /// to 5 s: call it outside async tasks, with the runtime still running
    /// (the gRPC exporter uses it).
    pub fn shutdown(self) {
        self.shutdown_within(Duration::from_secs(5));
    }

    /// [`Telemetry::shutdown`], waiting at most `limit` (a client that
    /// must not hang on a collector that does not answer).
    pub fn shutdown_within(self, limit: Duration) {
        if let Some(provider) = self.provider {
            ENABLED.store(false, Ordering::Relaxed);
            if let Err(error) = provider.shutdown_with_timeout(limit) {
                eprintln!("warning: the last trace spans may not have been sent: {error}");
            }
        }
    }
}

/// Installs the log on stderr (`RUST_LOG`, else `default_filter`) and,
/// with `traces`, the span exporter. The gRPC exporter needs a Tokio
/// runtime: call this from within one.
pub fn init(default_filter: &str, traces: Option<Traces>) -> Result<Telemetry, TelemetryError> {
    // Trace spans never reach the log, whatever RUST_LOG says.
    let log_filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_filter))
        .add_directive(format!("{TARGET}=off").parse().expect("a valid directive"));
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(log_filter);
    let Some(traces) = traces else {
        // No layer at all for spans, not an empty one: an absent layer
        // would keep the log's filter from caching "never" for the call
        // sites it turns off, and they would be checked on every hit.
        tracing_subscriber::registry().with(log).init();
        return Ok(Telemetry { provider: None });
    };
    let provider = provider(&traces)?;
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("baton"))
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_level(false)
        .with_target(false)
        // Every trace span is an info span: no lower level is let through.
        .with_filter(Targets::new().with_target(TARGET, tracing::Level::INFO));
    tracing_subscriber::registry().with(log).with(spans).init();
    ENABLED.store(true, Ordering::Relaxed);
    Ok(Telemetry {
        provider: Some(provider),
    })
}

fn provider(traces: &Traces) -> Result<SdkTracerProvider, TelemetryError> {
    let failed = |error: &dyn fmt::Display| {
        TelemetryError(format!(
            "cannot export traces to {}: {error}",
            traces.endpoint
        ))
    };
    let exporter = match traces.protocol {
        Protocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(traces.endpoint.clone())
            .build(),
        Protocol::HttpProtobuf => {
            // TLS for an https:// collector: rustls on ring, as for the blob
            // store (a second install in the process is refused, harmlessly).
            let _ = rustls::crypto::ring::default_provider().install_default();
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(http_traces_url(&traces.endpoint))
                .build()
        }
    }
    .map_err(|e| failed(&e))?;
    let mut resource = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.instance.id",
        traces.instance.clone(),
    ));
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(traces.service);
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// The URL spans are posted to over HTTP: the endpoint's `/v1/traces`,
/// unless it names that path already.
fn http_traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_need_a_scheme_and_a_host() {
        assert_eq!(
            parse_endpoint("http://127.0.0.1:4317").unwrap(),
            "http://127.0.0.1:4317"
        );
        let error = parse_endpoint("collector:4317").unwrap_err();
        assert!(error.contains("http://collector:4317"), "{error}");
        assert!(parse_endpoint("ftp://collector")
            .unwrap_err()
            .contains("`ftp`"));
        assert!(parse_endpoint("http://").unwrap_err().contains("no host"));
    }

    #[test]
    fn a_protocol_is_grpc_or_http_and_grpc_refuses_tls() {
        let traces = |endpoint, protocol| Traces::new(endpoint, protocol, "s", "i".into());
        assert_eq!(
            traces("http://c:4317", "grpc").unwrap().protocol,
            Protocol::Grpc
        );
        for http in ["http", "http/protobuf"] {
            let got = traces("https://c:4318", http).unwrap();
            assert_eq!(got.protocol, Protocol::HttpProtobuf);
        }
        let error = traces("http://c:4318", "http/json").unwrap_err();
        assert!(error.contains("`http/json`"), "{error}");
        let error = traces("https://c:4317", "grpc").unwrap_err();
        assert!(error.contains("needs TLS"), "{error}");
    }

    #[test]
    fn no_endpoint_means_no_traces_whatever_the_protocol() {
        let args = TraceArgs {
            otlp_endpoint: None,
            otlp_protocol: "http/json".into(),
        };
        assert!(args.traces("s", "i".into()).unwrap().is_none());
    }

    #[test]
    fn http_spans_go_to_v1_traces_once() {
        assert_eq!(http_traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(
            http_traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
        assert_eq!(http_traces_url("http://c:4318/"), "http://c:4318/v1/traces");
    }
}
