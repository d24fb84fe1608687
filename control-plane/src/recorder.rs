//! Records what sensors report after their hello (ACK, NACK, stream end) off the stream path:
//! streams queue events, one task writes them in order, a whole burst in one transaction. A
//! rollout to a hundred sensors is a hundred ACKs within milliseconds; written one by one they
//! would queue on the database (and on SQLite's single writer) while the streams waited.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::{SensorEvent, Store};

/// Events queued before streams wait for the writer.
const QUEUE: usize = 65_536;
/// Most events written in one transaction.
const MAX_BATCH: usize = 1_000;
/// Tries per batch before it is given up (and logged).
const TRIES: u32 = 3;

/// The sending side; cheap to clone, one per stream.
#[derive(Clone, Debug)]
pub struct SensorRecorder {
    tx: mpsc::Sender<SensorEvent>,
}

impl SensorRecorder {
    /// Starts the writer task; it ends once every [`SensorRecorder`] is dropped and the queue
    /// is written.
    pub fn start(store: Store) -> (SensorRecorder, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (SensorRecorder { tx }, tokio::spawn(write_loop(store, rx)))
    }

    /// Queues an event.
    pub async fn record(&self, event: SensorEvent) {
        if self.tx.send(event).await.is_err() {
            tracing::warn!("sensor event writer has stopped; event dropped");
        }
    }
}

async fn write_loop(store: Store, mut rx: mpsc::Receiver<SensorEvent>) {
    let mut batch = Vec::with_capacity(64);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut tries = 0;
        loop {
            tries += 1;
            match store.record_sensor_events(&batch).await {
                Ok(()) => break,
                Err(e) if tries < TRIES => {
                    tracing::warn!(error = %e, events = batch.len(), "cannot record sensor events; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(tries))).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, events = batch.len(), "cannot record sensor events; dropped");
                    break;
                }
            }
        }
        batch.clear();
    }
}
