//! The background loading task. The UI sends [`Job`]s on a bounded channel with `try_send`
//! (never waiting; a full queue means "ask again on the next tick"), the task runs up to
//! [`MAX_IN_FLIGHT`] calls at once and sends each [`Reply`] back on a second bounded channel
//! that the UI drains between frames. Parsing happens here, off the UI task. Each job carries a
//! [`Ticket`] naming the view state that asked (its epoch), so answers that arrive after the
//! filters changed or the view was left are recognised and dropped.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};

use super::client::{ApiClient, ApiError};
use super::model::{EventSummary, Page, SessionRow, WholeEvent};
use crate::filter::Params;

/// Jobs waiting for the task at most.
pub const JOB_QUEUE: usize = 16;
/// Replies waiting for the UI at most.
pub const REPLY_QUEUE: usize = 16;
/// Calls running at once at most.
pub const MAX_IN_FLIGHT: usize = 4;

/// What to load.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    /// `GET /v1/sessions`.
    Sessions {
        /// Filters.
        params: Params,
        /// Page cursor.
        cursor: Option<String>,
        /// Page size.
        limit: usize,
    },
    /// `GET /v1/sessions/{id}/events`.
    SessionEvents {
        /// The session's project.
        project_id: String,
        /// The session.
        session_id: String,
        /// Page cursor.
        cursor: Option<String>,
        /// Page size.
        limit: usize,
    },
    /// `GET /v1/events`.
    Events {
        /// Filters.
        params: Params,
        /// Page cursor.
        cursor: Option<String>,
        /// Page size.
        limit: usize,
    },
    /// `GET /v1/events/{id}`.
    Event {
        /// The event.
        event_id: String,
    },
}

impl Query {
    /// The page cursor the query was sent with.
    pub fn cursor(&self) -> Option<&str> {
        match self {
            Query::Sessions { cursor, .. }
            | Query::SessionEvents { cursor, .. }
            | Query::Events { cursor, .. } => cursor.as_deref(),
            Query::Event { .. } => None,
        }
    }
}

/// Why a view asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The first page after opening the view or changing filters.
    First,
    /// The next page.
    More,
    /// A live-mode refresh.
    Poll,
}

/// Who asked and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// The asking view state's epoch (unique per view instance and filter set).
    pub epoch: u64,
    /// Why.
    pub purpose: Purpose,
}

/// One call to make.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// Who asked.
    pub ticket: Ticket,
    /// What to load.
    pub query: Query,
}

/// What came back.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// A page of sessions.
    Sessions(Page<SessionRow>),
    /// A page of event summaries.
    Events(Page<EventSummary>),
    /// One whole event.
    Event(Box<WholeEvent>),
}

/// The answer to a [`Job`].
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// The job's ticket.
    pub ticket: Ticket,
    /// The job's query.
    pub query: Query,
    /// The result.
    pub result: Result<Payload, ApiError>,
}

/// The UI's ends of the two channels.
#[derive(Debug)]
pub struct Loader {
    /// Where jobs go (`try_send` only).
    pub jobs: mpsc::Sender<Job>,
    /// Where replies come from.
    pub replies: mpsc::Receiver<Reply>,
}

/// Runs one job.
pub async fn run_job(client: &ApiClient, job: Job) -> Reply {
    let result = match &job.query {
        Query::Sessions {
            params,
            cursor,
            limit,
        } => client
            .sessions(params.clone(), cursor.as_deref(), *limit)
            .await
            .map(Payload::Sessions),
        Query::SessionEvents {
            project_id,
            session_id,
            cursor,
            limit,
        } => client
            .session_events(project_id, session_id, cursor.as_deref(), *limit)
            .await
            .map(Payload::Events),
        Query::Events {
            params,
            cursor,
            limit,
        } => client
            .events(params.clone(), cursor.as_deref(), *limit)
            .await
            .map(Payload::Events),
        Query::Event { event_id } => client
            .event(event_id)
            .await
            .map(|e| Payload::Event(Box::new(e))),
    };
    Reply {
        ticket: job.ticket,
        query: job.query,
        result,
    }
}

/// Starts the loading task on the current runtime.
pub fn spawn(client: ApiClient) -> Loader {
    let (job_tx, mut job_rx) = mpsc::channel::<Job>(JOB_QUEUE);
    let (reply_tx, reply_rx) = mpsc::channel::<Reply>(REPLY_QUEUE);
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        while let Some(job) = job_rx.recv().await {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let client = client.clone();
            let reply_tx = reply_tx.clone();
            tokio::spawn(async move {
                tracing::debug!(query = ?job.query, "loading");
                let reply = run_job(&client, job).await;
                if let Err(e) = &reply.result {
                    tracing::warn!(error = %e, "audit API call failed");
                }
                // The UI has gone away when this fails; nothing to do.
                let _ = reply_tx.send(reply).await;
                drop(permit);
            });
        }
    });
    Loader {
        jobs: job_tx,
        replies: reply_rx,
    }
}
