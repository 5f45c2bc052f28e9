//! A real OTLP trace receiver for the trace tests: the collector's
//! `TraceService` over gRPC (tonic, from `opentelemetry-proto`) and its
//! `POST /v1/traces` over HTTP with protobuf bodies, both on loopback
//! ports of their own, keeping every span they are sent.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

/// One span as the receiver got it, ids in hex.
#[derive(Clone, Debug)]
pub struct ReceivedSpan {
    /// The `service.name` of the process that sent it.
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// String, integer and boolean attributes, as text.
    pub attributes: BTreeMap<String, String>,
}

impl ReceivedSpan {
    pub fn attribute(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

type Received = Arc<Mutex<Vec<ReceivedSpan>>>;

pub struct OtlpReceiver {
    /// `http://127.0.0.1:PORT` of the gRPC service.
    pub grpc: String,
    /// `http://127.0.0.1:PORT` of the HTTP service (spans go to /v1/traces).
    pub http: String,
    received: Received,
    runtime: Option<tokio::runtime::Runtime>,
}

impl OtlpReceiver {
    pub fn start() -> OtlpReceiver {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the receiver");
        let received = Received::default();
        let (grpc, http) = runtime.block_on(async {
            let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addresses = (grpc.local_addr().unwrap(), http.local_addr().unwrap());
            let service = TraceServiceServer::new(Collector(received.clone()));
            tokio::spawn(
                tonic::transport::Server::builder()
                    .add_service(service)
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(grpc)),
            );
            let kept = received.clone();
            let app = axum::Router::new().route(
                "/v1/traces",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let kept = kept.clone();
                    async move {
                        match ExportTraceServiceRequest::decode(body) {
                            Ok(request) => {
                                keep(&kept, request);
                                let response = ExportTraceServiceResponse::default();
                                (
                                    axum::http::StatusCode::OK,
                                    [("content-type", "application/x-protobuf")],
                                    response.encode_to_vec(),
                                )
                            }
                            Err(_) => (
                                axum::http::StatusCode::BAD_REQUEST,
                                [("content-type", "text/plain")],
                                b"not an ExportTraceServiceRequest".to_vec(),
                            ),
                        }
                    }
                }),
            );
            tokio::spawn(async move { axum::serve(http, app).await });
            addresses
        });
        OtlpReceiver {
            grpc: format!("http://{grpc}"),
            http: format!("http://{http}"),
            received,
            runtime: Some(runtime),
        }
    }

    /// How many spans have been received so far.
    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `ready` says the spans received are enough; them.
    pub fn wait(
        &self,
        limit: Duration,
        ready: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        crate::wait_for(limit, || {
            let spans = self.spans();
            ready(&spans).then_some(spans)
        })
        .unwrap_or_else(|| {
            let names: Vec<String> = self
                .spans()
                .iter()
                .map(|s| format!("{}:{}", s.service, s.name))
                .collect();
            panic!("the spans expected did not come in {limit:?}; received: {names:?}")
        })
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

struct Collector(Received);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        keep(&self.0, request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn keep(received: &Received, request: ExportTraceServiceRequest) {
    let mut kept = received.lock().unwrap();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| r.attributes.iter())
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| text(v.value.as_ref()))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                kept.push(ReceivedSpan {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: span
                        .attributes
                        .iter()
                        .filter_map(|kv| {
                            let value = text(kv.value.as_ref()?.value.as_ref())?;
                            Some((kv.key.clone(), value))
                        })
                        .collect(),
                });
            }
        }
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
