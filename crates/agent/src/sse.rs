//! Progress streams: the SSE frames of a job's feed, and the connections that carry only them.
//!
//! A stream is written for minutes and never read from. Through hyper, each one kept about
//! 27 KiB of request and response buffers for its whole life (measured: 10,000 streams, 270
//! MiB); a connection whose first request is a stream is therefore served here, with a
//! parsed head, one `write` per frame and nothing kept but the feed's cursor. Any other
//! connection, and a stream asked for on a connection already used for other requests, goes
//! through axum as before; both write the same frames from [`Frames`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::FutureExt;
use tidemark_core::{Delivery, ProgressEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http::{AppState, error_parts, identify, last_event_id};
use crate::logs;
use crate::service::{Agent, ApiError, Feed, FeedItem, Reattach};

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

    /// Whether [`Self::next`] would return an event at once.
    fn has_ready(&self) -> bool {
        !self.done
            && (!self.feed.replay.is_empty()
                || self.feed.live.as_ref().is_some_and(|l| l.is_ready()))
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
        Some(if resync {
            event_frame(&ev, "resync")
        } else {
            self.cache.progress(&ev)
        })
    }
}

/// The response head of a stream served directly. The body ends when the connection does:
/// a stream is not followed by another request.
const STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
    cache-control: no-cache\r\nconnection: close\r\n\r\n";

/// Largest request head a direct stream reads.
const MAX_HEAD: usize = 16 * 1024;
/// Time a client has to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The job id of `GET /api/v1/jobs/{id}/progress/stream[?…]`, from a request target.
pub(crate) fn stream_target(target: &str) -> Option<(&str, Option<&str>)> {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let id = path
        .strip_prefix("/api/v1/jobs/")?
        .strip_suffix("/progress/stream")?;
    (!id.is_empty() && !id.contains('/')).then_some((id, query))
}

/// Whether the start of a connection's first request asks for a progress stream. `None`:
/// not enough of its request line has arrived to say.
pub(crate) fn is_stream_request(start: &[u8]) -> Option<bool> {
    let line_end = start.windows(2).position(|w| w == b"\r\n");
    let line = match line_end {
        Some(end) => &start[..end],
        // A request line longer than what was looked at is not one of ours.
        None if start.len() >= PEEK => return Some(false),
        None => {
            // Decide early when it cannot be ours.
            let prefix = b"GET /api/v1/jobs/";
            let n = start.len().min(prefix.len());
            return if start[..n] == prefix[..n] {
                None
            } else {
                Some(false)
            };
        }
    };
    let Ok(line) = std::str::from_utf8(line) else {
        return Some(false);
    };
    let mut parts = line.split(' ');
    Some(
        parts.next() == Some("GET")
            && parts.next().and_then(stream_target).is_some()
            && parts.next().is_some_and(|v| v.starts_with("HTTP/1.")),
    )
}

/// How much of a connection's start is looked at to route it.
pub(crate) const PEEK: usize = 512;

/// What the log says of a stream served here: its path and caller, as far as they are known.
#[derive(Debug, Default)]
struct Seen {
    path: String,
    who: Option<crate::Identity>,
}

/// Serves a connection whose first request is a progress stream.
pub(crate) async fn serve(mut tcp: TcpStream, state: AppState) {
    let started = Instant::now();
    let mut seen = Seen::default();
    let opened = tokio::time::timeout(HEAD_TIMEOUT, open_from_head(&mut tcp, &state, &mut seen));
    let frames = match opened.await {
        Ok(Ok(frames)) => frames,
        Ok(Err(e)) => {
            refuse(&mut tcp, &e).await;
            let status = error_parts(&e).0.as_u16();
            return logs::request(
                "GET",
                &seen.path,
                status,
                started.elapsed(),
                seen.who.as_ref(),
            );
        }
        Err(_slow) => return,
    };
    if tcp.write_all(STREAM_HEAD).await.is_ok() {
        stream(tcp, frames).await;
    }
    // Logged as it ends, with how long it was followed.
    logs::request("GET", &seen.path, 200, started.elapsed(), seen.who.as_ref());
}

async fn stream(mut tcp: TcpStream, mut frames: Frames) {
    let (mut rd, mut wr) = tcp.split();
    // The client has nothing more to say; reading is only how its leaving is noticed at once
    // (and its stream slot given back) rather than at the next write.
    let mut scratch = [0u8; 64];
    loop {
        tokio::select! {
            frame = frames.next() => {
                let Some(frame) = frame else { break };
                let out = catch_up(&mut frames, frame);
                if wr.write_all(&out).await.is_err() {
                    return;
                }
            }
            read = rd.read(&mut scratch) => {
                if !matches!(read, Ok(n) if n > 0) {
                    return;
                }
            }
        }
    }
    let _ = wr.shutdown().await;
}

