//! Streaming HTTP(S) PUT of a finished archive, with progress, pause and cancel.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Url;

use crate::control::Control;
use crate::error::JobError;
use crate::progress::Reporter;

pub fn parse_url(raw: &str) -> Result<Url, JobError> {
    let url = Url::parse(raw).map_err(|e| JobError::InvalidUrl {
        url: raw.into(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(JobError::InvalidUrl {
            url: raw.into(),
            reason: "only http:// and https:// URLs with a host are supported".into(),
        });
    }
    Ok(url)
}

/// Where an archive named `file_name` goes: a URL ending in `/` names a folder.
pub fn object_url(base: &Url, file_name: &str) -> Result<Url, JobError> {
    if base.path().ends_with('/') {
        base.join(file_name).map_err(|e| JobError::InvalidUrl {
            url: base.to_string(),
            reason: e.to_string(),
        })
    } else {
        Ok(base.clone())
    }
}

/// Feeds the request body from `file` in chunks, counting what was sent. It waits while the
/// job is paused and ends the body with an error when the job is cancelled, which aborts
/// the request so the server never sees a complete body. It stops by itself when the
/// request no longer wants a body (the server answered early).
fn feed_body(
    mut file: File,
    tx: tokio::sync::mpsc::Sender<io::Result<Vec<u8>>>,
    sent: Arc<AtomicU64>,
    control: Control,
) {
    loop {
        if control.wait_while_paused().is_err() {
            let _gone = tx.blocking_send(Err(io::Error::other("cancelled")));
            return;
        }
        let mut chunk = vec![0u8; 256 * 1024];
        let n = match file.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                let _gone = tx.blocking_send(Err(e));
                return;
            }
        };
        chunk.truncate(n);
        if tx.blocking_send(Ok(chunk)).is_err() {
            return;
        }
        sent.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// The body's chunks as the stream the async client sends.
struct ChunkStream(tokio::sync::mpsc::Receiver<io::Result<Vec<u8>>>);

impl futures_core::Stream for ChunkStream {
    type Item = io::Result<Vec<u8>>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// What the server answered: its status, where it put the object, the start of its body.
type Answer = (reqwest::StatusCode, Option<String>, String);

/// Sends the request on a runtime of its own. The async client, unlike the blocking one,
/// hands over a response the server sent before it read the whole body (an expired
/// presigned URL's 403, a 413), so its status is what the user reads.
fn send(
    client: reqwest::Client,
    url: Url,
    len: u64,
    body: ChunkStream,
) -> Result<Result<Answer, reqwest::Error>, io::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(async move {
        let resp = client
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, "application/zstd")
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await?;
        let status = resp.status();
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut text = Vec::new();
        if !status.is_success() {
            // The start of the answer says what happened; a server that closes before the
            // rest of it still said its status.
            let mut resp = resp;
            while text.len() < crate::http::ERROR_BODY_LIMIT {
                match tokio::time::timeout(Duration::from_secs(10), resp.chunk()).await {
                    Ok(Ok(Some(c))) => text.extend_from_slice(&c),
                    _ => break,
                }
            }
        }
        Ok((
            status,
            location,
            String::from_utf8_lossy(&text).into_owned(),
        ))
    }))
}

/// PUTs `archive` (of `len` bytes) to `url`; returns the location of the stored object.
pub fn put(url: &Url, archive: &Path, len: u64, rep: &mut Reporter) -> Result<String, JobError> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        // No overall timeout: a large upload on a slow link is legitimate. A peer that
        // vanished (its host down, the network gone) is noticed by TCP keep-alive instead:
        // about 30 s of silence fails the upload rather than waiting for ever.
        .tcp_keepalive(Duration::from_secs(15))
        .tcp_keepalive_interval(Duration::from_secs(5))
        .tcp_keepalive_retries(3)
        .build()
        .map_err(|e| crate::http::network_error(url, &e))?;
    let file = File::open(archive).map_err(|e| JobError::Io {
        context: format!("reading the archive {}", archive.display()),
        source: e,
    })?;
    let sent = Arc::new(AtomicU64::new(0));
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let priority = crate::platform::priority::inherit();
    let (feed_sent, control) = (sent.clone(), rep.control().clone());
    std::thread::Builder::new()
        .name("upload-body".into())
        .spawn(move || {
            priority.apply();
            feed_body(file, tx, feed_sent, control)
        })
        .map_err(|e| JobError::Io {
            context: "starting the upload".into(),
            source: e,
        })?;

    // Not a scoped thread: a cancelled upload must not wait for it. While the body is being
    // sent, the feeder sees the cancellation and aborts the request; once it is all sent,
    // the thread may wait on a server that never answers, and it is left to end with the
    // connection (or the process) instead of holding the job.
    let request_url = url.clone();
    let worker = std::thread::Builder::new()
        .name("upload".into())
        .spawn(move || {
            priority.apply();
            send(client, request_url, len, ChunkStream(rx))
        })
        .map_err(|e| JobError::Io {
            context: "starting the upload".into(),
            source: e,
        })?;
    let mut reported = 0;
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        let now = sent.load(Ordering::Relaxed);
        rep.advance(0, now - reported);
        reported = now;
        if rep.checkpoint().is_err() {
            return Err(JobError::Cancelled);
        }
    }
    let now = sent.load(Ordering::Relaxed);
    rep.advance(0, now.saturating_sub(reported));
    if rep.control().is_cancelled() {
        return Err(JobError::Cancelled);
    }
    let outcome = worker
        .join()
        .map_err(|_| io::Error::other("the upload thread panicked"))
        .and_then(|r| r)
        .map_err(|e| JobError::Io {
            context: "uploading".into(),
            source: e,
        })?;
    let (status, location, body) = outcome.map_err(|e| crate::http::network_error(url, &e))?;
    if !status.is_success() {
        return Err(JobError::UploadRejected {
            url: url.to_string(),
            status: status.as_u16(),
            body: crate::http::summarize(&body),
        });
    }
    Ok(location
        .and_then(|l| url.join(&l).ok())
        .map(|u| u.to_string())
        .unwrap_or_else(|| url.to_string()))
}
