//! The running fake: options and modes, the axum routes of the three backend kinds plus
//! `/control`, `/reset` and `/stats`, the recorded stats, and the accept loop that drops every
//! connection (hanging calls included) on shutdown.

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::verdict::{classified_text, text_classification_label, verdict_for};

/// How every call is answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Verdicts from the markers.
    #[default]
    Normal,
    /// Never answers.
    Hang,
    /// 500 with an error body.
    Fail,
    /// 200 with a body that is not the expected JSON (for chat kinds: the assistant text is not
    /// JSON).
    Malformed,
    /// Calls in alternating blocks of `period`: `period` answered normally, `period` failing with
    /// 500, and so on (counted over all classification routes since the mode was set).
    Flapping {
        /// Calls per block (at least 1).
        period: u32,
    },
}

/// An unknown mode name.
#[derive(Debug)]
pub struct ModeParseError(String);

impl std::error::Error for ModeParseError {}

impl std::fmt::Display for ModeParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown mode {:?} (expected normal, hang, fail, malformed, flapping or flapping:N)",
            self.0
        )
    }
}

impl std::str::FromStr for Mode {
    type Err = ModeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ModeParseError(s.to_owned());
        match s.trim().to_ascii_lowercase().as_str() {
            "normal" => Ok(Mode::Normal),
            "hang" => Ok(Mode::Hang),
            "fail" => Ok(Mode::Fail),
            "malformed" => Ok(Mode::Malformed),
            "flapping" => Ok(Mode::Flapping { period: 1 }),
            other => {
                let period = other
                    .strip_prefix("flapping:")
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(bad)?;
                Ok(Mode::Flapping { period })
            }
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Normal => f.write_str("normal"),
            Mode::Hang => f.write_str("hang"),
            Mode::Fail => f.write_str("fail"),
            Mode::Malformed => f.write_str("malformed"),
            Mode::Flapping { period } => write!(f, "flapping:{period}"),
        }
    }
}

/// How the fake starts.
#[derive(Clone)]
pub struct FakeClassifierOptions {
    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub listen: SocketAddr,
    /// The initial mode.
    pub mode: Mode,
    /// Pause before every answer, in every mode.
    pub delay: Duration,
    /// When set, `/v1/messages` requires `x-api-key: KEY` and `/v1/chat/completions` requires
    /// `Authorization: Bearer KEY` (401 otherwise).
    pub api_key: Option<String>,
}

impl Default for FakeClassifierOptions {
    fn default() -> Self {
        FakeClassifierOptions {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            mode: Mode::Normal,
            delay: Duration::ZERO,
            api_key: None,
        }
    }
}

impl std::fmt::Debug for FakeClassifierOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeClassifierOptions")
            .field("listen", &self.listen)
            .field("mode", &self.mode)
            .field("delay", &self.delay)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// One credential-like header value the fake received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CredentialSeen {
    /// `authorization`, `x-api-key` or `x-glitch-key`.
    pub header: String,
    /// The value as received (lossy UTF-8).
    pub value: String,
}

/// What the fake saw since it started (or since the last reset).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FakeClassifierStats {
    /// Calls to the classification routes.
    pub calls_total: u64,
    /// Calls by route: `chat_completions`, `messages`, `classify`, `predict`.
    pub calls_by_route: BTreeMap<String, u64>,
    /// Classification calls being answered now.
    pub in_flight: u64,
    /// The most classification calls ever answered at the same time.
    pub max_in_flight: u64,
    /// The last 1000 texts classified, oldest first: the text between Glitch's input markers
    /// (chat kinds) or `inputs` (text classification).
    pub texts: Vec<String>,
    /// Every distinct credential-like header value seen, in order of first appearance.
    pub credentials: Vec<CredentialSeen>,
}

const MAX_TEXTS: usize = 1000;
const MAX_CREDENTIALS: usize = 1000;
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "x-api-key", "x-glitch-key"];

