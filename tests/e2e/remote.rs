//! Watching an agent's job over a bad network: a fault-injecting proxy of our own between the
//! watcher and a real agent, an agent killed and restarted, and `tidemark watch` itself.
//!
//! Everything is HTTPS, as between a paired client and its agent: the proxy presents the
//! agent's own certificate (it has the agent's key, as a TLS-terminating proxy in front of
//! it would) and speaks TLS to the agent, so the watcher pins the agent's fingerprint and the
//! faults land inside TLS, where HTTP sees them.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidemark_core::{JobState, ProgressEvent};
use tidemark_remote::{ConnState, Endpoint, Timeouts, WatchConfig, WatchEnd, WatchItem};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::agent_proc::{Agent, big_source, start_agent, start_agent_on};
use crate::util::*;

/// What the proxy does to one progress-stream request.
#[derive(Debug, Clone)]
enum Fault {
    Pass,
    /// Forward, then cut the connection after this many body bytes (mid-event), without
    /// TLS's closing message, as a dropped network does.
    DropAfter(usize),
    Status500,
    /// A 200 with an HTML error page, as a captive portal or a bad proxy sends.
    Html200,
    WrongContentType,
    /// An event stream whose only frame is cut short.
    Truncated,
    Garbage,
    /// One 10 MB line.
    HugeLine,
    /// Accepts and says nothing.
    Stall,
}

struct Proxy {
    url: String,
    faults: Arc<Mutex<VecDeque<Fault>>>,
}

/// A proxy in front of `agent`, whose certificate and key are in `dir`.
fn proxy(agent: &Agent, dir: &Path, faults: Vec<Fault>) -> Proxy {
    let upstream = agent.url.trim_start_matches("https://").to_string();
    let acceptor = TlsAcceptor::from(agent_server_config(dir));
    let connector = TlsConnector::from(
        tidemark_remote::tls::client_config(Some(agent.fingerprint))
            .expect("TLS config")
            .0,
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("https://{}", listener.local_addr().expect("addr"));
    let faults = Arc::new(Mutex::new(VecDeque::from(faults)));
    let queue = faults.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("proxy runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, connector) = (acceptor.clone(), connector.clone());
                let (upstream, queue) = (upstream.clone(), queue.clone());
                tokio::spawn(async move {
                    if let Ok(client) = acceptor.accept(tcp).await {
                        serve(client, &upstream, &connector, &queue).await;
                    }
                });
            }
        });
    });
    Proxy { url, faults }
}

/// The agent's own certificate and key, from the folder it keeps them in.
fn agent_server_config(dir: &Path) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(dir.join("agent-cert.pem"))
        .expect("the agent's certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("PEM");
    let key = PrivateKeyDer::from_pem_file(dir.join("agent-key.pem")).expect("the agent's key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
    Arc::new(config)
}

async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(head)
}

async fn respond<S: AsyncWrite + Unpin>(mut client: S, head: &str, body: &[u8]) {
    let _ = client.write_all(head.as_bytes()).await;
    let _ = client.write_all(body).await;
    let _ = client.shutdown().await;
}

async fn serve<S>(
    mut client: S,
    upstream: &str,
    connector: &TlsConnector,
    queue: &Mutex<VecDeque<Fault>>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(head) = read_head(&mut client).await else {
        return;
    };
    let is_stream = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .is_some_and(|l| l.contains("/progress/stream"));
    let fault = if is_stream {
        queue
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or(Fault::Pass)
    } else {
        Fault::Pass
    };
    let sse = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
    match fault {
        Fault::Status500 => {
            respond(
                client,
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
                b"oops!",
            )
            .await
        }
        Fault::Html200 => {
            let page = b"<html><body><h1>Please log in to the hotel Wi-Fi</h1></body></html>";
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                page.len()
            );
            respond(client, &head, page).await
        }
        Fault::WrongContentType => {
            respond(
                client,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
                b"{}",
            )
            .await
        }
        Fault::Truncated => {
            respond(
                client,
                sse,
                b"id: 999\nevent: progress\ndata: {\"jobId\":\"x\",\"se",
            )
            .await
        }
        Fault::Garbage => respond(client, sse, &pseudo_random(4096, 9)).await,
        Fault::HugeLine => {
            let mut body = b"data: ".to_vec();
            body.extend(std::iter::repeat_n(b'x', 10 << 20));
            body.extend(b"\n\n");
            respond(client, sse, &body).await
        }
        Fault::Stall => tokio::time::sleep(Duration::from_secs(20)).await,
        Fault::Pass | Fault::DropAfter(_) => {
            let limit = match fault {
                Fault::DropAfter(n) => Some(n),
                _ => None,
            };
            pass(client, head, upstream, connector, limit).await;
        }
    }
}

