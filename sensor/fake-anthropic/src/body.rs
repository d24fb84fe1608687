//! Response bodies: a whole buffer, or a scripted sequence of frames (SSE
//! events, or a truncated reply) that can be paced, end, fail mid-way or hang,
//! and that keeps the stream counters of [`crate::FakeStats`].

use std::fmt;
use std::future::Future;
use std::iter::Peekable;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use crate::server::Counters;

/// Pause before failing a `drop` body, so the frames before it get flushed.
const ABORT_GAP: Duration = Duration::from_millis(20);

/// The error a body returns to make hyper abort the connection.
#[derive(Debug)]
pub(crate) struct Aborted;

impl fmt::Display for Aborted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fake-anthropic: response deliberately aborted")
    }
}

impl std::error::Error for Aborted {}

/// Frames of a scripted body, produced lazily (a `big-stream-N` can be long).
pub(crate) type Frames = Box<dyn Iterator<Item = Bytes> + Send>;

/// A future that resolves when the server shuts down.
pub(crate) type ShutdownFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How a scripted body ends once its frames are out.
pub(crate) enum End {
    /// The body ends normally.
    Finish,
    /// The body fails, so hyper aborts the connection (h1) or resets the
    /// stream (h2).
    Abort,
    /// The body never ends; it fails only when the server shuts down.
    Hang(ShutdownFuture),
}

/// Any response body the fake sends.
pub(crate) enum ResponseBody {
    Full(Option<Bytes>),
    Scripted(Box<Scripted>),
}

impl ResponseBody {
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        ResponseBody::Full((!bytes.is_empty()).then_some(bytes))
    }

    pub(crate) fn empty() -> Self {
        ResponseBody::Full(None)
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Aborted;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        match self.get_mut() {
            ResponseBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Scripted(scripted) => scripted.poll_next(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(bytes) => bytes.is_none(),
            ResponseBody::Scripted(scripted) => scripted.done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            ResponseBody::Full(None) => SizeHint::with_exact(0),
            ResponseBody::Scripted(_) => SizeHint::default(),
        }
    }
}

/// A body that sends `frames` one per `poll_frame`, `delay` apart, then ends as
/// `end` says.
pub(crate) struct Scripted {
    frames: Peekable<Frames>,
    delay: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    end: End,
    /// Set once the script has played out; a body dropped before that was
    /// abandoned by the client (or cut by shutdown).
    done: bool,
    /// Set once the body has failed because of shutdown; nothing follows.
    cut: bool,
    /// The stream counters to keep, for SSE streams; `None` for other bodies.
    counters: Option<Arc<Counters>>,
}

impl Scripted {
    pub(crate) fn new(
        frames: Frames,
        delay: Duration,
        end: End,
        counters: Option<Arc<Counters>>,
    ) -> Self {
        if let Some(counters) = &counters {
            counters.stream_started();
        }
        Scripted {
            frames: frames.peekable(),
            delay,
            sleep: None,
            end,
            done: false,
            cut: false,
            counters,
        }
    }

    pub(crate) fn into_body(self) -> ResponseBody {
        ResponseBody::Scripted(Box::new(self))
    }

    fn finish(&mut self) {
        self.done = true;
        if let Some(counters) = &self.counters {
            counters.stream_completed();
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        if self.done || self.cut {
            return Poll::Ready(None);
        }
        if let Some(sleep) = &mut self.sleep {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
        }
        if let Some(frame) = self.frames.next() {
            let last = self.frames.peek().is_none();
            match (&self.end, last) {
                // The last frame of a normal body carries the end of the stream
                // (`is_end_stream`), so HTTP/2 needs no empty DATA frame after it.
                (End::Finish, true) => self.finish(),
                (End::Abort, true) => {
                    self.sleep = Some(Box::pin(tokio::time::sleep(self.delay.max(ABORT_GAP))));
                }
                (_, false) if !self.delay.is_zero() => {
                    self.sleep = Some(Box::pin(tokio::time::sleep(self.delay)));
                }
                _ => {}
            }
            return Poll::Ready(Some(Ok(Frame::data(frame))));
        }
        match &mut self.end {
            End::Finish => {
                self.finish();
                Poll::Ready(None)
            }
            End::Abort => {
                self.finish();
                Poll::Ready(Some(Err(Aborted)))
            }
            End::Hang(shutdown) => match shutdown.as_mut().poll(cx) {
                // Cut by shutdown: not `done`, so it counts as aborted on drop.
                Poll::Ready(()) => {
                    self.cut = true;
                    Poll::Ready(Some(Err(Aborted)))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        if !self.done
            && let Some(counters) = &self.counters
        {
            counters.stream_aborted();
        }
    }
}
