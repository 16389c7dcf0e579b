//! Progress streams: the SSE frames of a job's feed, and the connections that carry only them.
//!
//! A stream is written for minutes and never read from. Through hyper, each one kept about
//! 27 KiB of request and response buffers for its whole life (measured: 10,000 streams, 270
//! MiB); a connection whose first request is a stream is therefore served here, with a
//! parsed head, one `write` per frame and nothing kept but the feed's cursor. Any other
//! connection, and a stream asked for on a connection already used for other requests, goes
//! through axum as before; both write the same frames from [`Frames`].

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::logs;
use crate::service::ApiError;
use crate::stream::{AppState, Frames, error_parts, identify, last_event_id, since_param};

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
}