/// Forwards the request and the agent's answer; with `limit`, cuts the answer after that
/// many body bytes.
async fn pass<S>(
    client: S,
    head: Vec<u8>,
    upstream: &str,
    connector: &TlsConnector,
    limit: Option<usize>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ok(tcp) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    let name = "localhost".try_into().expect("server name");
    let Ok(mut up) = connector.connect(name, tcp).await else {
        return;
    };
    if up.write_all(&head).await.is_err() {
        return;
    }
    let (mut client_rd, mut client_wr) = tokio::io::split(client);
    let (mut up_rd, mut up_wr) = tokio::io::split(up);
    // Requests the client sends on a kept-alive connection go straight through.
    let requests = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_rd, &mut up_wr).await;
        let _ = up_wr.shutdown().await;
    });
    let mut sent_body = 0usize;
    let mut in_body = false;
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = match up_rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut chunk = &buf[..n];
        if let Some(limit) = limit {
            if !in_body {
                seen.extend_from_slice(chunk);
                if let Some(pos) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                    in_body = true;
                    sent_body = seen.len() - (pos + 4);
                }
            } else {
                sent_body += n;
            }
            if in_body && sent_body >= limit {
                let keep = n - (sent_body - limit);
                chunk = &buf[..keep];
                let _ = client_wr.write_all(chunk).await;
                let _ = client_wr.flush().await;
                // Dropped without TLS's closing message: a cut, not an end.
                requests.abort();
                return;
            }
        }
        if client_wr.write_all(chunk).await.is_err() {
            break;
        }
    }
    let _ = client_wr.shutdown().await;
    requests.abort();
}

fn fast() -> (WatchConfig, Timeouts) {
    let cfg = WatchConfig {
        backoff_scale: 0.02,
        poll_interval: Duration::from_millis(100),
        sse_retry_interval: Duration::from_millis(300),
        seed: 5,
        ..WatchConfig::default()
    };
    let timeouts = Timeouts {
        connect: Duration::from_millis(500),
        read: Duration::from_secs(3),
        request: Duration::from_secs(2),
    };
    (cfg, timeouts)
}

fn stored(agent: &Agent, id: &str) -> Vec<ProgressEvent> {
    serde_json::from_value(agent.admin("GET", &format!("/api/v1/jobs/{id}/events"), None))
        .expect("events")
}

/// A watch running on its own runtime, read from plain threads (the helpers that talk to
/// the agent are blocking).
struct Watch {
    _rt: tokio::runtime::Runtime,
    items: std::sync::mpsc::Receiver<WatchItem>,
    end: std::sync::mpsc::Receiver<WatchEnd>,
    seen: Vec<WatchItem>,
}

impl Watch {
    fn start(agent: Endpoint, id: &str, cfg: WatchConfig, timeouts: Timeouts) -> Watch {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let (tx, items) = std::sync::mpsc::channel();
        let (end_tx, end) = std::sync::mpsc::channel();
        let id = id.to_owned();
        rt.spawn(async move {
            let (mut rx, task) =
                tidemark_remote::watch(&agent, &id, 0, cfg, timeouts).expect("watch");
            while let Some(item) = rx.recv().await {
                let _ = tx.send(item);
            }
            let _ = end_tx.send(task.await.expect("watch task"));
        });
        Watch {
            _rt: rt,
            items,
            end,
            seen: Vec::new(),
        }
    }

    /// The next item; `None` once the watch has ended.
    fn next(&mut self) -> Option<WatchItem> {
        let item = self.items.recv_timeout(Duration::from_secs(120)).ok()?;
        self.seen.push(item.clone());
        Some(item)
    }

    /// Reads until `want` accepts an item.
    fn until(&mut self, want: impl Fn(&WatchItem) -> bool) {
        while let Some(item) = self.next() {
            if want(&item) {
                return;
            }
        }
        panic!("the watch ended before that; saw {:?}", states(&self.seen));
    }

    fn finish(mut self) -> (Vec<WatchItem>, WatchEnd) {
        while self.next().is_some() {}
        let end = self
            .end
            .recv_timeout(Duration::from_secs(10))
            .expect("watch end");
        (self.seen, end)
    }
}

