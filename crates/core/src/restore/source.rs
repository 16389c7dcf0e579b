//! Where an archive comes from (a file, or an http(s) URL streamed as it is read) and its
//! decompression on a thread of its own, so that unpacking, hashing and writing overlap
//! with zstd, as `tar --zstd` overlaps its zstd process with itself.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;

use crate::error::JobError;
use crate::http;
use crate::restore::manifest::{self, Manifest};

/// An archive or a manifest: a local file or an http(s) URL.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    File(PathBuf),
    Url(Url),
}

impl Location {
    pub(crate) fn parse(raw: &str) -> Result<Location, JobError> {
        if raw.starts_with("http://") || raw.starts_with("https://") {
            return crate::upload::parse_url(raw).map(Location::Url);
        }
        if raw.is_empty() {
            return Err(JobError::InvalidInput(
                "the archive's location is empty".into(),
            ));
        }
        Ok(Location::File(PathBuf::from(raw)))
    }

    pub(crate) fn shown(&self) -> String {
        match self {
            Self::File(p) => p.display().to_string(),
            Self::Url(u) => u.to_string(),
        }
    }

    /// Opens it for reading; returns the reader and its length when known.
    pub(crate) fn open(&self) -> Result<(Box<dyn Read + Send>, Option<u64>), JobError> {
        match self {
            Self::File(p) => {
                let f = File::open(p).map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => JobError::SourceMissing(p.clone()),
                    _ => JobError::SourceUnreadable {
                        path: p.clone(),
                        source: e,
                    },
                })?;
                let len = f.metadata().ok().map(|m| m.len());
                if f.metadata().is_ok_and(|m| m.is_dir()) {
                    return Err(JobError::InvalidInput(format!(
                        "{} is a folder, not an archive",
                        p.display()
                    )));
                }
                Ok((Box::new(f), len))
            }
            Self::Url(u) => {
                let resp = get(u)?;
                let len = resp.content_length();
                Ok((Box::new(resp), len))
            }
        }
    }

    /// The manifest at this location, `None` where there is none (no file, HTTP 404).
    pub(crate) fn read_manifest(&self) -> Result<Option<Manifest>, JobError> {
        let shown = self.shown();
        let bytes = match self {
            Self::File(p) => match std::fs::read(p) {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => {
                    return Err(JobError::ManifestInvalid {
                        manifest: shown,
                        reason: e.to_string(),
                    });
                }
            },
            Self::Url(u) => match get(u) {
                Ok(mut resp) => {
                    let mut b = Vec::new();
                    resp.read_to_end(&mut b)
                        .map_err(|e| http::body_error(u, e))?;
                    b
                }
                Err(JobError::DownloadRejected { status: 404, .. }) => return Ok(None),
                Err(e) => return Err(e),
            },
        };
        Manifest::parse(&bytes, &shown).map(Some)
    }

    /// The manifest `explicit` names, or else the one beside this archive if there is one.
    pub(crate) fn manifest(&self, explicit: Option<&str>) -> Result<Option<Manifest>, JobError> {
        match explicit {
            Some(m) => Manifest::read(m).map(Some),
            None => Location::parse(&manifest::beside(&self.shown()))?.read_manifest(),
        }
    }
}

impl Manifest {
    /// Reads a manifest from a local path or an http(s) URL.
    pub fn read(location: &str) -> Result<Manifest, JobError> {
        let loc = Location::parse(location)?;
        loc.read_manifest()?
            .ok_or_else(|| JobError::ManifestInvalid {
                manifest: location.to_owned(),
                reason: "it does not exist".into(),
            })
    }
}

/// GETs `url`; a status other than success is the server's answer, said with its start.
fn get(url: &Url) -> Result<reqwest::blocking::Response, JobError> {
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        // The blocking client applies this to each read of the body, so a server that
        // stalls fails the job, while a long download on a slow link does not.
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| http::network_error(url, &e))?;
    let resp = client
        .get(url.clone())
        .send()
        .map_err(|e| http::network_error(url, &e))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let mut start = Vec::new();
    let _partial = resp
        .take(http::ERROR_BODY_LIMIT as u64)
        .read_to_end(&mut start);
    Err(JobError::DownloadRejected {
        url: url.to_string(),
        status: status.as_u16(),
        body: http::summarize(&String::from_utf8_lossy(&start)),
    })
}

