//! What a progress stream is: the state it is served from, the frames it writes, who asks,
//! from which seq, and how an error reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use bytes::{BufMut, Bytes, BytesMut};
use tidemark_core::ErrorCode;
use tidemark_core::{Delivery, ErrorInfo, ProgressEvent};

use crate::auth::{Identity, Tokens};
use crate::metrics::{Metrics, OpenStream};
use crate::service::{Agent, ApiError, Feed, FeedItem, Reattach};

#[derive(Debug, Clone)]
pub struct AppState {
    pub agent: Arc<Agent>,
    pub tokens: Arc<Tokens>,
    pub frames: Arc<FrameCache>,
    pub metrics: Arc<Metrics>,
}

/// Told to SSE clients: reconnect after this long.
const RETRY: Duration = Duration::from_secs(1);
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The comment every progress stream opens with, before any event: it tells a client at once
/// that it reached a Tidemark stream (and not a proxy's error page), even when the job is
/// quiet.
pub const HELLO: &str = "tidemark";
/// How often a stream waiting on an interrupted job looks whether it was resumed.
const REATTACH_EVERY: Duration = Duration::from_millis(500);

/// Jobs whose newest frame is kept; past this the cache starts over.
const CACHE_JOBS: usize = 1024;

/// The frame of the newest event sent, per job. Every watcher of a job sends the same
/// events, so the first to send one encodes it and the others share its bytes: with
/// thousands of watchers, encoding (or even copying) once per watcher would cost more than
/// the job being watched.
#[derive(Debug, Default)]
pub struct FrameCache(Mutex<HashMap<String, (u64, Bytes)>>);

impl FrameCache {
    fn progress(&self, ev: &ProgressEvent) -> Bytes {
        let lock = || self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seq, frame)) = lock().get(&ev.job_id)
            && *seq == ev.seq
        {
            return frame.clone();
        }
        let frame = event_frame(ev, "progress");
        let mut cache = lock();
        if cache.len() >= CACHE_JOBS && !cache.contains_key(&ev.job_id) {
            cache.clear();
        }
        // A watcher replaying older events must not evict the newest one the others share.
        if cache.get(&ev.job_id).is_none_or(|(seq, _)| *seq < ev.seq) {
            cache.insert(ev.job_id.clone(), (ev.seq, frame.clone()));
        }
        frame
    }
}

fn event_frame(ev: &ProgressEvent, kind: &str) -> Bytes {
    // The JSON of an event has no line break, so it is one `data:` line.
    let json = serde_json::to_vec(ev).unwrap_or_default();
    let mut b = BytesMut::with_capacity(json.len() + 48);
    b.put_slice(format!("id: {}\nevent: {kind}\ndata: ", ev.seq).as_bytes());
    b.put_slice(&json);
    b.put_slice(b"\n\n");
    b.freeze()
}

fn hello_frame() -> Bytes {
    Bytes::from(format!(": {HELLO}\nretry: {}\n\n", RETRY.as_millis()))
}

const KEEP_ALIVE_FRAME: &[u8] = b": keep-alive\n\n";

/// One stream's frames: the hello comment, stored events, then live ones; a keep-alive
/// comment whenever the job is quiet for [`KEEP_ALIVE`]. Ends after the terminal event, or
/// when the subscriber fell behind what the log keeps (it reconnects and catches up by seq).
/// For a job that is not running and not over, it follows the job once resumed.
#[derive(Debug)]
pub struct Frames {
    agent: Arc<Agent>,
    cache: Arc<FrameCache>,
    metrics: Arc<Metrics>,
    _open: OpenStream,
    feed: Feed,
    hello_sent: bool,
    done: bool,
}