fn events(items: &[WatchItem]) -> Vec<ProgressEvent> {
    items
        .iter()
        .filter_map(|i| match i {
            WatchItem::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn states(items: &[WatchItem]) -> Vec<ConnState> {
    items
        .iter()
        .filter_map(|i| match i {
            WatchItem::State(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn connected_after_polling(items: &[WatchItem]) -> bool {
    let st = states(items);
    st.iter()
        .position(|s| *s == ConnState::Polling)
        .is_some_and(|p| st[p..].contains(&ConnState::Connected))
}

#[test]
fn every_fault_between_watcher_and_agent_loses_and_repeats_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let agent = start_agent(tmp.path());
    big_source(&tmp.path().join("root"), "photos", 40);
    let job = agent.admin("POST", "/api/v1/jobs", Some(agent.sync_spec("photos")));
    let id = job["id"].as_str().expect("id").to_string();
    agent.admin("POST", &format!("/api/v1/jobs/{id}/pause"), None);
    agent.wait_for(&id, JobState::Paused);

    use Fault::*;
    let p = proxy(
        &agent,
        tmp.path(),
        vec![
            DropAfter(700),
            Status500,
            Html200,
            WrongContentType,
            Truncated,
            Garbage,
            HugeLine,
            Stall,
            Pass,
        ],
    );
    let (cfg, timeouts) = fast();
    let through_proxy = Endpoint {
        base: p.url.clone(),
        ..agent.endpoint()
    };
    let mut watch = Watch::start(through_proxy, &id, cfg, timeouts);
    watch.until(|i| *i == WatchItem::State(ConnState::Polling));
    // Back on the stream after polling: let the job run to its end over it.
    watch.until(|i| *i == WatchItem::State(ConnState::Connected));
    agent.admin("POST", &format!("/api/v1/jobs/{id}/resume"), None);
    let (items, end) = watch.finish();

    assert_eq!(end, WatchEnd::Finished);
    assert!(
        p.faults.lock().expect("lock").is_empty(),
        "every fault was served"
    );
    let got = events(&items);
    assert_eq!(
        got,
        stored(&agent, &id),
        "exactly the agent's events, once each, in order"
    );
    assert!(got.last().is_some_and(|e| e.state == JobState::Completed));

    let st = states(&items);
    assert!(
        st.iter().any(|s| matches!(
            s,
            ConnState::Reconnecting {
                attempt: 5,
                of: 5,
                ..
            }
        )),
        "{st:?}"
    );
    assert!(
        connected_after_polling(&items),
        "polling, then back to SSE: {st:?}"
    );
    assert_eq!(st.last(), Some(&ConnState::Connected));
}

#[test]
fn an_agent_down_for_thirty_seconds_is_polled_then_followed_live_again() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut agent = start_agent(tmp.path());
    let listen = agent.url.trim_start_matches("https://").to_string();
    big_source(&tmp.path().join("root"), "vault", 40);
    let job = agent.admin("POST", "/api/v1/jobs", Some(agent.sync_spec("vault")));
    let id = job["id"].as_str().expect("id").to_string();
    agent.admin("POST", &format!("/api/v1/jobs/{id}/pause"), None);
    agent.wait_for(&id, JobState::Paused);

    // Real timings: 1, 2, 4, 8, 15 s of reconnections, polling every second, SSE every 30 s.
    let mut watch = Watch::start(
        agent.endpoint(),
        &id,
        WatchConfig::default(),
        Timeouts::default(),
    );
    watch.until(|i| matches!(i, WatchItem::Event(e) if e.state == JobState::Paused));

    let _ = std::process::Command::new("kill")
        .args(["-9", &agent.child.id().to_string()])
        .status();
    let _ = agent.child.wait();
    let killed_at = std::time::Instant::now();
    watch.until(|i| *i == WatchItem::State(ConnState::Polling));
    let down = killed_at.elapsed();
    assert!(
        down >= Duration::from_secs(20),
        "five reconnections take about 30 s, not {down:?}"
    );
    drop(agent);
    agent = start_agent_on(tmp.path(), &listen);

    // The watcher finds the job interrupted by polling, then goes back to the stream.
    watch.until(|i| matches!(i, WatchItem::Event(e) if e.state == JobState::Interrupted));
    watch.until(|i| *i == WatchItem::State(ConnState::Connected));
    agent.admin("POST", &format!("/api/v1/jobs/{id}/resume"), None);
    let (items, end) = watch.finish();
    assert_eq!(end, WatchEnd::Finished);
    assert_eq!(
        events(&items),
        stored(&agent, &id),
        "the watcher's list equals the agent's"
    );
    assert!(connected_after_polling(&items), "{:?}", states(&items));
    assert_eq!(
        diff_trees(
            &tmp.path().join("root/vault"),
            &tmp.path().join("root/mirror/vault")
        ),
        ""
    );
}

#[test]
fn tidemark_watch_follows_a_job_by_its_link_and_refuses_a_wrong_token_or_certificate() {
    let tmp = tempfile::tempdir().expect("tmp");
    let agent = start_agent(tmp.path());
    big_source(&tmp.path().join("root"), "docs", 8);
    let job = agent.admin("POST", "/api/v1/jobs", Some(agent.sync_spec("docs")));
    let id = job["id"].as_str().expect("id").to_string();
    let out = std::process::Command::new(bin())
        .args(["watch", "--agent", &agent.link(&agent.token)])
        .args([&id, "--json"])
        .output()
        .expect("watch");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let evs: Vec<ProgressEvent> = lines
        .iter()
        .filter(|l| l.get("connection").is_none())
        .map(|l| serde_json::from_value(l.clone()).expect("event"))
        .collect();
    assert_eq!(evs, stored(&agent, &id));
    assert!(
        lines
            .iter()
            .any(|l| l["connection"]["state"] == "connected")
    );

    let out = std::process::Command::new(bin())
        .args(["watch", "--agent", &agent.link("wrong")])
        .arg(&id)
        .output()
        .expect("watch");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[auth_failed]"));

    // Its https:// address alone: a certificate no authority signed is not trusted.
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, &agent.token).expect("token file");
    let out = std::process::Command::new(bin())
        .args(["watch", "--agent", &agent.url, "--token-file"])
        .arg(&token_file)
        .arg(&id)
        .output()
        .expect("watch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
}
