//! Row 7: SSE fan-out. The real agent process on loopback, one running snapshot, N concurrent
//! progress streams; for every event received after the job is resumed, the delay from the
//! event's own timestamp (set when the job emitted it) to its receipt, and the agent's peak RSS.
//!
//! The job is paused while the subscribers connect, so every measured event is emitted while
//! all N are listening; the replay of the events before the pause is not measured.
//!
//! The streams are HTTPS, as a paired client's: TLS to the agent's own certificate, pinned.
//! The client is a few lines of HTTP/1.1 over tokio-rustls rather than an HTTP library: ten
//! thousand streams in one process should cost the client as little as possible, since it
//! shares the cores with the agent it measures.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::measure::{Stats, stats};

/// What one fan-out run measured.
#[derive(Debug, Clone)]
pub struct FanOut {
    pub subscribers: usize,
    /// Streams that were open (hello comment received) when the job was resumed.
    pub connected: usize,
    /// Streams that received the terminal event.
    pub completed: usize,
    /// Events emitted after the resume (the same for every subscriber).
    pub live_events: u64,
    /// Delivery delay of every live event to every subscriber, in ms.
    pub latency_ms: Option<Stats>,
    pub p99_ms: Option<f64>,
    /// The agent's peak RSS (VmHWM) in KiB.
    pub agent_rss_kib: Option<u64>,
    /// The agent's RSS (VmRSS) in KiB with the job paused: before the first stream, and
    /// with every stream open (just before the resume).
    pub rss_before_streams_kib: Option<u64>,
    pub rss_streams_open_kib: Option<u64>,
    /// From the resume to the last subscriber's terminal event.
    pub job_secs: f64,
    /// The first failures, if any stream failed.
    pub failures: Vec<String>,
}

/// Runs the row for each count; a count the open-file limit cannot hold is reported, not run.
pub fn run_all(
    tidemark: &Path,
    work: &Path,
    tree: &Path,
    counts: &[usize],
) -> Vec<Result<FanOut, String>> {
    counts
        .iter()
        .map(|&n| {
            eprintln!("[bench] SSE fan-out, {n} subscribers");
            let limit = open_file_limit();
            // Each stream is one socket in the harness and one in the agent, plus spare.
            if limit.is_some_and(|l| l < n as u64 + 256) {
                return Err(format!(
                    "the open-file limit ({}) is below {} (`ulimit -n`)",
                    limit.unwrap_or(0),
                    n + 256
                ));
            }
            let dir = work.join(format!("fanout-{n}"));
            let r = one(tidemark, &dir, tree, n);
            let _ = std::fs::remove_dir_all(&dir);
            if let Ok(f) = &r {
                eprintln!(
                    "[bench] SSE fan-out, {n}: p50 {:?} ms, p99 {:?} ms, agent RSS {:?} KiB",
                    f.latency_ms.map(|s| s.median),
                    f.p99_ms,
                    f.agent_rss_kib
                );
            }
            r
        })
        .collect()
}

/// The soft limit on open files of this process (the agent inherits it).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