impl Frames {
    /// Subscribes `who` to job `id` after `since`.
    pub async fn open(
        state: &AppState,
        who: crate::Identity,
        id: String,
        since: u64,
    ) -> Result<Frames, ApiError> {
        let agent = state.agent.clone();
        let feed = tokio::task::spawn_blocking(move || agent.subscribe(&who, &id, since))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))??;
        Ok(Frames {
            agent: state.agent.clone(),
            cache: state.frames.clone(),
            metrics: state.metrics.clone(),
            _open: state.metrics.stream_opened(),
            feed,
            hello_sent: false,
            done: false,
        })
    }

    /// The next frame; `None` at the end. Cancel-safe: nothing is consumed until a frame is
    /// returned (a cancelled look for a resumed job is simply made again).
    pub async fn next(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        if !self.hello_sent {
            self.hello_sent = true;
            return Some(hello_frame());
        }
        match tokio::time::timeout(KEEP_ALIVE, self.next_event()).await {
            Ok(Some(frame)) => Some(frame),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(_quiet) => Some(Bytes::from_static(KEEP_ALIVE_FRAME)),
        }
    }

    async fn next_event(&mut self) -> Option<Bytes> {
        let feed = &mut self.feed;
        while feed.replay.is_empty() && feed.live.is_none() {
            let after = feed.waiting_after?;
            tokio::time::sleep(REATTACH_EVERY).await;
            let (a, id) = (self.agent.clone(), feed.job_id.clone());
            match tokio::task::spawn_blocking(move || a.reattach(&id, after)).await {
                Ok(Ok(Reattach::Live(sub))) => feed.live = Some(sub),
                Ok(Ok(Reattach::Ended(rest))) => {
                    feed.waiting_after = None;
                    feed.replay.extend(rest.into_iter().map(FeedItem::Event));
                }
                Ok(Ok(Reattach::Wait)) => {}
                _ => return None,
            }
        }
        let (ev, resync) = match feed.replay.pop_front() {
            Some(FeedItem::Event(ev)) => (ev, false),
            Some(FeedItem::Resync(ev)) => (ev, true),
            None => match feed.live.as_mut()?.next().await? {
                Delivery::Event(ev) => (ev, false),
                Delivery::Resync { .. } => return None,
            },
        };
        if let Some(w) = feed.waiting_after.as_mut() {
            *w = ev.seq;
        }
        self.done = ev.is_terminal();
        self.metrics.event_sent();
        Some(if resync {
            event_frame(&ev, "resync")
        } else {
            self.cache.progress(&ev)
        })
    }
}

/// The status and `{code, message}` body of an error.
pub(crate) fn error_parts(e: &ApiError) -> (StatusCode, ErrorInfo) {
    let status = match e {
        ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
        ApiError::ReadOnly | ApiError::ForbiddenPath(_) => StatusCode::FORBIDDEN,
        ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
        ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ApiError::TooManyStreams(_) => StatusCode::TOO_MANY_REQUESTS,
        ApiError::Conflict { .. } => StatusCode::CONFLICT,
        ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
        ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        ApiError::Plan(e) => match e.code {
            ErrorCode::PlanNotFound => StatusCode::NOT_FOUND,
            ErrorCode::PlanExists | ErrorCode::PlanBusy => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        },
    };
    (status, ErrorInfo::new(e.code(), e.to_string()))
}

/// Who presents this `Authorization` header value.
pub(crate) fn identify(
    tokens: &Tokens,
    authorization: Option<&[u8]>,
) -> Result<Identity, ApiError> {
    let token = authorization
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    tokens.identify(token.trim()).ok_or(ApiError::Unauthorized)
}

/// The seq in a `Last-Event-ID` header value.
pub(crate) fn last_event_id(value: Option<&[u8]>) -> Result<Option<u64>, ApiError> {
    value
        .map(|v| {
            std::str::from_utf8(v)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::BadRequest("Last-Event-ID must be a seq number".into()))
                .and_then(|seq| seq_in_range(seq, "Last-Event-ID"))
        })
        .transpose()
}

/// A seq asked for: the history keeps seqs as SQLite's signed 64-bit integers, so a larger
/// one is no seq at all (and would fail in SQLite rather than here).
pub(crate) fn seq_in_range(seq: u64, what: &str) -> Result<u64, ApiError> {
    if i64::try_from(seq).is_ok() {
        Ok(seq)
    } else {
        Err(ApiError::BadRequest(format!(
            "{what} must be a seq number, at most {}",
            i64::MAX
        )))
    }
}
