//! The config stream (`glitch.config.v1.ConfigService/StreamConfig`, xDS-style, DESIGN.md
//! "Config delivery"): one bidirectional stream per sensor.
//!
//! 1. The sensor's first message is a `SensorHello`; it is recorded (connected, this replica).
//! 2. If the current version differs from the sensor's `last_applied_version`, the whole
//!    snapshot goes out with a fresh nonce; otherwise nothing is sent.
//! 3. `Ack{version, nonce}` records the applied version; `Nack{version, nonce, error}` records
//!    the error and keeps the sensor's applied version. Answers whose nonce is not the last
//!    one sent on this stream are stale and ignored.
//! 4. Every newly published version goes to the stream unless the sensor already serves it or
//!    was already sent it on this stream (no resend when nothing changed).
//! 5. When the stream ends the sensor is recorded disconnected.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use glitch_proto::config::v1::config_service_server::ConfigService;
use glitch_proto::config::v1::sensor_message::Message;
use glitch_proto::config::v1::{ConfigPush, SensorHello, SensorMessage};
use tokio::sync::{mpsc, watch};
use tonic::{Request, Response, Status, Streaming};

use crate::hub::{ConfigHub, PublishedConfig};
use crate::ids::new_nonce;
use crate::recorder::SensorRecorder;
use crate::store::{SensorEvent, SensorHelloRecord, Store};
use crate::time::now_ms;

/// How long a new stream may take to send its hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest NACK error message stored.
const MAX_NACK_ERROR_BYTES: usize = 4096;

type PushResult = Result<ConfigPush, Status>;

/// The `ConfigService` of one replica.
#[derive(Clone, Debug)]
pub struct ConfigStreamService {
    store: Store,
    recorder: SensorRecorder,
    hub: Arc<ConfigHub>,
    replica_id: Arc<str>,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<crate::metrics::ControlPlaneMetrics>,
}

impl ConfigStreamService {
    /// A service that serves `hub`'s snapshots, records sensors in `store` as connected to
    /// `replica_id` (and what they report through `recorder`); open streams end when
    /// `shutdown` flips.
    pub fn new(
        store: Store,
        recorder: SensorRecorder,
        hub: Arc<ConfigHub>,
        replica_id: Arc<str>,
        shutdown: watch::Receiver<bool>,
        metrics: Arc<crate::metrics::ControlPlaneMetrics>,
    ) -> Self {
        ConfigStreamService {
            store,
            recorder,
            hub,
            replica_id,
            shutdown,
            metrics,
        }
    }
}

#[tonic::async_trait]
impl ConfigService for ConfigStreamService {
    type StreamConfigStream = Pin<Box<dyn Stream<Item = PushResult> + Send + 'static>>;

    async fn stream_config(
        &self,
        request: Request<Streaming<SensorMessage>>,
    ) -> Result<Response<Self::StreamConfigStream>, Status> {
        let peer = request.remote_addr();
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel::<PushResult>(4);
        let stream = SensorStream {
            service: self.clone(),
            stream_id: new_nonce(),
            tx,
        };
        tokio::spawn(async move {
            stream.run(inbound, peer).await;
        });
        let outbound = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(Response::new(Box::pin(outbound)))
    }
}

/// What this stream last sent.
struct Sent {
    version: u64,
    nonce: String,
}

/// One sensor's stream.
struct SensorStream {
    service: ConfigStreamService,
    stream_id: String,
    tx: mpsc::Sender<PushResult>,
}

/// Why a stream's loop ended.
#[derive(Debug)]
enum End {
    SensorClosed,
    SensorError(Status),
    Shutdown,
    OutboundClosed,
}

