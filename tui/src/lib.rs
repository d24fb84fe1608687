//! `glitch-console`: the ratatui terminal console over the audit query API (contract §1, §7).
//! Sessions (home) → one session's requests → one request as the gateway saw it.
//!
//! Layout, after the ratatui templates and gitui: [`app`] holds the state and routes keys,
//! [`event`] turns terminal input and ticks into events, [`ui`] draws, [`components`] are the
//! views (each a [`components::Component`]), [`api`] is the HTTP client and the background
//! loading task with its bounded channels, [`terminal`] takes over and restores the terminal.
//! [`run`] wires them together; `main.rs` only parses flags.

pub mod api;
pub mod app;
pub mod cli;
pub mod components;
pub mod doc;
pub mod event;
pub mod feed;
pub mod filter;
pub mod logging;
pub mod terminal;
pub mod text;
pub mod theme;
pub mod time;
pub mod ui;

use std::time::Duration;

use tokio::sync::mpsc::error::TrySendError;

pub use cli::ConsoleArgs;

use crate::api::{ApiClient, Loader};
use crate::app::{App, AppConfig};
use crate::event::Events;
use crate::terminal::Term;
use crate::theme::Theme;

/// How often the screen's clocks, retries and live refreshes are looked at.
pub const TICK: Duration = Duration::from_millis(250);

/// Why the console stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No token.
    #[error(
        "{} is not set: export the audit API's admin token (or a project token)",
        cli::TOKEN_ENV
    )]
    NoToken,
    /// A bad `--api`.
    #[error(transparent)]
    Client(#[from] api::client::ClientError),
    /// A bad starting filter.
    #[error("bad starting filter: {0}")]
    Filter(String),
    /// The log file cannot be opened.
    #[error("cannot open the log file {path}: {source}")]
    LogFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not run in a terminal.
    #[error("glitch-console needs a terminal: stdout is not a TTY")]
    NotATerminal,
    /// The terminal failed.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// Something panicked (its message was printed after the terminal was restored).
    #[error("stopped after an internal error (see the message above)")]
    Panicked,
}

/// Checks the flags and builds the app's starting configuration and API client.
pub fn prepare(args: &ConsoleArgs) -> Result<(AppConfig, ApiClient), ConsoleError> {
    let token = args.token.clone().ok_or(ConsoleError::NoToken)?;
    let client = ApiClient::new(&args.api, token)?;
    let filters = args.filters();
    filters
        .validate(time::now_ms())
        .map_err(ConsoleError::Filter)?;
    let config = AppConfig {
        api_label: client.base().to_owned(),
        filters,
        live: !args.no_live,
        refresh_ms: i64::try_from(args.refresh.as_millis()).unwrap_or(i64::MAX),
        theme: Theme::from_env(),
    };
    Ok((config, client))
}

/// Runs the console until the user quits (or SIGTERM). The terminal is restored on every path
/// out, panics included.
pub async fn run(args: ConsoleArgs) -> Result<(), ConsoleError> {
    if let Some(path) = &args.log_file {
        logging::init(path, args.log_format).map_err(|source| ConsoleError::LogFile {
            path: path.display().to_string(),
            source,
        })?;
    }
    let (config, client) = prepare(&args)?;
    tracing::info!(api = client.base(), "glitch-console starting");
    let mut app = App::new(config, time::now_ms());
    let loader = api::loader::spawn(client);
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return Err(ConsoleError::NotATerminal);
    }
    let (mut terminal, guard) = terminal::init()?;
    let result = run_loop(&mut terminal, &mut app, loader).await;
    drop(terminal);
    drop(guard);
    tracing::info!("glitch-console stopped");
    result
}

/// Hands the outbox to the loader without waiting: what does not fit stays for the next turn.
fn send_jobs(app: &mut App, loader: &Loader) {
    let mut rest = Vec::new();
    for job in app.outbox.drain(..) {
        if !rest.is_empty() {
            rest.push(job);
            continue;
        }
        match loader.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(job)) => rest.push(job),
            Err(TrySendError::Closed(_)) => {
                tracing::error!("the loading task stopped");
            }
        }
    }
    app.outbox = rest;
}

async fn run_loop(
    terminal: &mut Term,
    app: &mut App,
    mut loader: Loader,
) -> Result<(), ConsoleError> {
    let mut events = Events::new(TICK);
    let shutdown = glitch_process::shutdown_signal();
    tokio::pin!(shutdown);
    app.collect_jobs();
    loop {
        // A panic elsewhere has already given the terminal back: draw nothing more.
        if terminal::panicked() {
            return Err(ConsoleError::Panicked);
        }
        send_jobs(app, &loader);
        terminal.draw(|frame| ui::draw(frame, app))?;
        tokio::select! {
            event = events.next() => app.handle_event(event),
            Some(reply) = loader.replies.recv() => {
                app.on_reply(reply);
                // Take whatever else is ready before drawing again.
                while let Ok(reply) = loader.replies.try_recv() {
                    app.on_reply(reply);
                }
            }
            () = &mut shutdown => {
                tracing::info!("signal received; quitting");
                app.should_quit = true;
            }
        }
        if app.should_quit {
            return Ok(());
        }
    }
}