/// Most frames one write carries.
const BATCH: usize = 64;

/// `first` and the frames already waiting after it, as one write. A stream that has fallen
/// behind (its machine busy, thousands of others sent first) then catches up in one system
/// call instead of one per event, so the further behind streams are, the cheaper each event
/// gets to send. A stream that keeps up sends one frame per write, as before.
fn catch_up(frames: &mut Frames, first: Bytes) -> Bytes {
    if !frames.has_ready() {
        return first;
    }
    let mut out = BytesMut::from(&first[..]);
    for _ in 1..BATCH {
        if !frames.has_ready() {
            break;
        }
        match frames.next().now_or_never() {
            Some(Some(frame)) => out.put_slice(&frame),
            _ => break,
        }
    }
    out.freeze()
}

/// Reads and checks the request head; subscribes.
async fn open_from_head(
    tcp: &mut TcpStream,
    state: &AppState,
    seen: &mut Seen,
) -> Result<Frames, ApiError> {
    let mut buf = Vec::with_capacity(1024);
    let head_len = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() >= MAX_HEAD {
            return Err(ApiError::BadRequest("request head too large".into()));
        }
        let mut chunk = [0u8; 1024];
        let n = tcp
            .read(&mut chunk)
            .await
            .map_err(|e| ApiError::BadRequest(format!("reading the request: {e}")))?;
        if n == 0 {
            return Err(ApiError::BadRequest("the request ended early".into()));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&buf[..head_len]) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => {
            return Err(ApiError::BadRequest("malformed request head".into()));
        }
    }
    seen.path = req
        .path
        .map(|p| p.split('?').next().unwrap_or(p).to_owned())
        .unwrap_or_default();
    let (id, query) = req
        .path
        .and_then(stream_target)
        .ok_or_else(|| ApiError::NotFound("no such endpoint".into()))?;
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let who = identify(&state.tokens, header("authorization"))?;
    seen.who = Some(who.clone());
    let since = match last_event_id(header("last-event-id"))? {
        Some(seq) => seq,
        None => since_param(query)?,
    };
    Frames::open(state, who, id.to_owned(), since).await
}

/// The `since` query parameter, 0 when absent.
pub(crate) fn since_param(query: Option<&str>) -> Result<u64, ApiError> {
    let value = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("since="));
    match value {
        None => Ok(0),
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("since must be a seq number, not {v:?}"))),
    }
}

async fn refuse(tcp: &mut TcpStream, e: &ApiError) {
    let (status, body) = error_parts(e);
    // `ErrorInfo` is two strings: serialising it cannot fail.
    let body = serde_json::to_string(&body).unwrap_or_default();
    let auth = if status == StatusCode::UNAUTHORIZED {
        "www-authenticate: Bearer\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{auth}\
         connection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    let _ = tcp.write_all(head.as_bytes()).await;
    let _ = tcp.write_all(body.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_stream_request_line_is_routed_here() {
        let yes = b"GET /api/v1/jobs/abc/progress/stream?since=4 HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(is_stream_request(yes), Some(true));
        for no in [
            &b"POST /api/v1/jobs/abc/progress/stream HTTP/1.1\r\n"[..],
            b"GET /api/v1/jobs/abc/progress HTTP/1.1\r\n",
            b"GET /api/v1/jobs/a/b/progress/stream HTTP/1.1\r\n",
            b"GET /api/v1/jobs//progress/stream HTTP/1.1\r\n",
            b"GET /api/v1/jobs HTTP/1.1\r\n",
            b"PRI * HTTP/2.0\r\n",
            b"GET /api/v1/jobs/abc/progress/stream HTTP/2\r\n",
        ] {
            assert_eq!(
                is_stream_request(no),
                Some(false),
                "{}",
                String::from_utf8_lossy(no)
            );
        }
        // Too little to tell yet, or already clearly not ours.
        assert_eq!(is_stream_request(b"GET /api/v1/jo"), None);
        assert_eq!(is_stream_request(b"GET /api/v1/jobs/abc/prog"), None);
        assert_eq!(is_stream_request(b"DELETE /"), Some(false));
        assert_eq!(is_stream_request(&[b'G'; PEEK]), Some(false));
    }

    #[test]
    fn since_is_read_from_the_query() {
        assert_eq!(since_param(None).ok(), Some(0));
        assert_eq!(since_param(Some("since=12")).ok(), Some(12));
        assert_eq!(since_param(Some("x=1&since=7")).ok(), Some(7));
        assert!(since_param(Some("since=seven")).is_err());
    }
}
