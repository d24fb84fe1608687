//! Alert delivery: findings whose action is `alert` are POSTed as JSON to the configured webhook
//! (`--alert-webhook`). The request path only does a non-blocking `try_send` into a bounded
//! queue; one background task delivers with retries. The alert carries what a responder needs
//! (event id, project, session, masked excerpts), never credentials or the conversation.

use std::time::Duration;

use bytes::Bytes;
use glitch_proto::events::v1::SecurityEvent;
use http::{Request, header};
use http_body_util::Full;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::metrics::SensorMetrics;
use crate::upstream::UpstreamClient;

/// Alerts waiting for delivery before new ones are dropped (and counted).
const ALERT_QUEUE: usize = 1024;
/// Delivery attempts per alert.
const ATTEMPTS: u32 = 4;

/// One finding in an alert.
#[derive(Clone, Debug, Serialize)]
pub struct AlertFinding {
    /// Detector type.
    pub detector_type: String,
    /// Confidence.
    pub confidence: f32,
    /// Threshold level.
    pub level: String,
    /// Always "alert" here.
    pub action: String,
    /// input | output.
    pub direction: String,
    /// Where.
    pub location: String,
    /// Masked excerpt.
    pub excerpt: String,
}

/// The webhook payload.
#[derive(Clone, Debug, Serialize)]
pub struct Alert {
    /// Always "glitch.alert.v1".
    pub kind: &'static str,
    /// The SecurityEvent this alert is about.
    pub event_id: String,
    /// Milliseconds since the Unix epoch.
    pub time_unix_ms: i64,
    /// Sensor.
    pub sensor_id: String,
    /// Region.
    pub region: String,
    /// Project.
    pub project_id: String,
    /// Key id.
    pub key_id: String,
    /// Claude Code session.
    pub session_id: String,
    /// Request path.
    pub path: String,
    /// Decision of the request.
    pub decision: String,
    /// The findings with action `alert` (in a follow-up event also `block`: an async classifier
    /// verdict that would have blocked the already-forwarded request).
    pub findings: Vec<AlertFinding>,
    /// For an async classifier verdict: the event id of the request it is about.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub follow_up_of: String,
}

impl Alert {
    /// The alert for an event, if any of its findings asks for one.
    pub fn for_event(event: &SecurityEvent) -> Option<Alert> {
        let findings: Vec<AlertFinding> = event
            .findings
            .iter()
            .filter(|f| {
                f.action == "alert" || (!event.follow_up_of.is_empty() && f.action == "block")
            })
            .map(|f| AlertFinding {
                detector_type: f.detector_type.clone(),
                confidence: f.confidence,
                level: f.level.clone(),
                action: f.action.clone(),
                direction: f.direction.clone(),
                location: f.location.clone(),
                excerpt: f.excerpt.clone(),
            })
            .collect();
        if findings.is_empty() {
            return None;
        }
        let time = event.time.unwrap_or_default();
        Some(Alert {
            kind: "glitch.alert.v1",
            event_id: event.event_id.clone(),
            time_unix_ms: time.seconds * 1000 + i64::from(time.nanos / 1_000_000),
            sensor_id: event.sensor_id.clone(),
            region: event.region.clone(),
            project_id: event.project_id.clone(),
            key_id: event.key_id.clone(),
            session_id: event.session_id.clone(),
            path: event.path.clone(),
            decision: event.decision.clone(),
            findings,
            follow_up_of: event.follow_up_of.clone(),
        })
    }
}

/// The request path's handle: enqueue without waiting.
#[derive(Clone, Debug)]
pub struct AlertSink {
    tx: mpsc::Sender<Alert>,
}

impl AlertSink {
    /// Starts the delivery task for `url`.
    pub fn start(
        url: http::Uri,
        client: UpstreamClient,
        metrics: std::sync::Arc<SensorMetrics>,
    ) -> AlertSink {
        let (tx, rx) = mpsc::channel(ALERT_QUEUE);
        tokio::spawn(deliver(url, client, rx, metrics));
        AlertSink { tx }
    }

    /// Queues an alert; when the queue is full the alert is dropped and counted.
    pub fn send(&self, alert: Alert, metrics: &SensorMetrics) {
        if self.tx.try_send(alert).is_err() {
            metrics.alerts_dropped.inc();
            tracing::warn!(
                "alert queue full; alert dropped (the SecurityEvent still records the finding)"
            );
        }
    }
}

async fn deliver(
    url: http::Uri,
    client: UpstreamClient,
    mut rx: mpsc::Receiver<Alert>,
    metrics: std::sync::Arc<SensorMetrics>,
) {
    while let Some(alert) = rx.recv().await {
        let Ok(body) = serde_json::to_vec(&alert) else {
            continue;
        };
        let body = Bytes::from(body);
        let mut delay = Duration::from_millis(250);
        let mut delivered = false;
        for attempt in 1..=ATTEMPTS {
            let request = Request::post(url.clone())
                .header(header::CONTENT_TYPE, "application/json")
                .header(
                    header::USER_AGENT,
                    concat!("glitch-sensor/", env!("CARGO_PKG_VERSION")),
                )
                .body(Full::new(body.clone()));
            let Ok(request) = request else { break };
            match tokio::time::timeout(Duration::from_secs(10), client.request(request)).await {
                Ok(Ok(response)) if response.status().is_success() => {
                    delivered = true;
                    break;
                }
                Ok(Ok(response)) => {
                    tracing::warn!(status = %response.status(), attempt, event_id = %alert.event_id, "alert webhook refused the alert");
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, attempt, event_id = %alert.event_id, "alert webhook unreachable")
                }
                Err(_) => {
                    tracing::warn!(attempt, event_id = %alert.event_id, "alert webhook timed out")
                }
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
        }
        if delivered {
            metrics.alerts_sent.inc();
        } else {
            metrics.alerts_dropped.inc();
            tracing::error!(event_id = %alert.event_id, "alert not delivered after {ATTEMPTS} attempts");
        }
    }
}
