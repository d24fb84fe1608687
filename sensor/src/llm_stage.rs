//! The LLM classifier stage of the request path. It starts together with the signature pass
//! (the calls are in flight while signatures scan), is cancelled when signatures alone already
//! block, and is then either awaited within the policy's `llm_budget_ms` (`llm_mode: sync`) or
//! left to finish in the background, its verdict written as a follow-up event and alert
//! (`llm_mode: async`). A failed or late stage is handled by the policy's `llm_failure`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use glitch_classify::{ClassifierSet, Outcome};
use glitch_detect::extract::{parse_batch_request, parse_messages_request};
use glitch_detect::{
    CompiledPolicy, Direction, LlmFailure, LlmMode, LlmScore, ScanReport, TextSegment,
};
use glitch_proto::events::v1::{self as pb, SecurityEvent};
use tokio::task::JoinHandle;

use crate::context::RequestContext;
use crate::events::{BodyKind, EventDraft};
use crate::metrics::LlmStageLabels;
use crate::state::AppState;

/// Longest an async-mode stage may run before its follow-up event records a timeout.
const ASYNC_STAGE_LIMIT: Duration = Duration::from_secs(60);

/// A classifier stage in flight for one request.
pub struct LlmStage {
    /// The spawned calls; `None` when every verdict came from the cache (or nothing to do).
    task: Option<JoinHandle<Outcome>>,
    /// The outcome when it was known at once.
    ready: Option<Outcome>,
    /// Set when the stage cannot run at all ("unavailable").
    unavailable: Option<String>,
    started: Instant,
    budget: Duration,
    mode: LlmMode,
    failure: LlmFailure,
}