/// Why reading the archive's input (not decoding it) failed, kept for the job's error.
pub(crate) type InputFailure = Arc<Mutex<Option<io::Error>>>;

/// Counts the archive's bytes as they are read, and keeps an input error aside so that
/// it is told apart from a decoding error (a damaged archive).
struct Input {
    inner: Box<dyn Read + Send>,
    read: Arc<AtomicU64>,
    failure: InputFailure,
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.read.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let kind = e.kind();
                if let Ok(mut slot) = self.failure.lock() {
                    *slot = Some(e);
                }
                Err(io::Error::new(kind, "reading the archive failed"))
            }
        }
    }
}

/// The archive's tar stream, decompressed ahead on another thread.
pub(crate) struct Decompressed {
    rx: Receiver<io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
}

impl std::fmt::Debug for Decompressed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decompressed")
    }
}

const CHUNK: usize = 1 << 20;

/// Starts decompressing `input`; `read` counts its compressed bytes, `failure` keeps an
/// input error. The thread ends when the stream does or when the reader is dropped.
pub(crate) fn decompress(
    input: Box<dyn Read + Send>,
    read: Arc<AtomicU64>,
    failure: InputFailure,
) -> Result<Decompressed, JobError> {
    let (tx, rx) = sync_channel(4);
    let input = Input {
        inner: input,
        read,
        failure,
    };
    let priority = crate::platform::priority::inherit();
    std::thread::Builder::new()
        .name("tidemark-unzstd".into())
        .spawn(move || {
            priority.apply();
            pump(input, &tx)
        })
        .map_err(|e| JobError::Io {
            context: "starting the decompression".into(),
            source: e,
        })?;
    Ok(Decompressed {
        rx,
        cur: Vec::new(),
        pos: 0,
        done: false,
    })
}

fn pump(input: Input, tx: &SyncSender<io::Result<Vec<u8>>>) {
    let mut decoder = match zstd::Decoder::new(input) {
        Ok(d) => d,
        Err(e) => {
            let _gone = tx.send(Err(e));
            return;
        }
    };
    loop {
        let mut chunk = vec![0u8; CHUNK];
        let mut filled = 0;
        // Whole chunks: fewer hand-overs between the threads.
        while filled < CHUNK {
            match decoder.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if filled > 0 {
                        chunk.truncate(filled);
                        let _gone = tx.send(Ok(chunk));
                    }
                    let _gone = tx.send(Err(e));
                    return;
                }
            }
        }
        if filled == 0 {
            return;
        }
        chunk.truncate(filled);
        if tx.send(Ok(chunk)).is_err() {
            return;
        }
    }
}

impl Read for Decompressed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The job's error for `err`, met reading the archive at `entry` (if inside one): the
/// input's failure (the network, the disk) if there was one, else a damaged archive.
pub(crate) fn read_error(
    loc: &Location,
    failure: &InputFailure,
    entry: Option<&str>,
    err: io::Error,
) -> JobError {
    let input = failure.lock().ok().and_then(|mut s| s.take());
    match (input, loc) {
        (Some(e), Location::Url(u)) => http::body_error(u, e),
        (Some(e), Location::File(p)) => JobError::SourceUnreadable {
            path: p.clone(),
            source: e,
        },
        (None, _) => JobError::ArchiveCorrupt {
            archive: loc.shown(),
            entry: entry.map(str::to_owned),
            reason: plain_reason(&err),
        },
    }
}

/// zstd's and tar's sentences, without the wrapping they add.
fn plain_reason(err: &io::Error) -> String {
    let text = err.to_string();
    if text.is_empty() {
        return "it ends before its last entry".into();
    }
    match err.kind() {
        io::ErrorKind::UnexpectedEof => "it ends in the middle of an entry (cut short)".into(),
        _ => text,
    }
}