struct AgentProcess {
    child: Child,
    addr: String,
    token: String,
    tls: TlsConnector,
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl AgentProcess {
    fn start(tidemark: &Path, dir: &Path, roots: &[&Path], streams: usize) -> Result<Self, String> {
        let db = dir.join("agent.db");
        let mut cmd = Command::new(tidemark);
        cmd.arg("--db")
            .arg(&db)
            .args(["agent", "--listen", "127.0.0.1:0"])
            .args(["--max-streams-per-token", &streams.to_string()])
            .args(["--max-connections-per-address", &(streams + 8).to_string()]);
        for r in roots {
            cmd.arg("--root").arg(r);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the agent: {e}"))?;
        let stdout = child.stdout.take().ok_or("the agent has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut line = || {
            lines
                .next()
                .and_then(Result::ok)
                .ok_or("the agent printed nothing")
        };
        let (first, second) = (line()?, line()?);
        // Keep reading so the agent never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let url = first
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .trim_end_matches('/');
        let addr = url.trim_start_matches("https://").to_owned();
        let fingerprint = second
            .rsplit(' ')
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("no certificate fingerprint in {second:?}"))?;
        let (tls, _) = tidemark_remote::tls::client_config(Some(fingerprint))
            .map_err(|e| format!("TLS: {e}"))?;
        let tokens: Value = serde_json::from_slice(
            &std::fs::read(dir.join("agent-tokens.json"))
                .map_err(|e| format!("cannot read the agent's token file: {e}"))?,
        )
        .map_err(|e| format!("the agent's token file: {e}"))?;
        let token = tokens["admin"]
            .as_str()
            .ok_or("no admin token in the agent's token file")?
            .to_owned();
        Ok(Self {
            child,
            addr,
            token,
            tls: TlsConnector::from(tls),
        })
    }

    /// A new HTTPS connection to the agent.
    async fn connect(&self) -> Result<TlsStream<TcpStream>, String> {
        connect(&self.tls, &self.addr).await
    }

    fn peak_rss_kib(&self) -> Option<u64> {
        self.status_kib("VmHWM:")
    }

    fn rss_kib(&self) -> Option<u64> {
        self.status_kib("VmRSS:")
    }

    fn status_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

fn one(tidemark: &Path, dir: &Path, tree: &Path, n: usize) -> Result<FanOut, String> {
    std::fs::create_dir_all(dir.join("out")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let parent = tree.parent().ok_or("the tree has no parent")?;
    let agent = AgentProcess::start(tidemark, dir, &[parent, &dir.join("out")], n + 8)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio: {e}"))?;
    let out = dir.join("out");
    let r = rt.block_on(measure(&agent, tree, &out, n));
    let rss = agent.peak_rss_kib();
    drop(agent);
    r.map(|mut f| {
        f.agent_rss_kib = rss;
        f
    })
}

async fn measure(
    agent: &AgentProcess,
    tree: &Path,
    out: &Path,
    n: usize,
) -> Result<FanOut, String> {
    let spec = serde_json::json!({
        "kind": "snapshot",
        "source": tree,
        "destination": out,
        "name": "fanout",
    });
    let (status, job) = call(agent, "POST", "/api/v1/jobs", Some(&spec)).await?;
    if status != 201 {
        return Err(format!("starting the job: HTTP {status} {job}"));
    }
    let id = job["id"].as_str().ok_or("no job id")?.to_owned();
    let (status, body) = call(agent, "POST", &format!("/api/v1/jobs/{id}/pause"), None).await?;
    if status != 200 {
        return Err(format!("pausing the job: HTTP {status} {body}"));
    }
    let paused_seq = wait_paused(agent, &id).await?;
    let rss_before_streams_kib = agent.rss_kib();

    let hello = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (tls, addr, token) = (agent.tls.clone(), agent.addr.clone(), agent.token.clone());
        let path = format!("/api/v1/jobs/{id}/progress/stream?since={paused_seq}");
        let hello = hello.clone();
        tasks.push(tokio::spawn(async move {
            let sock = connect(&tls, &addr).await?;
            subscribe(sock, &addr, &token, &path, paused_seq, &hello).await
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while hello.load(Ordering::SeqCst) < n {
        if Instant::now() > deadline || tasks.iter().all(|t| t.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connected = hello.load(Ordering::SeqCst);
    let rss_streams_open_kib = agent.rss_kib();
    let started = Instant::now();
    let (status, body) = call(agent, "POST", &format!("/api/v1/jobs/{id}/resume"), None).await?;
    if status != 200 {
        return Err(format!("resuming the job: HTTP {status} {body}"));
    }

    let mut latencies = Vec::new();
    let mut completed = 0;
    let mut live_events = 0;
    let mut failures = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(got)) => {
                completed += usize::from(got.terminal);
                live_events = live_events.max(got.events);
                latencies.extend(got.latency_ms);
            }
            Ok(Err(why)) => failures.push(why),
            Err(e) => failures.push(format!("task: {e}")),
        }
    }
    let job_secs = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let p99 = (!latencies.is_empty()).then(|| {
        latencies[((latencies.len() as f64 * 0.99).ceil() as usize).clamp(1, latencies.len()) - 1]
    });
    failures.truncate(3);
    Ok(FanOut {
        subscribers: n,
        connected,
        completed,
        live_events,
        latency_ms: stats(&latencies),
        p99_ms: p99,
        agent_rss_kib: None,
        rss_before_streams_kib,
        rss_streams_open_kib,
        job_secs,
        failures,
    })
}

/// Waits until the job reports `paused`; returns the seq of that event.
async fn wait_paused(agent: &AgentProcess, id: &str) -> Result<u64, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, ev) = call(agent, "GET", &format!("/api/v1/jobs/{id}/progress"), None).await?;
        match ev["state"].as_str() {
            Some("paused") => return ev["seq"].as_u64().ok_or_else(|| "no seq".to_owned()),
            Some("completed" | "failed" | "cancelled") => {
                return Err(format!("the job ended before it could be paused: {ev}"));
            }
            _ if Instant::now() > deadline => return Err("the job never paused".into()),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

struct Received {
    events: u64,
    terminal: bool,
    latency_ms: Vec<f64>,
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// The three fields a subscriber looks at. Reading only these (borrowed, the rest skipped)
/// keeps ten thousand clients from costing the machine more than the agent they measure.
#[derive(serde::Deserialize)]
struct Probe<'a> {
    seq: u64,
    state: &'a str,
    timestamp: &'a str,
}

fn timestamp_ms(ts: &str) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(ts).ok()?;
    Some(t.timestamp_millis() as f64)
}

async fn subscribe(
    mut sock: TlsStream<TcpStream>,
    addr: &str,
    token: &str,
    path: &str,
    after_seq: u64,
    hello: &AtomicUsize,
) -> Result<Received, String> {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Accept: text/event-stream\r\n\r\n"
    );
    sock.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut body = Body::default();
    let mut buf = vec![0u8; 16 * 1024];
    let mut text = Vec::<u8>::new();
    let mut got = Received {
        events: 0,
        terminal: false,
        latency_ms: Vec::new(),
    };
    let mut said_hello = false;
    loop {
        let n = sock
            .read(&mut buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        let arrived = now_ms();
        body.feed(&buf[..n], &mut text)?;
        // SSE frames end with a blank line.
        while let Some(end) = find(&text, b"\n\n") {
            let frame: Vec<u8> = text.drain(..end + 2).collect();
            let frame = String::from_utf8_lossy(&frame);
            if !said_hello && frame.starts_with(':') {
                said_hello = true;
                hello.fetch_add(1, Ordering::SeqCst);
            }
            let data: String = frame
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            if data.is_empty() {
                continue;
            }
            let ev: Probe = serde_json::from_str(&data)
                .map_err(|e| format!("a frame is not a progress event: {e}"))?;
            if ev.seq > after_seq {
                got.events += 1;
                if let Some(t) = timestamp_ms(ev.timestamp) {
                    got.latency_ms.push((arrived - t).max(0.0));
                }
            }
            if matches!(ev.state, "completed" | "failed" | "cancelled") {
                got.terminal = true;
                return Ok(got);
            }
        }
    }
    Ok(got)
}

async fn connect(tls: &TlsConnector, addr: &str) -> Result<TlsStream<TcpStream>, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    // The certificate is pinned: the name is not checked.
    let name = "localhost".try_into().map_err(|_| "server name")?;
    tls.connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// An HTTP/1.1 response body as it arrives: the head is skipped, chunked encoding undone.
#[derive(Default)]
struct Body {
    head: Vec<u8>,
    in_body: bool,
    chunked: bool,
    raw: Vec<u8>,
    /// Bytes left in the current chunk.
    left: usize,
    /// The CRLF that ends a chunk's data is still to skip.
    crlf_due: bool,
}

impl Body {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        if !self.in_body {
            self.head.extend_from_slice(bytes);
            let Some(end) = find(&self.head, b"\r\n\r\n") else {
                return Ok(());
            };
            let head = String::from_utf8_lossy(&self.head[..end]).to_ascii_lowercase();
            let status = head.split_whitespace().nth(1).unwrap_or("?").to_owned();
            if status != "200" {
                return Err(format!("HTTP {status}"));
            }
            self.chunked = head.contains("transfer-encoding: chunked");
            self.in_body = true;
            let rest = self.head.split_off(end + 4);
            self.head.clear();
            return self.feed(&rest, out);
        }
        if !self.chunked {
            out.extend_from_slice(bytes);
            return Ok(());
        }
        self.raw.extend_from_slice(bytes);
        loop {
            if self.left > 0 {
                let take = self.left.min(self.raw.len());
                out.extend(self.raw.drain(..take));
                self.left -= take;
                if self.left > 0 {
                    return Ok(());
                }
                self.crlf_due = true;
            }
            if self.crlf_due {
                if self.raw.len() < 2 {
                    return Ok(());
                }
                self.raw.drain(..2);
                self.crlf_due = false;
            }
            let Some(eol) = find(&self.raw, b"\r\n") else {
                return Ok(());
            };
            let line = String::from_utf8_lossy(&self.raw[..eol]).to_string();
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("a bad chunk size line: {line:?}"))?;
            self.raw.drain(..eol + 2);
            if size == 0 {
                return Ok(());
            }
            self.left = size;
        }
    }
}

/// One request on its own connection; the JSON answer (or `null`).
async fn call(
    agent: &AgentProcess,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let mut sock = agent.connect().await?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        agent.addr,
        agent.token,
        body.len()
    );
    sock.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut all = Vec::new();
    sock.read_to_end(&mut all)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let end = find(&all, b"\r\n\r\n").ok_or("no HTTP head in the answer")?;
    let head = String::from_utf8_lossy(&all[..end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status in the answer")?;
    let raw = &all[end + 4..];
    let text = if head.contains("transfer-encoding: chunked") {
        let mut b = Body {
            in_body: true,
            chunked: true,
            ..Body::default()
        };
        let mut out = Vec::new();
        b.feed(raw, &mut out)?;
        out
    } else {
        raw.to_vec()
    };
    let v = serde_json::from_slice(&text).unwrap_or(Value::Null);
    Ok((status, v))
}