impl Drop for LlmStage {
    fn drop(&mut self) {
        // The request went away (or decided without us): stop paying for the calls.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// What a finished (or abandoned) stage says about the request.
pub struct StageVerdict {
    /// Classifier scores merged into the report.
    pub report: ScanReport,
    /// The failure status ("timeout", "failed", "unavailable") when the stage did not fully
    /// succeed, and the policy fails closed.
    pub refuse: Option<&'static str>,
}

impl LlmStage {
    /// Starts the stage for a request's input segments, or `None` when the policy has no rules
    /// a configured classifier serves.
    pub fn start(
        classifiers: &Arc<ClassifierSet>,
        policy: &CompiledPolicy,
        segments: &[TextSegment<'_>],
    ) -> Option<LlmStage> {
        let wanted = policy.llm_types(Direction::Input);
        if wanted.is_empty() || classifiers.is_empty() {
            return None;
        }
        let doc = policy.policy();
        let only = &doc.llm_classifiers;
        let mut stage = LlmStage {
            task: None,
            ready: None,
            unavailable: None,
            started: Instant::now(),
            budget: Duration::from_millis(u64::from(doc.llm_budget_ms)),
            mode: doc.llm_mode,
            failure: doc.llm_failure,
        };
        let names = classifiers.endpoint_names();
        if let Some(missing) = only.iter().find(|n| !names.iter().any(|c| **c == ***n)) {
            stage.unavailable = Some(format!("{missing}: not configured on this sensor"));
            return Some(stage);
        }
        let served: Vec<Arc<str>> = wanted
            .iter()
            .filter(|t| classifiers.serves(t, only))
            .cloned()
            .collect();
        if served.is_empty() {
            return None;
        }
        let texts: Vec<&str> = segments.iter().map(|s| &*s.text).collect();
        let plan = classifiers.plan(&texts, &served, only);
        if plan.pending_calls() == 0 {
            stage.ready = Some(plan.into_outcome());
        } else {
            stage.task = Some(tokio::spawn(classifiers.clone().run(plan)));
        }
        Some(stage)
    }

    /// `sync` or `async`.
    pub fn mode(&self) -> LlmMode {
        self.mode
    }

    /// Signatures already blocked: stop the calls and record that.
    pub fn cancel(mut self, ctx: &mut RequestContext) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let status = if self.unavailable.is_some() {
            "unavailable"
        } else if self.ready.is_some() {
            "ok"
        } else {
            "cancelled"
        };
        let mut record = self.record(status);
        if let Some(outcome) = &self.ready {
            fill_from_outcome(&mut record, outcome);
        }
        count(ctx, status);
        classifier_span(ctx, self.started, &record);
        ctx.event.llm = Some(record);
    }

    /// Sync mode: waits for the verdict until the budget runs out, merges the scores into
    /// `report`, and records the stage in the event.
    pub async fn wait(
        mut self,
        ctx: &mut RequestContext,
        policy: &CompiledPolicy,
        segments: &[TextSegment<'_>],
        report: &mut ScanReport,
    ) -> Option<&'static str> {
        let outcome = if let Some(reason) = self.unavailable.take() {
            Err(("unavailable", vec![reason]))
        } else if let Some(outcome) = self.ready.take() {
            Ok(outcome)
        } else if let Some(task) = self.task.as_mut() {
            let deadline = tokio::time::Instant::from_std(self.started + self.budget);
            match tokio::time::timeout_at(deadline, task).await {
                Ok(Ok(outcome)) => Ok(outcome),
                Ok(Err(e)) => Err(("failed", vec![format!("classifier task ended: {e}")])),
                Err(_) => Err(("timeout", Vec::new())),
            }
        } else {
            Err(("failed", vec!["no classifier task".to_owned()]))
        };
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let waited = self.started.elapsed();
        ctx.metrics().llm_wait.observe(waited.as_secs_f64());
        let (status, mut record) = match outcome {
            Ok(outcome) => {
                let status = if outcome.failures.is_empty() {
                    "ok"
                } else {
                    "failed"
                };
                let mut record = self.record(status);
                fill_from_outcome(&mut record, &outcome);
                policy.merge_llm(Direction::Input, segments, &scores(&outcome), report);
                (status, record)
            }
            Err((status, errors)) => {
                let mut record = self.record(status);
                record.errors = errors;
                (status, record)
            }
        };
        record.latency_ms = waited.as_secs_f64() * 1000.0;
        count(ctx, status);
        let refuse = if status == "ok" {
            None
        } else {
            record.failure_action = self.failure.as_str().to_owned();
            tracing::warn!(
                event_id = %ctx.event_id(),
                status,
                errors = ?record.errors,
                llm_failure = self.failure.as_str(),
                "LLM classifier stage did not complete"
            );
            (self.failure == LlmFailure::Closed).then_some(status)
        };
        classifier_span(ctx, self.started, &record);
        ctx.event.llm = Some(record);
        refuse
    }

    /// Async mode: the request goes on at once; the stage finishes in the background and its
    /// verdict becomes a follow-up event (and an alert when a rule triggered).
    pub fn detach(
        mut self,
        ctx: &mut RequestContext,
        app: &Arc<AppState>,
        policy: Arc<CompiledPolicy>,
        body: Bytes,
        batch: bool,
    ) {
        count(ctx, "pending");
        let pending = self.record("pending");
        classifier_span(ctx, self.started, &pending);
        ctx.event.llm = Some(pending);
        let template = follow_up_template(&ctx.event);
        let app = app.clone();
        let task = self.task.take();
        let ready = self.ready.take();
        let unavailable = self.unavailable.take();
        let record = self.record("ok");
        let started = self.started;
        tokio::spawn(async move {
            let outcome = match (unavailable, ready, task) {
                (Some(reason), _, _) => Err(("unavailable", vec![reason])),
                (None, Some(outcome), _) => Ok(outcome),
                (None, None, Some(task)) => {
                    let abort = task.abort_handle();
                    match tokio::time::timeout(ASYNC_STAGE_LIMIT, task).await {
                        Ok(Ok(outcome)) => Ok(outcome),
                        Ok(Err(e)) => Err(("failed", vec![format!("classifier task ended: {e}")])),
                        Err(_) => {
                            abort.abort();
                            Err(("timeout", Vec::new()))
                        }
                    }
                }
                (None, None, None) => Err(("failed", vec!["no classifier task".to_owned()])),
            };
            write_follow_up(
                &app, template, record, started, outcome, &policy, &body, batch,
            )
            .await;
        });
    }

    fn record(&self, status: &str) -> pb::LlmStage {
        pb::LlmStage {
            status: status.to_owned(),
            mode: self.mode.as_str().to_owned(),
            ..Default::default()
        }
    }
}

/// The stage as a span of the request's trace (when tracing).
fn classifier_span(ctx: &mut RequestContext, started: Instant, record: &pb::LlmStage) {
    let span = ctx.phase_span(
        "classifier",
        None,
        glitch_process::telemetry::SpanKind::Internal,
        started,
        Instant::now(),
        || {
            vec![
                ("glitch.llm.status", record.status.clone().into()),
                ("glitch.llm.mode", record.mode.clone().into()),
                ("glitch.llm.calls", i64::from(record.calls).into()),
                ("glitch.llm.cache_hits", i64::from(record.cache_hits).into()),
            ]
        },
    );
    if !matches!(record.status.as_str(), "ok" | "cancelled" | "pending") {
        ctx.phase_error(span, record.status.clone());
    }
}

fn count(ctx: &RequestContext, status: &'static str) {
    ctx.metrics()
        .llm_stage
        .get_or_create(&LlmStageLabels { status })
        .inc();
}

fn scores(outcome: &Outcome) -> Vec<LlmScore> {
    outcome
        .scores
        .iter()
        .map(|s| LlmScore {
            segment: s.text_index,
            window: s.window.clone(),
            detector_type: s.detector_type.clone(),
            confidence: s.confidence,
            classifier: s.endpoint.clone(),
        })
        .collect()
}

fn fill_from_outcome(record: &mut pb::LlmStage, outcome: &Outcome) {
    record.calls = outcome.calls;
    record.cache_hits = outcome.cache_hits;
    record.skipped_windows = outcome.skipped_windows;
    record.errors = outcome
        .failures
        .iter()
        .map(|f| format!("{}: {}", f.endpoint, f.kind))
        .collect();
    for s in &outcome.scores {
        let entry = record
            .scores
            .entry(s.detector_type.to_string())
            .or_insert(0.0);
        *entry = entry.max(s.confidence);
    }
}

/// The fields a follow-up event shares with the request's event.
fn follow_up_template(event: &SecurityEvent) -> SecurityEvent {
    SecurityEvent {
        follow_up_of: event.event_id.clone(),
        sensor_id: event.sensor_id.clone(),
        region: event.region.clone(),
        project_id: event.project_id.clone(),
        key_id: event.key_id.clone(),
        session_id: event.session_id.clone(),
        method: event.method.clone(),
        path: event.path.clone(),
        model: event.model.clone(),
        stream: event.stream,
        user_agent: event.user_agent.clone(),
        policy_id: event.policy_id.clone(),
        config_version: event.config_version,
        trace_id: event.trace_id.clone(),
        ..Default::default()
    }
}

#[allow(clippy::too_many_arguments)]
async fn write_follow_up(
    app: &AppState,
    mut event: SecurityEvent,
    mut record: pb::LlmStage,
    started: Instant,
    outcome: Result<Outcome, (&'static str, Vec<String>)>,
    policy: &CompiledPolicy,
    body: &Bytes,
    batch: bool,
) {
    let mut report = ScanReport::default();
    match outcome {
        Ok(outcome) => {
            fill_from_outcome(&mut record, &outcome);
            if !outcome.failures.is_empty() {
                record.status = "failed".into();
            }
            let parsed = if batch {
                parse_batch_request(body)
            } else {
                parse_messages_request(body)
            };
            if let Ok(parsed) = parsed {
                policy.merge_llm(
                    Direction::Input,
                    &parsed.segments,
                    &scores(&outcome),
                    &mut report,
                );
            }
        }
        Err((status, errors)) => {
            record.status = status.to_owned();
            record.errors = errors;
        }
    }
    record.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    event.event_id = uuid::Uuid::now_v7().to_string();
    event.time = Some(prost_types::Timestamp {
        seconds: i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(now.subsec_nanos()).unwrap_or(0),
    });
    event.decision = if report.findings.is_empty() {
        "allowed"
    } else {
        "flagged"
    }
    .to_owned();
    event.latency_ms = Some(pb::Latency {
        detection: record.latency_ms,
        ..Default::default()
    });
    event.findings = report
        .findings
        .iter()
        .map(crate::context::finding_to_pb)
        .collect();
    event.risk = Some(pb::Risk {
        // Nothing was blocked: the request was forwarded before the verdict.
        blocked: false,
        categories: report.categories().iter().map(|c| c.to_string()).collect(),
        confidence: report.max_confidence(),
    });
    if record.status != "ok" {
        record.failure_action = "open".into();
    }
    event.llm = Some(record);
    if let Some(alerts) = &app.alerts
        && let Some(alert) = crate::alerts::Alert::for_event(&event)
    {
        alerts.send(alert, &app.metrics);
    }
    let Some(permit) = app.events.reserve().await else {
        tracing::warn!(follow_up_of = %event.follow_up_of, "sensor shutting down: follow-up event not written");
        return;
    };
    app.metrics.llm_follow_ups.inc();
    permit.send(EventDraft {
        event,
        body: None,
        body_kind: BodyKind::None,
        mask_values: Vec::new(),
        response_text: String::new(),
        omitted_reason: None,
        headers: None,
    });
}