#[derive(Default)]
struct Recorded {
    calls_total: u64,
    calls_by_route: BTreeMap<String, u64>,
    in_flight: u64,
    max_in_flight: u64,
    texts: VecDeque<String>,
    credentials: Vec<CredentialSeen>,
}

struct Control {
    mode: Mode,
    delay: Duration,
}

struct Shared {
    api_key: Option<String>,
    control: Mutex<Control>,
    /// Calls since the mode was last set (drives `Flapping`).
    mode_calls: AtomicU64,
    recorded: Mutex<Recorded>,
}

impl Shared {
    fn recorded(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn control(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_mode(&self, mode: Mode) {
        self.control().mode = mode;
        self.mode_calls.store(0, Ordering::Relaxed);
    }

    fn snapshot(&self) -> FakeClassifierStats {
        let r = self.recorded();
        FakeClassifierStats {
            calls_total: r.calls_total,
            calls_by_route: r.calls_by_route.clone(),
            in_flight: r.in_flight,
            max_in_flight: r.max_in_flight,
            texts: r.texts.iter().cloned().collect(),
            credentials: r.credentials.clone(),
        }
    }
}

/// Counts a classification call as in flight for as long as its handler lives (a hanging call
/// stays in flight until the client goes away or the fake shuts down).
struct InFlight(Arc<Shared>);

impl InFlight {
    fn enter(shared: &Arc<Shared>) -> Self {
        let mut r = shared.recorded();
        r.in_flight += 1;
        r.max_in_flight = r.max_in_flight.max(r.in_flight);
        InFlight(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut r = self.0.recorded();
        r.in_flight = r.in_flight.saturating_sub(1);
    }
}

/// A running fake classifier. Shuts down (dropping every connection) on drop or
/// [`FakeClassifier::shutdown`].
pub struct FakeClassifier {
    /// The address it listens on.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeClassifier")
            .field("addr", &self.addr)
            .finish()
    }
}

impl FakeClassifier {
    /// Binds `options.listen` and starts serving.
    pub async fn start(options: FakeClassifierOptions) -> std::io::Result<FakeClassifier> {
        let listener = TcpListener::bind(options.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            api_key: options.api_key.clone(),
            control: Mutex::new(Control {
                mode: options.mode,
                delay: options.delay,
            }),
            mode_calls: AtomicU64::new(0),
            recorded: Mutex::new(Recorded::default()),
        });
        let router = router(shared.clone());
        let task = tokio::spawn(accept_loop(listener, router));
        Ok(FakeClassifier {
            addr,
            shared,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT` (OpenAI base URL: add `/v1`; text classification: add
    /// `/classify` or `/predict`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes the mode of every later call (and restarts the flapping count).
    pub fn set_mode(&self, mode: Mode) {
        self.shared.set_mode(mode);
    }

    /// Changes the pause before every answer.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.control().delay = delay;
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.shared.control().mode
    }

    /// What the fake saw.
    pub fn stats(&self) -> FakeClassifierStats {
        self.shared.snapshot()
    }

    /// Forgets calls, texts and credentials seen (calls in flight stay counted as in flight).
    pub fn reset_stats(&self) {
        reset(&self.shared);
    }

    /// Stops serving and drops every connection.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for FakeClassifier {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn reset(shared: &Shared) {
    let mut r = shared.recorded();
    let in_flight = r.in_flight;
    *r = Recorded {
        in_flight,
        max_in_flight: in_flight,
        ..Recorded::default()
    };
}

async fn accept_loop(listener: TcpListener, router: Router) {
    // Dropping this set (when the task is aborted) aborts every connection task.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(router.clone());
                connections.spawn(async move {
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/v1/chat/completions",
            post(|s: State<Arc<Shared>>, h: HeaderMap, b: Bytes| {
                classify(s, Route::ChatCompletions, h, b)
            }),
        )
        .route(
            "/v1/messages",
            post(|s: State<Arc<Shared>>, h: HeaderMap, b: Bytes| {
                classify(s, Route::Messages, h, b)
            }),
        )
        .route(
            "/classify",
            post(|s: State<Arc<Shared>>, h: HeaderMap, b: Bytes| {
                classify(s, Route::Classify, h, b)
            }),
        )
        .route(
            "/predict",
            post(|s: State<Arc<Shared>>, h: HeaderMap, b: Bytes| classify(s, Route::Predict, h, b)),
        )
        .route("/control", post(control))
        .route("/reset", post(reset_route))
        .route("/stats", get(stats))
        .with_state(shared)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    ChatCompletions,
    Messages,
    Classify,
    Predict,
}

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::ChatCompletions => "chat_completions",
            Route::Messages => "messages",
            Route::Classify => "classify",
            Route::Predict => "predict",
        }
    }

    fn is_chat(self) -> bool {
        matches!(self, Route::ChatCompletions | Route::Messages)
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"type": "fake_error", "message": message}})),
    )
        .into_response()
}

async fn classify(
    State(shared): State<Arc<Shared>>,
    route: Route,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record_call(&shared, route, &headers);
    let _in_flight = InFlight::enter(&shared);
    if let Some(key) = shared.api_key.as_deref() {
        let authorized = match route {
            Route::ChatCompletions => {
                header_str(&headers, "authorization") == Some(format!("Bearer {key}").as_str())
            }
            Route::Messages => header_str(&headers, "x-api-key") == Some(key),
            Route::Classify | Route::Predict => true,
        };
        if !authorized {
            return error(StatusCode::UNAUTHORIZED, "invalid or missing api key");
        }
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    let Some(text) = request_text(route, &request) else {
        return error(
            StatusCode::BAD_REQUEST,
            "no text to classify in the request",
        );
    };
    {
        let mut r = shared.recorded();
        if r.texts.len() >= MAX_TEXTS {
            r.texts.pop_front();
        }
        r.texts.push_back(text.clone());
    }
    let verdict = verdict_for(&text);
    let (mode, delay) = {
        let c = shared.control();
        (c.mode, c.delay)
    };
    let call_number = shared.mode_calls.fetch_add(1, Ordering::Relaxed);
    let pause = delay.saturating_add(verdict.delay);
    if !pause.is_zero() {
        tokio::time::sleep(pause).await;
    }
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-classifier")
        .to_owned();
    match mode {
        Mode::Hang => std::future::pending::<Response>().await,
        Mode::Fail => error(StatusCode::INTERNAL_SERVER_ERROR, "fake failure"),
        Mode::Flapping { period } if (call_number / u64::from(period.max(1))) % 2 == 1 => {
            error(StatusCode::INTERNAL_SERVER_ERROR, "fake flapping failure")
        }
        Mode::Malformed if route.is_chat() => chat_answer(
            route,
            &model,
            "Sorry, I cannot classify this text.".to_owned(),
        ),
        Mode::Malformed => axum::Json(json!({"unexpected": "shape"})).into_response(),
        Mode::Normal | Mode::Flapping { .. } => {
            if route.is_chat() {
                let scores: serde_json::Map<String, Value> = verdict
                    .scores
                    .iter()
                    .map(|(t, c)| (t.clone(), json!(decimal(*c))))
                    .collect();
                let answer = json!({ "scores": scores }).to_string();
                chat_answer(route, &model, answer)
            } else {
                text_classification_answer(&verdict.scores)
            }
        }
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn record_call(shared: &Shared, route: Route, headers: &HeaderMap) {
    let mut r = shared.recorded();
    r.calls_total += 1;
    *r.calls_by_route.entry(route.name().to_owned()).or_insert(0) += 1;
    for name in CREDENTIAL_HEADERS {
        for value in headers.get_all(*name) {
            let seen = CredentialSeen {
                header: (*name).to_owned(),
                value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
            };
            if !r.credentials.contains(&seen) && r.credentials.len() < MAX_CREDENTIALS {
                r.credentials.push(seen);
            }
        }
    }
}

/// The text being classified: the last user message's text between Glitch's markers (chat
/// kinds), or `inputs` (a string, or strings joined by newlines).
fn request_text(route: Route, request: &Value) -> Option<String> {
    if route.is_chat() {
        let messages = request.get("messages")?.as_array()?;
        let user = messages
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
        let content = message_text(user.get("content")?)?;
        Some(classified_text(&content).to_owned())
    } else {
        match request.get("inputs")? {
            Value::String(s) => Some(s.clone()),
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            _ => None,
        }
    }
}

/// A message content: a string or an array of `{"type":"text","text":...}` blocks.
fn message_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(blocks) => Some(
            blocks
                .iter()
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
        ),
        _ => None,
    }
}

fn chat_answer(route: Route, model: &str, text: String) -> Response {
    let output_tokens = text.len() / 4 + 1;
    let body = if route == Route::Messages {
        json!({
            "id": "msg_fake_classifier",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 100, "output_tokens": output_tokens},
        })
    } else {
        json!({
            "id": "chatcmpl-fake-classifier",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }],
            "usage": {
                "prompt_tokens": 100,
                "completion_tokens": output_tokens,
                "total_tokens": 100 + output_tokens,
            },
        })
    };
    axum::Json(body).into_response()
}

/// An f32 as the f64 with the same shortest decimal form (0.97, not 0.9700000286102295).
fn decimal(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

fn text_classification_answer(scores: &BTreeMap<String, f32>) -> Response {
    let mut labels: Vec<(String, f32)> = scores
        .iter()
        .map(|(t, c)| (text_classification_label(t), *c))
        .collect();
    let top = labels.iter().map(|(_, c)| *c).fold(0.0f32, f32::max);
    labels.push((
        "BENIGN".to_owned(),
        if scores.is_empty() { 0.99 } else { 1.0 - top },
    ));
    labels.sort_by(|a, b| b.1.total_cmp(&a.1));
    let body: Vec<Value> = labels
        .into_iter()
        .map(|(label, score)| {
            let score = (decimal(score) * 10_000.0).round() / 10_000.0;
            json!({"label": label, "score": score})
        })
        .collect();
    axum::Json(Value::Array(body)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlRequest {
    mode: Option<String>,
    delay_ms: Option<u64>,
    #[serde(default)]
    reset_stats: bool,
}

async fn control(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request: ControlRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if let Some(mode) = request.mode {
        match mode.parse::<Mode>() {
            Ok(mode) => shared.set_mode(mode),
            Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
        }
    }
    if let Some(ms) = request.delay_ms {
        shared.control().delay = Duration::from_millis(ms);
    }
    if request.reset_stats {
        reset(&shared);
    }
    let (mode, delay) = {
        let c = shared.control();
        (c.mode, c.delay)
    };
    axum::Json(json!({"mode": mode.to_string(), "delay_ms": delay.as_millis() as u64}))
        .into_response()
}

async fn reset_route(State(shared): State<Arc<Shared>>) -> StatusCode {
    reset(&shared);
    StatusCode::NO_CONTENT
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.snapshot()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        for (s, m) in [
            ("normal", Mode::Normal),
            ("hang", Mode::Hang),
            ("FAIL", Mode::Fail),
            ("malformed", Mode::Malformed),
            ("flapping", Mode::Flapping { period: 1 }),
            ("flapping:3", Mode::Flapping { period: 3 }),
        ] {
            assert_eq!(s.parse::<Mode>().ok(), Some(m));
        }
        assert!("flapping:0".parse::<Mode>().is_err());
        assert!("sometimes".parse::<Mode>().is_err());
        assert_eq!(Mode::Flapping { period: 2 }.to_string(), "flapping:2");
    }

    #[test]
    fn options_debug_hides_the_key() {
        let options = FakeClassifierOptions {
            api_key: Some("sk-secret-123".to_owned()),
            ..FakeClassifierOptions::default()
        };
        assert!(!format!("{options:?}").contains("sk-secret-123"));
    }
}
