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

/// The request body: counts what was sent and stops when the job is cancelled, which aborts
/// the request so the server never sees a complete body.
struct BodyReader {
    file: File,
    sent: Arc<AtomicU64>,
    control: Control,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.control
            .wait_while_paused()
            .map_err(|_| io::Error::other("cancelled"))?;
        let n = self.file.read(buf)?;
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// PUTs `archive` (of `len` bytes) to `url`; returns the location of the stored object.
pub fn put(url: &Url, archive: &Path, len: u64, rep: &mut Reporter) -> Result<String, JobError> {
    let net_err = |reason: String| JobError::NetworkUnreachable {
        url: url.to_string(),
        reason,
    };
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        // No overall timeout: a large upload on a slow link is legitimate. A peer that
        // vanished (its host down, the network gone) is noticed by TCP keep-alive instead:
        // about 30 s of silence fails the upload rather than waiting for ever.
        .timeout(None::<Duration>)
        .tcp_keepalive(Duration::from_secs(15))
        .tcp_keepalive_interval(Duration::from_secs(5))
        .tcp_keepalive_retries(3)
        .build()
        .map_err(|e| net_err(e.to_string()))?;
    let file = File::open(archive).map_err(|e| JobError::Io {
        context: format!("reading the archive {}", archive.display()),
        source: e,
    })?;
    let sent = Arc::new(AtomicU64::new(0));
    let body = BodyReader {
        file,
        sent: sent.clone(),
        control: rep.control().clone(),
    };
    let request = client
        .put(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/zstd")
        .body(reqwest::blocking::Body::sized(body, len));

    // Not a scoped thread: a cancelled upload must not wait for it. While the body is being
    // sent, the body reader sees the cancellation and aborts the request; once it is all
    // sent, the thread may wait on a server that never answers, and it is left to end with
    // the connection (or the process) instead of holding the job.
    let priority = crate::platform::priority::inherit();
    let worker = std::thread::Builder::new()
        .name("upload".into())
        .spawn(move || {
            priority.apply();
            let resp = request.send()?;
            let status = resp.status();
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = if status.is_success() {
                String::new()
            } else {
                resp.text().unwrap_or_default()
            };
            Ok::<_, reqwest::Error>((status, location, body))
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
    let outcome = worker.join().map_err(|_| JobError::Io {
        context: "uploading".into(),
        source: io::Error::other("the upload thread panicked"),
    })?;
    let (status, location, body) = outcome.map_err(|e| net_err(describe(&e)))?;
    if !status.is_success() {
        return Err(JobError::UploadRejected {
            url: url.to_string(),
            status: status.as_u16(),
            body: summarize(&body),
        });
    }
    Ok(location
        .and_then(|l| url.join(&l).ok())
        .map(|u| u.to_string())
        .unwrap_or_else(|| url.to_string()))
}

fn describe(err: &reqwest::Error) -> String {
    use std::error::Error;
    let mut msg = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        msg = format!("{msg}: {c}");
        cause = c.source();
    }
    msg
}

/// First line-ish of a server's error body, short enough for a notification.
fn summarize(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = one_line.chars().take(200).collect();
    if one_line.chars().count() > 200 {
        out.push('…');
    }
    out
}