impl SensorStream {
    async fn run(self, mut inbound: Streaming<SensorMessage>, peer: Option<std::net::SocketAddr>) {
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, inbound.message()).await {
            Ok(Ok(Some(SensorMessage {
                message: Some(Message::Hello(hello)),
            }))) => hello,
            Ok(Ok(Some(_))) => {
                self.fail(Status::invalid_argument(
                    "the first message on the config stream must be a SensorHello",
                ))
                .await;
                return;
            }
            Ok(Ok(None)) | Ok(Err(_)) => return,
            Err(_) => {
                self.fail(Status::deadline_exceeded(format!(
                    "no SensorHello within {} s",
                    HELLO_TIMEOUT.as_secs()
                )))
                .await;
                return;
            }
        };
        if let Err(message) = check_hello(&hello) {
            self.fail(Status::invalid_argument(message)).await;
            return;
        }
        let record = SensorHelloRecord {
            sensor_id: hello.sensor_id.clone(),
            region: hello.region.clone(),
            build: hello.build.clone(),
            applied_version: i64::try_from(hello.last_applied_version).unwrap_or(i64::MAX),
        };
        let store = &self.service.store;
        if let Err(e) = store
            .sensor_connected(&record, &self.service.replica_id, &self.stream_id)
            .await
        {
            tracing::error!(sensor_id = %hello.sensor_id, error = %e, "cannot record sensor connection");
            self.fail(Status::unavailable(
                "the control plane cannot reach its database; retry",
            ))
            .await;
            return;
        }
        tracing::info!(
            sensor_id = %hello.sensor_id, region = %hello.region, build = %hello.build,
            last_applied_version = hello.last_applied_version, peer = ?peer,
            "sensor connected"
        );
        self.service.metrics.connected_sensors.inc();
        let end = self.serve(&hello, &mut inbound).await;
        self.service.metrics.connected_sensors.dec();
        match &end {
            End::SensorError(status) => tracing::info!(
                sensor_id = %hello.sensor_id, code = ?status.code(), message = status.message(),
                "sensor stream ended with an error"
            ),
            end => {
                tracing::info!(sensor_id = %hello.sensor_id, reason = ?end, "sensor disconnected")
            }
        }
        self.service
            .recorder
            .record(SensorEvent::Disconnected {
                sensor_id: hello.sensor_id.clone(),
                stream_id: self.stream_id.clone(),
                at: now_ms(),
            })
            .await;
    }

    /// The stream's life after a good hello.
    async fn serve(&self, hello: &SensorHello, inbound: &mut Streaming<SensorMessage>) -> End {
        let sensor_id = hello.sensor_id.as_str();
        let mut shutdown = self.service.shutdown.clone();
        if *shutdown.borrow() {
            return self.end_for_shutdown();
        }
        let mut updates = self.service.hub.subscribe();
        // The first answer is the version committed now, even if the publisher has not caught
        // up with a change made a moment ago.
        if let Err(e) = self.service.hub.refresh().await {
            tracing::warn!(sensor_id, error = %e, "cannot refresh the config snapshot; offering the last one built");
        }
        let mut applied = hello.last_applied_version;
        let mut sent: Option<Sent> = None;
        let current = updates.borrow_and_update().clone();
        if let Err(end) = self.offer(sensor_id, &current, applied, &mut sent).await {
            return end;
        }
        loop {
            tokio::select! {
                received = inbound.message() => match received {
                    Ok(Some(message)) => {
                        self.answer(sensor_id, message, &mut applied, sent.as_ref()).await;
                    }
                    Ok(None) => return End::SensorClosed,
                    Err(status) => return End::SensorError(status),
                },
                changed = updates.changed() => {
                    if changed.is_err() {
                        return self.end_for_shutdown();
                    }
                    let latest = updates.borrow_and_update().clone();
                    if let Err(end) = self.offer(sensor_id, &latest, applied, &mut sent).await {
                        return end;
                    }
                }
                _ = shutdown.changed() => return self.end_for_shutdown(),
                () = self.tx.closed() => return End::OutboundClosed,
            }
        }
    }

    /// Sends `config` unless the sensor serves it or this stream already sent it.
    async fn offer(
        &self,
        sensor_id: &str,
        config: &Arc<PublishedConfig>,
        applied: u64,
        sent: &mut Option<Sent>,
    ) -> Result<(), End> {
        if config.version == applied || sent.as_ref().is_some_and(|s| s.version == config.version) {
            return Ok(());
        }
        let nonce = new_nonce();
        self.service.metrics.config_pushes.inc();
        let push = ConfigPush {
            nonce: nonce.clone(),
            snapshot: Some(config.snapshot.clone()),
        };
        let mut shutdown = self.service.shutdown.clone();
        tokio::select! {
            result = self.tx.send(Ok(push)) => {
                if result.is_err() {
                    return Err(End::OutboundClosed);
                }
            }
            _ = shutdown.changed() => return Err(End::Shutdown),
        }
        tracing::debug!(sensor_id, version = config.version, %nonce, "config pushed");
        *sent = Some(Sent {
            version: config.version,
            nonce,
        });
        Ok(())
    }

    /// Records an ACK or NACK for the last push; ignores anything else.
    async fn answer(
        &self,
        sensor_id: &str,
        message: SensorMessage,
        applied: &mut u64,
        sent: Option<&Sent>,
    ) {
        let recorder = &self.service.recorder;
        match message.message {
            Some(Message::Ack(ack)) => {
                if sent.is_none_or(|s| s.nonce != ack.nonce) {
                    tracing::debug!(sensor_id, nonce = %ack.nonce, "stale ACK ignored");
                    return;
                }
                *applied = ack.version;
                self.service.metrics.config_acks.inc();
                let version = i64::try_from(ack.version).unwrap_or(i64::MAX);
                tracing::info!(sensor_id, version, "sensor applied config");
                recorder
                    .record(SensorEvent::Acked {
                        sensor_id: sensor_id.to_owned(),
                        stream_id: self.stream_id.clone(),
                        version,
                        at: now_ms(),
                    })
                    .await;
            }
            Some(Message::Nack(nack)) => {
                let Some(sent) = sent.filter(|s| s.nonce == nack.nonce) else {
                    tracing::debug!(sensor_id, nonce = %nack.nonce, "stale NACK ignored");
                    return;
                };
                let error = truncate(&nack.error, MAX_NACK_ERROR_BYTES);
                self.service.metrics.config_nacks.inc();
                let kept = i64::try_from(nack.version).unwrap_or(i64::MAX);
                tracing::warn!(
                    sensor_id,
                    rejected_version = sent.version,
                    kept_version = kept,
                    error,
                    "sensor rejected config"
                );
                recorder
                    .record(SensorEvent::Nacked {
                        sensor_id: sensor_id.to_owned(),
                        stream_id: self.stream_id.clone(),
                        version: kept,
                        error: error.to_owned(),
                        at: now_ms(),
                    })
                    .await;
            }
            Some(Message::Hello(_)) => {
                tracing::debug!(sensor_id, "repeated SensorHello ignored");
            }
            None => tracing::debug!(sensor_id, "empty SensorMessage ignored"),
        }
    }

    /// Tells the sensor to reconnect (to another replica, or to this one once it is back).
    fn end_for_shutdown(&self) -> End {
        let _ = self
            .tx
            .try_send(Err(Status::unavailable("control plane shutting down")));
        End::Shutdown
    }

    /// Ends the stream with `status`.
    async fn fail(&self, status: Status) {
        tracing::info!(code = ?status.code(), message = status.message(), "config stream refused");
        let _ = self.tx.send(Err(status)).await;
    }
}

/// Checks a hello's fields.
fn check_hello(hello: &SensorHello) -> Result<(), String> {
    let ok = |s: &str, max: usize| s.len() <= max && !s.chars().any(char::is_control);
    if hello.sensor_id.is_empty() || !ok(&hello.sensor_id, 128) {
        return Err(
            "SensorHello.sensor_id must be 1-128 characters without control characters".into(),
        );
    }
    if !ok(&hello.region, 64) {
        return Err(
            "SensorHello.region must be at most 64 characters without control characters".into(),
        );
    }
    if !ok(&hello.build, 200) {
        return Err(
            "SensorHello.build must be at most 200 characters without control characters".into(),
        );
    }
    Ok(())
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_checks() {
        let mut hello = SensorHello {
            sensor_id: "s1".into(),
            region: "eu".into(),
            build: "glitch-sensor 0.1.0".into(),
            last_applied_version: 0,
        };
        assert!(check_hello(&hello).is_ok());
        hello.sensor_id = String::new();
        assert!(check_hello(&hello).is_err());
        hello.sensor_id = "a\nb".into();
        assert!(check_hello(&hello).is_err());
    }

    #[test]
    fn truncates_at_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
