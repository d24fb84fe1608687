//! The console with 100,000 sessions and a session of 100,000 requests: pages load as the
//! selection moves down, only one screen of rows is ever built, and the last row can be reached
//! and drawn. (How long it takes is printed for the record, never asserted.)

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use glitch_console::api::model::{EventSummary, FindingSummary, Page, SessionRow};
use glitch_console::api::{ApiError, Payload, Query, Reply};
use glitch_console::app::{App, AppConfig};
use glitch_console::filter::Filters;
use glitch_console::theme::Theme;
use glitch_console::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const N: usize = 100_000;
const NOW: i64 = 1_800_000_000_000;

fn sessions() -> Vec<SessionRow> {
    (0..N)
        .map(|i| SessionRow {
            session_id: format!("{i:08x}-0000-4000-8000-000000000000"),
            project_id: "proj_big".into(),
            first_seen: Some(NOW - 1_000_000 - i as i64 * 1000),
            last_seen: Some(NOW - i as i64 * 1000),
            requests: 10,
            blocked: (i % 7 == 0) as u64,
            models: vec!["claude-sonnet-4-5".into()],
            input_tokens: 1000,
            output_tokens: 10,
        })
        .collect()
}

fn events() -> Vec<EventSummary> {
    (0..N)
        .map(|i| EventSummary {
            event_id: format!("ev-{i:06}"),
            time: Some(NOW - (N - i) as i64 * 100),
            project_id: "proj_big".into(),
            session_id: "00000000-0000-4000-8000-000000000000".into(),
            method: "POST".into(),
            path: "/v1/messages".into(),
            model: "claude-sonnet-4-5".into(),
            decision: if i % 1000 == 999 {
                "blocked"
            } else {
                "allowed"
            }
            .into(),
            status: 200,
            findings: if i % 1000 == 999 {
                vec![FindingSummary {
                    detector_type: "prompt_attack".into(),
                    action: "block".into(),
                }]
            } else {
                vec![]
            },
            ..EventSummary::default()
        })
        .collect()
}

fn page<T: Clone>(all: &[T], cursor: Option<&str>, limit: usize) -> Page<T> {
    let start: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
    let end = (start + limit).min(all.len());
    Page {
        items: all[start..end].to_vec(),
        next_cursor: (end < all.len()).then(|| end.to_string()),
    }
}

/// Answers the queued jobs from the big lists, page by page like the API.
fn serve(app: &mut App, sessions: &[SessionRow], events: &[EventSummary]) -> usize {
    app.collect_jobs();
    let jobs: Vec<_> = app.outbox.drain(..).collect();
    let n = jobs.len();
    for job in jobs {
        let result = match &job.query {
            Query::Sessions { cursor, limit, .. } => {
                Ok(Payload::Sessions(page(sessions, cursor.as_deref(), *limit)))
            }
            Query::SessionEvents { cursor, limit, .. } => {
                Ok(Payload::Events(page(events, cursor.as_deref(), *limit)))
            }
            other => Err(ApiError::NotFound {
                message: format!("unexpected query {other:?}"),
            }),
        };
        app.on_reply(Reply {
            ticket: job.ticket,
            query: job.query,
            result,
        });
    }
    n
}

fn draw(app: &mut App, terminal: &mut Terminal<TestBackend>) -> String {
    terminal.draw(|f| ui::draw(f, app)).unwrap();
    terminal.backend().to_string()
}

fn press(app: &mut App, code: KeyCode) {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
}

#[test]
fn a_hundred_thousand_sessions_and_requests() {
    let (sessions, events) = (sessions(), events());
    let config = AppConfig {
        api_label: "http://127.0.0.1:8082".into(),
        filters: Filters::default(),
        live: false,
        refresh_ms: 2000,
        theme: Theme::colored(),
    };
    let mut app = App::new(config, NOW);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();

    // Home: keep going to the bottom; each time near the end, the next page loads.
    let started = Instant::now();
    let mut rounds = 0;
    loop {
        serve(&mut app, &sessions, &events);
        draw(&mut app, &mut terminal);
        press(&mut app, KeyCode::Char('G'));
        rounds += 1;
        if app.sessions.rows().len() == N || rounds > 1000 {
            break;
        }
    }
    assert_eq!(app.sessions.rows().len(), N);
    let frame_started = Instant::now();
    let screen = draw(&mut app, &mut terminal);
    let frame = frame_started.elapsed();
    assert!(screen.contains(&format!("{:08x}-", N - 1)[..8]), "{screen}");
    assert!(screen.contains("100000 sessions"), "{screen}");
    println!(
        "100,000 sessions: loaded in {rounds} pages in {:?}; one frame at the bottom: {frame:?}",
        started.elapsed()
    );

    // Into a session of 100,000 requests: pages load as the selection goes down.
    press(&mut app, KeyCode::Char('g'));
    press(&mut app, KeyCode::Enter);
    let started = Instant::now();
    let mut rounds = 0;
    loop {
        serve(&mut app, &sessions, &events);
        draw(&mut app, &mut terminal);
        press(&mut app, KeyCode::Char('G'));
        rounds += 1;
        let loaded = app.session.as_ref().map_or(0, |s| s.events().len());
        if loaded == N || rounds > 1000 {
            break;
        }
    }
    assert_eq!(app.session.as_ref().map(|s| s.events().len()), Some(N));
    let frame_started = Instant::now();
    let screen = draw(&mut app, &mut terminal);
    let frame = frame_started.elapsed();
    assert!(
        screen.contains("100000 of 100000 requests shown"),
        "{screen}"
    );
    assert!(screen.contains("allowed"), "{screen}");
    // ] and [ jump between blocked requests across the whole list.
    press(&mut app, KeyCode::Char('['));
    let screen = draw(&mut app, &mut terminal);
    assert!(screen.contains("prompt_attack"), "{screen}");
    println!(
        "100,000 requests: loaded in {rounds} pages in {:?}; one frame at the bottom: {frame:?}",
        started.elapsed()
    );
}
