//! A small OTLP trace collector for tests: a real gRPC `TraceService` and a real HTTP
//! `POST /v1/traces` (protobuf) endpoint, each on its own free port, keeping every span it
//! receives with its resource's `service.name`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// A span as received, with the service that sent it and how it arrived.
#[derive(Clone, Debug)]
pub struct ReceivedSpan {
    /// `service.name` of the exporting process.
    pub service: String,
    /// "grpc" or "http".
    pub transport: &'static str,
    /// The span itself.
    pub span: Span,
}

impl ReceivedSpan {
    /// Lowercase hex of the span's trace id.
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }
    /// Lowercase hex of the span's id.
    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }
    /// Lowercase hex of the parent span id ("" for a root).
    pub fn parent_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }
    /// A string attribute's value.
    pub fn attr(&self, key: &str) -> Option<String> {
        self.span
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.clone()),
                any_value::Value::IntValue(i) => Some(i.to_string()),
                any_value::Value::BoolValue(b) => Some(b.to_string()),
                any_value::Value::DoubleValue(d) => Some(d.to_string()),
                _ => None,
            })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

type Store = Arc<Mutex<Vec<ReceivedSpan>>>;

fn keep(store: &Store, request: ExportTraceServiceRequest, transport: &'static str) {
    let mut spans = store.lock().unwrap();
    for rs in request.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for span in ss.spans {
                spans.push(ReceivedSpan {
                    service: service.clone(),
                    transport,
                    span,
                });
            }
        }
    }
}

struct Grpc(Store);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        keep(&self.0, request.into_inner(), "grpc");
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// The running collector; stops when dropped.
pub struct Collector {
    /// `http://127.0.0.1:PORT` of the gRPC endpoint (OTEL_EXPORTER_OTLP_ENDPOINT with
    /// OTEL_EXPORTER_OTLP_PROTOCOL=grpc).
    pub grpc_endpoint: String,
    /// `http://127.0.0.1:PORT` base of the HTTP endpoint (traces at `/v1/traces`).
    pub http_endpoint: String,
    store: Store,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Collector {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Collector {
    /// Starts both endpoints on free local ports.
    pub async fn start() -> Collector {
        let store: Store = Arc::default();
        let grpc_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc_addr: SocketAddr = grpc_listener.local_addr().unwrap();
        let grpc = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Grpc(store.clone())))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(
                grpc_listener,
            ));
        let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_addr = http_listener.local_addr().unwrap();
        let http_store = store.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: Bytes| {
                let store = http_store.clone();
                async move {
                    match ExportTraceServiceRequest::decode(body) {
                        Ok(request) => {
                            keep(&store, request, "http");
                            (axum::http::StatusCode::OK, Vec::new())
                        }
                        Err(_) => (axum::http::StatusCode::BAD_REQUEST, Vec::new()),
                    }
                }
            }),
        );
        let tasks = vec![
            tokio::spawn(async move {
                let _ = grpc.await;
            }),
            tokio::spawn(async move {
                let _ = axum::serve(http_listener, app).await;
            }),
        ];
        Collector {
            grpc_endpoint: format!("http://{grpc_addr}"),
            http_endpoint: format!("http://{http_addr}"),
            store,
            tasks,
        }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.store.lock().unwrap().clone()
    }

    /// Waits (up to `timeout`) until `done` holds for the spans received.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if done(&spans) || Instant::now() >= deadline {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
