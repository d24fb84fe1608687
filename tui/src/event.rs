//! Terminal input and ticks as one stream of [`AppEvent`]s: crossterm's async event stream
//! (key presses, mouse, resize) and a steady tick that carries the time (clocks, retries and
//! live refreshes run on it). Key releases and repeats of other kinds are dropped.

use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyEvent, KeyEventKind, MouseEvent, MouseEventKind};
use futures_util::StreamExt;
use tokio::time::{Interval, MissedTickBehavior};

use crate::time::now_ms;

/// One thing that happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppEvent {
    /// A key press.
    Key(KeyEvent),
    /// A mouse event.
    Mouse(MouseEvent),
    /// The terminal changed size.
    Resize,
    /// Time passed; now, in Unix milliseconds.
    Tick(i64),
    /// The terminal's input ended.
    Closed,
}

/// Terminal events and ticks.
pub struct Events {
    stream: EventStream,
    tick: Interval,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl Events {
    /// Reads the terminal and ticks every `tick`.
    pub fn new(tick: Duration) -> Self {
        let mut tick = tokio::time::interval(tick);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        Events {
            stream: EventStream::new(),
            tick,
        }
    }

    /// The next event.
    pub async fn next(&mut self) -> AppEvent {
        loop {
            tokio::select! {
                _ = self.tick.tick() => return AppEvent::Tick(now_ms()),
                item = self.stream.next() => match item {
                    Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                        return AppEvent::Key(key);
                    }
                    // Plain movement is not worth a redraw.
                    Some(Ok(Event::Mouse(mouse))) if mouse.kind != MouseEventKind::Moved => {
                        return AppEvent::Mouse(mouse);
                    }
                    Some(Ok(Event::Resize(_, _))) => return AppEvent::Resize,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "cannot read the terminal");
                        return AppEvent::Closed;
                    }
                    None => return AppEvent::Closed,
                },
            }
        }
    }
}
