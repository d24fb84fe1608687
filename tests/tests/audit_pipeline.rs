//! The audit pipeline end to end with real processes: `glitch-sensor` producing to a real
//! Kafka-protocol broker (tansu), `glitch-audit-consumer` indexing from it into SQLite, and the
//! fake Anthropic upstream.
//!
//! * The broker stopped during load, the sensor restarted while the broker is down, the broker
//!   back: every request's event is in the index exactly once, and the spool drains.
//! * Credentials and secrets sent through the sensor appear nowhere: not in the Kafka topic (its
//!   records and the broker's storage), not in the spool, not in the index, not in the logs.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use glitch_e2e::pipeline::{
    KEY, audit_get, indexed_event_ids, send_message, sensor_health, start_consumer, start_sensor,
};
use glitch_fake_anthropic::FakeAnthropic;
use glitch_testkit::kafka::Broker;

const TOPIC: &str = "glitch-events";

fn api_key() -> String {
    format!("sk-ant-api03-{}", "PipeKey0".repeat(11))
}

/// Sends `n` requests over 8 sessions, 8 at a time; returns the event ids (all must be 200).
async fn load(client: &reqwest::Client, base: &str, n: usize, tag: &str) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    let mut pending = Vec::new();
    for i in 0..n {
        let client = client.clone();
        let base = base.to_owned();
        let session = format!("00000000-0000-4000-8000-{:012}", i % 8);
        let text = format!("{tag} request {i}: please summarise the build log");
        pending.push(tokio::spawn(async move {
            send_message(&client, &base, &session, &text, &api_key()).await
        }));
        if pending.len() == 8 || i + 1 == n {
            for task in pending.drain(..) {
                let (status, id) = task.await.unwrap().unwrap();
                assert_eq!(
                    status, 200,
                    "{tag}: the sensor must answer while Kafka is down"
                );
                assert!(!id.is_empty());
                ids.push(id);
            }
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_and_sensor_restart_lose_no_event_and_duplicate_none() {
    let fake = FakeAnthropic::start().await.unwrap();
    let mut broker = Broker::start();
    broker.create_topic(TOPIC, 3);
    let dir = tempfile::tempdir().unwrap();
    let index = format!("sqlite://{}", dir.path().join("audit.db").display());
    let consumer = start_consumer(&broker.events_url(TOPIC), &index, &[]);
    let events = broker.events_url(TOPIC);
    let mut sensor = start_sensor(dir.path(), &events, &fake.url(), &[]);
    let client = reqwest::Client::new();

    // 1. Kafka up.
    let mut sent = load(&client, &sensor.base, 120, "up").await;

    // 2. Kafka down: the sensor keeps answering and spools.
    broker.stop();
    sent.extend(load(&client, &sensor.base, 120, "down").await);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = sensor_health(&client, &sensor.admin).await;
        let spooled = health["event_spool"]["spool_events"].as_u64().unwrap_or(0);
        if spooled > 0 {
            assert_eq!(health["event_spool"]["kafka"], events.as_str());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the spool never held the undelivered events: {health}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // 3. The sensor restarts while Kafka is still down: the spool survives it.
    let status = sensor.process.terminate().unwrap();
    assert!(status.success(), "sensor exit: {status:?}");
    let spool_dir = dir.path().join("state").join("spool");
    assert!(
        std::fs::read_dir(&spool_dir).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".seg")),
        "no spool segments left for the next start"
    );
    let sensor = start_sensor(dir.path(), &events, &fake.url(), &[]);
    let health = sensor_health(&client, &sensor.admin).await;
    assert!(
        health["event_spool"]["spool_events"].as_u64().unwrap_or(0) > 0,
        "the restarted sensor does not see its backlog: {health}"
    );
    sent.extend(load(&client, &sensor.base, 60, "restarted").await);

    // 4. Kafka back: everything arrives, each event once.
    broker.start_again();
    let wanted: HashSet<&String> = sent.iter().collect();
    assert_eq!(wanted.len(), sent.len(), "event ids must be unique");
    let deadline = Instant::now() + Duration::from_secs(150);
    let indexed = loop {
        let indexed = indexed_event_ids(&client, &consumer.api)
            .await
            .unwrap_or_default();
        let have: HashSet<&String> = indexed.iter().collect();
        if wanted.iter().all(|id| have.contains(id)) {
            break indexed;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} events indexed after the outage; broker log:\n{}",
            wanted.iter().filter(|id| have.contains(*id)).count(),
            wanted.len(),
            broker.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for id in &indexed {
        *counts.entry(id).or_default() += 1;
    }
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "events indexed twice: {repeated:?}");
    assert_eq!(indexed.len(), sent.len(), "unexpected extra events");

    // Sessions add up: 8 sessions, 300 requests.
    let sessions = audit_get(&client, &consumer.api, "/v1/sessions?limit=100")
        .await
        .unwrap();
    let total: u64 = sessions["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(total, sent.len() as u64, "{sessions}");

    // The spool drains back to nothing undelivered.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let health = sensor_health(&client, &sensor.admin).await;
        if health["event_spool"]["spool_events"].as_u64() == Some(0)
            && health["event_spool"]["kafka_status"] == "ok"
        {
            break;
        }
        assert!(Instant::now() < deadline, "spool never drained: {health}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(consumer);
}

/// Every file under `dir` (recursively) as bytes.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), bytes));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Every record of `topic`, key and value bytes, read back with a real Kafka consumer.
fn topic_records(broker: &Broker, topic: &str, expected: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    use rdkafka::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set(
            "group.id",
            format!("redaction-check-{}", std::process::id()),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while out.len() < expected && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            out.push((
                message.key().unwrap_or_default().to_vec(),
                message.payload().unwrap_or_default().to_vec(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_appears_in_kafka_the_spool_the_index_or_the_logs() {
    let fake = FakeAnthropic::start().await.unwrap();
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let dir = tempfile::tempdir().unwrap();
    let index_dir = dir.path().join("index");
    std::fs::create_dir_all(&index_dir).unwrap();
    let index = format!("sqlite://{}", index_dir.join("audit.db").display());
    let events = broker.events_url(TOPIC);
    let consumer = start_consumer(&events, &index, &[]);
    let sensor = start_sensor(dir.path(), &events, &fake.url(), &[]);
    let client = reqwest::Client::new();

    let api_key = format!("sk-ant-api03-{}AA", "RedactMe0Key".repeat(8));
    let oauth = format!("sk-ant-oat01-{}AA", "OAuthSecret0".repeat(8));
    let aws = "AKIAQ3T5X7ZUB2D4F6HK";
    let github = format!("ghp_{}", "R3dact3dT0ken9".repeat(3).get(..36).unwrap());
    let pasted = format!("sk-ant-api03-{}AA", "PastedInPrompt".repeat(7));
    let wrong_glitch = "glitch_sk_wrongwrongwrongwrongwrong01";
    let secrets_text =
        format!("deploy with aws_access_key_id={aws} and token {github}; my key is {pasted}");

    let mut ids = Vec::new();
    // x-api-key credential, secrets in the prompt.
    let (status, id) = send_message(
        &client,
        &sensor.base,
        "sess-redact-1",
        &secrets_text,
        &api_key,
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    ids.push(id);
    // OAuth bearer credential instead of x-api-key.
    let response = client
        .post(format!("{}/v1/messages", sensor.base))
        .header("x-glitch-key", KEY)
        .header("authorization", format!("Bearer {oauth}"))
        .header("anthropic-version", "2023-06-01")
        .header("x-claude-code-session-id", "sess-redact-2")
        .json(&serde_json::json!({
            "model": "claude-sonnet-4-5", "max_tokens": 16,
            "system": format!("ops notes: {github}"),
            "messages": [{"role": "user", "content": [{"type": "text", "text": secrets_text}]}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    ids.push(
        response.headers()["x-glitch-event-id"]
            .to_str()
            .unwrap()
            .to_owned(),
    );
    // A wrong Glitch key: an auth_failed event that must not hold the key.
    let response = client
        .post(format!("{}/v1/messages", sensor.base))
        .header("x-glitch-key", wrong_glitch)
        .header("x-api-key", &api_key)
        .json(&serde_json::json!({"model": "m", "max_tokens": 1, "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    ids.push(
        response.headers()["x-glitch-event-id"]
            .to_str()
            .unwrap()
            .to_owned(),
    );

    // Wait for all three in the index, then look at what was stored.
    let mut stored = Vec::new();
    for id in &ids {
        let deadline = Instant::now() + Duration::from_secs(60);
        let event = loop {
            if let Ok(event) = audit_get(&client, &consumer.api, &format!("/v1/events/{id}")).await
            {
                break event;
            }
            assert!(Instant::now() < deadline, "event {id} never indexed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        stored.push(event);
    }
    // The secrets were found (so masking had something to do) and the conversation was kept.
    let detectors: Vec<&str> = stored[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["detector_type"].as_str().unwrap())
        .collect();
    assert!(
        detectors.iter().any(|d| d.starts_with("secrets/")),
        "no secret finding: {detectors:?}"
    );
    let conversation = stored[1]["conversation"].to_string();
    assert!(
        conversation.contains("deploy with aws_access_key_id="),
        "{conversation}"
    );
    assert_eq!(stored[0]["request_headers"]["x-api-key"], "[REDACTED]");
    assert_eq!(stored[0]["request_headers"]["x-glitch-key"], "[REDACTED]");
    assert_eq!(stored[1]["request_headers"]["authorization"], "[REDACTED]");
    assert_eq!(stored[2]["decision"], "auth_failed");

    let credentials = [
        api_key.as_str(),
        oauth.as_str(),
        KEY,
        wrong_glitch,
        aws,
        github.as_str(),
        pasted.as_str(),
    ];
    let mut places: Vec<(String, Vec<u8>)> = Vec::new();
    // The topic's records as a consumer sees them (decompressed), and the broker's storage.
    let records = topic_records(&broker, TOPIC, 3);
    assert!(
        records.len() >= 3,
        "only {} records on the topic",
        records.len()
    );
    // Key = session id, or the event id when there is none; value = the SecurityEvent.
    for (key, value) in &records {
        use prost::Message;
        let event = glitch_proto::events::v1::SecurityEvent::decode(value.as_slice()).unwrap();
        let expected = if event.session_id.is_empty() {
            &event.event_id
        } else {
            &event.session_id
        };
        assert_eq!(String::from_utf8_lossy(key), expected.as_str());
    }
    let keys: HashSet<String> = records
        .iter()
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert!(
        keys.contains("sess-redact-1") && keys.contains("sess-redact-2") && keys.contains(&ids[2]),
        "{keys:?}"
    );
    for (i, (key, value)) in records.into_iter().enumerate() {
        places.push((format!("topic record {i} key"), key));
        places.push((format!("topic record {i} value"), value));
    }
    places.extend(files_under(broker.data_dir()));
    // The spool (the newest segment stays on disk after delivery).
    let spool = files_under(&dir.path().join("state").join("spool"));
    assert!(
        spool.iter().any(|(_, bytes)| contains(bytes, &ids[0])),
        "the spool should still hold the delivered events' segment"
    );
    places.extend(spool);
    // The index, its WAL, and what the API returns.
    places.extend(files_under(&index_dir));
    for event in &stored {
        places.push(("audit API".into(), event.to_string().into_bytes()));
    }
    // The processes' logs.
    let mut sensor = sensor;
    sensor.process.terminate();
    let mut consumer = consumer;
    consumer.process.terminate();
    let logs: Vec<String> = sensor
        .process
        .log
        .try_iter()
        .chain(consumer.process.log.try_iter())
        .collect();
    places.push(("logs".into(), logs.join("\n").into_bytes()));

    let mut leaks = Vec::new();
    for (place, bytes) in &places {
        for credential in credentials {
            if contains(bytes, credential) {
                leaks.push(format!("{credential} in {place}"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "credentials leaked: {leaks:#?}\nfindings: {}",
        stored[0]["findings"]
    );
}
